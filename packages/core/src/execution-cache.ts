// Live workflow executions kept between turns (what Temporal calls a sticky cache). Without it every turn replays
// the whole history: O(n) work per turn, O(n²) per workflow, and async code pays an await per replayed task. With
// it, a turn whose history extends the one an execution has already processed feeds that execution only the events
// it has not seen. Processing events one by one is all a replay does, so the result is the same as a full replay;
// whatever does not match (another worker ran the instance, a lost completion was redelivered, a new execution
// reused the id) misses and replays from the start.
import type { HistoryEvent } from "@dt/proto";
import type { RuntimeContext } from "./runtime.js";

interface Entry {
  readonly ctx: RuntimeContext;
  /** The events the execution has processed (`past` then `newEvents`): the start of the next request's history. */
  readonly past: readonly HistoryEvent[];
  readonly newEvents: readonly HistoryEvent[];
  readonly processed: number;
  readonly first: HistoryEvent;
  readonly last: HistoryEvent;
}

export class ExecutionCache {
  /** Least recently used first (Map iteration order). */
  readonly #entries = new Map<string, Entry>();
  readonly #capacity: number;
  #hits = 0;
  #misses = 0;

  /** `capacity`: how many instances to keep live; the least recently used beyond it are dropped (0 keeps none). */
  constructor(capacity = 1000) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Turns that resumed a live execution. */
  get hits(): number {
    return this.#hits;
  }

  /** Turns that replayed from the start (nothing cached for the instance, or its history did not match). */
  get misses(): number {
    return this.#misses;
  }

  /**
   * Removes and returns the execution for `instanceId` when `past` starts with exactly the events it processed, with
   * the index of the first event it has not seen. A taken execution is not shared: a turn of the same instance that
   * overlaps (a redelivery) misses and replays.
   */
  take(instanceId: string, past: readonly HistoryEvent[]): { ctx: RuntimeContext; from: number } | undefined {
    const entry = this.#entries.get(instanceId);
    if (entry !== undefined) this.#entries.delete(instanceId);
    if (entry === undefined || !matches(entry, past.length, (i) => past[i])) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return { ctx: entry.ctx, from: entry.processed };
  }

  /**
   * The events the execution kept for `instanceId` has processed, when a history of `count` past events starts with
   * them (`eventAt(i)` is the history's event i; only the first and the last processed are read), as a new array. A
   * worker then has to decode only the events after them. The execution stays cached for `take`.
   */
  processedEvents(
    instanceId: string,
    count: number,
    eventAt: (index: number) => HistoryEvent,
  ): HistoryEvent[] | undefined {
    const entry = this.#entries.get(instanceId);
    if (entry === undefined || !matches(entry, count, eventAt)) return undefined;
    return entry.past.concat(entry.newEvents);
  }

  /** Keeps an execution that processed `events` (past then new) and can take another turn. */
  put(instanceId: string, ctx: RuntimeContext, past: readonly HistoryEvent[], newEvents: readonly HistoryEvent[]) {
    const first = past[0] ?? newEvents[0];
    const last = newEvents[newEvents.length - 1];
    if (this.#capacity <= 0 || first === undefined || last === undefined) return;
    this.#entries.delete(instanceId);
    this.#entries.set(instanceId, { ctx, past, newEvents, processed: past.length + newEvents.length, first, last });
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  delete(instanceId: string): void {
    this.#entries.delete(instanceId);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** Whether a history of `count` past events starts with the events the entry's execution processed. */
function matches(entry: Entry, count: number, eventAt: (index: number) => HistoryEvent | undefined): boolean {
  const n = entry.processed;
  return (
    entry.ctx.canContinue && // no code ran after the turn that was kept
    count >= n &&
    sameEvent(eventAt(0), entry.first) &&
    sameEvent(eventAt(n - 1), entry.last)
  );
}

/** Same event of the same history: the sidecar stamps each with its own time, so these fields pin it down. */
function sameEvent(a: HistoryEvent | undefined, b: HistoryEvent): boolean {
  return (
    a !== undefined &&
    a.eventId === b.eventId &&
    a.eventType.case === b.eventType.case &&
    a.timestamp?.seconds === b.timestamp?.seconds &&
    a.timestamp?.nanos === b.timestamp?.nanos
  );
}
