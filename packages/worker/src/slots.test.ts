// Slots (the backpressure semaphore) and backoffMs (the reconnect delay).
import { describe, expect, it } from "vitest";
import { backoffMs, Slots } from "./slots.js";

/** Settles pending promise callbacks. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("Slots", () => {
  it("grants up to `size` holders at once, then makes the next wait", async () => {
    const slots = new Slots(2);
    const granted: string[] = [];
    for (const name of ["a", "b", "c"]) void slots.acquire().then(() => granted.push(name));
    await flush();
    expect(granted).toEqual(["a", "b"]);
    slots.release();
    await flush();
    expect(granted).toEqual(["a", "b", "c"]);
  });

  it("a wait given up through its signal takes no slot, and the next waiter gets the released one", async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const controller = new AbortController();
    const givenUp = slots.acquire(controller.signal);
    let second = false;
    void slots.acquire().then(() => {
      second = true;
    });
    controller.abort(new Error("the stream is over"));
    await expect(givenUp).rejects.toThrow("the stream is over");
    slots.release();
    await flush();
    expect(second).toBe(true);
    await expect(slots.acquire(AbortSignal.abort(new Error("already over")))).rejects.toThrow("already over");
  });

  it("hands released slots to waiters in arrival order", async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) => slots.acquire().then(() => order.push(n)));
    await flush();
    expect(order).toEqual([]);
    for (let i = 0; i < 3; i++) {
      slots.release();
      await flush();
      expect(order).toEqual([1, 2, 3].slice(0, i + 1));
    }
    await Promise.all(waiting);
  });

  it("a release with nobody waiting frees a slot for the next acquire", async () => {
    const slots = new Slots(1);
    await slots.acquire();
    slots.release();
    let granted = false;
    void slots.acquire().then(() => {
      granted = true;
    });
    await flush();
    expect(granted).toBe(true);
    // …and the slot is taken again: the one after that waits.
    let second = false;
    void slots.acquire().then(() => {
      second = true;
    });
    await flush();
    expect(second).toBe(false);
    slots.release();
    await flush();
    expect(second).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("rejects a size of %s", (size) => {
    expect(() => new Slots(size)).toThrow(RangeError);
    expect(() => new Slots(size)).toThrow(/integer >= 1/);
  });
});

describe("backoffMs", () => {
  it("doubles from the initial delay per attempt, jittered over [delay/2, delay]", () => {
    for (const [attempt, delay] of [
      [0, 100],
      [1, 200],
      [2, 400],
      [3, 800],
    ] as const) {
      expect(backoffMs(attempt, 100, 10_000, () => 0)).toBe(delay / 2);
      expect(backoffMs(attempt, 100, 10_000, () => 1)).toBe(delay);
      expect(backoffMs(attempt, 100, 10_000, () => 0.5)).toBe((delay * 3) / 4);
    }
  });

  it("caps the delay at maxMs, also for huge attempt counts", () => {
    expect(backoffMs(10, 250, 15_000, () => 1)).toBe(15_000);
    expect(backoffMs(10, 250, 15_000, () => 0)).toBe(7_500);
    expect(backoffMs(5_000, 250, 15_000, () => 1)).toBe(15_000);
  });

  it("returns whole milliseconds within bounds for random jitter", () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const delay = Math.min(1_000, 30 * 2 ** attempt);
      const ms = backoffMs(attempt, 30, 1_000);
      expect(Number.isInteger(ms)).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(Math.floor(delay / 2));
      expect(ms).toBeLessThanOrEqual(delay);
    }
  });
});
