// HistoryCache: the per-stream committed history behind stateful-history deltas.
import { history } from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { describe, expect, it } from "vitest";
import { HistoryCache } from "./history-cache.js";

const T0 = new Date("2025-01-01T00:00:00Z");

function events(instanceId: string, count: number): HistoryEvent[] {
  const list = [history.workflowStarted(T0), history.executionStarted("wf", instanceId)];
  for (let id = 1; list.length < count; id++) list.push(history.taskScheduled(id, `step${id}`));
  return list.slice(0, count);
}

/** Dispatches and records a turn, as the worker does. */
function turn(cache: HistoryCache, instanceId: string, token: string, past: HistoryEvent[], ended = false) {
  cache.noteDispatch(instanceId, token);
  cache.update(instanceId, token, past, ended);
}

describe("HistoryCache", () => {
  it("returns the cached prefix only when it has exactly the length the sidecar assumes", () => {
    const cache = new HistoryCache(10);
    const past = events("a", 3);
    turn(cache, "a", "t1", past);
    expect(cache.get("a", 3)).toBe(past);
    expect(cache.get("a", 2)).toBeUndefined();
    expect(cache.get("a", 4)).toBeUndefined();
    expect(cache.get("b", 0)).toBeUndefined();
    expect(cache.size).toBe(1);
  });

  it("keeps the latest turn's history per instance", () => {
    const cache = new HistoryCache(10);
    turn(cache, "a", "t1", events("a", 3));
    const newer = events("a", 6);
    turn(cache, "a", "t2", newer);
    expect(cache.get("a", 3)).toBeUndefined();
    expect(cache.get("a", 6)).toBe(newer);
    expect(cache.size).toBe(1);
  });

  it("ignores a superseded turn, so it cannot overwrite the newer dispatch's prefix", () => {
    const cache = new HistoryCache(10);
    cache.noteDispatch("a", "old");
    cache.noteDispatch("a", "new");
    const newer = events("a", 5);
    cache.update("a", "new", newer, false);
    cache.update("a", "old", events("a", 3), false); // the stale handler finishes last
    expect(cache.get("a", 5)).toBe(newer);
    expect(cache.get("a", 3)).toBeUndefined();
  });

  it("ignores an update for a dispatch it never saw", () => {
    const cache = new HistoryCache(10);
    cache.update("a", "unknown", events("a", 3), false);
    expect(cache.size).toBe(0);
    expect(cache.get("a", 3)).toBeUndefined();
  });

  it("forgets an instance whose turn ended its execution", () => {
    const cache = new HistoryCache(10);
    turn(cache, "a", "t1", events("a", 3));
    turn(cache, "a", "t2", events("a", 6), true);
    expect(cache.size).toBe(0);
    expect(cache.get("a", 6)).toBeUndefined();
    expect(cache.get("a", 3)).toBeUndefined();
    // A late update with the finished turn's token does not bring it back.
    cache.update("a", "t2", events("a", 6), false);
    expect(cache.size).toBe(0);
  });

  it("evicts the least recently used instance beyond maxInstances", () => {
    const cache = new HistoryCache(2);
    const a = events("a", 3);
    turn(cache, "a", "ta", a);
    turn(cache, "b", "tb", events("b", 3));
    expect(cache.get("a", 3)).toBe(a); // a is now the most recently used
    turn(cache, "c", "tc", events("c", 4));
    expect(cache.size).toBe(2);
    expect(cache.get("b", 3)).toBeUndefined();
    expect(cache.get("a", 3)).toBe(a);
    expect(cache.get("c", 4)).toHaveLength(4);
  });

  it("counts an update as a use when deciding what to evict", () => {
    const cache = new HistoryCache(2);
    turn(cache, "a", "ta1", events("a", 3));
    turn(cache, "b", "tb", events("b", 3));
    turn(cache, "a", "ta2", events("a", 5)); // a refreshed by its next turn
    turn(cache, "c", "tc", events("c", 3));
    expect(cache.get("a", 5)).toHaveLength(5);
    expect(cache.get("b", 3)).toBeUndefined();
  });
});
