// Conformance: the Dapr Python SDK's composite-task tests (tests/durabletask/test_task.py, seed_python.md §4.4), run at
// the engine level inside workflows, adapted to our semantics (whenAll is wait-all; whenAny([]) is an error). Then the
// static typing of whenAll / whenAny / yield* on typed definitions (checked by tsc through expectTypeOf).
import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { WorkflowContext } from "../context.js";
import {
  type ActivityDefinition,
  defineActivity,
  defineWorkflow,
  type InputOf,
  type OutputOf,
  type WorkflowDefinition,
} from "../definitions.js";
import { InvalidArgumentError } from "../errors.js";
import { Task, whenAll, whenAny } from "../task.js";
import { at, h, kinds, onlyCompletion, registry, run, started } from "../testing/golden.js";

const scheduled = (n: number, name = "act") => Array.from({ length: n }, (_, i) => h.taskScheduled(i + 1, name));

describe("python test_task.py, inside workflows", () => {
  it("whenAll([]) completes at once with []", () => {
    // python: test_task.py when_all([]) completes with []
    const reg = registry({
      wf: function* () {
        const results = yield* whenAll([]);
        return { results, length: results.length };
      },
    });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('{"results":[],"length":0}');
    expect(done.id).toBe(1);
  });

  it("whenAny([]) throws INVALID_ARGUMENT at the call (catchable)", () => {
    // python: test_task.py when_any([]) completes with [] (adapted: an empty whenAny is a programming error)
    const reg = registry({
      wf: () => {
        try {
          whenAny([]);
          return "no error";
        } catch (error) {
          return [(error as InvalidArgumentError).code, error instanceof InvalidArgumentError];
        }
      },
    });
    expect(onlyCompletion(run(reg, [], started("wf"))).result).toBe('["INVALID_ARGUMENT",true]');
  });

  it("whenAny([]) uncaught fails the workflow with InvalidArgumentError", () => {
    // python: test_task.py when_any([]) (adapted)
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield* ctx.whenAny([]);
      },
    });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("InvalidArgumentError");
  });

  it("whenAll keeps list order and completes only when the last child completes", () => {
    // python: test_task.py when_all order / completes on the last child
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* whenAll([ctx.callActivity("act"), ctx.callActivity("act"), ctx.callActivity("act")]);
      },
    });
    const past = [...started("wf"), ...scheduled(3)];
    // Completions arrive in reverse order, one per turn.
    const c3 = [h.workflowStarted(at(1)), h.taskCompleted(3, '"c"')];
    const c2 = [h.workflowStarted(at(2)), h.taskCompleted(2, '"b"')];
    const c1 = [h.workflowStarted(at(3)), h.taskCompleted(1, '"a"')];
    expect(run(reg, past, c3).actions).toEqual([]);
    expect(run(reg, [...past, ...c3], c2).actions).toEqual([]);
    const done = onlyCompletion(run(reg, [...past, ...c3, ...c2], c1));
    expect(done.result).toBe('["a","b","c"]');
    expect(done.id).toBe(4);
  });

  it("whenAll([whenAny([a, b]), c]) composes: waits for the whenAny and c", () => {
    // python: test_task.py when_all([when_any]) composes
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = ctx.callActivity("act");
        const b = ctx.callActivity("act");
        const c = ctx.callActivity("act");
        const [winner, cResult] = yield* whenAll([whenAny([a, b]), c]);
        return { winnerIsB: winner === b, winner: winner.getResult(), c: cResult };
      },
    });
    const past = [...started("wf"), ...scheduled(3)];
    expect(run(reg, past, [h.taskCompleted(2, '"b"')]).actions).toEqual([]);
    expect(run(reg, past, [h.taskCompleted(3, '"c"')]).actions).toEqual([]);
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(2, '"b"'), h.taskCompleted(3, '"c"')]));
    expect(JSON.parse(done.result ?? "null")).toEqual({ winnerIsB: true, winner: "b", c: "c" });
  });

  it("whenAny([whenAll([a, b]), whenAll([c, d])]) composes: the winner is the whenAll that finished", () => {
    // python: test_task.py when_any([when_all, when_all]) composes
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const first = whenAll([ctx.callActivity("act"), ctx.callActivity("act")]);
        const second = whenAll([ctx.callActivity("act"), ctx.callActivity("act")]);
        const winner = yield* whenAny([first, second]);
        return { second: winner === second, results: winner.getResult() };
      },
    });
    const past = [...started("wf"), ...scheduled(4)];
    // One child of each whenAll: nobody has won yet.
    expect(run(reg, past, [h.taskCompleted(1, "1"), h.taskCompleted(4, "4")]).actions).toEqual([]);
    const done = onlyCompletion(
      run(reg, past, [h.taskCompleted(1, "1"), h.taskCompleted(4, "4"), h.taskCompleted(3, "3")]),
    );
    expect(JSON.parse(done.result ?? "null")).toEqual({ second: true, results: [3, 4] });
  });

  it("whenAny returns the first task; a later completion in the same batch does not change the winner", () => {
    // python: test_task.py when_any winner not changed by a later completion
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = ctx.callActivity("act");
        const b = ctx.callActivity("act");
        const winner = yield* whenAny([a, b]);
        yield ctx.createTimer(1);
        // By now b has completed too; the winner is still a.
        return { winnerIsA: winner === a, bComplete: b.isComplete };
      },
    });
    const past = [...started("wf"), ...scheduled(2)];
    const batch = [h.taskCompleted(1, '"a"'), h.taskCompleted(2, '"b"')];
    const t2 = run(reg, past, batch);
    expect(kinds(t2)).toEqual(["createTimer"]);
    expect(t2.actions[0]?.id).toBe(3);
    const done = onlyCompletion(run(reg, [...past, ...batch, h.timerCreated(3, at(1))], [h.timerFired(3, at(1))]));
    expect(JSON.parse(done.result ?? "null")).toEqual({ winnerIsA: true, bComplete: true });
  });

  it("whenAny: the winner is decided by history order, the same on every replay", () => {
    // python: test_task.py when_any winner (replayed across turns)
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = ctx.callActivity("act");
        const b = ctx.callActivity("act");
        const winner = yield* whenAny([a, b]);
        const next = yield* ctx.callActivity("next");
        return [winner === b ? "b" : "a", next];
      },
    });
    const past = [...started("wf"), ...scheduled(2), h.workflowStarted(at(1)), h.taskCompleted(2, '"b"')];
    const t2 = run(reg, [...started("wf"), ...scheduled(2)], past.slice(4));
    expect(kinds(t2)).toEqual(["scheduleTask"]);
    // Turn 3: a completes late, then next completes: the winner is still b.
    const past3 = [...past, h.taskScheduled(3, "next"), h.taskCompleted(1, '"a"')];
    expect(run(reg, past.concat(h.taskScheduled(3, "next")), [h.taskCompleted(1, '"a"')]).actions).toEqual([]);
    const done = onlyCompletion(run(reg, past3, [h.taskCompleted(3, '"n"')]));
    expect(done.result).toBe('["b","n"]');
  });
});

describe("composite tasks: further engine-level cases", () => {
  it("whenAll fails with the first failure in completion order, after every child settled", () => {
    // semantics 2
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* whenAll([ctx.callActivity("first"), ctx.callActivity("second"), ctx.callActivity("third")]);
      },
    });
    const past = [
      ...started("wf"),
      h.taskScheduled(1, "first"),
      h.taskScheduled(2, "second"),
      h.taskScheduled(3, "third"),
    ];
    const failures = [h.taskFailed(2, new Error("second broke")), h.taskFailed(1, new Error("first broke"))];
    expect(run(reg, past, failures).actions).toEqual([]);
    const done = onlyCompletion(run(reg, past, [...failures, h.taskCompleted(3, "3")]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toBe("Activity 'second' (task #2) failed: second broke");
  });

  it("whenAll over already completed children completes at once (pre-completed children count)", () => {
    // semantics 2
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = ctx.callActivity("act");
        const b = ctx.callActivity("act");
        yield* a;
        yield* b;
        return yield* whenAll([a, b]);
      },
    });
    const past = [...started("wf"), ...scheduled(2), h.taskCompleted(1, "1")];
    expect(onlyCompletion(run(reg, past, [h.taskCompleted(2, "2")])).result).toBe("[1,2]");
  });

  it("whenAny over an already completed child resolves at once with it", () => {
    // semantics 2
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = ctx.callActivity("act");
        const b = ctx.callActivity("act");
        yield* b;
        const winner = yield* whenAny([a, b]);
        return winner === b;
      },
    });
    const past = [...started("wf"), ...scheduled(2)];
    expect(onlyCompletion(run(reg, past, [h.taskCompleted(2, "2")])).result).toBe("true");
  });

  it("whenAll mixes activities, timers and external events", () => {
    // semantics 2 and 7
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* whenAll([ctx.callActivity("act"), ctx.createTimer(5), ctx.waitForExternalEvent("go")]);
      },
    });
    const t1 = run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["scheduleTask", "createTimer", "createTimer"]);
    const past = [
      ...started("wf"),
      h.taskScheduled(1, "act"),
      h.timerCreated(2, at(5)),
      h.indefiniteTimerCreated(3, "go"),
    ];
    const done = onlyCompletion(
      run(reg, past, [h.eventRaised("GO", "false"), h.taskCompleted(1, "0"), h.timerFired(2, at(5))]),
    );
    expect(done.result).toBe("[0,null,false]");
    expect(done.id).toBe(4);
  });

  it("whenAll and whenAny reject elements that are not tasks", () => {
    // ts_peers §2.9 MS#164 (validation of composite inputs)
    const reg = registry({
      wf: (ctx: WorkflowContext) => {
        const errors: string[] = [];
        for (const f of [whenAll, whenAny]) {
          try {
            f([ctx.createTimer(1), 42 as unknown as Task<number>]);
          } catch (error) {
            errors.push((error as InvalidArgumentError).code);
          }
        }
        return errors;
      },
    });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(done.result).toBe('["INVALID_ARGUMENT","INVALID_ARGUMENT"]');
  });

  it("ctx.whenAll / ctx.whenAny are the module functions", () => {
    // API parity with the Python SDK's task.when_all / when_any
    let same = false;
    const reg = registry({
      wf: (ctx: WorkflowContext) => {
        same = ctx.whenAll === whenAll && ctx.whenAny === whenAny;
        return null;
      },
    });
    run(reg, [], started("wf"));
    expect(same).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Typing: the checks below are enforced by `tsc -p tsconfig.json` (expectTypeOf and @ts-expect-error); the typed
// workflow also runs through the engine so the same code is exercised at run time.

const add = defineActivity("add", (_ctx, pair: [number, number]) => pair[0] + pair[1]);
const greet = defineActivity("greet", async (_ctx, name: string) => `Hello ${name}!`);
const ping = defineActivity("ping", () => true);
const child = defineWorkflow("child", function* (ctx: WorkflowContext, n: number) {
  const doubled = yield* ctx.callActivity(add, { input: [n, n] });
  return { doubled };
});

const typed = defineWorkflow("typed", function* (ctx: WorkflowContext, input: number) {
  const sum = yield* ctx.callActivity(add, { input: [input, 1] });
  expectTypeOf(sum).toEqualTypeOf<number>();

  const [greeting, pong, kid] = yield* ctx.whenAll([
    ctx.callActivity(greet, { input: "Tokyo" }),
    ctx.callActivity(ping),
    ctx.callChildWorkflow(child, { input: 2 }),
  ]);
  expectTypeOf(greeting).toEqualTypeOf<string>();
  expectTypeOf(pong).toEqualTypeOf<boolean>();
  expectTypeOf(kid).toEqualTypeOf<{ doubled: number }>();

  const sumTask = ctx.callActivity(add, { input: [1, 2] });
  const timer = ctx.createTimer(1);
  const winner = yield* ctx.whenAny([sumTask, timer]);
  expectTypeOf(winner).toEqualTypeOf<Task<number> | Task<void>>();

  const nested = yield* ctx.whenAll([ctx.whenAny([sumTask, timer]), ctx.whenAll([sumTask])]);
  expectTypeOf(nested).toEqualTypeOf<[Task<number> | Task<void>, [number]]>();

  const loose = yield ctx.callActivity(add, { input: [0, 0] });
  expectTypeOf(loose).toBeAny();

  return { sum, greeting, pong, kid, timerWon: winner === timer, nested: nested[1] };
});

describe("typing of typed definitions (expectTypeOf, checked by tsc)", () => {
  it("definitions carry input and output types", () => {
    expectTypeOf(add).toEqualTypeOf<ActivityDefinition<[number, number], number>>();
    expectTypeOf<OutputOf<typeof greet>>().toEqualTypeOf<string>(); // async → awaited
    expectTypeOf<InputOf<typeof greet>>().toEqualTypeOf<string>();
    expectTypeOf<InputOf<typeof ping>>().toEqualTypeOf<undefined>();
    expectTypeOf(child).toEqualTypeOf<WorkflowDefinition<number, { doubled: number }>>();
    expectTypeOf<OutputOf<typeof typed>>().toEqualTypeOf<{
      sum: number;
      greeting: string;
      pong: boolean;
      kid: { doubled: number };
      timerWon: boolean;
      nested: [number];
    }>();
    expectTypeOf(whenAll([new Task<number>(), new Task<string>()])).toEqualTypeOf<Task<[number, string]>>();
    expectTypeOf(whenAny([new Task<number>(), new Task<string>()])).toEqualTypeOf<Task<Task<number> | Task<string>>>();
    expect(add.name).toBe("add");
  });

  it("wrong or missing inputs are compile errors", () => {
    // Never run: this generator only exists for the type checker.
    function* misuse(ctx: WorkflowContext) {
      // @ts-expect-error the input of add is a pair of numbers
      yield ctx.callActivity(add, { input: "nope" });
      // @ts-expect-error add needs an input
      yield ctx.callActivity(add);
      // @ts-expect-error child needs a number
      yield ctx.callChildWorkflow(child, { input: "2" });
      const [x] = yield* whenAll([ctx.callActivity(greet, { input: "x" })]);
      // @ts-expect-error greet returns a string
      const y: number = x;
      return y;
    }
    expect(typeof misuse).toBe("function");
  });

  it("the typed workflow runs: yield* values are the decoded results", () => {
    const reg = registry({ typed, child }, { add, greet, ping });
    const t1 = run(reg, [], started("typed", 41));
    expect(kinds(t1)).toEqual(["scheduleTask"]);
    const past = [
      ...started("typed", 41),
      h.taskScheduled(1, "add", "[41,1]"),
      h.taskCompleted(1, "42"),
      h.taskScheduled(2, "greet", '"Tokyo"'),
      h.taskScheduled(3, "ping"),
      h.childWorkflowCreated(4, "child", "abc123:0004", "2"),
      h.taskCompleted(2, '"Hello Tokyo!"'),
      h.taskCompleted(3, "true"),
      h.childWorkflowCompleted(4, '{"doubled":4}'),
      h.taskScheduled(5, "add", "[1,2]"),
      h.timerCreated(6, at(1)),
    ];
    const t3 = run(reg, past, [h.taskCompleted(5, "3")]);
    expect(kinds(t3)).toEqual(["scheduleTask"]);
    expect(t3.actions[0]?.id).toBe(7);
    const past3 = [...past, h.taskCompleted(5, "3"), h.taskScheduled(7, "add", "[0,0]")];
    const done = onlyCompletion(run(reg, past3, [h.taskCompleted(7, "0")]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(JSON.parse(done.result ?? "null")).toEqual({
      sum: 42,
      greeting: "Hello Tokyo!",
      pong: true,
      kid: { doubled: 4 },
      timerWon: false,
      nested: [3],
    });
  });
});
