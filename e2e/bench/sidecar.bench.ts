// Sidecar benchmark: the same @dt/worker + @dt/client workloads against the embedded sidecar (@dt/sidecar with a
// MemoryStore, and with a SqliteStore on a temporary file) and against durabletask-go v0.14.0, in one run.
// Run with `pnpm bench` (after the build; Node strips the types and imports our packages from their built dist), or
// `node e2e/bench/sidecar.bench.ts` after `pnpm build`.
//
// Per target and run: a fresh sidecar in a child process (durabletask-go through the e2e harness; the embedded one
// through sidecar-child.ts), our worker and client in this process, warm-up, then
//   (a) throughput: CHAINS chains of 3 activities scheduled at once, workflows/s until the last one is seen done;
//   (b) latency: LATENCY_RUNS chains one after another, each timed from scheduleNewOrchestration until
//       waitForOrchestrationCompletion returns; p50/p99.
// Every output is checked.
import { type ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow } from "@dt/core";
import { TaskHubGrpcWorker } from "@dt/worker";
import { startSidecar } from "../src/harness.ts";
import type { SidecarReport } from "./sidecar-child.ts";

const RUNS = Number(process.env["BENCH_SIDECAR_RUNS"] ?? 3);
const CHAINS = Number(process.env["BENCH_SIDECAR_CHAINS"] ?? 300);
const LATENCY_RUNS = Number(process.env["BENCH_SIDECAR_LATENCY_RUNS"] ?? 100);
const WARMUP_BATCH = 30;
const WARMUP_SEQUENTIAL = 10;
const CHAIN_LENGTH = 3;
const TIMEOUT_MS = 120_000;
/** Directory for V8 CPU profiles of the embedded sidecar children (`--cpu-prof`); unset: no profiling. */
const SIDECAR_PROF_DIR =
  process.env["BENCH_SIDECAR_CPU_PROF"] === undefined ? undefined : resolve(process.env["BENCH_SIDECAR_CPU_PROF"]);
const TARGET_RATIO = 2;
const TARGET_P50_MS = 20;

// ---------------------------------------------------------------------------------------------------------------------
// The workload: n → inc → inc → inc (n + 3), with the worker in this process.

const inc = defineActivity("inc", (_ctx, n: number) => n + 1);
const chain3 = defineWorkflow("chain3", function* (ctx, start: number) {
  let n = start;
  for (let i = 0; i < CHAIN_LENGTH; i++) n = yield* ctx.callActivity(inc, { input: n });
  return n;
});

// ---------------------------------------------------------------------------------------------------------------------
// Targets

interface Running {
  readonly address: string;
  readonly pid: number;
  stop(): Promise<void>;
}
interface Target {
  readonly key: string;
  readonly label: string;
  start(run: number): Promise<Running>;
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** The embedded sidecar in a child process (sidecar-child.ts); a SQLite file lives in a temp dir removed on stop. */
async function startEmbedded(kind: "memory" | "sqlite", run: number): Promise<Running> {
  const dir = kind === "sqlite" ? mkdtempSync(join(tmpdir(), "dt-bench-")) : undefined;
  const args = dir === undefined ? [kind] : [kind, join(dir, "bench.db")];
  const execArgv =
    SIDECAR_PROF_DIR === undefined
      ? []
      : ["--cpu-prof", "--cpu-prof-dir", SIDECAR_PROF_DIR, "--cpu-prof-name", `sidecar-${kind}-${run}.cpuprofile`];
  const child = fork(new URL("sidecar-child.ts", import.meta.url), args, {
    stdio: ["ignore", "inherit", "pipe", "ipc"],
    execArgv,
  });
  children.add(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-16_384);
  });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      children.delete(child);
      resolve();
    }),
  );
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`embedded sidecar did not start\n${stderr}`)), 30_000);
    child.on("message", (report: SidecarReport) => {
      if (report.type !== "listening") return;
      clearTimeout(timer);
      resolve(report.address);
    });
    void exited.then(() => reject(new Error(`embedded sidecar exited before listening\n${stderr}`)));
  });
  return {
    address,
    pid: child.pid ?? -1,
    async stop() {
      if (child.connected) child.send({ type: "stop" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const GO: Target = {
  key: "go",
  label: "durabletask-go v0.14.0 (in-memory sqlite)",
  start: () => startSidecar("go"),
};
const MEMORY: Target = {
  key: "memory",
  label: "embedded, MemoryStore",
  start: (run) => startEmbedded("memory", run),
};
const SQLITE: Target = {
  key: "sqlite",
  label: "embedded, SqliteStore (temp file)",
  start: (run) => startEmbedded("sqlite", run),
};
const TARGETS = [GO, MEMORY, SQLITE] as const;

/** User + system CPU of a process (Linux /proc, clock ticks at USER_HZ = 100), or undefined elsewhere. */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Measurements

function check(id: string, state: { status: string; output?: unknown; failureDetails?: unknown }, expected: number) {
  if (state.status !== "COMPLETED" || state.output !== expected) {
    throw new Error(
      `${id} ended ${state.status} with ${JSON.stringify(state.output)}; expected ${expected}` +
        (state.failureDetails === undefined ? "" : `: ${JSON.stringify(state.failureDetails)}`),
    );
  }
}

/**
 * Schedules `count` chains at once and waits until every one is done, polling the oldest unfinished instance every
 * 10 ms (the same for every target: durabletask-go's long polls back off to 10 s and would hide its real end).
 */
async function runBatch(client: TaskHubGrpcClient, count: number, tag: string): Promise<void> {
  const ids = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      client.scheduleNewOrchestration(chain3, { instanceId: `chain3-${tag}-${i}-${randomUUID()}`, input: i + 1 }),
    ),
  );
  const deadline = Date.now() + TIMEOUT_MS;
  for (const [i, id] of ids.entries()) {
    for (;;) {
      const state = await client.getOrchestrationState<number>(id);
      if (state?.isTerminal === true) {
        check(id, state, i + 1 + CHAIN_LENGTH);
        break;
      }
      if (Date.now() > deadline) throw new Error(`${id} is not done after ${TIMEOUT_MS} ms (${state?.status})`);
      await delay(10);
    }
  }
}

/** One chain after another; ms from schedule to waitForOrchestrationCompletion returning, per chain. */
async function runSequential(client: TaskHubGrpcClient, count: number, tag: string): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = `chain3-${tag}-${i}-${randomUUID()}`;
    const start = performance.now();
    await client.scheduleNewOrchestration(chain3, { instanceId: id, input: i + 1 });
    const state = await client.waitForOrchestrationCompletion<number>(id, { timeout: TIMEOUT_MS / 1000 });
    latencies.push(performance.now() - start);
    if (state === undefined) throw new Error(`${id} vanished`);
    check(id, state, i + 1 + CHAIN_LENGTH);
  }
  return latencies;
}

const percentile = (xs: readonly number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
};
const median = (xs: readonly number[]) => percentile(xs, 50);

interface Sample {
  readonly target: string;
  readonly workflowsPerSec: number;
  readonly sidecarCpuMsPerWorkflow: number | undefined;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly latencies: readonly number[];
}

async function measure(target: Target, run: number): Promise<Sample> {
  const sidecar = await target.start(run);
  const worker = new TaskHubGrpcWorker({ address: sidecar.address, useEnvironment: false });
  worker.addWorkflow(chain3).addActivity(inc);
  const client = new TaskHubGrpcClient({ address: sidecar.address, useEnvironment: false });
  try {
    await worker.start();
    await worker.waitForReady({ timeoutMs: 30_000 });
    await runBatch(client, WARMUP_BATCH, "warmup");
    await runSequential(client, WARMUP_SEQUENTIAL, "warmup-seq");

    const cpuBefore = processCpuMs(sidecar.pid);
    const start = performance.now();
    await runBatch(client, CHAINS, "run");
    const wallMs = performance.now() - start;
    const cpuAfter = processCpuMs(sidecar.pid);

    const latencies = await runSequential(client, LATENCY_RUNS, "seq");
    return {
      target: target.key,
      workflowsPerSec: (CHAINS * 1000) / wallMs,
      sidecarCpuMsPerWorkflow:
        cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / CHAINS,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      latencies,
    };
  } finally {
    client.close();
    await worker.stop({ timeoutMs: 5_000 });
    await sidecar.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Main

const fmt = (x: number | undefined, digits: number) => (x === undefined || Number.isNaN(x) ? "n/a" : x.toFixed(digits));
const cpu = cpus();
console.log(
  `\nSidecar benchmark — @dt/worker + @dt/client against the embedded sidecar and durabletask-go v0.14.0. ` +
    `Node ${process.version}, ${cpu[0]?.model ?? "unknown CPU"} (${cpu.length} cores), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; ${RUNS} run(s) per target: throughput ${CHAINS} chains × ${CHAIN_LENGTH} activities at once, ` +
    `latency ${LATENCY_RUNS} sequential chains\n`,
);
if (SIDECAR_PROF_DIR !== undefined) {
  mkdirSync(SIDECAR_PROF_DIR, { recursive: true });
  console.log(`Writing embedded sidecar CPU profiles to ${SIDECAR_PROF_DIR} (the profiler inflates the numbers).\n`);
}

const began = performance.now();
const samples: Sample[] = [];
for (let run = 1; run <= RUNS; run++) {
  // Rotate the order per run, so drift on a shared machine hits every target alike.
  const order = TARGETS.map((_, i) => TARGETS[(i + run - 1) % TARGETS.length] as Target);
  for (const target of order) {
    const sample = await measure(target, run);
    samples.push(sample);
    console.log(
      `run ${run}  ${target.label.padEnd(42)} ${fmt(sample.workflowsPerSec, 1).padStart(7)} wf/s  ` +
        `sidecar ${fmt(sample.sidecarCpuMsPerWorkflow, 2).padStart(6)} CPU-ms/wf  ` +
        `latency p50 ${fmt(sample.p50Ms, 1).padStart(6)} ms  p99 ${fmt(sample.p99Ms, 1).padStart(6)} ms`,
    );
  }
}

const of = (target: Target) => samples.filter((s) => s.target === target.key);
/** "median (min–max)" over the runs. */
const spread = (target: Target, metric: (s: Sample) => number | undefined, digits: number) => {
  const xs = of(target)
    .map(metric)
    .filter((v): v is number => v !== undefined);
  if (xs.length === 0) return "n/a";
  const m = fmt(median(xs), digits);
  return xs.length === 1 ? m : `${m} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
};
const medianOf = (target: Target, metric: (s: Sample) => number) => median(of(target).map(metric));
/** p50/p99 over every sequential chain of every run of the target. */
const pooled = (target: Target, p: number) =>
  percentile(
    of(target).flatMap((s) => s.latencies),
    p,
  );

console.log(
  `\n| sidecar | workflows/s | sidecar CPU-ms/workflow | latency p50 (ms) | latency p99 (ms) | p50 / p99 pooled (ms) |`,
);
console.log("|---|---:|---:|---:|---:|---:|");
for (const target of TARGETS) {
  console.log(
    `| ${target.label} | ${spread(target, (s) => s.workflowsPerSec, 1)} | ` +
      `${spread(target, (s) => s.sidecarCpuMsPerWorkflow, 2)} | ${spread(target, (s) => s.p50Ms, 1)} | ` +
      `${spread(target, (s) => s.p99Ms, 1)} | ${fmt(pooled(target, 50), 1)} / ${fmt(pooled(target, 99), 1)} |`,
  );
}

const goThroughput = medianOf(GO, (s) => s.workflowsPerSec);
const goP50 = medianOf(GO, (s) => s.p50Ms);
console.log("\n| sidecar | throughput ÷ durabletask-go | p50 latency ÷ durabletask-go | target met |");
console.log("|---|---:|---:|---|");
let allMet = true;
for (const target of [MEMORY, SQLITE]) {
  const ratio = medianOf(target, (s) => s.workflowsPerSec) / goThroughput;
  const p50 = medianOf(target, (s) => s.p50Ms);
  const met = ratio >= TARGET_RATIO && p50 < TARGET_P50_MS;
  allMet &&= met;
  console.log(
    `| ${target.label} | ${fmt(ratio, 2)}× | ${fmt(p50 / goP50, 3)} | ${met ? "yes" : "NO"} ` +
      `(≥ ${TARGET_RATIO}×: ${ratio >= TARGET_RATIO ? "yes" : "no"}, p50 < ${TARGET_P50_MS} ms: ${p50 < TARGET_P50_MS ? "yes" : "no"}) |`,
  );
}
console.log(
  `\nTarget: embedded sidecar ≥ ${TARGET_RATIO}× durabletask-go's throughput and p50 < ${TARGET_P50_MS} ms for a ` +
    `3-activity chain — ${allMet ? "met" : "NOT met"}. Took ${((performance.now() - began) / 1000).toFixed(0)} s.`,
);
