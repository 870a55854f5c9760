// How `dt workflow` shows instances and histories: JSON documents for --json, aligned text otherwise.
import { toJson } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { WorkflowState } from "@dt/client";
import type { FailureDetails } from "@dt/core";
import { type HistoryEvent, HistoryEventSchema, OrchestrationStatus, type TaskFailureDetails } from "@dt/proto";
import { type Cell, formatFields, formatTable, formatTime, type Styler, statusCell, truncate } from "./output.js";

/** An instance as `--json` prints it: every field present (null when absent), times as ISO 8601 strings. */
export interface StateJson {
  readonly instanceId: string;
  readonly name: string;
  readonly status: string;
  readonly createdAt: string | null;
  readonly lastUpdatedAt: string | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  readonly scheduledStartAt: string | null;
  /** The decoded input (null when absent or not JSON; the raw text is in serializedInput). */
  readonly input: unknown;
  readonly output: unknown;
  readonly serializedInput: string | null;
  readonly serializedOutput: string | null;
  readonly customStatus: string | null;
  readonly failureDetails: FailureJson | null;
  readonly parentInstanceId: string | null;
  readonly executionId: string | null;
  readonly tags: Readonly<Record<string, string>>;
}

export interface FailureJson {
  readonly errorType: string;
  readonly message: string;
  readonly stackTrace: string | null;
  readonly isNonRetriable: boolean;
  readonly cause: FailureJson | null;
}

const iso = (date: Date | undefined) => (date === undefined ? null : date.toISOString());
const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);
const nonEmpty = (value: string | undefined) => (value === undefined || value === "" ? null : value);

function failureJson(details: FailureDetails | undefined): FailureJson | null {
  if (details === undefined) return null;
  return {
    errorType: details.errorType,
    message: details.message,
    stackTrace: nonEmpty(details.stackTrace),
    isNonRetriable: details.isNonRetriable,
    cause: failureJson(details.cause),
  };
}

export function stateJson(state: WorkflowState): StateJson {
  return {
    instanceId: state.instanceId,
    name: state.name,
    status: state.status,
    createdAt: iso(state.createdAt),
    lastUpdatedAt: iso(state.lastUpdatedAt),
    startedAt: iso(state.startedAt),
    completedAt: iso(state.completedAt),
    scheduledStartAt: iso(state.scheduledStartAt),
    input: orNull(state.input),
    output: orNull(state.output),
    serializedInput: orNull(state.serializedInput),
    serializedOutput: orNull(state.serializedOutput),
    customStatus: orNull(state.customStatus),
    failureDetails: failureJson(state.failureDetails),
    parentInstanceId: nonEmpty(state.parentInstanceId),
    executionId: nonEmpty(state.executionId),
    tags: state.tags,
  };
}

/** `dt workflow get` (and `run --wait`): the instance as aligned `Label:  value` lines. */
export function stateLines(state: WorkflowState, style: Styler): string[] {
  const failure = state.failureDetails;
  const tags = Object.entries(state.tags);
  return formatFields(
    [
      ["Instance ID", state.instanceId],
      ["Name", state.name],
      ["Status", statusCell(state.status)],
      ["Created", formatTime(state.createdAt)],
      ["Last updated", formatTime(state.lastUpdatedAt)],
      ["Started", state.startedAt === undefined ? undefined : formatTime(state.startedAt)],
      ["Completed", state.completedAt === undefined ? undefined : formatTime(state.completedAt)],
      ["Scheduled start", state.scheduledStartAt === undefined ? undefined : formatTime(state.scheduledStartAt)],
      ["Input", state.serializedInput],
      ["Output", state.serializedOutput],
      ["Custom status", state.customStatus],
      ["Failure", failure === undefined ? undefined : { text: failureText(failure), format: "red" }],
      ["Parent", nonEmpty(state.parentInstanceId) ?? undefined],
      ["Execution ID", nonEmpty(state.executionId) ?? undefined],
      ["Tags", tags.length === 0 ? undefined : tags.map(([key, value]) => `${key}=${value}`).join(", ")],
    ],
    style,
  );
}

function failureText(details: FailureDetails): string {
  const cause = details.cause === undefined ? "" : `\ncaused by ${failureText(details.cause)}`;
  return `${details.errorType}: ${details.message}${cause}`;
}

/** `dt workflow list`: one row per instance. */
export function listLines(states: readonly WorkflowState[], style: Styler): string[] {
  return formatTable(
    ["INSTANCE ID", "NAME", "STATUS", "CREATED", "LAST UPDATED"],
    states.map((state) => [
      state.instanceId,
      state.name,
      statusCell(state.status),
      formatTime(state.createdAt),
      formatTime(state.lastUpdatedAt),
    ]),
    style,
  );
}

/** History events as protobuf JSON (what `fromJson(HistoryEventSchema, …)` reads back, e.g. for `replay()`). */
export function historyJson(events: readonly HistoryEvent[]): unknown[] {
  return events.map((event) => toJson(HistoryEventSchema, event));
}

/** `ExecutionStarted` from `executionStarted`. */
export function eventTypeName(event: HistoryEvent): string {
  const kind = event.eventType.case;
  return kind === undefined ? "Unknown" : kind.charAt(0).toUpperCase() + kind.slice(1);
}

const DETAIL_MAX = 80;

/** `dt workflow history`: one row per event; `EVENT ID` is blank for events without one (-1). */
export function historyLines(events: readonly HistoryEvent[], style: Styler): string[] {
  return formatTable(
    ["EVENT ID", "TYPE", "TIMESTAMP", "DETAILS"],
    events.map((event): Cell[] => {
      const type = eventTypeName(event);
      const failed = event.eventType.case === "taskFailed" || event.eventType.case === "childWorkflowInstanceFailed";
      return [
        event.eventId < 0 ? "" : String(event.eventId),
        failed ? { text: type, format: "red" } : type,
        formatTime(timestampDate(event.timestamp)),
        truncate(eventDetails(event), DETAIL_MAX),
      ];
    }),
    style,
  );
}

/** A short description of what an event says (names, ids, payloads). */
export function eventDetails(event: HistoryEvent): string {
  const parts: string[] = [];
  const add = (label: string, value: string | number | undefined) => {
    if (value !== undefined && value !== "") parts.push(`${label}=${value}`);
  };
  const e = event.eventType;
  switch (e.case) {
    case "executionStarted":
      add("name", e.value.name);
      add("input", e.value.input);
      add("scheduledStart", formatOptionalTime(e.value.scheduledStartTimestamp));
      add("parent", e.value.parentInstance?.workflowInstance?.instanceId);
      break;
    case "executionCompleted":
      add("status", OrchestrationStatus[e.value.workflowStatus]);
      add("result", e.value.result);
      add("failure", failureSummary(e.value.failureDetails));
      break;
    case "executionTerminated":
      add("output", e.value.input);
      add("recurse", String(e.value.recurse));
      break;
    case "taskScheduled":
      add("name", e.value.name);
      add("input", e.value.input);
      break;
    case "taskCompleted":
    case "childWorkflowInstanceCompleted":
      add("scheduledId", e.value.taskScheduledId);
      add("result", e.value.result);
      break;
    case "taskFailed":
    case "childWorkflowInstanceFailed":
      add("scheduledId", e.value.taskScheduledId);
      add("failure", failureSummary(e.value.failureDetails));
      break;
    case "childWorkflowInstanceCreated":
      add("name", e.value.name);
      add("instanceId", e.value.instanceId);
      add("input", e.value.input);
      break;
    case "timerCreated":
      add("fireAt", formatOptionalTime(e.value.fireAt));
      add("name", e.value.name);
      add("origin", e.value.origin.case);
      break;
    case "timerFired":
      add("timerId", e.value.timerId);
      add("fireAt", formatOptionalTime(e.value.fireAt));
      break;
    case "eventRaised":
      add("name", e.value.name);
      add("input", e.value.input);
      break;
    case "eventSent":
      add("instanceId", e.value.instanceId);
      add("name", e.value.name);
      add("input", e.value.input);
      break;
    case "continueAsNew":
      add("input", e.value.input);
      break;
    case "executionSuspended":
    case "executionResumed":
      add("reason", e.value.input);
      break;
    case "executionStalled":
      add("description", e.value.description);
      break;
    case "detachedWorkflowInstanceCreated":
      add("instanceId", e.value.instanceId);
      break;
    case "workflowStarted":
      add("version", e.value.version?.name);
      break;
    default:
      break;
  }
  return parts.join(" ");
}

function failureSummary(details: TaskFailureDetails | undefined): string | undefined {
  return details === undefined ? undefined : `${details.errorType}: ${details.errorMessage}`;
}

function timestampDate(ts: Timestamp | undefined): Date | undefined {
  if (ts === undefined) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000));
}

function formatOptionalTime(ts: Timestamp | undefined): string | undefined {
  return ts === undefined ? undefined : formatTime(timestampDate(ts));
}
