// The typed errors: stable codes, names, the DurableTaskError base, TaskFailedError messages, and the
// FailureDetails <-> wire conversion.
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { OrchestrationStatus, TaskFailureDetailsSchema } from "@dt/proto";
import { describe, expect, it } from "vitest";
import {
  ActivityNotRegisteredError,
  DurableTaskError,
  type ErrorCode,
  failureDetailsFromProto,
  InvalidArgumentError,
  InvalidStateError,
  NonDeterminismError,
  NonRetryableError,
  SerializationError,
  TaskFailedError,
  toFailureDetails,
  type WorkflowContext,
  WorkflowNotRegisteredError,
  WorkflowTimeoutError,
} from "./index.js";
import { at, h, onlyCompletion, registry, run, started } from "./testing/golden.js";

const THIS_FILE = new URL(import.meta.url).pathname;
const SOURCE = readFileSync(THIS_FILE, "utf8").split("\n");

/** The line of this file holding `// <marker>`, asserted unique. */
function lineOf(marker: string): number {
  const hits = SOURCE.flatMap((line, i) => (line.includes(`// ${marker}`) ? [i + 1] : []));
  if (hits.length !== 1) throw new Error(`marker ${marker} occurs ${hits.length} times`);
  return hits[0] as number;
}

const details = {
  errorType: "ValueError",
  message: "boom",
  stackTrace: undefined,
  isNonRetriable: false,
  cause: undefined,
};

const cases: [string, () => DurableTaskError, ErrorCode][] = [
  ["TaskFailedError", () => new TaskFailedError("activity", "charge", 3, details), "ACTIVITY_EXECUTION_FAILED"],
  ["TaskFailedError", () => new TaskFailedError("childWorkflow", "child", 3, details), "CHILD_WORKFLOW_FAILED"],
  ["NonRetryableError", () => new NonRetryableError("no"), "NON_RETRYABLE"],
  ["WorkflowTimeoutError", () => new WorkflowTimeoutError("late"), "WORKFLOW_TIMEOUT"],
  [
    "NonDeterminismError",
    () => new NonDeterminismError({ expected: "a", actual: "b", sequenceId: 1, historyIndex: 2, location: undefined }),
    "NON_DETERMINISTIC",
  ],
  ["WorkflowNotRegisteredError", () => new WorkflowNotRegisteredError("w", []), "WORKFLOW_NOT_REGISTERED"],
  ["ActivityNotRegisteredError", () => new ActivityNotRegisteredError("a", []), "ACTIVITY_NOT_REGISTERED"],
  ["SerializationError", () => new SerializationError("x", new TypeError("t")), "SERIALIZATION_FAILED"],
  ["InvalidArgumentError", () => new InvalidArgumentError("bad"), "INVALID_ARGUMENT"],
  ["InvalidStateError", () => new InvalidStateError("INVALID_STATE", "s"), "INVALID_STATE"],
  ["InvalidStateError", () => new InvalidStateError("HISTORY_UNAVAILABLE", "s"), "HISTORY_UNAVAILABLE"],
  ["DurableTaskError", () => new DurableTaskError("WORKFLOW_NOT_FOUND", "nope"), "WORKFLOW_NOT_FOUND"],
];

describe("error classes", () => {
  it.each(cases)(
    "%s (case %#) has its stable code, its class name and extends DurableTaskError",
    (name, make, code) => {
      const error = make();
      expect(error.code).toBe(code);
      expect(error.name).toBe(name);
      expect(error).toBeInstanceOf(DurableTaskError);
      expect(error).toBeInstanceOf(Error);
      expect(String(error)).toBe(`${name}: ${error.message}`);
    },
  );

  it("a user subclass of NonRetryableError keeps the code and takes its own name", () => {
    class PaymentDeclined extends NonRetryableError {}
    const error = new PaymentDeclined("card declined");
    expect(error.name).toBe("PaymentDeclined");
    expect(error.code).toBe("NON_RETRYABLE");
    expect(error).toBeInstanceOf(NonRetryableError);
    expect(toFailureDetails(error)).toMatchObject({ errorType: "PaymentDeclined", isNonRetriable: true });
  });

  it("SerializationError names what failed, carries the cause and its message", () => {
    const cause = new TypeError("Do not know how to serialize a BigInt");
    const error = new SerializationError("the result of workflow 'w'", cause);
    expect(error.message).toBe("Could not serialize the result of workflow 'w': Do not know how to serialize a BigInt");
    expect(error.cause).toBe(cause);
  });

  it("the not-registered errors list what is registered, and omit the list when nothing is", () => {
    expect(new ActivityNotRegisteredError("pay", ["ship", "bill"]).message).toContain(
      "No activity named 'pay' is registered with this worker (registered: ship, bill)",
    );
    expect(new ActivityNotRegisteredError("pay", []).message).not.toContain("registered:");
    expect(new WorkflowNotRegisteredError("order", ["a"]).message).toContain(
      "No workflow named 'order' is registered with this worker (registered: a)",
    );
  });

  it("NonDeterminismError exposes its info and words 'nothing' as doing nothing", () => {
    const info = {
      expected: "callActivity('a')",
      actual: "nothing",
      sequenceId: 4,
      historyIndex: 9,
      location: undefined,
    };
    const error = new NonDeterminismError(info);
    expect(error).toMatchObject(info);
    expect(error.message).toContain("history event #9 records callActivity('a') with sequence id 4");
    expect(error.message).toContain("the code now does nothing there");
    const moved = new NonDeterminismError({ ...info, actual: "createTimer()", location: "/src/wf.ts:12:5" });
    expect(moved.message).toContain("the code now calls createTimer() at /src/wf.ts:12:5.");
  });
});

describe("TaskFailedError", () => {
  it("formats an activity failure as Activity 'name' (task #N) failed: <message>", () => {
    const error = new TaskFailedError("activity", "charge", 7, details);
    expect(error.message).toBe("Activity 'charge' (task #7) failed: boom");
    expect(error).toMatchObject({ taskKind: "activity", taskName: "charge", taskId: 7, details });
  });

  it("formats a child failure as Child workflow 'name' (task #N) failed: <message>", () => {
    const error = new TaskFailedError("childWorkflow", "shipping", 2, details);
    expect(error.message).toBe("Child workflow 'shipping' (task #2) failed: boom");
    expect(error.taskKind).toBe("childWorkflow");
  });

  it("is what the workflow catches when an activity fails, with the wire details", () => {
    // python: test_activity_error_handling (the generator receives TaskFailedError with .details)
    let caught: unknown;
    const reg = registry({
      w: function* (ctx: WorkflowContext) {
        try {
          yield ctx.callActivity("charge");
        } catch (error) {
          caught = error;
        }
        return "handled";
      },
    });
    const inner = create(TaskFailureDetailsSchema, { errorType: "IOError", errorMessage: "disk" });
    const failure = create(TaskFailureDetailsSchema, {
      errorType: "ValueError",
      errorMessage: "bad card",
      stackTrace: "Traceback…",
      isNonRetriable: true,
      innerFailure: inner,
    });
    const past = [...started("w"), h.taskScheduled(1, "charge")];
    const done = onlyCompletion(run(reg, past, [h.workflowStarted(at(1)), h.taskFailed(1, failure)]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(caught).toBeInstanceOf(TaskFailedError);
    const error = caught as TaskFailedError;
    expect(error.code).toBe("ACTIVITY_EXECUTION_FAILED");
    expect(error.message).toBe("Activity 'charge' (task #1) failed: bad card");
    expect(error.details).toEqual({
      errorType: "ValueError",
      message: "bad card",
      stackTrace: "Traceback…",
      isNonRetriable: true,
      cause: { errorType: "IOError", message: "disk", stackTrace: undefined, isNonRetriable: false, cause: undefined },
    });
  });

  it("is what the workflow catches when a child workflow fails", () => {
    let caught: unknown;
    const reg = registry({
      w: function* (ctx: WorkflowContext) {
        try {
          yield ctx.callSubOrchestrator("child");
        } catch (error) {
          caught = error;
        }
        return null;
      },
    });
    const past = [...started("w"), h.childWorkflowCreated(1, "child", "abc123:0001")];
    run(reg, past, [h.childWorkflowFailed(1, new RangeError("too far"))]);
    expect(caught).toBeInstanceOf(TaskFailedError);
    expect((caught as TaskFailedError).code).toBe("CHILD_WORKFLOW_FAILED");
    expect((caught as TaskFailedError).message).toBe("Child workflow 'child' (task #1) failed: too far");
    expect((caught as TaskFailedError).details.errorType).toBe("RangeError");
  });
});

describe("an uncaught task failure", () => {
  it("fails the workflow with errorType TaskFailedError, the message, and the workflow's call line in the stack", () => {
    // python: test_activity_task_failed (the stackTrace contains the user's call_activity line)
    const reg = registry({
      w: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("charge"); // @site uncaught-activity
      },
    });
    const past = [...started("w"), h.taskScheduled(1, "charge")];
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, new Error("card expired"))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Activity 'charge' (task #1) failed: card expired");
    expect(done.failureDetails?.stackTrace).toContain(`${THIS_FILE}:${lineOf("@site uncaught-activity")}:`);
  });

  it("does the same for a child workflow", () => {
    // python: test_sub_orchestration_task_failed
    const reg = registry({
      w: function* (ctx: WorkflowContext) {
        yield ctx.callSubOrchestrator("child"); // @site uncaught-child
      },
    });
    const past = [...started("w"), h.childWorkflowCreated(1, "child", "abc123:0001")];
    const done = onlyCompletion(run(reg, past, [h.childWorkflowFailed(1, new Error("no stock"))]));
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.errorMessage).toBe("Child workflow 'child' (task #1) failed: no stock");
    expect(done.failureDetails?.stackTrace).toContain(`${THIS_FILE}:${lineOf("@site uncaught-child")}:`);
  });
});

describe("toFailureDetails / failureDetailsFromProto", () => {
  it("round-trips an error with its cause chain", () => {
    const root = new RangeError("root");
    const error = new NonRetryableError("outer", { cause: new TypeError("middle", { cause: root }) });
    const back = failureDetailsFromProto(toFailureDetails(error));
    expect(back.errorType).toBe("NonRetryableError");
    expect(back.message).toBe("outer");
    expect(back.isNonRetriable).toBe(true);
    expect(back.stackTrace).toBe(error.stack);
    expect(back.cause?.errorType).toBe("TypeError");
    expect(back.cause?.message).toBe("middle");
    expect(back.cause?.isNonRetriable).toBe(false);
    expect(back.cause?.cause?.errorType).toBe("RangeError");
    expect(back.cause?.cause?.stackTrace).toBe(root.stack);
    expect(back.cause?.cause?.cause).toBeUndefined();
  });

  it("round-trips the wire form field by field", () => {
    const pb = create(TaskFailureDetailsSchema, {
      errorType: "E",
      errorMessage: "m",
      stackTrace: "s",
      isNonRetriable: true,
      innerFailure: { errorType: "I", errorMessage: "im" },
    });
    expect(failureDetailsFromProto(pb)).toEqual({
      errorType: "E",
      message: "m",
      stackTrace: "s",
      isNonRetriable: true,
      cause: { errorType: "I", message: "im", stackTrace: undefined, isNonRetriable: false, cause: undefined },
    });
  });

  it("reads absent failure details as a generic Error with an empty message", () => {
    expect(failureDetailsFromProto(undefined)).toEqual({
      errorType: "Error",
      message: "",
      stackTrace: undefined,
      isNonRetriable: false,
      cause: undefined,
    });
  });

  it("uses the class name of `class MyError extends Error` and the name of built-in errors", () => {
    class MyError extends Error {}
    expect(toFailureDetails(new MyError("x")).errorType).toBe("MyError");
    expect(toFailureDetails(new TypeError("x")).errorType).toBe("TypeError");
    expect(toFailureDetails(new Error("x")).errorType).toBe("Error");
  });

  it("describes thrown non-errors by their type", () => {
    expect(toFailureDetails("plain")).toMatchObject({ errorType: "string", errorMessage: "plain" });
    expect(toFailureDetails({ code: 42 })).toMatchObject({ errorType: "object", errorMessage: '{"code":42}' });
    expect(toFailureDetails(null)).toMatchObject({ errorType: "null", errorMessage: "null" });
    expect(toFailureDetails(7)).toMatchObject({ errorType: "number", errorMessage: "7" });
  });

  it("cuts a cyclic cause chain instead of looping", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    a.cause = b;
    let depth = 0;
    for (let f = toFailureDetails(a).innerFailure; f !== undefined; f = f.innerFailure) depth++;
    expect(depth).toBeGreaterThan(0);
    expect(depth).toBeLessThanOrEqual(10);
    const self = new Error("self");
    self.cause = self;
    expect(toFailureDetails(self).innerFailure).toBeUndefined();
  });
});
