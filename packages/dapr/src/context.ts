// The contexts workflow and activity code sees, with @dapr/dapr's method names and positional arguments, over
// @dt/core's contexts. Every call goes straight to the engine: the tasks returned are @dt/core tasks.
import {
  type ActivityContext,
  type ActivityDefinition,
  type RetryPolicy as CoreRetryPolicy,
  type WorkflowContext as CoreWorkflowContext,
  type Duration,
  InvalidArgumentError,
  type Logger,
  type RetryPolicyOptions,
  type Task,
  type TaskResults,
  type WorkflowDefinition,
  whenAll,
  whenAny,
} from "@dt/core";
import { getFunctionName } from "./names.js";
import { type DaprRetryPolicyOptions, RetryPolicy } from "./retry.js";
import type { TInput, TOutput, TWorkflow, TWorkflowActivity } from "./types.js";

/** Options of `callActivity` (Dapr's other SDKs take the same: a retry policy and a target app). */
export interface CallActivityOptions {
  readonly retryPolicy?: CoreRetryPolicy | DaprRetryPolicyOptions | RetryPolicyOptions;
  /** Run it in another Dapr app (multi-app workflows). */
  readonly appId?: string;
}

/** Options of `callChildWorkflow`. */
export interface CallChildWorkflowOptions extends CallActivityOptions {
  /** Default: `<parent instance id>:<4-hex sequence number>`, as Dapr does. */
  readonly instanceId?: string;
}

type ActivityRef<I, O> = TWorkflowActivity<I, O> | ActivityDefinition<I, O> | string;
type WorkflowRef<I, O> = TWorkflow | WorkflowDefinition<I, O> | string;

/**
 * Passed to every workflow: schedules activities, child workflows and timers, waits for events, and tells the time
 * and instance. All of it is deterministic: replaying the same history gives the same values and calls.
 */
export class WorkflowContext {
  readonly #ctx: CoreWorkflowContext;

  constructor(innerContext: CoreWorkflowContext) {
    if (innerContext === undefined || innerContext === null) {
      throw new InvalidArgumentError("WorkflowContext needs the engine's context.");
    }
    this.#ctx = innerContext;
  }

  /** The @dt/core context underneath, for its typed API (`yield* ctx.core.callActivity(def, { input })`). */
  get core(): CoreWorkflowContext {
    return this.#ctx;
  }

  getWorkflowInstanceId(): string {
    return this.#ctx.instanceId;
  }

  getWorkflowName(): string {
    return this.#ctx.workflowName;
  }

  /** Changes on continue-as-new. */
  getExecutionId(): string | undefined {
    return this.#ctx.executionId;
  }

  getParentInstanceId(): string | undefined {
    return this.#ctx.parentInstanceId;
  }

  /** The time of the current turn (from history): use it instead of `new Date()`. */
  getCurrentUtcDateTime(): Date {
    return this.#ctx.currentUtcDateTime;
  }

  /** True while the engine re-runs code for events it has processed before. */
  isReplaying(): boolean {
    return this.#ctx.isReplaying;
  }

  /** This app's id, when the sidecar reports it (Dapr). */
  getAppId(): string | undefined {
    return this.#ctx.appId;
  }

  /** W3C trace context of the workflow's span, when the sidecar traces. */
  getTraceParent(): string | undefined {
    return this.#ctx.traceParent;
  }

  /** A logger that stays silent while replaying (the runtime's `logger`). */
  getLogger(): Logger {
    return this.#ctx.logger;
  }

  /**
   * A durable timer: at a Date, or after a number of seconds (or `{ minutes: 5 }`). Typed `Task<any>` as in
   * @dapr/dapr, so comparing it with a `whenAny` winner type-checks.
   */
  // biome-ignore lint/suspicious/noExplicitAny: @dapr/dapr's type; a timer's value is undefined.
  createTimer(fireAt: Date | Duration): Task<any> {
    return this.#ctx.createTimer(fireAt);
  }

  /** Schedules an activity: by function (its name), by @dt/core definition, or by name. */
  callActivity<I = TInput, O = TOutput>(
    activity: ActivityRef<I, O>,
    input?: I,
    options: CallActivityOptions = {},
  ): Task<Awaited<O>> {
    const name = typeof activity === "string" ? activity : nameOf(activity, "activity");
    return this.#ctx.callActivity<Awaited<O>>(name, callOptions(input, options));
  }

  /** Schedules a child workflow. The third argument is its instance id, or options. */
  callChildWorkflow<I = TInput, O = TOutput>(
    workflow: WorkflowRef<I, O>,
    input?: I,
    instanceIdOrOptions?: string | CallChildWorkflowOptions,
  ): Task<Awaited<O>> {
    const name = typeof workflow === "string" ? workflow : nameOf(workflow, "workflow");
    const options: CallChildWorkflowOptions =
      typeof instanceIdOrOptions === "string" ? { instanceId: instanceIdOrOptions } : (instanceIdOrOptions ?? {});
    return this.#ctx.callChildWorkflow<Awaited<O>>(name, {
      ...callOptions(input, options),
      ...(options.instanceId === undefined ? {} : { instanceId: options.instanceId }),
    });
  }

  /** @deprecated Use `callChildWorkflow` (as in @dapr/dapr). */
  callSubWorkflow<I = TInput, O = TOutput>(
    workflow: WorkflowRef<I, O>,
    input?: I,
    instanceIdOrOptions?: string | CallChildWorkflowOptions,
  ): Task<Awaited<O>> {
    return this.callChildWorkflow(workflow, input, instanceIdOrOptions);
  }

  /**
   * The next event raised with this name (case-insensitive, buffered in arrival order). With a timeout (seconds, or
   * `{ hours: 1 }`) the task fails with `WorkflowTimeoutError` (code WORKFLOW_TIMEOUT) when none arrives in time.
   */
  // biome-ignore lint/suspicious/noExplicitAny: as in @dapr/dapr, the event's payload is untyped unless you say so.
  waitForExternalEvent<T = any>(name: string, timeout?: Duration): Task<T> {
    return this.#ctx.waitForExternalEvent<T>(name, timeout === undefined ? {} : { timeout });
  }

  /** Raises an event on another workflow instance. */
  sendEvent(instanceId: string, eventName: string, data?: unknown): void {
    this.#ctx.sendEvent(instanceId, eventName, data);
  }

  /**
   * Restarts the workflow with `newInput` and an empty history once this code returns. With `saveEvents`, events
   * that arrived but were not consumed are carried over.
   */
  continueAsNew(newInput: unknown, saveEvents = false): void {
    this.#ctx.continueAsNew(newInput, { saveEvents });
  }

  /** Strings are stored as they are, anything else as JSON. */
  setCustomStatus(status: unknown): void {
    this.#ctx.setCustomStatus(status);
  }

  /** Versioning: true for instances that reach this point with the patch, false for older histories. */
  isPatched(patchName: string): boolean {
    return this.#ctx.isPatched(patchName);
  }

  /** A deterministic UUID (the same as the Dapr Python SDK's `new_guid` for the same instance and turn). */
  newGuid(): string {
    return this.#ctx.newGuid();
  }

  /** All results in order once every task has completed; the first failure otherwise. */
  whenAll<const T extends readonly Task<unknown>[]>(tasks: T): Task<TaskResults<T>> {
    return whenAll(tasks);
  }

  /** The first task to complete (or fail): compare it with your tasks, or read it. */
  whenAny<const T extends readonly Task<unknown>[]>(tasks: T): Task<T[number]> {
    return whenAny(tasks);
  }
}

/** Passed to every activity: which workflow called it, and the call's identity. */
export class WorkflowActivityContext {
  readonly #ctx: ActivityContext;

  constructor(innerContext: ActivityContext) {
    if (innerContext === undefined || innerContext === null) {
      throw new InvalidArgumentError("WorkflowActivityContext needs the engine's activity context.");
    }
    this.#ctx = innerContext;
  }

  /** The @dt/core activity context underneath. */
  get core(): ActivityContext {
    return this.#ctx;
  }

  getWorkflowInstanceId(): string {
    return this.#ctx.instanceId;
  }

  /** The call's sequence id in the workflow (a retry is a new call with a new id). */
  getWorkflowActivityId(): number {
    return this.#ctx.taskId;
  }

  /** Stable across the retries of one call: an idempotency key. */
  getTaskExecutionId(): string {
    return this.#ctx.taskExecutionId;
  }

  getActivityName(): string {
    return this.#ctx.name;
  }

  /** Aborted when the worker shuts down: pass it to fetch and other cancellable I/O. */
  get signal(): AbortSignal {
    return this.#ctx.signal;
  }

  /** W3C trace context of the call, when the sidecar traces. */
  get traceParent(): string | undefined {
    return this.#ctx.traceParent;
  }

  get traceState(): string | undefined {
    return this.#ctx.traceState;
  }
}

function nameOf(ref: { readonly name: string } | ((...args: never[]) => unknown), what: "workflow" | "activity") {
  if (typeof ref === "function") return getFunctionName(ref, what);
  if (typeof ref === "object" && ref !== null && typeof ref.name === "string") return ref.name;
  throw new InvalidArgumentError(`Call a ${what} by function, definition or name; got ${typeof ref}.`);
}

function callOptions(input: unknown, options: CallActivityOptions) {
  const retryPolicy = options.retryPolicy === undefined ? undefined : RetryPolicy.from(options.retryPolicy);
  return {
    ...(input === undefined ? {} : { input }),
    ...(retryPolicy === undefined ? {} : { retryPolicy }),
    ...(options.appId === undefined ? {} : { appId: options.appId }),
  };
}
