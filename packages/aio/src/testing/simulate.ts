// A sidecar in memory for async (and generator) workflows: drives one instance turn by turn through runWorkflowTurn
// (the worker's entry point, so sandbox modes apply), records each turn's actions into the history the way
// durabletask-go does, and delivers completions, failures, timer fires and raised events in a random but seeded order,
// one or more per turn. Then `replayChecks` replays what was recorded: every turn again, the final history in one turn,
// and the final history cut into past and new events at every index.
import { ExecutionCache, executeActivity, history as h, type Registry, type WorkflowResult } from "@dt/core";
import type {
  CompleteWorkflowAction,
  HistoryEvent,
  SendEventAction,
  TaskFailureDetails,
  WorkflowAction,
} from "@dt/proto";
import { runWorkflowTurn, type TurnOptions } from "../turn.js";

/** How an activity call or child workflow ends: a result (wire text) or a failure, `after` ms of virtual time later. */
export type SimOutcome = ({ readonly result?: string } | { readonly failure: SimFailure }) & {
  readonly after?: number;
};
export type SimFailure = TaskFailureDetails | { errorType: string; errorMessage: string; isNonRetriable?: boolean };

export interface SimActivityCall {
  readonly name: string;
  readonly input: string | undefined;
  readonly taskId: number;
  readonly taskExecutionId: string;
  /** 1 for the first attempt, counted per taskExecutionId (stable across retries). */
  readonly attempt: number;
}

export interface SimChildCall {
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
  /** Seeds the delivery order and the batch sizes. */
  readonly seed?: number;
  /** At most this many ready events go into one turn (default: all of them); each turn takes 1..maxBatch at random. */
  readonly maxBatch?: number;
  /** Decides activity calls (may be async); default: runs the registered activity with executeActivity. */
  readonly activity?: (call: SimActivityCall) => SimOutcome | Promise<SimOutcome>;
  /** Decides child workflows; `undefined` means the child never finishes. Default: completes with no result. */
  readonly childWorkflow?: (call: SimChildCall) => SimOutcome | undefined;
  /** Events put in the inbox at a virtual time (default: the start), e.g. `h.eventRaised("go", "1")`. */
  readonly events?: readonly { readonly event: HistoryEvent; readonly at?: Date }[];
  readonly turnOptions?: TurnOptions;
  /** Keep the execution live between turns, as the worker does (default true); `replayChecks` replays without. */
  readonly executionCache?: boolean;
  /** Safety net against workflows that never settle (default 1,000). */
  readonly maxTurns?: number;
}

export interface SimTurn {
  /** How many history events were past events of this turn. */
  readonly pastEvents: number;
  readonly newEvents: readonly HistoryEvent[];
  readonly result: WorkflowResult;
}

export interface Simulation {
  /** Everything the sidecar committed, in order. */
  readonly history: HistoryEvent[];
  readonly turns: SimTurn[];
  /** completed: a completeWorkflow action; idle: nothing left to deliver; stalled: workflowVersionNotAvailable. */
  readonly state: "completed" | "idle" | "stalled";
  readonly completion: CompleteWorkflowAction | undefined;
  /** sendEvent actions addressed to other instances. */
  readonly sent: SendEventAction[];
  /** The virtual time of the last turn. */
  readonly end: Date;
  /** Turns that resumed the live execution instead of replaying. */
  readonly cacheHits: number;
}

interface InboxItem {
  readonly event: HistoryEvent;
  readonly visibleAt: number;
}

export const SIM_START = new Date("2020-01-01T12:00:00Z");
/** Timers at or after this never fire (an indefinite external-event wait's timer is at 9999-12-31). */
const NEVER = Date.UTC(9000, 0, 1);

/** A small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Timestamp = NonNullable<HistoryEvent["timestamp"]>;

function timestampFromMs(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { $typeName: "google.protobuf.Timestamp", seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

function timestampMs(ts: Timestamp): number {
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}

const INDEFINITE_SECONDS = 253402300799n;

function stamp(event: HistoryEvent, ms: number): HistoryEvent {
  event.timestamp = timestampFromMs(ms);
  return event;
}

/**
 * The history events a sidecar commits for a turn's actions, stamped `nowMs`: TaskScheduled, TimerCreated,
 * ChildWorkflowInstanceCreated, EventSent and ExecutionCompleted, each carrying its action's id.
 */
export function recordActions(actions: readonly WorkflowAction[], nowMs: number): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const action of actions) {
    const { id } = action;
    const a = action.workflowActionType;
    switch (a.case) {
      case "scheduleTask":
        events.push(stamp(h.taskScheduled(id, a.value.name, a.value.input, a.value.taskExecutionId), nowMs));
        break;
      case "createTimer": {
        const { fireAt, name, origin } = a.value;
        if (origin.case === "externalEvent" && fireAt?.seconds === INDEFINITE_SECONDS) {
          events.push(stamp(h.indefiniteTimerCreated(id, origin.value.name), nowMs));
        } else {
          const at = new Date(fireAt === undefined ? nowMs : timestampMs(fireAt));
          const recordedOrigin = (origin.case === undefined ? undefined : origin) as Parameters<
            typeof h.timerCreated
          >[2];
          events.push(stamp(h.timerCreated(id, at, recordedOrigin, name), nowMs));
        }
        break;
      }
      case "createChildWorkflow":
        events.push(stamp(h.childWorkflowCreated(id, a.value.name, a.value.instanceId, a.value.input), nowMs));
        break;
      case "sendEvent":
        events.push(stamp(h.eventSent(id, a.value.instance?.instanceId ?? "", a.value.name, a.value.data), nowMs));
        break;
      case "completeWorkflow": {
        const { workflowStatus, result, failureDetails } = a.value;
        const done = stamp(h.executionCompleted(id, workflowStatus, result), nowMs);
        if (failureDetails !== undefined && done.eventType.case === "executionCompleted") {
          done.eventType.value.failureDetails = failureDetails;
        }
        events.push(done);
        break;
      }
      default:
        break;
    }
  }
  return events;
}

/** Runs a workflow instance to completion (or until nothing is left to deliver) like a sidecar would. */
export async function simulate(options: SimulateOptions): Promise<Simulation> {
  const { registry } = options;
  const instanceId = options.instanceId ?? "sim";
  const tick = options.tick ?? 1000;
  const maxTurns = options.maxTurns ?? 1000;
  const random = prng(options.seed ?? 1);
  let now = (options.start ?? SIM_START).getTime();
  const history: HistoryEvent[] = [];
  const turns: SimTurn[] = [];
  const sent: SendEventAction[] = [];
  const attempts = new Map<string, number>();
  let inbox: InboxItem[] = [];
  const cache = options.executionCache === false ? undefined : new ExecutionCache();
  const turnOptions = cache === undefined ? options.turnOptions : { ...options.turnOptions, cache };
  const ended = (state: Simulation["state"], completion?: CompleteWorkflowAction): Simulation => ({
    history,
    turns,
    state,
    completion,
    sent,
    end: new Date(now),
    cacheHits: cache?.hits ?? 0,
  });
  const enqueue = (event: HistoryEvent, visibleAt: number) => {
    if (visibleAt < NEVER) inbox.push({ event: stamp(event, visibleAt), visibleAt });
  };
  const input = options.input === undefined ? undefined : JSON.stringify(options.input);
  const started = h.executionStarted(options.workflow, instanceId, input, { timestamp: new Date(now) });
  // Copies: delivering stamps the event's timestamp, and the caller's events may be shared between simulations.
  for (const { event, at } of options.events ?? []) enqueue(structuredClone(event), at?.getTime() ?? now);

  const resolve = (outcome: SimOutcome, ok: (r?: string) => HistoryEvent, fail: (f: SimFailure) => HistoryEvent) =>
    enqueue("failure" in outcome ? fail(outcome.failure) : ok(outcome.result), now + (outcome.after ?? 0));

  /** Applies one action after it was recorded; returns the completion when it is one. */
  const apply = async (action: WorkflowAction): Promise<CompleteWorkflowAction | "stalled" | undefined> => {
    const { id } = action;
    const a = action.workflowActionType;
    switch (a.case) {
      case "scheduleTask": {
        const attempt = (attempts.get(a.value.taskExecutionId) ?? 0) + 1;
        attempts.set(a.value.taskExecutionId, attempt);
        const call = {
          name: a.value.name,
          input: a.value.input,
          taskId: id,
          taskExecutionId: a.value.taskExecutionId,
          attempt,
        };
        const outcome =
          options.activity === undefined ? await runActivity(registry, instanceId, call) : await options.activity(call);
        resolve(
          outcome,
          (r) => h.taskCompleted(id, r),
          (f) => h.taskFailed(id, f),
        );
        return undefined;
      }
      case "createTimer": {
        const at = a.value.fireAt === undefined ? now : timestampMs(a.value.fireAt);
        enqueue(h.timerFired(id, new Date(at)), Math.max(at, now));
        return undefined;
      }
      case "createChildWorkflow": {
        const call = { name: a.value.name, instanceId: a.value.instanceId, input: a.value.input, taskId: id };
        const outcome = options.childWorkflow === undefined ? {} : options.childWorkflow(call);
        if (outcome !== undefined) {
          resolve(
            outcome,
            (r) => h.childWorkflowCompleted(id, r),
            (f) => h.childWorkflowFailed(id, f),
          );
        }
        return undefined;
      }
      case "sendEvent": {
        const target = a.value.instance?.instanceId ?? "";
        // durabletask-go's sqlite backend delivers the EventSent itself to the target.
        if (target === instanceId) enqueue(h.eventSent(id, target, a.value.name, a.value.data), now);
        else sent.push(a.value);
        return undefined;
      }
      case "completeWorkflow":
        return a.value;
      case "workflowVersionNotAvailable":
        return "stalled";
      default:
        throw new Error(`The simulator cannot apply action #${id} (${a.case}).`);
    }
  };

  for (let turn = 0; ; turn++) {
    if (turn > 0 && inbox.length === 0) {
      return ended("idle");
    }
    if (turn >= maxTurns) throw new Error(`The simulated workflow '${options.workflow}' ran ${maxTurns} turns.`);
    if (turn > 0) now = Math.max(now, Math.min(...inbox.map((i) => i.visibleAt)));
    // The ready events in a random order; a random number of them (at least one) make this turn.
    const ready = inbox.filter((i) => i.visibleAt <= now);
    for (let i = ready.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [ready[i], ready[j]] = [ready[j] as InboxItem, ready[i] as InboxItem];
    }
    const limit = Math.min(ready.length, options.maxBatch ?? ready.length);
    const size = turn === 0 ? Math.floor(random() * (limit + 1)) : 1 + Math.floor(random() * limit);
    const batch = new Set(ready.slice(0, size));
    inbox = inbox.filter((i) => !batch.has(i));
    const newEvents = [
      h.workflowStarted(new Date(now)),
      ...(turn === 0 ? [stamp(started, now)] : []),
      ...[...batch].map((i) => i.event),
    ];
    const pastEvents = history.length;
    const result = await runWorkflowTurn({ instanceId, pastEvents: [...history], newEvents }, registry, turnOptions);
    // The sidecar records the turn's version (patches, name) in its WorkflowStarted.
    const ws = newEvents[0]?.eventType;
    if (result.version !== undefined && ws?.case === "workflowStarted") ws.value.version = result.version;
    history.push(...newEvents, ...recordActions(result.actions, now));
    turns.push({ pastEvents, newEvents, result });
    for (const action of result.actions) {
      const done = await apply(action);
      if (done === "stalled") return ended("stalled");
      // The first completion wins; the sidecar drops the instance's later work.
      if (done !== undefined) return ended("completed", done);
    }
    now += tick;
  }
}

/** Runs a registered activity (sync or async) the way the worker does. */
async function runActivity(registry: Registry, instanceId: string, call: SimActivityCall): Promise<SimOutcome> {
  const outcome = await executeActivity(
    {
      name: call.name,
      input: call.input,
      taskId: call.taskId,
      taskExecutionId: call.taskExecutionId,
      workflowInstance: { instanceId },
    },
    registry,
  );
  if (outcome.failureDetails !== undefined) return { failure: outcome.failureDetails };
  return outcome.result === undefined ? {} : { result: outcome.result };
}

// ---------------------------------------------------------------------------------------------------------------------
// Replaying what was recorded

/** A turn's result as plain data, without failure stack traces (they name the caller's frames, which differ). */
export function comparable(result: WorkflowResult): unknown {
  return withoutStacks({ actions: result.actions, customStatus: result.customStatus, version: result.version });
}

function withoutStacks(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutStacks);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => k !== "stackTrace")
      .map(([k, v]) => [k, withoutStacks(v)]),
  );
}

/** The completion action of a result, if any. */
export function completionOf(result: WorkflowResult): CompleteWorkflowAction | undefined {
  for (const a of result.actions)
    if (a.workflowActionType.case === "completeWorkflow") return a.workflowActionType.value;
  return undefined;
}

export interface ReplayFinding {
  /** Which replay: `turn 3`, `full`, `cut at 7`. */
  readonly where: string;
  readonly problem: string;
}

/**
 * Replays a simulation and lists every disagreement:
 * - each turn run again on exactly its recorded input gives exactly the recorded result;
 * - the final history in one turn (plus a later WorkflowStarted) takes no new action and reaches the recorded outcome
 *   (no non-determinism), with the last turn's custom status;
 * - the final history cut into past and new events at every index gives that same result.
 */
export async function replayChecks(
  registry: Registry,
  sim: Simulation,
  options: { readonly instanceId?: string; readonly turnOptions?: TurnOptions; readonly cuts?: "all" | number } = {},
): Promise<ReplayFinding[]> {
  const instanceId = options.instanceId ?? "sim";
  const findings: ReplayFinding[] = [];
  const run = (pastEvents: readonly HistoryEvent[], newEvents: readonly HistoryEvent[]) =>
    runWorkflowTurn({ instanceId, pastEvents, newEvents }, registry, options.turnOptions);
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

  for (const [i, turn] of sim.turns.entries()) {
    const again = await run(sim.history.slice(0, turn.pastEvents), turn.newEvents);
    if (!same(comparable(again), comparable(turn.result))) {
      findings.push({
        where: `turn ${i}`,
        problem: `re-running the turn gave ${JSON.stringify(comparable(again))}, recorded ${JSON.stringify(comparable(turn.result))}`,
      });
    }
  }

  const later = h.workflowStarted(new Date(sim.end.getTime() + 3_600_000));
  const full = await run(sim.history, [later]);
  const recorded = sim.history.findLast((e) => e.eventType.case === "executionCompleted");
  const fullCompletion = completionOf(full);
  const extra = full.actions.filter((a) => a.workflowActionType.case !== "completeWorkflow");
  if (extra.length > 0) {
    findings.push({
      where: "full",
      problem: `replay took new actions: ${JSON.stringify(withoutStacks(extra))}`,
    });
  }
  if (fullCompletion?.failureDetails?.errorType === "NonDeterminismError") {
    findings.push({ where: "full", problem: `non-determinism: ${fullCompletion.failureDetails.errorMessage}` });
  }
  if (recorded?.eventType.case === "executionCompleted") {
    const want = recorded.eventType.value;
    const got = fullCompletion;
    const digest = (
      c:
        | { workflowStatus: number; result?: string | undefined; failureDetails?: TaskFailureDetails | undefined }
        | undefined,
    ) =>
      c === undefined
        ? "nothing"
        : JSON.stringify([c.workflowStatus, c.result, c.failureDetails?.errorType, c.failureDetails?.errorMessage]);
    if (digest(got) !== digest(want)) {
      findings.push({ where: "full", problem: `replay reached ${digest(got)}, history records ${digest(want)}` });
    }
    if (
      got !== undefined &&
      full.actions.find((a) => a.workflowActionType.case === "completeWorkflow")?.id !== recorded.eventId
    ) {
      findings.push({ where: "full", problem: "the replayed completion has another id than the recorded one" });
    }
  } else if (fullCompletion !== undefined) {
    findings.push({
      where: "full",
      problem: `replay completed (${JSON.stringify(withoutStacks(fullCompletion))}) where the simulation did not`,
    });
  }
  const lastStatus = sim.turns.at(-1)?.result.customStatus;
  if (full.customStatus !== lastStatus) {
    findings.push({ where: "full", problem: `custom status ${full.customStatus}, last turn set ${lastStatus}` });
  }

  const reference = comparable(full);
  const cuts =
    options.cuts === undefined || options.cuts === "all"
      ? Array.from({ length: sim.history.length + 1 }, (_, k) => k)
      : [options.cuts % (sim.history.length + 1)];
  for (const cut of cuts) {
    const split = await run(sim.history.slice(0, cut), [...sim.history.slice(cut), later]);
    if (!same(comparable(split), reference)) {
      findings.push({
        where: `cut at ${cut}`,
        problem: `gave ${JSON.stringify(comparable(split))}, the full replay ${JSON.stringify(reference)}`,
      });
    }
  }
  return findings;
}
