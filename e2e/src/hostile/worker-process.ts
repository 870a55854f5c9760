// The worker under test in the hostile suite, in a process of its own (run with --expose-gc), so its memory is
// measured alone: the fake servers and floods live in the test process. Argument: WorkerOptions as JSON. Reports its
// baseline memory before it starts, every change of readiness, its logs, and any unhandled rejection or uncaught
// exception; answers the test's commands (protocol.ts). Exits by itself after `stop`, or it leaks something.
import { TaskHubGrpcWorker, type WorkerOptions } from "@dt/worker";
import { block, chain, errorInfo, type FromWorker, type Memory, step, type ToWorker } from "./protocol.ts";

const send = (message: FromWorker): void => {
  process.send?.(message);
};

for (const kind of ["unhandledRejection", "uncaughtException"] as const) {
  process.on(kind, (error: unknown) => {
    send({ type: "crash", kind, error: errorInfo(error) });
    process.exitCode = 70;
    process.disconnect?.();
  });
}

function memory(): Memory {
  (globalThis as { gc?: () => void }).gc?.();
  return { rss: process.memoryUsage.rss(), maxRss: process.resourceUsage().maxRSS * 1024 };
}

const options = JSON.parse(process.argv[2] ?? "{}") as WorkerOptions;
const log =
  (level: string) =>
  (message: string, attributes?: unknown): void =>
    send({ type: "log", level, message, ...(attributes === undefined ? {} : { attributes }) });
const worker = new TaskHubGrpcWorker({
  useEnvironment: false,
  ...options,
  logger: { debug: () => {}, info: log("info"), warn: log("warn"), error: log("error") },
});
worker.addWorkflow(chain).addActivity(step).addActivity(block);
send({ type: "idle", memory: memory() });

// Readiness as the test sees it: every transition, observed on the worker's own flag.
let ready = false;
const watch = setInterval(() => {
  if (worker.isReady === ready) return;
  ready = worker.isReady;
  send({ type: "ready", ready });
}, 20);

process.on("message", (raw) => {
  const message = raw as ToWorker;
  const answer = (run: () => Promise<unknown>) =>
    run().then(
      (value) => send({ type: "answer", id: message.id, ok: true, value }),
      (error: unknown) => send({ type: "answer", id: message.id, ok: false, error: errorInfo(error) }),
    );
  switch (message.cmd) {
    case "waitForReady":
      void answer(() => worker.waitForReady({ timeoutMs: message.timeoutMs }));
      return;
    case "memory":
      void answer(async () => memory());
      return;
    case "stop":
      void answer(async () => {
        await worker.stop({ timeoutMs: 2_000 });
        clearInterval(watch);
        return memory();
      }).then(() => process.disconnect?.());
      return;
  }
});

await worker.start();
