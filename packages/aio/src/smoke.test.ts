import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import type { AsyncWorkflowContext } from "./context.js";
import { at, completion, h, kinds, registry, run, started } from "./testing/histories.js";
import { replay } from "./turn.js";
import { defineAsyncWorkflow } from "./workflow.js";

describe("async workflow smoke", () => {
  it("chains two activities and completes", async () => {
    const reg = registry({
      seq: async (ctx: AsyncWorkflowContext, name: string) => {
        const a = await ctx.callActivity<string>("hello", { input: name });
        const b = await ctx.callActivity<string>("hello", { input: a });
        return [a, b];
      },
    });
    const t1 = await run(reg, [], started("seq", "x"));
    expect(kinds(t1)).toEqual(["scheduleTask"]);
    const past = [...started("seq", "x"), h.taskScheduled(1, "hello")];
    const t2 = await run(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(1, '"A"')]);
    expect(kinds(t2)).toEqual(["scheduleTask"]);
    expect(t2.actions[0]?.id).toBe(2);
    const past2 = [...past, h.workflowStarted(at(1)), h.taskCompleted(1, '"A"'), h.taskScheduled(2, "hello")];
    const done = completion(await run(reg, past2, [h.taskCompleted(2, '"B"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe('["A","B"]');
  });

  it("reports a foreign await with its location", async () => {
    const reg = registry({
      bad: async (ctx: AsyncWorkflowContext) => {
        await new Promise((r) => setTimeout(r, 5));
        return ctx.instanceId;
      },
    });
    const done = completion(await run(reg, [], started("bad")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("ForeignAwaitError");
    expect(done.failureDetails?.errorMessage).toMatch(/smoke\.test\.ts:\d+:\d+/);
  });

  it("replay() checks a saved history against async code and names the divergence", async () => {
    const events = [
      ...started("seq", "x"),
      h.taskScheduled(1, "hello"),
      h.workflowStarted(at(1)),
      h.taskCompleted(1, '"A"'),
      h.executionCompleted(2, OrchestrationStatus.COMPLETED, '"A"'),
    ];
    const same = defineAsyncWorkflow("seq", async (ctx, name: string) =>
      ctx.callActivity<string>("hello", { input: name }),
    );
    const ok = await replay(events, same);
    expect(ok.ok).toBe(true);
    const changed = defineAsyncWorkflow("seq", async (ctx) => {
      await ctx.sleep(1);
      return "A";
    });
    const report = await replay(events, changed);
    expect(report.ok).toBe(false);
    expect(report.divergences[0]?.expected).toBe("callActivity('hello')");
    expect(report.divergences[0]?.location).toMatch(/smoke\.test\.ts:\d+:\d+/);
  });

  it("runs an `async function*` workflow (durabletask-js style): each yield gives back the task's result", async () => {
    const reg = registry({
      gen: async function* (ctx: { callActivity: (n: string) => unknown }) {
        const a = (yield ctx.callActivity("hello")) as string;
        return `${a}!`;
      },
    });
    expect(kinds(await run(reg, [], started("gen")))).toEqual(["scheduleTask"]);
    const done = completion(
      await run(reg, [...started("gen"), h.taskScheduled(1, "hello")], [h.taskCompleted(1, '"A"')]),
    );
    expect(done.result).toBe('"A!"');
  });
});
