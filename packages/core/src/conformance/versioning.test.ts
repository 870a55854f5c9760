// Workflow versioning at the executor level: isPatched (durabletask-go v0.14.0 tests/orchestrations_test.go
// Test_WorkflowPatching_*, replayed turn by turn) and named versions (Dapr Python registry semantics, §2.9 of
// seed_python.md). A turn's true patch decisions come back in result.version.patches; the sidecar records them in
// that turn's WorkflowStarted event, which is what the next turn's history shows.
import type { HistoryEvent } from "@dt/proto";
import { describe, expect, it } from "vitest";
import type { WorkflowContext } from "../context.js";
import { defineWorkflow } from "../definitions.js";
import type { WorkflowResult } from "../engine.js";
import { OrchestrationStatus } from "../history.js";
import { Registry } from "../registry.js";
import { at, h, INSTANCE, kinds, onlyCompletion, registry, run, START, started } from "../testing/golden.js";

const patchesOf = (result: WorkflowResult) => result.version?.patches ?? [];

/** WorkflowStarted + ExecutionStarted, with the version the sidecar recorded for the first turn. */
function startedWith(name: string, version: { patches?: string[]; name?: string }): HistoryEvent[] {
  return [h.workflowStarted(START, version), h.executionStarted(name, INSTANCE)];
}

describe("isPatched (Go semantics)", () => {
  // go: Test_WorkflowPatching_DefaultToPatched
  it("a new instance is patched, and the patch is reported", () => {
    const found: boolean[] = [];
    const reg = registry({
      Workflow: (ctx: WorkflowContext) => {
        found.push(ctx.isPatched("patch1"));
        return null;
      },
    });
    const result = run(reg, [], started("Workflow"));
    expect(found).toEqual([true]);
    expect(onlyCompletion(result).workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(patchesOf(result)).toEqual(["patch1"]);
  });

  // go: Test_WorkflowPatching_RunUnpatchedVersion
  it("an instance started by code without the patch replays the unpatched branch", () => {
    const found: boolean[] = [];
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        const patched = ctx.isPatched("patch1");
        found.push(patched);
        yield ctx.callActivity(patched ? "SayHelloV2" : "SayHello");
        return null;
      },
    });
    // Turn 1 ran the old code (no isPatched), which scheduled SayHello.
    const past = [...started("Workflow"), h.taskScheduled(1, "SayHello")];
    const result = run(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(1, '"Hello"')]);
    expect(found).toEqual([false]);
    expect(onlyCompletion(result).workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(patchesOf(result)).toEqual([]);
  });

  it("a new instance takes the patched branch of the same code", () => {
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        yield ctx.callActivity(ctx.isPatched("patch1") ? "SayHelloV2" : "SayHello");
        return null;
      },
    });
    const result = run(reg, [], started("Workflow"));
    expect(result.actions.map((a) => a.workflowActionType.value)).toMatchObject([{ name: "SayHelloV2" }]);
    expect(patchesOf(result)).toEqual(["patch1"]);
  });

  // go: Test_WorkflowPatching_MultiplePatches
  it("a patch added mid-flight is false where history predates it and true past the last event", () => {
    const found1: boolean[] = [];
    const found2: boolean[] = [];
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        found1.push(ctx.isPatched("patch1"));
        yield ctx.callActivity("SayHello");
        found2.push(ctx.isPatched("patch2"));
        yield ctx.callActivity("SayHello");
        return null;
      },
    });
    // Turn 1 ran code that had neither check.
    const turn1 = [...started("Workflow"), h.taskScheduled(1, "SayHello")];
    const second = run(reg, turn1, [h.workflowStarted(at(1)), h.taskCompleted(1, '"Hello"')]);
    expect(kinds(second)).toEqual(["scheduleTask"]);
    expect(patchesOf(second)).toEqual(["patch2"]);

    const turn2 = [
      h.workflowStarted(at(1), { patches: ["patch2"] }),
      h.taskCompleted(1, '"Hello"'),
      h.taskScheduled(2, "SayHello"),
    ];
    const third = run(reg, [...turn1, ...turn2], [h.workflowStarted(at(2)), h.taskCompleted(2, '"Hello"')]);
    expect(onlyCompletion(third).workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(found1).toEqual([false, false]);
    expect(found2).toEqual([true, true]);
    expect(patchesOf(third)).toEqual(["patch2"]);
  });

  // go: Test_WorkflowPatching_ContinueAsNewDoNotCarryOverChoices
  it("continue-as-new does not carry patch decisions into the new execution", () => {
    const found: boolean[] = [];
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext, input: string | undefined) {
        found.push(ctx.isPatched("patch1"));
        yield ctx.callActivity("SayHello");
        if (input !== "second") ctx.continueAsNew("second");
        return null;
      },
    });
    // Generation 1, turn 1 ran old code; turn 2 runs the new code while replaying.
    const gen1 = [...started("Workflow"), h.taskScheduled(1, "SayHello")];
    const restarted = onlyCompletion(run(reg, gen1, [h.workflowStarted(at(1)), h.taskCompleted(1, '"Hello"')]));
    expect(restarted.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    // Generation 2 starts fresh: patched.
    const gen2Start = [h.workflowStarted(at(1)), h.executionStarted("Workflow", INSTANCE, restarted.result)];
    const first = run(reg, [], gen2Start);
    expect(patchesOf(first)).toEqual(["patch1"]);
    const gen2 = [
      h.workflowStarted(at(1), { patches: ["patch1"] }),
      h.executionStarted("Workflow", INSTANCE, restarted.result),
      h.taskScheduled(1, "SayHello"),
    ];
    const done = onlyCompletion(run(reg, gen2, [h.workflowStarted(at(2)), h.taskCompleted(1, '"Hello"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(found).toEqual([false, true, true]);
  });

  // go: Test_WorkflowPatching_PatchPersistsAcrossReplays
  it("once patched, the patch stays true on every later replay (it is in history)", () => {
    const results: boolean[] = [];
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        for (let i = 0; i < 3; i++) {
          results.push(ctx.isPatched("patch1"));
          yield ctx.callActivity("SayHello");
        }
        return null;
      },
    });
    const t1 = run(reg, [], started("Workflow"));
    expect(patchesOf(t1)).toEqual(["patch1"]);
    const turn1 = [...startedWith("Workflow", { patches: ["patch1"] }), h.taskScheduled(1, "SayHello")];
    const t2 = run(reg, turn1, [h.workflowStarted(at(1)), h.taskCompleted(1, "null")]);
    const turn2 = [
      h.workflowStarted(at(1), { patches: ["patch1"] }),
      h.taskCompleted(1, "null"),
      h.taskScheduled(2, "SayHello"),
    ];
    const t3 = run(reg, [...turn1, ...turn2], [h.workflowStarted(at(2)), h.taskCompleted(2, "null")]);
    const turn3 = [
      h.workflowStarted(at(2), { patches: ["patch1"] }),
      h.taskCompleted(2, "null"),
      h.taskScheduled(3, "SayHello"),
    ];
    const t4 = run(reg, [...turn1, ...turn2, ...turn3], [h.workflowStarted(at(3)), h.taskCompleted(3, "null")]);
    expect(kinds(t2)).toEqual(["scheduleTask"]);
    expect(kinds(t3)).toEqual(["scheduleTask"]);
    expect(onlyCompletion(t4).workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    // 1 + 2 + 3 + 3 checks, every one of them true; each turn reports the patch once (memoised).
    expect(results).toEqual(Array(9).fill(true));
    expect(patchesOf(t4)).toEqual(["patch1"]);
  });

  // go: Test_WorkflowPatching_PatchRemembersToStayFalse
  it("a patch decided false stays false for the rest of the turn, even past the last event", () => {
    const later: boolean[] = [];
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        ctx.isPatched("patch1");
        yield ctx.callActivity("SayHello");
        later.push(ctx.isPatched("patch1"));
        yield ctx.callActivity("SayHello");
        return null;
      },
    });
    // Turn 1 ran code without the first check.
    const turn1 = [...started("Workflow"), h.taskScheduled(1, "SayHello")];
    const second = run(reg, turn1, [h.workflowStarted(at(1)), h.taskCompleted(1, "null")]);
    expect(kinds(second)).toEqual(["scheduleTask"]);
    expect(patchesOf(second)).toEqual([]);
    const turn2 = [h.workflowStarted(at(1)), h.taskCompleted(1, "null"), h.taskScheduled(2, "SayHello")];
    const third = run(reg, [...turn1, ...turn2], [h.workflowStarted(at(2)), h.taskCompleted(2, "null")]);
    expect(onlyCompletion(third).workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(later).toEqual([false, false]);
    expect(patchesOf(third)).toEqual([]);
  });

  it("reports only true decisions, in the order they were taken", () => {
    const reg = registry({
      Workflow: function* (ctx: WorkflowContext) {
        ctx.isPatched("old");
        yield ctx.callActivity("SayHello");
        ctx.isPatched("b");
        ctx.isPatched("a");
        ctx.isPatched("b");
        return null;
      },
    });
    const past = [...started("Workflow"), h.taskScheduled(1, "SayHello")];
    const result = run(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(1, "null")]);
    expect(patchesOf(result)).toEqual(["b", "a"]);
  });
});

describe("named versions", () => {
  const calls: string[] = [];
  const version = (v: string) =>
    defineWorkflow(
      "wf",
      function* (ctx: WorkflowContext) {
        calls.push(v);
        yield ctx.callActivity(`act-${v}`);
        return v;
      },
      { version: v, isLatest: v === "v2" },
    );
  const versioned = () =>
    new Registry().addWorkflow(version("v1")).addWorkflow(version("v2")).addWorkflow(version("v3"));

  // python: test_registry_add_named_versioned_orchestrators (no version → the latest)
  it("a new instance runs the latest version and reports its name", () => {
    calls.length = 0;
    const result = run(versioned(), [], started("wf"));
    expect(calls).toEqual(["v2"]);
    expect(result.actions.map((a) => a.workflowActionType.value)).toMatchObject([{ name: "act-v2" }]);
    expect(result.version?.name).toBe("v2");
  });

  it("the version recorded in WorkflowStarted picks the code that runs", () => {
    calls.length = 0;
    const past = [...startedWith("wf", { name: "v1" }), h.taskScheduled(1, "act-v1")];
    const done = onlyCompletion(run(versioned(), past, [h.workflowStarted(at(1)), h.taskCompleted(1, "null")]));
    expect(calls).toEqual(["v1"]);
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('"v1"');
  });

  it("reports the version name that ran", () => {
    const result = run(versioned(), [], startedWith("wf", { name: "v3" }));
    expect(result.actions.map((a) => a.workflowActionType.value)).toMatchObject([{ name: "act-v3" }]);
    expect(result.version?.name).toBe("v3");
  });

  it("an unknown version yields exactly one workflowVersionNotAvailable action", () => {
    calls.length = 0;
    const result = run(versioned(), [], startedWith("wf", { name: "v9" }));
    expect(kinds(result)).toEqual(["workflowVersionNotAvailable"]);
    expect(calls).toEqual([]);
  });

  it("an unknown version stops the turn: later events are not applied", () => {
    const result = run(
      versioned(),
      [...startedWith("wf", { name: "v9" }), h.taskScheduled(1, "act-v9")],
      [h.workflowStarted(at(1)), h.taskCompleted(1, "null"), h.executionTerminated('"stop"')],
    );
    expect(kinds(result)).toEqual(["workflowVersionNotAvailable"]);
  });

  it("an unversioned registration wins over every version, whatever history recorded", () => {
    const reg = versioned().addWorkflow(defineWorkflow("wf", () => "unversioned"));
    expect(onlyCompletion(run(reg, [], started("wf"))).result).toBe('"unversioned"');
    expect(onlyCompletion(run(reg, [], startedWith("wf", { name: "v1" }))).result).toBe('"unversioned"');
    expect(onlyCompletion(run(reg, [], startedWith("wf", { name: "v9" }))).result).toBe('"unversioned"');
  });

  it("an unregistered workflow fails with WorkflowNotRegisteredError", () => {
    const done = onlyCompletion(run(versioned(), [], started("other")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("WorkflowNotRegisteredError");
    expect(done.failureDetails?.errorMessage).toContain("'other'");
  });

  it("version name and patches are reported together", () => {
    const reg = new Registry().addWorkflow(
      defineWorkflow("wf", (ctx: WorkflowContext) => (ctx.isPatched("p") ? "patched" : "old"), {
        version: "v1",
        isLatest: true,
      }),
    );
    const result = run(reg, [], started("wf"));
    expect(onlyCompletion(result).result).toBe('"patched"');
    expect(result.version?.name).toBe("v1");
    expect(result.version?.patches).toEqual(["p"]);
  });
});
