// Replay benchmark: µs per history event for @dt/core's engine and @dapr/durabletask-js's OrchestrationExecutor, on
// the same histories, in the same process. Run with `pnpm bench` (builds first; Node runs this file by stripping types).
// What is timed: one workflow turn over a full history (all past events replayed + the final new events), ending in
// the completion action. Not timed: building the histories, protobuf conversion, registry setup.
import { cpus, totalmem } from "node:os";
import { toBinary } from "@bufbuild/protobuf";
import type { OrchestrationContext } from "@dapr/durabletask-js";
// google-protobuf's generated CommonJS hides its names from Node's export detection: take the module object.
import dtPb from "@dapr/durabletask-js/proto/orchestrator_service_pb.js";
import { whenAll as dtWhenAll } from "@dapr/durabletask-js/task/index.js";
import { OrchestrationExecutor } from "@dapr/durabletask-js/worker/orchestration-executor.js";
import { Registry as DtRegistry } from "@dapr/durabletask-js/worker/registry.js";
import {
  executeWorkflow,
  history as h,
  Registry,
  type WorkflowContext,
  type WorkflowGenerator,
  type WorkflowRequest,
} from "@dt/core";
import { type HistoryEvent, HistoryEventSchema, OrchestrationStatus, type WorkflowAction } from "@dt/proto";

const INSTANCE = "bench";
const T0 = Date.UTC(2020, 0, 1, 12);
const at = (s: number) => new Date(T0 + s * 1000);
const CHAIN = 3333; // 3 events per activity + 2 = 10,001 events
const FANOUT = 1000;
const FANIN_BATCH = 10; // completions per turn in the fan-in
const WARMUP = Number(process.env["BENCH_WARMUP"] ?? 15);
const SAMPLES = Number(process.env["BENCH_SAMPLES"] ?? 31);

// ---------------------------------------------------------------------------------------------------------------------
// The workflows, once per engine

function* chain(ctx: WorkflowContext): WorkflowGenerator<number> {
  for (let i = 0; i < CHAIN; i++) yield ctx.callActivity("step", { input: i });
  return CHAIN;
}

function* fanout(ctx: WorkflowContext): WorkflowGenerator<number> {
  const tasks = [];
  for (let i = 0; i < FANOUT; i++) tasks.push(ctx.callActivity("step", { input: i }));
  const results: unknown[] = yield ctx.whenAll(tasks);
  return results.length;
}

async function* dtChain(ctx: OrchestrationContext): AsyncGenerator<unknown, number, unknown> {
  for (let i = 0; i < CHAIN; i++) yield ctx.callActivity("step", i);
  return CHAIN;
}

async function* dtFanout(ctx: OrchestrationContext): AsyncGenerator<unknown, number, unknown> {
  const tasks = [];
  for (let i = 0; i < FANOUT; i++) tasks.push(ctx.callActivity("step", i));
  const results = (yield dtWhenAll(tasks)) as unknown[];
  return results.length;
}

// ---------------------------------------------------------------------------------------------------------------------
// The histories, as the sidecar writes them (sidecar_proto.md §2.4): the last turn's events are the new events.

interface Scenario {
  readonly name: string;
  readonly workflow: string;
  readonly expected: string;
  readonly past: HistoryEvent[];
  readonly fresh: HistoryEvent[];
}

function chainHistory(): Scenario {
  const past = [h.workflowStarted(at(0)), h.executionStarted("chain", INSTANCE), h.taskScheduled(1, "step", "0")];
  for (let i = 1; i < CHAIN; i++) {
    past.push(h.workflowStarted(at(i)), h.taskCompleted(i, `"r${i}"`), h.taskScheduled(i + 1, "step", String(i)));
  }
  const fresh = [h.workflowStarted(at(CHAIN)), h.taskCompleted(CHAIN, `"r${CHAIN}"`)];
  return { name: `activity chain (${CHAIN} activities)`, workflow: "chain", expected: String(CHAIN), past, fresh };
}

function fanoutHistory(): Scenario {
  const past = [h.workflowStarted(at(0)), h.executionStarted("fanout", INSTANCE)];
  for (let i = 1; i <= FANOUT; i++) past.push(h.taskScheduled(i, "step", String(i - 1)));
  const turns: HistoryEvent[][] = [];
  for (let first = 1; first <= FANOUT; first += FANIN_BATCH) {
    const turn = [h.workflowStarted(at(first))];
    for (let i = first; i < first + FANIN_BATCH && i <= FANOUT; i++) turn.push(h.taskCompleted(i, `"r${i}"`));
    turns.push(turn);
  }
  const fresh = turns.pop() ?? [];
  past.push(...turns.flat());
  const name = `fan-out/fan-in (${FANOUT} activities, ${FANIN_BATCH} completions/turn)`;
  return { name, workflow: "fanout", expected: String(FANOUT), past, fresh };
}

// ---------------------------------------------------------------------------------------------------------------------
// Runners: each checks that the turn ends with the expected completion, then is timed.

const registry = new Registry().addWorkflow(chain, { name: "chain" }).addWorkflow(fanout, { name: "fanout" });
const dtRegistry = new DtRegistry();
dtRegistry.addNamedOrchestrator("chain", dtChain as never);
dtRegistry.addNamedOrchestrator("fanout", dtFanout as never);

type Runner = () => Promise<void> | void;

function ours(s: Scenario): Runner {
  const request: WorkflowRequest = { instanceId: INSTANCE, pastEvents: s.past, newEvents: s.fresh };
  const check = (actions: WorkflowAction[]) => {
    const [only] = actions;
    const done = only?.workflowActionType.case === "completeWorkflow" ? only.workflowActionType.value : undefined;
    if (actions.length !== 1 || done?.workflowStatus !== OrchestrationStatus.COMPLETED || done.result !== s.expected) {
      throw new Error(`@dt/core did not complete ${s.name}: ${JSON.stringify(done ?? actions.length)}`);
    }
  };
  check(executeWorkflow(request, registry).actions);
  return () => {
    executeWorkflow(request, registry);
  };
}

function theirs(s: Scenario): Runner {
  const convert = (e: HistoryEvent) => dtPb.HistoryEvent.deserializeBinary(toBinary(HistoryEventSchema, e));
  const past = s.past.map(convert);
  const fresh = s.fresh.map(convert);
  return async () => {
    const result = await new OrchestrationExecutor(dtRegistry).execute(INSTANCE, past, fresh);
    const [only] = result.actions;
    const done = only?.getCompleteorchestration();
    const status = dtPb.OrchestrationStatus.ORCHESTRATION_STATUS_COMPLETED;
    if (result.actions.length !== 1 || done?.getOrchestrationstatus() !== status) {
      throw new Error(`durabletask-js did not complete ${s.name}: ${result.actions.length} actions`);
    }
  };
}

// durabletask-js logs a few lines per turn (console.info/log); both engines run with console muted so neither pays
// for terminal I/O.
function muted<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, info: console.info, warn: console.warn, debug: console.debug };
  const quiet = () => {};
  Object.assign(console, { log: quiet, info: quiet, warn: quiet, debug: quiet });
  return fn().finally(() => Object.assign(console, saved));
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

/** Warm-up rounds, then samples interleaved between the engines (so drift hits both alike); the median of each. */
async function measure(runners: Runner[]): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) for (const run of runners) await run();
  const samples: number[][] = runners.map(() => []);
  for (let i = 0; i < SAMPLES; i++) {
    for (const [k, run] of runners.entries()) {
      const start = process.hrtime.bigint();
      await run();
      samples[k]?.push(Number(process.hrtime.bigint() - start) / 1000);
    }
  }
  return samples.map(median);
}

const rows: string[] = [];
let worst = Number.POSITIVE_INFINITY;
await muted(async () => {
  for (const scenario of [chainHistory(), fanoutHistory()]) {
    const events = scenario.past.length + scenario.fresh.length;
    const [oursUs = 0, theirsUs = 0] = await measure([ours(scenario), theirs(scenario)]);
    const ratio = theirsUs / oursUs;
    worst = Math.min(worst, ratio);
    const perEvent = (us: number) => (us / events).toFixed(3);
    rows.push(
      `| ${scenario.name} | ${events} | ${(oursUs / 1000).toFixed(2)} ms | ${perEvent(oursUs)} | ` +
        `${(theirsUs / 1000).toFixed(2)} ms | ${perEvent(theirsUs)} | ${ratio.toFixed(1)}× |`,
    );
  }
});

const cpu = cpus();
console.log(
  `\nReplay benchmark — Node ${process.version}, ${cpu[0]?.model ?? "unknown CPU"} (${cpu.length} cores), ` +
    `${Math.round(totalmem() / 2 ** 30)} GiB; median of ${SAMPLES} samples after ${WARMUP} warm-up rounds\n`,
);
console.log("| history | events | @dt/core turn | µs/event | durabletask-js turn | µs/event | speed-up |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const row of rows) console.log(row);
console.log(
  `\nTarget: @dt/core ≥ 3× faster than durabletask-js — ${worst >= 3 ? "met" : "NOT met"} (worst ${worst.toFixed(1)}×).`,
);
