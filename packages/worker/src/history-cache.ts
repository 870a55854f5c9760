import type { HistoryEvent } from "@dt/proto";

/**
 * Stateful history (WORKER_CAPABILITY_STATEFUL_HISTORY): the committed history of each instance seen on one
 * work-item stream, so the sidecar can send only what is new. It lives and dies with its stream, because the
 * sidecar forgets a stream's warm state when it disconnects. Bounded by instance count (least recently used goes).
 */
export class HistoryCache {
  readonly #entries = new Map<string, HistoryEvent[]>();
  /** The latest dispatch per instance: a superseded turn must not overwrite a newer one's prefix. */
  readonly #latest = new Map<string, string>();
  readonly #maxInstances: number;

  constructor(maxInstances: number) {
    this.#maxInstances = maxInstances;
  }

  noteDispatch(instanceId: string, completionToken: string): void {
    this.#latest.set(instanceId, completionToken);
  }

  /** The cached prefix, if it has exactly the length the sidecar assumes. */
  get(instanceId: string, eventCount: number): HistoryEvent[] | undefined {
    const events = this.#entries.get(instanceId);
    if (events === undefined || events.length !== eventCount) return undefined;
    this.#entries.delete(instanceId);
    this.#entries.set(instanceId, events); // most recently used last
    return events;
  }

  /** Records the committed history replayed in a turn, or forgets the instance when the turn ended its execution. */
  update(instanceId: string, completionToken: string, past: HistoryEvent[], executionEnded: boolean): void {
    if (this.#latest.get(instanceId) !== completionToken) return;
    this.#entries.delete(instanceId);
    if (executionEnded) {
      this.#latest.delete(instanceId);
      return;
    }
    this.#entries.set(instanceId, past);
    if (this.#entries.size > this.#maxInstances) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
      this.#latest.delete(oldest);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
