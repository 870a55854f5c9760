import { Code, ConnectError } from "@connectrpc/connect";
import {
  DurableTaskError,
  InvalidArgumentError,
  SidecarError,
  WorkflowAlreadyExistsError,
  WorkflowNotFoundError,
  WorkflowTimeoutError,
} from "@dt/core";
import { grpcCodeName } from "@dt/proto/transport";

/**
 * The typed error for a failed sidecar call. Sidecars disagree on codes (durabletask-go reports most conditions as
 * UNKNOWN with a message; Dapr uses NOT_FOUND / ALREADY_EXISTS), so both the code and the message are read.
 */
export function sidecarError(error: unknown, call: string, instanceId?: string): Error {
  if (error instanceof DurableTaskError || (error instanceof Error && error.name === "AbortError")) return error;
  const ce = ConnectError.from(error);
  const message = ce.rawMessage;
  const id = instanceId ?? "";
  // A missing history event (rerun) is a bad argument, not a missing instance.
  if (/history event/i.test(message))
    return Object.assign(new InvalidArgumentError(`${call}: ${message}`), { cause: ce });
  if (ce.code === Code.NotFound || /no such instance|not found|does not exist/i.test(message)) {
    return new WorkflowNotFoundError(id, { cause: ce });
  }
  if (ce.code === Code.AlreadyExists || /already exists/i.test(message)) {
    return new WorkflowAlreadyExistsError(id, { cause: ce });
  }
  if (ce.code === Code.DeadlineExceeded) {
    return Object.assign(new WorkflowTimeoutError(`${call} timed out${id === "" ? "" : ` for '${id}'`}.`), {
      cause: ce,
    });
  }
  if (/not yet completed|has not completed|is not in a terminal state/i.test(message)) {
    return new SidecarError(
      "WORKFLOW_NOT_COMPLETED",
      grpcCodeName(ce.code),
      `${call}: '${id}' has not completed yet (${message}). Wait for completion or terminate it first.`,
      { cause: ce },
    );
  }
  if (ce.code === Code.InvalidArgument)
    return Object.assign(new InvalidArgumentError(`${call}: ${message}`), { cause: ce });
  if (ce.code === Code.Unavailable) {
    return new SidecarError("SIDECAR_UNAVAILABLE", "UNAVAILABLE", `${call}: the sidecar is unreachable (${message}).`, {
      cause: ce,
    });
  }
  if (ce.code === Code.Unimplemented || /not implemented|unimplemented/i.test(message)) {
    return new SidecarError(
      "UNIMPLEMENTED",
      "UNIMPLEMENTED",
      `${call} is not supported by this sidecar (${message}).`,
      {
        cause: ce,
      },
    );
  }
  return new SidecarError("SIDECAR_ERROR", grpcCodeName(ce.code), `${call} failed: ${message}`, {
    cause: ce,
  });
}
