// A @dapr/durabletask-js 1.0.0 worker for the interop suite: chaining, fan-out/fan-in and an external event.
//
// Usage: node djs_worker.mjs <sidecar address>
//
// Prints `READY` once its work-item stream is open and runs until SIGTERM or SIGINT, then stops the worker and
// exits 0. Its orchestrators are async generators (what durabletask-js 1.0.0 requires). It drops falsy payloads
// (`input ? JSON.stringify(input) : undefined`), so no activity here takes or returns 0, "" or false.
import { TaskHubGrpcWorker } from "@dapr/durabletask-js";
import { whenAll } from "@dapr/durabletask-js/task/index.js";

const address = process.argv[2];
if (address === undefined) {
  console.error("usage: node djs_worker.mjs <sidecar address>");
  process.exit(2);
}

const djsGreet = (_ctx, name) => `Hello ${name}!`;
const djsSquare = (_ctx, n) => n * n;

/** Three activities in sequence, each greeting the previous result. */
async function* djsChain(ctx, name) {
  const first = yield ctx.callActivity("djs_greet", name);
  const second = yield ctx.callActivity("djs_greet", first);
  const third = yield ctx.callActivity("djs_greet", second);
  return [first, second, third];
}

/** One activity per number, all at once, then their sum. */
async function* djsFanOut(ctx, numbers) {
  const squares = yield whenAll(numbers.map((n) => ctx.callActivity("djs_square", n)));
  return { squares, sum: squares.reduce((a, b) => a + b, 0) };
}

/** Waits for an "approval" event and returns its payload (with the instance id it ran as). */
async function* djsApproval(ctx, order) {
  ctx.setCustomStatus("waiting for approval");
  const approval = yield ctx.waitForExternalEvent("approval");
  ctx.setCustomStatus("approved");
  return { order: order.id, instanceId: ctx.instanceId, approval };
}

const worker = new TaskHubGrpcWorker(address);
worker.addNamedActivity("djs_greet", djsGreet);
worker.addNamedActivity("djs_square", djsSquare);
worker.addNamedOrchestrator("djs_chain", djsChain);
worker.addNamedOrchestrator("djs_fan_out", djsFanOut);
worker.addNamedOrchestrator("djs_approval", djsApproval);
await worker.start();

// start() opens the stream without awaiting it (Hello, then GetWorkItems); its private field shows when it is open.
const deadline = Date.now() + 30_000;
while (worker._responseStream === null) {
  if (Date.now() > deadline) {
    console.error("the work-item stream did not open within 30 s");
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}
console.log("READY");

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  try {
    await worker.stop();
  } finally {
    process.exit(0);
  }
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
