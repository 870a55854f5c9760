import type { HistoryEvent } from "@dt/proto";
import { describe, expect, it } from "vitest";
import type { WorkflowContext } from "./context.js";
import { executeWorkflowAsync } from "./engine.js";
import { ExecutionCache } from "./execution-cache.js";
import { at, h, INSTANCE, kinds, registry, START } from "./testing/golden.js";

// Generator code never awaits, so nothing is ever settled through the driver.
const driver = { settle: (then: () => void) => queueMicrotask(then) };

let starts = 0;
const reg = registry({
  *chain(ctx: WorkflowContext, n: number) {
    starts++;
    for (let i = 0; i < 3; i++) n = (yield ctx.callActivity("inc", { input: n })) as number;
    return n;
  },
});

/** The history a sidecar commits for `chain` up to (and including) the turn that delivers result `k` (0 = start). */
function turn(k: number, opening = START): { past: HistoryEvent[]; newEvents: HistoryEvent[] } {
  const events: HistoryEvent[] = [h.workflowStarted(opening), h.executionStarted("chain", INSTANCE, "1")];
  for (let i = 1; i <= k; i++) {
    events.push(h.taskScheduled(i, "inc"), h.workflowStarted(at(i)), h.taskCompleted(i, String(i + 1)));
  }
  const split = k === 0 ? 0 : events.length - 2;
  return { past: events.slice(0, split), newEvents: events.slice(split) };
}

const exec = (t: { past: HistoryEvent[]; newEvents: HistoryEvent[] }, cache: ExecutionCache) =>
  executeWorkflowAsync({ instanceId: INSTANCE, pastEvents: t.past, newEvents: t.newEvents }, reg, { driver, cache });

describe("ExecutionCache", () => {
  it("resumes the live execution on the next turn instead of running the code from the start", async () => {
    const cache = new ExecutionCache();
    starts = 0;
    expect(kinds(await exec(turn(0), cache))).toEqual(["scheduleTask"]);
    expect(kinds(await exec(turn(1), cache))).toEqual(["scheduleTask"]);
    expect(kinds(await exec(turn(2), cache))).toEqual(["scheduleTask"]);
    const last = await exec(turn(3), cache);
    expect(last.actions[0]?.workflowActionType.value).toMatchObject({ result: "4" });
    expect(starts).toBe(1);
    expect([cache.hits, cache.misses]).toEqual([3, 1]);
    expect(cache.size).toBe(0); // a finished execution is not kept
  });

  it("hands back the events a live execution processed when a longer history starts with them", async () => {
    const cache = new ExecutionCache();
    await exec(turn(0), cache);
    await exec(turn(1), cache);
    const next = turn(2).past;
    const read: number[] = [];
    const eventAt = (i: number) => {
      read.push(i);
      return next[i] as HistoryEvent;
    };
    const known = cache.processedEvents(INSTANCE, next.length, eventAt);
    expect(known?.length).toBe(5); // 2 opening events + the first activity's 3
    expect(known).toEqual(next.slice(0, 5));
    expect(read).toEqual([0, 4]); // only the first and the last processed event are looked at
    expect(cache.processedEvents(INSTANCE, 4, eventAt)).toBeUndefined(); // shorter than what was processed
    const other = turn(2, at(-60)).past;
    expect(cache.processedEvents(INSTANCE, other.length, (i) => other[i] as HistoryEvent)).toBeUndefined();
    expect(cache.size).toBe(1); // still there for the turn to take
  });

  it("replays from the start when the history is not the one the execution saw", async () => {
    const cache = new ExecutionCache();
    await exec(turn(0), cache);
    await exec(turn(1), cache);
    starts = 0;
    // A redelivery of the turn just taken (its result was lost): shorter than what the execution processed.
    expect(kinds(await exec(turn(1), cache))).toEqual(["scheduleTask"]);
    expect(starts).toBe(1);
    // The same instance id reused by a new execution that started at another time.
    starts = 0;
    await exec(turn(2, at(-60)), cache);
    expect(starts).toBe(1);
    expect(cache.misses).toBe(3);
  });

  it("a turn that is not resumable afterwards is not kept, and a taken execution is not shared", async () => {
    const cache = new ExecutionCache();
    await exec(turn(0), cache);
    expect(cache.size).toBe(1);
    // Two overlapping deliveries of the next turn: only one can have the live execution.
    starts = 0;
    const [a, b] = await Promise.all([exec(turn(1), cache), exec(turn(1), cache)]);
    expect(kinds(a)).toEqual(kinds(b));
    expect(starts).toBe(1);
    expect(cache.hits).toBe(1);
  });

  it("keeps at most `capacity` instances, dropping the least recently used; 0 keeps none", async () => {
    const cache = new ExecutionCache(2);
    const t = turn(0);
    for (const id of ["a", "b", "c"]) {
      await executeWorkflowAsync({ instanceId: id, pastEvents: t.past, newEvents: t.newEvents }, reg, {
        driver,
        cache,
      });
    }
    expect(cache.size).toBe(2);
    expect(cache.take("a", turn(1).past)).toBeUndefined();
    expect(cache.take("c", turn(1).past)?.from).toBe(2);
    const none = new ExecutionCache(0);
    await exec(turn(0), none);
    expect(none.size).toBe(0);
  });
});
