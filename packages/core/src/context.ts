import type { Metadata } from "./converter.js";
import type { ActivityDefinition, InputOption, WorkflowDefinition } from "./definitions.js";
import type { Duration } from "./duration.js";
import type { Logger } from "./logger.js";
import type { RetryPolicy, RetryPolicyOptions } from "./retry.js";
import type { Task, TaskResults, whenAll, whenAny } from "./task.js";

interface CallOptions {
  readonly retryPolicy?: RetryPolicy | RetryPolicyOptions;
  /** Run it in another Dapr app (cross-app routing). */
  readonly appId?: string;
  /**
   * Small string key/values for the callee (tenant, request id, …): an activity reads them as `ctx.metadata`, a child
   * workflow as `ctx.metadata`. Carried in the input's envelope (see @dt/core's README).
   */
  readonly metadata?: Metadata;
}

export type CallActivityOptions<I> = InputOption<I> & CallOptions;
export type CallChildWorkflowOptions<I> = InputOption<I> &
  CallOptions & {
    /** Default: `<parent instance id>:<4-hex sequence number>`. */
    readonly instanceId?: string;
  };

/** `[options]`, required exactly when the input type is. */
type OptionsArg<I, O> = [undefined] extends [I] ? [options?: O] : [options: O];

/**
 * What a generator workflow sees. Everything here is deterministic: replaying the same history gives the same
 * values and the same calls.
 */
export interface WorkflowContext {
  readonly instanceId: string;
  readonly workflowName: string;
  /** The execution's id (it changes on continue-as-new). */
  readonly executionId: string | undefined;
  /** The time of the current turn, from its WorkflowStarted event. Use it instead of `new Date()`. */
  readonly currentUtcDateTime: Date;
  /** True while the engine re-runs code for events it has already processed before. */
  readonly isReplaying: boolean;
  readonly parentInstanceId: string | undefined;
  /** This app's id, when the sidecar reports it (Dapr). */
  readonly appId: string | undefined;
  /** W3C trace context of the workflow's span, when the sidecar traces. */
  readonly traceParent: string | undefined;
  readonly traceState: string | undefined;
  /** A logger that stays silent while replaying. */
  readonly logger: Logger;
  /** True while a suspend is in effect (events are buffered until resume). */
  readonly isSuspended: boolean;
  /** Position in the history of the event being processed (0-based): where in its history the code is. */
  readonly historyEventSequence: number;
  /** The span id the sidecar assigned to this workflow's trace span, when it traces. */
  readonly workflowSpanId: string | undefined;
  /** Metadata the caller attached when it scheduled this workflow (a parent's `metadata` option); empty if none. */
  readonly metadata: Metadata;
  /** Facts the sidecar recorded when the execution started. */
  readonly executionInfo: ExecutionInfo;

  callActivity<I, O>(activity: ActivityDefinition<I, O>, ...options: OptionsArg<I, CallActivityOptions<I>>): Task<O>;
  callActivity<O = unknown>(name: string, options?: CallActivityOptions<unknown>): Task<O>;

  callSubOrchestrator<I, O>(
    workflow: WorkflowDefinition<I, O>,
    ...options: OptionsArg<I, CallChildWorkflowOptions<I>>
  ): Task<O>;
  callSubOrchestrator<O = unknown>(name: string, options?: CallChildWorkflowOptions<unknown>): Task<O>;
  /** Alias of `callSubOrchestrator` (Dapr's name). */
  callChildWorkflow<I, O>(
    workflow: WorkflowDefinition<I, O>,
    ...options: OptionsArg<I, CallChildWorkflowOptions<I>>
  ): Task<O>;
  callChildWorkflow<O = unknown>(name: string, options?: CallChildWorkflowOptions<unknown>): Task<O>;

  /** A durable timer: at a Date, or after a Duration (a number is seconds). */
  createTimer(fireAt: Date | Duration, options?: { readonly name?: string }): Task<void>;

  /**
   * The next event raised with this name (case-insensitive; events that arrived earlier are consumed first, in
   * order). With a timeout the task fails with WorkflowTimeoutError (code WORKFLOW_TIMEOUT) if none arrives.
   */
  waitForExternalEvent<T = unknown>(name: string, options?: { readonly timeout?: Duration }): Task<T>;

  /** Raise an event on another workflow instance. */
  sendEvent(instanceId: string, name: string, data?: unknown): void;

  /**
   * Restart this workflow with a new input and an empty history once the current code returns. With
   * `saveEvents`, external events that arrived but were not consumed are carried over to the new execution.
   */
  continueAsNew(input: unknown, options?: { readonly saveEvents?: boolean }): void;

  /** Strings are stored as they are; anything else is serialized by the data converter. */
  setCustomStatus(status: unknown): void;

  /**
   * Versioning without redeploys: true for instances that reach this point with the patch (new ones), false for
   * instances whose history was written by code without it. The decision is remembered in history.
   */
  isPatched(patchName: string): boolean;

  /** A deterministic UUID (v5, compatible with the Dapr Python SDK's `new_guid`). */
  newGuid(): string;

  whenAll: typeof whenAll;
  whenAny: typeof whenAny;
}

/** What the sidecar recorded in the execution's ExecutionStarted event. */
export interface ExecutionInfo {
  readonly executionId: string | undefined;
  /** Tags given when the instance was scheduled. */
  readonly tags: Readonly<Record<string, string>>;
  /** When a scheduled start was requested, that time. */
  readonly scheduledStartTime: Date | undefined;
  readonly parentInstanceId: string | undefined;
  readonly workflowSpanId: string | undefined;
}

export type { TaskResults };
