// The sidecar's engine: instances and their inboxes in the Store, a ready queue of work that connected workers pull
// from (no polling: a change wakes a waiting stream at once), one in-flight turn per instance, completion tokens,
// stateful-history deltas, timers, and the client operations with Dapr's semantics. The gRPC layer (service.ts) is
// a thin shell over the methods here.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Logger, silentLogger } from "@dt/core";
import {
  type ActivityResponse,
  type CreateInstanceRequest,
  type CreateInstanceResponse,
  type GetInstanceHistoryRequest,
  type GetInstanceHistoryResponse,
  type GetInstanceRequest,
  type GetInstanceResponse,
  GetInstanceResponseSchema,
  type HistoryEvent,
  type ListInstanceIDsRequest,
  type ListInstanceIDsResponse,
  OrchestrationStatus,
  type PurgeInstancesRequest,
  type PurgeInstancesResponse,
  type RaiseEventRequest,
  type RerunWorkflowFromEventRequest,
  type RerunWorkflowFromEventResponse,
  type ResumeRequest,
  StalledReason,
  type SuspendRequest,
  type TerminateRequest,
  WorkerCapability,
  type WorkflowRequest,
  WorkflowRequestSchema,
  type WorkflowResponse,
  type WorkflowState,
  WorkflowStateSchema,
  type WorkItem,
  WorkItemSchema,
} from "@dt/proto";
import {
  applyTurn,
  childIds,
  deriveRecord,
  historyEvent,
  InvalidResponseError,
  isTerminal,
  type Message,
  resolutionKey,
  startedEvent,
  type TurnOutcome,
  timestampMs,
} from "./applier.js";
import { workflowRequestSize } from "./encoding.js";
import { forkHistory } from "./rerun.js";
import type { InstanceRecord, Store, StoreWriter } from "./store.js";
import { TimerScheduler } from "./timers.js";
import { checkInstanceId, checkName, checkTimestamp, checkTraceContext, fail, unknownBool } from "./validate.js";

export interface BackendOptions {
  readonly store: Store;
  /** Structured logs (silent by default). */
  readonly logger?: Logger;
  /**
   * StartInstance returns once a worker has run the first turn, as Dapr and durabletask-go do (clients rely on the
   * instance being RUNNING afterwards). Scheduled starts never wait. Default true.
   */
  readonly waitForStart?: boolean;
  /**
   * A workflow work item larger than this is not sent: the instance stalls with PAYLOAD_SIZE_EXCEEDED instead of
   * breaking the worker's stream on every redelivery (Dapr stalls at 95% of its body limit). Default 95% of 4 MiB.
   */
  readonly maxWorkItemBytes?: number;
}

/** One GetWorkItems stream: what it can do and which instances' history it already holds (stateful history). */
interface StreamState {
  readonly id: string;
  readonly stateful: boolean;
  readonly warm: Map<string, number>;
}

/** A workflow turn handed to a worker and not yet answered. */
interface Turn {
  readonly instanceId: string;
  readonly token: string;
  readonly streamId: string;
  /** Inbox entries this turn consumes once committed. */
  readonly consumed: number[];
  readonly history: HistoryEvent[];
  readonly newEvents: HistoryEvent[];
}

interface ActivityDispatch {
  readonly token: string;
  readonly streamId: string;
}

/** A work-item stream's current wait, woken by new work, the stream's end or the sidecar closing. */
interface Waiter {
  wake: (() => void) | undefined;
}

/** Waits for an instance's change; called with the reason when the sidecar closes. */
type Watcher = (closing?: unknown) => void;

type Work = { readonly kind: "workflow"; readonly id: string } | { readonly kind: "activity"; readonly key: string };

/**
 * What a commit changed, acted on as soon as its transaction returns (one that throws changes nothing). With group
 * commit that is before the change is durable: work may go out, answers wait (whenDurable; see sqlite-store.ts).
 */
interface Effects {
  /** Instances with new inbox entries or a changed record. */
  readonly touched: Set<string>;
  readonly wakeups: [string, number][];
  /** Activities to hand out. */
  readonly activities: string[];
  /** Activities that no longer exist. */
  readonly dropped: string[];
  /** Stalled instances a terminate reaches. */
  readonly unpark: Set<string>;
  /** Instances whose history was reset: no stream holds a valid prefix any more. */
  readonly cold: Set<string>;
  /** Instances deleted or recreated: everything held in memory about them goes. */
  readonly forget: Set<string>;
}

const newEffects = (): Effects => ({
  touched: new Set(),
  wakeups: [],
  activities: [],
  dropped: [],
  unpark: new Set(),
  cold: new Set(),
  forget: new Set(),
});

export function activityKey(instanceId: string, taskId: number): string {
  return `${taskId}/${instanceId}`;
}

function parseActivityKey(key: string): { instanceId: string; taskId: number } {
  const slash = key.indexOf("/");
  return { taskId: Number(key.slice(0, slash)), instanceId: key.slice(slash + 1) };
}

const notFound = (id: string) => fail(Code.NotFound, `no such instance exists: '${id}'`);

export class Backend {
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #waitForStart: boolean;
  readonly #maxWorkItemBytes: number;
  readonly #timers: TimerScheduler;

  readonly #queue: Work[] = [];
  readonly #queuedWorkflows = new Set<string>();
  readonly #queuedActivities = new Set<string>();
  /** Streams waiting for work: each resolves when woken. */
  readonly #waiting: (() => void)[] = [];
  readonly #streams = new Map<string, StreamState>();
  readonly #turns = new Map<string, Turn>();
  readonly #activities = new Map<string, ActivityDispatch>();
  /** Stalled instances: not dispatched until a terminate or a sidecar restart (Dapr parks them the same way). */
  readonly #parked = new Set<string>();
  /** Abandoned turns per instance, for backoff. */
  readonly #retries = new Map<string, number>();
  readonly #watchers = new Map<string, Set<Watcher>>();
  readonly #closing = new AbortController();
  /** The last durability promise seen, so a failed commit is logged once. */
  #lastDurable: Promise<void> | undefined;

  constructor(options: BackendOptions) {
    this.#store = options.store;
    this.#logger = options.logger ?? silentLogger;
    this.#waitForStart = options.waitForStart ?? true;
    this.#maxWorkItemBytes = options.maxWorkItemBytes ?? Math.floor(4 * 1024 * 1024 * 0.95);
    this.#timers = new TimerScheduler((id) => this.#ready(id));
    this.#recover();
  }

  get store(): Store {
    return this.#store;
  }

  /**
   * The store's `whenDurable()`: settles once every change made so far is durable (undefined when it already is).
   * Callers answer a request only after it settles (service.ts, fast-path.ts), so nothing is acknowledged that a
   * crash could still take back. Work items are sent without waiting: see sqlite-store.ts for why that is safe.
   */
  whenDurable(): Promise<void> | undefined {
    const durable = this.#store.whenDurable?.();
    if (durable !== undefined && durable !== this.#lastDurable) {
      this.#lastDurable = durable;
      durable.catch((error: unknown) =>
        this.#logger.error("changes could not be stored; restart the sidecar", { error: String(error) }),
      );
    }
    return durable;
  }

  /** Ends every work-item stream and long poll; the store stays open (its owner closes it). */
  close(): void {
    if (this.#closing.signal.aborted) return;
    const reason = fail(Code.Unavailable, "The sidecar is shutting down.");
    this.#closing.abort(reason);
    this.#timers.close();
    for (const wake of this.#waiting.splice(0)) wake();
    for (const watchers of [...this.#watchers.values()]) for (const watcher of [...watchers]) watcher(reason);
  }

  // --- client operations --------------------------------------------------------------------------------------------

  async startInstance(req: CreateInstanceRequest, signal?: AbortSignal): Promise<CreateInstanceResponse> {
    const id = req.instanceId;
    checkInstanceId(id);
    checkName(req.name, "workflow name");
    checkTimestamp(req.scheduledStartTimestamp, "scheduled start time");
    checkTraceContext(req.parentTraceContext);
    const enforceUnique = unknownBool(req, 10);
    const now = Date.now();
    const start = historyEvent(
      -1,
      {
        case: "executionStarted",
        value: {
          name: req.name,
          version: req.version,
          input: req.input,
          workflowInstance: { instanceId: id, executionId: req.executionId || randomUUID() },
          parentTraceContext: req.parentTraceContext,
          scheduledStartTimestamp: req.scheduledStartTimestamp,
          tags: req.tags,
        },
      },
      now,
    );
    this.#commit((tx, fx) => {
      const existing = tx.getInstance(id);
      if (existing !== undefined) {
        if (!isTerminal(existing.status)) {
          throw fail(Code.AlreadyExists, `an active workflow with ID '${id}' already exists`);
        }
        if (enforceUnique) {
          throw fail(
            Code.AlreadyExists,
            `a workflow with ID '${id}' already exists and the request enforces unique IDs`,
          );
        }
        this.#logger.info("recreating a finished instance", { instanceId: id });
        tx.deleteInstance(id);
        fx.forget.add(id);
      }
      this.#create(tx, fx, start, now);
    });
    this.#logger.info("instance created", { instanceId: id, name: req.name });
    if (req.scheduledStartTimestamp === undefined && this.#waitForStart) {
      await this.#waitFor(id, (r) => r.status !== OrchestrationStatus.PENDING, signal);
    }
    return { $typeName: "CreateInstanceResponse", instanceId: id };
  }

  getInstance(req: GetInstanceRequest): GetInstanceResponse {
    checkInstanceId(req.instanceId);
    const record = this.#store.getInstance(req.instanceId);
    if (record === undefined) return create(GetInstanceResponseSchema, { exists: false });
    return create(GetInstanceResponseSchema, {
      exists: true,
      workflowState: toWorkflowState(record, req.getInputsAndOutputs),
    });
  }

  async waitForInstanceStart(req: GetInstanceRequest, signal?: AbortSignal): Promise<GetInstanceResponse> {
    checkInstanceId(req.instanceId);
    const record = await this.#waitFor(req.instanceId, (r) => r.status !== OrchestrationStatus.PENDING, signal);
    return create(GetInstanceResponseSchema, {
      exists: true,
      workflowState: toWorkflowState(record, req.getInputsAndOutputs),
    });
  }

  async waitForInstanceCompletion(req: GetInstanceRequest, signal?: AbortSignal): Promise<GetInstanceResponse> {
    checkInstanceId(req.instanceId);
    const record = await this.#waitFor(req.instanceId, (r) => isTerminal(r.status), signal);
    return create(GetInstanceResponseSchema, {
      exists: true,
      workflowState: toWorkflowState(record, req.getInputsAndOutputs),
    });
  }

  raiseEvent(req: RaiseEventRequest): void {
    const id = req.instanceId;
    checkInstanceId(id);
    checkName(req.name, "event name");
    const record = this.#store.getInstance(id);
    // Dapr: an event for an unknown (or purged) instance is an error; durabletask-go would keep it for later.
    if (record === undefined) throw notFound(id);
    if (record.status === OrchestrationStatus.STALLED) {
      throw fail(Code.FailedPrecondition, `workflow is stalled: '${id}' takes no events until it is unstalled`);
    }
    if (isTerminal(record.status)) {
      this.#logger.debug("event for a finished instance dropped", { instanceId: id, name: req.name });
      return;
    }
    const event = historyEvent(-1, { case: "eventRaised", value: { name: req.name, input: req.input } }, Date.now());
    this.#commit((tx, fx) => this.#deliver(tx, fx, { target: id, event }));
  }

  async terminateInstance(req: TerminateRequest, signal?: AbortSignal): Promise<void> {
    const id = req.instanceId;
    checkInstanceId(id);
    const record = this.#store.getInstance(id);
    if (record === undefined) throw notFound(id);
    if (isTerminal(record.status)) return;
    const event = historyEvent(
      -1,
      { case: "executionTerminated", value: { input: req.output, recurse: req.recursive } },
      Date.now(),
    );
    this.#commit((tx, fx) => this.#deliver(tx, fx, { target: id, event }));
    await this.#waitFor(id, (r) => isTerminal(r.status), signal);
  }

  async suspendInstance(req: SuspendRequest, signal?: AbortSignal): Promise<void> {
    await this.#suspendOrResume(
      req.instanceId,
      "executionSuspended",
      req.reason,
      OrchestrationStatus.SUSPENDED,
      signal,
    );
  }

  async resumeInstance(req: ResumeRequest, signal?: AbortSignal): Promise<void> {
    await this.#suspendOrResume(req.instanceId, "executionResumed", req.reason, OrchestrationStatus.RUNNING, signal);
  }

  purgeInstances(req: PurgeInstancesRequest): PurgeInstancesResponse {
    const force = req.force ?? false;
    const request = req.request;
    let roots: string[];
    if (request.case === "instanceId") {
      checkInstanceId(request.value);
      if (this.#store.getInstance(request.value) === undefined) throw notFound(request.value);
      roots = [request.value];
    } else if (request.case === "purgeInstanceFilter") {
      const filter = request.value;
      checkTimestamp(filter.createdTimeFrom, "createdTimeFrom");
      checkTimestamp(filter.createdTimeTo, "createdTimeTo");
      roots = this.#store
        .listInstances({
          createdFrom: timestampMs(filter.createdTimeFrom),
          createdTo: timestampMs(filter.createdTimeTo),
          statuses: filter.runtimeStatus,
        })
        .filter((r) => force || isTerminal(r.status))
        .map((r) => r.instanceId);
    } else {
      throw fail(Code.InvalidArgument, "PurgeInstances needs an instanceId or a purgeInstanceFilter.");
    }
    const doomed = new Set<string>();
    for (const root of roots) {
      if (doomed.has(root)) continue;
      const tree = req.recursive ? this.#tree(root) : [root];
      const running = (id: string) => {
        const status = this.#store.getInstance(id)?.status;
        return status !== undefined && !isTerminal(status);
      };
      const busy = force ? undefined : tree.find(running);
      if (busy !== undefined) {
        if (request.case === "instanceId") {
          const what = busy === root ? `'${busy}'` : `child workflow '${busy}' of '${root}'`;
          throw fail(Code.FailedPrecondition, `orchestration has not yet completed: ${what} is still running`);
        }
        continue; // a filter purges what it can
      }
      for (const id of tree) doomed.add(id);
    }
    this.#commit((tx, fx) => {
      for (const id of doomed) {
        tx.deleteInstance(id);
        fx.forget.add(id);
      }
    });
    for (const id of doomed) this.#logger.info("instance purged", { instanceId: id });
    return { $typeName: "PurgeInstancesResponse", deletedInstanceCount: doomed.size, isComplete: true };
  }

  async rerunWorkflowFromEvent(
    req: RerunWorkflowFromEventRequest,
    signal?: AbortSignal,
  ): Promise<RerunWorkflowFromEventResponse> {
    const source = req.sourceInstanceID;
    checkInstanceId(source, "source instance ID");
    const newId = req.newInstanceID ?? randomUUID();
    checkInstanceId(newId, "new instance ID");
    if (req.newChildWorkflowInstanceID !== undefined) checkInstanceId(req.newChildWorkflowInstanceID, "new child ID");
    if (newId === source) {
      throw fail(Code.InvalidArgument, "rerun workflow instance ID must be different from the original instance ID");
    }
    const record = this.#store.getInstance(source);
    if (record === undefined) throw fail(Code.NotFound, `workflow instance does not exist with ID '${source}'`);
    if (!isTerminal(record.status)) throw fail(Code.InvalidArgument, `'${source}' is not in a terminal state`);
    if (record.parentInstanceId !== undefined) {
      throw fail(Code.InvalidArgument, `'${source}': cannot rerun from child-workflows`);
    }
    const now = Date.now();
    const fork = forkHistory({
      history: this.#store.getHistory(source),
      eventId: req.eventID,
      newInstanceId: newId,
      newChildInstanceId: req.newChildWorkflowInstanceID,
      overwriteInput: req.overwriteInput,
      input: req.input,
      sourceInstanceId: source,
      now,
    });
    this.#commit((tx, fx) => {
      if (tx.getInstance(newId) !== undefined) {
        throw fail(Code.AlreadyExists, `workflow '${newId}' has already been created`);
      }
      const base = { ...record, instanceId: newId, createdAt: now, customStatus: undefined };
      const created = deriveRecord(base, fork.history, now, undefined);
      const executionId = created.executionId;
      tx.putInstance(created);
      fx.touched.add(newId);
      tx.appendHistory(newId, fork.history);
      for (const task of fork.activities) {
        tx.putActivity({ instanceId: newId, taskId: task.eventId, executionId, event: task });
        fx.activities.push(activityKey(newId, task.eventId));
      }
      for (const timer of fork.timers) {
        tx.addInbox(newId, timer.event, { visibleAt: timer.visibleAt });
        fx.wakeups.push([newId, timer.visibleAt]);
      }
      for (const child of fork.children) this.#deliver(tx, fx, { target: child.target, event: child.event });
    });
    this.#logger.info("instance rerun", { instanceId: newId, source, eventId: req.eventID });
    await this.#waitFor(newId, (r) => r.status !== OrchestrationStatus.PENDING, signal);
    return { $typeName: "RerunWorkflowFromEventResponse", newInstanceID: newId };
  }

  listInstanceIDs(req: ListInstanceIDsRequest): ListInstanceIDsResponse {
    const pageSize = req.pageSize ?? 0;
    let after: string | undefined;
    if (req.continuationToken !== undefined && req.continuationToken !== "") {
      after = Buffer.from(req.continuationToken, "base64url").toString("utf8");
      if (Buffer.from(after, "utf8").toString("base64url") !== req.continuationToken) {
        throw fail(Code.InvalidArgument, `The continuation token ${JSON.stringify(req.continuationToken)} is invalid.`);
      }
    }
    const page = this.#store.listInstances({ after, ...(pageSize > 0 ? { limit: pageSize + 1 } : {}) });
    const more = pageSize > 0 && page.length > pageSize;
    const ids = (more ? page.slice(0, pageSize) : page).map((r) => r.instanceId);
    const last = ids.at(-1);
    return {
      $typeName: "ListInstanceIDsResponse",
      instanceIds: ids,
      ...(more && last !== undefined ? { continuationToken: Buffer.from(last, "utf8").toString("base64url") } : {}),
    };
  }

  getInstanceHistory(req: GetInstanceHistoryRequest): GetInstanceHistoryResponse {
    checkInstanceId(req.instanceId);
    if (this.#store.getInstance(req.instanceId) === undefined) {
      throw fail(Code.NotFound, `workflow instance '${req.instanceId}' not found`);
    }
    return { $typeName: "GetInstanceHistoryResponse", events: this.#store.getHistory(req.instanceId) };
  }

  // --- worker operations ----------------------------------------------------------------------------------------

  /** The GetWorkItems stream: work items as they become ready, until `signal` aborts or the sidecar closes. */
  async *workItems(capabilities: readonly WorkerCapability[], signal: AbortSignal): AsyncGenerator<WorkItem> {
    const stream: StreamState = {
      id: randomUUID(),
      stateful: capabilities.includes(WorkerCapability.STATEFUL_HISTORY),
      warm: new Map(),
    };
    this.#streams.set(stream.id, stream);
    this.#logger.info("worker connected", { stream: stream.id, statefulHistory: stream.stateful });
    // One abort listener for the stream's life, waking whatever wait it is in.
    const waiter: Waiter = { wake: undefined };
    const onAbort = () => waiter.wake?.();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const item = await this.#next(stream, signal, waiter);
        if (item === undefined) return;
        yield item;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#streams.delete(stream.id);
      this.#release(stream.id);
      this.#logger.info("worker disconnected", { stream: stream.id });
    }
  }

  completeWorkflowTask(res: WorkflowResponse): void {
    const id = res.instanceId;
    const turn = this.#turns.get(id);
    if (turn === undefined) throw fail(Code.NotFound, `unknown instance ID: ${id}`);
    if (res.completionToken !== "" && res.completionToken !== turn.token) {
      this.#logger.warn("stale workflow response dropped (completion token mismatch)", { instanceId: id });
      return;
    }
    this.#turns.delete(id);
    const record = this.#store.getInstance(id);
    if (record === undefined) throw notFound(id);
    let outcome: TurnOutcome;
    try {
      outcome = applyTurn({ record, history: turn.history, newEvents: turn.newEvents, response: res, now: Date.now() });
    } catch (error) {
      // Nothing was applied: the turn is handed out again (with backoff, should the worker answer the same way).
      this.#abandon(turn, error instanceof Error ? error : new Error(String(error)));
      const invalid = error instanceof InvalidResponseError;
      throw fail(
        invalid ? Code.InvalidArgument : Code.Internal,
        `The response for '${id}' cannot be applied: ${invalid ? error.message : String(error)}`,
      );
    }
    try {
      this.#commitTurn(turn, outcome);
    } catch (error) {
      // Nothing was committed: the turn is handed out again.
      this.#abandon(turn, error instanceof Error ? error : new Error(String(error)));
      throw fail(Code.Internal, `The result for '${id}' could not be stored: ${String(error)}`);
    }
    this.#retries.delete(id);
  }

  completeActivityTask(res: ActivityResponse): void {
    const key = activityKey(res.instanceId, res.taskId);
    const dispatch = this.#activities.get(key);
    if (dispatch !== undefined && res.completionToken !== "" && res.completionToken !== dispatch.token) {
      this.#logger.warn("stale activity response dropped (completion token mismatch)", {
        instanceId: res.instanceId,
        taskId: res.taskId,
      });
      return;
    }
    const task = this.#store.getActivity(res.instanceId, res.taskId);
    if (task === undefined) {
      const record = this.#store.getInstance(res.instanceId);
      // A result for a finished (or purged) instance has nowhere to go: dropped, like the instance's other work.
      if (record === undefined || isTerminal(record.status)) return;
      throw fail(Code.NotFound, `unknown instance ID/task ID combo: ${res.instanceId}/${res.taskId}`);
    }
    this.#activities.delete(key);
    this.#queuedActivities.delete(key);
    const scheduled = task.event.eventType.case === "taskScheduled" ? task.event.eventType.value : undefined;
    const taskExecutionId = scheduled?.taskExecutionId ?? "";
    const event = historyEvent(
      -1,
      res.failureDetails !== undefined
        ? {
            case: "taskFailed",
            value: { taskScheduledId: res.taskId, failureDetails: res.failureDetails, taskExecutionId },
          }
        : { case: "taskCompleted", value: { taskScheduledId: res.taskId, result: res.result, taskExecutionId } },
      Date.now(),
    );
    if (task.event.router !== undefined) event.router = task.event.router;
    try {
      this.#commit((tx, fx) => {
        tx.deleteActivity(res.instanceId, res.taskId);
        this.#deliver(tx, fx, { target: res.instanceId, event, forExecution: task.executionId });
      });
    } catch (error) {
      // Nothing was committed: the activity runs again.
      this.#enqueueActivity(key);
      throw fail(Code.Internal, `The activity result could not be stored: ${String(error)}`);
    }
  }

  // --- dispatch -------------------------------------------------------------------------------------------------

  async #next(stream: StreamState, signal: AbortSignal, waiter: Waiter): Promise<WorkItem | undefined> {
    for (;;) {
      if (signal.aborted || this.#closing.signal.aborted) return undefined;
      const item = this.#take(stream);
      if (item !== undefined) return item;
      await new Promise<void>((resolve) => {
        const wake = () => {
          waiter.wake = undefined;
          const index = this.#waiting.indexOf(wake);
          if (index >= 0) this.#waiting.splice(index, 1);
          resolve();
        };
        waiter.wake = wake;
        this.#waiting.push(wake);
      });
    }
  }

  #take(stream: StreamState): WorkItem | undefined {
    for (let work = this.#queue.shift(); work !== undefined; work = this.#queue.shift()) {
      if (work.kind === "workflow") {
        if (!this.#queuedWorkflows.delete(work.id)) continue;
        const item = this.#takeWorkflow(stream, work.id);
        if (item !== undefined) return item;
      } else {
        if (!this.#queuedActivities.delete(work.key)) continue;
        const item = this.#takeActivity(stream, work.key);
        if (item !== undefined) return item;
      }
    }
    return undefined;
  }

  #takeWorkflow(stream: StreamState, id: string): WorkItem | undefined {
    if (this.#turns.has(id) || this.#parked.has(id)) return undefined;
    const record = this.#store.getInstance(id);
    if (record === undefined) return undefined;
    const now = Date.now();
    const visible = this.#store.getInbox(id).filter((e) => e.visibleAt <= now);
    if (visible.length === 0) return undefined;
    if (isTerminal(record.status)) {
      this.#commit((tx, fx) => this.#dropPending(tx, fx, id, true));
      return undefined;
    }
    const history = this.#store.getHistory(id);
    let hasStart = startedEvent(history) !== undefined;
    // Events that arrive before a scheduled start wait for it.
    if (!hasStart && !visible.some((e) => e.event.eventType.case === "executionStarted")) return undefined;
    const seen = new Set(history.map(resolutionKey).filter((k) => k !== undefined));
    const events: HistoryEvent[] = [];
    const consumed: number[] = [];
    for (const entry of visible) {
      consumed.push(entry.seq);
      const e = entry.event;
      if (e.eventType.case === "executionStarted") {
        if (hasStart) {
          this.#logger.warn("duplicate ExecutionStarted dropped", { instanceId: id });
          continue;
        }
        hasStart = true;
      }
      const key = resolutionKey(e);
      if (key !== undefined) {
        if (seen.has(key)) {
          this.#logger.warn("duplicate result dropped", { instanceId: id, event: key });
          continue;
        }
        seen.add(key);
      }
      events.push(e);
    }
    if (events.length === 0) {
      this.#commit((tx) => tx.removeInbox(id, consumed));
      return undefined;
    }
    const newEvents = [historyEvent(-1, { case: "workflowStarted", value: {} }, now), ...events];
    const executionId =
      startedEvent(events)?.workflowInstance?.executionId ??
      startedEvent(history)?.workflowInstance?.executionId ??
      record.executionId;
    const request = create(WorkflowRequestSchema, { instanceId: id, executionId, pastEvents: history, newEvents });
    if (Number.isFinite(this.#maxWorkItemBytes)) {
      const size = workflowRequestSize(request);
      if (size > this.#maxWorkItemBytes) {
        this.#stallForSize(record, history, size, now);
        return undefined;
      }
    }
    const token = randomUUID();
    this.#turns.set(id, { instanceId: id, token, streamId: stream.id, consumed, history, newEvents });
    this.#applyDelta(stream, request, history.length);
    this.#logger.debug("workflow turn dispatched", { instanceId: id, newEvents: newEvents.length });
    return create(WorkItemSchema, { completionToken: token, request: { case: "workflowRequest", value: request } });
  }

  /** Stateful history: leave out the prefix this stream already sent the worker (Dapr's cachedHistory). */
  #applyDelta(stream: StreamState, request: WorkflowRequest, pastLength: number): void {
    if (!stream.stateful) return;
    const held = stream.warm.get(request.instanceId);
    if (held !== undefined && held > 0 && held <= pastLength) {
      request.pastEvents = request.pastEvents.slice(held);
      request.cachedHistory = { $typeName: "CachedHistory", eventCount: held };
    }
    stream.warm.set(request.instanceId, pastLength);
  }

  #takeActivity(stream: StreamState, key: string): WorkItem | undefined {
    if (this.#activities.has(key)) return undefined;
    const { instanceId, taskId } = parseActivityKey(key);
    const task = this.#store.getActivity(instanceId, taskId);
    if (task === undefined || task.event.eventType.case !== "taskScheduled") return undefined;
    const scheduled = task.event.eventType.value;
    const token = randomUUID();
    this.#activities.set(key, { token, streamId: stream.id });
    this.#logger.debug("activity dispatched", { instanceId, taskId, name: scheduled.name });
    return create(WorkItemSchema, {
      completionToken: token,
      request: {
        case: "activityRequest",
        value: {
          name: scheduled.name,
          version: scheduled.version,
          input: scheduled.input,
          workflowInstance: { instanceId, executionId: task.executionId },
          taskId,
          parentTraceContext: scheduled.parentTraceContext,
          taskExecutionId: scheduled.taskExecutionId,
        },
      },
    });
  }

  /** A stream went away: what it was given and did not answer goes back to the queue, first in line. */
  #release(streamId: string): void {
    for (const [id, turn] of this.#turns) {
      if (turn.streamId !== streamId) continue;
      this.#turns.delete(id);
      this.#enqueueWorkflow(id, true);
    }
    for (const [key, dispatch] of this.#activities) {
      if (dispatch.streamId !== streamId) continue;
      this.#activities.delete(key);
      this.#enqueueActivity(key, true);
    }
  }

  #abandon(turn: Turn, error: Error): void {
    this.#turns.delete(turn.instanceId);
    const attempt = (this.#retries.get(turn.instanceId) ?? 0) + 1;
    this.#retries.set(turn.instanceId, attempt);
    const delayMs = Math.min(attempt - 1, 60) * 1000;
    this.#logger.error("workflow turn abandoned; it is handed out again", {
      instanceId: turn.instanceId,
      attempt,
      retryInMs: delayMs,
      error: error.message,
    });
    if (delayMs === 0) this.#ready(turn.instanceId);
    else this.#timers.schedule(turn.instanceId, Date.now() + delayMs);
  }

  #enqueueWorkflow(id: string, first = false): void {
    if (this.#queuedWorkflows.has(id)) return;
    this.#queuedWorkflows.add(id);
    const work: Work = { kind: "workflow", id };
    if (first) this.#queue.unshift(work);
    else this.#queue.push(work);
    this.#wake();
  }

  #enqueueActivity(key: string, first = false): void {
    if (this.#queuedActivities.has(key) || this.#activities.has(key)) return;
    this.#queuedActivities.add(key);
    const work: Work = { kind: "activity", key };
    if (first) this.#queue.unshift(work);
    else this.#queue.push(work);
    this.#wake();
  }

  #wake(): void {
    this.#waiting.shift()?.();
  }

  /** Queues the instance if it has something to process now (a timer or other wakeup came due). */
  #ready(id: string): void {
    if (this.#turns.has(id) || this.#parked.has(id)) return;
    const now = Date.now();
    if (this.#store.getInbox(id).some((e) => e.visibleAt <= now)) this.#enqueueWorkflow(id);
  }

  /** Rebuilds the queue and the timers from the store (a sidecar restart). */
  #recover(): void {
    const now = Date.now();
    for (const { instanceId, visibleAt } of this.#store.scanInbox()) {
      if (visibleAt <= now) this.#enqueueWorkflow(instanceId);
      else this.#timers.schedule(instanceId, visibleAt);
    }
    for (const task of this.#store.listActivities()) this.#enqueueActivity(activityKey(task.instanceId, task.taskId));
  }

  // --- commits --------------------------------------------------------------------------------------------------

  /** One store transaction, then the effects it had on the queue, timers and waiters. */
  #commit<T>(fn: (tx: StoreWriter, fx: Effects) => T): T {
    const fx = newEffects();
    const result = this.#store.transaction((tx) => fn(tx, fx));
    for (const key of fx.dropped) {
      this.#queuedActivities.delete(key);
      this.#activities.delete(key);
    }
    for (const id of fx.unpark) this.#parked.delete(id);
    for (const id of [...fx.cold, ...fx.forget]) for (const stream of this.#streams.values()) stream.warm.delete(id);
    for (const id of fx.forget) {
      this.#turns.delete(id);
      this.#parked.delete(id);
      this.#retries.delete(id);
      for (const key of [...this.#queuedActivities, ...this.#activities.keys()]) {
        if (parseActivityKey(key).instanceId !== id) continue;
        this.#queuedActivities.delete(key);
        this.#activities.delete(key);
      }
      this.#notify(id);
    }
    const now = Date.now();
    for (const [id, at] of fx.wakeups) {
      if (at > now) this.#timers.schedule(id, at);
      else fx.touched.add(id);
    }
    for (const key of fx.activities) this.#enqueueActivity(key);
    for (const id of fx.touched) {
      this.#ready(id);
      this.#notify(id);
    }
    return result;
  }

  #commitTurn(turn: Turn, outcome: TurnOutcome): void {
    const id = turn.instanceId;
    if (outcome.type === "stall") {
      this.#commit((tx, fx) => {
        tx.appendHistory(id, outcome.append);
        tx.putInstance(outcome.record);
        fx.touched.add(id);
      });
      this.#parked.add(id);
      this.#logger.warn("workflow stalled", {
        instanceId: id,
        reason: StalledReason[outcome.reason],
        description: outcome.description,
      });
      return;
    }
    this.#commit((tx, fx) => {
      tx.removeInbox(id, turn.consumed);
      tx.putInstance(outcome.record);
      fx.touched.add(id);
      if (outcome.continuedAsNew !== undefined) {
        // The old execution's pending work and results have nothing left to resolve.
        this.#dropPending(tx, fx, id, false);
        tx.clearHistory(id);
        for (const e of [...outcome.continuedAsNew].reverse()) tx.addInbox(id, e, { first: true });
        fx.cold.add(id);
        return;
      }
      tx.appendHistory(id, outcome.append);
      for (const task of outcome.activities) {
        tx.putActivity(task);
        fx.activities.push(activityKey(task.instanceId, task.taskId));
      }
      for (const timer of outcome.timers) {
        tx.addInbox(id, timer.event, { visibleAt: timer.visibleAt });
        fx.wakeups.push([id, timer.visibleAt]);
      }
      for (const message of outcome.messages) this.#deliver(tx, fx, message);
      if (outcome.completed) {
        this.#dropPending(tx, fx, id, true);
        fx.cold.add(id);
      }
    });
    if (outcome.completed) {
      this.#logger.info("instance finished", {
        instanceId: id,
        status: OrchestrationStatus[outcome.record.status],
      });
    }
  }

  /**
   * Drops an ended execution's scheduled activities and unprocessed results. `all`: the whole inbox goes (the
   * instance is finished; a recursive terminate among it still reaches the children).
   */
  #dropPending(tx: StoreWriter, fx: Effects, id: string, all: boolean): void {
    for (const task of tx.listActivities(id)) {
      tx.deleteActivity(id, task.taskId);
      fx.dropped.push(activityKey(id, task.taskId));
    }
    const gone: number[] = [];
    for (const entry of tx.getInbox(id)) {
      if (all) {
        gone.push(entry.seq);
        const t = entry.event.eventType;
        if (t.case === "executionTerminated" && t.value.recurse) this.#cascade(tx, fx, id, entry.event, new Set([id]));
      } else if (resolutionKey(entry.event) !== undefined) {
        gone.push(entry.seq);
      }
    }
    tx.removeInbox(id, gone);
  }

  /** Sends a recursive terminate on to the children of `id` (which has already finished). */
  #cascade(tx: StoreWriter, fx: Effects, id: string, terminate: HistoryEvent, visited: Set<string>): void {
    for (const child of childIds(tx.getHistory(id))) {
      if (visited.has(child)) continue;
      visited.add(child);
      this.#deliver(tx, fx, { target: child, event: terminate }, visited);
    }
  }

  /** Delivers a message to an instance's inbox, with the rules for creation, finished and unknown targets. */
  #deliver(tx: StoreWriter, fx: Effects, message: Message, visited = new Set<string>()): void {
    const { target, event } = message;
    const t = event.eventType;
    const record = tx.getInstance(target);
    const now = Date.now();
    if (t.case === "executionStarted") {
      if (record !== undefined && !isTerminal(record.status)) {
        const parent = t.value.parentInstance;
        const parentId = parent?.workflowInstance?.instanceId;
        this.#logger.warn("child workflow not started: its instance id is in use", { instanceId: target });
        if (message.detached === true || parent === undefined || parentId === undefined) return;
        const failed = historyEvent(
          -1,
          {
            case: "childWorkflowInstanceFailed",
            value: {
              taskScheduledId: parent.taskScheduledId,
              failureDetails: {
                errorType: "WorkflowAlreadyExistsError",
                errorMessage: `an active workflow with ID '${target}' already exists`,
                isNonRetriable: true,
              },
            },
          },
          now,
        );
        this.#deliver(tx, fx, { target: parentId, event: failed, forExecution: parent.workflowInstance?.executionId });
        return;
      }
      if (record !== undefined) {
        tx.deleteInstance(target);
        fx.forget.add(target);
      }
      this.#create(tx, fx, event, now);
      return;
    }
    if (record === undefined) {
      this.#logger.debug("message for an unknown instance dropped", { instanceId: target, event: t.case });
      return;
    }
    if (message.forExecution !== undefined && message.forExecution !== record.executionId) {
      this.#logger.debug("message for an earlier execution dropped", { instanceId: target, event: t.case });
      return;
    }
    if (isTerminal(record.status)) {
      if (t.case === "executionTerminated" && t.value.recurse) this.#cascade(tx, fx, target, event, visited);
      return;
    }
    if (t.case === "executionTerminated") {
      // A terminate reaches a stalled instance, and does not wait for a scheduled start.
      fx.unpark.add(target);
      const pendingStart = tx
        .getInbox(target)
        .find((e) => e.event.eventType.case === "executionStarted" && e.visibleAt > now);
      if (pendingStart !== undefined) {
        tx.removeInbox(target, [pendingStart.seq]);
        tx.addInbox(target, pendingStart.event, { first: true });
      }
    }
    tx.addInbox(target, event);
    fx.touched.add(target);
  }

  /** A new instance: PENDING, with its ExecutionStarted in the inbox (visible at the scheduled start). */
  #create(tx: StoreWriter, fx: Effects, start: HistoryEvent, now: number): void {
    if (start.eventType.case !== "executionStarted") return;
    const es = start.eventType.value;
    const id = es.workflowInstance?.instanceId ?? "";
    const scheduledStartAt = timestampMs(es.scheduledStartTimestamp);
    tx.putInstance({
      instanceId: id,
      name: es.name,
      version: es.version,
      executionId: es.workflowInstance?.executionId ?? randomUUID(),
      status: OrchestrationStatus.PENDING,
      createdAt: now,
      lastUpdatedAt: now,
      scheduledStartAt,
      input: es.input,
      tags: { ...es.tags },
      parentInstanceId: es.parentInstance?.workflowInstance?.instanceId,
      parentAppId: es.parentInstance?.appID,
    });
    const visibleAt = scheduledStartAt !== undefined && scheduledStartAt > now ? scheduledStartAt : 0;
    tx.addInbox(id, start, { visibleAt });
    if (visibleAt > 0) fx.wakeups.push([id, visibleAt]);
    else fx.touched.add(id);
  }

  #stallForSize(record: InstanceRecord, history: HistoryEvent[], size: number, now: number): void {
    const id = record.instanceId;
    const description = `The work item is ${size} bytes; the limit is ${this.#maxWorkItemBytes}.`;
    const last = history.at(-1)?.eventType;
    this.#commit((tx, fx) => {
      if (!(last?.case === "executionStalled" && last.value.description === description)) {
        tx.appendHistory(id, [
          historyEvent(
            -1,
            { case: "executionStalled", value: { reason: StalledReason.PAYLOAD_SIZE_EXCEEDED, description } },
            now,
          ),
        ]);
      }
      tx.putInstance({ ...record, status: OrchestrationStatus.STALLED, lastUpdatedAt: now });
      fx.touched.add(id);
    });
    this.#parked.add(id);
    this.#logger.warn("workflow stalled", { instanceId: id, reason: "PAYLOAD_SIZE_EXCEEDED", description });
  }

  // --- helpers --------------------------------------------------------------------------------------------------

  async #suspendOrResume(
    id: string,
    kind: "executionSuspended" | "executionResumed",
    reason: string | undefined,
    target: OrchestrationStatus,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    checkInstanceId(id);
    const record = this.#store.getInstance(id);
    if (record === undefined) throw notFound(id);
    if (isTerminal(record.status)) return;
    const input = reason === undefined || reason === "" ? undefined : reason;
    const event = historyEvent(-1, { case: kind, value: { input } }, Date.now());
    this.#commit((tx, fx) => this.#deliver(tx, fx, { target: id, event }));
    await this.#waitFor(id, (r) => r.status === target || isTerminal(r.status), signal);
  }

  /** The instance and (recursively) the children its history created that still exist, children first. */
  #tree(root: string, visited = new Set<string>()): string[] {
    visited.add(root);
    const out: string[] = [];
    for (const child of childIds(this.#store.getHistory(root))) {
      if (visited.has(child) || this.#store.getInstance(child) === undefined) continue;
      out.push(...this.#tree(child, visited));
    }
    out.push(root);
    return out;
  }

  /** Resolves with the instance's record once `accept` holds; event-driven, no polling. */
  async #waitFor(
    id: string,
    accept: (record: InstanceRecord) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<InstanceRecord> {
    for (;;) {
      const record = this.#store.getInstance(id);
      if (record === undefined) throw notFound(id);
      if (accept(record)) return record;
      await this.#changed(id, signal);
    }
  }

  /** Resolves at the instance's next change; rejects when `signal` aborts or the sidecar closes (close() calls). */
  #changed(id: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#closing.signal.aborted) return reject(this.#closing.signal.reason);
      if (signal?.aborted === true) return reject(signal.reason);
      const watchers = this.#watchers.get(id) ?? new Set<Watcher>();
      this.#watchers.set(id, watchers);
      const done = () => {
        watchers.delete(onChange);
        if (watchers.size === 0) this.#watchers.delete(id);
        signal?.removeEventListener("abort", onAbort);
      };
      const onChange: Watcher = (closing) => {
        done();
        if (closing === undefined) resolve();
        else reject(closing);
      };
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      watchers.add(onChange);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #notify(id: string): void {
    const watchers = this.#watchers.get(id);
    if (watchers === undefined) return;
    for (const watcher of [...watchers]) watcher();
  }
}

/** GetInstance's view of a record: everything we know (durabletask-go leaves several of these fields empty). */
export function toWorkflowState(record: InstanceRecord, withPayloads: boolean): WorkflowState {
  const ts = (ms: number | undefined) => (ms === undefined ? undefined : timestampFromMs(ms));
  return create(WorkflowStateSchema, {
    instanceId: record.instanceId,
    name: record.name,
    version: record.version,
    workflowStatus: record.status,
    scheduledStartTimestamp: ts(record.scheduledStartAt),
    createdTimestamp: ts(record.createdAt),
    lastUpdatedTimestamp: ts(record.lastUpdatedAt),
    completedTimestamp: ts(record.completedAt),
    startedAt: ts(record.startedAt),
    executionId: record.executionId,
    parentInstanceId: record.parentInstanceId,
    parentAppId: record.parentAppId,
    tags: { ...record.tags },
    ...(withPayloads
      ? {
          input: record.input,
          output: record.output,
          customStatus: record.customStatus,
          failureDetails: record.failureDetails,
        }
      : {}),
  });
}

/** The error a call gets when the changes it made (or read) could not be made durable. */
export function storeFailure(error: unknown): ConnectError {
  return new ConnectError(`The change could not be stored: ${String(error)}`, Code.Internal);
}

/** ConnectError or a plain Error, for logs. */
export function describeError(error: unknown): string {
  return error instanceof ConnectError ? `${Code[error.code]}: ${error.rawMessage}` : String(error);
}
