import { defineActivity, defineWorkflow } from "@dt/core";
import { expect, it } from "vitest";
import { describeScenarios } from "./fixture.js";

const hello = defineActivity("hello", (_ctx, name: string) => `Hello ${name}!`);
const sequence = defineWorkflow("sequence", function* (ctx) {
  const cities = ["Tokyo", "Seattle", "London"];
  const out: string[] = [];
  for (const city of cities) out.push(yield* ctx.callActivity(hello, { input: city }));
  return out;
});

describeScenarios("chaining", { workflows: [sequence], activities: [hello] }, (fx) => {
  it("runs an activity chain to completion", async () => {
    const id = await fx.client.scheduleNewOrchestration(sequence);
    const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 20 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toEqual(["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
  });
});
