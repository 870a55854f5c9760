// Early resolutions (durabletask-go v0.14.0 task/orchestrator_buffered_test.go): completions and timer firings that
// reach the engine before the code has created their task in this turn. They are buffered and delivered when the
// task is created (its action is then withheld), duplicates and kind mismatches are dropped, and leftovers are only
// logged. Go numbers actions from 0; ours start at 1: the indefinite wait timer is id 1 and the first activity id 2.
import type { HistoryEvent } from "@dt/proto";
import { describe, expect, it } from "vitest";
import type { WorkflowContext } from "../context.js";
import type { WorkflowResult } from "../engine.js";
import { OrchestrationStatus } from "../history.js";
import type { Logger } from "../logger.js";
import type { Registry } from "../registry.js";
import { at, h, kinds, onlyCompletion, registry, run, START, started } from "../testing/golden.js";

interface Captured {
  readonly warns: { message: string; attributes: Record<string, unknown> | undefined }[];
  readonly logger: Logger;
}

function capture(): Captured {
  const warns: Captured["warns"] = [];
  const noop = () => {};
  return {
    warns,
    logger: {
      debug: noop,
      info: noop,
      error: noop,
      warn: (message, attributes) => warns.push({ message, attributes }),
    },
  };
}

/** Runs a single turn whose events are all new, with a capturing logger. */
function runBuffered(reg: Registry, newEvents: HistoryEvent[], past: HistoryEvent[] = []) {
  const log = capture();
  const result = run(reg, past, newEvents, { logger: log.logger });
  return { result, warns: log.warns };
}

/** The unconsumed resolutions named by the warnings (`kind:id`). */
function unconsumed(warns: Captured["warns"]): unknown[] {
  return warns.flatMap((w) => (w.attributes?.["resolutions"] as unknown[] | undefined) ?? []);
}

function completion(result: WorkflowResult) {
  const action = result.actions.find((a) => a.workflowActionType.case === "completeWorkflow");
  return action?.workflowActionType.case === "completeWorkflow" ? action.workflowActionType.value : undefined;
}

const count = (result: WorkflowResult, kind: string) => kinds(result).filter((k) => k === kind).length;

/** Waits for "go" (indefinite timer, id 1), then calls "act" (id 2) and returns its output. */
const waitThenActivity = () =>
  registry({
    wf: function* (ctx: WorkflowContext) {
      yield ctx.waitForExternalEvent("go");
      return yield* ctx.callActivity<string>("act");
    },
  });

describe("go buffered resolutions: early delivery", () => {
  // go: Test_BufferedResolution_EarlyTaskCompleted
  it("an early TaskCompleted is delivered when the activity is called, and the activity is not dispatched", () => {
    const { result, warns } = runBuffered(waitThenActivity(), [
      ...started("wf"),
      h.taskCompleted(2, '"injected"'),
      h.eventRaised("go"),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"injected"');
    expect(done.id).toBe(3);
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_EarlyTaskFailed
  it("an early TaskFailed is delivered as the activity's failure", () => {
    const { result, warns } = runBuffered(waitThenActivity(), [
      ...started("wf"),
      h.taskFailed(2, { errorType: "TestError", errorMessage: "injected failure" }),
      h.eventRaised("go"),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Activity 'act' (task #2) failed: injected failure");
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_EarlyTimerFired
  it("an early TimerFired is delivered when the timer is created, and the timer is not dispatched", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        yield ctx.createTimer({ hours: 1 });
        return "done";
      },
    });
    const { result, warns } = runBuffered(reg, [...started("wf"), h.timerFired(2, at(3600)), h.eventRaised("go")]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"done"');
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_EarlyChildCompleted
  it("an early child completion is delivered when the child is called, and the child is not created", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        return yield* ctx.callChildWorkflow<string>("child");
      },
    });
    const { result, warns } = runBuffered(reg, [
      ...started("wf"),
      h.childWorkflowCompleted(2, '"injected-child"'),
      h.eventRaised("go"),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"injected-child"');
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_EarlyChildFailed
  it("an early child failure is delivered as the child's failure", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        return yield* ctx.callChildWorkflow("child");
      },
    });
    const { result, warns } = runBuffered(reg, [
      ...started("wf"),
      h.childWorkflowFailed(2, { errorType: "TestError", errorMessage: "injected child failure" }),
      h.eventRaised("go"),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toBe("Child workflow 'child' (task #2) failed: injected child failure");
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_EarlyTimerFiredForExternalEventTimer
  it("an early TimerFired for a wait's timeout timer times the wait out at once", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("a");
        try {
          yield ctx.waitForExternalEvent("b", { timeout: { hours: 1 } });
        } catch {
          return "timedout";
        }
        return "received";
      },
    });
    const { result, warns } = runBuffered(reg, [...started("wf"), h.timerFired(2, at(3600)), h.eventRaised("a")]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"timedout"');
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_FanOutTwoEarlyCompletions
  it("two early completions, in reverse order, each reach their own activity", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        const t1 = ctx.callActivity<string>("a");
        const t2 = ctx.callActivity<string>("b");
        const out1 = yield* t1;
        const out2 = yield* t2;
        return out1 + out2;
      },
    });
    const { result, warns } = runBuffered(reg, [
      ...started("wf"),
      h.taskCompleted(3, '"two"'),
      h.taskCompleted(2, '"one"'),
      h.eventRaised("go"),
    ]);
    const done = onlyCompletion(result);
    expect(done.result).toBe('"onetwo"');
    expect(done.id).toBe(4);
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_EarlyFailureWithRetryPolicy
  it("an early failure under a retry policy arms the retry timer; the failed attempt is not dispatched", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        return yield* ctx.callActivity("act", {
          retryPolicy: { maxNumberOfAttempts: 3, firstRetryInterval: 1, backoffCoefficient: 2 },
        });
      },
    });
    const { result, warns } = runBuffered(reg, [
      ...started("wf"),
      h.taskFailed(2, { errorType: "TestError", errorMessage: "injected failure" }),
      h.eventRaised("go"),
    ]);
    expect(completion(result)).toBeUndefined();
    expect(count(result, "scheduleTask")).toBe(0);
    // The wait's own (unconfirmed) timer 1 still goes out; the retry timer takes id 3.
    expect(result.actions.map((a) => [a.id, a.workflowActionType.case])).toEqual([
      [1, "createTimer"],
      [3, "createTimer"],
    ]);
    const retry = result.actions[1]?.workflowActionType;
    expect(retry?.case === "createTimer" && retry.value.origin.case).toBe("activityRetry");
    expect(retry?.case === "createTimer" && retry.value.name).toBe("act-retry");
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_SuspensionPrecedence
  it("while suspended, early resolutions are buffered with everything else and delivered after resume", () => {
    const { result, warns } = runBuffered(waitThenActivity(), [
      ...started("wf"),
      h.executionSuspended(),
      h.taskCompleted(2, '"injected"'),
      h.eventRaised("go"),
      h.executionResumed(),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"injected"');
    expect(warns).toEqual([]);
  });
});

describe("go buffered resolutions: confirmation and id shifts", () => {
  // go: Test_BufferedResolution_LateTaskScheduledAfterDelivery
  it("a TaskScheduled arriving after its early completion was delivered is not non-determinism", () => {
    const { result, warns } = runBuffered(waitThenActivity(), [
      ...started("wf"),
      h.taskCompleted(2, '"injected"'),
      h.eventRaised("go"),
      h.taskScheduled(2, "act"),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"injected"');
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_LateTaskScheduledAfterDelivery, with a terminate after the late TaskScheduled
  it("a late TaskScheduled after continue-as-new does not stop the turn: a later terminate still wins", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        yield ctx.callActivity("act");
        ctx.continueAsNew(1, { saveEvents: true });
        return null;
      },
    });
    const { result } = runBuffered(reg, [
      ...started("wf"),
      h.taskCompleted(2, '"injected"'),
      h.eventRaised("go"),
      h.taskScheduled(2, "act"),
      h.executionTerminated('"stop"'),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
    expect(done.result).toBe('"stop"');
  });

  // go: Test_BufferedResolution_LateTaskScheduledAfterDelivery, with an event after the late TaskScheduled
  it("a late TaskScheduled after continue-as-new does not stop the turn: later events are carried over", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        yield ctx.callActivity("act");
        ctx.continueAsNew(1, { saveEvents: true });
        return null;
      },
    });
    const { result } = runBuffered(reg, [
      ...started("wf"),
      h.taskCompleted(2, '"injected"'),
      h.eventRaised("go"),
      h.taskScheduled(2, "act"),
      h.eventRaised("Later", "1"),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    expect(done.carryoverEvents.map((e) => e.eventType.value)).toMatchObject([{ name: "Later", input: "1" }]);
  });

  it("the withheld action of an early-resolved task stays confirmable while the workflow goes on", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        const out = yield* ctx.callActivity<string>("act");
        yield ctx.waitForExternalEvent("again");
        return out;
      },
    });
    const { result, warns } = runBuffered(reg, [
      ...started("wf"),
      h.taskCompleted(2, '"injected"'),
      h.eventRaised("go"),
      h.indefiniteTimerCreated(1, "go"),
      h.taskScheduled(2, "act"),
    ]);
    // No non-determinism failure; only the second wait's timer goes out.
    expect(result.actions.map((a) => [a.id, a.workflowActionType.case])).toEqual([[3, "createTimer"]]);
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_DropShiftsSuppressedIDs (engine-internal in Go; here through a history)
  it("dropping an optional timer shifts the withheld ids down with their actions", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        const a = ctx.callActivity<string>("a");
        const b = ctx.callActivity<string>("b");
        yield ctx.whenAll([a, b]);
        return yield* ctx.callActivity<string>("c");
      },
    });
    // a (2) and b (3) resolve early and are withheld; c is 4. The old history's TaskScheduled(1, "a") then drops the
    // wait's optional timer: a→1, b→2, c→3. c must still go out, under id 3.
    const { result } = runBuffered(reg, [
      ...started("wf"),
      h.taskCompleted(2, '"A"'),
      h.taskCompleted(3, '"B"'),
      h.eventRaised("go"),
      h.taskScheduled(1, "a"),
      h.taskScheduled(2, "b"),
    ]);
    expect(result.actions.map((a) => [a.id, a.workflowActionType.case])).toEqual([[3, "scheduleTask"]]);
    const c = result.actions[0]?.workflowActionType;
    expect(c?.case === "scheduleTask" && c.value.name).toBe("c");
  });

  // go: Test_BufferedResolution_PreSyntheticTimerMigration
  it("an early completion under the old numbering reaches the activity once the optional timer is dropped", () => {
    const { result, warns } = runBuffered(waitThenActivity(), [
      ...started("wf"),
      h.taskCompleted(1, '"migrated"'),
      h.eventRaised("go"),
      h.taskScheduled(1, "act"),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"migrated"');
    expect(warns).toEqual([]);
  });
});

describe("go buffered resolutions: dropped and unconsumed", () => {
  // go: Test_BufferedResolution_DuplicateAfterResolutionDropped
  it("a duplicate completion after the task resolved is dropped; the first one wins", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.callActivity<string>("act");
      },
    });
    const { result, warns } = runBuffered(
      reg,
      [h.taskCompleted(1, '"first"'), h.taskCompleted(1, '"second"')],
      [...started("wf"), h.taskScheduled(1, "act")],
    );
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"first"');
    expect(warns).toEqual([]);
  });

  it("a duplicate completion while the workflow still runs is dropped, not delivered to a later task", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const first = yield* ctx.callActivity<string>("act");
        yield ctx.waitForExternalEvent("go");
        return first;
      },
    });
    const { result, warns } = runBuffered(
      reg,
      [h.taskCompleted(1, '"first"'), h.taskCompleted(1, '"second"')],
      [...started("wf"), h.taskScheduled(1, "act")],
    );
    expect(result.actions.map((a) => [a.id, a.workflowActionType.case])).toEqual([[2, "createTimer"]]);
    expect(warns).toEqual([]);
  });

  // go: Test_BufferedResolution_KindMismatchNotDelivered
  it("a TimerFired for an activity's id does not resolve the activity; it is logged as unconsumed", () => {
    const { result, warns } = runBuffered(waitThenActivity(), [
      ...started("wf"),
      h.timerFired(2, START),
      h.eventRaised("go"),
    ]);
    expect(completion(result)).toBeUndefined();
    expect(count(result, "scheduleTask")).toBe(1);
    expect(result.actions.find((a) => a.workflowActionType.case === "scheduleTask")?.id).toBe(2);
    expect(warns).toHaveLength(1);
    expect(unconsumed(warns)).toEqual(["timer:2"]);
  });

  // go: Test_BufferedResolution_KindGuardOnOccupiedID
  it("a TaskCompleted for the wait timer's id does not fire the timer (the wait is not timed out)", () => {
    const { result, warns } = runBuffered(waitThenActivity(), [
      ...started("wf"),
      h.taskCompleted(1, '"x"'),
      h.eventRaised("go"),
    ]);
    expect(completion(result)).toBeUndefined();
    expect(count(result, "scheduleTask")).toBe(1);
    expect(warns).toHaveLength(1);
    expect(unconsumed(warns)).toEqual(["task:1"]);
  });

  // go: Test_BufferedResolution_UnconsumedOrphanWarns
  it("an orphan completion is only logged; the workflow completes normally", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("go");
      },
    });
    const { result, warns } = runBuffered(reg, [
      ...started("wf"),
      h.taskCompleted(99, '"orphan"'),
      h.eventRaised("go"),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(warns).toHaveLength(1);
    expect(unconsumed(warns)).toEqual(["task:99"]);
  });

  // go: Test_BufferedResolution_UnconsumedOrphanWarnsOnBlockedTurn
  it("an orphan completion on a turn that stays blocked is logged and does not fail the workflow", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("go");
      },
    });
    const { result, warns } = runBuffered(reg, [...started("wf"), h.taskCompleted(99, '"orphan"')]);
    expect(kinds(result)).toEqual(["createTimer"]);
    expect(unconsumed(warns)).toEqual(["task:99"]);
  });

  // go: Test_BufferedResolution_FreshContextPerExecution
  it("buffered resolutions do not leak from one execution into the next", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("go");
      },
    });
    const first = runBuffered(reg, [...started("wf"), h.taskCompleted(99, '"orphan"'), h.eventRaised("go")]);
    expect(unconsumed(first.warns)).toEqual(["task:99"]);
    const second = runBuffered(reg, [...started("wf"), h.eventRaised("go")]);
    expect(second.warns).toEqual([]);
  });

  // go: Test_BufferedResolution_TerminatedTurnEmitsOnlyCompletion
  it("a terminated turn emits only the completion, and still logs the orphan", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("go");
      },
    });
    const { result, warns } = runBuffered(reg, [
      ...started("wf"),
      h.taskCompleted(8, '"orphan"'),
      h.executionTerminated('"stop"'),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
    expect(done.result).toBe('"stop"');
    expect(unconsumed(warns)).toEqual(["task:8"]);
  });

  // go: Test_BufferedResolution_ContinueAsNewNoCarryover
  it("continue-as-new does not carry buffered resolutions into the next generation", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("go");
        ctx.continueAsNew(null, { saveEvents: true });
        return null;
      },
    });
    const { result, warns } = runBuffered(reg, [...started("wf"), h.taskCompleted(6, '"orphan"'), h.eventRaised("go")]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    expect(done.carryoverEvents).toEqual([]);
    expect(unconsumed(warns)).toEqual(["task:6"]);
  });

  it("a completion for an unknown id in past events never fails a replay", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.callActivity<string>("act");
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "act"), h.taskCompleted(42, '"stray"')];
    const done = onlyCompletion(runBuffered(reg, [h.workflowStarted(at(1)), h.taskCompleted(1, '"ok"')], past).result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"ok"');
  });
});
