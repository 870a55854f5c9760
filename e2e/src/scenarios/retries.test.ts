// Retry policies: activity and child retries, non-retryable errors, the deterministic retry timeout and
// the task execution id that stays the same across attempts.
import { defineActivity, defineWorkflow, NonRetryableError, RetryPolicy, whenAll } from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { it } from "vitest";
import { describeScenarios, Recorder, uniqueId } from "../fixture.js";

const fast = { maxNumberOfAttempts: 3, firstRetryInterval: 0.05 } as const;

// Python's test_retry_policies: a parent retries a child that retries an always-failing activity.
const explodeCalls = new Recorder();
const childRuns = new Recorder();
const alwaysExplodes = defineActivity("retries-alwaysExplodes", (_ctx, rootId: string) => {
  explodeCalls.add(rootId, true);
  throw new Error("Kah-BOOOOM!!!");
});
const retryingChild = defineWorkflow("retries-child", function* (ctx, rootId: string) {
  if (!ctx.isReplaying) childRuns.add(rootId, true);
  yield ctx.callActivity(alwaysExplodes, { input: rootId, retryPolicy: fast });
});
const retryingParent = defineWorkflow("retries-parent", function* (ctx) {
  yield ctx.callChildWorkflow(retryingChild, { input: ctx.instanceId, retryPolicy: new RetryPolicy(fast) });
});

const nonRetryableCalls = new Recorder();
class QuotaExceededError extends Error {}
const refuses = defineActivity("retries-refuses", (ctx, kind: "nonRetryable" | "listed") => {
  nonRetryableCalls.add(ctx.instanceId, true);
  if (kind === "nonRetryable") throw new NonRetryableError("do not try again");
  throw new QuotaExceededError("quota exceeded");
});
const callsRefuses = defineWorkflow("retries-callsRefuses", function* (ctx, kind: "nonRetryable" | "listed") {
  yield ctx.callActivity(refuses, {
    input: kind,
    retryPolicy: { ...fast, maxNumberOfAttempts: 5, nonRetryableErrorTypes: [QuotaExceededError] },
  });
});

// Python's test_retry_timeout, deterministic: delays 1 + 2 + 4 = 7 s, the next (8 s) would pass 13 s.
const timeoutCalls = new Recorder();
const failsForTimeout = defineActivity("retries-failsForTimeout", (ctx) => {
  timeoutCalls.add(ctx.instanceId, true);
  throw new Error("still failing");
});
const retryTimeout = defineWorkflow("retries-timeout", function* (ctx) {
  yield ctx.callActivity(failsForTimeout, {
    retryPolicy: { maxNumberOfAttempts: 5, firstRetryInterval: 1, backoffCoefficient: 2, retryTimeout: 13 },
  });
});

// durabletask-go's Test_Grpc_ActivityRetries and Test_Grpc_ChildWorkflowRetries.
const failCalls = new Recorder();
const failActivity = defineActivity("retries-failActivity", (ctx) => {
  failCalls.add(ctx.instanceId, true);
  throw new Error("activity failure");
});
const activityRetries = defineWorkflow("retries-activityRetries", function* (ctx) {
  yield ctx.callActivity(failActivity, { retryPolicy: { maxNumberOfAttempts: 3, firstRetryInterval: 0.01 } });
});
const failingChildRuns = new Recorder();
const failingChild = defineWorkflow("retries-failingChild", (ctx) => {
  if (!ctx.isReplaying) failingChildRuns.add(ctx.instanceId, true);
  throw new Error("Child failed");
});
const childRetries = defineWorkflow("retries-childRetries", function* (ctx) {
  yield ctx.callChildWorkflow(failingChild, {
    instanceId: `${ctx.instanceId}_child`,
    retryPolicy: { maxNumberOfAttempts: 3, firstRetryInterval: 0.01, backoffCoefficient: 2 },
  });
});

// Test_TaskExecutionId: the id an activity sees is the same on every attempt of one call.
const executionIds = new Recorder<string>();
const flaky = defineActivity("retries-flaky", (ctx, input: { key: string; failures: number }) => {
  const key = `${ctx.instanceId}/${input.key}`;
  const attempt = executionIds.add(key, ctx.taskExecutionId);
  if (attempt <= input.failures) throw new Error(`attempt ${attempt} fails`);
  return `${input.key} ok after ${attempt}`;
});
const stableExecutionId = defineWorkflow("retries-stableExecutionId", function* (ctx) {
  const first = yield* ctx.callActivity(flaky, { input: { key: "first", failures: 2 }, retryPolicy: fast });
  const second = yield* ctx.callActivity(flaky, { input: { key: "second", failures: 0 }, retryPolicy: fast });
  return [first, second];
});
const retriesInWhenAll = defineWorkflow("retries-inWhenAll", function* (ctx) {
  return yield* whenAll(
    ["a", "b", "c"].map((key) => ctx.callActivity(flaky, { input: { key, failures: 1 }, retryPolicy: fast })),
  );
});

function timerOrigins(events: readonly HistoryEvent[]): (string | undefined)[] {
  return events.flatMap((e) => (e.eventType.case === "timerCreated" ? [e.eventType.value.origin.case] : []));
}

describeScenarios(
  "scenarios: retries",
  {
    workflows: [
      retryingChild,
      retryingParent,
      callsRefuses,
      retryTimeout,
      activityRetries,
      failingChild,
      childRetries,
      stableExecutionId,
      retriesInWhenAll,
    ],
    activities: [alwaysExplodes, refuses, failsForTimeout, failActivity, flaky],
  },
  (fx) => {
    it.concurrent("a retried child retries its activity: 3 children × 3 attempts", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(retryingParent, { instanceId: uniqueId("nested-retry") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 45 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.errorType).toBe("TaskFailedError");
      expect(state.failureDetails?.message).toMatch(/^Child workflow 'retries-child' \(task #\d+\) failed: /);
      expect(state.failureDetails?.message).toMatch(/failed: Kah-BOOOOM!!!$/);
      expect(state.failureDetails?.stackTrace).toBeTruthy();
      expect(explodeCalls.count(id)).toBe(9);
      expect(childRuns.count(id)).toBe(3);
    });

    it.concurrent("NonRetryableError fails at once, whatever the policy", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(callsRefuses, {
        input: "nonRetryable",
        instanceId: uniqueId("non-retryable"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.cause?.errorType).toBe("NonRetryableError");
      expect(state.failureDetails?.cause?.isNonRetriable).toBe(true);
      expect(nonRetryableCalls.count(id)).toBe(1);
    });

    it.concurrent("an error class listed in nonRetryableErrorTypes fails at once", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(callsRefuses, {
        input: "listed",
        instanceId: uniqueId("listed"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.cause?.errorType).toBe("QuotaExceededError");
      expect(nonRetryableCalls.count(id)).toBe(1);
    });

    it.concurrent("retry timeout is counted from the policy's delays: exactly 4 attempts", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(retryTimeout, { instanceId: uniqueId("retry-timeout") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 50 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.message).toContain("still failing");
      expect(timeoutCalls.count(id)).toBe(4);
      const origins = timerOrigins(await fx.client.getOrchestrationHistory(id));
      expect(origins).toEqual(["activityRetry", "activityRetry", "activityRetry"]);
    }, 60_000);

    it.concurrent("retries an activity 3 times on durable retry timers, then fails", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(activityRetries, {
        instanceId: uniqueId("activity-retries"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.isTerminal).toBe(true);
      expect(failCalls.count(id)).toBe(3);
      const history = await fx.client.getOrchestrationHistory(id);
      expect(timerOrigins(history)).toEqual(["activityRetry", "activityRetry"]);
      expect(history.filter((e) => e.eventType.case === "taskFailed")).toHaveLength(3);
    });

    it.concurrent("retries a child workflow with a fixed instance id 3 times, then fails", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(childRetries, { instanceId: uniqueId("child-retries") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.message).toContain("Child failed");
      expect(failingChildRuns.count(`${id}_child`)).toBe(3);
      const history = await fx.client.getOrchestrationHistory(id);
      expect(timerOrigins(history)).toEqual(["childWorkflowRetry", "childWorkflowRetry"]);
      const child = await fx.client.getOrchestrationState(`${id}_child`);
      expect(child?.status).toBe("FAILED");
    });

    it.concurrent("keeps the task execution id stable across the attempts of one call", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(stableExecutionId, { instanceId: uniqueId("exec-id") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual(["first ok after 3", "second ok after 1"]);
      const first = executionIds.get(`${id}/first`);
      const second = executionIds.get(`${id}/second`);
      expect(first).toHaveLength(3);
      expect(first[0]).toBeTruthy();
      expect(new Set(first).size).toBe(1);
      expect(second).toHaveLength(1);
      expect(second[0]).toBeTruthy();
      expect(second[0]).not.toBe(first[0]);
    });

    it.concurrent("retries inside whenAll without failing the composite", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(retriesInWhenAll, { instanceId: uniqueId("when-all") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual(["a ok after 2", "b ok after 2", "c ok after 2"]);
    });
  },
);
