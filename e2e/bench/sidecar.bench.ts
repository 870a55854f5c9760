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
//
// Knobs: BENCH_SIDECAR_RUNS, _CHAINS, _LATENCY_RUNS (sizes); BENCH_SIDECAR_TARGETS=memory,sqlite (a subset);
// BENCH_SIDECAR_BASELINE=<another build's packages/sidecar/dist/index.js> (adds that build as memory-baseline and
// sqlite-baseline, interleaved: before/after under the same load); BENCH_SIDECAR_CPU_PROF=<dir> (V8 profiles of the
// embedded sidecar over each throughput batch, for e2e/bench/profile-summary.ts).
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
import type { SidecarCommand, SidecarReport } from "./sidecar-child.ts";

const RUNS = Number(process.env["BENCH_SIDECAR_RUNS"] ?? 3);
const CHAINS = Number(process.env["BENCH_SIDECAR_CHAINS"] ?? 300);
const LATENCY_RUNS = Number(process.env["BENCH_SIDECAR_LATENCY_RUNS"] ?? 100);
const WARMUP_BATCH = 30;
const WARMUP_SEQUENTIAL = 10;
const CHAIN_LENGTH = 3;
const TIMEOUT_MS = 120_000;
/** Directory for V8 CPU profiles of the embedded sidecar children over the throughput batch; unset: none. */
const SIDECAR_PROF_DIR =
  process.env["BENCH_SIDECAR_CPU_PROF"] === undefined ? undefined : resolve(process.env["BENCH_SIDECAR_CPU_PROF"]);
/** Only these targets (comma-separated keys: go, memory, sqlite, memory-baseline, sqlite-baseline); unset: all. */
const ONLY_TARGETS = process.env["BENCH_SIDECAR_TARGETS"]?.split(",").map((key) => key.trim());
/**
 * Another build of @dt/sidecar (the path of its dist/index.js, e.g. of the last commit) to run as the extra targets
 * memory-baseline and sqlite-baseline, interleaved with this build's: a before/after comparison under the same load.
 */
const BASELINE =
  process.env["BENCH_SIDECAR_BASELINE"] === undefined || process.env["BENCH_SIDECAR_BASELINE"] === ""
    ? undefined
    : resolve(process.env["BENCH_SIDECAR_BASELINE"]);
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
  /** The embedded sidecar's profiler, with BENCH_SIDECAR_CPU_PROF: on for the throughput batch only. */
  readonly profile?: { start(): Promise<void>; stop(): Promise<void> };
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
async function startEmbedded(kind: "memory" | "sqlite", run: number, module?: string): Promise<Running> {
  const dir = kind === "sqlite" ? mkdtempSync(join(tmpdir(), "dt-bench-")) : undefined;
  const args = dir === undefined ? [kind] : [kind, join(dir, "bench.db")];
  const name = `sidecar-${kind}${module === undefined ? "" : "-baseline"}-${run}.cpuprofile`;
  const child = fork(new URL("sidecar-child.ts", import.meta.url), args, {
    stdio: ["ignore", "inherit", "pipe", "ipc"],
    env: { ...process.env, BENCH_SIDECAR_MODULE: module ?? "" },
  });
  /** Sends a command and waits for the report that answers it. */
  const ask = (command: SidecarCommand, answer: SidecarReport["type"]) =>
    new Promise<void>((resolve, reject) => {
      const onMessage = (report: SidecarReport) => {
        if (report.type !== answer) return;
        child.off("message", onMessage);
        resolve();
      };
      child.on("message", onMessage);
      if (!child.send(command)) reject(new Error(`could not send ${command.type} to the sidecar`));
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
    ...(SIDECAR_PROF_DIR === undefined
      ? {}
      : {
          profile: {
            start: () => ask({ type: "profile-start" }, "profiling"),
            stop: () => ask({ type: "profile-stop", path: join(SIDECAR_PROF_DIR, name) }, "profiled"),
          },
        }),
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
const MEMORY_BASELINE: Target = {
  key: "memory-baseline",
  label: "baseline build, MemoryStore",
  start: (run) => startEmbedded("memory", run, BASELINE),
};
const SQLITE_BASELINE: Target = {
  key: "sqlite-baseline",
  label: "baseline build, SqliteStore",
  start: (run) => startEmbedded("sqlite", run, BASELINE),
};
const TARGETS = [GO, MEMORY, SQLITE, ...(BASELINE === undefined ? [] : [MEMORY_BASELINE, SQLITE_BASELINE])].filter(
  (target) => ONLY_TARGETS === undefined || ONLY_TARGETS.includes(target.key),
);

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
  /** This process (worker and client) over the batch, for context: the sidecar shares the 2 cores with it. */
  readonly workerClientCpuMsPerWorkflow: number;
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

    await sidecar.profile?.start();
    const cpuBefore = processCpuMs(sidecar.pid);
    const ownBefore = process.cpuUsage();
    const start = performance.now();
    await runBatch(client, CHAINS, "run");
    const wallMs = performance.now() - start;
    const own = process.cpuUsage(ownBefore);
    const cpuAfter = processCpuMs(sidecar.pid);
    await sidecar.profile?.stop();

    const latencies = await runSequential(client, LATENCY_RUNS, "seq");
    return {
      target: target.key,
      workflowsPerSec: (CHAINS * 1000) / wallMs,
      sidecarCpuMsPerWorkflow:
        cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / CHAINS,
      workerClientCpuMsPerWorkflow: (own.user + own.system) / 1000 / CHAINS,
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
  console.log(
    `Writing embedded sidecar CPU profiles of each throughput batch to ${SIDECAR_PROF_DIR} ` +
      `(the profiler inflates the numbers).\n`,
  );
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
        `(worker+client ${fmt(sample.workerClientCpuMsPerWorkflow, 2)})  ` +
        `latency p50 ${fmt(sample.p50Ms, 1).padStart(6)} ms  p99 ${fmt(sample.p99Ms, 1).padStart(6)} ms  ` +
        `(load ${fmt(loadavg()[0], 2)})`,
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
  `\n| sidecar | workflows/s | sidecar CPU-ms/workflow | worker+client CPU-ms/workflow | latency p50 (ms) | ` +
    `latency p99 (ms) | p50 / p99 pooled (ms) |`,
);
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const target of TARGETS) {
  console.log(
    `| ${target.label} | ${spread(target, (s) => s.workflowsPerSec, 1)} | ` +
      `${spread(target, (s) => s.sidecarCpuMsPerWorkflow, 2)} | ${spread(target, (s) => s.workerClientCpuMsPerWorkflow, 2)} | ` +
      `${spread(target, (s) => s.p50Ms, 1)} | ` +
      `${spread(target, (s) => s.p99Ms, 1)} | ${fmt(pooled(target, 50), 1)} / ${fmt(pooled(target, 99), 1)} |`,
  );
}

const embedded = TARGETS.filter((target) => target !== GO);
let allMet = TARGETS.includes(GO) && embedded.length > 0;
if (TARGETS.includes(GO)) {
  const goThroughput = medianOf(GO, (s) => s.workflowsPerSec);
  const goP50 = medianOf(GO, (s) => s.p50Ms);
  console.log("\n| sidecar | throughput ÷ durabletask-go | p50 latency ÷ durabletask-go | target met |");
  console.log("|---|---:|---:|---|");
  for (const target of embedded) {
    const ratio = medianOf(target, (s) => s.workflowsPerSec) / goThroughput;
    const p50 = medianOf(target, (s) => s.p50Ms);
    const met = ratio >= TARGET_RATIO && p50 < TARGET_P50_MS;
    if (target === MEMORY || target === SQLITE) allMet &&= met;
    console.log(
      `| ${target.label} | ${fmt(ratio, 2)}× | ${fmt(p50 / goP50, 3)} | ${met ? "yes" : "NO"} ` +
        `(≥ ${TARGET_RATIO}×: ${ratio >= TARGET_RATIO ? "yes" : "no"}, p50 < ${TARGET_P50_MS} ms: ${p50 < TARGET_P50_MS ? "yes" : "no"}) |`,
    );
  }
}
console.log(
  `\nTarget: embedded sidecar ≥ ${TARGET_RATIO}× durabletask-go's throughput and p50 < ${TARGET_P50_MS} ms for a ` +
    `3-activity chain — ${TARGETS.includes(GO) ? (allMet ? "met" : "NOT met") : "not judged (durabletask-go not run)"}. ` +
    `Took ${((performance.now() - began) / 1000).toFixed(0)} s; load average now ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}.`,
);
