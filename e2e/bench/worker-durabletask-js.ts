// Benchmark worker child for @dapr/durabletask-js 1.0.0: the same workloads with the same activity body.
// Argument: sidecar address.
import { type ActivityContext, type OrchestrationContext, TaskHubGrpcWorker } from "@dapr/durabletask-js";
import { whenAll } from "@dapr/durabletask-js/task/index.js";
import { CHAIN_LENGTH, serveWorker } from "./protocol.ts";

const inc = (_ctx: ActivityContext, n: number) => n + 1;

// durabletask-js runs orchestrators only as async generators (a sync generator is treated as a plain return value).
async function* chain(ctx: OrchestrationContext, start: number): AsyncGenerator<unknown, number, number> {
  let n = start;
  for (let i = 0; i < CHAIN_LENGTH; i++) n = yield ctx.callActivity("inc", n);
  return n;
}

async function* fanout(ctx: OrchestrationContext, width: number): AsyncGenerator<unknown, number, number[]> {
  const tasks = [];
  for (let i = 1; i <= width; i++) tasks.push(ctx.callActivity<number, number>("inc", i));
  const results = yield whenAll(tasks);
  return results.reduce((sum, n) => sum + n, 0);
}

const address = process.argv[2];
if (address === undefined) throw new Error("usage: worker-durabletask-js.ts <sidecar address>");
const worker = new TaskHubGrpcWorker(address);
worker.addNamedOrchestrator("chain", chain as never);
worker.addNamedOrchestrator("fanout", fanout as never);
worker.addNamedActivity("inc", inc);

// start() returns before the stream is open (it has no readiness signal); the parent's warm-up workflows wait for it.
await serveWorker({ start: () => worker.start(), stop: () => worker.stop() });
