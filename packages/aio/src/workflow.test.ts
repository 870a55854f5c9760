// Registering async workflows (defineAsyncWorkflow, toRegistrable, validation, debug mode), foreign awaits, and
// suspend / resume / terminate histories run through runWorkflowTurn.
import {
  defineWorkflow,
  ExecutionCache,
  ForeignAwaitError,
  InvalidArgumentError,
  type WorkflowContext,
  type WorkflowDefinition,
} from "@dt/core";
import { type HistoryEvent, OrchestrationStatus } from "@dt/proto";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import type { AsyncWorkflowContext } from "./context.js";
import { action, at, completion, h, INSTANCE, kinds, registry, run, Session, started } from "./testing/histories.js";
import { runWorkflowTurn } from "./turn.js";
import {
  type AsyncWorkflowFunction,
  debugFromEnv,
  defineAsyncWorkflow,
  isAsyncFunction,
  toRegistrable,
  WorkflowValidationError,
} from "./workflow.js";

/** The line after the one this is called on: put it right above the await a test expects to be reported. */
function nextLine(): number {
  const frame = new Error().stack?.split("\n")[2] ?? "";
  return Number(/:(\d+):\d+\)?$/.exec(frame)?.[1]) + 1;
}

const validationError = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
};

describe("defineAsyncWorkflow", () => {
  it("returns a typed definition whose run drives the async function", async () => {
    const wf = defineAsyncWorkflow(
      "greet",
      async (ctx, name: string) => `${await ctx.callActivity<string>("hi", { input: name })}!`,
    );
    expectTypeOf(wf).toEqualTypeOf<WorkflowDefinition<string, string>>();
    expect(wf).toMatchObject({ kind: "workflow", name: "greet" });
    const reg = registry({ greet: wf });
    const t1 = await run(reg, [], started("greet", "Ada"));
    expect(action(t1, 0, "scheduleTask")).toMatchObject({ name: "hi", input: '"Ada"' });
    const past = [...started("greet", "Ada"), h.taskScheduled(1, "hi", '"Ada"')];
    expect(completion(await run(reg, past, [h.taskCompleted(1, '"hello"')])).result).toBe('"hello!"');
  });

  it("keeps version, isLatest and sandboxMode on the definition", () => {
    const wf = defineAsyncWorkflow("v", async () => 1, { version: "2", isLatest: true, sandboxMode: "strict" });
    expect(wf).toMatchObject({ name: "v", version: "2", isLatest: true, sandboxMode: "strict" });
    const plain = defineAsyncWorkflow("p", async () => 1);
    expect("version" in plain || "isLatest" in plain || "sandboxMode" in plain).toBe(false);
  });

  it("a workflow taking only ctx works; so does one taking nothing", async () => {
    const one = defineAsyncWorkflow("one", async (ctx) => ctx.instanceId);
    const none = defineAsyncWorkflow("none", async () => "none");
    const reg = registry({ one, none });
    expect(completion(await run(reg, [], started("one", "ignored"))).result).toBe(`"${INSTANCE}"`);
    expect(completion(await run(reg, [], started("none"))).result).toBe('"none"');
  });

  it("refuses a non-function (function_type)", () => {
    for (const bad of [42, null, "wf", { run: async () => 1 }]) {
      const error = validationError(() => defineAsyncWorkflow("x", bad as never));
      expect(error).toBeInstanceOf(WorkflowValidationError);
      expect(error).toMatchObject({ code: "WORKFLOW_VALIDATION_FAILED", validation: "function_type" });
      expect((error as Error).message).toMatch(/^function_type validation failed: a workflow must be a function/);
    }
  });

  it("refuses functions that are not async: plain, generator, promise-returning arrow (async_function)", () => {
    const plain = function plainWorkflow(_ctx: unknown) {
      return 1;
    };
    const generator = function* genWorkflow() {
      yield undefined;
    };
    const thenable = (_ctx: unknown) => Promise.resolve(1);
    for (const fn of [plain, generator, thenable]) {
      const error = validationError(() => defineAsyncWorkflow("x", fn as never));
      expect(error).toBeInstanceOf(WorkflowValidationError);
      expect(error).toMatchObject({ code: "WORKFLOW_VALIDATION_FAILED", validation: "async_function" });
    }
    expect((validationError(() => defineAsyncWorkflow("x", plain as never)) as Error).message).toBe(
      "async_function validation failed: 'plainWorkflow' must be an async function (async (ctx, input) => …); write generator workflows with defineWorkflow.",
    );
  });

  it("refuses more than two parameters (function_signature)", () => {
    const three = async function threeParams(_ctx: unknown, _input: unknown, _extra: unknown) {
      return 1;
    };
    const error = validationError(() => defineAsyncWorkflow("x", three as never));
    expect(error).toBeInstanceOf(WorkflowValidationError);
    expect(error).toMatchObject({ validation: "function_signature" });
    expect((error as Error).message).toBe(
      "function_signature validation failed: 'threeParams' takes 3 parameters; an async workflow takes (ctx) or (ctx, input).",
    );
  });

  it("refuses an empty name", () => {
    expect(() => defineAsyncWorkflow("", async () => 1)).toThrow(InvalidArgumentError);
  });
});

describe("toRegistrable", () => {
  it("turns an async function into an async workflow definition named after it (or the given name)", async () => {
    async function orders(ctx: AsyncWorkflowContext, n: number) {
      return ctx.callActivity("count", { input: n });
    }
    const named = toRegistrable(orders as AsyncWorkflowFunction<never>);
    expect(named).toMatchObject({ kind: "workflow", name: "orders" });
    const renamed = toRegistrable(orders as AsyncWorkflowFunction<never>, { name: "renamed" });
    expect(renamed).toMatchObject({ kind: "workflow", name: "renamed" });
    const reg = registry({ orders });
    expect(action(await run(reg, [], started("orders", 3)), 0, "scheduleTask")).toMatchObject({
      name: "count",
      input: "3",
    });
  });

  it("leaves generator workflows, plain functions and generator definitions unchanged", () => {
    const gen = function* gen(ctx: WorkflowContext) {
      return yield* ctx.callActivity<string>("a");
    };
    const plain = (_ctx: WorkflowContext) => 1;
    const def = defineWorkflow("def", gen);
    expect(toRegistrable(gen)).toBe(gen);
    expect(toRegistrable(plain)).toBe(plain);
    expect(toRegistrable(def)).toBe(def);
  });

  it("leaves a defineAsyncWorkflow definition unchanged (already adapted)", () => {
    const wf = defineAsyncWorkflow("already", async () => 1);
    expect(toRegistrable(wf as WorkflowDefinition<never, unknown>)).toBe(wf);
  });

  it("adapts a definition object whose run is an async function", async () => {
    const def = { kind: "workflow", name: "objdef", run: async (ctx: AsyncWorkflowContext) => ctx.instanceId };
    const adapted = toRegistrable(def as never);
    expect(adapted).not.toBe(def);
    expect(adapted).toMatchObject({ kind: "workflow", name: "objdef" });
    const reg = registry({ objdef: def });
    expect(completion(await run(reg, [], started("objdef"))).result).toBe(`"${INSTANCE}"`);
  });

  it("validates async functions: more than two parameters (function_signature)", () => {
    const three = async (_a: unknown, _b: unknown, _c: unknown) => 1;
    const direct = validationError(() => toRegistrable(three as never, { name: "x" }));
    expect(direct).toBeInstanceOf(WorkflowValidationError);
    expect(direct).toMatchObject({ validation: "function_signature" });
    const inDefinition = validationError(() => toRegistrable({ kind: "workflow", name: "x", run: three } as never));
    expect(inDefinition).toMatchObject({ validation: "function_signature" });
  });

  it("refuses a non-function (function_type) instead of registering it", () => {
    for (const bad of [42, null, undefined, "wf", { kind: "workflow", name: "x", run: 42 }]) {
      const error = validationError(() => toRegistrable(bad as never, { name: "x" }));
      expect(error, `toRegistrable(${JSON.stringify(bad)})`).toBeInstanceOf(WorkflowValidationError);
      expect(error).toMatchObject({ validation: "function_type" });
    }
  });

  it("refuses an anonymous async function without a name", () => {
    expect(() => toRegistrable((async () => 1) as never)).toThrow(InvalidArgumentError);
  });

  it("isAsyncFunction tells async functions from the rest", () => {
    expect(isAsyncFunction(async () => 1)).toBe(true);
    expect(isAsyncFunction(async function named() {})).toBe(true);
    expect(isAsyncFunction(() => Promise.resolve(1))).toBe(false);
    expect(isAsyncFunction(function* () {})).toBe(false);
    expect(isAsyncFunction(async function* () {})).toBe(false);
    expect(isAsyncFunction(42)).toBe(false);
  });
});

describe("debug mode", () => {
  const saved = { DAPR_WF_DEBUG: process.env["DAPR_WF_DEBUG"], DT_DEBUG: process.env["DT_DEBUG"] };
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  const probe = () => {
    const seen: { debugMode: boolean; operations: string[] }[] = [];
    const fn = async (ctx: AsyncWorkflowContext) => {
      await ctx.callActivity("a");
      const info = ctx.getDebugInfo();
      seen.push({ debugMode: info.debugMode, operations: info.operationHistory.map((o) => o.operation) });
      return null;
    };
    return { seen, fn };
  };
  const past = [...started("dbg"), h.taskScheduled(1, "a")];

  it("debugFromEnv reads DAPR_WF_DEBUG and DT_DEBUG", () => {
    expect(debugFromEnv({})).toBe(false);
    expect(debugFromEnv({ DAPR_WF_DEBUG: "true" })).toBe(true);
    expect(debugFromEnv({ DT_DEBUG: "1" })).toBe(true);
    expect(debugFromEnv({ DT_DEBUG: "ON" })).toBe(true);
    expect(debugFromEnv({ DAPR_WF_DEBUG: "false", DT_DEBUG: "0" })).toBe(false);
  });

  for (const variable of ["DAPR_WF_DEBUG", "DT_DEBUG"]) {
    it(`${variable} at definition time turns it on (defineAsyncWorkflow and toRegistrable)`, async () => {
      delete process.env["DAPR_WF_DEBUG"];
      delete process.env["DT_DEBUG"];
      process.env[variable] = "true";
      const viaDefine = probe();
      const defined = defineAsyncWorkflow("dbg", viaDefine.fn);
      const viaRegistrable = probe();
      const reg2 = registry({ dbg: viaRegistrable.fn });
      delete process.env[variable];
      await run(registry({ dbg: defined }), past, [h.taskCompleted(1)]);
      await run(reg2, past, [h.taskCompleted(1)]);
      expect(viaDefine.seen).toEqual([{ debugMode: true, operations: ["callActivity('a')"] }]);
      expect(viaRegistrable.seen).toEqual([{ debugMode: true, operations: ["callActivity('a')"] }]);
    });
  }

  it("the environment at run time does not matter; the explicit option wins over the environment", async () => {
    delete process.env["DAPR_WF_DEBUG"];
    delete process.env["DT_DEBUG"];
    const off = probe();
    const defined = defineAsyncWorkflow("dbg", off.fn);
    process.env["DAPR_WF_DEBUG"] = "true";
    const forcedOff = probe();
    const explicit = defineAsyncWorkflow("dbg", forcedOff.fn, { debug: false });
    await run(registry({ dbg: defined }), past, [h.taskCompleted(1)]);
    await run(registry({ dbg: explicit }), past, [h.taskCompleted(1)]);
    expect(off.seen).toEqual([{ debugMode: false, operations: [] }]);
    expect(forcedOff.seen).toEqual([{ debugMode: false, operations: [] }]);
  });
});

describe("foreign awaits", () => {
  const failure = (result: Awaited<ReturnType<typeof run>>) => {
    const done = completion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    return done.failureDetails;
  };
  const here = (line: number) => new RegExp(`workflow\\.test\\.ts:${line}:\\d+`);

  it("a setTimeout promise fails the turn with ForeignAwaitError located at the await", async () => {
    let line = 0;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        line = nextLine();
        await new Promise((resolve) => setTimeout(resolve, 1));
        return ctx.instanceId;
      },
    });
    const details = failure(await run(reg, [], started("wf")));
    expect(details?.errorType).toBe("ForeignAwaitError");
    expect(details?.errorMessage).toMatch(here(line));
    expect(details?.errorMessage).toContain(
      `(workflow: wf, instance: ${INSTANCE}, step: history event #1 (executionStarted))`,
    );
  });

  it("ForeignAwaitError is an AsyncWorkflowError with code FOREIGN_AWAIT", () => {
    const error = new ForeignAwaitError({ workflowName: "wf", instanceId: "i", step: "s" }, "file.ts:1:2");
    expect(error).toMatchObject({ code: "FOREIGN_AWAIT", name: "ForeignAwaitError", location: "file.ts:1:2" });
  });

  it("a promise that never settles", async () => {
    let line = 0;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await ctx.callActivity("a");
        line = nextLine();
        await new Promise(() => undefined);
        return null;
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a")];
    const details = failure(await run(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(1)]));
    expect(details?.errorType).toBe("ForeignAwaitError");
    expect(details?.errorMessage).toMatch(here(line));
    expect(details?.errorMessage).toContain("step: history event #4 (taskCompleted)");
  });

  it("a fetch-like call (a promise resolved by a real timer)", async () => {
    const fakeFetch = (url: string) =>
      new Promise<{ url: string; ok: boolean }>((resolve) => setTimeout(() => resolve({ url, ok: true }), 1));
    let line = 0;
    const reg = registry({
      wf: async (_ctx: AsyncWorkflowContext) => {
        line = nextLine();
        const response = await fakeFetch("https://example.com/api");
        return response.ok;
      },
    });
    const details = failure(await run(reg, [], started("wf")));
    expect(details?.errorType).toBe("ForeignAwaitError");
    expect(details?.errorMessage).toMatch(here(line));
    expect(details?.errorMessage).toContain("move the I/O into an activity");
  });

  it("inside a nested helper: the innermost await is reported", async () => {
    let line = 0;
    const loadConfig = async () => {
      line = nextLine();
      await new Promise((resolve) => setTimeout(resolve, 1));
      return { retries: 3 };
    };
    const withConfig = async () => ({ config: await loadConfig() });
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const { config } = await withConfig();
        return ctx.callActivity("a", { input: config });
      },
    });
    const details = failure(await run(reg, [], started("wf")));
    expect(details?.errorType).toBe("ForeignAwaitError");
    expect(details?.errorMessage).toMatch(here(line));
  });

  it("inside a nested helper on a later turn (after the code awaited a task): still the innermost await", async () => {
    let line = 0;
    const loadConfig = async () => {
      line = nextLine();
      await new Promise((resolve) => setTimeout(resolve, 1));
      return { retries: 3 };
    };
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const a = await ctx.callActivity("a");
        const config = await (async () => ({ a, config: await loadConfig() }))();
        return ctx.callActivity("b", { input: config });
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a")];
    const details = failure(await run(reg, past, [h.taskCompleted(1, '"A"')]));
    expect(details?.errorType).toBe("ForeignAwaitError");
    expect(details?.errorMessage).toMatch(here(line));
    expect(details?.errorMessage).toContain("step: history event #3 (taskCompleted)");
  });

  it("after a Promise.race, a later foreign await is reported once the abandoned loser settles", async () => {
    // Known limit: the loser keeps a callback registered, so until it settles the code still looks like it waits
    // on a task. ctx.whenAny (and withTimeout over a task) leave no such callback and report at once.
    let line = 0;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await Promise.race([ctx.callActivity("a"), ctx.sleep(60)]);
        line = nextLine();
        await new Promise((resolve) => setTimeout(resolve, 1));
        return null;
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.timerCreated(2, at(60))];
    expect(kinds(await run(reg, past, [h.taskCompleted(1)]))).toEqual([]);
    const later = [...past, h.taskCompleted(1)];
    const details = failure(await run(reg, later, [h.workflowStarted(at(60)), h.timerFired(2, at(60))]));
    expect(details?.errorType).toBe("ForeignAwaitError");
    expect(details?.errorMessage).toMatch(here(line));
  });

  it("with the worker's execution cache too: code that ran after its turn is never resumed, the turn replays", async () => {
    let line = 0;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await Promise.race([ctx.callActivity("a"), ctx.sleep(60)]);
        line = nextLine();
        await new Promise((resolve) => setTimeout(resolve, 1));
        return null;
      },
    });
    const cache = new ExecutionCache();
    const turn = (past: HistoryEvent[], newEvents: HistoryEvent[]) =>
      runWorkflowTurn({ instanceId: INSTANCE, pastEvents: past, newEvents }, reg, { cache });
    const first = [...started("wf")];
    expect(kinds(await turn([], first))).toEqual(["scheduleTask", "createTimer"]);
    const past = [...first, h.taskScheduled(1, "a"), h.timerCreated(2, at(60))];
    expect(kinds(await turn(past, [h.taskCompleted(1)]))).toEqual([]);
    expect(cache.hits).toBe(1);
    // The undetected foreign await settles between turns, and the code finishes outside any turn.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const later = [...past, h.taskCompleted(1)];
    const details = failure(await turn(later, [h.workflowStarted(at(60)), h.timerFired(2, at(60))]));
    expect(details?.errorType).toBe("ForeignAwaitError");
    expect(details?.errorMessage).toMatch(here(line));
    expect([cache.hits, cache.misses]).toEqual([1, 2]);
  });

  it("after withTimeout returns, a foreign await is still reported", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await ctx.withTimeout(ctx.callActivity("a"), 60);
        await new Promise((resolve) => setTimeout(resolve, 1));
        return null;
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.timerCreated(2, at(60))];
    expect(failure(await run(reg, past, [h.taskCompleted(1)]))?.errorType).toBe("ForeignAwaitError");
  });

  it("a workflow using ctx APIs only never reports one, over many turns and every kind of await", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const helper = async (x: number) => (await ctx.callActivity<number>("inc", { input: x })) + (await 1);
        const [a, b] = await Promise.all([helper(1), ctx.callActivity<number>("inc", { input: 10 })]);
        const g = await ctx.gather(helper(a), Promise.resolve(b));
        const w = await ctx.whenAny([ctx.waitForExternalEvent<number>("go"), ctx.sleep(600)]);
        const t = await ctx.withTimeout(helper(g[0]), 600);
        await ctx.sleep(1);
        return [g, w.isComplete, t];
      },
    });
    const s = new Session(reg);
    const script = [
      [h.taskCompleted(2, "11"), h.taskCompleted(1, "2")],
      [h.taskCompleted(3, "4")],
      [h.eventRaised("go", "1")],
      [h.workflowStarted(at(2)), h.taskCompleted(6, "6")],
      [h.workflowStarted(at(3)), h.timerFired(8, at(3))],
    ];
    const first = await s.turn(started("wf"));
    expect(kinds(first)).toEqual(["scheduleTask", "scheduleTask"]);
    for (const events of script) {
      const t = await s.turn(events);
      for (const a of t.actions) {
        if (a.workflowActionType.case === "completeWorkflow") {
          expect(a.workflowActionType.value.failureDetails).toBeUndefined();
        }
      }
    }
    const done = completion(s.turns.at(-1) ?? first);
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: "[[5,11],true,7]" });
  });

  it("ctx use after the turn ended cannot add actions: the late call throws INVALID_STATE", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const late: unknown[] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await gate;
        try {
          ctx.callActivity("too-late");
        } catch (error) {
          late.push(error);
        }
        try {
          ctx.sleep(1);
        } catch (error) {
          late.push(error);
        }
        return "never";
      },
    });
    const result = await run(reg, [], started("wf"));
    expect(kinds(result)).toEqual(["completeWorkflow"]);
    expect(completion(result).failureDetails?.errorType).toBe("ForeignAwaitError");
    const before = structuredClone(result.actions);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(late.length).toBeGreaterThan(0);
    for (const error of late) {
      expect(error).toMatchObject({ name: "InvalidStateError", code: "INVALID_STATE" });
      expect((error as Error).message).toMatch(/acted after its turn ended/);
    }
    expect(result.actions).toEqual(before);
  });
});

describe("suspend, resume and terminate: async workflows behave like generator ones", () => {
  const asyncWait = async (ctx: AsyncWorkflowContext) => ctx.waitForExternalEvent("my_event");
  const generatorWait = function* (ctx: WorkflowContext) {
    return yield* ctx.waitForExternalEvent("my_event");
  };
  const both = async (past: ReturnType<typeof started>, newEvents: ReturnType<typeof started>) => {
    const a = await run(registry({ orchestrator: asyncWait }), past, newEvents);
    const g = await run(registry({ orchestrator: generatorWait }), past, newEvents);
    expect(a).toEqual(g);
    return a;
  };
  const past = [...started("orchestrator"), h.indefiniteTimerCreated(1, "my_event")];

  it("suspended: events are held back and no action is taken; resumed: they are processed", async () => {
    const suspended = [h.executionSuspended(), h.eventRaised("my_event", "42")];
    expect((await both(past, suspended)).actions).toEqual([]);
    const done = completion(await both([...past, ...suspended], [h.executionResumed()]));
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: "42" });
  });

  it("suspend and resume in one batch", async () => {
    const done = completion(
      await both(past, [h.executionSuspended(), h.eventRaised("my_event", "7"), h.executionResumed()]),
    );
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: "7" });
  });

  it("terminate: TERMINATED with the terminate event's output; later events do nothing", async () => {
    const done = completion(
      await both(past, [h.executionTerminated('"terminated!"'), h.eventRaised("my_event", "42")]),
    );
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.TERMINATED, result: '"terminated!"' });
  });

  it("terminate while suspended", async () => {
    const done = completion(await both(past, [h.executionSuspended(), h.executionTerminated()]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
  });

  it("an activity completing while suspended resumes the code only after the resume", async () => {
    const progress: string[] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        progress.push("start");
        const a = await ctx.callActivity<string>("a");
        progress.push(`got ${a}`);
        return ctx.callActivity("b", { input: a });
      },
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    expect((await s.turn([h.executionSuspended("pause"), h.taskCompleted(1, '"A"')])).actions).toEqual([]);
    expect(progress).toEqual(["start", "start"]);
    progress.length = 0;
    const resumed = await s.turn([h.executionResumed("go")]);
    expect(action(resumed, 0, "scheduleTask")).toMatchObject({ id: 2, name: "b", input: '"A"' });
    expect(progress).toEqual(["start", "got A"]);
    const done = completion(await s.turn([h.taskCompleted(2, '"B"')]));
    expect(done.result).toBe('"B"');
  });

  it("terminating an async workflow in the middle of a fan-out withdraws the pending work", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => Promise.all([ctx.callActivity("a"), ctx.callActivity("b")]),
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    const t = await s.turn([h.taskCompleted(1), h.executionTerminated('"stop"'), h.taskCompleted(2)]);
    expect(kinds(t)).toEqual(["completeWorkflow"]);
    expect(completion(t)).toMatchObject({ workflowStatus: OrchestrationStatus.TERMINATED, result: '"stop"' });
  });
});
