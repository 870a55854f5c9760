import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import type { WorkflowContext } from "./context.js";
import { defineActivity, defineWorkflow } from "./definitions.js";
import { executeWorkflow } from "./engine.js";
import { at, h, INSTANCE, kinds, onlyCompletion, registry, run, START, started } from "./testing/golden.js";

const hello = defineActivity("hello", (_ctx, name: string) => `Hello ${name}!`);
const sequence = defineWorkflow("sequence", function* (ctx: WorkflowContext) {
  const a = yield* ctx.callActivity(hello, { input: "Tokyo" });
  const b = yield* ctx.callActivity(hello, { input: "Seattle" });
  return [a, b];
});

describe("engine smoke", () => {
  it("schedules, replays and completes a chain", () => {
    const reg = registry({ sequence: sequence.run }, { hello: hello.run });
    const t1 = run(reg, [], started("sequence"));
    expect(kinds(t1)).toEqual(["scheduleTask"]);
    const a1 = t1.actions[0];
    expect(a1?.id).toBe(1);
    const past = [...started("sequence"), h.taskScheduled(1, "hello", '"Tokyo"')];
    const t2 = run(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(1, '"Hello Tokyo!"')]);
    expect(kinds(t2)).toEqual(["scheduleTask"]);
    expect(t2.actions[0]?.id).toBe(2);
    const past2 = [
      ...past,
      h.workflowStarted(at(1)),
      h.taskCompleted(1, '"Hello Tokyo!"'),
      h.taskScheduled(2, "hello"),
    ];
    const done = onlyCompletion(run(reg, past2, [h.taskCompleted(2, '"Hello Seattle!"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('["Hello Tokyo!","Hello Seattle!"]');
    expect(done.id).toBe(3);
  });

  it("newGuid matches the Dapr Python golden vectors", () => {
    const guids: string[] = [];
    const reg = registry({
      g: (ctx: WorkflowContext) => {
        guids.push(ctx.newGuid(), ctx.newGuid(), ctx.newGuid());
        return null;
      },
    });
    run(reg, [], started("g"));
    expect(guids).toEqual([
      "d201625a-bf91-5de9-ac50-56fdd12ee499",
      "aaa1fb15-9c1b-53af-8cab-762babdc6589",
      "19610921-6010-5403-a8bf-115e1984981d",
    ]);
    expect(INSTANCE).toBe("abc123");
    expect(START.toISOString()).toBe("2020-01-01T12:00:00.000Z");
  });
});

describe("engine request checks", () => {
  const reg = registry({ sequence: sequence.run }, { hello: hello.run });
  it("refuses a turn without new events", () => {
    expect(() => run(reg, started("sequence"), [])).toThrow(/no new events/);
  });
  it("refuses an unresolved stateful-history delta with HISTORY_UNAVAILABLE", () => {
    expect(() =>
      executeWorkflow(
        { instanceId: INSTANCE, pastEvents: [], newEvents: started("sequence"), cachedHistory: { eventCount: 3 } },
        reg,
      ),
    ).toThrow(expect.objectContaining({ code: "HISTORY_UNAVAILABLE" }));
  });
});

describe("sidecar limits", () => {
  const sender = defineWorkflow("sender", (ctx: WorkflowContext) => {
    ctx.sendEvent("other", "ping", { n: 1 });
    return "sent";
  });
  const catching = defineWorkflow("catching", (ctx: WorkflowContext) => {
    try {
      ctx.sendEvent("other", "ping");
      return "sent";
    } catch (error) {
      return (error as { code?: string }).code;
    }
  });
  const reg = registry({ sender, catching });

  it("sendEvent throws UnsupportedBySidecarError where the sidecar cannot deliver it: the workflow fails at the call", () => {
    const limits = { sendEvent: "daprd 1.18.3 does not deliver events between workflows" };
    const done = onlyCompletion(run(reg, [], started("sender"), { sidecarLimits: limits }));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("UnsupportedBySidecarError");
    expect(done.failureDetails?.errorMessage).toBe(
      "sendEvent('ping') is not supported here: daprd 1.18.3 does not deliver events between workflows. " +
        "Raise the event from a client or an activity instead.",
    );
    expect(done.failureDetails?.stackTrace).toMatch(/engine\.test\.ts:\d+/);
    // Caught like any error, with its stable code.
    expect(onlyCompletion(run(reg, [], started("catching"), { sidecarLimits: limits })).result).toBe(
      '"UNSUPPORTED_BY_SIDECAR"',
    );
  });

  it("an activity input over the sidecar's limit throws UnsupportedBySidecarError at the call; one within it is sent", () => {
    const big = defineWorkflow("big", function* (ctx, size: number) {
      return yield* ctx.callActivity("echo", { input: "é".repeat(size) });
    });
    const limits = { activityInput: { maxBytes: 1000, reason: "a test limit" } };
    const reg2 = registry({ big });
    const over = onlyCompletion(run(reg2, [], started("big", 600), { sidecarLimits: limits })); // 1,202 bytes
    expect(over.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(over.failureDetails?.errorType).toBe("UnsupportedBySidecarError");
    expect(over.failureDetails?.errorMessage).toMatch(
      /^callActivity\('echo'\) is not supported here: its input is 1202 bytes, over the 1000 this sidecar can schedule \(a test limit\)/,
    );
    expect(kinds(run(reg2, [], started("big", 400), { sidecarLimits: limits }))).toEqual(["scheduleTask"]);
  });

  it("without limits, sendEvent is an action as before", () => {
    expect(kinds(run(reg, [], started("sender")))).toEqual(["sendEvent", "completeWorkflow"]);
  });
});
