// Saga: a business transaction made of steps that each have an undo. When a step fails, the steps that already
// succeeded are compensated in reverse order, and the workflow reports what it undid. A failing compensation is
// logged and the others still run.
//
// FAIL_AT picks the failing step: reserve_inventory, process_payment, ship_order (default) or none.

import { type ActivityDefinition, defineActivity, defineWorkflow } from "@dt/core";
import { runApp, runWorkflow } from "@dt-apps/common";

interface Order {
  readonly id: string;
  readonly item: string;
  readonly amount: number;
  /** The step that fails (a simulated outage), or "none". */
  readonly failAt: string;
}

const step = (name: string, done: (order: Order) => string) =>
  defineActivity(name, (_ctx, order: Order) => {
    if (order.failAt === name) throw new Error(`${name} failed: service unavailable`);
    return done(order);
  });

const reserveInventory = step("reserve_inventory", (o) => `reserved ${o.item}`);
const processPayment = step("process_payment", (o) => `charged ${o.amount}`);
const shipOrder = step("ship_order", (o) => `shipped ${o.id}`);
const releaseInventory = defineActivity("release_inventory", (_ctx, o: Order) => `released ${o.item}`);
const refundPayment = defineActivity("refund_payment", (_ctx, o: Order) => `refunded ${o.amount}`);
const cancelShipment = defineActivity("cancel_shipment", (_ctx, o: Order) => `canceled shipment of ${o.id}`);

const orderSaga = defineWorkflow("order_saga", function* (ctx, order: Order) {
  const steps: [ActivityDefinition<Order, string>, ActivityDefinition<Order, string>][] = [
    [reserveInventory, releaseInventory],
    [processPayment, refundPayment],
    [shipOrder, cancelShipment],
  ];
  const compensations: ActivityDefinition<Order, string>[] = [];
  const completed: string[] = [];
  try {
    for (const [action, compensation] of steps) {
      completed.push(yield* ctx.callActivity(action, { input: order }));
      compensations.push(compensation);
    }
    return { status: "success", completed };
  } catch (error) {
    ctx.logger.warn(`order ${order.id} failed; compensating ${compensations.length} step(s)`);
    const compensated: string[] = [];
    for (const compensation of compensations.reverse()) {
      try {
        yield* ctx.callActivity(compensation, { input: order });
        compensated.push(compensation.name);
      } catch (undoError) {
        ctx.logger.error(`compensation ${compensation.name} failed`, { error: String(undoError) });
      }
    }
    return { status: "failed", error: error instanceof Error ? error.message : String(error), completed, compensated };
  }
});

await runApp({
  name: "saga",
  workflows: [orderSaga],
  activities: [reserveInventory, processPayment, shipOrder, releaseInventory, refundPayment, cancelShipment],
  main: (client) =>
    runWorkflow(client, orderSaga, {
      input: { id: "order-42", item: "espresso machine", amount: 499, failAt: process.env["FAIL_AT"] ?? "ship_order" },
    }),
});
