import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_DELAY_MS, NEVER_MS, TimerScheduler } from "./timers.js";

describe("TimerScheduler", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fires each entry at its due time, earliest first, with one Node timer", () => {
    const fired: string[] = [];
    const timers = new TimerScheduler((key) => fired.push(key));
    const now = Date.now();
    timers.schedule("b", now + 200);
    timers.schedule("a", now + 100);
    timers.schedule("c", now + 300);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(["a"]);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual(["a", "b", "c"]);
    expect(timers.size).toBe(0);
    timers.close();
  });

  it("fires entries already due at once", () => {
    const fired: string[] = [];
    const timers = new TimerScheduler((key) => fired.push(key));
    timers.schedule("past", Date.now() - 1_000);
    vi.advanceTimersByTime(0);
    expect(fired).toEqual(["past"]);
    timers.close();
  });

  it("waits longer than setTimeout can by re-arming, without firing early", () => {
    const fired: string[] = [];
    const timers = new TimerScheduler((key) => fired.push(key));
    const sixtyDays = 60 * 24 * 3600 * 1000;
    expect(sixtyDays).toBeGreaterThan(MAX_TIMER_DELAY_MS);
    timers.schedule("far", Date.now() + sixtyDays);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS);
    expect(fired).toEqual([]);
    expect(vi.getTimerCount()).toBe(1); // re-armed for the rest
    vi.advanceTimersByTime(sixtyDays - MAX_TIMER_DELAY_MS - 1);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(["far"]);
    timers.close();
  });

  it("never schedules the year-9999 sentinel", () => {
    const fired: string[] = [];
    const timers = new TimerScheduler((key) => fired.push(key));
    expect(timers.schedule("never", Date.UTC(9999, 11, 31, 23, 59, 59, 999))).toBe(false);
    expect(timers.schedule("also-never", NEVER_MS)).toBe(false);
    expect(timers.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    timers.close();
  });

  it("re-arms when its timer fires before the clock reached the due time", () => {
    const fired: string[] = [];
    let skew = 0;
    const timers = new TimerScheduler(
      (key) => fired.push(key),
      () => Date.now() - skew,
    );
    timers.schedule("x", Date.now() + 100);
    skew = 5; // the scheduler's clock lags: at Node's due time it is not due yet
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([]);
    skew = 0;
    vi.advanceTimersByTime(5);
    expect(fired).toEqual(["x"]);
    timers.close();
  });

  it("stops on close", () => {
    const fired: string[] = [];
    const timers = new TimerScheduler((key) => fired.push(key));
    timers.schedule("x", Date.now() + 10);
    timers.close();
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([]);
    expect(timers.schedule("y", Date.now())).toBe(false);
  });
});
