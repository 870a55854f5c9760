// What the benchmark parent and its worker children share: the workload shapes and the IPC messages.
// A worker child is forked with the sidecar address as its first argument and, optionally, the path of a CPU
// profile to write for the measured window as its second.
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";

/**
 * Activities per chain; each activity returns its input + 1, so a chain started with n returns n + CHAIN_LENGTH.
 * Every input and output is ≥ 1: durabletask-js 1.0.0 drops falsy payloads (`0` arrives as undefined).
 */
export const CHAIN_LENGTH = 5;

/** Parent → child: "begin" and "end" bracket the measured window; "stop" ends the child. */
export type Command = { readonly type: "begin" } | { readonly type: "end" } | { readonly type: "stop" };

/** Child → parent. */
export type Report =
  | { readonly type: "ready" }
  /** Answer to begin/end: process.cpuUsage() (µs, every thread of the process) and the peak resident set (KiB). */
  | { readonly type: "cpu"; readonly userUs: number; readonly systemUs: number; readonly maxRssKiB: number }
  | { readonly type: "stopped" }
  | { readonly type: "error"; readonly message: string };

/**
 * Runs in a worker child: starts the worker, reports "ready", answers begin/end with its CPU time, and stops on
 * "stop". Console output is muted (durabletask-js logs every work item with console.log); both SDKs run muted, so
 * neither pays for terminal I/O. With a profile path, the V8 sampling profiler runs between begin and end only.
 */
export async function serveWorker(worker: { start(): Promise<void>; stop(): Promise<void> }): Promise<void> {
  if (process.send === undefined) throw new Error("a benchmark worker must be forked with an IPC channel");
  const send = (report: Report) => process.send?.(report);
  const quiet = () => {};
  Object.assign(console, { log: quiet, info: quiet, warn: quiet, error: quiet, debug: quiet, trace: quiet });
  const profilePath = process.argv[3];
  const profiler = profilePath === undefined ? undefined : new Session();
  const cpu = (): Report => {
    const { user, system } = process.cpuUsage();
    return { type: "cpu", userUs: user, systemUs: system, maxRssKiB: process.resourceUsage().maxRSS };
  };
  const fail = (what: string) => (error: unknown) => {
    send({ type: "error", message: `${what} failed: ${String(error)}` });
    process.exit(1);
  };

  process.on("message", (command: Command) => {
    switch (command.type) {
      case "begin":
        if (profiler === undefined) {
          send(cpu());
          break;
        }
        profiler.connect();
        profiler
          .post("Profiler.enable")
          .then(() => profiler.post("Profiler.start"))
          .then(() => send(cpu()), fail("starting the profiler"));
        break;
      case "end": {
        const sample = cpu();
        if (profiler === undefined || profilePath === undefined) {
          send(sample);
          break;
        }
        profiler
          .post("Profiler.stop")
          .then(({ profile }) => writeFile(profilePath, JSON.stringify(profile)))
          .then(() => send(sample), fail("writing the profile"));
        break;
      }
      case "stop":
        worker.stop().then(() => {
          send({ type: "stopped" });
          process.disconnect();
          process.exit(0);
        }, fail("stop"));
        break;
    }
  });
  process.on("disconnect", () => process.exit(0)); // the parent went away
  await worker.start().then(() => send({ type: "ready" }), fail("start"));
}
