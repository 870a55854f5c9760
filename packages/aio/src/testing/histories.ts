// Test helpers: run async workflows through the engine against hand-built histories.

import { history as h, Registry, type WorkflowResult } from "@dt/core";
import type { HistoryEvent, WorkflowAction } from "@dt/proto";
import { runWorkflowTurn } from "../turn.js";
import { toRegistrable } from "../workflow.js";

export { h };
export const INSTANCE = "abc123";
export const START = new Date("2020-01-01T12:00:00Z");
export const at = (seconds: number) => new Date(START.getTime() + seconds * 1000);

export function registry(workflows: Record<string, unknown>, activities: Record<string, unknown> = {}): Registry {
  const r = new Registry();
  for (const [name, fn] of Object.entries(workflows)) r.addWorkflow(toRegistrable(fn as never, { name }), { name });
  for (const [name, fn] of Object.entries(activities)) r.addActivity(fn as never, { name });
  return r;
}

export function started(name: string, input?: unknown, time = START): HistoryEvent[] {
  return [
    h.workflowStarted(time),
    h.executionStarted(name, INSTANCE, input === undefined ? undefined : JSON.stringify(input)),
  ];
}

export function run(reg: Registry, past: HistoryEvent[], newEvents: HistoryEvent[]): Promise<WorkflowResult> {
  return runWorkflowTurn({ instanceId: INSTANCE, pastEvents: past, newEvents }, reg);
}

export function kinds(result: WorkflowResult): (string | undefined)[] {
  return result.actions.map((a) => a.workflowActionType.case);
}

/** The completion action of a turn (throws if there is none). */
export function completion(result: WorkflowResult) {
  const action = result.actions.find((a) => a.workflowActionType.case === "completeWorkflow") as
    | WorkflowAction
    | undefined;
  if (action?.workflowActionType.case !== "completeWorkflow")
    throw new Error(`no completion: ${JSON.stringify(kinds(result))}`);
  return { id: action.id, ...action.workflowActionType.value };
}

// ---------------------------------------------------------------------------------------------------------------------
// Multi-turn helpers: a history built from the actions the workflow itself took, as a sidecar would record them.

type ActionCase = NonNullable<WorkflowAction["workflowActionType"]["case"]>;
type ActionValue<C extends ActionCase> = Extract<WorkflowAction["workflowActionType"], { case: C }>["value"];
type StartOptions = NonNullable<Parameters<typeof h.executionStarted>[3]>;

/** The action at `index`, asserted to be of `kind`, flattened to its id, router and fields. */
export function action<C extends ActionCase>(result: WorkflowResult, index: number, kind: C) {
  const a = result.actions[index];
  if (a === undefined) throw new Error(`no action #${index}: ${JSON.stringify(kinds(result))}`);
  if (a.workflowActionType.case !== kind) throw new Error(`action #${index} is ${a.workflowActionType.case}`);
  return { id: a.id, router: a.router, ...(a.workflowActionType.value as ActionValue<C>) };
}

/** A wire timestamp as an ISO string (millisecond precision). */
export function iso(ts: { readonly seconds: bigint; readonly nanos: number } | undefined): string | undefined {
  return ts === undefined ? undefined : new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)).toISOString();
}

/** A wire payload (JSON text) decoded; absent → undefined. */
export function decode(payload: string | undefined): unknown {
  return payload === undefined || payload === "" ? undefined : JSON.parse(payload);
}

/** WorkflowStarted + ExecutionStarted with every ExecutionStarted field a sidecar may set. */
export function startedWith(
  name: string,
  input: unknown,
  options: StartOptions & {
    readonly instanceId?: string;
    readonly time?: Date;
    readonly tags?: Record<string, string>;
    readonly scheduledStartTime?: Date;
    readonly workflowSpanId?: string;
    /** The raw input text (overrides `input`). */
    readonly rawInput?: string;
  } = {},
): HistoryEvent[] {
  const { instanceId = INSTANCE, time = START, tags, scheduledStartTime, workflowSpanId, rawInput, ...rest } = options;
  const es = h.executionStarted(
    name,
    instanceId,
    rawInput ?? (input === undefined ? undefined : JSON.stringify(input)),
    rest,
  );
  if (es.eventType.case === "executionStarted") {
    const value = es.eventType.value;
    if (tags !== undefined) value.tags = { ...tags };
    if (workflowSpanId !== undefined) value.workflowSpanID = workflowSpanId;
    if (scheduledStartTime !== undefined) {
      const ms = scheduledStartTime.getTime();
      value.scheduledStartTimestamp = {
        $typeName: "google.protobuf.Timestamp",
        seconds: BigInt(Math.floor(ms / 1000)),
        nanos: (ms % 1000) * 1_000_000,
      };
    }
  }
  return [h.workflowStarted(time), es];
}

/** The history events a sidecar records for a turn's actions (completions excluded: they end the history). */
export function recorded(actions: readonly WorkflowAction[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const a of actions) {
    const t = a.workflowActionType;
    switch (t.case) {
      case "scheduleTask":
        events.push(h.taskScheduled(a.id, t.value.name, t.value.input, t.value.taskExecutionId));
        break;
      case "createChildWorkflow":
        events.push(h.childWorkflowCreated(a.id, t.value.name, t.value.instanceId, t.value.input));
        break;
      case "sendEvent":
        events.push(h.eventSent(a.id, t.value.instance?.instanceId ?? "", t.value.name, t.value.data));
        break;
      case "createTimer": {
        const origin = t.value.origin;
        const fire = t.value.fireAt;
        if (origin.case === "externalEvent" && fire?.seconds === 253402300799n) {
          events.push(h.indefiniteTimerCreated(a.id, origin.value.name));
        } else {
          const fireAt = new Date(iso(fire) ?? 0);
          events.push(h.timerCreated(a.id, fireAt, origin.case === undefined ? undefined : origin, t.value.name));
        }
        break;
      }
      default:
        break;
    }
  }
  return events;
}

/**
 * One instance, turn by turn: each `turn(newEvents)` runs the workflow over the history so far, then records the new
 * events and the turn's actions (as a sidecar would) into that history, so the next turn replays all of it.
 */
export class Session {
  readonly history: HistoryEvent[] = [];
  readonly turns: WorkflowResult[] = [];
  readonly #reg: Registry;
  readonly #instanceId: string;

  constructor(reg: Registry, instanceId = INSTANCE) {
    this.#reg = reg;
    this.#instanceId = instanceId;
  }

  readonly #requests: { pastEvents: HistoryEvent[]; newEvents: HistoryEvent[] }[] = [];

  async turn(newEvents: HistoryEvent[]): Promise<WorkflowResult> {
    const request = { pastEvents: [...this.history], newEvents };
    const result = await runWorkflowTurn({ instanceId: this.#instanceId, ...request }, this.#reg);
    this.history.push(...newEvents, ...recorded(result.actions));
    this.#requests.push(request);
    this.turns.push(result);
    return result;
  }

  /** Runs turn `index` again with exactly the request it had (a worker re-running it after a crash). */
  rerun(index: number): Promise<WorkflowResult> {
    const request = this.#requests[index];
    if (request === undefined) throw new Error(`no turn #${index}`);
    return runWorkflowTurn({ instanceId: this.#instanceId, ...request }, this.#reg);
  }
}

/** Runs a turn for another instance id (histories from `startedWith(..., { instanceId })`). */
export function runAs(
  reg: Registry,
  instanceId: string,
  past: HistoryEvent[],
  newEvents: HistoryEvent[],
): Promise<WorkflowResult> {
  return runWorkflowTurn({ instanceId, pastEvents: past, newEvents }, reg);
}
