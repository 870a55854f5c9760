// Non-determinism: history's scheduling event vs the code's action at that sequence id (missing, wrong type, wrong
// activity/child name). Reported as a FAILED completion (errorType NonDeterminismError) and by replay(), naming the
// expected and actual call, the sequence id, the history index and the workflow's `file:line:col` in this file.
import { readFileSync } from "node:fs";
import type { HistoryEvent } from "@dt/proto";
import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import { executeWorkflow, NonDeterminismError, Registry, replay, type WorkflowContext } from "./index.js";
import { at, h, INSTANCE, kinds, onlyCompletion, started } from "./testing/golden.js";

const THIS_FILE = new URL(import.meta.url).pathname;
const SOURCE = readFileSync(THIS_FILE, "utf8").split("\n");

/** The 1-based line of this file holding `marker` (asserted unique), so the expected line survives reformatting. */
function lineOf(marker: string): number {
  const hits = SOURCE.flatMap((line, i) => (line.includes(`// ${marker}`) ? [i + 1] : []));
  if (hits.length !== 1) throw new Error(`marker ${marker} occurs ${hits.length} times`);
  return hits[0] as number;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** `file:line:col` of a call written on the marker's line of this file. */
const siteOf = (marker: string) => new RegExp(`^${escapeRegExp(THIS_FILE)}:${lineOf(marker)}:\\d+$`);

type Workflow = (ctx: WorkflowContext) => Generator<unknown, unknown, unknown>;

interface Case {
  readonly name: string;
  /** The current code (registered as "w"). */
  readonly code: Workflow;
  /** History written by earlier code: past events, then the turn's new events. */
  readonly past: HistoryEvent[];
  readonly newEvents: HistoryEvent[];
  readonly expected: string;
  readonly actual: string;
  readonly sequenceId: number;
  readonly historyIndex: number;
  /** The marker on the line of the call the location must point at. */
  readonly site: string;
}

const cases: Case[] = [
  {
    // python: test_nondeterminism_wrong_activity_name
    name: "renamed activity",
    code: function* (ctx) {
      yield ctx.callActivity("bill"); // site:renamed
    },
    past: [...started("w"), h.taskScheduled(1, "charge")],
    newEvents: [h.workflowStarted(at(1)), h.taskCompleted(1, '"ok"')],
    expected: "callActivity('charge')",
    actual: "callActivity('bill')",
    sequenceId: 1,
    historyIndex: 2,
    site: "site:renamed",
  },
  {
    // python: test_nondeterminism_expected_activity_call_wrong_task_type (activity in history, timer in code)
    name: "activity replaced by a timer",
    code: function* (ctx) {
      yield ctx.createTimer(10); // site:activity-to-timer
    },
    past: [...started("w"), h.taskScheduled(1, "charge")],
    newEvents: [h.workflowStarted(at(1)), h.taskCompleted(1)],
    expected: "callActivity('charge')",
    actual: "createTimer()",
    sequenceId: 1,
    historyIndex: 2,
    site: "site:activity-to-timer",
  },
  {
    // python: test_nondeterminism_expected_timer (timer in history, activity in code)
    name: "timer replaced by an activity",
    code: function* (ctx) {
      yield ctx.callActivity("charge"); // site:timer-to-activity
    },
    past: [...started("w"), h.timerCreated(1, at(10))],
    newEvents: [h.workflowStarted(at(10)), h.timerFired(1, at(10))],
    expected: "createTimer()",
    actual: "callActivity('charge')",
    sequenceId: 1,
    historyIndex: 2,
    site: "site:timer-to-activity",
  },
  {
    // python: test_nondeterminism_expected_sub_orchestration_task_completion_* (here: a different child name)
    name: "child workflow name changed",
    code: function* (ctx) {
      yield ctx.callSubOrchestrator("shipV2"); // site:child-renamed
    },
    past: [...started("w"), h.childWorkflowCreated(1, "shipV1", `${INSTANCE}:0001`)],
    newEvents: [h.workflowStarted(at(1)), h.childWorkflowCompleted(1, "1")],
    expected: "callSubOrchestrator('shipV1')",
    actual: "callSubOrchestrator('shipV2')",
    sequenceId: 1,
    historyIndex: 2,
    site: "site:child-renamed",
  },
  {
    // go: onTaskScheduled "doesn't have this action"; the history fanned out to 'a' and 'b', the code only calls 'a'
    name: "missing call (the code waits and does nothing more)",
    code: function* (ctx) {
      yield ctx.callActivity("a"); // site:missing-waits
    },
    past: [...started("w"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")],
    newEvents: [h.workflowStarted(at(1)), h.taskCompleted(1), h.taskCompleted(2)],
    expected: "callActivity('b')",
    actual: "nothing",
    sequenceId: 2,
    historyIndex: 3,
    site: "site:missing-waits",
  },
  {
    // The code now returns right after 'a'; the history went on to schedule 'b'.
    name: "missing call (the code now completes instead)",
    code: function* (ctx) {
      yield ctx.callActivity("a"); // site:missing-completes
      return "done";
    },
    past: [
      ...started("w"),
      h.taskScheduled(1, "a"),
      h.workflowStarted(at(1)),
      h.taskCompleted(1),
      h.taskScheduled(2, "b"),
    ],
    newEvents: [h.workflowStarted(at(2)), h.taskCompleted(2)],
    expected: "callActivity('b')",
    actual: "nothing",
    sequenceId: 2,
    historyIndex: 5,
    site: "site:missing-completes",
  },
  {
    // go: onTaskScheduled (an action inserted before shifts every sequence id)
    name: "extra call inserted before",
    code: function* (ctx) {
      yield ctx.callActivity("audit"); // site:inserted
      yield ctx.callActivity("charge");
    },
    past: [...started("w"), h.taskScheduled(1, "charge")],
    newEvents: [h.workflowStarted(at(1)), h.taskCompleted(1)],
    expected: "callActivity('charge')",
    actual: "callActivity('audit')",
    sequenceId: 1,
    historyIndex: 2,
    site: "site:inserted",
  },
];

function runCase(c: Case) {
  const reg = new Registry().addWorkflow(c.code as never, { name: "w" });
  return executeWorkflow({ instanceId: INSTANCE, pastEvents: c.past, newEvents: c.newEvents }, reg);
}

function replayCase(c: Case) {
  return replay([...c.past, ...c.newEvents], c.code as never);
}

describe.each(cases)("non-determinism: $name", (c) => {
  it("fails the turn with a NonDeterminismError that names expected, actual, sequence id and history index", () => {
    const done = onlyCompletion(runCase(c));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
    const message = done.failureDetails?.errorMessage ?? "";
    expect(message).toContain(
      `history event #${c.historyIndex} records ${c.expected} with sequence id ${c.sequenceId}`,
    );
    expect(message).toContain(c.actual === "nothing" ? "does nothing there" : `calls ${c.actual}`);
  });

  it("replay() reports the same divergence", () => {
    const report = replayCase(c);
    expect(report.ok).toBe(false);
    expect(report.divergences).toHaveLength(1);
    const d = report.divergences[0] as NonDeterminismError;
    expect(d).toBeInstanceOf(NonDeterminismError);
    expect(d.code).toBe("NON_DETERMINISTIC");
    expect({ expected: d.expected, actual: d.actual, sequenceId: d.sequenceId, historyIndex: d.historyIndex }).toEqual({
      expected: c.expected,
      actual: c.actual,
      sequenceId: c.sequenceId,
      historyIndex: c.historyIndex,
    });
  });

  it("points at the workflow's call in this file (file:line:col)", () => {
    const d = replayCase(c).divergences[0];
    expect(d?.location).toMatch(siteOf(c.site));
    const message = onlyCompletion(runCase(c)).failureDetails?.errorMessage ?? "";
    expect(message).toContain(` at ${THIS_FILE}:${lineOf(c.site)}:`);
  });
});

describe("non-determinism: what is not compared, and what else counts", () => {
  it("a changed activity input is not non-determinism", () => {
    const reg = new Registry().addWorkflow(
      function* (ctx: WorkflowContext) {
        return yield* ctx.callActivity("charge", { input: { amount: 20 } });
      },
      { name: "w" },
    );
    const past = [...started("w"), h.taskScheduled(1, "charge", '{"amount":10}')];
    const done = onlyCompletion(
      executeWorkflow({ instanceId: INSTANCE, pastEvents: past, newEvents: [h.taskCompleted(1, '"paid"')] }, reg),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"paid"');
  });

  it("a changed timer fire time is not non-determinism", () => {
    const code = function* (ctx: WorkflowContext) {
      yield ctx.createTimer(99);
      return "woke";
    };
    const events = [...started("w"), h.timerCreated(1, at(10)), h.timerFired(1, at(10))];
    expect(replay(events, code as never)).toMatchObject({ ok: true, result: '"woke"' });
  });

  it("a detached workflow in history fails as non-determinism", () => {
    // brief §4: this SDK never creates detached workflows
    const reg = new Registry().addWorkflow(
      function* (ctx: WorkflowContext) {
        yield ctx.createTimer(1);
      },
      { name: "w" },
    );
    const past = [...started("w"), h.detachedWorkflowCreated(1, "other")];
    const done = onlyCompletion(
      executeWorkflow({ instanceId: INSTANCE, pastEvents: past, newEvents: [h.workflowStarted(at(1))] }, reg),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
    expect(done.failureDetails?.errorMessage).toContain("createDetachedWorkflow('other')");
  });

  it("after a divergence nothing else runs: later events are not applied and only the failure is returned", () => {
    let resumed = false;
    const reg = new Registry().addWorkflow(
      function* (ctx: WorkflowContext) {
        yield ctx.callActivity("bill");
        resumed = true;
        yield ctx.callActivity("ship");
      },
      { name: "w" },
    );
    const past = [...started("w"), h.taskScheduled(1, "charge")];
    const result = executeWorkflow(
      { instanceId: INSTANCE, pastEvents: past, newEvents: [h.workflowStarted(at(1)), h.taskCompleted(1)] },
      reg,
    );
    expect(kinds(result)).toEqual(["completeWorkflow"]);
    expect(resumed).toBe(false);
    expect(result.actions[0]?.id).toBe(2);
  });

  it("the failure details carry the NonDeterminismError's stack", () => {
    const c = cases[0] as Case;
    const done = onlyCompletion(runCase(c));
    expect(done.failureDetails?.stackTrace).toContain("NonDeterminismError");
  });
});
