// Large-message benchmark: client CPU to receive one unary response of 1, 4 and 16 MiB, for the three transports a
// user can run @dt/worker and @dt/client on: ours (@dt/proto/transport's own HTTP/2 client), the same gRPC layer on
// node:http2 (createNodeHttp2Transport), and @connectrpc/connect-node's createGrpcTransport. The server runs in a
// child process (its CPU is not counted) and answers GetInstance with a pre-encoded message of the size asked for.
// Run with `pnpm bench` (builds first; Node runs this file by stripping types). Knobs: BENCH_LARGE_ROUNDS (5).
import { spawn } from "node:child_process";
import http2 from "node:http2";
import { cpus } from "node:os";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GetInstanceResponseSchema, TaskHubSidecarService } from "@dt/proto";
import { createNodeHttp2Transport, createSidecarTransport, encodeEnvelope } from "@dt/proto/transport";

const MiB = 1024 * 1024;
const SIZES = [1, 4, 16];
const ROUNDS = Number(process.env["BENCH_LARGE_ROUNDS"] ?? 5);
/** Messages received per measurement, by size: about 64 MiB each. */
const PER_SAMPLE: Record<number, number> = { 1: 64, 4: 16, 16: 4 };

if (process.argv[2] === "serve") serve();
else await main();

/** The server: GetInstance's response is a message of `instanceId` MiB (customStatus filled with x). */
function serve(): void {
  const frames = new Map<string, Buffer>();
  for (const size of SIZES) {
    const message = create(GetInstanceResponseSchema, {
      exists: true,
      workflowState: { customStatus: "x".repeat(size * MiB - 64) },
    });
    frames.set(String(size), encodeEnvelope(toBinary(GetInstanceResponseSchema, message)));
  }
  const server = http2.createServer({ settings: { initialWindowSize: 1 << 24 } });
  server.on("stream", (stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      // The request is a GetInstanceRequest whose field 1 (instanceId) is the size: find it past the 5-byte prefix.
      const body = Buffer.concat(chunks);
      const id = body.subarray(7, 7 + (body[6] ?? 0)).toString();
      const frame = frames.get(id) ?? encodeEnvelope(new Uint8Array());
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame);
    });
    stream.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`${typeof address === "object" && address !== null ? address.port : 0}\n`);
  });
  process.stdin.on("end", () => process.exit(0)); // the parent is gone
  process.stdin.resume();
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "serve"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve) => child.stdout.once("data", (d: Buffer) => resolve(Number(d))));
  const address = `127.0.0.1:${port}`;
  const limit = 64 * MiB;
  const transports: [string, Transport & { close?: () => void }][] = [
    ["ours", createSidecarTransport({ address, maxReceiveMessageBytes: limit })],
    ["node:http2", createNodeHttp2Transport({ address, maxReceiveMessageBytes: limit })],
    ["connect-node", createGrpcTransport({ baseUrl: `http://${address}`, readMaxBytes: limit })],
  ];
  const clients = transports.map(([name, t]) => [name, createClient(TaskHubSidecarService, t)] as const);
  const samples = new Map<string, number[]>();
  try {
    for (const [, client] of clients) for (const size of SIZES) await client.getInstance({ instanceId: String(size) });
    for (let round = 0; round < ROUNDS; round++) {
      for (const size of SIZES) {
        for (const [name, client] of clients) {
          const n = PER_SAMPLE[size] as number;
          const before = process.cpuUsage();
          for (let i = 0; i < n; i++) {
            const response = await client.getInstance({ instanceId: String(size) });
            if ((response.workflowState?.customStatus?.length ?? 0) < size * MiB - 64) throw new Error("short message");
          }
          const { user, system } = process.cpuUsage(before);
          const key = `${name} ${size}`;
          samples.set(key, [...(samples.get(key) ?? []), (user + system) / 1000 / n]);
        }
      }
    }
  } finally {
    for (const [, t] of transports) t.close?.();
    child.stdin.end();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`\nLarge messages: client CPU-ms to receive one message (median of ${ROUNDS} rounds)`);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, node ${process.version}\n`);
  console.log("| size | ours | node:http2 | connect-node | ours ÷ connect-node |");
  console.log("| ---- | ---: | ---------: | -----------: | ------------------: |");
  let worst = 0;
  for (const size of SIZES) {
    const [ours, node, connect] = ["ours", "node:http2", "connect-node"].map((n) =>
      median(samples.get(`${n} ${size}`) ?? []),
    );
    const ratio = (ours as number) / (connect as number);
    worst = Math.max(worst, ratio);
    console.log(
      `| ${size} MiB | ${ours?.toFixed(1)} | ${node?.toFixed(1)} | ${connect?.toFixed(1)} | ${ratio.toFixed(2)}× |`,
    );
  }
  console.log(`\nworst ratio ${worst.toFixed(2)}× (goal ≤ 1.5×)`);
}
