// Acceptance: random async workflows, built from the whole ctx API, driven turn by turn like a sidecar would (events
// delivered in a random but seeded order, one or more per turn), then replayed: every turn again, the final history
// in one turn, and the final history cut at every index. No non-determinism, identical actions, same outcome.
// fast-check prints the seed and the shrunk program on failure.
import { Registry, type Task, TaskFailedError } from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AsyncWorkflowContext, defineAsyncWorkflow, replay, SandboxMode } from "./index.js";
import { h } from "./testing/histories.js";
import { comparable, replayChecks, SIM_START, type SimOutcome, type Simulation, simulate } from "./testing/simulate.js";

// More with AIO_PROPERTY_RUNS=5000 (the default keeps the suite fast).
const RUNS = Number(process.env["AIO_PROPERTY_RUNS"] ?? 200);
const INSTANCE = "prop";
const at = (seconds: number) => new Date(SIM_START.getTime() + seconds * 1000);

// ---------------------------------------------------------------------------------------------------------------------
// Programs

type Leaf =
  | { kind: "activity"; id: number; failures: number; retry: boolean; after: number }
  | { kind: "timer"; seconds: number; viaSetTimeout: boolean; absolute: boolean }
  | { kind: "event"; name: string; timeout: number | undefined }
  | { kind: "child"; id: number; fails: boolean; after: number };

type Expr =
  | { kind: "leaf"; leaf: Leaf }
  | { kind: "whenAll" | "whenAny" | "whenAnyWithResult"; leaves: Leaf[] }
  | { kind: "gather"; items: Expr[]; returnExceptions: boolean }
  | { kind: "withTimeout"; item: Expr; seconds: number }
  | { kind: "promiseAll" | "promiseRace"; items: Expr[] }
  | { kind: "helper"; steps: Step[] }
  /** The same task awaited twice (the second await finds it complete), or consumed with .then(onOk, onError). */
  | { kind: "twice" | "thenChain"; leaf: Leaf };

type Step =
  | { kind: "await"; expr: Expr; caught: boolean }
  | { kind: "value"; source: "random" | "now" | "uuid" | "perf"; global: boolean }
  | { kind: "status" }
  | { kind: "send"; name: string; self: boolean }
  | { kind: "patch"; name: string }
  /** Registers a cleanup (run when the workflow's body ends, however it ends) that awaits a task. */
  | { kind: "cleanup"; leaf: Leaf };

interface Program {
  steps: Step[];
  end: "return" | "throw" | "continueAsNew";
  mode: SandboxMode;
  raises: { name: string; at: number; payload: string }[];
  /** Management operations, seconds after the start: suspend (and maybe resume), terminate. */
  suspend: { at: number; resumeAfter: number | undefined } | undefined;
  terminateAt: number | undefined;
  seed: number;
  maxBatch: number;
}

const EVENTS = ["approve", "Cancel", "ping"];
const mostlyTrue = fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });

const leaf: fc.Arbitrary<Leaf> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("activity" as const),
      id: fc.constant(0), // numbered below: each call's plan is found by its name
      failures: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 2 })),
      retry: fc.boolean(),
      after: fc.integer({ min: 0, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("timer" as const),
      seconds: fc.integer({ min: 0, max: 5 }),
      viaSetTimeout: fc.boolean(),
      absolute: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("event" as const),
      name: fc.constantFrom(...EVENTS),
      timeout: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("child" as const),
      id: fc.constant(0),
      fails: fc.boolean(),
      after: fc.integer({ min: 0, max: 3 }),
    }),
  },
);

const { expr, steps } = fc.letrec<{ expr: Expr; steps: Step[]; step: Step }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 5, arbitrary: leaf.map((l): Expr => ({ kind: "leaf", leaf: l })) },
    {
      weight: 3,
      arbitrary: fc
        .record({
          kind: fc.constantFrom("whenAll" as const, "whenAny" as const, "whenAnyWithResult" as const),
          leaves: fc.array(leaf, { minLength: 1, maxLength: 3 }),
        })
        .map((e): Expr => e),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          kind: fc.constant("gather" as const),
          items: fc.array(tie("expr"), { minLength: 0, maxLength: 3 }),
          returnExceptions: fc.boolean(),
        })
        .map((e): Expr => e),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          kind: fc.constant("withTimeout" as const),
          item: tie("expr"),
          seconds: fc.integer({ min: 1, max: 6 }),
        })
        .map((e): Expr => e),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          kind: fc.constantFrom("promiseAll" as const, "promiseRace" as const),
          items: fc.array(tie("expr"), { minLength: 1, maxLength: 3 }),
        })
        .map((e): Expr => e),
    },
    { weight: 1, arbitrary: tie("steps").map((s): Expr => ({ kind: "helper", steps: s as Step[] })) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constantFrom("twice" as const, "thenChain" as const), leaf }).map((e): Expr => e),
    },
  ),
  step: fc.oneof(
    { depthSize: "small" },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("await" as const), expr: tie("expr"), caught: mostlyTrue }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("value" as const),
        source: fc.constantFrom("random" as const, "now" as const, "uuid" as const, "perf" as const),
        global: mostlyTrue,
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "status" as const }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("send" as const),
        name: fc.constantFrom(...EVENTS),
        self: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("patch" as const), name: fc.constantFrom("p1", "p2") }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("cleanup" as const), leaf }) },
  ) as fc.Arbitrary<Step>,
  steps: fc.array(tie("step") as fc.Arbitrary<Step>, { maxLength: 4 }),
}));

const program: fc.Arbitrary<Program> = fc.record({
  steps: fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("await" as const), expr, caught: mostlyTrue }) },
      {
        weight: 1,
        arbitrary: steps.map((s): Step => ({ kind: "await", expr: { kind: "helper", steps: s }, caught: true })),
      },
    ),
    { minLength: 1, maxLength: 6 },
  ) as fc.Arbitrary<Step[]>,
  end: fc.constantFrom("return" as const, "throw" as const, "continueAsNew" as const),
  mode: fc.constantFrom(SandboxMode.OFF, SandboxMode.BEST_EFFORT, SandboxMode.STRICT),
  raises: fc.array(
    fc.record({
      name: fc.constantFrom(...EVENTS, ...EVENTS.map((n) => n.toUpperCase())),
      at: fc.integer({ min: 0, max: 20 }),
      payload: fc.constantFrom('"yes"', "0", "null", '{"n":1}'),
    }),
    { maxLength: 4 },
  ),
  // Rare: most programs should run to their own end.
  suspend: fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.record({
        at: fc.integer({ min: 0, max: 20 }),
        resumeAfter: fc.option(fc.integer({ min: 0, max: 8 }), { freq: 6, nil: undefined }),
      }),
    },
  ),
  terminateAt: fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 30 }) },
  ),
  seed: fc.integer(),
  maxBatch: fc.integer({ min: 1, max: 4 }),
});

/** Gives every activity and child a unique id (their outcomes are planned per name). */
function numbered(p: Program): { program: Program; plans: Map<string, Leaf> } {
  const plans = new Map<string, Leaf>();
  const onLeaf = (l: Leaf): Leaf => {
    if (l.kind !== "activity" && l.kind !== "child") return l;
    const id = plans.size;
    const copy = { ...l, id };
    plans.set(`${l.kind === "activity" ? "act" : "kid"}${id}`, copy);
    return copy;
  };
  const onExpr = (e: Expr): Expr => {
    switch (e.kind) {
      case "leaf":
        return { ...e, leaf: onLeaf(e.leaf) };
      case "whenAll":
      case "whenAny":
      case "whenAnyWithResult":
        return { ...e, leaves: e.leaves.map(onLeaf) };
      case "gather":
      case "promiseAll":
      case "promiseRace":
        return { ...e, items: e.items.map(onExpr) };
      case "withTimeout":
        return { ...e, item: onExpr(e.item) };
      case "twice":
      case "thenChain":
        return { ...e, leaf: onLeaf(e.leaf) };
      case "helper":
        return { ...e, steps: e.steps.map(onStep) };
    }
  };
  const onStep = (s: Step): Step => {
    if (s.kind === "await") return { ...s, expr: onExpr(s.expr) };
    if (s.kind === "cleanup") return { ...s, leaf: onLeaf(s.leaf) };
    return s;
  };
  return { program: { ...p, steps: p.steps.map(onStep) }, plans };
}

// ---------------------------------------------------------------------------------------------------------------------
// The interpreter: a program as an async workflow

interface Env {
  readonly ctx: AsyncWorkflowContext;
  readonly mode: SandboxMode;
  readonly values: unknown[];
  /** A deliberately non-deterministic workflow: Math.random() picks between two activities. */
  readonly chaos: boolean;
  /** What the cleanups awaited, in the order they ran. */
  readonly cleanups: unknown[];
}

/** Errors and other values as JSON-friendly data. */
function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const inner = value instanceof TaskFailedError ? `<${value.details.errorType}>` : "";
    return `error:${value.name}${inner}:${value.message}`;
  }
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

function activityName(env: Env, id: number): string {
  if (!env.chaos) return `act${id}`;
  return Math.random() < 0.5 ? `act${id}` : `act${id}-other`;
}

function task(env: Env, l: Leaf): Task<unknown> {
  const { ctx } = env;
  switch (l.kind) {
    case "activity":
      return ctx.callActivity(activityName(env, l.id), {
        input: [l.id, env.values.slice(-2)],
        ...(l.retry ? { retryPolicy: { maxNumberOfAttempts: 3, firstRetryInterval: 1 } } : {}),
      });
    case "timer":
      return ctx.sleep(l.absolute ? new Date(ctx.now().getTime() + l.seconds * 1000) : l.seconds);
    case "event":
      return ctx.waitForExternalEvent(l.name, l.timeout === undefined ? {} : { timeout: l.timeout });
    case "child":
      return ctx.callChildWorkflow(`kid${l.id}`, { input: env.values.slice(-1) });
  }
}

function start(env: Env, l: Leaf): PromiseLike<unknown> {
  if (l.kind === "timer" && l.viaSetTimeout && env.mode === SandboxMode.BEST_EFFORT) {
    // best_effort turns setTimeout into a durable timer.
    return new Promise((resolve) => setTimeout(() => resolve(`slept ${l.seconds}`), l.seconds * 1000));
  }
  return task(env, l);
}

async function evaluate(env: Env, e: Expr): Promise<unknown> {
  const { ctx } = env;
  switch (e.kind) {
    case "leaf":
      return await start(env, e.leaf);
    case "whenAll":
      return await ctx.whenAll(e.leaves.map((l) => task(env, l)));
    case "whenAny": {
      const tasks = e.leaves.map((l) => task(env, l));
      const winner = (await ctx.whenAny(tasks)) as Task<unknown>;
      const outcome = winner.isFailed ? plain(winner.getException()) : winner.getResult();
      return [tasks.indexOf(winner), outcome];
    }
    case "whenAnyWithResult":
      return await ctx.whenAnyWithResult(e.leaves.map((l) => task(env, l)));
    case "gather": {
      const items = e.items.map((i) => evaluate(env, i));
      if (!e.returnExceptions) return await ctx.gather(...items);
      return plain(await ctx.gather(...([...items, { returnExceptions: true }] as unknown as Promise<unknown>[])));
    }
    case "withTimeout":
      return await ctx.withTimeout(evaluate(env, e.item), e.seconds);
    case "promiseAll":
      return await Promise.all(e.items.map((i) => evaluate(env, i)));
    case "promiseRace":
      return await Promise.race(e.items.map((i) => evaluate(env, i)));
    case "helper":
      return await runSteps(env, e.steps);
    case "twice": {
      const t = task(env, e.leaf);
      const first = await t.then(
        (v) => v,
        (error: unknown) => plain(error),
      );
      const second = await t.then(
        (v) => v,
        (error: unknown) => plain(error),
      );
      return [first, second];
    }
    case "thenChain":
      return await task(env, e.leaf).then(
        (v) => ["ok", v],
        (error: unknown) => ["failed", plain(error)],
      );
  }
}

function value(env: Env, source: "random" | "now" | "uuid" | "perf", global: boolean): unknown {
  const { ctx } = env;
  // The globals only where best_effort makes them deterministic.
  const useGlobal = global && env.mode === SandboxMode.BEST_EFFORT;
  switch (source) {
    case "random":
      return useGlobal ? Math.random() : ctx.random();
    case "now":
      return useGlobal ? new Date().toISOString() : ctx.now().toISOString();
    case "uuid":
      return useGlobal ? crypto.randomUUID() : ctx.uuid4();
    case "perf":
      return useGlobal ? performance.now() : ctx.now().getTime() - SIM_START.getTime();
  }
}

async function runSteps(env: Env, list: readonly Step[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const s of list) {
    try {
      switch (s.kind) {
        case "await":
          out.push(plain(await evaluate(env, s.expr)));
          break;
        case "value": {
          const v = value(env, s.source, s.global);
          env.values.push(v);
          out.push(v);
          break;
        }
        case "status":
          env.ctx.setCustomStatus({ steps: out.length, last: env.values.at(-1) ?? null });
          break;
        case "send":
          env.ctx.sendEvent(s.self ? env.ctx.instanceId : "elsewhere", s.name, env.values.at(-1) ?? null);
          break;
        case "patch":
          out.push(env.ctx.isPatched(s.name));
          break;
        case "cleanup": {
          const l = s.leaf;
          env.ctx.addCleanup(async () => {
            env.cleanups.push(
              plain(
                await task(env, l).then(
                  (v) => v,
                  (error: unknown) => error,
                ),
              ),
            );
          });
          break;
        }
      }
    } catch (error) {
      if (s.kind !== "await" || !s.caught) throw error;
      out.push(`caught:${String(plain(error))}`);
    }
  }
  return out;
}

function workflowOf(p: Program, chaos = false) {
  return async (ctx: AsyncWorkflowContext, input: unknown) => {
    const env: Env = { ctx, mode: p.mode, values: [], chaos, cleanups: [] };
    let results: unknown[];
    try {
      results = [input, ...(await runSteps(env, p.steps))];
    } finally {
      await ctx[Symbol.asyncDispose]();
    }
    results.push(env.cleanups);
    if (p.end === "throw") throw new Error(`ended after ${results.length}`);
    if (p.end === "continueAsNew") ctx.continueAsNew(results, { saveEvents: results.length % 2 === 0 });
    return results;
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Simulation and checks

async function run(p: Program, options: { chaos?: boolean } = {}) {
  const { program: prog, plans } = numbered(p);
  const def = defineAsyncWorkflow("prog", workflowOf(prog, options.chaos ?? false), { sandboxMode: prog.mode });
  const reg = new Registry().addWorkflow(def);
  const outcome = (name: string, attempt: number): SimOutcome => {
    const plan = plans.get(name.replace(/-other$/, ""));
    if (plan?.kind === "activity" && attempt <= plan.failures) {
      return {
        failure: { errorType: "FlakyError", errorMessage: `${name} attempt ${attempt}` },
        after: plan.after * 1000,
      };
    }
    if (plan?.kind === "child" && plan.fails) {
      return { failure: { errorType: "ChildError", errorMessage: `${name} failed` }, after: plan.after * 1000 };
    }
    const after = plan?.kind === "activity" || plan?.kind === "child" ? plan.after * 1000 : 0;
    return { result: JSON.stringify(`${name}#${attempt}`), after };
  };
  const sim = await simulate({
    registry: reg,
    workflow: "prog",
    instanceId: INSTANCE,
    input: { seed: prog.seed },
    seed: prog.seed,
    maxBatch: prog.maxBatch,
    activity: (call) => outcome(call.name, call.attempt),
    childWorkflow: (call) => outcome(call.name, 1),
    events: [
      ...prog.raises.map((r) => ({ event: h.eventRaised(r.name, r.payload), at: at(r.at) })),
      ...(prog.suspend === undefined ? [] : [{ event: h.executionSuspended("pause"), at: at(prog.suspend.at) }]),
      ...(prog.suspend?.resumeAfter === undefined
        ? []
        : [{ event: h.executionResumed("go on"), at: at(prog.suspend.at + prog.suspend.resumeAfter) }]),
      ...(prog.terminateAt === undefined ? [] : [{ event: h.executionTerminated('"stop"'), at: at(prog.terminateAt) }]),
    ],
    maxTurns: 300,
  });
  return { sim, reg, def };
}

/** Action ids are unique and ascending; at most one completion, and it takes the last id. */
function wellFormed(sim: Simulation): string[] {
  const problems: string[] = [];
  for (const [i, turn] of sim.turns.entries()) {
    const ids = turn.result.actions.map((a) => a.id);
    if (JSON.stringify(ids) !== JSON.stringify([...new Set(ids)].sort((a, b) => a - b))) {
      problems.push(`turn ${i}: ids ${ids}`);
    }
    const completions = turn.result.actions.filter((a) => a.workflowActionType.case === "completeWorkflow");
    if (completions.length > 1 || (completions.length === 1 && turn.result.actions.at(-1) !== completions[0])) {
      problems.push(`turn ${i}: completion not last`);
    }
  }
  return problems;
}

/** The program kept to the ctx API: no global value sources, no setTimeout. */
function ctxOnly(p: Program): Program {
  const text = JSON.stringify(p)
    .replaceAll('"global":true', '"global":false')
    .replaceAll('"viaSetTimeout":true', '"viaSetTimeout":false');
  return JSON.parse(text) as Program;
}

const kinds = (events: readonly HistoryEvent[]) => events.map((e) => e.eventType.case);

const k0 = (sim: Simulation) => kinds(sim.history);

/** What the generated runs exercised, counted per run (so a property that passes is known to have tested something). */
class Coverage {
  readonly counts = new Map<string, number>();
  runs = 0;
  events = 0;
  add(sim: Simulation, p: Program): void {
    this.runs++;
    this.events += sim.history.length;
    const text = JSON.stringify(p.steps);
    const seen = new Set<string>([`state:${sim.state}`, `mode:${p.mode}`]);
    const status = sim.completion?.workflowStatus;
    if (status !== undefined) seen.add(`status:${status}`);
    if (sim.history.length >= 20) seen.add("history >= 20 events");
    if (sim.turns.length >= 5) seen.add(">= 5 turns");
    // The simulator keeps the execution live between turns, as the worker does; replayChecks replays each turn anew.
    if (sim.cacheHits >= 3) seen.add("live execution resumed >= 3 times");
    if (sim.turns.some((t) => t.newEvents.length >= 3)) seen.add("a turn with >= 2 delivered events");
    if (k0(sim).includes("executionSuspended")) seen.add("suspended");
    if (k0(sim).includes("executionTerminated")) seen.add("terminated");
    for (const k of [
      "whenAll",
      "whenAny",
      "whenAnyWithResult",
      "gather",
      "withTimeout",
      "promiseAll",
      "promiseRace",
      "helper",
      "twice",
      "thenChain",
    ]) {
      if (text.includes(`"kind":"${k}"`)) seen.add(k);
    }
    if (text.includes('"returnExceptions":true')) seen.add("gather returnExceptions");
    if (text.includes('"viaSetTimeout":true') && p.mode === SandboxMode.BEST_EFFORT) seen.add("setTimeout timer");
    if (text.includes('"global":true') && p.mode === SandboxMode.BEST_EFFORT) seen.add("global values");
    const k = kinds(sim.history);
    if (k.includes("taskFailed")) seen.add("activity failed");
    if (k.includes("childWorkflowInstanceFailed")) seen.add("child failed");
    if (k.includes("eventRaised")) seen.add("event delivered");
    if (
      sim.history.some((e) => e.eventType.case === "timerCreated" && e.eventType.value.origin.case === "activityRetry")
    ) {
      seen.add("retry timer");
    }
    if (JSON.stringify(sim.completion?.result ?? "").includes("caught:")) seen.add("caught error");
    if (JSON.stringify(sim.completion?.result ?? "").includes("WorkflowTimeoutError")) seen.add("timeout");
    for (const key of seen) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  /** Features hit by fewer than `min` runs. */
  rare(min: number, keys: readonly string[]): string[] {
    return keys.filter((key) => (this.counts.get(key) ?? 0) < min).map((key) => `${key}: ${this.counts.get(key) ?? 0}`);
  }
}

/** The property: a random program replays exactly. */
const replaysExactly = (options: { chaos?: boolean; mode?: SandboxMode; coverage?: Coverage } = {}) =>
  fc.asyncProperty(program, async (generated) => {
    const p = options.mode === undefined ? generated : { ...generated, mode: options.mode };
    const { sim, reg } = await run(p, options);
    options.coverage?.add(sim, p);
    expect(wellFormed(sim)).toEqual([]);
    expect(sim.state).not.toBe("stalled");
    const findings = await replayChecks(reg, sim, { instanceId: INSTANCE });
    if (findings.length > 0) {
      const shown = findings.slice(0, 3).map((f) => `${f.where}: ${f.problem.slice(0, 2000)}`);
      throw new Error(`${findings.length} replay finding(s):\n${shown.join("\n")}`);
    }
  });

// ---------------------------------------------------------------------------------------------------------------------

describe("property (acceptance): random async workflows replay exactly", () => {
  it("every turn again, the full final history in one turn, and every cut of it: no non-determinism, same actions, same outcome", async () => {
    const coverage = new Coverage();
    await fc.assert(replaysExactly({ coverage }), { numRuns: RUNS });
    expect(coverage.runs).toBeGreaterThanOrEqual(RUNS);
    // Each feature in at least two runs: a proof it was exercised, with margin against the seed (the rarest are hit
    // ~10–20 times in 200 runs, so fewer than 2 happens about once in 10⁴ runs of this test).
    expect(
      coverage.rare(2, [
        "state:completed",
        "state:idle",
        "mode:off",
        "mode:best_effort",
        "mode:strict",
        "history >= 20 events",
        ">= 5 turns",
        "live execution resumed >= 3 times",
        "a turn with >= 2 delivered events",
        "whenAll",
        "whenAny",
        "whenAnyWithResult",
        "gather",
        "gather returnExceptions",
        "withTimeout",
        "promiseAll",
        "promiseRace",
        "helper",
        "twice",
        "thenChain",
        "suspended",
        "terminated",
        "setTimeout timer",
        "global values",
        "activity failed",
        "child failed",
        "event delivered",
        "retry timer",
        "caught error",
        "timeout",
      ]),
    ).toEqual([]);
    console.info(
      `property: ${coverage.runs} runs, ${(coverage.events / coverage.runs).toFixed(1)} history events per run`,
      Object.fromEntries([...coverage.counts].sort()),
    );
  }, 600_000);

  it("the simulator records like the sidecar: each turn's past events are exactly the history committed before it", async () => {
    await fc.assert(
      fc.asyncProperty(program, async (p) => {
        const { sim } = await run(p);
        let committed = 0;
        for (const turn of sim.turns) {
          expect(turn.pastEvents).toBe(committed);
          expect(turn.newEvents[0]?.eventType.case).toBe("workflowStarted");
          const end = committed + turn.newEvents.length;
          expect(sim.history.slice(committed, end)).toEqual(turn.newEvents);
          const recorded = sim.history.slice(end, end + turn.result.actions.length).map((e) => e.eventId);
          expect(recorded).toEqual(turn.result.actions.map((a) => a.id));
          committed = end + turn.result.actions.length;
        }
        expect(committed).toBe(sim.history.length);
        expect(kinds(sim.history).slice(0, 2)).toEqual(["workflowStarted", "executionStarted"]);
        if (sim.state === "completed") expect(kinds(sim.history).at(-1)).toBe("executionCompleted");
      }),
      { numRuns: RUNS },
    );
  }, 600_000);

  // replay() runs without the workflow's sandbox (see sandbox.test.ts), so programs keep to the ctx API here.
  it("aio's replay() of the final history reports ok and the recorded outcome", async () => {
    await fc.assert(
      fc.asyncProperty(program, async (p) => {
        const { sim, def } = await run(ctxOnly(p));
        const report = await replay(sim.history, def);
        expect(report.divergences.map((d) => d.message)).toEqual([]);
        expect(report.ok).toBe(true);
        if (sim.state === "completed") {
          expect(report.status).toBe(sim.completion?.workflowStatus);
          expect(report.result).toBe(sim.completion?.result);
        }
      }),
      { numRuns: RUNS },
    );
  }, 600_000);

  it("the sandbox mode does not change what a workflow that keeps to the ctx API does (off = best_effort = strict)", async () => {
    await fc.assert(
      fc.asyncProperty(program, async (p) => {
        const only = ctxOnly(p);
        const histories: string[] = [];
        for (const mode of [SandboxMode.OFF, SandboxMode.BEST_EFFORT, SandboxMode.STRICT]) {
          const { sim } = await run({ ...only, mode });
          histories.push(JSON.stringify(sim.turns.map((t) => comparable(t.result))));
        }
        expect(histories[1]).toBe(histories[0]);
        expect(histories[2]).toBe(histories[0]);
      }),
      { numRuns: RUNS },
    );
  }, 600_000);
});

describe("the property can fail", () => {
  // Math.random() in an unsandboxed workflow picks which activity to call: replays pick differently.
  it("a workflow that picks its activity with Math.random() in off mode is caught", async () => {
    let report = "";
    try {
      await fc.assert(replaysExactly({ chaos: true, mode: SandboxMode.OFF }), { numRuns: RUNS });
    } catch (error) {
      report = `${String(error)}\n${String((error as Error).cause)}`;
    }
    console.info(`the non-deterministic workflow, as fast-check reports it:\n${report}`);
    expect(report).toMatch(/Property failed after \d+ tests/);
    expect(report).toMatch(/NonDeterminismError|non-determinism|re-running the turn gave/);
  }, 600_000);

  it("the same workflow in best_effort is deterministic (its Math.random() is the seeded stream), so it passes", async () => {
    await fc.assert(replaysExactly({ chaos: true, mode: SandboxMode.BEST_EFFORT }), { numRuns: RUNS });
  }, 600_000);
});
