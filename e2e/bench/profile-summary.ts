// Summarises a worker CPU profile written by `BENCH_E2E_CPU_PROF=<dir> pnpm bench`: busy time by layer (each sample
// goes to the innermost frame that belongs to a known package) and the top functions by self time.
// Run: `node e2e/bench/profile-summary.ts <file.cpuprofile> [top=25]`.
import { readFileSync } from "node:fs";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const LAYERS: readonly (readonly [RegExp, string])[] = [
  [/\/packages\/core\//, "@dt/core (engine)"],
  [/\/packages\/worker\//, "@dt/worker"],
  [/\/packages\/client\//, "@dt/client"],
  [/\/packages\/proto\//, "@dt/proto"],
  [/\/packages\/sidecar\//, "@dt/sidecar"],
  [/@bufbuild\/protobuf/, "@bufbuild/protobuf"],
  [/@connectrpc\/connect-node/, "@connectrpc/connect-node"],
  [/@connectrpc\/connect\//, "@connectrpc/connect"],
  [/@opentelemetry/, "@opentelemetry/api"],
  [/google-protobuf/, "google-protobuf"],
  [/@grpc\/grpc-js/, "@grpc/grpc-js"],
  [/@dapr\/durabletask-js/, "@dapr/durabletask-js"],
  [/node:inspector|\/bench\/protocol\.ts/, "profiler start/stop (artifact)"],
  [/\/bench\//, "benchmark workflows and activities"],
];
const SPECIAL: Record<string, string> = {
  "(garbage collector)": "garbage collector",
  "(program)": "native (program)",
  "(idle)": "idle",
};

const [path, topArg] = process.argv.slice(2);
if (path === undefined) throw new Error("usage: profile-summary.ts <file.cpuprofile> [top]");
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(path, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\/.*?\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "")
    .replace(/^file:\/\/.*?\/(packages|e2e)\//, "$1/");

const layers = new Map<string, number>();
const selfTime = new Map<string, number>();
let busy = 0;
profile.samples.forEach((id, i) => {
  const us = profile.timeDeltas[i] ?? 0;
  const leaf = byId.get(id)?.callFrame;
  if (leaf === undefined || leaf.functionName === "(idle)") return;
  busy += us;
  let layer = SPECIAL[leaf.functionName];
  for (let at: number | undefined = id; layer === undefined && at !== undefined; at = parent.get(at)) {
    const url = byId.get(at)?.callFrame.url ?? "";
    layer = LAYERS.find(([pattern]) => pattern.test(url))?.[1];
  }
  layer ??= "Node.js internals (http2, streams, events, timers)";
  layers.set(layer, (layers.get(layer) ?? 0) + us);
  const fn = `${leaf.functionName || "(anonymous)"}  ${shortUrl(leaf.url)}:${leaf.lineNumber + 1}`;
  selfTime.set(fn, (selfTime.get(fn) ?? 0) + us);
});

const print = (map: Map<string, number>, limit: number) => {
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    console.log(`${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${key}`);
  }
};
console.log(`${path}: ${(busy / 1000).toFixed(0)} ms busy (idle excluded)\n\nby layer (innermost known frame):`);
print(layers, layers.size);
console.log(`\ntop ${top} functions by self time:`);
print(selfTime, top);
