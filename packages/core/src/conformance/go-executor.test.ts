// Replay scenarios of the Go reference SDK (durabletask-go v0.14.0: tests/task_executor_test.go,
// tests/external_event_stale_timer_test.go and the pure-replay parts of tests/orchestrations_test.go), expressed as
// golden history → actions tests. Go numbers actions from 0; ours start at 1, so every Go id is shifted by one.

import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import type { HistoryEvent } from "@dt/proto";
import { describe, expect, it } from "vitest";
import type { WorkflowContext } from "../context.js";
import { WorkflowTimeoutError } from "../errors.js";
import { OrchestrationStatus } from "../history.js";
import { action, at, h, INSTANCE, kinds, onlyCompletion, registry, run, START, started } from "../testing/golden.js";

function date(ts: Timestamp | undefined): Date {
  expect(ts).toBeDefined();
  return timestampDate(ts as Timestamp);
}

const INDEFINITE = { seconds: 253402300799n, nanos: 999_999_999 };
/** The first three newGuid() values of INSTANCE at START (the Dapr Python golden vectors). */
const GUID = [
  "d201625a-bf91-5de9-ac50-56fdd12ee499",
  "aaa1fb15-9c1b-53af-8cab-762babdc6589",
  "19610921-6010-5403-a8bf-115e1984981d",
];

describe("go task executor: external-event timers", () => {
  // go: Test_Executor_WaitForEventSchedulesTimer
  it("waitForExternalEvent with a timeout schedules a timer at now + timeout, named after the event", () => {
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent<number>("MyEvent", { timeout: 5 });
      },
    });
    const result = run(reg, [], started("Workflow"));
    expect(kinds(result)).toEqual(["createTimer"]);
    const timer = action(result, 0, "createTimer");
    expect(timer.id).toBe(1);
    expect(date(timer.fireAt)).toEqual(at(5));
    expect(timer.name).toBe("MyEvent");
    expect(timer.origin.case).toBe("externalEvent");
    expect(timer.origin.value).toMatchObject({ name: "MyEvent" });
  });

  // go: Test_Executor_WaitForEventWithoutTimeout_CreatesInfiniteTimer
  it("waitForExternalEvent without a timeout schedules the indefinite 9999-12-31 timer", () => {
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent<number>("MyEvent");
      },
    });
    const result = run(reg, [], started("Orchestration"));
    expect(kinds(result)).toEqual(["createTimer"]);
    const timer = action(result, 0, "createTimer");
    expect(timer.fireAt).toMatchObject(INDEFINITE);
    expect(timer.name).toBe("MyEvent");
    expect(timer.origin.case).toBe("externalEvent");
    expect(timer.origin.value).toMatchObject({ name: "MyEvent" });
  });

  // go: Test_Executor_CreateTimer_SetsCreateTimerOrigin
  it("createTimer sets the createTimer origin", () => {
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        yield ctx.createTimer(5);
        return null;
      },
    });
    const result = run(reg, [], started("Orchestration"));
    expect(kinds(result)).toEqual(["createTimer"]);
    const timer = action(result, 0, "createTimer");
    expect(timer.origin.case).toBe("createTimer");
    expect(date(timer.fireAt)).toEqual(at(5));
  });

  // go: Test_Executor_WaitForEvent_TimerFiresCancelsTask (Go cancels the task; we throw WorkflowTimeoutError)
  it("the timeout timer firing before the event fails the wait with WorkflowTimeoutError", () => {
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent<number>("MyEvent", { timeout: 5 });
      },
    });
    const past = [
      ...started("Orchestration"),
      h.timerCreated(1, at(5), { case: "externalEvent", value: { name: "MyEvent" } }, "MyEvent"),
    ];
    const done = onlyCompletion(run(reg, past, [h.workflowStarted(at(5)), h.timerFired(1, at(5))]));
    expect(done.id).toBe(2);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("WorkflowTimeoutError");
    expect(done.failureDetails?.errorMessage).toContain("MyEvent");
  });

  it("a caught timeout lets the workflow go on (WorkflowTimeoutError, code WORKFLOW_TIMEOUT)", () => {
    const seen: unknown[] = [];
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        try {
          return yield* ctx.waitForExternalEvent<number>("MyEvent", { timeout: 5 });
        } catch (error) {
          seen.push(error);
          return "timed out";
        }
      },
    });
    const past = [
      ...started("Orchestration"),
      h.timerCreated(1, at(5), { case: "externalEvent", value: { name: "MyEvent" } }, "MyEvent"),
    ];
    const done = onlyCompletion(run(reg, past, [h.workflowStarted(at(5)), h.timerFired(1, at(5))]));
    expect(done.result).toBe('"timed out"');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(WorkflowTimeoutError);
    expect((seen[0] as WorkflowTimeoutError).code).toBe("WORKFLOW_TIMEOUT");
  });

  // go: Test_Executor_SuspendStopsAllActions
  it("a suspended workflow returns no actions, not even its event timer", () => {
    const reg = registry({
      SuspendResumeWorkflow: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent<number>("MyEvent", { timeout: 5 });
      },
    });
    const result = run(reg, [], [...started("SuspendResumeWorkflow"), h.executionSuspended()]);
    expect(result.actions).toEqual([]);
  });
});

describe("go task executor: replaying histories from before indefinite-wait timers", () => {
  // go: Test_Executor_Replay_PrePatchIndefiniteWaitForEvent
  it("drops the optional timer and shifts the activity onto the history's id", () => {
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent<number>("MyEvent");
        return yield* ctx.callActivity<string>("MyActivity");
      },
    });
    const past = [...started("Orchestration"), h.eventRaised("MyEvent", "42"), h.taskScheduled(1, "MyActivity")];
    const result = run(reg, past, [h.workflowStarted(START), h.taskCompleted(1, '"ok"')]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"ok"');
    expect(done.id).toBe(2);
  });

  // go: Test_Executor_Replay_PostPatchIndefiniteWaitForEvent
  it("matches the indefinite timer of a current history without dropping anything", () => {
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent<number>("MyEvent");
      },
    });
    const past = [...started("Orchestration"), h.indefiniteTimerCreated(1, "MyEvent")];
    const done = onlyCompletion(run(reg, past, [h.workflowStarted(at(1)), h.eventRaised("MyEvent", "42")]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("42");
    expect(done.id).toBe(2);
  });

  it("a current history keeps the child's id after the indefinite timer (no shift)", () => {
    const reg = registry({
      Parent: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("MyEvent");
        return yield* ctx.callChildWorkflow<string>("Child");
      },
    });
    const past = [
      ...started("Parent"),
      h.indefiniteTimerCreated(1, "MyEvent"),
      h.workflowStarted(at(1)),
      h.eventRaised("MyEvent", "1"),
      h.childWorkflowCreated(2, "Child", `${INSTANCE}:0002`),
    ];
    const done = onlyCompletion(run(reg, past, [h.workflowStarted(at(2)), h.childWorkflowCompleted(2, '"r"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"r"');
    expect(done.id).toBe(3);
  });

  // go: Test_Executor_Replay_PrePatchIndefiniteWaitForEvent_ChildWorkflow
  it("drops the optional timer and shifts a child workflow onto the history's id", () => {
    const reg = registry({
      Parent: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent<number>("MyEvent");
        return yield* ctx.callChildWorkflow<string>("Child");
      },
      Child: () => "child-result",
    });
    const past = [...started("Parent"), h.eventRaised("MyEvent", "1"), h.childWorkflowCreated(1, "Child", "child-1")];
    const result = run(reg, past, [h.workflowStarted(START), h.childWorkflowCompleted(1, '"child-result"')]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"child-result"');
  });

  // go: Test_Executor_Replay_PrePatchIndefiniteWaitForEvent_RealTimer
  it("drops the optional timer when history has a real createTimer at its id", () => {
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        const v = yield* ctx.waitForExternalEvent<number>("MyEvent");
        yield ctx.createTimer(5);
        return v;
      },
    });
    const past = [...started("Orchestration"), h.eventRaised("MyEvent", "7"), h.timerCreated(1, at(5))];
    const done = onlyCompletion(run(reg, past, [h.workflowStarted(at(5)), h.timerFired(1, at(5))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("7");
    expect(done.id).toBe(2);
  });

  // go: Test_Executor_Replay_PrePatchIndefiniteWaitForEvent_Multiple
  it("drops two optional timers, shifting ids each time", () => {
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("EventA");
        const a = yield* ctx.callActivity<string>("ActA");
        yield ctx.waitForExternalEvent("EventB");
        const b = yield* ctx.callActivity<string>("ActB");
        return a + b;
      },
    });
    const past = [
      ...started("Orchestration"),
      h.eventRaised("EventA", "1"),
      h.taskScheduled(1, "ActA"),
      h.taskCompleted(1, '"a"'),
      h.eventRaised("EventB", "2"),
      h.taskScheduled(2, "ActB"),
    ];
    const done = onlyCompletion(run(reg, past, [h.workflowStarted(START), h.taskCompleted(2, '"b"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"ab"');
    expect(done.id).toBe(3);
  });

  it("an old history still pending on the activity emits nothing new (the dropped timer does not leak)", () => {
    const reg = registry({
      Orchestration: function* (ctx: WorkflowContext) {
        yield ctx.waitForExternalEvent("MyEvent");
        return yield* ctx.callActivity<string>("MyActivity");
      },
    });
    const past = [...started("Orchestration"), h.eventRaised("MyEvent", "42"), h.taskScheduled(1, "MyActivity")];
    const result = run(reg, past, [h.workflowStarted(at(1)), h.eventRaised("Other", "0")]);
    expect(result.actions).toEqual([]);
  });
});

describe("go task executor: terminate", () => {
  const ping = function* (ctx: WorkflowContext) {
    yield ctx.callActivity("Ping");
    yield ctx.callActivity("Ping");
    return "done";
  };

  // go: Test_Executor_TerminateStopsSubsequentEvents
  it("events after the terminate in the same batch do not resume the workflow", () => {
    const reg = registry({ Workflow: ping });
    const past = [...started("Workflow"), h.taskScheduled(1, "Ping")];
    const result = run(reg, past, [
      h.workflowStarted(at(1)),
      h.executionTerminated('"stop"'),
      h.taskCompleted(1, '"pong"'),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
    expect(done.result).toBe('"stop"');
  });

  // go: Test_Executor_TerminateBeforeTimerFired
  it("a timer firing after the terminate in the same batch does not resume the workflow", () => {
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        yield ctx.createTimer(5);
        yield ctx.callActivity("Ping");
        return "done";
      },
    });
    const past = [...started("Workflow"), h.timerCreated(1, at(5))];
    const result = run(reg, past, [h.workflowStarted(at(5)), h.executionTerminated('"stop"'), h.timerFired(1, at(5))]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
    expect(done.result).toBe('"stop"');
  });

  // go: Test_Executor_TerminateBeatsContinueAsNew
  describe("terminate beats continue-as-new in the same batch", () => {
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("Ping");
        ctx.continueAsNew(null);
        return null;
      },
    });
    const past = [...started("Workflow"), h.taskScheduled(1, "Ping")];
    it.each([
      ["terminate first", [h.workflowStarted(at(1)), h.executionTerminated('"stop"'), h.taskCompleted(1, '"pong"')]],
      ["terminate last", [h.workflowStarted(at(1)), h.taskCompleted(1, '"pong"'), h.executionTerminated('"stop"')]],
    ] as [string, HistoryEvent[]][])("%s", (_name, newEvents) => {
      const done = onlyCompletion(run(reg, past, newEvents));
      expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
      expect(done.result).toBe('"stop"');
      expect(done.carryoverEvents).toEqual([]);
    });
  });

  // go: Test_Executor_CompletionBeforeTerminateWins
  it("a completion decided before the terminate in the same batch wins", () => {
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("Ping");
        return "done";
      },
    });
    const past = [...started("Workflow"), h.taskScheduled(1, "Ping")];
    const result = run(reg, past, [
      h.workflowStarted(at(1)),
      h.taskCompleted(1, '"pong"'),
      h.executionTerminated('"stop"'),
    ]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"done"');
    expect(done.id).toBe(2);
  });

  // go: Test_Executor_TerminateWhileSuspended
  it("a terminate while suspended still completes the workflow, with nothing else", () => {
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent<number>("MyEvent", { timeout: 5 });
      },
    });
    const result = run(reg, [], [...started("Workflow"), h.executionSuspended(), h.executionTerminated('"stop"')]);
    const done = onlyCompletion(result);
    expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
    expect(done.result).toBe('"stop"');
  });
});

describe("go task executor: ordering", () => {
  // go: Test_Executor_ActionsDeterministicOrder
  it("returns actions sorted by sequence id", () => {
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        const tasks = [0, 1, 2, 3, 4].map(() => ctx.callActivity("Ping"));
        for (const task of tasks) yield task;
        return null;
      },
    });
    const result = run(reg, [], started("Workflow"));
    expect(result.actions.map((a) => a.id)).toEqual([1, 2, 3, 4, 5]);
    expect(kinds(result)).toEqual(Array(5).fill("scheduleTask"));
  });

  // go: Test_ConcurrentTimers
  it("three concurrent timers take ids 1-3 and the workflow completes once all fired", () => {
    const reg = registry({
      TimerFanOut: function* (ctx: WorkflowContext) {
        const timers = [0, 1, 2].map(() => ctx.createTimer(1));
        for (const timer of timers) yield timer;
        return null;
      },
    });
    const first = run(reg, [], started("TimerFanOut"));
    expect(kinds(first)).toEqual(["createTimer", "createTimer", "createTimer"]);
    expect(first.actions.map((a) => a.id)).toEqual([1, 2, 3]);
    const past = [
      ...started("TimerFanOut"),
      h.timerCreated(1, at(1)),
      h.timerCreated(2, at(1)),
      h.timerCreated(3, at(1)),
    ];
    const partial = run(reg, past, [h.workflowStarted(at(1)), h.timerFired(2, at(1)), h.timerFired(1, at(1))]);
    expect(partial.actions).toEqual([]);
    const done = onlyCompletion(
      run(
        reg,
        [...past, h.workflowStarted(at(1)), h.timerFired(2, at(1)), h.timerFired(1, at(1))],
        [h.workflowStarted(at(2)), h.timerFired(3, at(1))],
      ),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("null");
    expect(done.id).toBe(4);
  });
});

describe("go: stale timers of satisfied external-event waits", () => {
  // go: Test_ExternalEvent_RaisedBeforeTimeout_SurvivesStaleTimerFired
  it("an event raised before its timeout survives the timeout timer firing later", () => {
    const reg = registry({
      EventThenStaleTimer: function* (ctx: WorkflowContext) {
        const wait = ctx.waitForExternalEvent<number>("A", { timeout: 2 });
        yield ctx.createTimer(4);
        return yield* wait;
      },
    });
    const first = run(reg, [], started("EventThenStaleTimer"));
    expect(kinds(first)).toEqual(["createTimer", "createTimer"]);
    expect(date(action(first, 0, "createTimer").fireAt)).toEqual(at(2));
    expect(date(action(first, 1, "createTimer").fireAt)).toEqual(at(4));

    const turn1 = [
      ...started("EventThenStaleTimer"),
      h.timerCreated(1, at(2), { case: "externalEvent", value: { name: "A" } }, "A"),
      h.timerCreated(2, at(4)),
    ];
    const turn2 = [h.workflowStarted(at(0.5)), h.eventRaised("A", "42")];
    expect(run(reg, turn1, turn2).actions).toEqual([]);
    const turn3 = [h.workflowStarted(at(2)), h.timerFired(1, at(2))];
    expect(run(reg, [...turn1, ...turn2], turn3).actions).toEqual([]);
    const turn4 = [h.workflowStarted(at(4)), h.timerFired(2, at(4))];
    const done = onlyCompletion(run(reg, [...turn1, ...turn2, ...turn3], turn4));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("42");
    expect(done.id).toBe(3);
  });

  // go: Test_ExternalEvent_ReceiveLoop_SecondEventAfterStaleTimerFired
  it("the stale timer of a first wait does not disturb a second wait for the same event", () => {
    const reg = registry({
      EventReceiveLoop: function* (ctx: WorkflowContext) {
        const v1 = yield* ctx.waitForExternalEvent<number>("A", { timeout: 2 });
        const v2 = yield* ctx.waitForExternalEvent<number>("A", { timeout: 10 });
        return [v1, v2];
      },
    });
    const turn1 = [
      ...started("EventReceiveLoop"),
      h.timerCreated(1, at(2), { case: "externalEvent", value: { name: "A" } }, "A"),
    ];
    const turn2 = [h.workflowStarted(at(1)), h.eventRaised("A", "1")];
    const second = run(reg, turn1, turn2);
    expect(kinds(second)).toEqual(["createTimer"]);
    const timer = action(second, 0, "createTimer");
    expect(timer.id).toBe(2);
    expect(date(timer.fireAt)).toEqual(at(11));
    expect(timer.origin.value).toMatchObject({ name: "A" });

    const past = [...turn1, ...turn2, h.timerCreated(2, at(11), { case: "externalEvent", value: { name: "A" } }, "A")];
    const turn3 = [h.workflowStarted(at(2)), h.timerFired(1, at(2))];
    expect(run(reg, past, turn3).actions).toEqual([]);
    const turn4 = [h.workflowStarted(at(5)), h.eventRaised("A", "2")];
    const done = onlyCompletion(run(reg, [...past, ...turn3], turn4));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("[1,2]");
    expect(done.id).toBe(3);
  });
});

describe("go orchestrations: replay semantics", () => {
  // go: Test_IsReplaying
  it("isReplaying is true for past events and false from the first new event on", () => {
    const reg = registry({
      IsReplayingOrch: function* (ctx: WorkflowContext) {
        const values = [ctx.isReplaying];
        yield ctx.createTimer(0);
        values.push(ctx.isReplaying);
        yield ctx.createTimer(0);
        values.push(ctx.isReplaying);
        return values;
      },
    });
    const turn1 = [...started("IsReplayingOrch"), h.timerCreated(1, START)];
    const turn2 = [h.workflowStarted(at(1)), h.timerFired(1, START), h.timerCreated(2, at(1))];
    const done = onlyCompletion(run(reg, [...turn1, ...turn2], [h.workflowStarted(at(2)), h.timerFired(2, at(1))]));
    expect(done.result).toBe("[true,true,false]");

    // On the first turn the code runs live.
    const seen: boolean[] = [];
    const live = registry({
      IsReplayingOrch: function* (ctx: WorkflowContext) {
        seen.push(ctx.isReplaying);
        yield ctx.createTimer(0);
      },
    });
    run(live, [], started("IsReplayingOrch"));
    expect(seen).toEqual([false]);
  });

  // go: Test_ExternalEventContention
  it("an event that arrives after its wait timed out is kept and carried over by continue-as-new", () => {
    const reg = registry({
      ContinueAsNewTest: function* (ctx: WorkflowContext) {
        let data: number | undefined;
        try {
          data = yield* ctx.waitForExternalEvent<number>("MyEventData", { timeout: 1 });
        } catch (error) {
          if (!(error instanceof WorkflowTimeoutError)) throw error;
        }
        const complete = yield* ctx.waitForExternalEvent<boolean>("MyEventSignal");
        if (complete) return data;
        ctx.continueAsNew(null, { saveEvents: true });
        return null;
      },
    });
    const past = [
      ...started("ContinueAsNewTest"),
      h.timerCreated(1, at(1), { case: "externalEvent", value: { name: "MyEventData" } }, "MyEventData"),
      h.workflowStarted(at(1)),
      h.timerFired(1, at(1)),
      h.indefiniteTimerCreated(2, "MyEventSignal"),
    ];
    const gen1 = onlyCompletion(
      run(reg, past, [
        h.workflowStarted(at(3)),
        h.eventRaised("MyEventData", "42"),
        h.eventRaised("MyEventSignal", "false"),
        h.eventRaised("MyEventSignal", "true"),
      ]),
    );
    expect(gen1.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    expect(gen1.result).toBe("null");
    expect(gen1.carryoverEvents.map((e) => e.eventType.value)).toMatchObject([
      { name: "MyEventData", input: "42" },
      { name: "MyEventSignal", input: "true" },
    ]);

    const gen2 = onlyCompletion(
      run(
        reg,
        [],
        [h.workflowStarted(at(3)), h.executionStarted("ContinueAsNewTest", INSTANCE, "null"), ...gen1.carryoverEvents],
      ),
    );
    expect(gen2.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(gen2.result).toBe("42");
  });

  // go: Test_ContinueAsNew_Events
  it("continue-as-new with saveEvents carries the unconsumed events through ten generations", () => {
    const reg = registry({
      ContinueAsNewTest: function* (ctx: WorkflowContext, input: number) {
        const complete = yield* ctx.waitForExternalEvent<boolean>("MyEvent");
        if (complete) return input;
        ctx.continueAsNew(input + 1, { saveEvents: true });
        return null;
      },
    });
    const raised = [...Array(10).fill("false"), "true"].map((v) => h.eventRaised("MyEvent", v));
    let events: HistoryEvent[] = [...started("ContinueAsNewTest", 0), ...raised];
    let generations = 0;
    for (;;) {
      generations++;
      expect(generations).toBeLessThanOrEqual(11);
      const done = onlyCompletion(run(reg, [], events));
      if (done.workflowStatus !== OrchestrationStatus.CONTINUED_AS_NEW) {
        expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
        expect(done.result).toBe("10");
        break;
      }
      expect(done.carryoverEvents).toHaveLength(11 - generations);
      events = [
        h.workflowStarted(START),
        h.executionStarted("ContinueAsNewTest", INSTANCE, done.result),
        ...done.carryoverEvents,
      ];
    }
    expect(generations).toBe(11);
  });

  // go: Test_ActivityTraceContext
  it("ctx.traceParent and traceState come from ExecutionStarted.parentTraceContext", () => {
    const traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const reg = registry({
      TraceContextWorkflow: (ctx: WorkflowContext) => [ctx.traceParent, ctx.traceState ?? null],
    });
    const traced = onlyCompletion(
      run(
        reg,
        [],
        [
          h.workflowStarted(START),
          h.executionStarted("TraceContextWorkflow", INSTANCE, undefined, { traceParent, traceState: "k=v" }),
        ],
      ),
    );
    expect(traced.result).toBe(JSON.stringify([traceParent, "k=v"]));
    const untraced = onlyCompletion(run(reg, [], started("TraceContextWorkflow")));
    expect(untraced.result).toBe("[null,null]");
  });
});

describe("go orchestrations: retries", () => {
  const policy = { maxNumberOfAttempts: 3, firstRetryInterval: { milliseconds: 10 } };
  const ms = (n: number) => new Date(START.getTime() + n);

  // go: Test_ActivityRetries
  it("an activity failing every attempt retries twice (ids 1,3,5 with timers 2,4) and then fails", () => {
    const reg = registry({
      ActivityRetries: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("FailActivity", { retryPolicy: policy });
        return null;
      },
    });
    const failure = { errorType: "Error", errorMessage: "activity failure" };
    const turn1 = [...started("ActivityRetries"), h.taskScheduled(1, "FailActivity", undefined, GUID[0])];

    const retry1 = run(reg, turn1, [h.workflowStarted(ms(5)), h.taskFailed(1, failure)]);
    expect(kinds(retry1)).toEqual(["createTimer"]);
    const timer1 = action(retry1, 0, "createTimer");
    expect(timer1.id).toBe(2);
    expect(timer1.name).toBe("FailActivity-retry");
    expect(date(timer1.fireAt)).toEqual(ms(15));
    expect(timer1.origin.case).toBe("activityRetry");
    expect(timer1.origin.value).toMatchObject({ taskExecutionId: GUID[0] });

    const turn2 = [h.workflowStarted(ms(5)), h.taskFailed(1, failure), h.timerCreated(2, ms(15))];
    const attempt2 = run(reg, [...turn1, ...turn2], [h.workflowStarted(ms(15)), h.timerFired(2, ms(15))]);
    expect(kinds(attempt2)).toEqual(["scheduleTask"]);
    expect(attempt2.actions[0]?.id).toBe(3);

    const turn3 = [h.workflowStarted(ms(15)), h.timerFired(2, ms(15)), h.taskScheduled(3, "FailActivity")];
    const turn4 = [h.workflowStarted(ms(20)), h.taskFailed(3, failure), h.timerCreated(4, ms(30))];
    const turn5 = [h.workflowStarted(ms(30)), h.timerFired(4, ms(30)), h.taskScheduled(5, "FailActivity")];
    const done = onlyCompletion(
      run(
        reg,
        [...turn1, ...turn2, ...turn3, ...turn4, ...turn5],
        [h.workflowStarted(ms(40)), h.taskFailed(5, failure)],
      ),
    );
    expect(done.id).toBe(6);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Activity 'FailActivity' (task #5) failed: activity failure");
  });

  // go: Test_TaskExecutionId (SingleActivityWithRetry, SingleActivityWithNoRetry)
  it("the taskExecutionId is a newGuid() taken at the call and stays the same across retries", () => {
    const reg = registry({
      TaskExecutionID: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("FailActivity", { input: "in", retryPolicy: policy });
        return null;
      },
    });
    const first = run(reg, [], started("TaskExecutionID"));
    const attempt1 = action(first, 0, "scheduleTask");
    expect(attempt1.taskExecutionId).toBe(GUID[0]);

    const failure = { errorType: "Error", errorMessage: "activity failure" };
    const past = [
      ...started("TaskExecutionID"),
      h.taskScheduled(1, "FailActivity", '"in"', GUID[0]),
      h.workflowStarted(ms(5)),
      h.taskFailed(1, failure),
      h.timerCreated(2, ms(15)),
    ];
    const retry = run(reg, past, [h.workflowStarted(ms(15)), h.timerFired(2, ms(15))]);
    const attempt2 = action(retry, 0, "scheduleTask");
    expect(attempt2.id).toBe(3);
    expect(attempt2.name).toBe("FailActivity");
    expect(attempt2.input).toBe('"in"');
    expect(attempt2.taskExecutionId).toBe(GUID[0]);
  });

  // go: Test_TaskExecutionId (ParallelActivityWithRetry)
  it("parallel activities get distinct taskExecutionIds, each stable across its retries", () => {
    const reg = registry({
      TaskExecutionID: function* (ctx: WorkflowContext) {
        const t1 = ctx.callActivity("FailActivity", { retryPolicy: policy });
        const t2 = ctx.callActivity("FailActivity", { retryPolicy: policy });
        yield t1;
        yield t2;
        return null;
      },
    });
    const first = run(reg, [], started("TaskExecutionID"));
    expect(first.actions.map((a) => a.id)).toEqual([1, 2]);
    expect(action(first, 0, "scheduleTask").taskExecutionId).toBe(GUID[0]);
    expect(action(first, 1, "scheduleTask").taskExecutionId).toBe(GUID[1]);

    const failure = { errorType: "Error", errorMessage: "activity failure" };
    const past = [
      ...started("TaskExecutionID"),
      h.taskScheduled(1, "FailActivity", undefined, GUID[0]),
      h.taskScheduled(2, "FailActivity", undefined, GUID[1]),
      h.workflowStarted(ms(5)),
      h.taskFailed(2, failure),
      h.taskFailed(1, failure),
      h.timerCreated(3, ms(15)),
      h.timerCreated(4, ms(15)),
    ];
    const retries = run(reg, past, [h.workflowStarted(ms(15)), h.timerFired(4, ms(15)), h.timerFired(3, ms(15))]);
    expect(kinds(retries)).toEqual(["scheduleTask", "scheduleTask"]);
    // Timer 3 was armed by task 2's failure (processed first), timer 4 by task 1's. Timer 4 fires first: id 5.
    expect(action(retries, 0, "scheduleTask")).toMatchObject({ id: 5, taskExecutionId: GUID[0] });
    expect(action(retries, 1, "scheduleTask")).toMatchObject({ id: 6, taskExecutionId: GUID[1] });
  });

  // go: Test_SingleChildWorkflow_Failed_Retries
  it("a child with an explicit instance id keeps it on every retry; retries point at the first attempt", () => {
    const childId = `${INSTANCE}_child`;
    const reg = registry({
      Parent: function* (ctx: WorkflowContext) {
        yield ctx.callChildWorkflow("Child", {
          instanceId: `${ctx.instanceId}_child`,
          retryPolicy: { ...policy, backoffCoefficient: 2 },
        });
        return null;
      },
    });
    const failure = { errorType: "Error", errorMessage: "Child failed" };
    const first = run(reg, [], started("Parent"));
    const attempt1 = action(first, 0, "createChildWorkflow");
    expect(attempt1).toMatchObject({ id: 1, name: "Child", instanceId: childId });
    expect(attempt1.retryParentInstanceInfo).toBeUndefined();

    const turn1 = [...started("Parent"), h.childWorkflowCreated(1, "Child", childId)];
    const retry1 = run(reg, turn1, [h.workflowStarted(ms(5)), h.childWorkflowFailed(1, failure)]);
    const timer1 = action(retry1, 0, "createTimer");
    expect(timer1.id).toBe(2);
    expect(timer1.name).toBe("Child-retry");
    expect(date(timer1.fireAt)).toEqual(ms(15));
    expect(timer1.origin.case).toBe("childWorkflowRetry");
    expect(timer1.origin.value).toMatchObject({ instanceId: childId });

    const turn2 = [h.workflowStarted(ms(5)), h.childWorkflowFailed(1, failure), h.timerCreated(2, ms(15))];
    const again = run(reg, [...turn1, ...turn2], [h.workflowStarted(ms(15)), h.timerFired(2, ms(15))]);
    const attempt2 = action(again, 0, "createChildWorkflow");
    expect(attempt2).toMatchObject({ id: 3, name: "Child", instanceId: childId });
    expect(attempt2.retryParentInstanceInfo?.instanceID).toBe(childId);

    const turn3 = [h.workflowStarted(ms(15)), h.timerFired(2, ms(15)), h.childWorkflowCreated(3, "Child", childId)];
    const retry2 = run(
      reg,
      [...turn1, ...turn2, ...turn3],
      [h.workflowStarted(ms(20)), h.childWorkflowFailed(3, failure)],
    );
    const timer2 = action(retry2, 0, "createTimer");
    expect(timer2.id).toBe(4);
    expect(date(timer2.fireAt)).toEqual(ms(40)); // 10 ms * 2^1
    expect(timer2.origin.value).toMatchObject({ instanceId: childId });

    const turn4 = [h.workflowStarted(ms(20)), h.childWorkflowFailed(3, failure), h.timerCreated(4, ms(40))];
    const turn5 = [h.workflowStarted(ms(40)), h.timerFired(4, ms(40)), h.childWorkflowCreated(5, "Child", childId)];
    const done = onlyCompletion(
      run(
        reg,
        [...turn1, ...turn2, ...turn3, ...turn4, ...turn5],
        [h.workflowStarted(ms(50)), h.childWorkflowFailed(5, failure)],
      ),
    );
    expect(done.id).toBe(6);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Child workflow 'Child' (task #5) failed: Child failed");
  });

  // go: Test_SingleChildWorkflow_Failed_Retries_AutoInstanceID
  it("a child with a default instance id gets a new id per attempt; retries point at the first one", () => {
    const reg = registry({
      Parent: function* (ctx: WorkflowContext) {
        yield ctx.callChildWorkflow("Child", { retryPolicy: { ...policy, backoffCoefficient: 2 } });
        return null;
      },
    });
    const failure = { errorType: "Error", errorMessage: "Child failed" };
    const id = (n: number) => `${INSTANCE}:000${n}`;
    expect(action(run(reg, [], started("Parent")), 0, "createChildWorkflow").instanceId).toBe(id(1));

    const turn1 = [...started("Parent"), h.childWorkflowCreated(1, "Child", id(1))];
    const retry1 = run(reg, turn1, [h.workflowStarted(ms(5)), h.childWorkflowFailed(1, failure)]);
    const timer1 = action(retry1, 0, "createTimer");
    expect(timer1.origin.case).toBe("childWorkflowRetry");
    expect(timer1.origin.value).toMatchObject({ instanceId: id(1) });

    const turn2 = [h.workflowStarted(ms(5)), h.childWorkflowFailed(1, failure), h.timerCreated(2, ms(15))];
    const again = run(reg, [...turn1, ...turn2], [h.workflowStarted(ms(15)), h.timerFired(2, ms(15))]);
    const attempt2 = action(again, 0, "createChildWorkflow");
    expect(attempt2).toMatchObject({ id: 3, instanceId: id(3) });
    expect(attempt2.retryParentInstanceInfo?.instanceID).toBe(id(1));

    const turn3 = [h.workflowStarted(ms(15)), h.timerFired(2, ms(15)), h.childWorkflowCreated(3, "Child", id(3))];
    const retry2 = run(
      reg,
      [...turn1, ...turn2, ...turn3],
      [h.workflowStarted(ms(20)), h.childWorkflowFailed(3, failure)],
    );
    const timer2 = action(retry2, 0, "createTimer");
    expect(timer2.id).toBe(4);
    expect(timer2.origin.value).toMatchObject({ instanceId: id(1) });

    const turn4 = [h.workflowStarted(ms(20)), h.childWorkflowFailed(3, failure), h.timerCreated(4, ms(40))];
    const third = run(
      reg,
      [...turn1, ...turn2, ...turn3, ...turn4],
      [h.workflowStarted(ms(40)), h.timerFired(4, ms(40))],
    );
    const attempt3 = action(third, 0, "createChildWorkflow");
    expect(attempt3).toMatchObject({ id: 5, instanceId: id(5) });
    expect(attempt3.retryParentInstanceInfo?.instanceID).toBe(id(1));

    const turn5 = [h.workflowStarted(ms(40)), h.timerFired(4, ms(40)), h.childWorkflowCreated(5, "Child", id(5))];
    const done = onlyCompletion(
      run(
        reg,
        [...turn1, ...turn2, ...turn3, ...turn4, ...turn5],
        [h.workflowStarted(ms(50)), h.childWorkflowFailed(5, failure)],
      ),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toContain("Child failed");
  });
});
