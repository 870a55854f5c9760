// Benchmark child: the embedded sidecar (@dt/sidecar from its built dist) in a process of its own, so the measuring
// process (worker + client) and the sidecar do not share an event loop — as with durabletask-go.
// Usage (forked with an IPC channel): `sidecar-child.ts memory` or `sidecar-child.ts sqlite <file>`.
// Reports { type: "listening", address } once it accepts connections; closes and exits on "stop" or when the parent
// goes away. Run with `--cpu-prof` (BENCH_SIDECAR_CPU_PROF in sidecar.bench.ts) to profile it.
import { MemoryStore, SqliteStore, startSidecar } from "@dt/sidecar";

export type SidecarReport = { readonly type: "listening"; readonly address: string } | { readonly type: "stopped" };

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
  process.exit(0); // --cpu-prof writes its profile on a normal exit
};
process.on("message", (command: { type: string }) => {
  if (command.type === "stop") void stop();
});
process.on("disconnect", () => void stop());
send({ type: "listening", address: sidecar.address });
