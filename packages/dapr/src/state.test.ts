import type { WorkflowState as ClientWorkflowState, WorkflowStatus } from "@dt/client";
import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import {
  fromOrchestrationStatus,
  fromStatusName,
  toOrchestrationStatus,
  WorkflowFailureDetails,
  WorkflowRuntimeStatus,
  WorkflowState,
} from "./state.js";

function clientState(overrides: Partial<ClientWorkflowState> = {}): ClientWorkflowState {
  return {
    instanceId: "id-1",
    name: "wf",
    status: "COMPLETED",
    isTerminal: true,
    createdAt: new Date(1000),
    lastUpdatedAt: new Date(2000),
    startedAt: undefined,
    completedAt: undefined,
    scheduledStartAt: undefined,
    input: [1],
    output: { ok: true },
    customStatus: "step2",
    failureDetails: undefined,
    serializedInput: "[1]",
    serializedOutput: '{"ok":true}',
    parentInstanceId: undefined,
    executionId: "e",
    tags: {},
    ...overrides,
  };
}

describe("WorkflowRuntimeStatus", () => {
  it("has @dapr/dapr's numbers, which are the wire's", () => {
    expect({
      RUNNING: WorkflowRuntimeStatus.RUNNING,
      COMPLETED: WorkflowRuntimeStatus.COMPLETED,
      FAILED: WorkflowRuntimeStatus.FAILED,
      TERMINATED: WorkflowRuntimeStatus.TERMINATED,
      CONTINUED_AS_NEW: WorkflowRuntimeStatus.CONTINUED_AS_NEW,
      PENDING: WorkflowRuntimeStatus.PENDING,
      SUSPENDED: WorkflowRuntimeStatus.SUSPENDED,
    }).toEqual({ RUNNING: 0, COMPLETED: 1, FAILED: 3, TERMINATED: 5, CONTINUED_AS_NEW: 2, PENDING: 6, SUSPENDED: 7 });
    for (const name of Object.keys(OrchestrationStatus).filter((k) => Number.isNaN(Number(k)))) {
      const wire = OrchestrationStatus[name as keyof typeof OrchestrationStatus];
      expect(WorkflowRuntimeStatus[name as keyof typeof WorkflowRuntimeStatus], name).toBe(wire);
      expect(fromOrchestrationStatus(wire)).toBe(wire);
      expect(toOrchestrationStatus(fromOrchestrationStatus(wire))).toBe(wire);
      expect(fromStatusName(name as WorkflowStatus)).toBe(wire);
    }
    expect(WorkflowRuntimeStatus[WorkflowRuntimeStatus.STALLED]).toBe("STALLED");
  });
});

describe("WorkflowState", () => {
  it("has @dapr/dapr's getters over the client's state", () => {
    const state = new WorkflowState(clientState());
    expect(state.name).toBe("wf");
    expect(state.instanceId).toBe("id-1");
    expect(state.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
    expect(state.createdAt).toEqual(new Date(1000));
    expect(state.lastUpdatedAt).toEqual(new Date(2000));
    expect(state.serializedInput).toBe("[1]");
    expect(state.serializedOutput).toBe('{"ok":true}');
    expect(state.customStatus).toBe("step2");
    expect(state.workflowFailureDetails).toBeUndefined();
    expect(state.input).toEqual([1]);
    expect(state.output).toEqual({ ok: true });
    expect(state.isTerminal).toBe(true);
    expect(state.details.executionId).toBe("e");
  });

  it("reports the epoch for timestamps the sidecar did not give, and statuses by number", () => {
    const state = new WorkflowState(
      clientState({ createdAt: undefined, lastUpdatedAt: undefined, status: "SUSPENDED" }),
    );
    expect(state.createdAt.getTime()).toBe(0);
    expect(state.lastUpdatedAt.getTime()).toBe(0);
    expect(state.runtimeStatus).toBe(WorkflowRuntimeStatus.SUSPENDED);
  });

  it("wraps failure details with their cause", () => {
    const cause = { errorType: "Error", message: "inner", stackTrace: "at x", isNonRetriable: true, cause: undefined };
    const failureDetails = {
      errorType: "TaskFailedError",
      message: "outer",
      stackTrace: undefined,
      isNonRetriable: false,
      cause,
    };
    const failure = new WorkflowState(clientState({ status: "FAILED", failureDetails })).workflowFailureDetails;
    expect(failure).toBeInstanceOf(WorkflowFailureDetails);
    expect(failure?.getErrorType()).toBe("TaskFailedError");
    expect(failure?.getErrorMessage()).toBe("outer");
    expect(failure?.getStackTrace()).toBeUndefined();
    expect(failure?.isNonRetriable()).toBe(false);
    const inner = failure?.getInnerFailureDetails();
    expect([inner?.getErrorMessage(), inner?.getStackTrace(), inner?.isNonRetriable()]).toEqual([
      "inner",
      "at x",
      true,
    ]);
    expect(inner?.getInnerFailureDetails()).toBeUndefined();
    expect(failure?.details).toBe(failureDetails);
  });
});
