// AsyncWorkflowContext against hand-built @dt/core histories: each operation's action (id, payload, timer, router),
// how history settles it, and the deterministic helpers, metadata, info and debugging surface.
import {
  defineActivity,
  executeActivity,
  InvalidArgumentError,
  Registry,
  RetryPolicy,
  type Task,
  TaskFailedError,
  TimeoutError,
  WorkflowTimeoutError,
} from "@dt/core";
import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, expectTypeOf, it } from "vitest";
import { AsyncWorkflowContext } from "./context.js";
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
  runAs,
  Session,
  START,
  started,
  startedWith,
} from "./testing/histories.js";
import { defineAsyncWorkflow } from "./workflow.js";

const greet = defineActivity("greet", (_ctx, name: string) => `Hello ${name}`);
const double = defineAsyncWorkflow("double", async (_ctx, n: number) => n * 2);
const noInput = defineActivity("noInput", () => 7);

const META = "__dapr_meta__";
const PAYLOAD = "__dapr_payload__";
const envelope = (metadata: Record<string, string>, payload: unknown) => ({
  [META]: { v: 1, metadata },
  [PAYLOAD]: payload,
});

describe("callActivity", () => {
  it("by definition: schedules the activity with its encoded input and resumes with its result", async () => {
    const reg = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.callActivity(greet, { input: "Ada" }) });
    const t1 = await run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["scheduleTask"]);
    const a = action(t1, 0, "scheduleTask");
    expect(a).toMatchObject({ id: 1, name: "greet", input: '"Ada"' });
    expect(a.router).toBeUndefined();
    expect(a.taskExecutionId).toMatch(/^[0-9a-f-]{36}$/);

    const past = [...started("wf"), h.taskScheduled(1, "greet", '"Ada"')];
    const done = completion(await run(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(1, '"Hello Ada"')]));
    expect(done).toMatchObject({ id: 2, workflowStatus: OrchestrationStatus.COMPLETED, result: '"Hello Ada"' });
  });

  it("by name: the same action as by definition", async () => {
    const byName = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.callActivity("greet", { input: "Ada" }) });
    const byDef = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.callActivity(greet, { input: "Ada" }) });
    const a = await run(byName, [], started("wf"));
    const b = await run(byDef, [], started("wf"));
    expect(a.actions).toEqual(b.actions);
    expect(action(a, 0, "scheduleTask")).toMatchObject({ id: 1, name: "greet", input: '"Ada"' });
  });

  it("without input: no input payload on the action", async () => {
    const reg = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.callActivity(noInput) });
    const a = action(await run(reg, [], started("wf")), 0, "scheduleTask");
    expect(a.name).toBe("noInput");
    expect(a.input).toBeUndefined();
  });

  it("typed definitions carry input and output types to the call site", () => {
    // Compile-time checks (tsc runs over this file); the function is never called.
    const _typeOnly = async (ctx: AsyncWorkflowContext) => {
      expectTypeOf(ctx.callActivity(greet, { input: "x" })).toEqualTypeOf<Task<string>>();
      expectTypeOf(await ctx.callActivity(greet, { input: "x" })).toEqualTypeOf<string>();
      expectTypeOf(ctx.callActivity(noInput)).toEqualTypeOf<Task<number>>();
      expectTypeOf(ctx.callChildWorkflow(double, { input: 2 })).toEqualTypeOf<Task<number>>();
      expectTypeOf(ctx.callSubOrchestrator(double, { input: 2 })).toEqualTypeOf<Task<number>>();
      expectTypeOf(ctx.callActivity<{ ok: boolean }>("byName")).toEqualTypeOf<Task<{ ok: boolean }>>();
      expectTypeOf(ctx.callActivity("byName")).toEqualTypeOf<Task<unknown>>();
      // @ts-expect-error the input of greet is a string
      void ctx.callActivity(greet, { input: 1 });
      // @ts-expect-error greet needs an input
      void ctx.callActivity(greet);
      // @ts-expect-error double takes a number
      void ctx.callChildWorkflow(double, { input: "2" });
    };
    expectTypeOf(double.run).toBeFunction();
    expect(typeof _typeOnly).toBe("function");
  });

  it("appId routes the call to another app (router.targetAppID); the source app comes from ExecutionStarted", async () => {
    const wf = async (ctx: AsyncWorkflowContext) => {
      const a = ctx.callActivity("greet", { input: "x", appId: "other-app" });
      const b = ctx.callActivity("greet", { input: "y" });
      return ctx.whenAll([a, b]);
    };
    const reg = registry({ wf });
    const plain = await run(reg, [], started("wf"));
    expect(action(plain, 0, "scheduleTask").router).toMatchObject({ sourceAppID: "", targetAppID: "other-app" });
    expect(action(plain, 1, "scheduleTask").router).toBeUndefined();

    let appId: string | undefined;
    const reg2 = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        appId = ctx.appId;
        return wf(ctx);
      },
    });
    const routed = await run(reg2, [], startedWith("wf", undefined, { sourceAppId: "my-app" }));
    expect(appId).toBe("my-app");
    expect(action(routed, 0, "scheduleTask").router).toMatchObject({ sourceAppID: "my-app", targetAppID: "other-app" });
    const own = action(routed, 1, "scheduleTask").router;
    expect(own?.sourceAppID).toBe("my-app");
    expect(own?.targetAppID).toBeUndefined();
  });

  it("retryPolicy: a failed attempt schedules a retry timer, then a second attempt with the same taskExecutionId", async () => {
    const policy = new RetryPolicy({ maxNumberOfAttempts: 2, firstRetryInterval: 5 });
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => ctx.callActivity("flaky", { input: 1, retryPolicy: policy }),
    });
    const s = new Session(reg);
    const t1 = await s.turn(started("wf"));
    const first = action(t1, 0, "scheduleTask");
    expect(first).toMatchObject({ id: 1, name: "flaky", input: "1" });

    const t2 = await s.turn([h.workflowStarted(at(10)), h.taskFailed(1, new Error("transient"))]);
    expect(kinds(t2)).toEqual(["createTimer"]);
    const timer = action(t2, 0, "createTimer");
    expect(timer.id).toBe(2);
    expect(iso(timer.fireAt)).toBe(at(15).toISOString());
    expect(timer.origin).toMatchObject({ case: "activityRetry", value: { taskExecutionId: first.taskExecutionId } });

    const t3 = await s.turn([h.workflowStarted(at(15)), h.timerFired(2, at(15))]);
    expect(kinds(t3)).toEqual(["scheduleTask"]);
    expect(action(t3, 0, "scheduleTask")).toMatchObject({
      id: 3,
      name: "flaky",
      input: "1",
      taskExecutionId: first.taskExecutionId,
    });

    const done = completion(await s.turn([h.workflowStarted(at(16)), h.taskCompleted(3, '"ok"')]));
    expect(done).toMatchObject({ id: 4, workflowStatus: OrchestrationStatus.COMPLETED, result: '"ok"' });
  });

  it("retryPolicy as plain options; the last failure surfaces as TaskFailedError", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.callActivity("flaky", { retryPolicy: { maxNumberOfAttempts: 2, firstRetryInterval: { seconds: 2 } } }),
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    const t2 = await s.turn([h.workflowStarted(at(1)), h.taskFailed(1, new Error("one"))]);
    expect(iso(action(t2, 0, "createTimer").fireAt)).toBe(at(3).toISOString());
    await s.turn([h.workflowStarted(at(3)), h.timerFired(2, at(3))]);
    const done = completion(await s.turn([h.workflowStarted(at(4)), h.taskFailed(3, new Error("two"))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Activity 'flaky' (task #3) failed: two");
  });

  it("metadata option: the input travels in the metadata envelope", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.callActivity("greet", { input: { name: "Ada" }, metadata: { tenant: "acme" } }),
    });
    const a = action(await run(reg, [], started("wf")), 0, "scheduleTask");
    expect(decode(a.input)).toEqual(envelope({ tenant: "acme" }, { name: "Ada" }));
  });

  it("a failure is thrown as TaskFailedError (ACTIVITY_EXECUTION_FAILED); try/catch handles it and the workflow goes on", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          await ctx.callActivity("charge", { input: 10 });
        } catch (error) {
          caught = error;
          return ctx.callActivity("refund", { input: 10 });
        }
        return "charged";
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "charge", "10")];
    const t2 = await run(reg, past, [
      h.workflowStarted(at(1)),
      h.taskFailed(1, { errorType: "CardDeclined", errorMessage: "declined" }),
    ]);
    expect(kinds(t2)).toEqual(["scheduleTask"]);
    expect(action(t2, 0, "scheduleTask")).toMatchObject({ id: 2, name: "refund", input: "10" });
    expect(caught).toBeInstanceOf(TaskFailedError);
    const error = caught as TaskFailedError;
    expect(error.code).toBe("ACTIVITY_EXECUTION_FAILED");
    expect(error.taskKind).toBe("activity");
    expect(error.taskName).toBe("charge");
    expect(error.taskId).toBe(1);
    expect(error.details).toMatchObject({ errorType: "CardDeclined", message: "declined" });
    expect(error.message).toBe("Activity 'charge' (task #1) failed: declined");
  });

  it("an uncaught activity failure fails the workflow with the TaskFailedError", async () => {
    const reg = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.callActivity("charge") });
    const past = [...started("wf"), h.taskScheduled(1, "charge")];
    const done = completion(await run(reg, past, [h.taskFailed(1, new Error("boom"))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails).toMatchObject({
      errorType: "TaskFailedError",
      errorMessage: "Activity 'charge' (task #1) failed: boom",
    });
    expect(done.failureDetails?.innerFailure).toMatchObject({ errorType: "Error", errorMessage: "boom" });
  });
});

describe("callSubOrchestrator / callChildWorkflow", () => {
  it("by definition: creates the child with a derived instance id and resumes with its result", async () => {
    const reg = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.callSubOrchestrator(double, { input: 21 }) });
    const t1 = await run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["createChildWorkflow"]);
    const a = action(t1, 0, "createChildWorkflow");
    expect(a).toMatchObject({ id: 1, name: "double", instanceId: `${INSTANCE}:0001`, input: "21" });
    expect(a.router).toBeUndefined();
    const past = [...started("wf"), h.childWorkflowCreated(1, "double", `${INSTANCE}:0001`, "21")];
    const done = completion(await run(reg, past, [h.childWorkflowCompleted(1, "42")]));
    expect(done).toMatchObject({ id: 2, workflowStatus: OrchestrationStatus.COMPLETED, result: "42" });
  });

  it("callChildWorkflow is the same call as callSubOrchestrator (by name, instanceId, appId)", async () => {
    const options = { input: { n: 1 }, instanceId: "kid-1", appId: "kids-app" };
    const a = await run(
      registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.callChildWorkflow("double", options) }),
      [],
      started("wf"),
    );
    const b = await run(
      registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.callSubOrchestrator("double", options) }),
      [],
      started("wf"),
    );
    expect(a.actions).toEqual(b.actions);
    const child = action(a, 0, "createChildWorkflow");
    expect(child).toMatchObject({ id: 1, name: "double", instanceId: "kid-1", input: '{"n":1}' });
    expect(child.router).toMatchObject({ sourceAppID: "", targetAppID: "kids-app" });
  });

  it("retryPolicy: a failed child is retried after a timer, as a new instance linked to the first", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.callChildWorkflow(double, { input: 2, retryPolicy: { maxNumberOfAttempts: 3, firstRetryInterval: 4 } }),
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    const t2 = await s.turn([h.workflowStarted(at(2)), h.childWorkflowFailed(1, new Error("crash"))]);
    const timer = action(t2, 0, "createTimer");
    expect(timer.id).toBe(2);
    expect(iso(timer.fireAt)).toBe(at(6).toISOString());
    expect(timer.origin).toMatchObject({ case: "childWorkflowRetry", value: { instanceId: `${INSTANCE}:0001` } });
    const t3 = await s.turn([h.workflowStarted(at(6)), h.timerFired(2, at(6))]);
    expect(action(t3, 0, "createChildWorkflow")).toMatchObject({
      id: 3,
      name: "double",
      instanceId: `${INSTANCE}:0003`,
      input: "2",
      retryParentInstanceInfo: { instanceID: `${INSTANCE}:0001` },
    });
    const done = completion(await s.turn([h.childWorkflowCompleted(3, "4")]));
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: "4" });
  });

  it("metadata option: the child's input travels in the envelope", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.callChildWorkflow(double, { input: 3, metadata: { "request-id": "r-1" } }),
    });
    const a = action(await run(reg, [], started("wf")), 0, "createChildWorkflow");
    expect(decode(a.input)).toEqual(envelope({ "request-id": "r-1" }, 3));
  });

  it("a child failure is thrown as TaskFailedError (CHILD_WORKFLOW_FAILED); the workflow catches it and goes on", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          return await ctx.callChildWorkflow(double, { input: 1 });
        } catch (error) {
          caught = error;
          await ctx.sleep(1);
          return "recovered";
        }
      },
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    const t2 = await s.turn([h.workflowStarted(at(1)), h.childWorkflowFailed(1, new TypeError("bad child"))]);
    expect(kinds(t2)).toEqual(["createTimer"]);
    expect(caught).toBeInstanceOf(TaskFailedError);
    expect(caught).toMatchObject({
      code: "CHILD_WORKFLOW_FAILED",
      taskKind: "childWorkflow",
      taskName: "double",
      taskId: 1,
      details: { errorType: "TypeError", message: "bad child" },
      message: "Child workflow 'double' (task #1) failed: bad child",
    });
    const done = completion(await s.turn([h.workflowStarted(at(2)), h.timerFired(2, at(2))]));
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '"recovered"' });
  });
});

describe("sleep / createTimer", () => {
  const timerFor = async (sleep: (ctx: AsyncWorkflowContext) => Task<void>) => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await sleep(ctx);
        return "woke";
      },
    });
    const t1 = await run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["createTimer"]);
    const timer = action(t1, 0, "createTimer");
    expect(timer.id).toBe(1);
    expect(timer.origin.case).toBe("createTimer");
    return { reg, fireAt: iso(timer.fireAt) };
  };

  it("sleep(seconds) fires that many seconds after the turn's time, and resumes the code when it fires", async () => {
    const { reg, fireAt } = await timerFor((ctx) => ctx.sleep(5));
    expect(fireAt).toBe(at(5).toISOString());
    const past = [...started("wf"), h.timerCreated(1, at(5))];
    const done = completion(await run(reg, past, [h.workflowStarted(at(5)), h.timerFired(1, at(5))]));
    expect(done).toMatchObject({ id: 2, workflowStatus: OrchestrationStatus.COMPLETED, result: '"woke"' });
  });

  it("sleep(fractional seconds)", async () => {
    expect((await timerFor((ctx) => ctx.sleep(1.5))).fireAt).toBe(new Date(START.getTime() + 1500).toISOString());
  });

  it("sleep(Duration)", async () => {
    const { fireAt } = await timerFor((ctx) => ctx.sleep({ hours: 1, minutes: 2, seconds: 3, milliseconds: 4 }));
    expect(fireAt).toBe(new Date(START.getTime() + 3_723_004).toISOString());
  });

  it("sleep(Date) fires at that date", async () => {
    const when = new Date("2020-01-02T00:00:00.250Z");
    expect((await timerFor((ctx) => ctx.sleep(when))).fireAt).toBe(when.toISOString());
  });

  it("createTimer is an alias of sleep (number, Duration, Date)", async () => {
    expect((await timerFor((ctx) => ctx.createTimer(30))).fireAt).toBe(at(30).toISOString());
    expect((await timerFor((ctx) => ctx.createTimer({ days: 1 }))).fireAt).toBe(at(86_400).toISOString());
    expect((await timerFor((ctx) => ctx.createTimer(at(9)))).fireAt).toBe(at(9).toISOString());
  });

  it("a relative sleep counts from the current turn's time, not the start", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await ctx.callActivity("a");
        await ctx.sleep(10);
      },
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    const t2 = await s.turn([h.workflowStarted(at(100)), h.taskCompleted(1)]);
    expect(iso(action(t2, 0, "createTimer").fireAt)).toBe(at(110).toISOString());
  });

  it("a negative duration is rejected at the call", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          ctx.sleep(-1);
        } catch (error) {
          caught = error;
        }
        return "ok";
      },
    });
    expect(completion(await run(reg, [], started("wf"))).workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(caught).toBeInstanceOf(InvalidArgumentError);
  });
});

describe("waitForExternalEvent", () => {
  it("without timeout: an indefinite timer named after the event, resolved by the raised event", async () => {
    const reg = registry({ wf: async (ctx: AsyncWorkflowContext) => ctx.waitForExternalEvent("approval") });
    const t1 = await run(reg, [], started("wf"));
    const timer = action(t1, 0, "createTimer");
    expect(timer).toMatchObject({
      id: 1,
      name: "approval",
      origin: { case: "externalEvent", value: { name: "approval" } },
    });
    expect(timer.fireAt).toMatchObject({ seconds: 253402300799n, nanos: 999_999_999 });
    const past = [...started("wf"), h.indefiniteTimerCreated(1, "approval")];
    const done = completion(await run(reg, past, [h.eventRaised("approval", '{"ok":true}')]));
    expect(done).toMatchObject({ id: 2, workflowStatus: OrchestrationStatus.COMPLETED, result: '{"ok":true}' });
  });

  it("with timeout: a timer at now + timeout; when it fires, WorkflowTimeoutError (a TimeoutError) is thrown", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          return await ctx.waitForExternalEvent("approval", { timeout: { seconds: 30 } });
        } catch (error) {
          caught = error;
          return "timed out";
        }
      },
    });
    const s = new Session(reg);
    const t1 = await s.turn(started("wf"));
    const timer = action(t1, 0, "createTimer");
    expect(timer).toMatchObject({ id: 1, name: "approval", origin: { case: "externalEvent" } });
    expect(iso(timer.fireAt)).toBe(at(30).toISOString());
    const done = completion(await s.turn([h.workflowStarted(at(30)), h.timerFired(1, at(30))]));
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '"timed out"' });
    expect(caught).toBeInstanceOf(WorkflowTimeoutError);
    expect(caught).toBeInstanceOf(TimeoutError);
    expect((caught as WorkflowTimeoutError).code).toBe("WORKFLOW_TIMEOUT");
    expect((caught as Error).message).toContain("approval");
  });

  it("with timeout: the event arriving first wins; the later timer changes nothing", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => ctx.waitForExternalEvent<number>("approval", { timeout: 60 }),
    });
    const past = [
      ...started("wf"),
      h.timerCreated(1, at(60), { case: "externalEvent", value: { name: "approval" } }, "approval"),
    ];
    const done = completion(await run(reg, past, [h.eventRaised("approval", "5"), h.timerFired(1, at(60))]));
    expect(done).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: "5" });
  });

  it("an event that arrived before the wait is buffered and consumed at once (no timer)", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const a = await ctx.callActivity<string>("a");
        const e = await ctx.waitForExternalEvent<string>("approval");
        return [a, e];
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a")];
    const t2 = await run(reg, past, [h.eventRaised("approval", '"early"'), h.taskCompleted(1, '"A"')]);
    expect(kinds(t2)).toEqual(["completeWorkflow"]);
    expect(completion(t2)).toMatchObject({ id: 2, result: '["A","early"]' });
  });

  it("names are case-insensitive; several events of one name are consumed in arrival order", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const first = await ctx.waitForExternalEvent("Approval");
        const second = await ctx.waitForExternalEvent("APPROVAL");
        return [first, second];
      },
    });
    const t1 = await run(reg, [], [...started("wf"), h.eventRaised("approval", "1"), h.eventRaised("aPpRoVaL", "2")]);
    expect(completion(t1)).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: "[1,2]" });
    expect(kinds(t1)).toEqual(["completeWorkflow"]);
  });
});

describe("sendEvent", () => {
  it("raises an event on another instance (fire and forget)", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        ctx.sendEvent("other-instance", "ping", { n: 1 });
        ctx.sendEvent("other-instance", "bare");
        return "sent";
      },
    });
    const t1 = await run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["sendEvent", "sendEvent", "completeWorkflow"]);
    expect(action(t1, 0, "sendEvent")).toMatchObject({
      id: 1,
      instance: { instanceId: "other-instance" },
      name: "ping",
      data: '{"n":1}',
    });
    expect(action(t1, 1, "sendEvent").data).toBeUndefined();
  });
});

describe("deterministic helpers", () => {
  it("now() is the turn's time from WorkflowStarted, also on replay", async () => {
    const seen: string[][] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const times = [ctx.now().toISOString()];
        await ctx.callActivity("a");
        times.push(ctx.now().toISOString(), ctx.currentUtcDateTime.toISOString(), ctx.info.currentTime.toISOString());
        seen.push(times);
        return times;
      },
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    const done = completion(await s.turn([h.workflowStarted(at(42)), h.taskCompleted(1)]));
    const expected = [START.toISOString(), at(42).toISOString(), at(42).toISOString(), at(42).toISOString()];
    expect(decode(done.result)).toEqual(expected);
  });

  it("random(): in [0, 1), the same sequence on replay, different for another instance or execution", async () => {
    const runs: number[][] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const values = [ctx.random(), ctx.random()];
        runs.push(values);
        await ctx.callActivity("a");
        values.push(ctx.random());
        return values;
      },
    });
    const s = new Session(reg);
    await s.turn(startedWith("wf", undefined, { executionId: "e1" }));
    await s.turn([h.taskCompleted(1)]);
    const [first, replayed] = runs as [number[], number[]];
    expect(first).toHaveLength(2);
    expect(replayed).toHaveLength(3);
    expect(replayed.slice(0, 2)).toEqual(first);
    for (const v of replayed) expect(v >= 0 && v < 1).toBe(true);
    expect(new Set(replayed).size).toBe(3);

    runs.length = 0;
    await runAs(reg, "another", [], startedWith("wf", undefined, { instanceId: "another", executionId: "e1" }));
    await run(reg, [], startedWith("wf", undefined, { executionId: "e2" }));
    const [otherInstance, otherExecution] = runs as [number[], number[]];
    expect(otherInstance).not.toEqual(first);
    expect(otherExecution).not.toEqual(first);
  });

  it("uuid4() / newGuid(): deterministic UUIDv5 (the Dapr Python vectors), the same on replay", async () => {
    const runs: string[][] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        const ids = [ctx.uuid4(), ctx.newGuid(), ctx.uuid4()];
        runs.push(ids);
        await ctx.sleep(1);
        return ids;
      },
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    await s.turn([h.workflowStarted(at(1)), h.timerFired(1, at(1))]);
    expect(runs[0]).toEqual([
      "d201625a-bf91-5de9-ac50-56fdd12ee499",
      "aaa1fb15-9c1b-53af-8cab-762babdc6589",
      "19610921-6010-5403-a8bf-115e1984981d",
    ]);
    expect(runs[1]).toEqual(runs[0]);
    for (const id of runs[0] ?? [])
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    runs.length = 0;
    await runAs(reg, "another", [], startedWith("wf", undefined, { instanceId: "another" }));
    expect(runs[0]?.[0]).not.toBe("d201625a-bf91-5de9-ac50-56fdd12ee499");
  });

  it("setCustomStatus: strings as they are, other values as JSON; the last one wins", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext, input: string) => {
        ctx.setCustomStatus(input === "text" ? "step 1" : { step: 1 });
        await ctx.callActivity("a");
        ctx.setCustomStatus(input === "text" ? "step 2" : { step: 2 });
        return null;
      },
    });
    expect((await run(reg, [], started("wf", "text"))).customStatus).toBe("step 1");
    expect((await run(reg, [], started("wf", "json"))).customStatus).toBe('{"step":1}');
    const past = [...started("wf", "json"), h.taskScheduled(1, "a")];
    expect((await run(reg, past, [h.taskCompleted(1)])).customStatus).toBe('{"step":2}');
  });

  it("continueAsNew: CONTINUED_AS_NEW with the new input; saveEvents carries unconsumed events", async () => {
    for (const saveEvents of [false, true]) {
      const reg = registry({
        wf: async (ctx: AsyncWorkflowContext, n: number) => {
          await ctx.sleep(1);
          ctx.continueAsNew({ n: n + 1 }, { saveEvents });
          return "ignored";
        },
      });
      const past = [...started("wf", 1), h.timerCreated(1, at(1))];
      const t2 = await run(reg, past, [
        h.eventRaised("first", '"x"'),
        h.timerFired(1, at(1)),
        h.eventRaised("second", '"y"'),
      ]);
      expect(kinds(t2)).toEqual(["completeWorkflow"]);
      const done = completion(t2);
      expect(done).toMatchObject({ id: 2, workflowStatus: OrchestrationStatus.CONTINUED_AS_NEW, result: '{"n":2}' });
      const carried = done.carryoverEvents.map((e) =>
        e.eventType.case === "eventRaised" ? [e.eventType.value.name, e.eventType.value.input] : e.eventType.case,
      );
      expect(carried).toEqual(
        saveEvents
          ? [
              ["first", '"x"'],
              ["second", '"y"'],
            ]
          : [],
      );
    }
  });

  it("isPatched: true for new instances (recorded in the version), false where history ran without the patch", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.isPatched("v2") ? ctx.callActivity("new") : ctx.callActivity("old"),
    });
    const fresh = await run(reg, [], started("wf"));
    expect(action(fresh, 0, "scheduleTask").name).toBe("new");
    expect(fresh.version?.patches).toEqual(["v2"]);

    const oldPast = [...started("wf"), h.taskScheduled(1, "old")];
    const old = completion(await run(reg, oldPast, [h.taskCompleted(1, '"from old"')]));
    expect(old).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '"from old"' });

    const patchedPast = [
      h.workflowStarted(START, { patches: ["v2"] }),
      h.executionStarted("wf", INSTANCE),
      h.taskScheduled(1, "new"),
    ];
    const patched = completion(await run(reg, patchedPast, [h.taskCompleted(1, '"from new"')]));
    expect(patched).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '"from new"' });
  });
});

describe("metadata", () => {
  it("setMetadata attaches an envelope to every later activity and child input; getMetadata reads a copy", async () => {
    let read: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        expect(ctx.getMetadata()).toEqual({});
        const before = ctx.callActivity("a", { input: 0 });
        ctx.setMetadata({ tenant: "acme", "x-trace": "t-1" });
        const md = ctx.getMetadata();
        (md as Record<string, string>)["tenant"] = "mutated";
        read = ctx.getMetadata();
        const act = ctx.callActivity("a", { input: { x: 1 } });
        const child = ctx.callChildWorkflow(double, { input: 2, metadata: { tenant: "override", extra: "e" } });
        return ctx.whenAll([before, act, child]);
      },
    });
    const t1 = await run(reg, [], started("wf"));
    expect(read).toEqual({ tenant: "acme", "x-trace": "t-1" });
    expect(action(t1, 0, "scheduleTask").input).toBe("0");
    expect(decode(action(t1, 1, "scheduleTask").input)).toEqual(
      envelope({ tenant: "acme", "x-trace": "t-1" }, { x: 1 }),
    );
    expect(decode(action(t1, 2, "createChildWorkflow").input)).toEqual(
      envelope({ tenant: "override", "x-trace": "t-1", extra: "e" }, 2),
    );
  });

  it("setHeaders / getHeaders are the same data as setMetadata / getMetadata", async () => {
    const seen: unknown[] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        ctx.setHeaders({ region: "us-east" });
        seen.push(ctx.getMetadata(), ctx.getHeaders());
        ctx.setMetadata({ region: "eu" });
        seen.push(ctx.getHeaders());
        return ctx.callActivity("a", { input: "x" });
      },
    });
    const t1 = await run(reg, [], started("wf"));
    expect(seen).toEqual([{ region: "us-east" }, { region: "us-east" }, { region: "eu" }]);
    expect(decode(action(t1, 0, "scheduleTask").input)).toEqual(envelope({ region: "eu" }, "x"));
  });

  it("setMetadata replaces (does not merge) and an empty map stops the envelope", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        ctx.setMetadata({ a: "1" });
        ctx.setMetadata({ b: "2" });
        const one = ctx.callActivity("a", { input: 1 });
        ctx.setMetadata({});
        const two = ctx.callActivity("a", { input: 2 });
        return ctx.whenAll([one, two]);
      },
    });
    const t1 = await run(reg, [], started("wf"));
    expect(decode(action(t1, 0, "scheduleTask").input)).toEqual(envelope({ b: "2" }, 1));
    expect(action(t1, 1, "scheduleTask").input).toBe("2");
  });

  it("calls without metadata carry the bare input", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) =>
        ctx.whenAll([ctx.callActivity("a", { input: { x: 1 } }), ctx.callChildWorkflow("c", { input: [1] })]),
    });
    const t1 = await run(reg, [], started("wf"));
    expect(action(t1, 0, "scheduleTask").input).toBe('{"x":1}');
    expect(action(t1, 1, "createChildWorkflow").input).toBe("[1]");
  });

  it("non-string metadata values are refused with an AsyncWorkflowError", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          ctx.setMetadata({ n: 1 } as never);
        } catch (error) {
          caught = error;
        }
        return ctx.getMetadata();
      },
    });
    expect(completion(await run(reg, [], started("wf"))).result).toBe("{}");
    expect(caught).toMatchObject({ name: "AsyncWorkflowError", code: "ASYNC_WORKFLOW_ERROR", step: "setMetadata" });
  });

  it("an inbound envelope is unwrapped: the workflow sees the plain input, getMetadata() returns it, calls inherit it", async () => {
    let input: unknown;
    let md: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext, i: unknown) => {
        input = i;
        md = ctx.getMetadata();
        return ctx.callActivity("a", { input: "down" });
      },
    });
    const raw = JSON.stringify(envelope({ tenant: "acme" }, { order: 7 }));
    const t1 = await run(reg, [], startedWith("wf", undefined, { rawInput: raw }));
    expect(input).toEqual({ order: 7 });
    expect(md).toEqual({ tenant: "acme" });
    expect(decode(action(t1, 0, "scheduleTask").input)).toEqual(envelope({ tenant: "acme" }, "down"));
  });

  it("@dt/core executeActivity: an activity given an envelope sees the plain input and ctx.metadata", async () => {
    const seen: unknown[] = [];
    const reg = new Registry().addActivity(
      defineActivity("probe", (ctx, input: unknown) => {
        seen.push({ input, metadata: ctx.metadata });
        return "done";
      }),
    );
    // The exact input the workflow produced above goes to the activity.
    const wf = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        ctx.setMetadata({ tenant: "acme" });
        return ctx.callActivity("probe", { input: { amount: 5 } });
      },
    });
    const scheduled = action(await run(wf, [], started("wf")), 0, "scheduleTask");
    const result = await executeActivity(
      { name: "probe", input: scheduled.input, taskId: 1, taskExecutionId: scheduled.taskExecutionId },
      reg,
    );
    expect(result).toEqual({ result: '"done"', failureDetails: undefined });
    const bare = await executeActivity({ name: "probe", input: '{"amount":5}', taskId: 2, taskExecutionId: "t" }, reg);
    expect(bare.result).toBe('"done"');
    expect(seen).toEqual([
      { input: { amount: 5 }, metadata: { tenant: "acme" } },
      { input: { amount: 5 }, metadata: {} },
    ]);
  });
});

describe("info, executionInfo, isReplaying, isSuspended", () => {
  const options = {
    executionId: "exec-1",
    parentInstanceId: "parent-1",
    parentTaskScheduledId: 3,
    traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    traceState: "vendor=x",
    workflowSpanId: "00f067aa0ba902b7",
    tags: { team: "payments", env: "test" },
    scheduledStartTime: new Date("2020-01-01T11:00:00Z"),
  };

  it("info is a frozen snapshot with every field, from ExecutionStarted and the current event", async () => {
    let info: AsyncWorkflowContext["info"] | undefined;
    let props: Record<string, unknown> = {};
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        info = ctx.info;
        props = {
          instanceId: ctx.instanceId,
          workflowName: ctx.workflowName,
          executionId: ctx.executionId,
          parentInstanceId: ctx.parentInstanceId,
          traceParent: ctx.traceParent,
          traceState: ctx.traceState,
          workflowSpanId: ctx.workflowSpanId,
          orchestrationSpanId: ctx.orchestrationSpanId,
          historyEventSequence: ctx.historyEventSequence,
        };
        return null;
      },
    });
    await run(reg, [], startedWith("wf", undefined, options));
    expect(info).toEqual({
      instanceId: INSTANCE,
      workflowName: "wf",
      executionId: "exec-1",
      appId: undefined,
      isReplaying: false,
      isSuspended: false,
      parentInstanceId: "parent-1",
      currentTime: START,
      historyEventSequence: 1,
      traceParent: options.traceParent,
      traceState: "vendor=x",
      workflowSpanId: "00f067aa0ba902b7",
    });
    expect(Object.isFrozen(info)).toBe(true);
    expect(() => {
      (info as { instanceId: string }).instanceId = "x";
    }).toThrow(TypeError);
    expect(props).toEqual({
      instanceId: INSTANCE,
      workflowName: "wf",
      executionId: "exec-1",
      parentInstanceId: "parent-1",
      traceParent: options.traceParent,
      traceState: "vendor=x",
      workflowSpanId: "00f067aa0ba902b7",
      orchestrationSpanId: "00f067aa0ba902b7",
      historyEventSequence: 1,
    });
  });

  it("info is a snapshot: it does not change when the workflow moves on", async () => {
    const snapshots: AsyncWorkflowContext["info"][] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        snapshots.push(ctx.info);
        await ctx.callActivity("a");
        snapshots.push(ctx.info);
        return null;
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a")];
    await run(reg, past, [h.workflowStarted(at(5)), h.taskCompleted(1)]);
    const [before, after] = snapshots;
    expect(before).toMatchObject({ isReplaying: true, historyEventSequence: 1, currentTime: START });
    expect(after).toMatchObject({ isReplaying: false, historyEventSequence: 4, currentTime: at(5) });
  });

  it("absent fields are undefined (no parent, no trace context)", async () => {
    let info: AsyncWorkflowContext["info"] | undefined;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        info = ctx.info;
        return null;
      },
    });
    await run(reg, [], started("wf"));
    expect(info).toMatchObject({
      parentInstanceId: undefined,
      traceParent: undefined,
      traceState: undefined,
      workflowSpanId: undefined,
    });
  });

  it("executionInfo: tags, scheduledStartTime, executionId, parent and span id", async () => {
    let info: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        info = ctx.executionInfo;
        return null;
      },
    });
    await run(reg, [], startedWith("wf", undefined, options));
    expect(info).toEqual({
      executionId: "exec-1",
      tags: { team: "payments", env: "test" },
      scheduledStartTime: new Date("2020-01-01T11:00:00Z"),
      parentInstanceId: "parent-1",
      workflowSpanId: "00f067aa0ba902b7",
    });
  });

  it("isReplaying is true while past events are replayed and false once new events are processed", async () => {
    const log: [string, boolean, number][] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        log.push(["start", ctx.isReplaying, ctx.historyEventSequence]);
        await ctx.callActivity("a");
        log.push(["after a", ctx.isReplaying, ctx.historyEventSequence]);
        await ctx.callActivity("b");
        log.push(["after b", ctx.isReplaying, ctx.historyEventSequence]);
        return null;
      },
    });
    const s = new Session(reg);
    await s.turn(started("wf"));
    await s.turn([h.workflowStarted(at(1)), h.taskCompleted(1)]);
    log.length = 0;
    await s.turn([h.workflowStarted(at(2)), h.taskCompleted(2)]);
    // History: 0 WS, 1 ES, 2 TS(1), 3 WS, 4 TC(1), 5 TS(2) | new: 6 WS, 7 TC(2)
    expect(log).toEqual([
      ["start", true, 1],
      ["after a", true, 4],
      ["after b", false, 7],
    ]);
  });

  it("isSuspended: the code does not run while suspended; after the resume it reads false", async () => {
    const log: [string, boolean, boolean][] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await ctx.callActivity("a");
        log.push(["after a", ctx.isSuspended, ctx.info.isSuspended]);
        return "done";
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a")];
    const suspended = await run(reg, past, [h.executionSuspended("maintenance"), h.taskCompleted(1)]);
    expect(suspended.actions).toEqual([]);
    expect(log).toEqual([]);
    const resumed = await run(
      reg,
      [...past, h.executionSuspended("maintenance"), h.taskCompleted(1)],
      [h.executionResumed()],
    );
    expect(completion(resumed)).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '"done"' });
    expect(log).toEqual([["after a", false, false]]);
  });
});

describe("getDebugInfo, addCleanup and await using", () => {
  it("debug mode records every operation with its time, replay flag and history position", async () => {
    let debug: ReturnType<AsyncWorkflowContext["getDebugInfo"]> | undefined;
    const wf = defineAsyncWorkflow(
      "dbg",
      async (ctx) => {
        await ctx.callActivity("a");
        ctx.setCustomStatus("x");
        await ctx.sleep(5);
        debug = ctx.getDebugInfo();
        return null;
      },
      { debug: true },
    );
    const s = new Session(registry({ dbg: wf }));
    await s.turn(started("dbg"));
    await s.turn([h.workflowStarted(at(1)), h.taskCompleted(1)]);
    await s.turn([h.workflowStarted(at(6)), h.timerFired(2, at(6))]);
    expect(debug).toEqual({
      instanceId: INSTANCE,
      workflowName: "dbg",
      currentTime: at(6).toISOString(),
      isReplaying: false,
      isSuspended: false,
      debugMode: true,
      step: "sleep(5)",
      operationHistory: [
        { operation: "callActivity('a')", time: START.toISOString(), replaying: true, historyEventSequence: 1 },
        { operation: "setCustomStatus", time: at(1).toISOString(), replaying: true, historyEventSequence: 4 },
        { operation: "sleep(5)", time: at(1).toISOString(), replaying: true, historyEventSequence: 4 },
      ],
      cleanupTasksCount: 0,
    });
  });

  it("debug mode logs each operation at debug level through the replay-safe logger", async () => {
    const lines: string[] = [];
    const logger = {
      debug: (message: string) => lines.push(message),
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    };
    const wf = defineAsyncWorkflow("dbg", async (ctx) => ctx.callActivity("a"), { debug: true });
    const reg = registry({ dbg: wf });
    const { runWorkflowTurn } = await import("./turn.js");
    await runWorkflowTurn({ instanceId: INSTANCE, pastEvents: [], newEvents: started("dbg") }, reg, { logger });
    expect(lines).toEqual(["[WORKFLOW DEBUG] callActivity('a')"]);
    lines.length = 0;
    const past = [...started("dbg"), h.taskScheduled(1, "a")];
    await runWorkflowTurn({ instanceId: INSTANCE, pastEvents: past, newEvents: [h.taskCompleted(1)] }, reg, {
      logger,
    });
    expect(lines).toEqual([]);
  });

  it("without debug mode nothing is recorded, but the current step is still known", async () => {
    let debug: ReturnType<AsyncWorkflowContext["getDebugInfo"]> | undefined;
    const wf = defineAsyncWorkflow(
      "quiet",
      async (ctx) => {
        ctx.addCleanup(() => undefined);
        await ctx.waitForExternalEvent("go");
        debug = ctx.getDebugInfo();
        return null;
      },
      { debug: false },
    );
    await run(registry({ quiet: wf }), [], [...started("quiet"), h.eventRaised("go")]);
    expect(debug).toMatchObject({
      debugMode: false,
      operationHistory: [],
      step: "waitForExternalEvent('go')",
      cleanupTasksCount: 1,
    });
  });

  it("await using ctx runs cleanups last-registered first, awaiting async ones, also when the body throws", async () => {
    const order: string[] = [];
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext, fail: boolean) => {
        await using scope = ctx;
        scope.addCleanup(() => order.push("first registered"));
        scope.addCleanup(async () => {
          await Promise.resolve();
          order.push("async (awaited)");
        });
        scope.addCleanup(() => order.push("last registered"));
        expect(scope.getDebugInfo().cleanupTasksCount).toBe(3);
        if (fail) throw new Error("body failed");
        order.push("body");
        return "ok";
      },
    });
    const ok = completion(await run(reg, [], started("wf", false)));
    expect(ok).toMatchObject({ workflowStatus: OrchestrationStatus.COMPLETED, result: '"ok"' });
    expect(order).toEqual(["body", "last registered", "async (awaited)", "first registered"]);

    order.length = 0;
    const failed = completion(await run(reg, [], started("wf", true)));
    expect(failed.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(failed.failureDetails?.errorMessage).toBe("body failed");
    expect(order).toEqual(["last registered", "async (awaited)", "first registered"]);
  });

  it("a cleanup may await durable work: the workflow completes only once it is done", async () => {
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        await using scope = ctx;
        scope.addCleanup(async () => {
          await ctx.callActivity("release", { input: "lock-1" });
        });
        // `return await`: with a bare `return task` the scope would be disposed before the task settles.
        return await ctx.callActivity<string>("work");
      },
    });
    const s = new Session(reg);
    const t1 = await s.turn(started("wf"));
    expect(action(t1, 0, "scheduleTask").name).toBe("work");
    const t2 = await s.turn([h.taskCompleted(1, '"result"')]);
    expect(kinds(t2)).toEqual(["scheduleTask"]);
    expect(action(t2, 0, "scheduleTask")).toMatchObject({ id: 2, name: "release", input: '"lock-1"' });
    const done = completion(await s.turn([h.taskCompleted(2)]));
    expect(done).toMatchObject({ id: 3, workflowStatus: OrchestrationStatus.COMPLETED, result: '"result"' });
  });

  it("addCleanup refuses a non-function", async () => {
    let caught: unknown;
    const reg = registry({
      wf: async (ctx: AsyncWorkflowContext) => {
        try {
          ctx.addCleanup("nope" as never);
        } catch (error) {
          caught = error;
        }
        return null;
      },
    });
    await run(reg, [], started("wf"));
    expect(caught).toMatchObject({ name: "AsyncWorkflowError", step: "addCleanup" });
  });

  it("AsyncWorkflowContext implements AsyncDisposable", () => {
    expectTypeOf<AsyncWorkflowContext>().toExtend<AsyncDisposable>();
    expect(typeof AsyncWorkflowContext.prototype[Symbol.asyncDispose]).toBe("function");
  });
});
