// Benchmark child: the embedded sidecar (@dt/sidecar from its built dist) in a process of its own, so the measuring
// process (worker + client) and the sidecar do not share an event loop — as with durabletask-go.
// Usage (forked with an IPC channel): `sidecar-child.ts memory` or `sidecar-child.ts sqlite <file>`; with
// BENCH_SIDECAR_MODULE=<path of another build's dist/index.js> it runs that build instead (a baseline to compare with).
// Reports { type: "listening", address } once it accepts connections; closes and exits on "stop" or when the parent
// goes away. "profile-start" / "profile-stop" run the V8 sampling profiler over a window the parent chooses (the
// measured batch; BENCH_SIDECAR_CPU_PROF in sidecar.bench.ts) and write the profile to the path given.
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { pathToFileURL } from "node:url";

const moduleOverride = process.env["BENCH_SIDECAR_MODULE"];
const { MemoryStore, SqliteStore, startSidecar }: typeof import("@dt/sidecar") = await import(
  moduleOverride === undefined || moduleOverride === "" ? "@dt/sidecar" : pathToFileURL(moduleOverride).href
);

export type SidecarReport =
  | { readonly type: "listening"; readonly address: string }
  | { readonly type: "profiling" }
  | { readonly type: "profiled" }
  | { readonly type: "stopped" };
export type SidecarCommand =
  | { readonly type: "stop" }
  | { readonly type: "profile-start" }
  | { readonly type: "profile-stop"; readonly path: string };

const [kind, file] = process.argv.slice(2);
if (process.send === undefined) throw new Error("sidecar-child.ts must be forked with an IPC channel");
const store =
  kind === "memory"
    ? new MemoryStore()
    : kind === "sqlite" && file !== undefined
      ? new SqliteStore(file)
      : (() => {
          throw new Error("usage: sidecar-child.ts memory | sqlite <file>");
        })();

const sidecar = await startSidecar({ port: 0, store });
const send = (report: SidecarReport) => process.send?.(report);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await sidecar.close();
  if (store instanceof SqliteStore) store.close();
  if (process.connected) {
    send({ type: "stopped" });
    process.disconnect();
  }
  process.exit(0);
};
const profiler = new Session();
const fail = (error: unknown) => {
  process.stderr.write(`profiling failed: ${String(error)}\n`);
  process.exit(1);
};
process.on("message", (command: SidecarCommand) => {
  if (command.type === "stop") void stop();
  else if (command.type === "profile-start") {
    profiler.connect();
    profiler
      .post("Profiler.enable")
      .then(() => profiler.post("Profiler.start"))
      .then(() => send({ type: "profiling" }), fail);
  } else if (command.type === "profile-stop") {
    profiler
      .post("Profiler.stop")
      .then(({ profile }) => writeFile(command.path, JSON.stringify(profile)))
      .then(() => {
        profiler.disconnect();
        send({ type: "profiled" });
      }, fail);
  }
});
process.on("disconnect", () => void stop());
send({ type: "listening", address: sidecar.address });
