// What an async workflow sees: the @dt/core context's operations as awaitables (tasks are PromiseLike), plus the
// async layer's helpers. Everything is deterministic: the same history gives the same values and the same calls.
import {
  type ActivityDefinition,
  AsyncWorkflowError,
  type CallActivityOptions,
  type CallChildWorkflowOptions,
  type Duration,
  durationMs,
  type ExecutionInfo,
  type Logger,
  type Metadata,
  Task,
  type TaskResults,
  type WorkflowContext,
  type WorkflowDefinition,
  WorkflowTimeoutError,
  whenAll,
  whenAny,
} from "@dt/core";
import { seededRandom } from "@dt/sandbox";

/** `[options]`, required exactly when the input type is. */
type OptionsArg<I, O> = [undefined] extends [I] ? [options?: O] : [options: O];

/** A whenAny winner: the very task that settled first (`winner === approval`), with its result at hand. */
export type Winner<T extends Task<unknown>> = Omit<T, "then">;

/** A read-only snapshot of where the workflow is (Temporal-style `info`). */
export interface WorkflowInfo {
  readonly instanceId: string;
  readonly workflowName: string;
  readonly executionId: string | undefined;
  readonly appId: string | undefined;
  readonly isReplaying: boolean;
  readonly isSuspended: boolean;
  readonly parentInstanceId: string | undefined;
  readonly currentTime: Date;
  readonly historyEventSequence: number;
  readonly traceParent: string | undefined;
  readonly traceState: string | undefined;
  readonly workflowSpanId: string | undefined;
}

/** One recorded operation (debug mode). */
export interface DebugOperation {
  readonly operation: string;
  readonly time: string;
  readonly replaying: boolean;
  readonly historyEventSequence: number;
}

export interface DebugInfo {
  readonly instanceId: string;
  readonly workflowName: string;
  readonly currentTime: string;
  readonly isReplaying: boolean;
  readonly isSuspended: boolean;
  readonly debugMode: boolean;
  readonly step: string;
  /** Every operation of this turn, in order (debug mode only; empty otherwise). */
  readonly operationHistory: readonly DebugOperation[];
  readonly cleanupTasksCount: number;
}

type Cleanup = () => unknown;

export interface AsyncContextOptions {
  /** Record operations (getDebugInfo) and log each one at debug level. */
  readonly debug?: boolean;
}

export class AsyncWorkflowContext implements AsyncDisposable {
  readonly #base: WorkflowContext;
  readonly #debug: boolean;
  readonly #operations: DebugOperation[] = [];
  readonly #cleanups: Cleanup[] = [];
  #metadata: Metadata;
  #hasMetadata: boolean;
  #random: (() => number) | undefined;
  /** The last operation, as `kind` and `detail` (formatted only when asked: this is on every call). */
  #stepKind = "execution";
  #stepDetail: unknown;

  constructor(base: WorkflowContext, options: AsyncContextOptions = {}) {
    this.#base = base;
    this.#debug = options.debug ?? false;
    this.#metadata = base.metadata;
    this.#hasMetadata = Object.keys(base.metadata).length > 0;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Facts

  get instanceId(): string {
    return this.#base.instanceId;
  }
  get workflowName(): string {
    return this.#base.workflowName;
  }
  get executionId(): string | undefined {
    return this.#base.executionId;
  }
  get isReplaying(): boolean {
    return this.#base.isReplaying;
  }
  get isSuspended(): boolean {
    return this.#base.isSuspended;
  }
  get parentInstanceId(): string | undefined {
    return this.#base.parentInstanceId;
  }
  get appId(): string | undefined {
    return this.#base.appId;
  }
  /** The turn's time (from history). Same as `now()`. */
  get currentUtcDateTime(): Date {
    return this.#base.currentUtcDateTime;
  }
  get historyEventSequence(): number {
    return this.#base.historyEventSequence;
  }
  get traceParent(): string | undefined {
    return this.#base.traceParent;
  }
  get traceState(): string | undefined {
    return this.#base.traceState;
  }
  get workflowSpanId(): string | undefined {
    return this.#base.workflowSpanId;
  }
  /** Alias of `workflowSpanId` (the Durable Task name). */
  get orchestrationSpanId(): string | undefined {
    return this.#base.workflowSpanId;
  }
  get executionInfo(): ExecutionInfo {
    return this.#base.executionInfo;
  }
  /** A logger that stays silent while replaying. */
  get logger(): Logger {
    return this.#base.logger;
  }
  /** The operation the code was last at, as error messages name it. */
  get step(): string {
    const d = this.#stepDetail;
    if (d === undefined || d === "") return this.#stepKind;
    const text =
      typeof d === "string"
        ? `'${d}'`
        : d instanceof Date
          ? `until ${d.toISOString()}`
          : typeof d === "object"
            ? JSON.stringify(d)
            : String(d);
    return `${this.#stepKind}(${text})`;
  }

  get info(): WorkflowInfo {
    const b = this.#base;
    return Object.freeze({
      instanceId: b.instanceId,
      workflowName: b.workflowName,
      executionId: b.executionId,
      appId: b.appId,
      isReplaying: b.isReplaying,
      isSuspended: b.isSuspended,
      parentInstanceId: b.parentInstanceId,
      currentTime: b.currentUtcDateTime,
      historyEventSequence: b.historyEventSequence,
      traceParent: b.traceParent,
      traceState: b.traceState,
      workflowSpanId: b.workflowSpanId,
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Durable operations

  callActivity<I, O>(activity: ActivityDefinition<I, O>, ...options: OptionsArg<I, CallActivityOptions<I>>): Task<O>;
  callActivity<O = unknown>(name: string, options?: CallActivityOptions<unknown>): Task<O>;
  callActivity(activity: ActivityDefinition | string, options?: CallActivityOptions<unknown>): Task<unknown> {
    const name = typeof activity === "string" ? activity : activity.name;
    this.#record("callActivity", name);
    return this.#base.callActivity(name, this.#withMetadata(options));
  }

  callSubOrchestrator<I, O>(
    workflow: WorkflowDefinition<I, O>,
    ...options: OptionsArg<I, CallChildWorkflowOptions<I>>
  ): Task<O>;
  callSubOrchestrator<O = unknown>(name: string, options?: CallChildWorkflowOptions<unknown>): Task<O>;
  callSubOrchestrator(
    workflow: WorkflowDefinition | string,
    options?: CallChildWorkflowOptions<unknown>,
  ): Task<unknown> {
    const name = typeof workflow === "string" ? workflow : workflow.name;
    this.#record("callSubOrchestrator", name);
    return this.#base.callSubOrchestrator(name, this.#withMetadata(options));
  }

  /** Alias of `callSubOrchestrator` (Dapr's name). */
  callChildWorkflow<I, O>(
    workflow: WorkflowDefinition<I, O>,
    ...options: OptionsArg<I, CallChildWorkflowOptions<I>>
  ): Task<O>;
  callChildWorkflow<O = unknown>(name: string, options?: CallChildWorkflowOptions<unknown>): Task<O>;
  callChildWorkflow(workflow: WorkflowDefinition | string, options?: CallChildWorkflowOptions<unknown>): Task<unknown> {
    return this.callSubOrchestrator(workflow as string, options);
  }

  /** A durable timer: a number of seconds, a Duration, or until a Date. */
  sleep(duration: Duration | Date): Task<void> {
    this.#record("sleep", duration);
    return this.#base.createTimer(duration);
  }

  /** Alias of `sleep` (the Durable Task name). */
  createTimer(fireAt: Duration | Date): Task<void> {
    return this.sleep(fireAt);
  }

  /** The next event raised with this name; with `timeout`, fails with WorkflowTimeoutError if none arrives in time. */
  waitForExternalEvent<T = unknown>(name: string, options: { readonly timeout?: Duration } = {}): Task<T> {
    this.#record("waitForExternalEvent", name);
    return this.#base.waitForExternalEvent<T>(name, options);
  }

  /** Raise an event on another workflow instance. */
  sendEvent(instanceId: string, name: string, data?: unknown): void {
    this.#record("sendEvent", `${instanceId}', '${name}`);
    this.#base.sendEvent(instanceId, name, data);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Composition

  /** Every task's result, in order; fails with the first failure once all have settled. Empty → `[]`. */
  whenAll<const T extends readonly Task<unknown>[]>(tasks: T): Task<TaskResults<T>> {
    this.#record("whenAll", tasks.length);
    return whenAll(tasks);
  }

  /**
   * The first task to settle, as itself: `const winner = await ctx.whenAny([approval, timeout]);
   * if (winner === approval) …`. Read its value with `winner.getResult()`.
   */
  whenAny<const T extends readonly Task<unknown>[]>(tasks: T): Task<Winner<T[number]>> {
    this.#record("whenAny", tasks.length);
    return whenAny(tasks) as unknown as Task<Winner<T[number]>>;
  }

  /** `[index, result]` of the first task to settle (its failure is thrown). */
  async whenAnyWithResult<const T extends readonly Task<unknown>[]>(
    tasks: T,
  ): Promise<[index: number, result: Awaited<T[number]>]> {
    const winner = (await this.whenAny(tasks)) as Task<unknown>;
    return [tasks.indexOf(winner), winner.getResult() as Awaited<T[number]>];
  }

  /**
   * Awaits everything given (tasks or promises of async helpers) and returns the results in order. With
   * `{ returnExceptions: true }` as the last argument, failures come back as values instead of being thrown.
   * Empty → `[]`. The result is a promise: awaiting it twice gives the same outcome.
   */
  gather<const T extends readonly PromiseLike<unknown>[]>(
    ...awaitables: T
  ): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }>;
  gather<const T extends readonly PromiseLike<unknown>[]>(
    ...args: [...awaitables: T, options: { readonly returnExceptions: true }]
  ): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> | Error }>;
  gather(...args: unknown[]): Promise<unknown[]> {
    const last = args.at(-1);
    const options = isGatherOptions(last) ? (args.pop() as { returnExceptions?: boolean }) : {};
    for (const [i, a] of args.entries()) {
      if (!isPromiseLike(a)) {
        throw this.#error(
          `gather() takes tasks or promises; argument ${i} is ${a === null ? "null" : typeof a}`,
          "gather",
        );
      }
    }
    this.#record("gather", args.length);
    const all = args as PromiseLike<unknown>[];
    if (options.returnExceptions === true)
      return Promise.all(all.map((a) => Promise.resolve(a).catch((e: unknown) => e)));
    return Promise.all(all);
  }

  /**
   * The awaitable's result, or a WorkflowTimeoutError (a TimeoutError, code WORKFLOW_TIMEOUT) if a durable timer of
   * `timeout` (seconds, or a Duration) fires first. The operation is not cancelled; its outcome is ignored.
   */
  async withTimeout<T>(awaitable: PromiseLike<T>, timeout: Duration): Promise<T> {
    const operation = this.step;
    const seconds = durationMs(timeout, "withTimeout() timeout") / 1000;
    const timer = this.#base.createTimer(seconds);
    this.#record("withTimeout", seconds);
    const expired = () =>
      new WorkflowTimeoutError(`${operation} timed out after ${seconds}s`, { timeoutSeconds: seconds, operation });
    if (awaitable instanceof Task) {
      // A task races through whenAny, which leaves no callback on the loser (so a later foreign await is still seen).
      const winner = (await whenAny([awaitable, timer])) as Task<unknown>;
      if (winner === timer) throw expired();
      return winner.getResult() as T;
    }
    const timedOut = Symbol("timeout");
    const outcome = await Promise.race([awaitable, timer.then(() => timedOut)]);
    if (outcome === timedOut) throw expired();
    return outcome as T;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Deterministic helpers

  /** The turn's time (from history), never the wall clock. */
  now(): Date {
    return this.#base.currentUtcDateTime;
  }

  /** A number in [0, 1) from a stream seeded by the instance: the same on every replay. */
  random(): number {
    this.#random ??= seededRandom(`${this.#base.instanceId}:${this.#base.executionId ?? ""}`);
    return this.#random();
  }

  /** A deterministic UUID (the Dapr Python SDK's scheme, UUIDv5): the same on every replay. */
  uuid4(): string {
    return this.#base.newGuid();
  }

  /** Alias of `uuid4()`. */
  newGuid(): string {
    return this.#base.newGuid();
  }

  setCustomStatus(status: unknown): void {
    this.#record("setCustomStatus", "");
    this.#base.setCustomStatus(status);
  }

  /** Restart with `input` and a fresh history once the code returns (unconsumed events kept with `saveEvents`). */
  continueAsNew(input: unknown, options: { readonly saveEvents?: boolean } = {}): void {
    this.#record("continueAsNew", "");
    this.#base.continueAsNew(input, options);
  }

  isPatched(patchName: string): boolean {
    return this.#base.isPatched(patchName);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Metadata

  /**
   * Key/values attached to every activity and child workflow this workflow calls from now on (merged under a call's
   * own `metadata` option). Starts as what this workflow's caller attached, so metadata flows down a call chain.
   */
  setMetadata(metadata: Metadata): void {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string")
        throw this.#error(`metadata values must be strings; '${k}' is ${typeof v}`, "setMetadata");
    }
    this.#metadata = { ...metadata };
    this.#hasMetadata = Object.keys(metadata).length > 0;
  }

  getMetadata(): Metadata {
    return { ...this.#metadata };
  }

  /** Alias of `setMetadata` (same data). */
  setHeaders(headers: Metadata): void {
    this.setMetadata(headers);
  }

  /** Alias of `getMetadata`. */
  getHeaders(): Metadata {
    return this.getMetadata();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Cleanup and debugging

  /** Runs `fn` when the context is disposed (`await using _ = ctx`), last registered first. */
  addCleanup(fn: Cleanup): void {
    if (typeof fn !== "function") throw this.#error("addCleanup() needs a function", "addCleanup");
    this.#cleanups.push(fn);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    while (this.#cleanups.length > 0) await (this.#cleanups.pop() as Cleanup)();
  }

  getDebugInfo(): DebugInfo {
    return {
      instanceId: this.instanceId,
      workflowName: this.workflowName,
      currentTime: this.currentUtcDateTime.toISOString(),
      isReplaying: this.isReplaying,
      isSuspended: this.isSuspended,
      debugMode: this.#debug,
      step: this.step,
      operationHistory: [...this.#operations],
      cleanupTasksCount: this.#cleanups.length,
    };
  }

  #record(kind: string, detail: unknown): void {
    this.#stepKind = kind;
    this.#stepDetail = detail;
    if (!this.#debug) return;
    const operation = this.step;
    this.#operations.push({
      operation,
      time: this.currentUtcDateTime.toISOString(),
      replaying: this.isReplaying,
      historyEventSequence: this.historyEventSequence,
    });
    this.logger.debug(`[WORKFLOW DEBUG] ${operation}`, { instanceId: this.instanceId, workflow: this.workflowName });
  }

  #withMetadata<O extends { readonly metadata?: Metadata }>(options: O | undefined): O | undefined {
    if (!this.#hasMetadata) return options;
    return { ...options, metadata: { ...this.#metadata, ...options?.metadata } } as O;
  }

  #error(message: string, step: string): AsyncWorkflowError {
    return new AsyncWorkflowError(message, { workflowName: this.workflowName, instanceId: this.instanceId, step });
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

function isGatherOptions(value: unknown): boolean {
  return typeof value === "object" && value !== null && !isPromiseLike(value) && "returnExceptions" in value;
}
