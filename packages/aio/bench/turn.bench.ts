// Per-turn cost of async authoring and of the sandbox modes: µs per workflow turn through `runWorkflowTurn` (what the
// worker calls), compared with generator authoring. Run with `pnpm bench` (builds first).
// What is timed: (1) one turn that replays a 10-activity chain (31 past events) and completes it, the typical last
// turn of a short workflow without an execution cache; (2) the whole chain turn by turn, as the worker runs it: decode
// the work item, run the turn with the worker's execution cache, encode the response. Each variant's result is checked
// before timing. Turns run one after another, each started from its own macrotask; the figures are CPU time.
import { cpus } from "node:os";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type AsyncWorkflowContext, defineAsyncWorkflow, runWorkflowTurn, toRegistrable } from "@dt/aio";
import {
  defineWorkflow,
  ExecutionCache,
  executeWorkflow,
  history as h,
  Registry,
  type WorkflowContext,
  type WorkflowRequest,
  type WorkflowResult,
} from "@dt/core";
import { OrchestrationStatus, WorkflowResponseSchema, type WorkItem, WorkItemSchema } from "@dt/proto";

const STEPS = 10;
const TURNS = Number(process.env["BENCH_TURNS"] ?? 2000);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 9);
const T0 = Date.UTC(2020, 0, 1, 12);
const at = (s: number) => new Date(T0 + s * 1000);

const generator = defineWorkflow("generator", function* (ctx: WorkflowContext) {
  let acc = 0;
  for (let i = 0; i < STEPS; i++) acc += (yield ctx.callActivity("step", { input: i })) as number;
  return acc;
});
const asyncBody = async (ctx: AsyncWorkflowContext) => {
  let acc = 0;
  for (let i = 0; i < STEPS; i++) acc += await ctx.callActivity<number>("step", { input: i });
  return acc;
};
const variants = {
  "generator, executeWorkflow (sync engine)": "generator",
  "generator, runWorkflowTurn": "generator",
  "async, sandbox off": "async_off",
  "async, sandbox best_effort": "async_best_effort",
  "async, sandbox strict": "async_strict",
} as const;

const registry = new Registry()
  .addWorkflow(generator)
  .addWorkflow(toRegistrable(defineAsyncWorkflow("async_off", asyncBody)))
  .addWorkflow(defineAsyncWorkflow("async_best_effort", asyncBody, { sandboxMode: "best_effort" }))
  .addWorkflow(defineAsyncWorkflow("async_strict", asyncBody, { sandboxMode: "strict" }));

function request(name: string): WorkflowRequest {
  const past = [h.workflowStarted(at(0)), h.executionStarted(name, "bench"), h.taskScheduled(1, "step", "0")];
  for (let i = 1; i < STEPS; i++) {
    past.push(h.workflowStarted(at(i)), h.taskCompleted(i, "1"), h.taskScheduled(i + 1, "step", String(i)));
  }
  return {
    instanceId: "bench",
    pastEvents: past,
    newEvents: [h.workflowStarted(at(STEPS)), h.taskCompleted(STEPS, "1")],
  };
}

function check(label: string, result: WorkflowResult): void {
  const done = result.actions[0]?.workflowActionType;
  const value = done?.case === "completeWorkflow" ? done.value : undefined;
  if (value?.workflowStatus !== OrchestrationStatus.COMPLETED || value.result !== String(STEPS)) {
    throw new Error(`${label} did not complete: ${JSON.stringify(value?.failureDetails ?? done?.case)}`);
  }
}

/**
 * CPU time (user + system, every thread: garbage collection included) per call of `fn`, µs. Each call starts in its
 * own macrotask, as in the worker (a work item arrives in an I/O callback); the same loop with no call is measured
 * right before and subtracted, so what remains is the call, including any event-loop hop it takes itself (the
 * sandbox's setImmediate). CPU time, unlike wall time, does not count time the process waits for a busy core.
 */
async function cpuPerCall(calls: number, fn: () => unknown): Promise<number> {
  const loop = async (body: () => unknown) => {
    const start = process.cpuUsage();
    for (let i = 0; i < calls; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      await body();
    }
    const used = process.cpuUsage(start);
    return used.user + used.system;
  };
  const idle = await loop(() => undefined);
  return ((await loop(fn)) - idle) / calls;
}

function timeTurns(label: string, name: string): Promise<number> {
  const req = request(name);
  return label.includes("sync engine")
    ? cpuPerCall(TURNS, () => executeWorkflow(req, registry))
    : cpuPerCall(TURNS, () => runWorkflowTurn(req, registry));
}

for (const [label, name] of Object.entries(variants)) {
  check(
    label,
    label.includes("sync engine")
      ? executeWorkflow(request(name), registry)
      : await runWorkflowTurn(request(name), registry),
  );
}
const samples = new Map<string, number[]>(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < ROUNDS + 2; round++) {
  // Alternate the variants each round so drift hits all of them alike; the first two rounds are warm-up.
  for (const [label, name] of Object.entries(variants)) {
    const us = await timeTurns(label, name);
    if (round >= 2) samples.get(label)?.push(us);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const base = median(samples.get("async, sandbox off") ?? []);
const gen = median(samples.get("generator, executeWorkflow (sync engine)") ?? []);
console.log(
  `\n@dt/aio turn cost: CPU µs per turn (replay a ${STEPS}-activity chain and complete), median of ${ROUNDS} rounds × ${TURNS} turns`,
);
console.log(`${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}\n`);
console.log("| variant | µs/turn | vs generator (sync) | vs async off |");
console.log("| --- | ---: | ---: | ---: |");
for (const [label, xs] of samples) {
  const m = median(xs);
  console.log(`| ${label} | ${m.toFixed(1)} | ${(m / gen).toFixed(2)}× | ${(m / base).toFixed(2)}× |`);
}

// ---------------------------------------------------------------------------------------------------------------------
// (2) The whole workflow as the worker runs it: every turn from the work item's bytes to the response's bytes.

/** The encoded work items of the chain's 11 turns: turn k has history up to result k as past, then its new events. */
function workItems(name: string): Uint8Array[] {
  const items: Uint8Array[] = [];
  const past = [];
  let newEvents = [h.workflowStarted(at(0)), h.executionStarted(name, "bench")];
  for (let k = 0; k <= STEPS; k++) {
    const item: WorkItem = create(WorkItemSchema, {
      request: { case: "workflowRequest", value: { instanceId: "bench", pastEvents: past, newEvents } },
      completionToken: String(k),
    });
    items.push(toBinary(WorkItemSchema, item));
    past.push(...newEvents, h.taskScheduled(k + 1, "step", String(k)));
    newEvents = [h.workflowStarted(at(k + 1)), h.taskCompleted(k + 1, "1")];
  }
  return items;
}

/** Runs one workflow's turns; returns the last turn's result. */
async function workflow(items: readonly Uint8Array[], cache: ExecutionCache | undefined): Promise<WorkflowResult> {
  let result: WorkflowResult | undefined;
  for (const bytes of items) {
    const item = fromBinary(WorkItemSchema, bytes);
    if (item.request.case !== "workflowRequest") throw new Error("not a workflow request");
    result = await runWorkflowTurn(item.request.value, registry, cache === undefined ? {} : { cache });
    const response = create(WorkflowResponseSchema, {
      instanceId: "bench",
      actions: result.actions,
      completionToken: item.completionToken,
    });
    toBinary(WorkflowResponseSchema, response);
  }
  if (result === undefined) throw new Error("no turns");
  return result;
}

const WORKFLOWS = Math.max(1, Math.round(TURNS / (STEPS + 1)));
const whole = {
  "generator, replaying every turn (no cache)": "generator",
  "generator, execution cache": "generator",
  "async, sandbox off, execution cache": "async_off",
  "async, sandbox best_effort, execution cache": "async_best_effort",
  "async, sandbox strict, execution cache": "async_strict",
} as const;

async function timeWorkflows(label: string, name: string): Promise<number> {
  const items = workItems(name);
  const cache = label.includes("no cache") ? undefined : new ExecutionCache();
  return (await cpuPerCall(WORKFLOWS, () => workflow(items, cache))) / items.length;
}

for (const [label, name] of Object.entries(whole)) {
  const cache = label.includes("no cache") ? undefined : new ExecutionCache();
  check(label, await workflow(workItems(name), cache));
  if (cache !== undefined && cache.hits !== STEPS) throw new Error(`${label}: ${cache.hits} cache hits`);
}
const wholeSamples = new Map<string, number[]>(Object.keys(whole).map((k) => [k, []]));
for (let round = 0; round < ROUNDS + 2; round++) {
  for (const [label, name] of Object.entries(whole)) {
    const us = await timeWorkflows(label, name);
    if (round >= 2) wholeSamples.get(label)?.push(us);
  }
}
const wholeGen = median(wholeSamples.get("generator, execution cache") ?? []);
const wholeOff = median(wholeSamples.get("async, sandbox off, execution cache") ?? []);
console.log(
  `\nA whole ${STEPS}-activity chain as the worker runs it (work item bytes → turn with the worker's execution cache → response bytes): CPU µs per turn, averaged over its ${STEPS + 1} turns, median of ${ROUNDS} rounds × ${WORKFLOWS} workflows\n`,
);
console.log("| variant | µs/turn | vs generator (cache) | vs async off (cache) |");
console.log("| --- | ---: | ---: | ---: |");
for (const [label, xs] of wholeSamples) {
  const m = median(xs);
  console.log(`| ${label} | ${m.toFixed(1)} | ${(m / wholeGen).toFixed(2)}× | ${(m / wholeOff).toFixed(2)}× |`);
}
