// Builders for history events, as the sidecar writes them: for golden tests, `replay()`, and users' own tests.
// Payloads are wire strings (already serialized, e.g. JSON text). Events the sidecar injects have eventId -1;
// events that record an action carry the action's sequence id.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type HistoryEvent, HistoryEventSchema, OrchestrationStatus, type TaskFailureDetails } from "@dt/proto";
import { toFailureDetails } from "./failure.js";

type EventType = NonNullable<MessageInitShape<typeof HistoryEventSchema>["eventType"]>;
type Init<C extends EventType["case"]> = Extract<EventType, { case: C }>["value"];

const EPOCH = new Date(0);

type Extra = Pick<MessageInitShape<typeof HistoryEventSchema>, "router">;

function event(eventId: number, eventType: EventType, timestamp: Date = EPOCH, extra: Extra = {}) {
  return create(HistoryEventSchema, { eventId, timestamp: ts(timestamp), eventType, ...extra });
}

function ts(date: Date): Timestamp {
  return timestampFromMs(date.getTime());
}

function failure(error: Error | TaskFailureDetails | { errorType: string; errorMessage: string }) {
  return error instanceof Error ? toFailureDetails(error) : error;
}

const opt = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };

export const history = {
  workflowStarted(timestamp: Date, version?: { patches?: string[]; name?: string }): HistoryEvent {
    return event(-1, { case: "workflowStarted", value: version === undefined ? {} : { version } }, timestamp);
  },

  executionStarted(
    name: string,
    instanceId: string,
    input?: string,
    options: {
      executionId?: string;
      parentInstanceId?: string;
      parentTaskScheduledId?: number;
      timestamp?: Date;
      sourceAppId?: string;
      targetAppId?: string;
      traceParent?: string;
      traceState?: string;
    } = {},
  ): HistoryEvent {
    const value: Init<"executionStarted"> = {
      name,
      workflowInstance: { instanceId, ...opt("executionId", options.executionId) },
      ...opt("input", input),
      ...(options.parentInstanceId === undefined
        ? {}
        : {
            parentInstance: {
              taskScheduledId: options.parentTaskScheduledId ?? 0,
              workflowInstance: { instanceId: options.parentInstanceId },
            },
          }),
      ...(options.traceParent === undefined
        ? {}
        : { parentTraceContext: { traceParent: options.traceParent, ...opt("traceState", options.traceState) } }),
    };
    const router =
      options.sourceAppId === undefined && options.targetAppId === undefined
        ? {}
        : { router: { sourceAppID: options.sourceAppId ?? "", ...opt("targetAppID", options.targetAppId) } };
    return event(-1, { case: "executionStarted", value }, options.timestamp, router);
  },

  taskScheduled(eventId: number, name: string, input?: string, taskExecutionId = ""): HistoryEvent {
    return event(eventId, { case: "taskScheduled", value: { name, taskExecutionId, ...opt("input", input) } });
  },

  taskCompleted(taskScheduledId: number, result?: string): HistoryEvent {
    return event(-1, { case: "taskCompleted", value: { taskScheduledId, ...opt("result", result) } });
  },

  taskFailed(taskScheduledId: number, error: Error | TaskFailureDetails | { errorType: string; errorMessage: string }) {
    return event(-1, { case: "taskFailed", value: { taskScheduledId, failureDetails: failure(error) } });
  },

  timerCreated(
    eventId: number,
    fireAt: Date,
    origin: Init<"timerCreated">["origin"] = { case: "createTimer", value: {} },
    name?: string,
  ): HistoryEvent {
    return event(eventId, { case: "timerCreated", value: { fireAt: ts(fireAt), origin, ...opt("name", name) } });
  },

  /** The far-future timer of an indefinite `waitForExternalEvent` (9999-12-31T23:59:59.999999999Z). */
  indefiniteTimerCreated(eventId: number, eventName: string): HistoryEvent {
    return event(eventId, {
      case: "timerCreated",
      value: {
        fireAt: { seconds: 253402300799n, nanos: 999_999_999 },
        name: eventName,
        origin: { case: "externalEvent", value: { name: eventName } },
      },
    });
  },

  timerFired(timerId: number, fireAt: Date): HistoryEvent {
    return event(-1, { case: "timerFired", value: { timerId, fireAt: ts(fireAt) } }, fireAt);
  },

  childWorkflowCreated(eventId: number, name: string, instanceId: string, input?: string): HistoryEvent {
    return event(eventId, {
      case: "childWorkflowInstanceCreated",
      value: { name, instanceId, ...opt("input", input) },
    });
  },

  childWorkflowCompleted(taskScheduledId: number, result?: string): HistoryEvent {
    return event(-1, { case: "childWorkflowInstanceCompleted", value: { taskScheduledId, ...opt("result", result) } });
  },

  childWorkflowFailed(
    taskScheduledId: number,
    error: Error | TaskFailureDetails | { errorType: string; errorMessage: string },
  ): HistoryEvent {
    return event(-1, {
      case: "childWorkflowInstanceFailed",
      value: { taskScheduledId, failureDetails: failure(error) },
    });
  },

  eventRaised(name: string, input?: string): HistoryEvent {
    return event(-1, { case: "eventRaised", value: { name, ...opt("input", input) } });
  },

  eventSent(eventId: number, instanceId: string, name: string, input?: string): HistoryEvent {
    return event(eventId, { case: "eventSent", value: { instanceId, name, ...opt("input", input) } });
  },

  executionSuspended(reason?: string): HistoryEvent {
    return event(-1, { case: "executionSuspended", value: opt("input", reason) });
  },

  executionResumed(reason?: string): HistoryEvent {
    return event(-1, { case: "executionResumed", value: opt("input", reason) });
  },

  executionTerminated(output?: string, recurse = false): HistoryEvent {
    return event(-1, { case: "executionTerminated", value: { recurse, ...opt("input", output) } });
  },

  executionCompleted(eventId: number, status: OrchestrationStatus, result?: string): HistoryEvent {
    return event(eventId, { case: "executionCompleted", value: { workflowStatus: status, ...opt("result", result) } });
  },

  executionStalled(description?: string): HistoryEvent {
    return event(-1, { case: "executionStalled", value: opt("description", description) });
  },

  workflowCompleted(): HistoryEvent {
    return event(-1, { case: "workflowCompleted", value: {} });
  },

  continueAsNew(input?: string): HistoryEvent {
    return event(-1, { case: "continueAsNew", value: opt("input", input) });
  },

  detachedWorkflowCreated(eventId: number, instanceId: string): HistoryEvent {
    return event(eventId, { case: "detachedWorkflowInstanceCreated", value: { instanceId } });
  },
} as const;

export { OrchestrationStatus };
