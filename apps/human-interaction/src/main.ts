// Human interaction: an order over the limit needs a manager's approval. The workflow asks for it, then races the
// `approval_received` event against a durable timer: whichever comes first decides. The timer survives restarts of
// the app and of the sidecar; nothing polls.
//
// The app plays the manager: once the workflow says it is waiting, it raises the event after a moment (APPROVE=1,
// the default). With APPROVE=0 nobody answers and the timer wins (APPROVAL_TIMEOUT seconds, default 10).

import { defineActivity, defineWorkflow } from "@dt/core";
import { envFlag, envNumber, pause, runApp, startWorkflow } from "@dt-apps/common";

interface Order {
  readonly id: string;
  readonly item: string;
  readonly cost: number;
  /** How long to wait for an approval, in seconds. */
  readonly approvalTimeout: number;
}

interface Approval {
  readonly approver: string;
  readonly approved: boolean;
}

const sendApprovalRequest = defineActivity("send_approval_request", (_ctx, order: Order) => {
  // A real app would e-mail or page someone here.
  return `approval of ${order.id} requested`;
});

const placeOrder = defineActivity("place_order", (_ctx, order: Order) => `${order.item} ordered`);

const purchaseOrder = defineWorkflow("purchase_order", function* (ctx, order: Order) {
  if (order.cost < 1000) {
    yield* ctx.callActivity(placeOrder, { input: order });
    return { orderId: order.id, status: "auto-approved" };
  }
  yield* ctx.callActivity(sendApprovalRequest, { input: order });
  ctx.setCustomStatus("waiting for approval");

  const approval = ctx.waitForExternalEvent<Approval>("approval_received");
  const timeout = ctx.createTimer(order.approvalTimeout);
  const winner = yield* ctx.whenAny([approval, timeout]);
  if (winner === timeout) {
    ctx.setCustomStatus("approval timed out");
    return { orderId: order.id, status: "canceled", reason: "approval timed out" };
  }

  const { approver, approved } = approval.getResult();
  if (!approved) return { orderId: order.id, status: "rejected", approver };
  ctx.setCustomStatus(`approved by ${approver}`);
  yield* ctx.callActivity(placeOrder, { input: order });
  return { orderId: order.id, status: "approved", approver };
});

await runApp({
  name: "human-interaction",
  workflows: [purchaseOrder],
  activities: [sendApprovalRequest, placeOrder],
  main: async (client, log) => {
    const order: Order = {
      id: "order-1",
      item: "a new laptop",
      cost: envNumber("COST", 2500),
      approvalTimeout: envNumber("APPROVAL_TIMEOUT", 10),
    };
    const run = await startWorkflow(client, purchaseOrder, { input: order });
    if (envFlag("APPROVE", true) && order.cost >= 1000) {
      await run.untilCustomStatus((status) => status === "waiting for approval");
      await pause(envNumber("APPROVAL_DELAY", 1));
      log("✋ the manager approves");
      await client.raiseOrchestrationEvent(run.id, "approval_received", { approver: "Alice", approved: true });
    } else if (order.cost >= 1000) {
      log(`… nobody approves; the ${order.approvalTimeout} s timer will decide`);
    }
    const state = await run.done();
    if (state.status !== "COMPLETED") throw new Error(`purchase_order ${state.status}`);
    return state.output;
  },
});
