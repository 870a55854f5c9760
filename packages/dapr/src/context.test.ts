// The Dapr-flavoured contexts, run by the real @dt/core engine on hand-built histories.
import {
  type ActivityDefinition,
  defineActivity,
  executeActivity,
  executeWorkflow,
  history,
  Registry,
  type WorkflowGenerator,
  type WorkflowResult,
} from "@dt/core";
import { type HistoryEvent, OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import { WorkflowActivityContext, type WorkflowContext } from "./context.js";
import { RetryPolicy } from "./retry.js";
import { adaptActivity, adaptWorkflow } from "./runtime.js";
import type { TWorkflow } from "./types.js";

const START = new Date("2024-01-01T00:00:00Z");
const INSTANCE = "inst-1";

function turn(workflow: TWorkflow, past: HistoryEvent[], newEvents: HistoryEvent[]): WorkflowResult {
  const registry = new Registry().addWorkflow(adaptWorkflow(workflow), { name: "wf" });
  return executeWorkflow({ instanceId: INSTANCE, pastEvents: past, newEvents }, registry);
}

const started = (input?: unknown) => [
  history.workflowStarted(START),
  history.executionStarted("wf", INSTANCE, input === undefined ? undefined : JSON.stringify(input)),
];

function actions(result: WorkflowResult) {
  return result.actions.map((a) => a.workflowActionType);
}

function completion(result: WorkflowResult) {
  const done = actions(result).find((a) => a.case === "completeWorkflow");
  if (done?.case !== "completeWorkflow") throw new Error(`no completion in ${JSON.stringify(actions(result))}`);
  return done.value;
}

const hello = async (_ctx: WorkflowActivityContext, name: string) => `Hello ${name}`;

describe("WorkflowContext.callActivity", () => {
  it("calls by function (its name), by name and by @dt/core definition, with the input positional", () => {
    const typed: ActivityDefinition<number, number> = defineActivity("double", (_c, n: number) => n * 2);
    const result = turn(
      function* (ctx: WorkflowContext) {
        yield ctx.whenAll([ctx.callActivity(hello, "Tokyo"), ctx.callActivity("byName"), ctx.callActivity(typed, 21)]);
      },
      [],
      started(),
    );
    expect(actions(result).map((a) => (a.case === "scheduleTask" ? [a.value.name, a.value.input] : a.case))).toEqual([
      ["hello", '"Tokyo"'],
      ["byName", undefined],
      ["double", "21"],
    ]);
  });

  it("passes null inputs on (only undefined means none)", () => {
    const result = turn(
      function* (ctx: WorkflowContext) {
        yield ctx.callActivity("hello", null);
      },
      [],
      started(),
    );
    const [call] = actions(result);
    expect(call?.case === "scheduleTask" ? call.value.input : "?").toBe("null");
  });

  it("routes to another app with appId", () => {
    const result = turn(
      function* (ctx: WorkflowContext) {
        yield ctx.callActivity("remote", 1, { appId: "billing" });
      },
      [],
      started(),
    );
    expect(result.actions[0]?.router?.targetAppID).toBe("billing");
  });

  it("retries with a Dapr-named retry policy (options or RetryPolicy) on a durable timer", () => {
    for (const retryPolicy of [
      { maxNumberOfAttempts: 2, firstRetryInterval: 5 },
      new RetryPolicy({ maxNumberOfAttempts: 2, firstRetryIntervalInMilliseconds: 5000 }),
    ]) {
      const wf = function* (ctx: WorkflowContext): WorkflowGenerator {
        return yield ctx.callActivity(hello, "x", { retryPolicy });
      };
      const past = [...started(), history.taskScheduled(1, "hello", '"x"')];
      const retry = actions(turn(wf, past, [history.workflowStarted(START), history.taskFailed(1, new Error("no"))]));
      expect(retry.map((a) => a.case)).toEqual(["createTimer"]);
      const timer = retry[0];
      expect(timer?.case === "createTimer" ? timer.value.origin.case : "").toBe("activityRetry");
      expect(timer?.case === "createTimer" ? Number(timer.value.fireAt?.seconds) * 1000 : 0).toBe(
        START.getTime() + 5000,
      );
    }
  });

  it("a failed activity throws TaskFailedError (ACTIVITY_EXECUTION_FAILED) at the yield", () => {
    const wf = function* (ctx: WorkflowContext) {
      try {
        yield ctx.callActivity(hello, "x");
        return "no";
      } catch (error) {
        return (error as { code: string }).code;
      }
    };
    const past = [...started(), history.taskScheduled(1, "hello", '"x"')];
    const done = completion(turn(wf, past, [history.workflowStarted(START), history.taskFailed(1, new Error("no"))]));
    expect(done.result).toBe('"ACTIVITY_EXECUTION_FAILED"');
  });

  it("refuses an anonymous activity function: the workflow fails with INVALID_ARGUMENT's message", () => {
    const done = completion(
      turn(
        function* (ctx: WorkflowContext) {
          yield ctx.callActivity(() => 1);
        },
        [],
        started(),
      ),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("InvalidArgumentError");
    expect(done.failureDetails?.errorMessage).toMatch(/anonymous activity/);
  });
});

describe("WorkflowContext.callChildWorkflow", () => {
  it("takes the instance id as the third argument or in options, else Dapr's `<parent>:<hex id>`", () => {
    const childWf: TWorkflow = function* () {};
    const result = turn(
      function* (ctx: WorkflowContext) {
        yield ctx.whenAll([
          ctx.callChildWorkflow(childWf, 1, "given"),
          ctx.callChildWorkflow("child", 2, { instanceId: "in-options", appId: "other" }),
          ctx.callSubWorkflow(childWf, 3),
        ]);
      },
      [],
      started(),
    );
    expect(
      actions(result).map((a) =>
        a.case === "createChildWorkflow" ? [a.value.name, a.value.instanceId, a.value.input] : a.case,
      ),
    ).toEqual([
      ["childWf", "given", "1"],
      ["child", "in-options", "2"],
      ["childWf", `${INSTANCE}:0003`, "3"],
    ]);
    expect(result.actions[1]?.router?.targetAppID).toBe("other");
  });
});

describe("WorkflowContext: timers, events, status, continue-as-new, identity", () => {
  it("createTimer takes seconds, a Duration or a Date", () => {
    const at = new Date(START.getTime() + 60_000);
    const result = turn(
      function* (ctx: WorkflowContext) {
        yield ctx.whenAll([ctx.createTimer(5), ctx.createTimer({ minutes: 2 }), ctx.createTimer(at)]);
      },
      [],
      started(),
    );
    expect(actions(result).map((a) => (a.case === "createTimer" ? Number(a.value.fireAt?.seconds) * 1000 : 0))).toEqual(
      [START.getTime() + 5000, START.getTime() + 120_000, at.getTime()],
    );
  });

  it("waitForExternalEvent: buffered events, and a timeout in seconds that fails with WORKFLOW_TIMEOUT", () => {
    const wf = function* (ctx: WorkflowContext) {
      const approved: { by: string } = yield ctx.waitForExternalEvent("Approval");
      try {
        yield ctx.waitForExternalEvent("second", 10);
      } catch (error) {
        return `${approved.by}:${(error as { code: string }).code}`;
      }
      return "no";
    };
    const first = turn(wf, [], [...started(), history.eventRaised("approval", '{"by":"ada"}')]);
    // The first wait has no timeout: Dapr's indefinite timer; the second fires after 10 s.
    const timers = actions(first).map((a) => (a.case === "createTimer" ? Number(a.value.fireAt?.seconds) * 1000 : 0));
    expect(timers).toEqual([253402300799000, START.getTime() + 10_000]);
    const past = [
      ...started(),
      history.indefiniteTimerCreated(1, "Approval"),
      history.eventRaised("approval", '{"by":"ada"}'),
      history.timerCreated(2, new Date(START.getTime() + 10_000), undefined, "second"),
    ];
    const done = completion(turn(wf, past, [history.timerFired(2, new Date(START.getTime() + 10_000))]));
    expect(done.result).toBe('"ada:WORKFLOW_TIMEOUT"');
  });

  it("continueAsNew(newInput, saveEvents) carries unconsumed events over; custom status is JSON unless a string", () => {
    const wf = (ctx: WorkflowContext, n: number) => {
      ctx.setCustomStatus({ n });
      ctx.continueAsNew(n + 1, true);
    };
    const result = turn(wf, [], [...started(1), history.eventRaised("later", '"x"')]);
    const done = completion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    expect(done.result).toBe("2");
    expect(done.carryoverEvents.map((e) => e.eventType.case)).toEqual(["eventRaised"]);
    expect(result.customStatus).toBe('{"n":1}');
    const plain = turn((ctx: WorkflowContext) => ctx.setCustomStatus("step"), [], started());
    expect(plain.customStatus).toBe("step");
    const dropped = completion(
      turn((ctx: WorkflowContext) => ctx.continueAsNew(0), [], [...started(), history.eventRaised("e")]),
    );
    expect(dropped.carryoverEvents).toEqual([]);
  });

  it("identity and time getters are methods, as in @dapr/dapr; replaying is reported", () => {
    const seen: unknown[] = [];
    const wf = function* (ctx: WorkflowContext) {
      seen.push([ctx.getWorkflowInstanceId(), ctx.getWorkflowName(), ctx.getCurrentUtcDateTime().toISOString()]);
      seen.push(ctx.isReplaying());
      yield ctx.createTimer(1);
      seen.push(ctx.isReplaying());
      const [a, b] = [ctx.newGuid(), ctx.newGuid()];
      return [a !== b, ctx.isPatched("p"), ctx.getAppId(), ctx.getParentInstanceId()];
    };
    const fired = new Date(START.getTime() + 1000);
    const past = [...started(), history.timerCreated(1, fired)];
    const done = completion(turn(wf, past, [history.workflowStarted(fired), history.timerFired(1, fired)]));
    expect(seen).toEqual([[INSTANCE, "wf", START.toISOString()], true, false]);
    expect(done.result).toBe("[true,true,null,null]");
  });

  it("whenAny yields the winning task itself", () => {
    const wf = function* (ctx: WorkflowContext): WorkflowGenerator {
      const event = ctx.waitForExternalEvent("go");
      const timeout = ctx.createTimer(60);
      const winner = yield ctx.whenAny([event, timeout]);
      return winner === event ? "event" : "timeout";
    };
    expect(completion(turn(wf, [], [...started(), history.eventRaised("go")])).result).toBe('"event"');
  });
});

describe("WorkflowActivityContext", () => {
  it("tells the workflow instance, the call's id and execution id, and carries the abort signal", async () => {
    const seen: unknown[] = [];
    const activity = (ctx: WorkflowActivityContext, input: string) => {
      seen.push(ctx.signal.aborted, ctx.traceParent, ctx.traceState, ctx.core.name);
      return [
        ctx.getWorkflowInstanceId(),
        ctx.getWorkflowActivityId(),
        ctx.getTaskExecutionId(),
        ctx.getActivityName(),
        input,
      ];
    };
    const registry = new Registry().addActivity(adaptActivity(activity), { name: "act" });
    const outcome = await executeActivity(
      { name: "act", input: '"in"', taskId: 7, taskExecutionId: "exec-1", workflowInstance: { instanceId: INSTANCE } },
      registry,
    );
    expect(outcome.failureDetails).toBeUndefined();
    expect(outcome.result).toBe(`["${INSTANCE}",7,"exec-1","act","in"]`);
    expect(seen).toEqual([false, undefined, undefined, "act"]);
  });

  it("needs the engine's context", () => {
    expect(() => new WorkflowActivityContext(undefined as never)).toThrow(/needs the engine/);
  });
});
