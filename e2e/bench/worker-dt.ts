// Benchmark worker child for @dt/worker (built packages): the chain and fan-out workloads. Argument: sidecar address.
import { defineActivity, defineWorkflow, whenAll } from "@dt/core";
import { TaskHubGrpcWorker } from "@dt/worker";
import { CHAIN_LENGTH, serveWorker } from "./protocol.ts";

const inc = defineActivity("inc", (_ctx, n: number) => n + 1);

const chain = defineWorkflow("chain", function* (ctx, start: number) {
  let n = start;
  for (let i = 0; i < CHAIN_LENGTH; i++) n = yield* ctx.callActivity(inc, { input: n });
  return n;
});

const fanout = defineWorkflow("fanout", function* (ctx, width: number) {
  const tasks = [];
  for (let i = 1; i <= width; i++) tasks.push(ctx.callActivity(inc, { input: i }));
  const results = yield* whenAll(tasks);
  return results.reduce((sum, n) => sum + n, 0);
});

const address = process.argv[2];
if (address === undefined) throw new Error("usage: worker-dt.ts <sidecar address>");
// Default settings (concurrency limits, stateful history) as an application would get them.
const worker = new TaskHubGrpcWorker({ address, useEnvironment: false });
worker.addWorkflow(chain).addWorkflow(fanout).addActivity(inc);

await serveWorker({
  async start() {
    await worker.start();
    await worker.waitForReady({ timeoutMs: 30_000 });
  },
  stop: () => worker.stop({ timeoutMs: 5_000 }),
});
