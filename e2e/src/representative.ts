// A representative subset of the scenarios (chain, fan-out, external event, timer, a ~2 MiB payload), declared once
// and run wherever the way of reaching the sidecar is what is under test: each transport (transports.test.ts) and a
// Unix socket (unix-socket.test.ts). The full scenario suites stay in scenarios/; these cover one of each kind of
// traffic: unary calls, the work-item stream, long polls, durable timers and messages spanning many HTTP/2 frames.
import type { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow, whenAll } from "@dt/core";
import { expect, it } from "vitest";
import { type Registrations, statusOf, uniqueId } from "./fixture.js";

const hello = defineActivity("rep.hello", (_ctx, name: string) => `Hello ${name}!`);
const chain = defineWorkflow("rep.chain", function* (ctx, names: string[]) {
  const out: string[] = [];
  for (const name of names) out.push(yield* ctx.callActivity(hello, { input: name }));
  return out;
});

const square = defineActivity("rep.square", (_ctx, n: number) => n * n);
const fanOut = defineWorkflow("rep.fanOut", function* (ctx, count: number) {
  const squares = yield* whenAll(Array.from({ length: count }, (_, i) => ctx.callActivity(square, { input: i + 1 })));
  return squares.reduce((a, b) => a + b, 0);
});

const approval = defineWorkflow("rep.approval", function* (ctx) {
  const by = yield* ctx.waitForExternalEvent<string>("approve");
  return `approved by ${by}`;
});

const timer = defineWorkflow("rep.timer", function* (ctx) {
  const before = ctx.currentUtcDateTime.getTime();
  yield* ctx.createTimer(1);
  return ctx.currentUtcDateTime.getTime() - before;
});

/** `length` characters of a fixed pattern: the activity's result, and what the test expects back. */
export function blob(length: number): string {
  const unit = "0123456789abcdefghijklmnopqrstuvwxyz";
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}
const makeBlob = defineActivity("rep.makeBlob", (_ctx, length: number) => blob(length));
// The result comes back in the next work item's history and goes out again as the workflow's output: ~2 MiB each
// way on the work-item stream, a completion and a read, while every message stays under gRPC's usual 4 MiB.
const large = defineWorkflow("rep.large", function* (ctx, length: number) {
  return yield* ctx.callActivity(makeBlob, { input: length });
});

/** A ~2 MiB payload. */
export const LARGE_BYTES = 2 * 1024 * 1024;

/** What the worker of a suite running `representativeScenarios` registers. */
export const REPRESENTATIVE: Registrations = {
  workflows: [chain, fanOut, approval, timer, large],
  activities: [hello, square, makeBlob],
};

/** The names of the subset's workflows, for callers that start them by name (the CLI, the Dapr facade). */
export const REPRESENTATIVE_WORKFLOWS = { chain: chain.name, approval: approval.name };

/** Runs the chain and checks its output: a quick end-to-end check of one way of reaching the sidecar. */
export async function runChain(client: TaskHubGrpcClient, names: readonly string[] = ["Ada", "Grace"]): Promise<void> {
  const id = await client.scheduleNewOrchestration(chain, { input: [...names], instanceId: uniqueId("rep-chain") });
  const state = await client.waitForOrchestrationCompletion(id, { timeout: 30 });
  expect(state.status).toBe("COMPLETED");
  expect(state.output).toEqual(names.map((name) => `Hello ${name}!`));
}

/**
 * Declares the subset's tests (concurrent) against `fx.client`, inside a suite whose worker registered
 * `REPRESENTATIVE`.
 */
export function representativeScenarios(fx: { readonly client: TaskHubGrpcClient }): void {
  it.concurrent("chain: three activities in sequence", async () => {
    await runChain(fx.client, ["Tokyo", "Seattle", "London"]);
  });

  it.concurrent("fan-out: 20 activities at once, then their sum", async ({ expect }) => {
    const id = await fx.client.scheduleNewOrchestration(fanOut, { input: 20, instanceId: uniqueId("rep-fan") });
    const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toBe(2870);
  });

  it.concurrent("external event: raised by the client, delivered to the waiting workflow", async ({ expect }) => {
    const id = await fx.client.scheduleNewOrchestration(approval, { instanceId: uniqueId("rep-event") });
    await statusOf(fx.client, id, "RUNNING");
    await fx.client.raiseOrchestrationEvent(id, "approve", "Ada");
    const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toBe("approved by Ada");
  });

  it.concurrent("timer: a 1 s durable timer fires", async ({ expect }) => {
    const id = await fx.client.scheduleNewOrchestration(timer, { instanceId: uniqueId("rep-timer") });
    const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toBeGreaterThanOrEqual(1000);
  });

  it.concurrent("large payload: a ~2 MiB result through the stream, a completion and a read", async ({ expect }) => {
    const id = await fx.client.scheduleNewOrchestration(large, { input: LARGE_BYTES, instanceId: uniqueId("rep-big") });
    const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 60 });
    expect(state.status).toBe("COMPLETED");
    // Compared as a whole but reported briefly: a 2 MiB diff would drown the log.
    const output = state.output as string;
    expect(output.length).toBe(LARGE_BYTES);
    expect(output === blob(LARGE_BYTES)).toBe(true);
  });
}
