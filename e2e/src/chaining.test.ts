import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow } from "@dt/core";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeSidecars } from "./harness.js";

const hello = defineActivity("hello", (_ctx, name: string) => `Hello ${name}!`);
const sequence = defineWorkflow("sequence", function* (ctx) {
  const cities = ["Tokyo", "Seattle", "London"];
  const out: string[] = [];
  for (const city of cities) out.push(yield* ctx.callActivity(hello, { input: city }));
  return out;
});

describeSidecars("chaining", (sidecar) => {
  let worker: TaskHubGrpcWorker;
  let client: TaskHubGrpcClient;
  beforeAll(async () => {
    worker = new TaskHubGrpcWorker({ address: sidecar().address, useEnvironment: false });
    worker.addWorkflow(sequence).addActivity(hello);
    await worker.start();
    await worker.waitForReady({ timeoutMs: 10_000 });
    client = new TaskHubGrpcClient({ address: sidecar().address, useEnvironment: false });
  });
  afterAll(async () => {
    await worker?.stop();
    client?.close();
  });

  it("runs an activity chain to completion", async () => {
    const id = await client.scheduleNewOrchestration(sequence);
    const state = await client.waitForOrchestrationCompletion(id, { timeout: 20 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toEqual(["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
  });
});
