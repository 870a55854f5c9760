// Composing tasks in async workflows: whenAll / whenAny / whenAnyWithResult / gather / withTimeout, native Promise
// combinators over ctx tasks, and async helper functions, all deterministic across turns and replays.
import {
  AsyncWorkflowError,
  InvalidArgumentError,
  type Task,
  TaskFailedError,
  TimeoutError,
  WorkflowTimeoutError,
} from "@dt/core";
import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { AsyncWorkflowContext } from "./context.js";
import {
  action,
  at,
  completion,
  decode,
  h,
  INSTANCE,
  iso,
  kinds,
  registry,
  run,
  Session,
  started,
} from "./testing/histories.js";

/** Three activities a, b, c scheduled together in turn 1 (ids 1, 2, 3). */
const abcPast = (name: string, input?: unknown) => [
  ...started(name, input),
  h.taskScheduled(1, "a"),
  h.taskScheduled(2, "b"),
  h.taskScheduled(3, "c"),
];

/**
 * Runs the whole script as one turn from scratch (every event new) and asserts it reaches the same completion as
 * the session did turn by turn: the same history gives the same outcome whether replayed or processed fresh.
 */
async function expectSameOutcomeInOneTurn(reg: ReturnType<typeof registry>, s: Session) {
  const last = s.turns.at(-1);
  if (last === undefined) throw new Error("no turns");
  const oneShot = await run(reg, [], [...s.history]);
  expect(completion(oneShot)).toEqual(completion(last));
  // And every turn, run again from the same request, takes exactly the same actions.
  for (const [i, turn] of s.turns.entries()) expect((await s.rerun(i)).actions).toEqual(turn.actions);
}

describe("whenAll", () => {
  it("returns every result in task order, whatever the completion order", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.whenAll([ctx.callActivity("a"), ctx.callActivity("b"), ctx.callActivity("c")]),
    });
    const t1 = await run(reg, [], started("wf"));
    expect(t1.actions.map((a) => [a.id, a.workflowActionType.case])).toEqual([
      [1, "scheduleTask"],
      [2, "scheduleTask"],
      [3, "scheduleTask"],
    ]);
    const mid = await run(reg, abcPast("wf"), [h.taskCompleted(3, '"C"'), h.taskCompleted(1, '"A"')]);
    expect(mid.actions).toEqual([]);
    const done = completion(
      await run(
        reg,
        [...abcPast("wf"), h.taskCompleted(3, '"C"'), h.taskCompleted(1, '"A"')],
        [h.taskCompleted(2, '"B"')],
      ),
    );
    expect(done).toMatchObject({ id: 4, workflowStatus: OrchestrationStatus.COMPLETED, result: '["A","B","C"]' });
  });

  it("of nothing is [] at once", async () => {
    const reg = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.whenAll([]) });
    const done = completion(await run(reg, [], started("wf")));
    expect(done).toMatchObject({ id: 1, workflowStatus: OrchestrationStatus.COMPLETED, result: "[]" });
  });

  it("fails only once every task has settled, with the first failure in completion order", async () => {
    let caught: unknown;
    let settled: boolean[] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const tasks = [ctx.callActivity("a"), ctx.callActivity("b"), ctx.callActivity("c")] as const;
        try {
          await ctx.whenAll(tasks);
        } catch (error) {
          caught = error;
          settled = tasks.map((t) => t.isComplete);
        }
        return "handled";
      },
    });
    const bFails = h.taskFailed(2, new Error("b broke"));
    const t2 = await run(reg, abcPast("wf"), [bFails, h.taskFailed(1, new Error("a broke"))]);
    expect(t2.actions).toEqual([]);
    expect(caught).toBeUndefined();
    const done = completion(
      await run(reg, [...abcPast("wf"), bFails, h.taskFailed(1, new Error("a broke"))], [h.taskCompleted(3, '"C"')]),
    );
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '"handled"' });
    expect(caught).toBeInstanceOf(TaskFailedError);
    expect((caught as TaskFailedError).taskName).toBe("b");
    expect(settled).toEqual([true, true, true]);
  });

  it("results are typed per position", () => {
    const _typeOnly = async (ctx: AsyncWorkflowContext) => {
      const r = await ctx.whenAll([ctx.callActivity<number>("a"), ctx.callActivity<string>("b")]);
      expectTypeOf(r).toEqualTypeOf<[number, string]>();
    };
    expect(typeof _typeOnly).toBe("function");
  });
});

describe("whenAny", () => {
  it("the winner is the very task that settled first; its result via getResult(); losers are ignored", async () => {
    let same: boolean | undefined;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const approval = ctx.waitForExternalEvent<string>("approval");
        const timeout = ctx.sleep(60);
        const winner = await ctx.whenAny([approval, timeout]);
        same = winner === approval;
        return winner === approval ? `approved by ${approval.getResult()} / ${winner.getResult()}` : "timed out";
      },
    });
    const t1 = await run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["createTimer", "createTimer"]);
    const past = [...started("wf"), h.indefiniteTimerCreated(1, "approval"), h.timerCreated(2, at(60))];
    const done = completion(await run(reg, past, [h.eventRaised("approval", '"ann"'), h.timerFired(2, at(60))]));
    expect(done).toMatchObject({ id: 3, result: '"approved by ann / ann"' });
    expect(same).toBe(true);

    const late = completion(await run(reg, past, [h.timerFired(2, at(60)), h.eventRaised("approval", '"ann"')]));
    expect(late).toMatchObject({ id: 3, result: '"timed out"' });
    expect(same).toBe(false);
  });

  it("a failed winner is returned, not thrown: isFailed, getException(), getResult() throws", async () => {
    let observed: unknown[] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const a = ctx.callActivity("a");
        const b = ctx.callActivity("b");
        const winner = await ctx.whenAny([a, b]);
        let thrown: unknown;
        try {
          winner.getResult();
        } catch (error) {
          thrown = error;
        }
        observed = [winner === b, winner.isFailed, winner.getException(), thrown];
        return "survived";
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    const done = completion(await run(reg, past, [h.taskFailed(2, new Error("b broke"))]));
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '"survived"' });
    const [isB, isFailed, exception, thrown] = observed;
    expect(isB).toBe(true);
    expect(isFailed).toBe(true);
    expect(exception).toBeInstanceOf(TaskFailedError);
    expect(thrown).toBe(exception);
  });

  it("of nothing is refused", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          await ctx.whenAny([]);
        } catch (error) {
          caught = error;
        }
        return null;
      },
    });
    await run(reg, [], started("wf"));
    expect(caught).toBeInstanceOf(InvalidArgumentError);
  });

  it("the winner's type is the union of the given tasks", () => {
    const _typeOnly = async (ctx: AsyncWorkflowContext) => {
      const a = ctx.callActivity<number>("a");
      const b = ctx.callActivity<string>("b");
      const winner = await ctx.whenAny([a, b]);
      expectTypeOf(winner.getResult()).toEqualTypeOf<number | string>();
    };
    expect(typeof _typeOnly).toBe("function");
  });
});

describe("whenAnyWithResult", () => {
  it("returns [index, result] of the first task to settle", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.whenAnyWithResult([ctx.callActivity("a"), ctx.callActivity("b"), ctx.callActivity("c")]),
    });
    const done = completion(await run(reg, abcPast("wf"), [h.taskCompleted(2, '"B"'), h.taskCompleted(1, '"A"')]));
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '[1,"B"]' });
  });

  it("throws the failure of a failed winner", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          return await ctx.whenAnyWithResult([ctx.callActivity("a"), ctx.callActivity("b"), ctx.callActivity("c")]);
        } catch (error) {
          caught = error;
          return "caught";
        }
      },
    });
    const done = completion(await run(reg, abcPast("wf"), [h.taskFailed(3, new Error("c broke"))]));
    expect(done.result).toBe('"caught"');
    expect(caught).toMatchObject({ code: "ACTIVITY_EXECUTION_FAILED", taskName: "c", taskId: 3 });
  });
});

describe("gather", () => {
  it("keeps argument order", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.gather(ctx.callActivity("a"), ctx.callActivity("b"), ctx.callActivity("c")),
    });
    const events = [h.taskCompleted(3, '"C"'), h.taskCompleted(2, '"B"'), h.taskCompleted(1, '"A"')];
    const done = completion(await run(reg, abcPast("wf"), events));
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '["A","B","C"]' });
  });

  it("of nothing is []", async () => {
    const reg = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.gather() });
    expect(completion(await run(reg, [], started("wf")))).toMatchObject({ id: 1, result: "[]" });
  });

  it("returnExceptions: failures come back as values, in place", async () => {
    let results: unknown[] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        results = await ctx.gather(ctx.callActivity("a"), ctx.callActivity("b"), ctx.callActivity("c"), {
          returnExceptions: true,
        });
        return results.map((r) => (r instanceof Error ? `error: ${(r as TaskFailedError).taskName}` : r));
      },
    });
    const events = [h.taskCompleted(1, '"A"'), h.taskFailed(2, new Error("b broke")), h.taskCompleted(3, '"C"')];
    const done = completion(await run(reg, abcPast("wf"), events));
    expect(decode(done.result)).toEqual(["A", "error: b", "C"]);
    expect(results[1]).toBeInstanceOf(TaskFailedError);
  });

  it("without returnExceptions a failure is thrown", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          return await ctx.gather(ctx.callActivity("a"), ctx.callActivity("b"));
        } catch (error) {
          caught = error;
          return "caught";
        }
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    const done = completion(await run(reg, past, [h.taskFailed(2, new Error("b broke")), h.taskCompleted(1, '"A"')]));
    expect(done.result).toBe('"caught"');
    expect(caught).toMatchObject({ code: "ACTIVITY_EXECUTION_FAILED", taskName: "b" });
  });

  it("awaiting the same gather twice gives the same value and schedules nothing more", async () => {
    let same: boolean | undefined;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const g = ctx.gather(ctx.callActivity<string>("a"), ctx.callActivity<string>("b"));
        const first = await g;
        const second = await g;
        same = first === second;
        return [first, second];
      },
    });
    const t1 = await run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["scheduleTask", "scheduleTask"]);
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    const t2 = await run(reg, past, [h.taskCompleted(1, '"A"'), h.taskCompleted(2, '"B"')]);
    expect(kinds(t2)).toEqual(["completeWorkflow"]);
    expect(completion(t2).result).toBe('[["A","B"],["A","B"]]');
    expect(same).toBe(true);
  });

  it("mixes tasks and promises of async helpers (which await tasks themselves)", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const chain = async (x: number) => {
          const y = await ctx.callActivity<number>("inc", { input: x });
          return ctx.callActivity<number>("inc", { input: y });
        };
        return ctx.gather(ctx.callActivity<number>("inc", { input: 100 }), chain(1), Promise.resolve("plain"));
      },
    });
    const s = new Session(reg);
    const t1 = await s.turn(started("wf"));
    expect(t1.actions.map((a) => decode(action(t1, a.id - 1, "scheduleTask").input))).toEqual([100, 1]);
    const t2 = await s.turn([h.taskCompleted(2, "2")]);
    expect(action(t2, 0, "scheduleTask")).toMatchObject({ id: 3, name: "inc", input: "2" });
    const t3 = await s.turn([h.taskCompleted(3, "3")]);
    expect(t3.actions).toEqual([]);
    const done = completion(await s.turn([h.taskCompleted(1, "101")]));
    expect(done).toMatchObject({ id: 4, workflowStatus: OrchestrationStatus.COMPLETED, result: '[101,3,"plain"]' });
    await expectSameOutcomeInOneTurn(reg, s);
  });

  it("a non-awaitable argument is an AsyncWorkflowError naming the workflow, the instance and the step", async () => {
    let caught: unknown;
    const reg = registry({
      orders: async (ctx: AsyncWorkflowContext) => {
        try {
          await ctx.gather(ctx.callActivity("a"), 42 as never);
        } catch (error) {
          caught = error;
        }
        return null;
      },
    });
    await run(reg, [], started("orders"));
    expect(caught).toBeInstanceOf(AsyncWorkflowError);
    expect(caught).toMatchObject({
      code: "ASYNC_WORKFLOW_ERROR",
      workflowName: "orders",
      instanceId: INSTANCE,
      step: "gather",
    });
    expect((caught as Error).message).toBe(
      `gather() takes tasks or promises; argument 1 is number (workflow: orders, instance: ${INSTANCE}, step: gather)`,
    );
  });

  it("an uncaught AsyncWorkflowError fails the workflow with its message", async () => {
    const reg = registry({ orders: async (ctx: AsyncWorkflowContext) => ctx.gather(null as never) });
    const done = completion(await run(reg, [], started("orders")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails).toMatchObject({
      errorType: "AsyncWorkflowError",
      errorMessage: `gather() takes tasks or promises; argument 0 is null (workflow: orders, instance: ${INSTANCE}, step: gather)`,
    });
  });

  it("results are typed per position; returnExceptions adds Error", () => {
    const _typeOnly = async (ctx: AsyncWorkflowContext) => {
      const r = await ctx.gather(ctx.callActivity<number>("a"), Promise.resolve("s"));
      expectTypeOf(r).toEqualTypeOf<[number, string]>();
      const e = await ctx.gather(ctx.callActivity<number>("a"), { returnExceptions: true });
      expectTypeOf(e).toEqualTypeOf<[number | Error]>();
    };
    expect(typeof _typeOnly).toBe("function");
  });
});

describe("withTimeout", () => {
  const timed = (seconds: number) =>
    registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          return { value: await ctx.withTimeout(ctx.callActivity<string>("slow"), seconds) };
        } catch (error) {
          if (!(error instanceof TimeoutError)) throw error;
          const e = error as WorkflowTimeoutError;
          return {
            timeout: {
              name: e.name,
              code: e.code,
              message: e.message,
              timeoutSeconds: e.timeoutSeconds,
              operation: e.operation,
              isWorkflowTimeout: e instanceof WorkflowTimeoutError,
            },
          };
        }
      },
    });
  const past = [...started("wf"), h.taskScheduled(1, "slow"), h.timerCreated(2, at(10))];

  it("schedules the operation and a durable timer of the given seconds", async () => {
    const t1 = await run(timed(10), [], started("wf"));
    expect(kinds(t1)).toEqual(["scheduleTask", "createTimer"]);
    expect(action(t1, 0, "scheduleTask")).toMatchObject({ id: 1, name: "slow" });
    const timer = action(t1, 1, "createTimer");
    expect(timer.id).toBe(2);
    expect(iso(timer.fireAt)).toBe(at(10).toISOString());
  });

  it("operation first: returns its value (not undefined, unlike the Python port's latent bug)", async () => {
    const done = completion(await run(timed(10), past, [h.taskCompleted(1, '"fast enough"'), h.timerFired(2, at(10))]));
    expect(decode(done.result)).toEqual({ value: "fast enough" });
  });

  it("operation first with a falsy value: still that value", async () => {
    const done = completion(await run(timed(10), past, [h.taskCompleted(1, "0")]));
    expect(decode(done.result)).toEqual({ value: 0 });
  });

  it("timer first: WorkflowTimeoutError (a TimeoutError, WORKFLOW_TIMEOUT) with timeoutSeconds and operation", async () => {
    const done = completion(await run(timed(10), past, [h.timerFired(2, at(10)), h.taskCompleted(1, '"too late"')]));
    expect(decode(done.result)).toEqual({
      timeout: {
        name: "WorkflowTimeoutError",
        code: "WORKFLOW_TIMEOUT",
        message: "callActivity('slow') timed out after 10s",
        timeoutSeconds: 10,
        operation: "callActivity('slow')",
        isWorkflowTimeout: true,
      },
    });
  });

  it("uncaught, the timeout fails the workflow as WorkflowTimeoutError", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => ctx.withTimeout(ctx.waitForExternalEvent("approval"), 5),
    });
    const t1 = await run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["createTimer", "createTimer"]);
    const p = [...started("wf"), h.indefiniteTimerCreated(1, "approval"), h.timerCreated(2, at(5))];
    const done = completion(await run(reg, p, [h.timerFired(2, at(5))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails).toMatchObject({
      errorType: "WorkflowTimeoutError",
      errorMessage: "waitForExternalEvent('approval') timed out after 5s",
    });
  });

  it("the operation's own failure is thrown as it is", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          await ctx.withTimeout(ctx.callActivity("slow"), 10);
        } catch (error) {
          caught = error;
        }
        return null;
      },
    });
    await run(reg, past, [h.taskFailed(1, new Error("broke"))]);
    expect(caught).toBeInstanceOf(TaskFailedError);
    expect(caught).not.toBeInstanceOf(TimeoutError);
  });

  it("wraps an async helper's promise too", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const both = async () => [await ctx.callActivity("a"), await ctx.callActivity("b")];
        return ctx.withTimeout(both(), 30);
      },
    });
    const s = new Session(reg);
    const t1 = await s.turn(started("wf"));
    expect(kinds(t1)).toEqual(["scheduleTask", "createTimer"]);
    const t2 = await s.turn([h.taskCompleted(1, '"A"')]);
    expect(action(t2, 0, "scheduleTask")).toMatchObject({ id: 3, name: "b" });
    const done = completion(await s.turn([h.taskCompleted(3, '"B"')]));
    expect(done.result).toBe('["A","B"]');
  });

  it("the value keeps its type", () => {
    const _typeOnly = async (ctx: AsyncWorkflowContext) => {
      expectTypeOf(await ctx.withTimeout(ctx.callActivity<number>("a"), 1)).toEqualTypeOf<number>();
    };
    expect(typeof _typeOnly).toBe("function");
  });
});

describe("native Promise combinators and async helpers over ctx tasks", () => {
  it("Promise.all: the same actions turn after turn, replayed or fresh", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext, n: number) => {
        const firsts = await Promise.all(
          Array.from({ length: n }, (_, i) => ctx.callActivity<number>("sq", { input: i })),
        );
        const total = firsts.reduce((a, b) => a + b, 0);
        await ctx.sleep(1);
        return Promise.all([ctx.callActivity("report", { input: total }), Promise.resolve(total)]);
      },
    });
    const s = new Session(reg);
    const t1 = await s.turn(started("wf", 3));
    expect(t1.actions.map((a) => [a.id, a.workflowActionType.case])).toEqual([
      [1, "scheduleTask"],
      [2, "scheduleTask"],
      [3, "scheduleTask"],
    ]);
    expect((await s.turn([h.taskCompleted(2, "1")])).actions).toEqual([]);
    expect((await s.turn([h.taskCompleted(1, "0")])).actions).toEqual([]);
    const t4 = await s.turn([h.workflowStarted(at(3)), h.taskCompleted(3, "4")]);
    expect(action(t4, 0, "createTimer")).toMatchObject({ id: 4 });
    expect(iso(action(t4, 0, "createTimer").fireAt)).toBe(at(4).toISOString());
    const t5 = await s.turn([h.workflowStarted(at(4)), h.timerFired(4, at(4))]);
    expect(action(t5, 0, "scheduleTask")).toMatchObject({ id: 5, name: "report", input: "5" });
    const done = completion(await s.turn([h.taskCompleted(5, '"sent"')]));
    expect(done).toMatchObject({ id: 6, workflowStatus: OrchestrationStatus.COMPLETED, result: '["sent",5]' });
    await expectSameOutcomeInOneTurn(reg, s);
  });

  it("Promise.race: the first task wins; the loser's later settlement changes nothing", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const winner = await Promise.race([
          ctx.waitForExternalEvent<string>("approval").then((v) => `approved: ${v}`),
          ctx.sleep(30).then(() => "timeout"),
        ]);
        const after = await ctx.callActivity("after", { input: winner });
        return [winner, after];
      },
    });
    const s = new Session(reg);
    const t1 = await s.turn(started("wf"));
    expect(kinds(t1)).toEqual(["createTimer", "createTimer"]);
    const t2 = await s.turn([h.workflowStarted(at(30)), h.timerFired(2, at(30))]);
    expect(action(t2, 0, "scheduleTask")).toMatchObject({ id: 3, name: "after", input: '"timeout"' });
    const t3 = await s.turn([h.eventRaised("approval", '"late"')]);
    expect(t3.actions).toEqual([]);
    const done = completion(await s.turn([h.taskCompleted(3, "1")]));
    expect(done.result).toBe('["timeout",1]');
    await expectSameOutcomeInOneTurn(reg, s);
  });

  it("Promise.allSettled: a failure is a rejected entry with the TaskFailedError", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const settled = await Promise.allSettled([ctx.callActivity("a"), ctx.callActivity("b")]);
        return settled.map((r) =>
          r.status === "fulfilled" ? r.value : `${(r.reason as TaskFailedError).code}:${(r.reason as Error).message}`,
        );
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    const done = completion(await run(reg, past, [h.taskFailed(1, new Error("a broke")), h.taskCompleted(2, '"B"')]));
    expect(decode(done.result)).toEqual(["ACTIVITY_EXECUTION_FAILED:Activity 'a' (task #1) failed: a broke", "B"]);
  });

  it("Promise.allSettled waits for every task, like whenAll", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => Promise.allSettled([ctx.callActivity("a"), ctx.callActivity("b")]),
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    expect((await run(reg, past, [h.taskFailed(1, new Error("a broke"))])).actions).toEqual([]);
  });

  it("an async helper awaited by the workflow runs its own awaits across turns", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext, orders: string[]) => {
        const process = async (order: string) => {
          const reserved = await ctx.callActivity<boolean>("reserve", { input: order });
          if (!reserved) return `${order}: out of stock`;
          await ctx.sleep({ minutes: 1 });
          return ctx.callActivity<string>("ship", { input: order });
        };
        const out: string[] = [];
        for (const order of orders) out.push(await process(order));
        return out;
      },
    });
    const s = new Session(reg);
    const t1 = await s.turn(started("wf", ["o1", "o2"]));
    expect(action(t1, 0, "scheduleTask")).toMatchObject({ id: 1, name: "reserve", input: '"o1"' });
    const t2 = await s.turn([h.workflowStarted(at(1)), h.taskCompleted(1, "true")]);
    expect(iso(action(t2, 0, "createTimer").fireAt)).toBe(at(61).toISOString());
    const t3 = await s.turn([h.workflowStarted(at(61)), h.timerFired(2, at(61))]);
    expect(action(t3, 0, "scheduleTask")).toMatchObject({ id: 3, name: "ship", input: '"o1"' });
    const t4 = await s.turn([h.taskCompleted(3, '"o1: shipped"')]);
    expect(action(t4, 0, "scheduleTask")).toMatchObject({ id: 4, name: "reserve", input: '"o2"' });
    const done = completion(await s.turn([h.taskCompleted(4, "false")]));
    expect(decode(done.result)).toEqual(["o1: shipped", "o2: out of stock"]);
    await expectSameOutcomeInOneTurn(reg, s);
  });

  it("a fan-out of helpers with Promise.all: ids follow the order history settled things, on every replay", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const pair = async (k: string) =>
          `${await ctx.callActivity("x", { input: k })}+${await ctx.callActivity("y", { input: k })}`;
        return Promise.all([pair("p"), pair("q")]);
      },
    });
    // x(p) = 1 and x(q) = 2; the y of whichever x completes first gets id 3.
    for (const [firstX, yIds] of [
      [1, { p: 3, q: 4 }],
      [2, { p: 4, q: 3 }],
    ] as const) {
      const s = new Session(reg);
      await s.turn(started("wf"));
      const secondX = firstX === 1 ? 2 : 1;
      const xResult = (id: number) => (id === 1 ? '"xp"' : '"xq"');
      const t2 = await s.turn([h.taskCompleted(firstX, xResult(firstX))]);
      const t3 = await s.turn([h.taskCompleted(secondX, xResult(secondX))]);
      expect([action(t2, 0, "scheduleTask"), action(t3, 0, "scheduleTask")].map((a) => [a.id, a.input])).toEqual([
        [3, firstX === 1 ? '"p"' : '"q"'],
        [4, firstX === 1 ? '"q"' : '"p"'],
      ]);
      const done = completion(await s.turn([h.taskCompleted(yIds.p, '"yp"'), h.taskCompleted(yIds.q, '"yq"')]));
      expect(done.result).toBe('["xp+yp","xq+yq"]');
      await expectSameOutcomeInOneTurn(reg, s);
    }
  });

  it("awaiting a task that already settled, and a plain value, needs no history", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const a = ctx.callActivity<string>("a");
        const first = await a;
        const again = await a;
        const plain = await 5;
        const resolved = await Promise.resolve("r");
        return [first, again, plain, resolved];
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a")];
    expect(completion(await run(reg, past, [h.taskCompleted(1, '"A"')])).result).toBe('["A","A",5,"r"]');
  });

  it("tasks are PromiseLike<T> for native combinators", () => {
    const _typeOnly = async (ctx: AsyncWorkflowContext) => {
      const t: Task<number> = ctx.callActivity<number>("a");
      expectTypeOf(t).toExtend<PromiseLike<number>>();
      const [n] = await Promise.all([t, ctx.sleep(1)]);
      expectTypeOf(n).toEqualTypeOf<number>();
    };
    expect(typeof _typeOnly).toBe("function");
  });
});
