// A deterministic in-memory sidecar for tests and benchmarks: runs a workflow turn by turn with executeWorkflow and
// applies each turn's actions to its history the way durabletask-go does (sidecar_proto.md §2.4 step 6). Time is
// virtual: each turn starts with a WorkflowStarted at the simulated clock, and timers fire when the clock gets there.
import { clone, create } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type CompleteWorkflowAction,
  type HistoryEvent,
  HistoryEventSchema,
  OrchestrationStatus,
  type SendEventAction,
  type TaskFailureDetails,
  TaskFailureDetailsSchema,
  type WorkflowAction,
} from "@dt/proto";
import type { ActivityContext } from "../activity.js";
import { decodePayload, jsonConverter, unwrapMetadata } from "../converter.js";
import { type ExecuteOptions, executeWorkflow } from "../engine.js";
import { ActivityNotRegisteredError } from "../errors.js";
import { toFailureDetails } from "../failure.js";
import { history as h } from "../history.js";
import type { Registry } from "../registry.js";

/** A failure as a resolver reports it. */
export type Failure = TaskFailureDetails | { errorType: string; errorMessage: string; isNonRetriable?: boolean };

/** How an activity call or child workflow ends: a result (wire string) or a failure, `after` ms of virtual time. */
export type Outcome = ({ readonly result?: string } | { readonly failure: Failure }) & { readonly after?: number };

export interface ActivityCall {
  readonly name: string;
  readonly input: string | undefined;
  /** The action's sequence id (TaskScheduled.eventId). */
  readonly taskId: number;
  readonly taskExecutionId: string;
  /** 1 for the first attempt, counted per taskExecutionId (stable across retries). */
  readonly attempt: number;
}

export interface ChildCall {
  readonly name: string;
  readonly instanceId: string;
  readonly input: string | undefined;
  readonly taskId: number;
}

export interface SimulateOptions {
  readonly registry: Registry;
  readonly workflow: string;
  readonly instanceId?: string;
  /** Serialized with JSON.stringify (undefined: no input). */
  readonly input?: unknown;
  /** The virtual clock at the first turn (default 2020-01-01T12:00:00Z). */
  readonly start?: Date;
  /** Virtual ms between two turns (default 1000). */
  readonly tick?: number;
  /** How many ready events (completions, timers, raised events) go into one turn; default all of them. */
  readonly batchSize?: number | ((ready: number, turn: number) => number);
  /** Reorders the ready events before a batch is taken (default: arrival order). Must return a permutation. */
  readonly reorder?: (ready: readonly HistoryEvent[]) => readonly HistoryEvent[];
  /** Decides activity calls; `undefined` (or no resolver) runs the registered activity synchronously. */
  readonly activity?: (call: ActivityCall) => Outcome | undefined;
  /** Decides child workflows; default: simulate the registered child workflow with the same options. */
  readonly childWorkflow?: (call: ChildCall) => Outcome | undefined;
  /** Events delivered to the inbox at a virtual time (default: the start), e.g. `h.eventRaised("go", "1")`. */
  readonly events?: readonly { readonly event: HistoryEvent; readonly at?: Date }[];
  readonly executeOptions?: ExecuteOptions;
  /** Safety net against workflows that never settle (default 10,000). */
  readonly maxTurns?: number;
}

export interface Turn {
  readonly pastEvents: number;
  readonly newEvents: readonly HistoryEvent[];
  readonly actions: readonly WorkflowAction[];
  readonly customStatus: string | undefined;
}

export interface Simulation {
  /** Everything the sidecar committed, in order. */
  readonly history: HistoryEvent[];
  readonly turns: Turn[];
  /** completed: a completeWorkflow action; idle: nothing left to deliver; stalled: workflowVersionNotAvailable. */
  readonly state: "completed" | "idle" | "stalled";
  readonly completion: CompleteWorkflowAction | undefined;
  /** sendEvent actions addressed to other instances. */
  readonly sent: SendEventAction[];
}

interface InboxItem {
  readonly event: HistoryEvent;
  readonly visibleAt: number;
  readonly order: number;
}

const DEFAULT_START = new Date("2020-01-01T12:00:00Z");
/** Timers at or after this never fire here (the indefinite external-event timer is at 9999-12-31). */
const NEVER = Date.UTC(9000, 0, 1);

export function simulate(options: SimulateOptions): Simulation {
  return run(options, options.input === undefined ? undefined : JSON.stringify(options.input), 0);
}

function run(options: SimulateOptions, input: string | undefined, depth: number): Simulation {
  const { registry } = options;
  const instanceId = options.instanceId ?? "sim";
  const tick = options.tick ?? 1000;
  const maxTurns = options.maxTurns ?? 10_000;
  let now = (options.start ?? DEFAULT_START).getTime();
  const history: HistoryEvent[] = [];
  const turns: Turn[] = [];
  const sent: SendEventAction[] = [];
  const attempts = new Map<string, number>();
  let inbox: InboxItem[] = [];
  let order = 0;
  const enqueue = (event: HistoryEvent, visibleAt: number) => {
    if (visibleAt < NEVER) inbox.push({ event: stamp(event, visibleAt), visibleAt, order: order++ });
  };
  enqueue(h.executionStarted(options.workflow, instanceId, input, { timestamp: new Date(now) }), now);
  for (const { event, at } of options.events ?? []) enqueue(clone(HistoryEventSchema, event), at?.getTime() ?? now);

  const resolve = (outcome: Outcome, ok: (result?: string) => HistoryEvent, fail: (f: Failure) => HistoryEvent) =>
    enqueue("failure" in outcome ? fail(outcome.failure) : ok(outcome.result), now + (outcome.after ?? 0));

  const apply = (action: WorkflowAction): CompleteWorkflowAction | "stalled" | undefined => {
    const { id } = action;
    const a = action.workflowActionType;
    switch (a.case) {
      case "scheduleTask": {
        history.push(stamp(h.taskScheduled(id, a.value.name, a.value.input, a.value.taskExecutionId), now));
        const attempt = (attempts.get(a.value.taskExecutionId) ?? 0) + 1;
        attempts.set(a.value.taskExecutionId, attempt);
        const call = { name: a.value.name, input: a.value.input, taskId: id, taskExecutionId: a.value.taskExecutionId };
        const outcome = options.activity?.({ ...call, attempt }) ?? runActivity(registry, instanceId, call);
        resolve(
          outcome,
          (r) => h.taskCompleted(id, r),
          (f) => h.taskFailed(id, f),
        );
        return;
      }
      case "createTimer": {
        const { fireAt, name, origin } = a.value;
        history.push(
          create(HistoryEventSchema, {
            eventId: id,
            timestamp: timestampFromMs(now),
            eventType: { case: "timerCreated", value: { fireAt, origin, ...(name === undefined ? {} : { name }) } },
          }),
        );
        const at = fireAt === undefined ? now : timestampDate(fireAt).getTime();
        enqueue(h.timerFired(id, new Date(at)), Math.max(at, now));
        return;
      }
      case "createChildWorkflow": {
        const { name, instanceId: childId, input } = a.value;
        history.push(stamp(h.childWorkflowCreated(id, name, childId, input), now));
        const call = { name, instanceId: childId, input, taskId: id };
        const outcome = options.childWorkflow?.(call) ?? runChild(options, call, now, depth);
        if (outcome !== undefined) {
          resolve(
            outcome,
            (r) => h.childWorkflowCompleted(id, r),
            (f) => h.childWorkflowFailed(id, f),
          );
        }
        return;
      }
      case "sendEvent": {
        const target = a.value.instance?.instanceId ?? "";
        const event = stamp(h.eventSent(id, target, a.value.name, a.value.data), now);
        history.push(event);
        // durabletask-go queues the same EventSent to the target (its sqlite backend delivers it verbatim).
        if (target === instanceId) enqueue(clone(HistoryEventSchema, event), now);
        else sent.push(a.value);
        return;
      }
      case "completeWorkflow": {
        const { workflowStatus, result, failureDetails } = a.value;
        history.push(
          create(HistoryEventSchema, {
            eventId: id,
            timestamp: timestampFromMs(now),
            eventType: {
              case: "executionCompleted",
              value: {
                workflowStatus,
                ...(result === undefined ? {} : { result }),
                ...(failureDetails === undefined ? {} : { failureDetails }),
              },
            },
          }),
        );
        return a.value;
      }
      case "workflowVersionNotAvailable":
        return "stalled";
      default:
        throw new Error(`The simulator cannot apply action #${id} (${a.case}).`);
    }
  };

  for (let turn = 0; ; turn++) {
    if (inbox.length === 0) return { history, turns, state: "idle", completion: undefined, sent };
    // Nothing ready: the clock jumps to the next timer or delayed completion.
    now = Math.max(now, Math.min(...inbox.map((i) => i.visibleAt)));
    let ready = inbox.filter((i) => i.visibleAt <= now).sort((x, y) => x.visibleAt - y.visibleAt || x.order - y.order);
    if (turn >= maxTurns) throw new Error(`The simulated workflow '${options.workflow}' ran ${maxTurns} turns.`);
    const wanted = typeof options.batchSize === "function" ? options.batchSize(ready.length, turn) : options.batchSize;
    const size = Math.max(1, Math.min(ready.length, Math.floor(wanted ?? ready.length)));
    if (options.reorder !== undefined) {
      const byEvent = new Map(ready.map((i) => [i.event, i]));
      ready = options.reorder(ready.map((i) => i.event)).map((e) => byEvent.get(e) as InboxItem);
    }
    const batch = new Set(ready.slice(0, size));
    inbox = inbox.filter((i) => !batch.has(i));
    const newEvents = [h.workflowStarted(new Date(now)), ...[...batch].map((i) => i.event)];
    const result = executeWorkflow({ instanceId, pastEvents: history, newEvents }, registry, options.executeOptions);
    const pastEvents = history.length;
    // The sidecar records the turn's version (patches, name) in its WorkflowStarted (durabletask-go applyResponse).
    const ws = newEvents[0]?.eventType;
    if (result.version !== undefined && ws?.case === "workflowStarted") ws.value.version = result.version;
    history.push(...newEvents);
    turns.push({ pastEvents, newEvents, actions: result.actions, customStatus: result.customStatus });
    for (const action of result.actions) {
      const done = apply(action);
      if (done === "stalled") return { history, turns, state: "stalled", completion: undefined, sent };
      // The first completion wins; the sidecar drops the instance's later work items.
      if (done !== undefined) return { history, turns, state: "completed", completion: done, sent };
    }
    now += tick;
  }
}

/** Runs a registered activity synchronously (async activities are rejected: the simulator has no event loop). */
function runActivity(registry: Registry, instanceId: string, call: Omit<ActivityCall, "attempt">): Outcome {
  try {
    const run = registry.getActivity(call.name);
    if (run === undefined) throw new ActivityNotRegisteredError(call.name, registry.activityNames);
    const input = unwrapMetadata(decodePayload(jsonConverter, call.input));
    const ctx: ActivityContext = {
      name: call.name,
      instanceId,
      taskId: call.taskId,
      taskExecutionId: call.taskExecutionId,
      traceParent: undefined,
      traceState: undefined,
      signal: new AbortController().signal,
      metadata: input.metadata ?? {},
    };
    const output = run(ctx, input.value as never);
    if (typeof (output as PromiseLike<unknown> | null)?.then === "function") {
      (output as PromiseLike<unknown>).then(undefined, () => {}); // Never an unhandled rejection.
      throw new Error(`Activity '${call.name}' is async; give the simulator an activity resolver for it.`);
    }
    const result = jsonConverter.serialize(output);
    return result === undefined ? {} : { result };
  } catch (error) {
    return { failure: toFailureDetails(error) };
  }
}

function runChild(options: SimulateOptions, call: ChildCall, now: number, depth: number): Outcome | undefined {
  if (depth >= 16) throw new Error(`Child workflows nest deeper than 16 levels at '${call.instanceId}'.`);
  const child = run(
    { ...options, workflow: call.name, instanceId: call.instanceId, events: [], start: new Date(now) },
    call.input,
    depth + 1,
  );
  const completion = child.completion;
  if (completion === undefined) return undefined; // Never finishes: the parent waits forever.
  if (completion.workflowStatus === OrchestrationStatus.COMPLETED) {
    return completion.result === undefined ? {} : { result: completion.result };
  }
  return {
    failure:
      completion.failureDetails ??
      create(TaskFailureDetailsSchema, {
        errorType: "ChildWorkflowFailed",
        errorMessage: `Child workflow '${call.name}' ended ${OrchestrationStatus[completion.workflowStatus]}.`,
      }),
  };
}

function stamp(event: HistoryEvent, ms: number): HistoryEvent {
  event.timestamp = timestampFromMs(ms) as Timestamp;
  return event;
}
