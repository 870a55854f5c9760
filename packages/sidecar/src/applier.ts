// The applier: a workflow turn's response (actions) turned into history events, outgoing work and messages to other
// instances — durabletask-go's runtimestate.Applier rules with Dapr's stalls on top. Pure: the backend commits what
// it returns in one store transaction.
import { randomBytes, randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type ExecutionStartedEvent,
  type HistoryEvent,
  HistoryEventSchema,
  OrchestrationStatus,
  StalledReason,
  type TaskFailureDetails,
  TaskFailureDetailsSchema,
  type WorkflowResponse,
} from "@dt/proto";
import type { ActivityTask, InstanceRecord } from "./store.js";

type EventType = NonNullable<MessageInitShape<typeof HistoryEventSchema>["eventType"]>;

/** A history event with `eventId` (-1 for injected events) stamped at `now`. */
export function historyEvent(eventId: number, eventType: EventType, now: number): HistoryEvent {
  return create(HistoryEventSchema, { eventId, timestamp: timestampFromMs(now), eventType });
}

export function timestampMs(ts: Timestamp | undefined): number | undefined {
  return ts === undefined ? undefined : timestampDate(ts).getTime();
}

/** durabletask-go's default child id: `<parent>:<last 4 hex digits of the action id>`. */
export function childInstanceId(parentId: string, actionId: number): string {
  return `${parentId}:${(0x10000 + actionId).toString(16).slice(-4)}`;
}

export const TERMINAL_STATUSES: ReadonlySet<OrchestrationStatus> = new Set([
  OrchestrationStatus.COMPLETED,
  OrchestrationStatus.FAILED,
  OrchestrationStatus.TERMINATED,
  OrchestrationStatus.CANCELED,
]);

export function isTerminal(status: OrchestrationStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** The correlator of a resolution event (a task, timer or child result), used to drop duplicates. */
export function resolutionKey(e: HistoryEvent): string | undefined {
  const t = e.eventType;
  switch (t.case) {
    case "taskCompleted":
    case "taskFailed":
      return `task:${t.value.taskScheduledId}`;
    case "timerFired":
      return `timer:${t.value.timerId}`;
    case "childWorkflowInstanceCompleted":
    case "childWorkflowInstanceFailed":
      return `child:${t.value.taskScheduledId}`;
    default:
      return undefined;
  }
}

export function startedEvent(events: readonly HistoryEvent[]): ExecutionStartedEvent | undefined {
  for (const e of events) if (e.eventType.case === "executionStarted") return e.eventType.value;
  return undefined;
}

/** Instance ids of the children an execution created (ChildWorkflowInstanceCreated; detached spawns excluded). */
export function childIds(events: readonly HistoryEvent[]): string[] {
  const ids = new Set<string>();
  for (const e of events)
    if (e.eventType.case === "childWorkflowInstanceCreated") ids.add(e.eventType.value.instanceId);
  return [...ids];
}

/** A message to another instance (or this one), delivered inside the same commit. */
export interface Message {
  readonly target: string;
  readonly event: HistoryEvent;
  /** The target execution this is for (a child's result to its parent); dropped if the target has moved on. */
  readonly forExecution?: string | undefined;
  /** ExecutionStarted of a detached spawn: never reported back, and not an error when the id is taken. */
  readonly detached?: boolean;
}

export interface TurnInput {
  readonly record: InstanceRecord;
  /** The committed history. */
  readonly history: readonly HistoryEvent[];
  /** This turn's new events, WorkflowStarted first. */
  readonly newEvents: readonly HistoryEvent[];
  readonly response: WorkflowResponse;
  readonly now: number;
}

export interface TurnCommit {
  readonly type: "commit";
  /** Events to append to the history (this turn's new events, then what its actions recorded). */
  readonly append: HistoryEvent[];
  readonly record: InstanceRecord;
  readonly activities: ActivityTask[];
  /** TimerFired events, each visible at its fire time. */
  readonly timers: { readonly event: HistoryEvent; readonly visibleAt: number }[];
  readonly messages: Message[];
  /** The execution ended (completed, failed, terminated). */
  readonly completed: boolean;
  /**
   * Continue-as-new: the history is wiped and these events (the new ExecutionStarted, then carried-over events)
   * go to the front of the inbox, so the next turn starts the new execution with them as new events.
   */
  readonly continuedAsNew?: HistoryEvent[];
}

export interface TurnStall {
  readonly type: "stall";
  readonly reason: StalledReason;
  readonly description: string;
  /** The ExecutionStalled event to append (none when history already ends with the same stall). */
  readonly append: HistoryEvent[];
  readonly record: InstanceRecord;
}

export type TurnOutcome = TurnCommit | TurnStall;

/** A response the sidecar cannot apply (the turn is abandoned and handed out again later). */
export class InvalidResponseError extends Error {
  override name = "InvalidResponseError";
}

/** Applies a worker's response to a turn. Throws InvalidResponseError for an action it cannot apply. */
export function applyTurn(input: TurnInput): TurnOutcome {
  const { record, history, response, now } = input;
  const newEvents = withVersion(input.newEvents, response);
  const start = startedEvent(history) ?? startedEvent(newEvents);
  if (start === undefined) throw new InvalidResponseError("The turn has no ExecutionStarted event.");
  const executionId = start.workflowInstance?.executionId ?? record.executionId;
  const terminate = newEvents.find((e) => e.eventType.case === "executionTerminated")?.eventType;
  const terminateEvent = terminate?.case === "executionTerminated" ? terminate.value : undefined;

  const append: HistoryEvent[] = [...newEvents];
  let activities: ActivityTask[] = [];
  let timers: { event: HistoryEvent; visibleAt: number }[] = [];
  let messages: Message[] = [];
  let completion:
    | { status: OrchestrationStatus; result?: string | undefined; failure?: TaskFailureDetails }
    | undefined;

  for (const action of response.actions) {
    const a = action.workflowActionType;
    if (completion !== undefined) continue; // the first completion wins; nothing after it is applied
    const router = action.router;
    const add = (eventType: EventType) => {
      const e = historyEvent(action.id, eventType, now);
      if (router !== undefined) e.router = router;
      append.push(e);
      return e;
    };
    switch (a.case) {
      case "scheduleTask": {
        const e = add({
          case: "taskScheduled",
          value: {
            name: a.value.name,
            version: a.value.version,
            input: a.value.input,
            taskExecutionId: a.value.taskExecutionId,
            parentTraceContext: start.parentTraceContext,
            historyPropagationScope: a.value.historyPropagationScope,
          },
        });
        activities.push({ instanceId: record.instanceId, taskId: action.id, executionId, event: e });
        break;
      }
      case "createTimer": {
        const fireAt = a.value.fireAt ?? timestampFromMs(now);
        add({
          case: "timerCreated",
          value: { fireAt, name: a.value.name, origin: a.value.origin },
        });
        timers.push({
          event: historyEvent(-1, { case: "timerFired", value: { timerId: action.id, fireAt } }, now),
          visibleAt: timestampMs(fireAt) ?? now,
        });
        break;
      }
      case "createChildWorkflow": {
        const instanceId = a.value.instanceId || childInstanceId(record.instanceId, action.id);
        add({
          case: "childWorkflowInstanceCreated",
          value: {
            instanceId,
            name: a.value.name,
            version: a.value.version,
            input: a.value.input,
            parentTraceContext: start.parentTraceContext,
            historyPropagationScope: a.value.historyPropagationScope,
            retryParentInstanceInfo: a.value.retryParentInstanceInfo,
          },
        });
        const childStart = historyEvent(
          -1,
          {
            case: "executionStarted",
            value: {
              name: a.value.name,
              version: a.value.version,
              input: a.value.input,
              workflowInstance: { instanceId, executionId: randomUUID() },
              parentInstance: {
                taskScheduledId: action.id,
                name: start.name,
                version: start.version,
                workflowInstance: { instanceId: record.instanceId, executionId },
              },
              parentTraceContext: start.parentTraceContext,
            },
          },
          now,
        );
        messages.push({ target: instanceId, event: childStart });
        break;
      }
      case "createDetachedWorkflow": {
        const instanceId = a.value.instanceId;
        if (instanceId === "") throw new InvalidResponseError("createDetachedWorkflow needs an instance id.");
        add({ case: "detachedWorkflowInstanceCreated", value: { instanceId } });
        const detachedStart = historyEvent(
          -1,
          {
            case: "executionStarted",
            value: {
              name: a.value.name,
              version: a.value.version,
              input: a.value.input,
              scheduledStartTimestamp: a.value.scheduledStartTimestamp,
              tags: a.value.tags,
              workflowInstance: { instanceId, executionId: a.value.executionId || randomUUID() },
              parentTraceContext: a.value.parentTraceContext ?? start.parentTraceContext,
            },
          },
          now,
        );
        messages.push({ target: instanceId, event: detachedStart, detached: true });
        break;
      }
      case "sendEvent": {
        const target = a.value.instance?.instanceId ?? "";
        add({ case: "eventSent", value: { instanceId: target, name: a.value.name, input: a.value.data } });
        // Delivered as the event it is for the receiver: EventRaised (durabletask-go passes the EventSent on as is).
        messages.push({
          target,
          event: historyEvent(-1, { case: "eventRaised", value: { name: a.value.name, input: a.value.data } }, now),
        });
        break;
      }
      case "terminateWorkflow":
        messages.push({
          target: a.value.instanceId,
          event: historyEvent(
            -1,
            { case: "executionTerminated", value: { input: a.value.reason, recurse: a.value.recurse } },
            now,
          ),
        });
        break;
      case "workflowVersionNotAvailable": {
        const versionName = firstVersionName(history) ?? "";
        return stall(input, StalledReason.VERSION_NOT_AVAILABLE, `Version not available: ${versionName}`);
      }
      case "completeWorkflow": {
        const c = a.value;
        if (c.workflowStatus === OrchestrationStatus.CONTINUED_AS_NEW) {
          // A terminate in the same batch wins over continue-as-new.
          if (terminateEvent !== undefined) break;
          const mismatch = patchMismatch(history, newEvents);
          if (mismatch !== undefined) return stall(input, StalledReason.PATCH_MISMATCH, mismatch);
          return continueAsNew(input, start, c.result, c.newVersion, c.carryoverEvents);
        }
        add({
          case: "executionCompleted",
          value: { workflowStatus: c.workflowStatus, result: c.result, failureDetails: c.failureDetails },
        });
        completion = {
          status: c.workflowStatus,
          result: c.result,
          ...(c.failureDetails === undefined ? {} : { failure: c.failureDetails }),
        };
        break;
      }
      default:
        throw new InvalidResponseError(`Action ${action.id} has a type this sidecar does not know.`);
    }
  }

  const mismatch = patchMismatch(history, newEvents);
  if (mismatch !== undefined) return stall(input, StalledReason.PATCH_MISMATCH, mismatch);
  compactPatches(history, newEvents, append);

  if (terminateEvent !== undefined && completion === undefined) {
    // The worker did not honour the terminate: force it, and drop what this turn scheduled.
    activities = [];
    timers = [];
    messages = [];
    append.push(
      historyEvent(
        -1,
        {
          case: "executionCompleted",
          value: { workflowStatus: OrchestrationStatus.TERMINATED, result: terminateEvent.input },
        },
        now,
      ),
    );
    completion = { status: OrchestrationStatus.TERMINATED, result: terminateEvent.input };
  }

  if (completion !== undefined) {
    const parent = start.parentInstance;
    const parentId = parent?.workflowInstance?.instanceId;
    if (parent !== undefined && parentId !== undefined && parentId !== "") {
      const failure = completion.failure ?? childFailure(record.instanceId, start.name, completion);
      messages.push({
        target: parentId,
        forExecution: parent.workflowInstance?.executionId,
        event: historyEvent(
          -1,
          completion.status === OrchestrationStatus.COMPLETED
            ? {
                case: "childWorkflowInstanceCompleted",
                value: { taskScheduledId: parent.taskScheduledId, result: completion.result },
              }
            : {
                case: "childWorkflowInstanceFailed",
                value: { taskScheduledId: parent.taskScheduledId, failureDetails: failure },
              },
          now,
        ),
      });
    }
    if (terminateEvent?.recurse === true) {
      for (const child of childIds([...history, ...append])) {
        messages.push({
          target: child,
          event: historyEvent(
            -1,
            { case: "executionTerminated", value: { input: terminateEvent.input, recurse: true } },
            now,
          ),
        });
      }
    }
  }

  const nextRecord = deriveRecord(record, [...history, ...append], now, response.customStatus);
  return {
    type: "commit",
    append,
    record: nextRecord,
    activities,
    timers,
    messages,
    completed: completion !== undefined,
  };
}

/** A terminated child still gives its parent failure details to report. */
function childFailure(
  instanceId: string,
  name: string,
  completion: { status: OrchestrationStatus; result?: string | undefined },
): TaskFailureDetails | undefined {
  if (completion.status !== OrchestrationStatus.TERMINATED) return undefined;
  const reason = completion.result === undefined ? "" : `: ${completion.result}`;
  return create(TaskFailureDetailsSchema, {
    errorType: "WorkflowTerminatedError",
    errorMessage: `Child workflow '${name}' ('${instanceId}') was terminated${reason}.`,
  });
}

function continueAsNew(
  input: TurnInput,
  start: ExecutionStartedEvent,
  result: string | undefined,
  newVersion: string | undefined,
  carryover: readonly HistoryEvent[],
): TurnCommit {
  const { record, now, response } = input;
  const executionId = randomUUID();
  const nextStart = historyEvent(
    -1,
    {
      case: "executionStarted",
      value: {
        name: start.name,
        version: newVersion ?? start.version,
        input: result,
        workflowInstance: { instanceId: record.instanceId, executionId },
        parentInstance: start.parentInstance,
        // A fresh root trace per execution when the previous one was traced (dapr/dapr#10064).
        ...(start.parentTraceContext === undefined
          ? {}
          : {
              parentTraceContext: {
                traceParent: `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`,
              },
            }),
        tags: start.tags,
      },
    },
    now,
  );
  const next: InstanceRecord = {
    ...record,
    executionId,
    ...(newVersion === undefined ? {} : { version: newVersion }),
    status: OrchestrationStatus.RUNNING,
    input: result,
    output: undefined,
    failureDetails: undefined,
    startedAt: undefined,
    completedAt: undefined,
    customStatus: response.customStatus ?? record.customStatus,
    lastUpdatedAt: now,
  };
  return {
    type: "commit",
    append: [],
    record: next,
    activities: [],
    timers: [],
    messages: [],
    completed: false,
    continuedAsNew: [nextStart, ...carryover],
  };
}

function stall(input: TurnInput, reason: StalledReason, description: string): TurnStall {
  const { history, record, now } = input;
  const last = history.at(-1)?.eventType;
  const same = last?.case === "executionStalled" && last.value.description === description;
  return {
    type: "stall",
    reason,
    description,
    append: same ? [] : [historyEvent(-1, { case: "executionStalled", value: { reason, description } }, now)],
    record: { ...record, status: OrchestrationStatus.STALLED, lastUpdatedAt: now },
  };
}

/** The response's version goes on this turn's WorkflowStarted (the first new event). */
function withVersion(newEvents: readonly HistoryEvent[], response: WorkflowResponse): HistoryEvent[] {
  const version = response.version;
  const first = newEvents[0];
  if (
    version === undefined ||
    (version.patches.length === 0 && version.name === undefined) ||
    first?.eventType.case !== "workflowStarted"
  ) {
    return [...newEvents];
  }
  const ws = create(HistoryEventSchema, {
    eventId: first.eventId,
    timestamp: first.timestamp,
    eventType: { case: "workflowStarted", value: { version } },
  });
  return [ws, ...newEvents.slice(1)];
}

function patchesOf(e: HistoryEvent): string[] | undefined {
  return e.eventType.case === "workflowStarted" ? e.eventType.value.version?.patches : undefined;
}

/** Dapr's PATCH_MISMATCH: the patches recorded in history must be an exact prefix of this turn's. */
function patchMismatch(history: readonly HistoryEvent[], newEvents: readonly HistoryEvent[]): string | undefined {
  const recorded = history.flatMap((e) => patchesOf(e) ?? []);
  if (recorded.length === 0) return undefined;
  const current = newEvents.map(patchesOf).findLast((p) => p !== undefined) ?? [];
  if (current.length >= recorded.length && recorded.every((p, i) => current[i] === p)) return undefined;
  return `Patch mismatch. History patches: [${recorded.join(", ")}], current patches: [${current.join(", ")}]. `;
}

/** Dapr stores only patches that history does not have yet; the version name stays. */
function compactPatches(history: readonly HistoryEvent[], newEvents: readonly HistoryEvent[], append: HistoryEvent[]) {
  const ws = newEvents[0];
  if (ws?.eventType.case !== "workflowStarted" || ws.eventType.value.version === undefined) return;
  const version = ws.eventType.value.version;
  const counts = new Map<string, number>();
  for (const p of history.flatMap((e) => patchesOf(e) ?? [])) counts.set(p, (counts.get(p) ?? 0) + 1);
  const fresh = version.patches.filter((p) => {
    const n = counts.get(p) ?? 0;
    if (n > 0) counts.set(p, n - 1);
    return n === 0;
  });
  if (fresh.length === version.patches.length) return;
  const compacted = create(HistoryEventSchema, {
    eventId: ws.eventId,
    timestamp: ws.timestamp,
    eventType: {
      case: "workflowStarted",
      value:
        fresh.length === 0 && version.name === undefined ? {} : { version: { patches: fresh, name: version.name } },
    },
  });
  const index = append.indexOf(ws);
  if (index >= 0) append[index] = compacted;
}

function firstVersionName(history: readonly HistoryEvent[]): string | undefined {
  for (const e of history) if (e.eventType.case === "workflowStarted") return e.eventType.value.version?.name;
  return undefined;
}

/** An instance's metadata recomputed from its (full, current-execution) history. */
export function deriveRecord(
  previous: InstanceRecord,
  history: readonly HistoryEvent[],
  now: number,
  customStatus: string | undefined,
): InstanceRecord {
  let start: ExecutionStartedEvent | undefined;
  let completed: { status: OrchestrationStatus; at: number; result?: string; failure?: TaskFailureDetails } | undefined;
  let startedAt: number | undefined;
  let suspended = false;
  let stalled = false;
  for (const e of history) {
    const t = e.eventType;
    stalled = t.case === "executionStalled";
    switch (t.case) {
      case "workflowStarted":
        startedAt ??= timestampMs(e.timestamp);
        break;
      case "executionStarted":
        start ??= t.value;
        break;
      case "executionCompleted":
        completed ??= {
          status: t.value.workflowStatus,
          at: timestampMs(e.timestamp) ?? now,
          ...(t.value.result === undefined ? {} : { result: t.value.result }),
          ...(t.value.failureDetails === undefined ? {} : { failure: t.value.failureDetails }),
        };
        break;
      case "executionSuspended":
        suspended = true;
        break;
      case "executionResumed":
        suspended = false;
        break;
    }
  }
  const status =
    start === undefined
      ? OrchestrationStatus.PENDING
      : completed !== undefined
        ? completed.status
        : stalled
          ? OrchestrationStatus.STALLED
          : suspended
            ? OrchestrationStatus.SUSPENDED
            : OrchestrationStatus.RUNNING;
  return {
    ...previous,
    name: start?.name ?? previous.name,
    version: start?.version ?? previous.version,
    executionId: start?.workflowInstance?.executionId ?? previous.executionId,
    input: start === undefined ? previous.input : start.input,
    status,
    startedAt,
    completedAt: completed?.at,
    output: completed?.result,
    failureDetails: completed?.failure,
    customStatus: customStatus ?? previous.customStatus,
    lastUpdatedAt: now,
  };
}
