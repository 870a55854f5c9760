// One app replica of the scale-out suite, run as its own process (so it can be killed with SIGKILL): a worker with
// the chain workflow and its step activity, against the daprd at DAPR_GRPC_ENDPOINT. Prints "ready" once its
// work-item stream is open and "step <instance> <n>" per activity execution, which the test counts.
import { defineActivity, defineWorkflow } from "@dt/core";
import { TaskHubGrpcWorker } from "@dt/worker";

export const STEPS = 5;

export const step = defineActivity("scale.step", async (ctx, n: number) => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  process.stdout.write(`step ${ctx.instanceId} ${n}\n`);
  return n;
});

export const chain = defineWorkflow("scale.chain", function* (ctx) {
  let sum = 0;
  for (let n = 0; n < STEPS; n++) sum += yield* ctx.callActivity(step, { input: n });
  return sum;
});

if (import.meta.main) {
  const worker = new TaskHubGrpcWorker({ useEnvironment: true, logger: console });
  worker.addWorkflow(chain).addActivity(step);
  await worker.start();
  await worker.waitForReady({ timeoutMs: 60_000 });
  process.stdout.write("ready\n");
  const stop = () => void worker.stop({ timeoutMs: 2_000 }).then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
