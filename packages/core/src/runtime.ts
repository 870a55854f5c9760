// One workflow turn: replays history events in order, drives the workflow code, and collects the actions it takes.
// Actions get sequence ids 1, 2, 3, …; history confirms them by id (TaskScheduled.eventId == action.id) and resolves
// their tasks by id (TaskCompleted.taskScheduledId, TimerFired.timerId). The same code and history always produce
// the same ids, which is what makes replay deterministic.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  type CreateTimerActionSchema,
  type HistoryEvent,
  HistoryEventSchema,
  OrchestrationStatus,
  type TaskFailureDetails,
  TaskRouterSchema,
  type TimerCreatedEvent,
  type WorkflowAction,
  WorkflowActionSchema,
  type WorkflowVersion,
  WorkflowVersionSchema,
} from "@dt/proto";
import type { CallActivityOptions, CallChildWorkflowOptions, ExecutionInfo, WorkflowContext } from "./context.js";
import {
  type DataConverter,
  decodePayloadOrThrow,
  encodePayloadOrThrow,
  type Metadata,
  unwrapMetadata,
  wrapMetadata,
} from "./converter.js";
import type { ActivityDefinition, WorkflowDefinition } from "./definitions.js";
import { type Duration, durationMs } from "./duration.js";
import type { SidecarLimits } from "./engine.js";
import {
  type DurableTaskError,
  failureDetailsFromProto,
  InvalidArgumentError,
  InvalidStateError,
  NonDeterminismError,
  type SerializationError,
  TaskFailedError,
  UnsupportedBySidecarError,
  WorkflowNotRegisteredError,
  WorkflowTimeoutError,
} from "./errors.js";
import { toFailureDetails } from "./failure.js";
import { sourceLocation as callSite } from "./location.js";
import { type Logger, replaySafeLogger } from "./logger.js";
import type { Registry } from "./registry.js";
import { RetryPolicy, type RetryPolicyOptions } from "./retry.js";
import { type AwaitTracker, ON_SETTLED, REJECT, RESOLVE, Task, whenAll, whenAny } from "./task.js";
import { uuidV5 } from "./uuid.js";

type ActionType = "scheduleTask" | "createTimer" | "createChildWorkflow" | "sendEvent";
type ResolutionKind = "task" | "child" | "timer";

interface PendingAction {
  readonly type: ActionType;
  /** Activity or workflow name, timer or event name: what non-determinism messages show. */
  readonly name: string;
  /** The optional far-future timer of an indefinite external-event wait (absent from older histories). */
  readonly optional: boolean;
  /** Where the workflow code asked for it, when sites are captured (see RuntimeOptions.captureSites). */
  readonly site: Error | undefined;
  readonly build: (id: number) => WorkflowAction;
}

type TimerOrigin = NonNullable<MessageInitShape<typeof CreateTimerActionSchema>["origin"]>;

interface OpenTask {
  readonly kind: ResolutionKind;
  readonly resolve: (event: HistoryEvent) => void;
}

interface Completion {
  readonly status: OrchestrationStatus;
  readonly result: string | undefined;
  readonly failure: TaskFailureDetails | undefined;
  readonly saveEvents: boolean;
}

/** Dapr's "no timeout" sentinel, 9999-12-31T23:59:59.999999999Z: the timer exists but never fires in practice. */
const INDEFINITE_SECONDS = 253402300799n;
const INDEFINITE_NANOS = 999_999_999;
/** Namespace of the Dapr Python SDK's deterministic `new_guid`. */
const daprGuid = uuidV5("9e952958-5e33-4daf-827f-2fa12937b875");
const NO_METADATA: Metadata = Object.freeze({});

export interface RuntimeOptions {
  readonly registry: Registry;
  readonly converter: DataConverter;
  readonly logger: Logger;
  /**
   * Record where each call was made (a stack capture per action). Costly, so the engine runs without it and, when
   * a turn ends in a failure that should name a source line, runs the same deterministic turn again with it.
   */
  readonly captureSites?: boolean;
  /** Set when an async driver runs the turn: workflows may return a Promise (async functions, @dt/aio). */
  readonly async?: boolean;
  readonly onWorkflowStart?: (ctx: WorkflowContext) => void;
  readonly sidecarLimits?: SidecarLimits;
}

export class RuntimeContext implements WorkflowContext {
  readonly instanceId: string;
  workflowName = "";
  executionId: string | undefined;
  parentInstanceId: string | undefined;
  appId: string | undefined;
  traceParent: string | undefined;
  traceState: string | undefined;
  isReplaying = true;
  workflowSpanId: string | undefined;
  metadata: Metadata = NO_METADATA;
  executionInfo: ExecutionInfo = {
    executionId: undefined,
    tags: NO_METADATA,
    scheduledStartTime: undefined,
    parentInstanceId: undefined,
    workflowSpanId: undefined,
  };
  readonly logger: Logger;
  readonly whenAll = whenAll;
  readonly whenAny = whenAny;

  readonly #options: RuntimeOptions;
  #nowMs = 0;
  #nowTimestamp: Timestamp | undefined;
  #sequence = 0;
  #guidCounter = 0;
  #isoTime: Timestamp | undefined;
  #isoText: string | undefined;
  /** Actions taken and not yet confirmed by history. Insertion order is id order. */
  #pending = new Map<number, PendingAction>();
  /** Actions withdrawn when the outcome was decided; history may still confirm them later in the turn. */
  readonly #withdrawn = new Map<number, PendingAction>();
  /** Tasks waiting for a resolution event, by sequence id. */
  #open = new Map<number, OpenTask>();
  /** Resolutions that arrived before their task was created this turn (Dapr may reorder), by `kind:id`. */
  readonly #early = new Map<string, HistoryEvent>();
  /** Sequence ids already resolved this turn (ids are unique across kinds). */
  readonly #resolved = new Set<number>();
  /** Ids whose resolution was delivered early: the work is done, so their actions are never dispatched. */
  #suppressed = new Set<number>();
  readonly #waiters = new Map<string, Task<unknown>[]>();
  /** External events nobody has waited for yet, by lower-cased name, with their arrival order. */
  readonly #received = new Map<string, { event: HistoryEvent; order: number }[]>();
  #receivedCount = 0;
  #suspended = false;
  #suspendedEvents: HistoryEvent[] = [];
  #terminated = false;
  #completion: Completion | undefined;
  #completionId = 0;
  #versionNotAvailable = false;
  #started = false;
  #customStatus: string | undefined;
  readonly #historyPatches = new Set<string>();
  readonly #patchDecisions = new Map<string, boolean>();
  readonly #appliedPatches: string[] = [];
  #versionName: string | undefined;
  #eventIndex = 0;
  #eventCount = 0;
  #awaiting: Task<unknown> | undefined;
  /** Set when processing must stop (version not available). */
  halted = false;
  /** Awaits of an async workflow's code on this turn's tasks. */
  readonly tracker: AwaitTracker = { waiting: 0, woke: false };
  /** An async workflow's code has started and its promise has not settled yet. */
  #running = false;

  constructor(instanceId: string, options: RuntimeOptions) {
    this.instanceId = instanceId;
    this.#options = options;
    this.logger = replaySafeLogger(options.logger, () => this.isReplaying);
  }

  get currentUtcDateTime(): Date {
    return new Date(this.#nowMs);
  }

  get isSuspended(): boolean {
    return this.#suspended;
  }

  get historyEventSequence(): number {
    return this.#eventIndex;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Workflow API

  callActivity<O>(activity: ActivityDefinition | string, options?: CallActivityOptions<unknown>): Task<O> {
    const name = typeof activity === "string" ? activity : activity.name;
    const input = this.#encodeArgument(
      wrapMetadata(options?.input, options?.metadata),
      `the input of activity '${name}'`,
    );
    this.#checkActivityInput(name, input);
    const router = this.#router(options?.appId);
    const taskExecutionId = this.#deferredGuid();
    const site = this.#site();
    return this.#callWithRetries<O>("activity", name, options?.retryPolicy, site, {
      schedule: () =>
        this.#addAction({
          type: "scheduleTask",
          name,
          optional: false,
          site,
          build: (id) =>
            create(WorkflowActionSchema, {
              id,
              ...(router === undefined ? {} : { router }),
              workflowActionType: {
                case: "scheduleTask",
                value: { name, taskExecutionId: taskExecutionId(), ...(input === undefined ? {} : { input }) },
              },
            }),
        }),
      retryOrigin: () => ({ case: "activityRetry", value: { taskExecutionId: taskExecutionId() } }),
    });
  }

  callSubOrchestrator<O>(workflow: WorkflowDefinition | string, options?: CallChildWorkflowOptions<unknown>): Task<O> {
    const name = typeof workflow === "string" ? workflow : workflow.name;
    const input = this.#encodeArgument(
      wrapMetadata(options?.input, options?.metadata),
      `the input of child workflow '${name}'`,
    );
    const router = this.#router(options?.appId);
    const site = this.#site();
    const childId = (id: number) => options?.instanceId ?? `${this.instanceId}:${id.toString(16).padStart(4, "0")}`;
    // Each attempt is a new child instance; retries name the first attempt's instance.
    let firstInstanceId: string | undefined;
    return this.#callWithRetries<O>("childWorkflow", name, options?.retryPolicy, site, {
      schedule: () => {
        const retryOf = firstInstanceId;
        return this.#addAction({
          type: "createChildWorkflow",
          name,
          optional: false,
          site,
          build: (id) =>
            create(WorkflowActionSchema, {
              id,
              ...(router === undefined ? {} : { router }),
              workflowActionType: {
                case: "createChildWorkflow",
                value: {
                  name,
                  instanceId: childId(id),
                  ...(input === undefined ? {} : { input }),
                  ...(retryOf === undefined ? {} : { retryParentInstanceInfo: { instanceID: retryOf } }),
                },
              },
            }),
        });
      },
      retryOrigin: (failedId) => {
        firstInstanceId ??= childId(failedId);
        return { case: "childWorkflowRetry", value: { instanceId: firstInstanceId } };
      },
    });
  }

  /**
   * One call, attempted until it succeeds or its retry policy gives up: each attempt is a new action (a new sequence
   * id), and the wait between attempts is a durable timer, so retries replay like everything else.
   */
  #callWithRetries<O>(
    kind: "activity" | "childWorkflow",
    name: string,
    retryPolicy: RetryPolicy | RetryPolicyOptions | undefined,
    site: Error | undefined,
    attempts: { readonly schedule: () => number; readonly retryOrigin: (failedId: number) => TimerOrigin },
  ): Task<O> {
    const policy = retryPolicy === undefined ? undefined : RetryPolicy.from(retryPolicy);
    const outer = new Task<O>(this.tracker);
    const attempt = (failures: number, waitedMs: number): void => {
      const id = attempts.schedule();
      this.#openTask(id, kind === "activity" ? "task" : "child", (event) => {
        const e = event.eventType;
        if (e.case === "taskCompleted" || e.case === "childWorkflowInstanceCompleted") {
          return this.#settleWithPayload(outer, e.value.result, name);
        }
        if (e.case !== "taskFailed" && e.case !== "childWorkflowInstanceFailed") return;
        const details = failureDetailsFromProto(e.value.failureDetails);
        const delay = policy?.nextDelayMs(details, failures + 1, waitedMs);
        if (delay === undefined) return outer[REJECT](withSite(new TaskFailedError(kind, name, id, details), site));
        this.#addTimer(site, `${name}-retry`, this.#nowMs + delay, attempts.retryOrigin(id), () =>
          attempt(failures + 1, waitedMs + delay),
        );
      });
    };
    attempt(0, 0);
    return outer;
  }

  callChildWorkflow<O>(workflow: WorkflowDefinition | string, options?: CallChildWorkflowOptions<unknown>): Task<O> {
    return this.callSubOrchestrator(workflow, options);
  }

  createTimer(fireAt: Date | Duration, options: { readonly name?: string } = {}): Task<void> {
    let at: number;
    if (fireAt instanceof Date) {
      at = fireAt.getTime();
      if (Number.isNaN(at)) throw new InvalidArgumentError("createTimer() got an invalid Date.");
    } else {
      at = this.#nowMs + durationMs(fireAt, "createTimer() duration");
    }
    const timer = new Task<void>(this.tracker);
    this.#addTimer(this.#site(), options.name, at, { case: "createTimer", value: {} }, () => timer[RESOLVE](undefined));
    return timer;
  }

  waitForExternalEvent<T>(name: string, options: { readonly timeout?: Duration } = {}): Task<T> {
    if (typeof name !== "string" || name === "") {
      throw new InvalidArgumentError("waitForExternalEvent() needs a non-empty event name.");
    }
    const timeoutMs = options.timeout === undefined ? undefined : durationMs(options.timeout, "timeout");
    const key = name.toLowerCase();
    const task = new Task<T>(this.tracker);
    const buffered = this.#received.get(key)?.shift();
    if (buffered !== undefined) {
      this.#settleWithPayload(task, eventPayload(buffered.event), `event '${name}'`);
      return task;
    }
    if (timeoutMs === 0) {
      task[REJECT](new WorkflowTimeoutError(`No external event '${name}' had arrived (timeout 0).`));
      return task;
    }
    const waiters = this.#waiters.get(key);
    if (waiters === undefined) this.#waiters.set(key, [task as Task<unknown>]);
    else waiters.push(task as Task<unknown>);
    const fireAt = timeoutMs === undefined ? undefined : this.#nowMs + timeoutMs;
    this.#addTimer(this.#site(), name, fireAt, { case: "externalEvent", value: { name } }, () => {
      // Timers cannot be cancelled: when the event won the race, the timer still fires later and is ignored.
      if (task.isComplete) return;
      const list = this.#waiters.get(key);
      list?.splice(list.indexOf(task as Task<unknown>), 1);
      task[REJECT](new WorkflowTimeoutError(`Timed out waiting for external event '${name}'.`));
    });
    return task;
  }

  /** Refuses an input the sidecar could not schedule (daprd would retry the turn forever without a word). */
  #checkActivityInput(name: string, input: string | undefined): void {
    const limit = this.#options.sidecarLimits?.activityInput;
    // A UTF-16 unit is at most 3 UTF-8 bytes: most inputs are cleared without encoding them.
    if (limit === undefined || input === undefined || input.length * 3 <= limit.maxBytes) return;
    const bytes = new TextEncoder().encode(input).length;
    if (bytes <= limit.maxBytes) return;
    throw new UnsupportedBySidecarError(
      `callActivity('${name}')`,
      `its input is ${bytes} bytes, over the ${limit.maxBytes} this sidecar can schedule (${limit.reason}). ` +
        "Pass a reference to the data (a state store key, a URL) instead.",
    );
  }

  sendEvent(instanceId: string, name: string, data?: unknown): void {
    const unsupported = this.#options.sidecarLimits?.sendEvent;
    if (unsupported !== undefined) {
      throw new UnsupportedBySidecarError(
        `sendEvent('${name}')`,
        `${unsupported}. Raise the event from a client or an activity instead.`,
      );
    }
    const encoded = this.#encodeArgument(data, `the data of event '${name}'`);
    this.#addAction({
      type: "sendEvent",
      name,
      optional: false,
      site: this.#site(),
      build: (id) =>
        create(WorkflowActionSchema, {
          id,
          workflowActionType: {
            case: "sendEvent",
            value: { instance: { instanceId }, name, ...(encoded === undefined ? {} : { data: encoded }) },
          },
        }),
    });
  }

  continueAsNew(input: unknown, options: { readonly saveEvents?: boolean } = {}): void {
    const result = this.#encodeArgument(input, "the continue-as-new input");
    this.#complete(OrchestrationStatus.CONTINUED_AS_NEW, result, undefined, options.saveEvents ?? false);
  }

  setCustomStatus(status: unknown): void {
    this.#customStatus = typeof status === "string" ? status : this.#encodeArgument(status, "the custom status");
  }

  isPatched(patchName: string): boolean {
    let patched = this.#patchDecisions.get(patchName);
    if (patched === undefined) {
      // In history: patched. Still replaying events: the old code ran here. Past the last event: new code runs.
      patched = this.#historyPatches.has(patchName) || this.#eventIndex + 1 >= this.#eventCount;
      this.#patchDecisions.set(patchName, patched);
      if (patched) this.#appliedPatches.push(patchName);
    }
    return patched;
  }

  newGuid(): string {
    return this.#deferredGuid()();
  }

  /** Takes the next GUID counter tick now; hashes only if the value is ever read (most calls are only replayed). */
  #deferredGuid(): () => string {
    const time = this.#nowTimestamp;
    const counter = this.#guidCounter++;
    let guid: string | undefined;
    return () => {
      if (guid === undefined) guid = daprGuid(`${this.instanceId}_${this.#isoFormat(time)}_${counter}`);
      return guid;
    };
  }

  /** pythonIsoFormat of the turn times GUIDs are made at; a turn's many GUIDs share one. */
  #isoFormat(time: Timestamp | undefined): string {
    if (time !== this.#isoTime || this.#isoText === undefined) {
      this.#isoTime = time;
      this.#isoText = pythonIsoFormat(time);
    }
    return this.#isoText;
  }

  #site(): Error | undefined {
    return this.#options.captureSites === true ? new Error() : undefined;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Event processing

  /** Called by the engine before each event. */
  beginEvent(index: number, count: number, replaying: boolean): void {
    this.#eventIndex = index;
    this.#eventCount = count;
    this.isReplaying = replaying;
  }

  process(event: HistoryEvent): void {
    // A terminated workflow never runs again: nothing may compete with the termination.
    if (this.#terminated) return;
    const e = event.eventType;
    // Patches are facts of history, not of the workflow's progress: known at once, even while suspension buffers the
    // event, so a decision made after a resume is made the same way when that history is replayed.
    if (e.case === "workflowStarted")
      for (const patch of e.value.version?.patches ?? []) this.#historyPatches.add(patch);
    if (this.#suspended && e.case !== "executionResumed" && e.case !== "executionTerminated") {
      this.#suspendedEvents.push(event);
      return;
    }
    switch (e.case) {
      case "workflowStarted":
        if (event.timestamp !== undefined) this.#setTime(event.timestamp);
        if (e.value.version?.name !== undefined) this.#versionName = e.value.version.name;
        return;
      case "executionStarted":
        return this.#onExecutionStarted(event, e.value);
      case "taskScheduled":
        return this.#confirm(event, "scheduleTask", e.value.name);
      case "childWorkflowInstanceCreated":
        return this.#confirm(event, "createChildWorkflow", e.value.name);
      case "timerCreated":
        return this.#onTimerCreated(event, e.value);
      case "taskCompleted":
      case "taskFailed":
        return this.#resolve("task", e.value.taskScheduledId, event);
      case "childWorkflowInstanceCompleted":
      case "childWorkflowInstanceFailed":
        return this.#resolve("child", e.value.taskScheduledId, event);
      case "timerFired":
        return this.#resolve("timer", e.value.timerId, event);
      case "eventRaised":
        return this.#deliverEvent(e.value.name, event);
      case "eventSent": {
        // Our own sendEvent, confirmed. A sidecar without event routing (durabletask-go's sqlite backend) also
        // delivers the EventSent itself to the target: for us that is an incoming event.
        const action = this.#pending.get(event.eventId);
        if (action?.type === "sendEvent" && action.name === e.value.name) this.#pending.delete(event.eventId);
        else if (e.value.instanceId === this.instanceId) this.#deliverEvent(e.value.name, event);
        return;
      }
      case "executionSuspended":
        this.#suspended = true;
        return;
      case "executionResumed":
        return this.#resume();
      case "executionTerminated":
        return this.#terminate(e.value.input);
      case "executionStalled": // The sidecar's note that it parked the instance; nothing for the code to do.
      case "workflowCompleted": // Bookkeeping of a finished turn.
      case "executionCompleted": // The sidecar's record of our own completion action.
      case "continueAsNew": // The sidecar's record of a restart; the new execution starts from ExecutionStarted.
        return;
      case "detachedWorkflowInstanceCreated":
        // This SDK never creates detached workflows, so a history that has one was written by other code.
        throw this.#nonDeterminism(event, `createDetachedWorkflow('${e.value.instanceId}')`, undefined);
      default:
        throw new InvalidStateError(
          "INVALID_STATE",
          `History event #${this.#eventIndex} has a type this engine does not know (a newer protocol?). Upgrade @dt/core.`,
        );
    }
  }

  /** The error that failed the workflow this turn, as thrown. */
  failure: unknown;

  /** Ends the workflow as FAILED with this error (engine-detected problems such as non-determinism). */
  fail(error: unknown): void {
    // History contradicting the code outranks the outcome the (diverged) code reached; nothing else replaces one.
    if (error instanceof NonDeterminismError && !this.#terminated) this.#completion = undefined;
    if (this.#completion !== undefined) return;
    this.failure = error;
    this.#complete(OrchestrationStatus.FAILED, undefined, toFailureDetails(error), false);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Results

  get customStatus(): string | undefined {
    return this.#customStatus;
  }

  get version(): WorkflowVersion | undefined {
    if (this.#appliedPatches.length === 0 && this.#versionName === undefined) return undefined;
    return create(WorkflowVersionSchema, {
      patches: [...this.#appliedPatches], // a copy: a live execution goes on applying patches
      ...(this.#versionName === undefined ? {} : { name: this.#versionName }),
    });
  }

  actions(): WorkflowAction[] {
    if (this.#versionNotAvailable) {
      return [
        create(WorkflowActionSchema, {
          id: this.#nextId(),
          workflowActionType: { case: "workflowVersionNotAvailable", value: {} },
        }),
      ];
    }
    // A suspended workflow takes no action; a terminate while suspended still completes it.
    if (this.#suspended && !this.#terminated) return [];
    const actions: WorkflowAction[] = [];
    if (!this.#terminated) {
      for (const [id, action] of this.#pending) if (!this.#suppressed.has(id)) actions.push(action.build(id));
    }
    const completion = this.#completion;
    if (completion !== undefined) {
      const carryover = completion.saveEvents ? this.#unconsumedEvents() : [];
      actions.push(
        create(WorkflowActionSchema, {
          id: this.#completionId,
          workflowActionType: {
            case: "completeWorkflow",
            value: {
              workflowStatus: completion.status,
              ...(completion.result === undefined ? {} : { result: completion.result }),
              ...(completion.failure === undefined ? {} : { failureDetails: completion.failure }),
              carryoverEvents: carryover,
            },
          },
        }),
      );
    }
    return actions.sort((a, b) => a.id - b.id);
  }

  /** The outcome decided this turn, if any. */
  get completion(): Readonly<Completion> | undefined {
    return this.#completion;
  }

  /** Actions the code took that history has not confirmed, as non-determinism findings at the end of `history`. */
  unconfirmedActions(historyLength: number): NonDeterminismError[] {
    if (this.#suspended || this.#terminated) return [];
    return [...this.#pending]
      .filter(([id]) => !this.#suppressed.has(id))
      .map(
        ([id, action]) =>
          new NonDeterminismError({
            expected: "no further action (the history ends here)",
            actual: describeAction(action),
            sequenceId: id,
            historyIndex: historyLength,
            location: action.site === undefined ? undefined : callSite(action.site),
          }),
      );
  }

  /** Resolutions that never found their task (kept in history; they may match on a later turn). */
  get unconsumedResolutions(): string[] {
    return [...this.#early.keys()];
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Internals

  #onExecutionStarted(
    event: HistoryEvent,
    es: Extract<HistoryEvent["eventType"], { case: "executionStarted" }>["value"],
  ) {
    if (this.#started) return; // A duplicate start (the sidecar dedups, but a bad history must not restart the code).
    this.#started = true;
    if (this.#nowTimestamp === undefined && event.timestamp !== undefined) this.#setTime(event.timestamp);
    this.workflowName = es.name;
    this.executionId = es.workflowInstance?.executionId;
    this.parentInstanceId = es.parentInstance?.workflowInstance?.instanceId;
    const router = event.router;
    if (router !== undefined) this.appId = router.targetAppID || router.sourceAppID || undefined;
    this.traceParent = es.parentTraceContext?.traceParent || undefined;
    this.traceState = es.parentTraceContext?.traceState;
    this.workflowSpanId = es.workflowSpanID || undefined;
    const scheduled = es.scheduledStartTimestamp;
    this.executionInfo = {
      executionId: this.executionId,
      tags: es.tags,
      scheduledStartTime: scheduled === undefined ? undefined : new Date(timestampMs(scheduled)),
      parentInstanceId: this.parentInstanceId,
      workflowSpanId: this.workflowSpanId,
    };
    const resolution = this.#options.registry.resolveWorkflow(es.name, this.#versionName);
    if (!resolution.ok) {
      if (resolution.reason === "version-not-available") {
        this.#versionNotAvailable = true;
        this.halted = true;
      } else {
        this.fail(new WorkflowNotRegisteredError(es.name, this.#options.registry.workflowNames));
      }
      return;
    }
    this.#versionName = resolution.workflow.version ?? this.#versionName;
    let input: unknown;
    try {
      const decoded = decodePayloadOrThrow(this.#options.converter, es.input, `the input of workflow '${es.name}'`);
      const unwrapped = unwrapMetadata(decoded);
      input = unwrapped.value;
      this.metadata = unwrapped.metadata ?? NO_METADATA;
    } catch (error) {
      return this.fail(error);
    }
    let result: unknown;
    try {
      this.#options.onWorkflowStart?.(this);
      result = (resolution.workflow.run as (ctx: WorkflowContext, input: unknown) => unknown)(this, input);
    } catch (error) {
      return this.fail(error);
    }
    if (isGenerator(result)) this.#drive(result, { ok: true, value: undefined });
    else if (isPromiseLike(result) && this.#options.async === true) {
      this.#running = true;
      this.tracker.woke = true;
      result.then(
        (value) => this.#settleCode(() => this.#completeWithValue(value)),
        (error: unknown) => this.#settleCode(() => this.fail(error)),
      );
    } else if (isPromiseLike(result)) {
      this.fail(
        new InvalidArgumentError(
          `Workflow '${es.name}' returned a Promise. Write it as a generator (function*) and yield tasks, or register it through @dt/aio for async/await.`,
        ),
      );
    } else this.#completeWithValue(result);
  }

  /** Runs the generator until it waits on a pending task or finishes. */
  #drive(gen: Generator<unknown, unknown, unknown>, input: { ok: true; value: unknown } | { ok: false; error: Error }) {
    let next = input;
    for (;;) {
      if (this.#completion !== undefined && this.#completion.status !== OrchestrationStatus.CONTINUED_AS_NEW) return;
      let step: IteratorResult<unknown, unknown>;
      try {
        step = next.ok ? gen.next(next.value) : gen.throw(next.error);
      } catch (error) {
        return this.fail(error);
      }
      if (step.done === true) return this.#completeWithValue(step.value);
      const task = step.value;
      if (!(task instanceof Task)) {
        return this.fail(
          new InvalidArgumentError(
            `Workflow '${this.workflowName}' yielded ${describeValue(task)}; yield a task (ctx.callActivity(...), ctx.createTimer(...), whenAll([...]), …).`,
          ),
        );
      }
      if (!task.isComplete) {
        this.#awaiting = task;
        task[ON_SETTLED](() => {
          if (this.#awaiting !== task) return;
          this.#awaiting = undefined;
          this.#drive(gen, settled(task));
        });
        return;
      }
      next = settled(task);
    }
  }

  #settleCode(finish: () => void): void {
    this.#running = false;
    if (this.tracker.closed !== true) finish();
    else this.tracker.late = true;
  }

  /**
   * After the code woken by an event has run: true when an async workflow's code is neither done nor waiting on any
   * task of this turn, i.e. it awaits something history cannot settle (a timer, fetch, I/O).
   */
  get awaitsForeign(): boolean {
    return this.#running && this.tracker.waiting === 0 && this.#completion === undefined;
  }

  /** Ends the turn: code that runs later (after a foreign await) can no longer act. */
  close(): void {
    this.tracker.closed = true;
  }

  /** Opens the next turn of an execution kept live between turns. */
  reopen(): void {
    this.tracker.closed = false;
  }

  /**
   * The turn decided nothing final, and no code has run since it ended: the execution may take the instance's next
   * turn where it left off. Code that ran between turns (after an undetected foreign await) would make the live
   * execution differ from what a replay rebuilds, so such an execution is replayed instead.
   */
  get canContinue(): boolean {
    return (
      this.#completion === undefined &&
      this.failure === undefined &&
      !this.halted &&
      !this.#terminated &&
      this.tracker.late !== true
    );
  }

  #completeWithValue(value: unknown): void {
    if (this.#completion !== undefined) return; // continueAsNew (or a failure) already decided the outcome.
    let result: string | undefined;
    try {
      result = encodePayloadOrThrow(this.#options.converter, value, `the result of workflow '${this.workflowName}'`);
    } catch (error) {
      return this.fail(error);
    }
    this.#complete(OrchestrationStatus.COMPLETED, result, undefined, false);
  }

  #complete(
    status: OrchestrationStatus,
    result: string | undefined,
    failure: TaskFailureDetails | undefined,
    saveEvents: boolean,
  ) {
    if (this.#completion !== undefined) return;
    this.#completion = { status, result, failure, saveEvents };
    this.#completionId = this.#nextId();
    // Work started but not awaited can no longer matter; events sent are fire-and-forget and still go out.
    for (const [id, action] of this.#pending) {
      if (action.type === "sendEvent") continue;
      this.#pending.delete(id);
      this.#withdrawn.set(id, action);
    }
  }

  #terminate(output: string | undefined): void {
    this.#terminated = true;
    const previous = this.#completion;
    // A completion recorded before the terminate wins, except continue-as-new, which must never outlive it.
    if (previous !== undefined && previous.status !== OrchestrationStatus.CONTINUED_AS_NEW) return;
    this.#completion = undefined;
    this.#complete(OrchestrationStatus.TERMINATED, output, undefined, false);
  }

  #resume(): void {
    if (!this.#suspended) return; // Resume without suspend: nothing to undo.
    this.#suspended = false;
    const buffered = this.#suspendedEvents;
    this.#suspendedEvents = [];
    // A buffered second suspend re-suspends, and what follows it is buffered again.
    for (const event of buffered) this.process(event);
  }

  #deliverEvent(name: string, event: HistoryEvent): void {
    const key = name.toLowerCase();
    // Once the outcome is decided nobody waits any more: keep the event for continue-as-new's carry-over.
    const waiter = this.#completion === undefined ? this.#waiters.get(key)?.shift() : undefined;
    if (waiter !== undefined) return this.#settleWithPayload(waiter, eventPayload(event), `event '${name}'`);
    const list = this.#received.get(key);
    const entry = { event, order: this.#receivedCount++ };
    if (list === undefined) this.#received.set(key, [entry]);
    else list.push(entry);
  }

  #unconsumedEvents(): HistoryEvent[] {
    return [...this.#received.values()]
      .flat()
      .sort((a, b) => a.order - b.order)
      .map(({ event }) => {
        const e = event.eventType;
        if (e.case === "eventRaised") return event;
        const sent = e.value as { name: string; input?: string };
        return create(HistoryEventSchema, {
          eventId: -1,
          ...(event.timestamp === undefined ? {} : { timestamp: event.timestamp }),
          eventType: {
            case: "eventRaised",
            value: { name: sent.name, ...(sent.input === undefined ? {} : { input: sent.input }) },
          },
        });
      });
  }

  #onTimerCreated(event: HistoryEvent, tc: TimerCreatedEvent): void {
    const action = this.#pending.get(event.eventId);
    // Histories written before indefinite waits got a timer lack it: drop ours and shift later ids onto history's.
    if (action?.optional === true && !(tc.origin.case === "externalEvent" && isIndefinite(tc.fireAt))) {
      this.#dropOptionalTimer(event.eventId);
    }
    this.#confirm(event, "createTimer", undefined);
  }

  #confirm(event: HistoryEvent, type: ActionType, name: string | undefined): void {
    const id = event.eventId;
    const find = () => this.#pending.get(id) ?? this.#withdrawn.get(id);
    let action = find();
    // Dropping the optional timer can deliver an early resolution that completes the workflow: look again in both.
    if ((action === undefined || action.type !== type) && this.#dropOptionalTimer(id)) action = find();
    const expected = describeEvent(event);
    if (action === undefined) throw this.#nonDeterminism(event, expected, undefined);
    if (action.type !== type || (name !== undefined && action.name !== name)) {
      throw this.#nonDeterminism(event, expected, action);
    }
    this.#pending.delete(id);
    this.#withdrawn.delete(id);
  }

  #nonDeterminism(event: HistoryEvent, expected: string, action: PendingAction | undefined): NonDeterminismError {
    const site = action?.site ?? this.#lastSite;
    return new NonDeterminismError({
      expected,
      actual: action === undefined ? "nothing" : describeAction(action),
      sequenceId: event.eventId,
      historyIndex: this.#eventIndex,
      location: site === undefined ? undefined : callSite(site),
    });
  }

  /** Where the code last asked for something: the best location when it did nothing where history expected a call. */
  #lastSite: Error | undefined;

  /**
   * Removes the optional indefinite-wait timer at `id` and moves every later action and task down one id, so the
   * ids match a history written before such timers existed. Resolutions waiting under the new ids are delivered.
   */
  #dropOptionalTimer(id: number): boolean {
    if (this.#pending.get(id)?.optional !== true) return false;
    this.#pending.delete(id);
    this.#open.delete(id);
    this.#suppressed.delete(id);
    const shift = <V>(map: Map<number, V>) => new Map([...map].map(([k, v]) => [k > id ? k - 1 : k, v] as const));
    this.#pending = shift(this.#pending);
    this.#open = shift(this.#open);
    this.#suppressed = new Set([...this.#suppressed].map((k) => (k > id ? k - 1 : k)));
    this.#sequence--;
    if (this.#completionId > id) this.#completionId--;
    for (const [openId, task] of this.#open) if (openId >= id) this.#deliverEarly(openId, task);
    return true;
  }

  #resolve(kind: ResolutionKind, id: number, event: HistoryEvent): void {
    const task = this.#open.get(id);
    if (task === undefined || task.kind !== kind) {
      // Not (yet) asked for this turn: keep it for when the code gets there; drop true duplicates.
      const key = `${kind}:${id}`;
      if (!this.#resolved.has(id) && !this.#early.has(key)) this.#early.set(key, event);
      return;
    }
    this.#open.delete(id);
    this.#resolved.add(id);
    task.resolve(event);
  }

  #openTask(id: number, kind: ResolutionKind, resolve: (event: HistoryEvent) => void): void {
    const task = { kind, resolve };
    this.#open.set(id, task);
    this.#deliverEarly(id, task);
  }

  #deliverEarly(id: number, task: OpenTask): void {
    const key = `${task.kind}:${id}`;
    const event = this.#early.get(key);
    if (event === undefined) return;
    this.#early.delete(key);
    this.#suppressed.add(id);
    this.#resolve(task.kind, id, event);
  }

  #addAction(action: PendingAction): number {
    if (this.tracker.closed === true) {
      this.tracker.late = true;
      throw new InvalidStateError(
        "INVALID_STATE",
        `Workflow '${this.workflowName}' (${this.instanceId}) acted after its turn ended: it awaited something that is not a workflow task.`,
      );
    }
    const id = this.#nextId();
    this.#lastSite = action.site;
    // After the outcome is decided new work is pointless; the id is still consumed to keep numbering stable.
    if (this.#completion === undefined) this.#pending.set(id, action);
    return id;
  }

  #addTimer(
    site: Error | undefined,
    name: string | undefined,
    fireAtMs: number | undefined,
    origin: TimerOrigin,
    onFired: () => void,
  ): void {
    const fireAt: Timestamp =
      fireAtMs === undefined ? timestamp(INDEFINITE_SECONDS, INDEFINITE_NANOS) : timestampFromMs(fireAtMs);
    const id = this.#addAction({
      type: "createTimer",
      name: name ?? "",
      optional: fireAtMs === undefined,
      site,
      build: (id) =>
        create(WorkflowActionSchema, {
          id,
          workflowActionType: {
            case: "createTimer",
            value: { fireAt, origin, ...(name === undefined ? {} : { name }) },
          },
        }),
    });
    this.#openTask(id, "timer", onFired);
  }

  #nextId(): number {
    return ++this.#sequence;
  }

  #setTime(ts: Timestamp): void {
    this.#nowTimestamp = ts;
    this.#nowMs = timestampMs(ts);
  }

  #router(targetAppId: string | undefined) {
    if (targetAppId === undefined && this.appId === undefined) return undefined;
    return create(TaskRouterSchema, {
      sourceAppID: this.appId ?? "",
      ...(targetAppId === undefined ? {} : { targetAppID: targetAppId }),
    });
  }

  /** Serializes a value the workflow passes on; a failure is thrown at the workflow's call site. */
  #encodeArgument(value: unknown, what: string): string | undefined {
    return encodePayloadOrThrow(this.#options.converter, value, what);
  }

  #settleWithPayload<T>(task: Task<T>, payload: string | undefined, what: string): void {
    let value: unknown;
    try {
      value = decodePayloadOrThrow(this.#options.converter, payload, `the result of ${what}`);
    } catch (error) {
      return task[REJECT](error as SerializationError);
    }
    task[RESOLVE](value as T);
  }
}

function settled(task: Task<unknown>): { ok: true; value: unknown } | { ok: false; error: Error } {
  return task.isFailed ? { ok: false, error: task.getException() as Error } : { ok: true, value: task.getResult() };
}

function eventPayload(event: HistoryEvent): string | undefined {
  const e = event.eventType;
  return e.case === "eventRaised" || e.case === "eventSent" ? e.value.input : undefined;
}

function isGenerator(value: unknown): value is Generator<unknown, unknown, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Generator).next === "function" &&
    typeof (value as Generator).throw === "function" &&
    typeof (value as Generator)[Symbol.iterator] === "function"
  );
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (isPromiseLike(value)) return "a Promise (workflows cannot await arbitrary promises)";
  return `a ${typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value}`;
}

function describeAction(action: PendingAction): string {
  switch (action.type) {
    case "scheduleTask":
      return `callActivity('${action.name}')`;
    case "createChildWorkflow":
      return `callSubOrchestrator('${action.name}')`;
    case "sendEvent":
      return `sendEvent('${action.name}')`;
    case "createTimer":
      return action.optional || action.name !== "" ? `a timer ('${action.name}')` : "createTimer()";
  }
}

function describeEvent(event: HistoryEvent): string {
  const e = event.eventType;
  switch (e.case) {
    case "taskScheduled":
      return `callActivity('${e.value.name}')`;
    case "childWorkflowInstanceCreated":
      return `callSubOrchestrator('${e.value.name}')`;
    case "timerCreated":
      return e.value.name === undefined ? "createTimer()" : `a timer ('${e.value.name}')`;
    default:
      return e.case ?? "an unknown event";
  }
}

/** `file:line:col` of the first stack frame outside the engine's own modules (tests next to them count as user code). */

/** Point a task failure's stack at the workflow line that started the task, which is what the user needs to see. */
function withSite<E extends DurableTaskError>(error: E, site: Error | undefined): E {
  const location = site === undefined ? undefined : callSite(site);
  if (location !== undefined) error.stack = `${error.name}: ${error.message}\n    at ${location}`;
  return error;
}

function timestampMs(ts: Timestamp): number {
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}

function timestamp(seconds: bigint, nanos: number): Timestamp {
  return { $typeName: "google.protobuf.Timestamp", seconds, nanos };
}

function timestampFromMs(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return timestamp(BigInt(seconds), (ms - seconds * 1000) * 1_000_000);
}

function isIndefinite(ts: Timestamp | undefined): boolean {
  return ts !== undefined && ts.seconds === INDEFINITE_SECONDS && ts.nanos === INDEFINITE_NANOS;
}

/** Python's naive `datetime.isoformat()`: microseconds only when non-zero (the Dapr Python GUID name format). */
function pythonIsoFormat(ts: Timestamp | undefined): string {
  if (ts === undefined) return "1970-01-01T00:00:00";
  const base = new Date(Number(ts.seconds) * 1000).toISOString().slice(0, 19);
  const micros = Math.floor(ts.nanos / 1000);
  return micros === 0 ? base : `${base}.${String(micros).padStart(6, "0")}`;
}
