// Typed errors with stable codes. `code` is the contract scripts and callers match on; messages may improve.
import type { TaskFailureDetails } from "@dt/proto";

export type ErrorCode =
  | "WORKFLOW_NOT_FOUND"
  | "WORKFLOW_ALREADY_EXISTS"
  | "WORKFLOW_NOT_REGISTERED"
  | "ACTIVITY_NOT_REGISTERED"
  | "ACTIVITY_EXECUTION_FAILED"
  | "CHILD_WORKFLOW_FAILED"
  | "NON_DETERMINISTIC"
  | "WORKFLOW_TIMEOUT"
  | "NON_RETRYABLE"
  | "SERIALIZATION_FAILED"
  | "INVALID_ARGUMENT"
  | "INVALID_STATE"
  | "HISTORY_UNAVAILABLE"
  | "WORKFLOW_NOT_COMPLETED"
  | "SIDECAR_UNAVAILABLE"
  | "UNIMPLEMENTED"
  | "SIDECAR_ERROR"
  | "ASYNC_WORKFLOW_ERROR"
  | "FOREIGN_AWAIT"
  | "WORKFLOW_VALIDATION_FAILED"
  | "SANDBOX_VIOLATION"
  | "UNSUPPORTED_BY_SIDECAR";

/** Base of every error this SDK throws on purpose. */
export class DurableTaskError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A failure as it travels on the wire (`TaskFailureDetails`), readable without the proto types. */
export interface FailureDetails {
  readonly errorType: string;
  readonly message: string;
  readonly stackTrace: string | undefined;
  readonly isNonRetriable: boolean;
  readonly cause: FailureDetails | undefined;
}

export function failureDetailsFromProto(pb: TaskFailureDetails | undefined): FailureDetails {
  return {
    errorType: pb?.errorType ?? "Error",
    message: pb?.errorMessage ?? "",
    stackTrace: pb?.stackTrace,
    isNonRetriable: pb?.isNonRetriable ?? false,
    cause: pb?.innerFailure === undefined ? undefined : failureDetailsFromProto(pb.innerFailure),
  };
}

/** Thrown into a workflow when an activity or child workflow it awaited failed. */
export class TaskFailedError extends DurableTaskError {
  readonly details: FailureDetails;
  readonly taskKind: "activity" | "childWorkflow";
  readonly taskName: string;
  readonly taskId: number;
  constructor(kind: "activity" | "childWorkflow", name: string, taskId: number, details: FailureDetails) {
    const what = kind === "activity" ? "Activity" : "Child workflow";
    super(
      kind === "activity" ? "ACTIVITY_EXECUTION_FAILED" : "CHILD_WORKFLOW_FAILED",
      `${what} '${name}' (task #${taskId}) failed: ${details.message}`,
    );
    this.details = details;
    this.taskKind = kind;
    this.taskName = name;
    this.taskId = taskId;
  }
}

/** Throw from an activity or workflow to fail it without retries, whatever the caller's retry policy says. */
export class NonRetryableError extends DurableTaskError {
  constructor(message: string, options?: ErrorOptions) {
    super("NON_RETRYABLE", message, options);
  }
}

/** Any timeout this SDK reports; catch this to handle every kind of timeout alike. */
export class TimeoutError extends DurableTaskError {}

/** A wait that ended because its timeout fired first (external events, `withTimeout`). */
export class WorkflowTimeoutError extends TimeoutError {
  /** The timeout, when it was given in seconds (`withTimeout`). */
  readonly timeoutSeconds: number | undefined;
  /** What timed out, e.g. `callActivity('charge')`. */
  readonly operation: string | undefined;
  constructor(message: string, info: { readonly timeoutSeconds?: number; readonly operation?: string } = {}) {
    super("WORKFLOW_TIMEOUT", message);
    this.timeoutSeconds = info.timeoutSeconds;
    this.operation = info.operation;
  }
}

export interface NonDeterminismInfo {
  /** What the history says the workflow did at this point, e.g. `callActivity('charge')`. */
  readonly expected: string;
  /** What the current code did instead, e.g. `createTimer(...)` or `nothing`. */
  readonly actual: string;
  /** The action's sequence number (the history event's eventId). */
  readonly sequenceId: number;
  /** Position of the history event that did not match, counting from the first past event. */
  readonly historyIndex: number;
  /** `file:line:column` of the workflow call that diverged, when known. */
  readonly location: string | undefined;
}

/** The workflow code no longer produces the actions its history recorded. */
export class NonDeterminismError extends DurableTaskError implements NonDeterminismInfo {
  readonly expected: string;
  readonly actual: string;
  readonly sequenceId: number;
  readonly historyIndex: number;
  readonly location: string | undefined;
  constructor(info: NonDeterminismInfo) {
    super(
      "NON_DETERMINISTIC",
      `Non-deterministic workflow: history event #${info.historyIndex} records ${info.expected} with sequence id ` +
        `${info.sequenceId}, but the code now ${info.actual === "nothing" ? "does nothing there" : `calls ${info.actual}`}` +
        `${info.location === undefined ? "" : ` at ${info.location}`}. The workflow code changed (or depends on ` +
        "time, randomness or I/O) after this instance started; guard the change with ctx.isPatched() or keep the old code path.",
    );
    this.expected = info.expected;
    this.actual = info.actual;
    this.sequenceId = info.sequenceId;
    this.historyIndex = info.historyIndex;
    this.location = info.location;
  }
}

/**
 * A problem in an async workflow that the async layer found (not an error the code threw): the message names the
 * workflow, the instance and the step it was at.
 */
export class AsyncWorkflowError extends DurableTaskError {
  readonly workflowName: string;
  readonly instanceId: string;
  readonly step: string;
  constructor(
    message: string,
    where: { readonly workflowName: string; readonly instanceId: string; readonly step: string },
    code: "ASYNC_WORKFLOW_ERROR" | "FOREIGN_AWAIT" | "WORKFLOW_VALIDATION_FAILED" = "ASYNC_WORKFLOW_ERROR",
    options?: ErrorOptions,
  ) {
    super(
      code,
      `${message} (workflow: ${where.workflowName}, instance: ${where.instanceId}, step: ${where.step})`,
      options,
    );
    this.workflowName = where.workflowName;
    this.instanceId = where.instanceId;
    this.step = where.step;
  }
}

/**
 * An async workflow awaited something that is not a workflow task (fetch, a real timer, file I/O): history cannot
 * settle it, so the workflow could never replay. `location` is where the code awaits, when it could be found.
 */
export class ForeignAwaitError extends AsyncWorkflowError {
  readonly location: string | undefined;
  constructor(
    where: { readonly workflowName: string; readonly instanceId: string; readonly step: string },
    location: string | undefined,
  ) {
    super(
      `The workflow awaits something that is not a workflow task${location === undefined ? "" : ` at ${location}`}: a Promise from fetch, a timer, ` +
        "I/O or another library, which replay cannot reproduce. Await only ctx operations (callActivity, sleep, " +
        "waitForExternalEvent, …) and move the I/O into an activity",
      where,
      "FOREIGN_AWAIT",
    );
    this.location = location;
  }
}

export class WorkflowNotRegisteredError extends DurableTaskError {
  constructor(name: string, known: readonly string[]) {
    super(
      "WORKFLOW_NOT_REGISTERED",
      `No workflow named '${name}' is registered with this worker` +
        (known.length > 0 ? ` (registered: ${known.join(", ")})` : "") +
        ". Register it, or check the name the instance was scheduled with.",
    );
  }
}

export class ActivityNotRegisteredError extends DurableTaskError {
  constructor(name: string, known: readonly string[]) {
    super(
      "ACTIVITY_NOT_REGISTERED",
      `No activity named '${name}' is registered with this worker` +
        (known.length > 0 ? ` (registered: ${known.join(", ")})` : "") +
        ". Register it, or check the name the workflow calls.",
    );
  }
}

export class SerializationError extends DurableTaskError {
  constructor(what: string, cause: unknown, direction: "serialize" | "deserialize" = "serialize") {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super("SERIALIZATION_FAILED", `Could not ${direction} ${what}: ${reason}`, { cause });
  }
}

export class InvalidArgumentError extends DurableTaskError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", message);
  }
}

/** The engine was handed something it cannot process (e.g. a stateful-history request without its cached events). */
export class InvalidStateError extends DurableTaskError {
  constructor(code: "INVALID_STATE" | "HISTORY_UNAVAILABLE", message: string) {
    super(code, message);
  }
}

export class WorkflowNotFoundError extends DurableTaskError {
  readonly instanceId: string;
  constructor(instanceId: string, options?: ErrorOptions) {
    super("WORKFLOW_NOT_FOUND", `No workflow instance '${instanceId}' exists (never created, or purged).`, options);
    this.instanceId = instanceId;
  }
}

export class WorkflowAlreadyExistsError extends DurableTaskError {
  readonly instanceId: string;
  constructor(instanceId: string, options?: ErrorOptions) {
    super(
      "WORKFLOW_ALREADY_EXISTS",
      `A workflow instance '${instanceId}' already exists. Use another instance id, or purge the old instance first.`,
      options,
    );
    this.instanceId = instanceId;
  }
}

/**
 * A workflow called something the sidecar it runs on cannot carry out (e.g. `sendEvent` on daprd 1.18, which would
 * fail the turn inside daprd and retry it forever). Thrown at the call, so the workflow fails with this error and the
 * stack names the line.
 */
export class UnsupportedBySidecarError extends DurableTaskError {
  readonly operation: string;
  constructor(operation: string, reason: string) {
    super("UNSUPPORTED_BY_SIDECAR", `${operation} is not supported here: ${reason}`);
    this.operation = operation;
  }
}

/** The sidecar refused or failed a call; `grpcCode` is the gRPC status name (e.g. "UNAVAILABLE"). */
export class SidecarError extends DurableTaskError {
  readonly grpcCode: string;
  constructor(
    code: "SIDECAR_UNAVAILABLE" | "UNIMPLEMENTED" | "SIDECAR_ERROR" | "WORKFLOW_NOT_COMPLETED" | "INVALID_ARGUMENT",
    grpcCode: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.grpcCode = grpcCode;
  }
}
