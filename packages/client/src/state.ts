import { type DataConverter, decodePayload, type FailureDetails, failureDetailsFromProto } from "@dt/core";
import { OrchestrationStatus, type WorkflowState as WireState } from "@dt/proto";

/** A workflow instance's status, by its protocol name. */
export type WorkflowStatus =
  | "RUNNING"
  | "COMPLETED"
  | "CONTINUED_AS_NEW"
  | "FAILED"
  | "CANCELED"
  | "TERMINATED"
  | "PENDING"
  | "SUSPENDED"
  | "STALLED";

export function statusName(status: OrchestrationStatus): WorkflowStatus {
  return (OrchestrationStatus[status] ?? "RUNNING") as WorkflowStatus;
}

export function statusValue(name: WorkflowStatus): OrchestrationStatus {
  return OrchestrationStatus[name];
}

const TERMINAL: ReadonlySet<WorkflowStatus> = new Set(["COMPLETED", "FAILED", "TERMINATED", "CANCELED"]);

/** A workflow instance as the sidecar reports it, payloads decoded. `O` is the workflow's output type. */
export interface WorkflowState<O = unknown> {
  readonly instanceId: string;
  readonly name: string;
  readonly status: WorkflowStatus;
  /** True once the instance can no longer change (completed, failed, terminated, canceled). */
  readonly isTerminal: boolean;
  readonly createdAt: Date | undefined;
  readonly lastUpdatedAt: Date | undefined;
  /** When a worker first ran it (Dapr). */
  readonly startedAt: Date | undefined;
  readonly completedAt: Date | undefined;
  readonly scheduledStartAt: Date | undefined;
  /** Decoded input; undefined when absent or unreadable by the converter (the raw text is in `serializedInput`). */
  readonly input: unknown;
  /** Decoded output; undefined when absent or unreadable by the converter (the raw text is in `serializedOutput`). */
  readonly output: O | undefined;
  /** Custom status as the workflow set it (strings raw, other values as JSON text); undefined when empty. */
  readonly customStatus: string | undefined;
  readonly failureDetails: FailureDetails | undefined;
  readonly serializedInput: string | undefined;
  readonly serializedOutput: string | undefined;
  readonly parentInstanceId: string | undefined;
  readonly executionId: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
}

export function toWorkflowState<O>(wire: WireState, converter: DataConverter): WorkflowState<O> {
  const status = statusName(wire.workflowStatus);
  return {
    instanceId: wire.instanceId,
    name: wire.name,
    status,
    isTerminal: TERMINAL.has(status),
    createdAt: date(wire.createdTimestamp),
    lastUpdatedAt: date(wire.lastUpdatedTimestamp),
    startedAt: date(wire.startedAt),
    completedAt: date(wire.completedTimestamp),
    scheduledStartAt: date(wire.scheduledStartTimestamp),
    input: decodeOrUndefined(converter, wire.input),
    output: decodeOrUndefined(converter, wire.output) as O | undefined,
    customStatus: wire.customStatus || undefined,
    failureDetails: wire.failureDetails === undefined ? undefined : failureDetailsFromProto(wire.failureDetails),
    serializedInput: wire.input || undefined,
    serializedOutput: wire.output || undefined,
    parentInstanceId: wire.parentInstanceId,
    executionId: wire.executionId,
    tags: { ...wire.tags },
  };
}

function date(ts: { seconds: bigint; nanos: number } | undefined): Date | undefined {
  if (ts === undefined || (ts.seconds === 0n && ts.nanos === 0)) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000));
}

/** A state is worth showing even when a payload is not valid for the converter (e.g. written by another SDK). */
function decodeOrUndefined(converter: DataConverter, text: string | undefined): unknown {
  try {
    return decodePayload(converter, text);
  } catch {
    return undefined;
  }
}
