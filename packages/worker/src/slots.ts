/** A counting semaphore: at most `size` holders; `acquire` waits (in order) for a free slot. */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`concurrency must be an integer >= 1; got ${size}`);
    this.#free = size;
  } /** Takes a slot if one is free right now. */
  tryAcquire(): boolean {
    if (this.#free === 0) return false;
    this.#free--;
    return true;
  }

  /** Waits (in order) for a slot; if `signal` aborts first, rejects with its reason and takes none. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    if (signal === undefined) return new Promise((resolve) => this.#waiting.push(resolve));
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiting.indexOf(granted);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(signal.reason);
      };
      const granted = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(granted);
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#free++;
  }
}

/** Exponential backoff with full jitter over [delay/2, delay]; starts at `initialMs`, capped at `maxMs`. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const delay = Math.min(maxMs, initialMs * 2 ** attempt);
  return Math.round(delay / 2 + random() * (delay / 2));
}
