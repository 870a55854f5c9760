// Conformance: the Dapr Python SDK's executor suite (tests/durabletask/test_orchestration_executor.py, 38 items),
// ported as golden history-in → actions-out tests and adapted to this engine's semantics (ids shared by every
// action, wait-all whenAll, indefinite external-event timers, compact JSON, our error messages). Then the retry
// table of seed_python.md §3.4 and the edge behaviours of §3.7, as fixed behaviour.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type HistoryEvent, OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import type { WorkflowContext } from "../context.js";
import type { WorkflowResult } from "../engine.js";
import { NonRetryableError } from "../errors.js";
import type { Registry } from "../registry.js";
import { Task, whenAll, whenAny } from "../task.js";
import { action, at, h, INSTANCE, kinds, onlyCompletion, registry, run, START, started } from "../testing/golden.js";

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** The golden GUID for instance `abc123` at START, counter 0 (seed_python.md §2.2): the first call's taskExecutionId. */
const GUID0 = "d201625a-bf91-5de9-ac50-56fdd12ee499";
/** 9999-12-31T23:59:59.999999999Z, the fireAt of an indefinite external-event wait. */
const INDEFINITE = { seconds: 253402300799n, nanos: 999_999_999 };

/** `value`, plus `file:line:` of the line that called `withLine` (to find that line in stack traces). */
function withLine<T>(value: T): { value: T; line: string } {
  const frame = new Error().stack?.split("\n")[2] ?? "";
  const match = /\(?((?:file:\/\/)?[^\s()]+):(\d+):\d+\)?\s*$/.exec(frame);
  if (match === null) throw new Error(`cannot parse stack frame: ${frame}`);
  return { value, line: `${(match[1] ?? "").replace(/^file:\/\//, "")}:${match[2]}:` };
}

const fireAt = (a: { fireAt?: { seconds: bigint; nanos: number } | undefined }) =>
  a.fireAt === undefined ? undefined : timestampDate(a.fireAt as Parameters<typeof timestampDate>[0]).toISOString();

/** The history events with which the sidecar records this turn's actions (scheduling events only). */
function recorded(result: WorkflowResult): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const a of result.actions) {
    const t = a.workflowActionType;
    switch (t.case) {
      case "scheduleTask":
        events.push(h.taskScheduled(a.id, t.value.name, t.value.input, t.value.taskExecutionId));
        break;
      case "createTimer": {
        const ts = t.value.fireAt;
        if (ts === undefined) throw new Error("timer without fireAt");
        if (t.value.origin.case === "externalEvent" && ts.seconds === INDEFINITE.seconds) {
          events.push(h.indefiniteTimerCreated(a.id, t.value.name ?? ""));
        } else {
          events.push(h.timerCreated(a.id, timestampDate(ts), t.value.origin, t.value.name));
        }
        break;
      }
      case "createChildWorkflow":
        events.push(h.childWorkflowCreated(a.id, t.value.name, t.value.instanceId, t.value.input));
        break;
      case "sendEvent":
        events.push(h.eventSent(a.id, t.value.instance?.instanceId ?? "", t.value.name, t.value.data));
        break;
      default:
        break;
    }
  }
  return events;
}

/** Drives an instance turn by turn; each turn's actions are recorded into history as the sidecar would. */
class Instance {
  past: HistoryEvent[] = [];
  constructor(readonly reg: Registry) {}
  turn(newEvents: HistoryEvent[]): WorkflowResult {
    const result = run(this.reg, this.past, newEvents);
    this.past = [...this.past, ...newEvents, ...recorded(result)];
    return result;
  }
}

const failure = (errorType: string, errorMessage: string) => ({ errorType, errorMessage });

// ---------------------------------------------------------------------------------------------------------------

describe("python test_orchestration_executor.py", () => {
  it("test_orchestrator_inputs: input, instance id, turn time and isReplaying reach the code", () => {
    // python: test_orchestrator_inputs
    const reg = registry({
      orchestrator: (ctx: WorkflowContext, input: number) => [
        input,
        ctx.instanceId,
        ctx.currentUtcDateTime.toISOString(),
        ctx.isReplaying,
      ],
    });
    const done = onlyCompletion(run(reg, [], started("orchestrator", 42)));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('[42,"abc123","2020-01-01T12:00:00.000Z",false]');
    expect(done.id).toBe(1);
  });

  it("test_complete_orchestration_actions: a plain function completes with its JSON result", () => {
    // python: test_complete_orchestration_actions (no WorkflowStarted, as in the Python test)
    const reg = registry({ empty_orchestrator: () => "done" });
    const done = onlyCompletion(run(reg, [], [h.executionStarted("empty_orchestrator", INSTANCE)]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"done"');
  });

  it("test_orchestrator_not_registered: FAILED with WorkflowNotRegisteredError", () => {
    // python: test_orchestrator_not_registered
    const reg = registry({ other: () => null });
    const done = onlyCompletion(run(reg, [], [h.executionStarted("Bogus", INSTANCE)]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("WorkflowNotRegisteredError");
    expect(done.failureDetails?.errorMessage).toContain("'Bogus'");
  });

  it("test_create_timer_actions: createTimer(now + 1 s) is action 1 firing at START + 1 s", () => {
    // python: test_create_timer_actions
    const reg = registry({
      delay_orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.createTimer(new Date(ctx.currentUtcDateTime.getTime() + 1000));
        return "done";
      },
    });
    const result = run(reg, [], started("delay_orchestrator"));
    expect(kinds(result)).toEqual(["createTimer"]);
    const timer = action(result, 0, "createTimer");
    expect(timer.id).toBe(1);
    expect(fireAt(timer)).toBe(at(1).toISOString());
    expect(timer.origin.case).toBe("createTimer");
  });

  it("test_timer_fired_completion: the timer fires and the workflow completes", () => {
    // python: test_timer_fired_completion
    const reg = registry({
      delay_orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.createTimer(new Date(ctx.currentUtcDateTime.getTime() + 1000));
        return "done";
      },
    });
    const past = [...started("delay_orchestrator"), h.timerCreated(1, at(1))];
    const done = onlyCompletion(run(reg, past, [h.timerFired(1, at(1))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"done"');
    expect(done.id).toBe(2);
  });

  it("test_schedule_activity_actions: scheduleTask id 1 with the activity name and JSON input", () => {
    // python: test_schedule_activity_actions
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext, input: number) {
        yield ctx.callActivity("dummy_activity", { input });
      },
    });
    const result = run(reg, [], started("orchestrator", 42));
    expect(kinds(result)).toEqual(["scheduleTask"]);
    const task = action(result, 0, "scheduleTask");
    expect(task.id).toBe(1);
    expect(task.name).toBe("dummy_activity");
    expect(task.input).toBe("42");
    expect(task.taskExecutionId).toBe(GUID0);
    expect(task.router).toBeUndefined();
  });

  it("test_schedule_activity_actions_router_without_app_id: the action carries router {sourceAppID}", () => {
    // python: test_schedule_activity_actions_router_without_app_id
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("dummy_activity", { input: 42 });
      },
    });
    const events = [
      h.workflowStarted(START),
      h.executionStarted("orchestrator", INSTANCE, undefined, { sourceAppId: "source-app" }),
    ];
    const result = run(reg, [], events);
    expect(kinds(result)).toEqual(["scheduleTask"]);
    const task = action(result, 0, "scheduleTask");
    expect(task.router?.sourceAppID).toBe("source-app");
    expect(task.router?.targetAppID ?? "").toBe("");
  });

  it("test_schedule_activity_actions_router_with_app_id: appId becomes router.targetAppID", () => {
    // python: test_schedule_activity_actions_router_with_app_id
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("dummy_activity", { input: 42, appId: "target-app" });
      },
    });
    const events = [
      h.workflowStarted(START),
      h.executionStarted("orchestrator", INSTANCE, undefined, { sourceAppId: "source-app" }),
    ];
    const task = action(run(reg, [], events), 0, "scheduleTask");
    expect(task.router?.sourceAppID).toBe("source-app");
    expect(task.router?.targetAppID).toBe("target-app");
  });

  it("test_activity_task_completion: the activity result becomes the workflow result", () => {
    // python: test_activity_task_completion
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext, input: unknown) {
        return yield* ctx.callActivity("dummy_activity", { input });
      },
    });
    const past = [...started("orchestrator"), h.taskScheduled(1, "dummy_activity")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(1, '"done!"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"done!"');
    expect(done.id).toBe(2);
  });

  it("test_activity_task_failed: FAILED TaskFailedError naming the activity, with the call's line", () => {
    // python: test_activity_task_failed
    let site = "";
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext, input: unknown) {
        const call = withLine(ctx.callActivity("dummy_activity", { input }));
        site = call.line;
        return yield* call.value;
      },
    });
    const past = [...started("orchestrator"), h.taskScheduled(1, "dummy_activity")];
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, new Error("Kah-BOOOOM!!!"))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Activity 'dummy_activity' (task #1) failed: Kah-BOOOOM!!!");
    expect(site).not.toBe("");
    expect(done.failureDetails?.stackTrace).toContain(site);
  });

  it("test_activity_retry_policies: 6 attempts, shared ids 1..12 (see the §3.4 table below)", () => {
    // python: test_activity_retry_policies (the exact table is asserted in "retry table (§3.4)")
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        return yield* ctx.callActivity("dummy_activity", {
          retryPolicy: {
            firstRetryInterval: 1,
            maxNumberOfAttempts: 6,
            backoffCoefficient: 2,
            maxRetryInterval: 10,
            retryTimeout: 50,
          },
        });
      },
    });
    const inst = new Instance(reg);
    inst.turn(started("orchestrator"));
    let now = 0;
    let last: WorkflowResult | undefined;
    for (let attempt = 1; attempt <= 6; attempt++) {
      const taskId = 2 * attempt - 1;
      last = inst.turn([h.workflowStarted(at(now)), h.taskFailed(taskId, new Error("Kah-BOOOOM!!!"))]);
      if (attempt === 6) break;
      const timer = action(last, 0, "createTimer");
      now = (timestampDate(timer.fireAt as Parameters<typeof timestampDate>[0]).getTime() - START.getTime()) / 1000;
      inst.turn([h.workflowStarted(at(now)), h.timerFired(timer.id, at(now))]);
    }
    const done = onlyCompletion(last as WorkflowResult);
    expect(done.id).toBe(12);
    expect(done.failureDetails?.errorMessage).toContain("(task #11) failed: Kah-BOOOOM!!!");
  });

  it("test_nondeterminism_expected_timer: history has a timer, code calls an activity", () => {
    // python: test_nondeterminism_expected_timer
    let site = "";
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const call = withLine(ctx.callActivity("dummy_activity"));
        site = call.line;
        return yield* call.value;
      },
    });
    const past = [...started("orchestrator"), h.timerCreated(1, at(5))];
    const done = onlyCompletion(run(reg, past, [h.timerFired(1, at(5))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
    const message = done.failureDetails?.errorMessage ?? "";
    expect(message).toContain("sequence id 1");
    expect(message).toContain("createTimer()");
    expect(message).toContain("callActivity('dummy_activity')");
    expect(message).toContain(site);
  });

  it("test_nondeterminism_expected_activity_call_no_task_id: history has an activity, code does nothing", () => {
    // python: test_nondeterminism_expected_activity_call_no_task_id (the code yields a bare task)
    const reg = registry({
      orchestrator: function* () {
        return yield* new Task();
      },
    });
    const past = [...started("orchestrator"), h.taskScheduled(1, "bogus_activity")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(1)]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
    const message = done.failureDetails?.errorMessage ?? "";
    expect(message).toContain("sequence id 1");
    expect(message).toContain("callActivity('bogus_activity')");
    expect(message).toContain("does nothing there");
  });

  it("test_nondeterminism_expected_activity_call_wrong_task_type: history has an activity, code a timer", () => {
    // python: test_nondeterminism_expected_activity_call_wrong_task_type
    let site = "";
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const call = withLine(ctx.createTimer(ctx.currentUtcDateTime));
        site = call.line;
        yield call.value;
      },
    });
    const past = [...started("orchestrator"), h.taskScheduled(1, "dummy_activity")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(1)]));
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
    const message = done.failureDetails?.errorMessage ?? "";
    expect(message).toContain("sequence id 1");
    expect(message).toContain("callActivity('dummy_activity')");
    expect(message).toContain("createTimer()");
    expect(message).toContain(site);
  });

  it("test_nondeterminism_wrong_activity_name: both activity names appear in the error", () => {
    // python: test_nondeterminism_wrong_activity_name
    let site = "";
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const call = withLine(ctx.callActivity("dummy_activity"));
        site = call.line;
        yield call.value;
      },
    });
    const past = [...started("orchestrator"), h.taskScheduled(1, "original_activity")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(1)]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
    const message = done.failureDetails?.errorMessage ?? "";
    expect(message).toContain("sequence id 1");
    expect(message).toContain("callActivity('original_activity')");
    expect(message).toContain("callActivity('dummy_activity')");
    expect(message).toContain(site);
  });

  it("test_sub_orchestration_task_completion: the child's result becomes the workflow result", () => {
    // python: test_sub_orchestration_task_completion
    const reg = registry({
      suborchestrator: () => null,
      orchestrator: function* (ctx: WorkflowContext) {
        return yield* ctx.callSubOrchestrator("suborchestrator");
      },
    });
    const past = [...started("orchestrator"), h.childWorkflowCreated(1, "suborchestrator", "sub-orch-123")];
    const done = onlyCompletion(run(reg, past, [h.childWorkflowCompleted(1, "42")]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("42");
  });

  it("test_create_sub_orchestration_actions_router_without_app_id: router {sourceAppID}, default child id", () => {
    // python: test_create_sub_orchestration_actions_router_without_app_id
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.callSubOrchestrator("suborchestrator");
      },
    });
    const events = [
      h.workflowStarted(START),
      h.executionStarted("orchestrator", INSTANCE, undefined, { sourceAppId: "source-app" }),
    ];
    const result = run(reg, [], events);
    expect(kinds(result)).toEqual(["createChildWorkflow"]);
    const child = action(result, 0, "createChildWorkflow");
    expect(child.router?.sourceAppID).toBe("source-app");
    expect(child.router?.targetAppID ?? "").toBe("");
    expect(child.instanceId).toBe("abc123:0001");
    expect(child.input).toBeUndefined();
  });

  it("test_create_sub_orchestration_actions_router_with_app_id: appId becomes router.targetAppID", () => {
    // python: test_create_sub_orchestration_actions_router_with_app_id
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.callSubOrchestrator("suborchestrator", { appId: "target-app" });
      },
    });
    const events = [
      h.workflowStarted(START),
      h.executionStarted("orchestrator", INSTANCE, undefined, { sourceAppId: "source-app" }),
    ];
    const child = action(run(reg, [], events), 0, "createChildWorkflow");
    expect(child.router?.sourceAppID).toBe("source-app");
    expect(child.router?.targetAppID).toBe("target-app");
  });

  it("test_sub_orchestration_task_failed: FAILED TaskFailedError naming the child, with the call's line", () => {
    // python: test_sub_orchestration_task_failed
    let site = "";
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const call = withLine(ctx.callSubOrchestrator("suborchestrator"));
        site = call.line;
        return yield* call.value;
      },
    });
    const past = [...started("orchestrator"), h.childWorkflowCreated(1, "suborchestrator", "sub-orch-123")];
    const done = onlyCompletion(run(reg, past, [h.childWorkflowFailed(1, new Error("Kah-BOOOOM!!!"))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Child workflow 'suborchestrator' (task #1) failed: Kah-BOOOOM!!!");
    expect(site).not.toBe("");
    expect(done.failureDetails?.stackTrace).toContain(site);
  });

  it("test_nondeterminism_expected_sub_orchestration_task_completion_no_task: code does nothing", () => {
    // python: test_nondeterminism_expected_sub_orchestration_task_completion_no_task
    const reg = registry({
      orchestrator: function* () {
        return yield* new Task();
      },
    });
    const past = [...started("orchestrator"), h.childWorkflowCreated(1, "some_sub_orchestration", "sub-orch-123")];
    const done = onlyCompletion(run(reg, past, [h.childWorkflowCompleted(1, "42")]));
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
    const message = done.failureDetails?.errorMessage ?? "";
    expect(message).toContain("sequence id 1");
    expect(message).toContain("callSubOrchestrator('some_sub_orchestration')");
  });

  it("test_nondeterminism_expected_sub_orchestration_task_completion_wrong_task_type: code creates a timer", () => {
    // python: test_nondeterminism_expected_sub_orchestration_task_completion_wrong_task_type
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        return yield* ctx.createTimer(ctx.currentUtcDateTime);
      },
    });
    const past = [...started("orchestrator"), h.childWorkflowCreated(1, "some_sub_orchestration", "sub-orch-123")];
    const done = onlyCompletion(run(reg, past, [h.childWorkflowCompleted(1, "42")]));
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
    const message = done.failureDetails?.errorMessage ?? "";
    expect(message).toContain("sequence id 1");
    expect(message).toContain("callSubOrchestrator('some_sub_orchestration')");
    expect(message).toContain("createTimer()");
  });

  it("test_raise_event: turn 1 emits the indefinite timer; the event completes the workflow", () => {
    // python: test_raise_event (adapted: Dapr's current protocol creates a timer for every wait)
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("my_event");
      },
    });
    const t1 = run(reg, [], started("orchestrator"));
    expect(kinds(t1)).toEqual(["createTimer"]);
    const timer = action(t1, 0, "createTimer");
    expect(timer.id).toBe(1);
    expect(timer.name).toBe("my_event");
    expect(timer.origin).toMatchObject({ case: "externalEvent", value: { name: "my_event" } });
    expect(timer.fireAt?.seconds).toBe(INDEFINITE.seconds);
    expect(timer.fireAt?.nanos).toBe(INDEFINITE.nanos);

    const past = [...started("orchestrator"), h.indefiniteTimerCreated(1, "my_event")];
    const done = onlyCompletion(run(reg, past, [h.eventRaised("my_event", "42")]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("42");
    expect(done.id).toBe(2);
  });

  it("test_raise_event (older history without the indefinite timer): replays and completes", () => {
    // python: test_raise_event, second turn exactly as the Python test wrote it (no timer in history)
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("my_event");
      },
    });
    const done = onlyCompletion(run(reg, started("orchestrator"), [h.eventRaised("my_event", "42")]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("42");
  });

  it("older history without the indefinite timer: the optional timer is dropped and later ids shift", () => {
    // semantics 7 (Go semantics): history written before waits got a timer records the next call at id 1
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const value = yield* ctx.waitForExternalEvent("my_event");
        return [value, yield* ctx.callActivity("after")];
      },
    });
    const past = [...started("orchestrator"), h.eventRaised("my_event", "42"), h.taskScheduled(1, "after")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(1, '"x"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('[42,"x"]');
  });

  it("test_raise_event_buffered: an event that arrives early is consumed without a timer", () => {
    // python: test_raise_event_buffered
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.createTimer({ days: 1 });
        return yield* ctx.waitForExternalEvent("my_event");
      },
    });
    const first = [...started("orchestrator"), h.eventRaised("my_event", "42")];
    const t1 = run(reg, [], first);
    expect(kinds(t1)).toEqual(["createTimer"]);
    expect(fireAt(action(t1, 0, "createTimer"))).toBe(at(86_400).toISOString());

    const past = [...first, h.timerCreated(1, at(86_400))];
    const done = onlyCompletion(run(reg, past, [h.timerFired(1, at(86_400))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("42");
    expect(done.id).toBe(2);
  });

  it("test_suspend_resume: suspended events are held back, then replayed on resume", () => {
    // python: test_suspend_resume
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("my_event");
      },
    });
    const past = [...started("orchestrator"), h.indefiniteTimerCreated(1, "my_event")];
    const suspended = [h.executionSuspended(), h.eventRaised("my_event", "42")];
    expect(run(reg, past, suspended).actions).toEqual([]);
    const done = onlyCompletion(run(reg, [...past, ...suspended], [h.executionResumed()]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("42");
  });

  it("test_terminate: TERMINATED with the terminate event's raw input; later events do nothing", () => {
    // python: test_terminate
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("my_event");
      },
    });
    const past = [...started("orchestrator"), h.indefiniteTimerCreated(1, "my_event")];
    const events = [h.executionTerminated('"terminated!"'), h.eventRaised("my_event", "42")];
    const done = onlyCompletion(run(reg, past, events));
    expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
    expect(done.result).toBe('"terminated!"');
  });

  for (const saveEvents of [true, false]) {
    it(`test_continue_as_new[save_events=${saveEvents}]: CONTINUED_AS_NEW with ${saveEvents ? 3 : 0} carried events`, () => {
      // python: test_continue_as_new[save_events]
      const reg = registry({
        orchestrator: function* (ctx: WorkflowContext, input: number) {
          yield ctx.createTimer({ days: 1 });
          ctx.continueAsNew(input + 1, { saveEvents });
        },
      });
      const past = [
        ...started("orchestrator", 1),
        h.eventRaised("my_event", "42"),
        h.eventRaised("my_event", "43"),
        h.eventRaised("my_event", "44"),
        h.timerCreated(1, at(86_400)),
      ];
      const done = onlyCompletion(run(reg, past, [h.timerFired(1, at(86_400))]));
      expect(done.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
      expect(done.result).toBe("2");
      expect(done.carryoverEvents).toHaveLength(saveEvents ? 3 : 0);
      done.carryoverEvents.forEach((event, i) => {
        expect(event.eventType.case).toBe("eventRaised");
        if (event.eventType.case !== "eventRaised") return;
        expect(event.eventType.value.name).toBe("my_event");
        expect(event.eventType.value.input).toBe(String(42 + i));
      });
    });
  }

  it("test_fan_out: ten scheduleTask actions with inputs '\"0\"'..'\"9\"'", () => {
    // python: test_fan_out
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext, count: number) {
        const tasks = Array.from({ length: count }, (_, i) => ctx.callActivity("hello", { input: String(i) }));
        return yield* whenAll(tasks);
      },
    });
    const result = run(reg, [], started("orchestrator", 10));
    expect(kinds(result)).toEqual(Array(10).fill("scheduleTask"));
    result.actions.forEach((_, i) => {
      const task = action(result, i, "scheduleTask");
      expect(task.id).toBe(i + 1);
      expect(task.name).toBe("hello");
      expect(task.input).toBe(`"${i}"`);
    });
  });

  it("test_fan_in: waits for all ten, then completes with results in list order (compact JSON)", () => {
    // python: test_fan_in
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const tasks = Array.from({ length: 10 }, (_, i) => ctx.callActivity("print_int", { input: i }));
        return yield* whenAll(tasks);
      },
    });
    const past = [
      ...started("orchestrator"),
      ...Array.from({ length: 10 }, (_, i) => h.taskScheduled(i + 1, "print_int", String(i))),
    ];
    const completions = Array.from({ length: 10 }, (_, i) => h.taskCompleted(i + 1, String(i)));
    expect(run(reg, past, completions.slice(0, 5)).actions).toEqual([]);
    const done = onlyCompletion(run(reg, past, completions));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("[0,1,2,3,4,5,6,7,8,9]");
    expect(done.id).toBe(11);
  });

  it("test_fan_in_with_single_failure: wait-all — nothing until the last task settles, then FAILED", () => {
    // python: test_fan_in_with_single_failure (adapted: whenAll waits for every child, then fails)
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const tasks = Array.from({ length: 10 }, (_, i) => ctx.callActivity("print_int", { input: i }));
        return yield* whenAll(tasks);
      },
    });
    const past = [
      ...started("orchestrator"),
      ...Array.from({ length: 10 }, (_, i) => h.taskScheduled(i + 1, "print_int", String(i))),
    ];
    const firstSix = [
      ...Array.from({ length: 5 }, (_, i) => h.taskCompleted(i + 1, String(i))),
      h.taskFailed(6, new Error("Kah-BOOOOM!!!")),
    ];
    expect(run(reg, past, firstSix).actions).toEqual([]);
    const rest = Array.from({ length: 4 }, (_, i) => h.taskCompleted(i + 7, String(i + 6)));
    const done = onlyCompletion(run(reg, [...past, ...firstSix], rest));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Activity 'print_int' (task #6) failed: Kah-BOOOOM!!!");
  });

  it("test_when_any: two tasks scheduled; whichever completes first is the result", () => {
    // python: test_when_any
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const t1 = ctx.callActivity("hello", { input: "Tokyo" });
        const t2 = ctx.callActivity("hello", { input: "Seattle" });
        const winner = yield* whenAny([t1, t2]);
        return winner === t1 ? t1.getResult() : t2.getResult();
      },
    });
    const t1 = run(reg, [], [h.executionStarted("orchestrator", INSTANCE)]);
    expect(kinds(t1)).toEqual(["scheduleTask", "scheduleTask"]);
    expect(t1.actions.map((a) => a.id)).toEqual([1, 2]);

    const past = [
      ...started("orchestrator"),
      h.taskScheduled(1, "hello", '"Tokyo"'),
      h.taskScheduled(2, "hello", '"Seattle"'),
    ];
    const tokyo = onlyCompletion(run(reg, past, [h.taskCompleted(1, '"Hello Tokyo!"')]));
    expect(tokyo.result).toBe('"Hello Tokyo!"');
    const seattle = onlyCompletion(run(reg, past, [h.taskCompleted(2, '"Hello Seattle!"')]));
    expect(seattle.result).toBe('"Hello Seattle!"');
  });

  it("test_when_any_with_retry: a retrying task inside whenAny; the other task wins", () => {
    // python: test_when_any_with_retry
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const t1 = ctx.callActivity("dummy_activity", {
          input: "Tokyo",
          retryPolicy: {
            firstRetryInterval: 1,
            maxNumberOfAttempts: 6,
            backoffCoefficient: 2,
            maxRetryInterval: 10,
            retryTimeout: 50,
          },
        });
        const t2 = ctx.callActivity("dummy_activity", { input: "Seattle" });
        const winner = yield* whenAny([t1, t2]);
        return winner === t1 ? t1.getResult() : t2.getResult();
      },
    });
    const inst = new Instance(reg);
    expect(inst.turn(started("orchestrator")).actions.map((a) => a.id)).toEqual([1, 2]);

    const r1 = inst.turn([h.workflowStarted(at(0)), h.taskFailed(1, failure("ValueError", "Kah-BOOOOM!!!"))]);
    expect(kinds(r1)).toEqual(["createTimer"]);
    expect(action(r1, 0, "createTimer").id).toBe(3);
    expect(fireAt(action(r1, 0, "createTimer"))).toBe(at(1).toISOString());

    const r2 = inst.turn([h.workflowStarted(at(1)), h.timerFired(3, at(1))]);
    expect(kinds(r2)).toEqual(["scheduleTask"]);
    expect(action(r2, 0, "scheduleTask")).toMatchObject({ id: 4, name: "dummy_activity", input: '"Tokyo"' });

    const r3 = inst.turn([h.workflowStarted(at(1)), h.taskFailed(4, failure("ValueError", "Kah-BOOOOM!!!"))]);
    expect(kinds(r3)).toEqual(["createTimer"]);
    expect(action(r3, 0, "createTimer").id).toBe(5);
    expect(fireAt(action(r3, 0, "createTimer"))).toBe(at(3).toISOString());

    const done = onlyCompletion(inst.turn([h.workflowStarted(at(2)), h.taskCompleted(2, '"Hello Seattle!"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"Hello Seattle!"');
    expect(done.id).toBe(6);
  });

  it("test_when_all_with_retry: retries inside whenAll; the third failure fails the workflow", () => {
    // python: test_when_all_with_retry (first 2 s, backoff 4, max 5 s, 3 attempts)
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        const t1 = ctx.callActivity("dummy_activity", {
          input: "Tokyo",
          retryPolicy: {
            firstRetryInterval: 2,
            maxNumberOfAttempts: 3,
            backoffCoefficient: 4,
            maxRetryInterval: 5,
            retryTimeout: 50,
          },
        });
        const t2 = ctx.callActivity("dummy_activity", { input: "Seattle" });
        return yield* whenAll([t1, t2]);
      },
    });
    const inst = new Instance(reg);
    inst.turn(started("orchestrator"));
    const r1 = inst.turn([h.workflowStarted(at(0)), h.taskFailed(1, failure("ValueError", "Kah-BOOOOM!!!"))]);
    expect(kinds(r1)).toEqual(["createTimer"]);
    expect(action(r1, 0, "createTimer").id).toBe(3);
    expect(fireAt(action(r1, 0, "createTimer"))).toBe(at(2).toISOString());

    const r2 = inst.turn([h.workflowStarted(at(2)), h.timerFired(3, at(2))]);
    expect(action(r2, 0, "scheduleTask").id).toBe(4);

    const r3 = inst.turn([h.workflowStarted(at(2)), h.taskFailed(4, failure("ValueError", "Kah-BOOOOM!!!"))]);
    expect(action(r3, 0, "createTimer").id).toBe(5);
    expect(fireAt(action(r3, 0, "createTimer"))).toBe(at(7).toISOString()); // 2 * 4 = 8 s, capped at 5 s

    const r4 = inst.turn([h.workflowStarted(at(7)), h.taskCompleted(2, '"Hello Seattle!"'), h.timerFired(5, at(7))]);
    expect(kinds(r4)).toEqual(["scheduleTask"]);
    expect(action(r4, 0, "scheduleTask").id).toBe(6);

    const done = onlyCompletion(
      inst.turn([h.workflowStarted(at(7)), h.taskFailed(6, failure("ValueError", "Kah-BOOOOM!!!"))]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Activity 'dummy_activity' (task #6) failed: Kah-BOOOOM!!!");
    expect(done.id).toBe(7);
  });

  it("test_activity_non_retryable_default_exception: NonRetryableError fails at once", () => {
    // python: test_activity_non_retryable_default_exception
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("dummy_activity", {
          retryPolicy: { firstRetryInterval: 1, maxNumberOfAttempts: 3, backoffCoefficient: 1 },
        });
      },
    });
    const past = [...started("orchestrator"), h.taskScheduled(1, "dummy_activity")];
    const done = onlyCompletion(
      run(reg, past, [h.workflowStarted(START), h.taskFailed(1, new NonRetryableError("boom"))]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toContain("Activity 'dummy_activity' (task #1) failed: boom");
    // A Python worker sends only the errorType (no isNonRetriable flag): also final.
    const py = onlyCompletion(
      run(reg, past, [h.workflowStarted(START), h.taskFailed(1, failure("NonRetryableError", "boom"))]),
    );
    expect(py.failureDetails?.errorMessage).toContain("Activity 'dummy_activity' (task #1) failed: boom");
  });

  it("test_activity_non_retryable_policy_name: an errorType listed by name fails at once", () => {
    // python: test_activity_non_retryable_policy_name
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("dummy_activity", {
          retryPolicy: { firstRetryInterval: 1, maxNumberOfAttempts: 5, nonRetryableErrorTypes: ["ValueError"] },
        });
      },
    });
    const past = [...started("orchestrator"), h.taskScheduled(1, "dummy_activity")];
    const done = onlyCompletion(
      run(reg, past, [h.workflowStarted(START), h.taskFailed(1, failure("ValueError", "boom"))]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toContain("Activity 'dummy_activity' (task #1) failed: boom");
  });

  it("test_activity_generic_exception_is_retryable: timer 2, task 3, timer 4, task 5, then FAILED", () => {
    // python: test_activity_generic_exception_is_retryable
    const reg = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("dummy_activity", {
          retryPolicy: { firstRetryInterval: 1, maxNumberOfAttempts: 3, backoffCoefficient: 1 },
        });
      },
    });
    const inst = new Instance(reg);
    inst.turn(started("orchestrator"));
    const r1 = inst.turn([h.workflowStarted(at(0)), h.taskFailed(1, failure("Exception", "generic error"))]);
    expect(kinds(r1)).toEqual(["createTimer"]);
    expect(action(r1, 0, "createTimer").id).toBe(2);
    expect(fireAt(action(r1, 0, "createTimer"))).toBe(at(1).toISOString());
    expect(action(inst.turn([h.workflowStarted(at(1)), h.timerFired(2, at(1))]), 0, "scheduleTask").id).toBe(3);
    const r3 = inst.turn([h.workflowStarted(at(1)), h.taskFailed(3, failure("Exception", "generic error"))]);
    expect(action(r3, 0, "createTimer").id).toBe(4);
    expect(fireAt(action(r3, 0, "createTimer"))).toBe(at(2).toISOString());
    expect(action(inst.turn([h.workflowStarted(at(2)), h.timerFired(4, at(2))]), 0, "scheduleTask").id).toBe(5);
    const done = onlyCompletion(
      inst.turn([h.workflowStarted(at(2)), h.taskFailed(5, failure("Exception", "generic error"))]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toBe("Activity 'dummy_activity' (task #5) failed: generic error");
  });

  it("test_sub_orchestration_non_retryable_default_exception: a child's NonRetryableError fails at once", () => {
    // python: test_sub_orchestration_non_retryable_default_exception
    const reg = registry({
      child: () => null,
      parent: function* (ctx: WorkflowContext) {
        yield ctx.callSubOrchestrator("child", { retryPolicy: { firstRetryInterval: 1, maxNumberOfAttempts: 3 } });
      },
    });
    const past = [...started("parent"), h.childWorkflowCreated(1, "child", "sub-1")];
    const done = onlyCompletion(
      run(reg, past, [h.workflowStarted(START), h.childWorkflowFailed(1, new NonRetryableError("boom"))]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toContain("Child workflow 'child' (task #1) failed: boom");
  });

  it("test_sub_orchestration_non_retryable_policy_type: an error class in the policy fails at once", () => {
    // python: test_sub_orchestration_non_retryable_policy_type
    class ValueError extends Error {}
    const reg = registry({
      child: () => null,
      parent: function* (ctx: WorkflowContext) {
        yield ctx.callSubOrchestrator("child", {
          retryPolicy: { firstRetryInterval: 1, maxNumberOfAttempts: 5, nonRetryableErrorTypes: [ValueError] },
        });
      },
    });
    const past = [...started("parent"), h.childWorkflowCreated(1, "child", "sub-1")];
    const done = onlyCompletion(
      run(reg, past, [h.workflowStarted(START), h.childWorkflowFailed(1, new ValueError("boom"))]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toContain("Child workflow 'child' (task #1) failed: boom");
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("retry table (seed_python.md §3.4)", () => {
  const policy = {
    firstRetryInterval: 1,
    maxNumberOfAttempts: 6,
    backoffCoefficient: 2,
    maxRetryInterval: 10,
    retryTimeout: 50,
  };
  const reg = registry({
    orchestrator: function* (ctx: WorkflowContext, input: string) {
      return yield* ctx.callActivity("dummy_activity", { input, retryPolicy: policy });
    },
  });
  // Step → [failed task id, timer id, timer fires at (s after START), rescheduled task id]
  const table = [
    [1, 2, 1, 3],
    [3, 4, 3, 5],
    [5, 6, 7, 7],
    [7, 8, 15, 9],
    [9, 10, 25, 11], // 16 s capped at 10 s
  ] as const;

  it("ids 1..12, fire times +1/+2/+4/+8/+10 (capped), one stable non-empty taskExecutionId, FAILED at 12", () => {
    // python: test_activity_retry_policies; seed_python.md §3.4
    const inst = new Instance(reg);
    const t1 = inst.turn(started("orchestrator", "tokyo"));
    expect(kinds(t1)).toEqual(["scheduleTask"]);
    const first = action(t1, 0, "scheduleTask");
    expect(first.id).toBe(1);
    expect(first.taskExecutionId).toBe(GUID0);
    let now = 0;
    for (const [failedId, timerId, fireSeconds, nextId] of table) {
      const failed = inst.turn([
        h.workflowStarted(at(now)),
        h.taskFailed(failedId, failure("ValueError", "Kah-BOOOOM!!!")),
      ]);
      expect(kinds(failed)).toEqual(["createTimer"]);
      const timer = action(failed, 0, "createTimer");
      expect(timer.id).toBe(timerId);
      expect(fireAt(timer)).toBe(at(fireSeconds).toISOString());
      expect(timer.name).toBe("dummy_activity-retry");
      expect(timer.origin).toMatchObject({ case: "activityRetry", value: { taskExecutionId: GUID0 } });
      now = fireSeconds;
      const fired = inst.turn([h.workflowStarted(at(now)), h.timerFired(timerId, at(now))]);
      expect(kinds(fired)).toEqual(["scheduleTask"]);
      const retry = action(fired, 0, "scheduleTask");
      expect(retry).toMatchObject({ id: nextId, name: "dummy_activity", input: '"tokyo"', taskExecutionId: GUID0 });
    }
    const last = [h.workflowStarted(at(now)), h.taskFailed(11, failure("ValueError", "Kah-BOOOOM!!!"))];
    const done = onlyCompletion(inst.turn(last));
    expect(done.id).toBe(12);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Activity 'dummy_activity' (task #11) failed: Kah-BOOOOM!!!");

    // The whole history replayed in one batch reaches the same outcome with the same id.
    const again = onlyCompletion(run(reg, [], inst.past));
    expect({ ...again, failureDetails: { ...again.failureDetails, stackTrace: "" } }).toEqual({
      ...done,
      failureDetails: { ...done.failureDetails, stackTrace: "" },
    });
  });

  it("the retry decision is deterministic: a failure processed a year later still retries (sum of delays)", () => {
    // seed_python.md §6 "The retry timeout uses wall-clock time" (fixed: Σ delays < retryTimeout)
    const inst = new Instance(reg);
    inst.turn(started("orchestrator", "tokyo"));
    const later = 365 * 86_400;
    const failed = inst.turn([h.workflowStarted(at(later)), h.taskFailed(1, failure("ValueError", "x"))]);
    expect(fireAt(action(failed, 0, "createTimer"))).toBe(at(later + 1).toISOString());
  });

  it("retryTimeout stops retries once waited + next delay would reach it", () => {
    // semantics 6: first 4 s, backoff 2, timeout 10 s → retry after 4 s (0+4<10), not after 8 s (4+8≥10)
    const timed = registry({
      orchestrator: function* (ctx: WorkflowContext) {
        return yield* ctx.callActivity("a", {
          retryPolicy: { firstRetryInterval: 4, backoffCoefficient: 2, maxNumberOfAttempts: 10, retryTimeout: 10 },
        });
      },
    });
    const inst = new Instance(timed);
    inst.turn(started("orchestrator"));
    const r1 = inst.turn([h.workflowStarted(at(0)), h.taskFailed(1, failure("E", "x"))]);
    expect(fireAt(action(r1, 0, "createTimer"))).toBe(at(4).toISOString());
    inst.turn([h.workflowStarted(at(4)), h.timerFired(2, at(4))]);
    const done = onlyCompletion(inst.turn([h.workflowStarted(at(4)), h.taskFailed(3, failure("E", "x"))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toBe("Activity 'a' (task #3) failed: x");
  });

  it("child workflow retries: new default child ids, origin and retryParentInstanceInfo name the first child", () => {
    // semantics 6 / durabletask-go Test_ChildWorkflowRetry_*
    const childReg = registry({
      parent: function* (ctx: WorkflowContext) {
        return yield* ctx.callSubOrchestrator("child", {
          input: 7,
          retryPolicy: { firstRetryInterval: 1, maxNumberOfAttempts: 3 },
        });
      },
    });
    const inst = new Instance(childReg);
    const t1 = action(inst.turn(started("parent")), 0, "createChildWorkflow");
    expect(t1).toMatchObject({ id: 1, name: "child", instanceId: "abc123:0001", input: "7" });
    expect(t1.retryParentInstanceInfo).toBeUndefined();
    const r1 = inst.turn([h.workflowStarted(at(0)), h.childWorkflowFailed(1, failure("E", "x"))]);
    const timer1 = action(r1, 0, "createTimer");
    expect(timer1).toMatchObject({ id: 2, name: "child-retry" });
    expect(timer1.origin).toMatchObject({ case: "childWorkflowRetry", value: { instanceId: "abc123:0001" } });
    const c2 = action(inst.turn([h.workflowStarted(at(1)), h.timerFired(2, at(1))]), 0, "createChildWorkflow");
    expect(c2).toMatchObject({ id: 3, name: "child", instanceId: "abc123:0003", input: "7" });
    expect(c2.retryParentInstanceInfo?.instanceID).toBe("abc123:0001");
    const r2 = inst.turn([h.workflowStarted(at(1)), h.childWorkflowFailed(3, failure("E", "x"))]);
    expect(action(r2, 0, "createTimer").origin).toMatchObject({
      case: "childWorkflowRetry",
      value: { instanceId: "abc123:0001" },
    });
    const c3 = action(inst.turn([h.workflowStarted(at(2)), h.timerFired(4, at(2))]), 0, "createChildWorkflow");
    expect(c3).toMatchObject({ id: 5, instanceId: "abc123:0005" });
    expect(c3.retryParentInstanceInfo?.instanceID).toBe("abc123:0001");
    const done = onlyCompletion(inst.turn([h.workflowStarted(at(2)), h.childWorkflowCompleted(5, '"ok"')]));
    expect(done.result).toBe('"ok"');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("verified edge behaviours (seed_python.md §3.7), fixed", () => {
  it("1. a result that cannot be serialized fails with SerializationError (Python: zero actions, hang)", () => {
    // python §3.7 item 1
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    for (const value of [10n, cyclic]) {
      const reg = registry({ wf: () => value });
      const done = onlyCompletion(run(reg, [], started("wf")));
      expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
      expect(done.failureDetails?.errorType).toBe("SerializationError");
    }
  });

  it("2. a first yielded task that is already complete is drained (Python: zero actions, hang)", () => {
    // python §3.7 item 2
    const reg = registry({
      wf: function* () {
        const all = yield* whenAll([]);
        return ["after", all];
      },
    });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('["after",[]]');
  });

  it("3. whenAll over partly pre-completed tasks completes (Python: counter reset, hang)", () => {
    // python §3.7 item 3
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = ctx.callActivity("a");
        const b = ctx.callActivity("b");
        yield a;
        return yield* whenAll([a, b]);
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b"), h.taskCompleted(1, "1")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(2, "2")]));
    expect(done.result).toBe("[1,2]");
  });

  it("4. a sibling settling after a caught whenAll failure never crashes; the code goes on", () => {
    // python §3.7 item 4 (Python: FAILED with ValueError "The task has already completed.")
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        try {
          yield whenAll([ctx.callActivity("a"), ctx.callActivity("b")]);
        } catch {
          yield ctx.createTimer(1);
          return "recovered";
        }
        return "no failure";
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    const result = run(reg, past, [h.taskFailed(1, new Error("boom")), h.taskCompleted(2, '"b"')]);
    expect(kinds(result)).toEqual(["createTimer"]);
    expect(result.actions[0]?.id).toBe(3);
    const done = onlyCompletion(
      run(
        reg,
        [...past, h.taskFailed(1, new Error("boom")), h.taskCompleted(2, '"b"'), h.timerCreated(3, at(1))],
        [h.timerFired(3, at(1))],
      ),
    );
    expect(done.result).toBe('"recovered"');
  });

  it("5. whenAny whose first finisher failed returns that task without throwing", () => {
    // python §3.7 item 5
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = ctx.callActivity("a");
        const b = ctx.callActivity("b");
        const winner = yield* whenAny([a, b]);
        return { isA: winner === a, failed: winner.isFailed, message: winner.getException()?.message };
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, new Error("boom")), h.taskCompleted(2, "2")]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(JSON.parse(done.result ?? "null")).toEqual({
      isA: true,
      failed: true,
      message: "Activity 'a' (task #1) failed: boom",
    });
  });

  it("6. executionResumed without a prior suspend is ignored (Python: FAILED)", () => {
    // python §3.7 item 6
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.callActivity("a");
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a")];
    const done = onlyCompletion(run(reg, past, [h.executionResumed(), h.taskCompleted(1, '"ok"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"ok"');
  });

  it("7. workflowCompleted (orchestratorCompleted) in history is ignored (Python: FAILED)", () => {
    // python §3.7 item 7
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.callActivity("a");
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.workflowCompleted()];
    const done = onlyCompletion(
      run(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(1, '"ok"'), h.workflowCompleted()]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"ok"');
  });

  it("8. the custom status is returned even on a turn with no actions", () => {
    // python §3.7 item 8
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        ctx.setCustomStatus("waiting");
        yield ctx.callActivity("a");
        ctx.setCustomStatus({ step: 2 });
        yield ctx.callActivity("b");
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a")];
    const idle = run(reg, past, [h.workflowStarted(at(1))]);
    expect(idle.actions).toEqual([]);
    expect(idle.customStatus).toBe("waiting");
    const next = run(reg, past, [h.taskCompleted(1)]);
    expect(kinds(next)).toEqual(["scheduleTask"]);
    expect(next.customStatus).toBe('{"step":2}');
  });
});
