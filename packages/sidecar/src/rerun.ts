// RerunWorkflowFromEvent (Dapr): a new instance whose history is the source's up to an event, re-running from there.
// Dapr's fork: every completed task, timer or child keeps its scheduling event next to its result; what had not
// finished before the target is scheduled again, and so is the target itself (a TaskScheduled, TimerCreated or
// ChildWorkflowInstanceCreated; its input may be replaced).
import { randomUUID } from "node:crypto";
import { clone } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { type HistoryEvent, HistoryEventSchema } from "@dt/proto";
import { historyEvent, startedEvent, timestampMs } from "./applier.js";
import { fail } from "./validate.js";

export interface ForkOptions {
  readonly history: readonly HistoryEvent[];
  readonly eventId: number;
  readonly sourceInstanceId: string;
  readonly newInstanceId: string;
  readonly newChildInstanceId?: string | undefined;
  readonly overwriteInput: boolean;
  readonly input?: string | undefined;
  readonly now: number;
}

export interface Fork {
  /** The new instance's history, ending with the events scheduled again. */
  readonly history: HistoryEvent[];
  /** TaskScheduled events to dispatch again. */
  readonly activities: HistoryEvent[];
  /** TimerFired events, visible at their original fire time. */
  readonly timers: { readonly event: HistoryEvent; readonly visibleAt: number }[];
  /** ExecutionStarted events of the children to start again. */
  readonly children: { readonly target: string; readonly event: HistoryEvent }[];
}

const childId = (parent: string, eventId: number) => `${parent}:${eventId.toString(16).padStart(4, "0")}`;

export function forkHistory(options: ForkOptions): Fork {
  const { eventId, sourceInstanceId, newInstanceId, now } = options;
  const history: HistoryEvent[] = [];
  const open = new Map<string, HistoryEvent>();
  const rerunInfo = { instanceID: sourceInstanceId };
  let target: HistoryEvent | undefined;
  const executionId = randomUUID();

  for (const original of options.history) {
    const e = clone(HistoryEventSchema, original);
    const t = e.eventType;
    if (e.eventId === eventId && e.eventId >= 0) {
      target = e;
      switch (t.case) {
        case "taskScheduled":
          if (options.newChildInstanceId !== undefined) {
            throw fail(
              Code.InvalidArgument,
              `cannot set new child workflow instance ID on activity event '${eventId}'`,
            );
          }
          t.value.rerunParentInstanceInfo = { $typeName: "RerunParentInstanceInfo", ...rerunInfo };
          if (options.overwriteInput) t.value.input = options.input;
          break;
        case "timerCreated":
          if (options.overwriteInput)
            throw fail(Code.InvalidArgument, `cannot write input to timer event '${eventId}'`);
          if (options.newChildInstanceId !== undefined) {
            throw fail(Code.InvalidArgument, `cannot set new child workflow instance ID on timer event '${eventId}'`);
          }
          t.value.rerunParentInstanceInfo = { $typeName: "RerunParentInstanceInfo", ...rerunInfo };
          break;
        case "childWorkflowInstanceCreated":
          t.value.rerunParentInstanceInfo = { $typeName: "RerunParentInstanceInfo", ...rerunInfo };
          t.value.instanceId = options.newChildInstanceId ?? childId(newInstanceId, eventId);
          if (options.overwriteInput) t.value.input = options.input;
          break;
        case "detachedWorkflowInstanceCreated":
          throw fail(
            Code.InvalidArgument,
            `event '${eventId}' is a detached workflow spawn and cannot be rerun: it has no continuation in the caller`,
          );
        default:
          throw fail(Code.NotFound, `target event '${t.case}' with ID '${eventId}' is not an event that can be rerun`);
      }
      break;
    }
    switch (t.case) {
      case "taskScheduled":
        open.set(`task:${e.eventId}`, e);
        continue;
      case "timerCreated":
        open.set(`timer:${e.eventId}`, e);
        continue;
      case "childWorkflowInstanceCreated":
        open.set(`child:${e.eventId}`, e);
        continue;
      case "executionStarted":
        if (t.value.workflowInstance !== undefined) {
          t.value.workflowInstance.instanceId = newInstanceId;
          t.value.workflowInstance.executionId = executionId;
        }
        break;
    }
    // A result brings its scheduling event along, right before it.
    const key =
      t.case === "taskCompleted" || t.case === "taskFailed"
        ? `task:${t.value.taskScheduledId}`
        : t.case === "timerFired"
          ? `timer:${t.value.timerId}`
          : t.case === "childWorkflowInstanceCompleted" || t.case === "childWorkflowInstanceFailed"
            ? `child:${t.value.taskScheduledId}`
            : undefined;
    const scheduling = key === undefined ? undefined : open.get(key);
    if (key !== undefined && scheduling !== undefined) {
      history.push(scheduling);
      open.delete(key);
    }
    history.push(e);
  }
  if (target === undefined) throw fail(Code.NotFound, `does not have history event with ID '${eventId}'`);

  const start = startedEvent(history);
  const again = [...open.values()].sort((a, b) => a.eventId - b.eventId);
  const fork: Fork = { history, activities: [], timers: [], children: [] };
  for (const e of [...again, target]) {
    e.timestamp = timestampFromMs(now);
    history.push(e);
    const t = e.eventType;
    if (t.case === "taskScheduled") fork.activities.push(e);
    else if (t.case === "timerCreated") {
      const fireAt = t.value.fireAt ?? timestampFromMs(now);
      fork.timers.push({
        event: historyEvent(-1, { case: "timerFired", value: { timerId: e.eventId, fireAt } }, now),
        visibleAt: timestampMs(fireAt) ?? now,
      });
    } else if (t.case === "childWorkflowInstanceCreated") {
      if (e !== target) t.value.instanceId = childId(newInstanceId, e.eventId);
      fork.children.push({
        target: t.value.instanceId,
        event: historyEvent(
          -1,
          {
            case: "executionStarted",
            value: {
              name: t.value.name,
              version: t.value.version,
              input: t.value.input,
              workflowInstance: { instanceId: t.value.instanceId, executionId: randomUUID() },
              parentInstance: {
                taskScheduledId: e.eventId,
                name: start?.name,
                version: start?.version,
                workflowInstance: { instanceId: newInstanceId, executionId },
              },
              parentTraceContext: t.value.parentTraceContext,
            },
          },
          now,
        ),
      });
    }
  }
  return fork;
}
