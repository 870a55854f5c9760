// One scheduler for everything that becomes due later (durable timers, scheduled starts, retry backoff): a min-heap
// of (due, key) and a single Node timer armed for the earliest. Node's setTimeout cannot wait longer than 2^31-1 ms
// (~24.8 days; longer delays fire at once), so long waits are clamped and re-armed. Dapr's "no timeout" sentinel
// (9999-12-31) is never armed at all. A timer that fires a little early is re-armed: durable timers fire late, never
// early.

/** setTimeout's largest delay. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
/** Due times from 9999-01-01 on are sentinels ("never"): stored by the caller, never scheduled here. */
export const NEVER_MS = Date.UTC(9999, 0, 1);

interface Entry {
  readonly due: number;
  readonly key: string;
}

export class TimerScheduler {
  readonly #heap: Entry[] = [];
  readonly #onDue: (key: string) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  #closed = false;

  /** `onDue(key)` runs once per scheduled entry, at or after its due time. */
  constructor(onDue: (key: string) => void, now: () => number = Date.now) {
    this.#onDue = onDue;
    this.#now = now;
  }

  /** Calls `onDue(key)` at `dueMs` (epoch ms). Returns false for a sentinel that will never fire. */
  schedule(key: string, dueMs: number): boolean {
    if (this.#closed || !(dueMs < NEVER_MS)) return false;
    push(this.#heap, { due: dueMs, key });
    if (dueMs < this.#armedFor) this.#arm();
    return true;
  }

  /** Entries waiting (sentinels are not counted: they were never added). */
  get size(): number {
    return this.#heap.length;
  }

  /** The earliest due time, if any. */
  get next(): number | undefined {
    return this.#heap[0]?.due;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#heap.length = 0;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const first = this.#heap[0];
    if (first === undefined || this.#closed) return;
    const delay = Math.min(Math.max(first.due - this.#now(), 0), MAX_TIMER_DELAY_MS);
    this.#armedFor = first.due;
    this.#timer = setTimeout(() => this.#fire(), delay);
    // The sidecar's server keeps the process alive; a pending durable timer alone should not.
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = this.#now();
    const due: string[] = [];
    for (let top = this.#heap[0]; top !== undefined && top.due <= now; top = this.#heap[0]) {
      pop(this.#heap);
      due.push(top.key);
    }
    this.#arm();
    for (const key of due) this.#onDue(key);
  }
}

function push(heap: Entry[], entry: Entry): void {
  heap.push(entry);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if ((heap[parent] as Entry).due <= entry.due) break;
    heap[i] = heap[parent] as Entry;
    i = parent;
  }
  heap[i] = entry;
}

function pop(heap: Entry[]): void {
  const last = heap.pop();
  if (last === undefined || heap.length === 0) return;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const right = left + 1;
    const child = right < heap.length && (heap[right] as Entry).due < (heap[left] as Entry).due ? right : left;
    if ((heap[child] as Entry).due >= last.due) break;
    heap[i] = heap[child] as Entry;
    i = child;
  }
  heap[i] = last;
}
