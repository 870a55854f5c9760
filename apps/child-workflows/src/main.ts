// Child workflows: a parent splits its work into one child workflow per order and waits for all of them. Each
// child is a workflow instance of its own (its own history, status and id — here `<parent id>:order-<n>`), so a
// big process stays a set of small histories, and a child can be inspected, retried or reused on its own.

import { defineActivity, defineWorkflow } from "@dt/core";
import { runApp, runWorkflow } from "@dt-apps/common";

interface Order {
  readonly id: number;
  readonly item: string;
  readonly quantity: number;
  readonly unitPrice: number;
}

const reserveStock = defineActivity("reserve_stock", (_ctx, order: Order) => `${order.quantity} × ${order.item}`);
const chargeCustomer = defineActivity("charge_customer", (_ctx, order: Order) => order.quantity * order.unitPrice);

/** The child: processes one order. */
const processOrder = defineWorkflow("process_order", function* (ctx, order: Order) {
  const reserved = yield* ctx.callActivity(reserveStock, { input: order });
  const charged = yield* ctx.callActivity(chargeCustomer, { input: order });
  return { orderId: order.id, reserved, charged, processedBy: ctx.instanceId };
});

/** The parent: one child per order, all at once, then the totals. */
const processOrders = defineWorkflow("process_orders", function* (ctx, orders: readonly Order[]) {
  const children = orders.map((order) =>
    ctx.callChildWorkflow(processOrder, { input: order, instanceId: `${ctx.instanceId}:order-${order.id}` }),
  );
  const results = yield* ctx.whenAll(children);
  return { processed: results.length, total: results.reduce((sum, r) => sum + r.charged, 0), results };
});

await runApp({
  name: "child-workflows",
  workflows: [processOrders, processOrder],
  activities: [reserveStock, chargeCustomer],
  main: (client) =>
    runWorkflow(client, processOrders, {
      input: [
        { id: 1, item: "keyboard", quantity: 2, unitPrice: 45 },
        { id: 2, item: "monitor", quantity: 1, unitPrice: 180 },
        { id: 3, item: "cable", quantity: 5, unitPrice: 4 },
      ],
    }),
});
