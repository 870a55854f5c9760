// replay(history, workflow): re-runs a saved history against the current code and reports divergences.
import { readFileSync } from "node:fs";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type HistoryEvent, OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import {
  defineActivity,
  defineWorkflow,
  executeWorkflow,
  NonDeterminismError,
  Registry,
  replay,
  type WorkflowContext,
  type WorkflowDefinition,
} from "./index.js";
import { at, h, INSTANCE, START, started } from "./testing/golden.js";

const THIS_FILE = new URL(import.meta.url).pathname;

const SOURCE = readFileSync(THIS_FILE, "utf8").split("\n");

/** `file:line:col` of a call on the line of this file marked `// @site <name>` (so it survives reformatting). */
function siteOf(name: string): RegExp {
  const hits = SOURCE.flatMap((line, i) => (line.includes(`// @site ${name}`) ? [i + 1] : []));
  if (hits.length !== 1) throw new Error(`marker ${name} occurs ${hits.length} times`);
  const file = THIS_FILE.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${file}:${hits[0]}:\\d+$`);
}

/**
 * Runs a workflow to its end the way a sidecar would, turn by turn: records every action as its history event,
 * completes each activity with `respond(name, input)` and fires each timer at its time. Returns the full history.
 */
function produceHistory(
  workflow: WorkflowDefinition<never, unknown>,
  respond: (name: string, input: unknown) => unknown,
  input?: unknown,
): HistoryEvent[] {
  const reg = new Registry().addWorkflow(workflow);
  const past: HistoryEvent[] = [];
  let newEvents: HistoryEvent[] = started(workflow.name, input);
  let now = START.getTime();
  for (let turn = 0; turn < 50; turn++) {
    const result = executeWorkflow({ instanceId: INSTANCE, pastEvents: past, newEvents }, reg);
    past.push(...newEvents);
    const next: HistoryEvent[] = [];
    for (const action of result.actions) {
      const a = action.workflowActionType;
      if (a.case === "scheduleTask") {
        past.push(h.taskScheduled(action.id, a.value.name, a.value.input, a.value.taskExecutionId));
        const value = respond(a.value.name, a.value.input === undefined ? undefined : JSON.parse(a.value.input));
        next.push(h.taskCompleted(action.id, JSON.stringify(value)));
      } else if (a.case === "createTimer") {
        if (a.value.fireAt === undefined) throw new Error("a timer without fireAt");
        const fireAt = new Date(timestampMs(a.value.fireAt));
        past.push(h.timerCreated(action.id, fireAt, a.value.origin, a.value.name));
        now = Math.max(now, fireAt.getTime());
        next.push(h.timerFired(action.id, fireAt));
      } else if (a.case === "completeWorkflow") {
        past.push(h.executionCompleted(action.id, a.value.workflowStatus, a.value.result));
        return past;
      } else {
        throw new Error(`produceHistory does not simulate ${a.case}`);
      }
    }
    newEvents = [h.workflowStarted(new Date(now)), ...next];
  }
  throw new Error("the workflow did not finish in 50 turns");
}

function only(divergences: readonly NonDeterminismError[]): NonDeterminismError {
  expect(divergences).toHaveLength(1);
  expect(divergences[0]).toBeInstanceOf(NonDeterminismError);
  return divergences[0] as NonDeterminismError;
}

const greet = defineActivity("greet", (_ctx, city: string) => `Hello ${city}!`);
const respond = (name: string, input: unknown) => (name === "greet" ? `Hello ${String(input)}!` : `${name} done`);

// The deployed code that wrote the histories below.
const original = defineWorkflow("chain", function* (ctx: WorkflowContext) {
  const a = yield* ctx.callActivity(greet, { input: "Tokyo" });
  yield ctx.createTimer(5);
  const b = yield* ctx.callActivity(greet, { input: "London" });
  return [a, b];
});

describe("replay: histories the code produced", () => {
  it("a history produced turn by turn replays ok with the same outcome", () => {
    // go: Test_ActivityChain (replayed every turn)
    const events = produceHistory(original, respond);
    expect(events.map((e) => e.eventType.case)).toContain("timerFired");
    const report = replay(events, original);
    expect(report).toMatchObject({
      ok: true,
      divergences: [],
      status: OrchestrationStatus.COMPLETED,
      result: '["Hello Tokyo!","Hello London!"]',
    });
  });

  it("a hand-built history (history.* builders) replays ok", () => {
    const events = [
      h.workflowStarted(START),
      h.executionStarted("chain", INSTANCE),
      h.taskScheduled(1, "greet", '"Tokyo"'),
      h.workflowStarted(at(1)),
      h.taskCompleted(1, '"Hello Tokyo!"'),
      h.timerCreated(2, at(6)),
      h.workflowStarted(at(6)),
      h.timerFired(2, at(6)),
      h.taskScheduled(3, "greet", '"London"'),
      h.workflowStarted(at(7)),
      h.taskCompleted(3, '"Hello London!"'),
      h.executionCompleted(4, OrchestrationStatus.COMPLETED, '["Hello Tokyo!","Hello London!"]'),
    ];
    expect(replay(events, original).ok).toBe(true);
  });

  it("an in-progress history (no completion yet) replays ok and reports no outcome", () => {
    const events = [...started("chain"), h.taskScheduled(1, "greet", '"Tokyo"')];
    const report = replay(events, original);
    expect(report).toMatchObject({ ok: true, divergences: [], status: undefined, result: undefined });
  });

  it("a plain workflow function is replayed under the name the history started", () => {
    const events = [...started("anything", 20), h.executionCompleted(1, OrchestrationStatus.COMPLETED, "21")];
    const report = replay(events, (_ctx: WorkflowContext, n: number) => n + 1);
    expect(report).toMatchObject({ ok: true, result: "21" });
  });

  it("a failed history replays ok when the code still fails the same way", () => {
    const failing = defineWorkflow("failing", function* (ctx: WorkflowContext) {
      yield ctx.callActivity("charge");
    });
    const events = [
      ...started("failing"),
      h.taskScheduled(1, "charge"),
      h.taskFailed(1, new Error("declined")),
      h.executionCompleted(2, OrchestrationStatus.FAILED),
    ];
    expect(replay(events, failing)).toMatchObject({ ok: true, status: OrchestrationStatus.FAILED });
  });

  it("a change guarded by isPatched() replays an old history ok", () => {
    const guarded = defineWorkflow("chain", function* (ctx: WorkflowContext) {
      const a = yield* ctx.callActivity(greet, { input: "Tokyo" });
      if (ctx.isPatched("extra-audit")) yield ctx.callActivity("audit");
      yield ctx.createTimer(5);
      const b = yield* ctx.callActivity(greet, { input: "London" });
      return [a, b];
    });
    expect(replay(produceHistory(original, respond), guarded).ok).toBe(true);
  });
});

describe("replay: code that changed", () => {
  it("reports a renamed activity with expected, actual, sequence id, history index and location", () => {
    const renamed = defineWorkflow("chain", function* (ctx: WorkflowContext) {
      const a = yield* ctx.callActivity("salute", { input: "Tokyo" }); // @site renamed
      return a;
    });
    const events = produceHistory(original, respond);
    const report = replay(events, renamed);
    expect(report.ok).toBe(false);
    const d = only(report.divergences);
    expect(d.expected).toBe("callActivity('greet')");
    expect(d.actual).toBe("callActivity('salute')");
    expect(d.sequenceId).toBe(1);
    expect(d.historyIndex).toBe(2);
    expect(events[d.historyIndex]?.eventType.case).toBe("taskScheduled");
    expect(d.location).toMatch(siteOf("renamed"));
  });

  it("reports a timer inserted before an activity", () => {
    const inserted = defineWorkflow("chain", function* (ctx: WorkflowContext) {
      yield ctx.createTimer(1); // @site inserted
      const a = yield* ctx.callActivity(greet, { input: "Tokyo" });
      yield ctx.createTimer(5);
      const b = yield* ctx.callActivity(greet, { input: "London" });
      return [a, b];
    });
    const d = only(replay(produceHistory(original, respond), inserted).divergences);
    expect(d).toMatchObject({ expected: "callActivity('greet')", actual: "createTimer()", sequenceId: 1 });
    expect(d.historyIndex).toBe(2);
    expect(d.location).toMatch(siteOf("inserted"));
  });

  it("reports a removed call: the history has a timer where the code now calls the activity", () => {
    const removed = defineWorkflow("chain", function* (ctx: WorkflowContext) {
      const a = yield* ctx.callActivity(greet, { input: "Tokyo" });
      const b = yield* ctx.callActivity(greet, { input: "London" });
      return [a, b];
    });
    const events = produceHistory(original, respond);
    const d = only(replay(events, removed).divergences);
    expect(d.expected).toBe("createTimer()");
    expect(d.actual).toBe("callActivity('greet')");
    expect(d.sequenceId).toBe(2);
    expect(events[d.historyIndex]?.eventType.case).toBe("timerCreated");
  });

  it("reports a removed parallel call: the history schedules work the code no longer does", () => {
    const fanOut = defineWorkflow("fan", function* (ctx: WorkflowContext) {
      return yield* ctx.whenAll([ctx.callActivity("a"), ctx.callActivity("b")]);
    });
    const onlyA = defineWorkflow("fan", function* (ctx: WorkflowContext) {
      return [yield* ctx.callActivity("a")];
    });
    const events = produceHistory(fanOut, respond);
    const d = only(replay(events, onlyA).divergences);
    expect(d).toMatchObject({ expected: "callActivity('b')", actual: "nothing", sequenceId: 2, historyIndex: 3 });
    expect(d.message).toContain("does nothing there");
  });

  it("reports a removed trailing call even when the code now finishes with the same result", () => {
    // The new code completes right after 'a'; the history still schedules 'b' next.
    const twoSteps = defineWorkflow("steps", function* (ctx: WorkflowContext) {
      yield ctx.callActivity("a");
      yield ctx.callActivity("b");
      return "done";
    });
    const oneStep = defineWorkflow("steps", function* (ctx: WorkflowContext) {
      yield ctx.callActivity("a");
      return "done";
    });
    const events = produceHistory(twoSteps, respond);
    const report = replay(events, oneStep);
    expect(report.ok).toBe(false);
    const d = only(report.divergences);
    expect(d).toMatchObject({ expected: "callActivity('b')", actual: "nothing", sequenceId: 2 });
    expect(events[d.historyIndex]?.eventType.case).toBe("taskScheduled");
  });

  it("reports what the code now does beyond the end of an in-progress history", () => {
    const more = defineWorkflow("chain", function* (ctx: WorkflowContext) {
      const first = ctx.callActivity(greet, { input: "Tokyo" });
      const second = ctx.callActivity("extra"); // @site extra
      return yield* ctx.whenAll([first, second]);
    });
    const events = [...started("chain"), h.taskScheduled(1, "greet", '"Tokyo"')];
    const report = replay(events, more);
    expect(report.ok).toBe(false);
    const d = only(report.divergences);
    expect(d.actual).toBe("callActivity('extra')");
    expect(d.expected).toContain("no further action");
    expect(d.sequenceId).toBe(2);
    expect(d.historyIndex).toBe(events.length);
    expect(d.location).toMatch(siteOf("extra"));
  });

  it("reports what the code now does after a completed history ends", () => {
    const longer = defineWorkflow("chain", function* (ctx: WorkflowContext) {
      const a = yield* ctx.callActivity(greet, { input: "Tokyo" });
      yield ctx.createTimer(5);
      const b = yield* ctx.callActivity(greet, { input: "London" });
      yield ctx.callActivity("notify");
      return [a, b];
    });
    const events = produceHistory(original, respond);
    const report = replay(events, longer);
    expect(report.ok).toBe(false);
    expect(report.divergences.map((d) => [d.actual, d.sequenceId])).toEqual([["callActivity('notify')", 4]]);
  });

  it("reports a completed history whose recorded result differs from what the code now returns", () => {
    const shouting = defineWorkflow("chain", function* (ctx: WorkflowContext) {
      const a = yield* ctx.callActivity(greet, { input: "Tokyo" });
      yield ctx.createTimer(5);
      const b = yield* ctx.callActivity(greet, { input: "London" });
      return [a.toUpperCase(), b];
    });
    const events = produceHistory(original, respond);
    const report = replay(events, shouting);
    expect(report.ok).toBe(false);
    expect(report.result).toBe('["HELLO TOKYO!","Hello London!"]');
    const d = only(report.divergences);
    expect(d.expected).toBe('completion COMPLETED with ["Hello Tokyo!","Hello London!"]');
    expect(d.actual).toBe('completion COMPLETED with ["HELLO TOKYO!","Hello London!"]');
    expect(d.sequenceId).toBe(4);
    expect(d.historyIndex).toBe(events.length - 1);
  });

  it("reports a completed history whose recorded status differs (the code now fails)", () => {
    const failing = defineWorkflow("chain", function* (ctx: WorkflowContext) {
      yield* ctx.callActivity(greet, { input: "Tokyo" });
      yield ctx.createTimer(5);
      yield* ctx.callActivity(greet, { input: "London" });
      throw new Error("new validation");
    });
    const report = replay(produceHistory(original, respond), failing);
    expect(report.status).toBe(OrchestrationStatus.FAILED);
    const d = only(report.divergences);
    expect(d.expected).toContain("completion COMPLETED");
    expect(d.actual).toContain("completion FAILED");
  });
});
