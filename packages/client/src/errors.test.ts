// sidecarError: the typed error for a failed sidecar call, read from both the gRPC code and the message (sidecars
// disagree: durabletask-go reports most conditions as UNKNOWN with a message, Dapr uses the proper codes).
import { Code, ConnectError } from "@connectrpc/connect";
import {
  DurableTaskError,
  type ErrorCode,
  InvalidArgumentError,
  SidecarError,
  WorkflowAlreadyExistsError,
  WorkflowNotFoundError,
  WorkflowTimeoutError,
} from "@dt/core";
import { describe, expect, it } from "vitest";
import { sidecarError } from "./errors.js";

interface Case {
  readonly grpc: keyof typeof Code;
  readonly message: string;
  readonly expected: ErrorCode;
  readonly type: new (...args: never[]) => Error;
}

describe("sidecarError", () => {
  it.each<Case>([
    {
      grpc: "NotFound",
      message: "instance 'x' not found",
      expected: "WORKFLOW_NOT_FOUND",
      type: WorkflowNotFoundError,
    },
    {
      grpc: "Unknown",
      message: "no such instance exists",
      expected: "WORKFLOW_NOT_FOUND",
      type: WorkflowNotFoundError,
    },
    {
      grpc: "NotFound",
      message: "workflow instance 'src' does not have history event with ID 99",
      expected: "INVALID_ARGUMENT",
      type: InvalidArgumentError,
    },
    {
      grpc: "AlreadyExists",
      message: "duplicate",
      expected: "WORKFLOW_ALREADY_EXISTS",
      type: WorkflowAlreadyExistsError,
    },
    {
      grpc: "Unknown",
      message: "orchestration instance already exists",
      expected: "WORKFLOW_ALREADY_EXISTS",
      type: WorkflowAlreadyExistsError,
    },
    { grpc: "Unavailable", message: "connect ECONNREFUSED", expected: "SIDECAR_UNAVAILABLE", type: SidecarError },
    { grpc: "Unimplemented", message: "unknown method Rerun", expected: "UNIMPLEMENTED", type: SidecarError },
    { grpc: "Unknown", message: "not implemented", expected: "UNIMPLEMENTED", type: SidecarError },
    {
      grpc: "Unknown",
      message: "multi-instance purge is not implemented",
      expected: "UNIMPLEMENTED",
      type: SidecarError,
    },
    {
      grpc: "Unknown",
      message: "orchestration has not yet completed",
      expected: "WORKFLOW_NOT_COMPLETED",
      type: SidecarError,
    },
    {
      grpc: "DeadlineExceeded",
      message: "deadline exceeded",
      expected: "WORKFLOW_TIMEOUT",
      type: WorkflowTimeoutError,
    },
    {
      grpc: "InvalidArgument",
      message: "instanceId is required",
      expected: "INVALID_ARGUMENT",
      type: InvalidArgumentError,
    },
    { grpc: "Internal", message: "database is locked", expected: "SIDECAR_ERROR", type: SidecarError },
    { grpc: "Unknown", message: "something odd happened", expected: "SIDECAR_ERROR", type: SidecarError },
  ])("$grpc $message → $expected", ({ grpc, message, expected, type }) => {
    const cause = new ConnectError(message, Code[grpc]);
    const error = sidecarError(cause, "some_call", "inst-1");
    expect(error).toBeInstanceOf(type);
    expect(error).toBeInstanceOf(DurableTaskError);
    expect((error as DurableTaskError).code).toBe(expected);
    expect(error.cause).toBe(cause);
  });

  it("names the instance on not-found and already-exists errors", () => {
    const notFound = sidecarError(new ConnectError("gone", Code.NotFound), "get_workflow", "order-7");
    const exists = sidecarError(new ConnectError("dup", Code.AlreadyExists), "create_workflow", "order-7");
    expect(notFound).toMatchObject({ instanceId: "order-7" });
    expect(notFound.message).toContain("order-7");
    expect(exists).toMatchObject({ instanceId: "order-7" });
    expect(exists.message).toContain("order-7");
  });

  it.each([
    [Code.Unavailable, "down", "SIDECAR_UNAVAILABLE", "UNAVAILABLE"],
    [Code.Unimplemented, "nope", "UNIMPLEMENTED", "UNIMPLEMENTED"],
    [Code.Unknown, "orchestration has not yet completed", "WORKFLOW_NOT_COMPLETED", "UNKNOWN"],
    [Code.Internal, "database is locked", "SIDECAR_ERROR", "INTERNAL"],
    [Code.PermissionDenied, "bad dapr-api-token", "SIDECAR_ERROR", "PERMISSION_DENIED"],
  ] as const)("code %i %j → %s with grpcCode %s (the gRPC status name)", (code, message, expected, grpcCode) => {
    const error = sidecarError(new ConnectError(message, code), "call");
    expect(error).toBeInstanceOf(SidecarError);
    expect(error).toMatchObject({ code: expected, grpcCode });
  });

  it("puts the call and the sidecar's message in the text", () => {
    const error = sidecarError(new ConnectError("database is locked", Code.Internal), "purge_workflow", "p-1");
    expect(error.message).toMatch(/purge_workflow/);
    expect(error.message).toMatch(/database is locked/);
    const unavailable = sidecarError(new ConnectError("connection refused", Code.Unavailable), "get_workflow");
    expect(unavailable.message).toMatch(/get_workflow: the sidecar is unreachable \(connection refused\)/);
  });

  it("passes the SDK's own errors and AbortErrors through unchanged", () => {
    const own = new WorkflowTimeoutError("waited too long");
    expect(sidecarError(own, "wait")).toBe(own);
    const abort = new DOMException("The operation was aborted.", "AbortError");
    expect(sidecarError(abort, "wait")).toBe(abort);
  });

  it("wraps a non-gRPC failure as SIDECAR_ERROR with its message", () => {
    const error = sidecarError(new TypeError("fetch failed"), "get_workflow", "x");
    expect(error).toMatchObject({ code: "SIDECAR_ERROR" });
    expect(error.message).toMatch(/fetch failed/);
  });
});
