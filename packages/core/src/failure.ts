import { create } from "@bufbuild/protobuf";
import { type TaskFailureDetails, TaskFailureDetailsSchema } from "@dt/proto";
import { type FailureDetails, NonRetryableError, TaskFailedError } from "./errors.js";

/** The wire form of a thrown value, with its `cause` chain as innerFailure (bounded, cycles cut). */
export function toFailureDetails(error: unknown, depth = 0): TaskFailureDetails {
  if (!(error instanceof Error)) {
    return create(TaskFailureDetailsSchema, {
      errorType: error === null ? "null" : typeof error,
      errorMessage: typeof error === "string" ? error : safeString(error),
    });
  }
  const details = create(TaskFailureDetailsSchema, {
    errorType: errorTypeName(error),
    errorMessage: error.message,
    isNonRetriable: error instanceof NonRetryableError,
  });
  if (error.stack !== undefined) details.stackTrace = error.stack;
  if (error.cause !== undefined && error.cause !== error && depth < 10) {
    details.innerFailure = toFailureDetails(error.cause, depth + 1);
  } else if (error instanceof TaskFailedError) {
    // The failed activity's or child's own failure is the cause of the workflow's.
    details.innerFailure = fromDetails(error.details);
  }
  return details;
}

function fromDetails(d: FailureDetails): TaskFailureDetails {
  return create(TaskFailureDetailsSchema, {
    errorType: d.errorType,
    errorMessage: d.message,
    isNonRetriable: d.isNonRetriable,
    ...(d.stackTrace === undefined ? {} : { stackTrace: d.stackTrace }),
    ...(d.cause === undefined ? {} : { innerFailure: fromDetails(d.cause) }),
  });
}

/** `name` when it was set (our errors, TypeError, …), else the class name (`class MyError extends Error {}`). */
function errorTypeName(error: Error): string {
  const ctor = error.constructor?.name;
  return error.name === "Error" && ctor !== undefined && ctor !== "" ? ctor : error.name;
}

function safeString(value: unknown): string {
  for (const render of [JSON.stringify, String]) {
    try {
      const text = render(value);
      if (typeof text === "string") return text;
    } catch {}
  }
  return "(a thrown value that cannot be turned into text)";
}
