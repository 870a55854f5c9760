// End-to-end benchmark: workflows/s and worker CPU-ms per workflow on durabletask-go or daprd (BENCH_E2E_SIDECAR=go|dapr),
// for @dt/worker and @dapr/durabletask-js running the same workloads in the same run. Run with `pnpm bench` (builds
// first and runs both sidecars; Node runs this file by stripping types and imports our packages from their built dist).
//
// Per SDK and workload: a fresh sidecar (durabletask-go with in-memory sqlite, or a daprd with an in-memory actor state
// store on the e2e harness's placement and scheduler), the SDK's worker in a child process, a few warm-up
// workflows, then the measured batch. The batch is scheduled from this process with @dt/client (the same client for
// both SDKs, so only the worker differs). The worker's CPU time is process.cpuUsage() read by the child itself, from
// just before the batch is scheduled until every instance has been seen terminal. Every output is checked.
import { type ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { TaskHubGrpcClient } from "@dt/client";
import { DAPR_VERSION } from "../src/dapr.ts";
import { startSidecar } from "../src/harness.ts";
import { CHAIN_LENGTH, type Command, type Report } from "./protocol.ts";

const RUNS = Number(process.env["BENCH_E2E_RUNS"] ?? 5);
const CHAINS = Number(process.env["BENCH_E2E_CHAINS"] ?? 500);
const FANOUTS = Number(process.env["BENCH_E2E_FANOUTS"] ?? 20);
const FANOUT_WIDTH = 100;
/** `dt` measures only our worker and `workloads` only some (`chain`, `fanout`): quicker while optimising. */
const ONLY_OURS = process.env["BENCH_E2E_SDKS"] === "dt";
const WORKLOADS = process.env["BENCH_E2E_WORKLOADS"]?.split(",");
/** Directory for worker CPU profiles of the measured window (V8 sampling profiler); unset: no profiling. */
const CPU_PROF_DIR =
  process.env["BENCH_E2E_CPU_PROF"] === undefined ? undefined : resolve(process.env["BENCH_E2E_CPU_PROF"]);
const BATCH_TIMEOUT_MS = 300_000;
const SIDECAR = sidecarTarget(process.env["BENCH_E2E_SIDECAR"] ?? "go");
const SIDECAR_VERSION =
  SIDECAR === "go"
    ? "durabletask-go v0.14.0 (in-memory sqlite)"
    : `daprd ${DAPR_VERSION} (in-memory actor state store)`;

function sidecarTarget(name: string): "go" | "dapr" {
  if (name !== "go" && name !== "dapr") throw new Error(`BENCH_E2E_SIDECAR must be go or dapr, not "${name}"`);
  return name;
}

// ---------------------------------------------------------------------------------------------------------------------
// Workloads and SDKs

interface Workload {
  readonly key: string;
  readonly label: string;
  readonly count: number;
  readonly warmup: number;
  readonly workflow: string;
  input(i: number): number;
  expected(i: number): number;
}

const workloads: readonly Workload[] = [
  {
    key: "chain",
    label: `${CHAINS} chains × ${CHAIN_LENGTH} activities`,
    count: CHAINS,
    warmup: 20,
    workflow: "chain",
    input: (i) => i + 1,
    expected: (i) => i + 1 + CHAIN_LENGTH,
  },
  {
    key: "fanout",
    label: `${FANOUTS} fan-outs × ${FANOUT_WIDTH} activities`,
    count: FANOUTS,
    warmup: 2,
    workflow: "fanout",
    input: () => FANOUT_WIDTH,
    expected: () => (FANOUT_WIDTH * (FANOUT_WIDTH + 3)) / 2, // Σ (i + 1) for i = 1 … width
  },
];

interface Sdk {
  readonly name: string;
  readonly script: string;
}

const OURS: Sdk = { name: "@dt/worker", script: "worker-dt.ts" };
const PEER: Sdk = { name: "@dapr/durabletask-js 1.0.0", script: "worker-durabletask-js.ts" };

// ---------------------------------------------------------------------------------------------------------------------
// The worker child

interface CpuSample {
  readonly cpuMs: number;
  readonly maxRssKiB: number;
}

class WorkerChild {
  readonly #child: ChildProcess;
  readonly #reports: Report[] = [];
  #wake: (() => void) | undefined;
  #stderr = "";
  #exited = false;

  constructor(sdk: Sdk, address: string, profilePath: string | undefined) {
    const args = profilePath === undefined ? [address] : [address, profilePath];
    this.#child = fork(new URL(sdk.script, import.meta.url), args, { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    children.add(this.#child);
    this.#child.stderr?.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString("utf8")).slice(-16_384);
    });
    this.#child.on("message", (report: Report) => {
      this.#reports.push(report);
      this.#wake?.();
    });
    this.#child.once("exit", () => {
      this.#exited = true;
      children.delete(this.#child);
      this.#wake?.();
    });
  }

  /** The next report, which must be of `type`. */
  async next<T extends Report["type"]>(type: T, timeoutMs = 60_000): Promise<Extract<Report, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const report = this.#reports.shift();
      if (report !== undefined) {
        if (report.type === type) return report as Extract<Report, { type: T }>;
        throw new Error(`worker child: expected "${type}", got ${JSON.stringify(report)}\n${this.#stderr}`);
      }
      if (this.#exited) throw new Error(`worker child exited while waiting for "${type}"\n${this.#stderr}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`worker child: no "${type}" within ${timeoutMs} ms\n${this.#stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  send(command: Command): void {
    this.#child.send(command);
  }

  /** Begins or ends the measured window; the child's CPU time at that point. */
  async mark(type: "begin" | "end"): Promise<CpuSample> {
    this.send({ type });
    const report = await this.next("cpu");
    return { cpuMs: (report.userUs + report.systemUs) / 1000, maxRssKiB: report.maxRssKiB };
  }

  /** Asks the worker to stop; kills it by PID if it has not exited after 15 s. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => {
      if (this.#exited) resolve();
      else this.#child.once("exit", () => resolve());
    });
    if (this.#child.connected) this.send({ type: "stop" });
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** User + system CPU of a process (Linux /proc, clock ticks at USER_HZ = 100), or undefined elsewhere. */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3 (state)
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime (14) + stime (15)
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// One measured run

/** Schedules `count` instances at once, waits until every one is terminal, and checks the outputs. */
async function runBatch(client: TaskHubGrpcClient, workload: Workload, count: number, tag: string): Promise<void> {
  const ids = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      client.scheduleNewOrchestration(workload.workflow, {
        instanceId: `${workload.key}-${tag}-${i}-${randomUUID()}`,
        input: workload.input(i),
      }),
    ),
  );
  // One sweep in scheduling order, polling the oldest unfinished instance every 20 ms: about one GetInstance call per
  // instance plus one per 20 ms, and the end is seen within a poll (the sidecar's own long polls back off to 10 s).
  const deadline = Date.now() + BATCH_TIMEOUT_MS;
  for (const [i, id] of ids.entries()) {
    for (;;) {
      const state = await client.getOrchestrationState<number>(id);
      if (state?.isTerminal === true) {
        if (state.status !== "COMPLETED" || state.output !== workload.expected(i)) {
          const failure = state.failureDetails === undefined ? "" : `: ${JSON.stringify(state.failureDetails)}`;
          throw new Error(
            `${id} ended ${state.status} with ${JSON.stringify(state.output)}; expected ${workload.expected(i)}${failure}`,
          );
        }
        break;
      }
      if (Date.now() > deadline) throw new Error(`${id} is not done after ${BATCH_TIMEOUT_MS} ms (${state?.status})`);
      await delay(20);
    }
  }
}

interface Sample {
  readonly sdk: string;
  readonly workload: string;
  readonly workflowsPerSec: number;
  readonly workerCpuMsPerWorkflow: number;
  readonly sidecarCpuMsPerWorkflow: number | undefined;
  readonly workerMaxRssMiB: number;
}

async function measure(sdk: Sdk, workload: Workload, run: number): Promise<Sample> {
  const sidecar = await startSidecar(SIDECAR);
  const profile =
    CPU_PROF_DIR === undefined
      ? undefined
      : join(CPU_PROF_DIR, `${sdk.script.replace(/\.ts$/, "")}-${workload.key}-${run}.cpuprofile`);
  const worker = new WorkerChild(sdk, sidecar.address, profile);
  const client = new TaskHubGrpcClient({ address: sidecar.address, useEnvironment: false });
  try {
    await worker.next("ready");
    await runBatch(client, workload, workload.warmup, "warmup");
    const before = await worker.mark("begin");
    const sidecarBefore = processCpuMs(sidecar.pid);
    const start = performance.now();
    await runBatch(client, workload, workload.count, "run");
    const wallMs = performance.now() - start;
    const after = await worker.mark("end");
    const sidecarAfter = processCpuMs(sidecar.pid);
    return {
      sdk: sdk.name,
      workload: workload.key,
      workflowsPerSec: (workload.count * 1000) / wallMs,
      workerCpuMsPerWorkflow: (after.cpuMs - before.cpuMs) / workload.count,
      sidecarCpuMsPerWorkflow:
        sidecarBefore === undefined || sidecarAfter === undefined
          ? undefined
          : (sidecarAfter - sidecarBefore) / workload.count,
      workerMaxRssMiB: after.maxRssKiB / 1024,
    };
  } catch (error) {
    process.stderr.write(`\n--- sidecar logs (pid ${sidecar.pid}) ---\n${sidecar.logs().slice(-8_192)}\n`);
    throw error;
  } finally {
    client.close();
    await worker.stop();
    await sidecar.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Main

const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2 === 1
    ? (sorted[Math.floor(mid)] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const fmt = (x: number | undefined, digits: number) => (x === undefined ? "n/a" : x.toFixed(digits));

const cpu = cpus();
console.log(
  `\nEnd-to-end benchmark — ${SIDECAR_VERSION}, Node ${process.version}, ` +
    `${cpu[0]?.model ?? "unknown CPU"} (${cpu.length} cores), ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
    `Linux ${release()}; ${RUNS} run(s) per SDK and workload, median shown\n`,
);

if (CPU_PROF_DIR !== undefined) {
  mkdirSync(CPU_PROF_DIR, { recursive: true });
  console.log(`Writing worker CPU profiles to ${CPU_PROF_DIR}; the profiler's overhead inflates these numbers.\n`);
}

const samples: Sample[] = [];
for (let run = 1; run <= RUNS; run++) {
  for (const workload of workloads.filter((w) => WORKLOADS?.includes(w.key) ?? true)) {
    // Alternate which SDK goes first, so drift on a shared machine hits both alike.
    for (const sdk of ONLY_OURS ? [OURS] : run % 2 === 1 ? [OURS, PEER] : [PEER, OURS]) {
      const sample = await measure(sdk, workload, run);
      samples.push(sample);
      console.log(
        `run ${run}  ${workload.label.padEnd(28)} ${sdk.name.padEnd(28)} ` +
          `${fmt(sample.workflowsPerSec, 1).padStart(7)} wf/s  ` +
          `worker ${fmt(sample.workerCpuMsPerWorkflow, 2).padStart(7)} CPU-ms/wf  ` +
          `sidecar ${fmt(sample.sidecarCpuMsPerWorkflow, 2).padStart(7)} CPU-ms/wf  ` +
          `worker peak RSS ${fmt(sample.workerMaxRssMiB, 0)} MiB`,
      );
    }
  }
}

const values = (sdk: Sdk, workload: Workload, metric: (s: Sample) => number | undefined) =>
  samples
    .filter((s) => s.sdk === sdk.name && s.workload === workload.key)
    .map(metric)
    .filter((v): v is number => v !== undefined);
const pick = (sdk: Sdk, workload: Workload, metric: (s: Sample) => number | undefined) => {
  const xs = values(sdk, workload, metric);
  return xs.length === 0 ? undefined : median(xs);
};
/** "median (min–max)" over the runs. */
const spread = (sdk: Sdk, workload: Workload, metric: (s: Sample) => number | undefined, digits: number) => {
  const xs = values(sdk, workload, metric);
  if (xs.length === 0) return "n/a";
  const m = fmt(median(xs), digits);
  return xs.length === 1 ? m : `${m} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
};

console.log(
  `\n| workload | SDK | workflows/s | worker CPU-ms/workflow | sidecar CPU-ms/workflow | worker peak RSS (MiB) |`,
);
console.log("|---|---|---:|---:|---:|---:|");
for (const workload of workloads) {
  for (const sdk of [OURS, PEER]) {
    const cells = [
      spread(sdk, workload, (s) => s.workflowsPerSec, 1),
      spread(sdk, workload, (s) => s.workerCpuMsPerWorkflow, 2),
      spread(sdk, workload, (s) => s.sidecarCpuMsPerWorkflow, 2),
      spread(sdk, workload, (s) => s.workerMaxRssMiB, 0),
    ];
    console.log(`| ${workload.label} | ${sdk.name} | ${cells.join(" | ")} |`);
  }
}

console.log("\n| workload | worker CPU per workflow, ours ÷ peer | throughput, ours ÷ peer |");
console.log("|---|---:|---:|");
let worstCpuRatio = 0;
for (const workload of workloads) {
  const ratio = (metric: (s: Sample) => number) =>
    (pick(OURS, workload, metric) ?? Number.NaN) / (pick(PEER, workload, metric) ?? Number.NaN);
  const cpuRatio = ratio((s) => s.workerCpuMsPerWorkflow);
  worstCpuRatio = Math.max(worstCpuRatio, cpuRatio);
  console.log(
    `| ${workload.label} | ${fmt(cpuRatio, 2)} | ${fmt(
      ratio((s) => s.workflowsPerSec),
      2,
    )}× |`,
  );
}
console.log(
  `\nTarget: @dt/worker uses at most half the worker CPU per workflow of @dapr/durabletask-js — ` +
    `${worstCpuRatio <= 0.5 ? "met" : "NOT met"} (worst ratio ${fmt(worstCpuRatio, 2)}).`,
);
