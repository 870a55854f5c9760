import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { history } from "@dt/core";
import { type HistoryEvent, OrchestrationStatus, WorkflowActionSchema, WorkflowResponseSchema } from "@dt/proto";
import { describe, expect, it } from "vitest";
import { applyTurn, childInstanceId, deriveRecord, InvalidResponseError, type TurnCommit } from "./applier.js";
import { forkHistory } from "./rerun.js";
import type { InstanceRecord } from "./store.js";

const NOW = Date.UTC(2026, 0, 1);
const T = new Date(NOW);

const record: InstanceRecord = {
  instanceId: "wf",
  name: "flow",
  executionId: "exec-1",
  status: OrchestrationStatus.RUNNING,
  createdAt: NOW,
  lastUpdatedAt: NOW,
  tags: { team: "a" },
};

const started = history.executionStarted("flow", "wf", '"in"', { executionId: "exec-1" });
const kinds = (events: readonly HistoryEvent[]) => events.map((e) => e.eventType.case);

function turn(actions: Parameters<typeof create<typeof WorkflowActionSchema>>[1][], past: HistoryEvent[] = []) {
  const newEvents = past.length === 0 ? [history.workflowStarted(T), started] : [history.workflowStarted(T)];
  return applyTurn({
    record,
    history: past,
    newEvents,
    response: create(WorkflowResponseSchema, {
      instanceId: "wf",
      actions: actions.map((a) => create(WorkflowActionSchema, a)),
    }),
    now: NOW,
  });
}

describe("applyTurn", () => {
  it("records actions under their ids and schedules the work they ask for", () => {
    const out = turn([
      { id: 1, workflowActionType: { case: "scheduleTask", value: { name: "act", input: "1", taskExecutionId: "x" } } },
      { id: 2, workflowActionType: { case: "createTimer", value: { fireAt: timestampFromMs(NOW + 5_000) } } },
      { id: 11, workflowActionType: { case: "createChildWorkflow", value: { name: "child" } } },
    ]) as TurnCommit;
    expect(out.type).toBe("commit");
    expect(kinds(out.append)).toEqual([
      "workflowStarted",
      "executionStarted",
      "taskScheduled",
      "timerCreated",
      "childWorkflowInstanceCreated",
    ]);
    expect(out.append.slice(2).map((e) => e.eventId)).toEqual([1, 2, 11]);
    expect(out.activities).toMatchObject([{ instanceId: "wf", taskId: 1, executionId: "exec-1" }]);
    expect(out.timers).toHaveLength(1);
    expect(out.timers[0]?.visibleAt).toBe(NOW + 5_000);
    const fired = out.timers[0]?.event.eventType;
    expect(fired?.case === "timerFired" ? fired.value.timerId : undefined).toBe(2);
    // The default child id, and the child's ExecutionStarted pointing back at its parent.
    const message = out.messages[0];
    expect(message?.target).toBe("wf:000b");
    const childStart = message?.event.eventType;
    expect(childStart?.case === "executionStarted" ? childStart.value.parentInstance : undefined).toMatchObject({
      taskScheduledId: 11,
      name: "flow",
      workflowInstance: { instanceId: "wf", executionId: "exec-1" },
    });
    expect(out.record.status).toBe(OrchestrationStatus.RUNNING);
    expect(out.completed).toBe(false);
  });

  it("gives children the last 4 hex digits of the action id", () => {
    expect(childInstanceId("p", 0)).toBe("p:0000");
    expect(childInstanceId("p", 11)).toBe("p:000b");
    expect(childInstanceId("p", 0x1_2345)).toBe("p:2345");
  });

  it("completes once: the first completion wins and later actions are not applied", () => {
    const out = turn([
      {
        id: 1,
        workflowActionType: {
          case: "completeWorkflow",
          value: { workflowStatus: OrchestrationStatus.COMPLETED, result: '"a"' },
        },
      },
      {
        id: 2,
        workflowActionType: { case: "completeWorkflow", value: { workflowStatus: OrchestrationStatus.FAILED } },
      },
      { id: 3, workflowActionType: { case: "scheduleTask", value: { name: "late" } } },
    ]) as TurnCommit;
    expect(kinds(out.append).filter((k) => k === "executionCompleted")).toHaveLength(1);
    expect(out.activities).toEqual([]);
    expect(out.record).toMatchObject({ status: OrchestrationStatus.COMPLETED, output: '"a"', completedAt: NOW });
  });

  it("notifies the parent: Completed for COMPLETED, Failed (with details) otherwise", () => {
    const child = history.executionStarted("flow", "wf", undefined, {
      executionId: "exec-1",
      parentInstanceId: "parent",
      parentTaskScheduledId: 4,
    });
    const run = (status: OrchestrationStatus) =>
      applyTurn({
        record,
        history: [],
        newEvents: [history.workflowStarted(T), child],
        response: create(WorkflowResponseSchema, {
          actions: [
            create(WorkflowActionSchema, {
              id: 1,
              workflowActionType: { case: "completeWorkflow", value: { workflowStatus: status, result: '"r"' } },
            }),
          ],
        }),
        now: NOW,
      }) as TurnCommit;
    const completed = run(OrchestrationStatus.COMPLETED).messages[0];
    expect(completed?.target).toBe("parent");
    expect(completed?.event.eventType).toMatchObject({
      case: "childWorkflowInstanceCompleted",
      value: { taskScheduledId: 4, result: '"r"' },
    });
    const terminated = run(OrchestrationStatus.TERMINATED).messages[0]?.event.eventType;
    expect(terminated?.case).toBe("childWorkflowInstanceFailed");
    expect(terminated?.case === "childWorkflowInstanceFailed" ? terminated.value.failureDetails?.errorType : "").toBe(
      "WorkflowTerminatedError",
    );
  });

  it("continues as new: a new execution id, input from the result, tags and parent kept, carryover after", () => {
    const carried = history.eventRaised("e", '"1"');
    const out = turn([
      { id: 1, workflowActionType: { case: "scheduleTask", value: { name: "dropped" } } },
      {
        id: 2,
        workflowActionType: {
          case: "completeWorkflow",
          value: { workflowStatus: OrchestrationStatus.CONTINUED_AS_NEW, result: '"next"', carryoverEvents: [carried] },
        },
      },
    ]) as TurnCommit;
    expect(out.append).toEqual([]);
    expect(out.activities).toEqual([]);
    expect(kinds(out.continuedAsNew ?? [])).toEqual(["executionStarted", "eventRaised"]);
    const next = out.continuedAsNew?.[0]?.eventType;
    const es = next?.case === "executionStarted" ? next.value : undefined;
    expect(es?.input).toBe('"next"');
    expect(es?.workflowInstance?.executionId).not.toBe("exec-1");
    expect(out.record).toMatchObject({ status: OrchestrationStatus.RUNNING, input: '"next"', tags: { team: "a" } });
    expect(out.record.executionId).toBe(es?.workflowInstance?.executionId);
  });

  it("refuses a detached workflow without an instance id and an action of an unknown type", () => {
    expect(() =>
      turn([{ id: 1, workflowActionType: { case: "createDetachedWorkflow", value: { name: "d" } } }]),
    ).toThrow(InvalidResponseError);
    expect(() => turn([{ id: 1 }])).toThrow(InvalidResponseError);
  });

  it("stalls on a patch mismatch without committing the turn", () => {
    const past = [history.workflowStarted(T, { patches: ["a", "b"] }), started, history.timerCreated(1, T)];
    const out = applyTurn({
      record,
      history: past,
      newEvents: [history.workflowStarted(T)],
      response: create(WorkflowResponseSchema, { version: { patches: ["b"] } }),
      now: NOW,
    });
    expect(out.type).toBe("stall");
    expect(out.record.status).toBe(OrchestrationStatus.STALLED);
    expect(kinds(out.append)).toEqual(["executionStalled"]);
    // The same stall again adds no second event.
    const again = applyTurn({
      record,
      history: [...past, ...out.append],
      newEvents: [history.workflowStarted(T)],
      response: create(WorkflowResponseSchema, { version: { patches: ["b"] } }),
      now: NOW,
    });
    expect(again.append).toEqual([]);
  });

  it("derives the status from history: pending, running, suspended, stalled, finished", () => {
    const derive = (events: HistoryEvent[]) => deriveRecord(record, events, NOW, undefined).status;
    expect(derive([])).toBe(OrchestrationStatus.PENDING);
    expect(derive([history.workflowStarted(T), started])).toBe(OrchestrationStatus.RUNNING);
    expect(derive([history.workflowStarted(T), started, history.executionSuspended()])).toBe(
      OrchestrationStatus.SUSPENDED,
    );
    expect(
      derive([history.workflowStarted(T), started, history.executionSuspended(), history.executionResumed()]),
    ).toBe(OrchestrationStatus.RUNNING);
    const stalled = [history.workflowStarted(T), started, history.executionStalled("patch mismatch")];
    expect(derive(stalled)).toBe(OrchestrationStatus.STALLED);
    expect(derive([...stalled, history.workflowStarted(T)])).toBe(OrchestrationStatus.RUNNING);
    expect(
      derive([history.workflowStarted(T), started, history.executionCompleted(1, OrchestrationStatus.FAILED)]),
    ).toBe(OrchestrationStatus.FAILED);
  });
});

describe("forkHistory (rerun)", () => {
  // An activity chain: task 1 done, task 2 done, task 3 done.
  const source = [
    history.workflowStarted(T),
    started,
    history.taskScheduled(1, "act", '"1"'),
    history.workflowStarted(T),
    history.taskCompleted(1, '"r1"'),
    history.taskScheduled(2, "act", '"2"'),
    history.timerCreated(3, T),
    history.workflowStarted(T),
    history.taskCompleted(2, '"r2"'),
    history.taskScheduled(4, "act", '"4"'),
    history.workflowStarted(T),
    history.timerFired(3, T),
    history.childWorkflowCreated(5, "child", "wf:0005"),
  ];
  const fork = (eventId: number, extra: Partial<Parameters<typeof forkHistory>[0]> = {}) =>
    forkHistory({
      history: source,
      eventId,
      sourceInstanceId: "wf",
      newInstanceId: "copy",
      overwriteInput: false,
      now: NOW,
      ...extra,
    });

  it("keeps completed work next to its result and schedules the target again (with a new input)", () => {
    const out = fork(4, { overwriteInput: true, input: '"new"' });
    expect(kinds(out.history)).toEqual([
      "workflowStarted",
      "executionStarted",
      "workflowStarted",
      "taskScheduled",
      "taskCompleted",
      "workflowStarted",
      "taskScheduled",
      "taskCompleted",
      // the timer (3) had not fired before event 4: it runs again, then the target
      "timerCreated",
      "taskScheduled",
    ]);
    expect(out.activities.map((e) => e.eventId)).toEqual([4]);
    const target = out.activities[0]?.eventType;
    expect(target?.case === "taskScheduled" ? target.value : undefined).toMatchObject({
      input: '"new"',
      rerunParentInstanceInfo: { instanceID: "wf" },
    });
    expect(out.timers.map((t) => t.event.eventType.value)).toMatchObject([{ timerId: 3 }]);
    const es = out.history[1]?.eventType;
    expect(es?.case === "executionStarted" ? es.value.workflowInstance?.instanceId : "").toBe("copy");
    // The source history is not touched.
    const original = source[9]?.eventType;
    expect(original?.case === "taskScheduled" ? original.value.input : "").toBe('"4"');
  });

  it("reruns a child under a new id (given, or <new id>:<hex>) and a timer", () => {
    expect(fork(5).children.map((c) => c.target)).toEqual(["copy:0005"]);
    expect(fork(5, { newChildInstanceId: "mine" }).children.map((c) => c.target)).toEqual(["mine"]);
    const child = fork(5).children[0]?.event.eventType;
    expect(child?.case === "executionStarted" ? child.value.parentInstance?.workflowInstance?.instanceId : "").toBe(
      "copy",
    );
    expect(fork(3).timers.map((t) => t.visibleAt)).toEqual([NOW]);
  });

  it("refuses what cannot be rerun with Dapr's codes", () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return ConnectError.from(error).code;
      }
      return undefined;
    };
    expect(codeOf(() => fork(99))).toBe(Code.NotFound);
    expect(codeOf(() => fork(3, { overwriteInput: true, input: "1" }))).toBe(Code.InvalidArgument);
    expect(codeOf(() => fork(1, { newChildInstanceId: "x" }))).toBe(Code.InvalidArgument);
    const withDetached = [...source, history.detachedWorkflowCreated(9, "d-1")];
    expect(codeOf(() => fork(9, { history: withDetached }))).toBe(Code.InvalidArgument);
    // Only events recording an action can be rerun from (a completion is not one).
    const finished = [...source, history.executionCompleted(10, OrchestrationStatus.COMPLETED)];
    expect(codeOf(() => fork(10, { history: finished }))).toBe(Code.NotFound);
  });
});
