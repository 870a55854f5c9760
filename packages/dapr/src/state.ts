// Workflow state as @dapr/dapr reports it: a numeric runtime status and raw (serialized) payloads, plus the decoded
// values and the full @dt/client state for code that wants them.
import type { WorkflowState as ClientWorkflowState, WorkflowStatus } from "@dt/client";
import type { FailureDetails } from "@dt/core";
import { OrchestrationStatus } from "@dt/proto";

/**
 * The runtime status of a workflow instance. The values are the wire's (`OrchestrationStatus`), as in @dapr/dapr;
 * CANCELED and STALLED (Dapr workflow versioning: the code for the instance's version is not deployed) are added.
 */
export enum WorkflowRuntimeStatus {
  RUNNING = 0,
  COMPLETED = 1,
  CONTINUED_AS_NEW = 2,
  FAILED = 3,
  CANCELED = 4,
  TERMINATED = 5,
  PENDING = 6,
  SUSPENDED = 7,
  STALLED = 8,
}

/** The wire status as a `WorkflowRuntimeStatus` (the numbers are the same). */
export function fromOrchestrationStatus(status: OrchestrationStatus): WorkflowRuntimeStatus {
  return status as number as WorkflowRuntimeStatus;
}

/** A `WorkflowRuntimeStatus` as the wire's status. */
export function toOrchestrationStatus(status: WorkflowRuntimeStatus): OrchestrationStatus {
  return status as number as OrchestrationStatus;
}

/** A status name as @dt/client reports it (`"COMPLETED"`) as a `WorkflowRuntimeStatus`. */
export function fromStatusName(name: WorkflowStatus): WorkflowRuntimeStatus {
  return OrchestrationStatus[name] as number as WorkflowRuntimeStatus;
}

/** Why a workflow failed: the error's type, message and stack, and what caused it. */
export class WorkflowFailureDetails {
  readonly #details: FailureDetails;

  constructor(details: FailureDetails) {
    this.#details = details;
  }

  getErrorType(): string {
    return this.#details.errorType;
  }

  getErrorMessage(): string {
    return this.#details.message;
  }

  getStackTrace(): string | undefined {
    return this.#details.stackTrace;
  }

  /** The failure that caused this one (e.g. the activity's, under the workflow's TaskFailedError). */
  getInnerFailureDetails(): WorkflowFailureDetails | undefined {
    return this.#details.cause === undefined ? undefined : new WorkflowFailureDetails(this.#details.cause);
  }

  /** True when the error asked not to be retried (`NonRetryableError`). */
  isNonRetriable(): boolean {
    return this.#details.isNonRetriable;
  }

  /** The plain details (errorType, message, stackTrace, isNonRetriable, cause). */
  get details(): FailureDetails {
    return this.#details;
  }
}

/** A workflow instance's state. `O` is its output type, for `output`. */
export class WorkflowState<O = unknown> {
  readonly #state: ClientWorkflowState<O>;
  readonly #failure: WorkflowFailureDetails | undefined;

  constructor(state: ClientWorkflowState<O>) {
    this.#state = state;
    this.#failure = state.failureDetails === undefined ? undefined : new WorkflowFailureDetails(state.failureDetails);
  }

  get name(): string {
    return this.#state.name;
  }

  get instanceId(): string {
    return this.#state.instanceId;
  }

  get runtimeStatus(): WorkflowRuntimeStatus {
    return fromStatusName(this.#state.status);
  }

  /** When the instance was created (the epoch if the sidecar did not say). */
  get createdAt(): Date {
    return this.#state.createdAt ?? new Date(0);
  }

  /** When the instance last changed (the epoch if the sidecar did not say). */
  get lastUpdatedAt(): Date {
    return this.#state.lastUpdatedAt ?? new Date(0);
  }

  /** The input as stored (JSON text), when payloads were fetched. */
  get serializedInput(): string | undefined {
    return this.#state.serializedInput;
  }

  /** The output as stored (JSON text), when payloads were fetched. */
  get serializedOutput(): string | undefined {
    return this.#state.serializedOutput;
  }

  get workflowFailureDetails(): WorkflowFailureDetails | undefined {
    return this.#failure;
  }

  /** As the workflow set it: strings as they are, other values as JSON text. */
  get customStatus(): string | undefined {
    return this.#state.customStatus;
  }

  /** The decoded input. */
  get input(): unknown {
    return this.#state.input;
  }

  /** The decoded output. */
  get output(): O | undefined {
    return this.#state.output;
  }

  /** True once the instance can no longer change (completed, failed, terminated). */
  get isTerminal(): boolean {
    return this.#state.isTerminal;
  }

  /** Everything @dt/client knows about the instance (timestamps, parent, tags, …). */
  get details(): ClientWorkflowState<O> {
    return this.#state;
  }
}
