// Diagnostic, not part of `pnpm bench`: CPU per unary gRPC call (Hello) against durabletask-go, client side and
// sidecar side, for three ways a Node worker can talk to the sidecar:
//   @dt/proto       a connect-es client on @dt/proto/transport (our own HTTP/2 framing), what @dt/worker and
//                   @dt/client use
//   grpc-js         @grpc/grpc-js + google-protobuf, what @dapr/durabletask-js uses
//   node:http2      node:http2 with one session and hand-written gRPC framing (node's floor)
// Every work item costs the worker one such call (CompleteActivityTask / CompleteWorkflowTask), so this is the
// per-work-item transport overhead that the end-to-end benchmark's CPU-ms/workflow contains.
// Run: `node e2e/bench/unary-rpc.ts` after `pnpm build`. Knobs: BENCH_RPC_CALLS (20000), BENCH_RPC_CONCURRENCY (32).
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { createRequire } from "node:module";
import { createSidecarClient } from "@dt/proto/transport";
import { startSidecar } from "../src/harness.ts";

const CALLS = Number(process.env["BENCH_RPC_CALLS"] ?? 20_000);
const CONCURRENCY = Number(process.env["BENCH_RPC_CONCURRENCY"] ?? 32);

const sidecar = await startSidecar("go");
const sidecarCpuMs = () => {
  const stat = readFileSync(`/proc/${sidecar.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

async function measure(name: string, call: () => Promise<unknown>): Promise<void> {
  const run = async (n: number) => {
    let issued = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (issued++ < n) await call();
      }),
    );
  };
  await run(Math.ceil(CALLS / 10)); // warm-up
  const cpu = process.cpuUsage();
  const sidecarBefore = sidecarCpuMs();
  const start = performance.now();
  await run(CALLS);
  const wallMs = performance.now() - start;
  const { user, system } = process.cpuUsage(cpu);
  const sidecarUs = ((sidecarCpuMs() - sidecarBefore) * 1000) / CALLS;
  console.log(
    `${name.padEnd(10)} client ${((user + system) / CALLS).toFixed(1).padStart(6)} CPU-µs/call   ` +
      `sidecar ${sidecarUs.toFixed(1).padStart(6)} CPU-µs/call   ${((CALLS * 1000) / wallMs).toFixed(0).padStart(6)} calls/s`,
  );
}

try {
  const connect = createSidecarClient({ address: sidecar.address });
  await measure("@dt/proto", () => connect.hello({}));

  // durabletask-js's own generated stub, grpc-js and google-protobuf, resolved from where that package sees them.
  const require = createRequire(import.meta.url);
  const dtjs = require.resolve("@dapr/durabletask-js");
  const from = (id: string) => require(require.resolve(id, { paths: [dtjs] }));
  const { TaskHubSidecarServiceClient } = from("@dapr/durabletask-js/proto/orchestrator_service_grpc_pb.js");
  const grpc = from("@grpc/grpc-js");
  const { Empty } = from("google-protobuf/google/protobuf/empty_pb.js");
  const stub = new TaskHubSidecarServiceClient(sidecar.address, grpc.credentials.createInsecure());
  await measure(
    "grpc-js",
    () =>
      new Promise((resolve, reject) =>
        stub.hello(new Empty(), (error: unknown, reply: unknown) => (error ? reject(error) : resolve(reply))),
      ),
  );
  stub.close();

  const session = http2.connect(`http://${sidecar.address}`);
  const emptyMessage = Buffer.from([0, 0, 0, 0, 0]); // uncompressed, length 0
  await measure(
    "node:http2",
    () =>
      new Promise<void>((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": "/TaskHubSidecarService/Hello",
          "content-type": "application/grpc",
          te: "trailers",
        });
        req.on("trailers", (trailers) => {
          if (trailers["grpc-status"] !== "0") reject(new Error(`grpc-status ${trailers["grpc-status"]}`));
        });
        req.on("data", () => {});
        req.on("end", resolve);
        req.on("error", reject);
        req.end(emptyMessage);
      }),
  );
  session.close();
} finally {
  await sidecar.stop();
}
process.exit(0);
