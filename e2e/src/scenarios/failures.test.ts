// Failures: activity errors and compensation, unregistered names, custom error classes, failure details.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineActivity, defineWorkflow, TaskFailedError } from "@dt/core";
import { it } from "vitest";
import { describeScenarios, Recorder, uniqueId } from "../fixture.js";

const compensations = new Recorder<string>();
const explode = defineActivity("failures-explode", () => {
  throw new Error("Kah-BOOOOM!!!");
});
const compensate = defineActivity("failures-compensate", (ctx, step: string) => {
  compensations.add(ctx.instanceId, step);
  return step;
});
const withCompensation = defineWorkflow("failures-compensation", function* (ctx) {
  try {
    yield ctx.callActivity(explode);
    return "no error";
  } catch (error) {
    if (!(error instanceof TaskFailedError)) throw error;
    yield ctx.callActivity(compensate, { input: "undo-1" });
    yield ctx.callActivity(compensate, { input: "undo-2" });
    return error.details.message;
  }
});

const uncaught = defineWorkflow("failures-uncaught", function* (ctx) {
  yield ctx.callActivity(explode);
});

class InventoryError extends Error {}
class PaymentDeclinedError extends Error {
  override name = "PaymentDeclinedError";
}
const reserve = defineActivity("failures-reserve", (_ctx, which: "inventory" | "payment") => {
  if (which === "inventory") throw new InventoryError("out of stock");
  throw new PaymentDeclinedError("card declined");
});
const customErrors = defineWorkflow("failures-customErrors", function* (ctx, which: "inventory" | "payment") {
  try {
    yield ctx.callActivity(reserve, { input: which });
    return undefined;
  } catch (error) {
    if (!(error instanceof TaskFailedError)) throw error;
    return { errorType: error.details.errorType, message: error.details.message, kind: error.taskKind };
  }
});
const customErrorUncaught = defineWorkflow("failures-customErrorUncaught", function* (ctx) {
  yield ctx.callActivity(reserve, { input: "inventory" });
});

const callsUnregistered = defineWorkflow("failures-callsUnregistered", function* (ctx) {
  try {
    yield ctx.callActivity("failures-no-such-activity", { input: 1 });
    return undefined;
  } catch (error) {
    if (!(error instanceof TaskFailedError)) throw error;
    return { errorType: error.details.errorType, message: error.details.message };
  }
});

const healthy = defineWorkflow("failures-healthy", (_ctx, n: number) => n * 2);

const THROW_MARKER = "throw-line-marker";
const throwing = defineWorkflow("failures-throwing", function* (ctx) {
  yield ctx.createTimer(0.1);
  throw new RangeError("the workflow gave up"); // throw-line-marker
});

function markerLine(): number {
  const source = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  const index = source.findIndex((line) => line.includes(`// ${THROW_MARKER}`) && line.includes("throw new"));
  return index + 1;
}

describeScenarios(
  "scenarios: failures",
  {
    workflows: [withCompensation, uncaught, customErrors, customErrorUncaught, callsUnregistered, healthy, throwing],
    activities: [explode, compensate, reserve],
  },
  (fx) => {
    it.concurrent("catches a failed activity as TaskFailedError and compensates", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(withCompensation, { instanceId: uniqueId("compensate") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe("Kah-BOOOOM!!!");
      expect(compensations.get(id)).toEqual(["undo-1", "undo-2"]);
    });

    it.concurrent("fails the workflow with the activity's failure when it does not catch it", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(uncaught, { instanceId: uniqueId("uncaught") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.errorType).toBe("TaskFailedError");
      expect(state.failureDetails?.message).toMatch(/^Activity 'failures-explode' \(task #1\) failed: Kah-BOOOOM!!!$/);
      expect(state.failureDetails?.cause?.errorType).toBe("Error");
      expect(state.failureDetails?.cause?.message).toBe("Kah-BOOOOM!!!");
    });

    it.concurrent("reports a custom error class's name as the failure's errorType", async ({ expect }) => {
      const [a, b] = await Promise.all([
        fx.client.scheduleNewOrchestration(customErrors, { input: "inventory", instanceId: uniqueId("custom-a") }),
        fx.client.scheduleNewOrchestration(customErrors, { input: "payment", instanceId: uniqueId("custom-b") }),
      ]);
      const [stateA, stateB] = await Promise.all([
        fx.client.waitForOrchestrationCompletion(a, { timeout: 30 }),
        fx.client.waitForOrchestrationCompletion(b, { timeout: 30 }),
      ]);
      // A subclass without its own `name` is reported by its class name; an explicit `name` is used as it is.
      expect(stateA.output).toEqual({ errorType: "InventoryError", message: "out of stock", kind: "activity" });
      expect(stateB.output).toEqual({ errorType: "PaymentDeclinedError", message: "card declined", kind: "activity" });
    });

    it.concurrent("keeps the custom error class in the cause of an uncaught failure", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(customErrorUncaught, { instanceId: uniqueId("custom-up") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.errorType).toBe("TaskFailedError");
      expect(state.failureDetails?.cause?.errorType).toBe("InventoryError");
      expect(state.failureDetails?.cause?.message).toBe("out of stock");
      expect(state.failureDetails?.cause?.stackTrace).toMatch(/failures\.test\.ts/);
    });

    it.concurrent("surfaces an unregistered activity to the workflow as a TaskFailedError", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(callsUnregistered, { instanceId: uniqueId("no-activity") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      const output = state.output as { errorType: string; message: string };
      expect(output.errorType).toBe("ActivityNotRegisteredError");
      expect(output.message).toContain("failures-no-such-activity");
    });

    it.concurrent("fails an instance of an unregistered workflow, and the worker keeps serving others", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration("failures-no-such-workflow", {
        input: { a: 1 },
        instanceId: uniqueId("no-workflow"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.errorType).toBe("WorkflowNotRegisteredError");
      expect(state.failureDetails?.message).toContain("failures-no-such-workflow");
      expect(fx.worker.isReady).toBe(true);
      const next = await fx.client.scheduleNewOrchestration(healthy, { input: 21, instanceId: uniqueId("healthy") });
      const nextState = await fx.client.waitForOrchestrationCompletion(next, { timeout: 30 });
      expect(nextState.status).toBe("COMPLETED");
      expect(nextState.output).toBe(42);
    });

    it.concurrent("reports a workflow's own failure: error type, message and stack with the workflow's line", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(throwing, { instanceId: uniqueId("throwing") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.errorType).toBe("RangeError");
      expect(state.failureDetails?.message).toBe("the workflow gave up");
      expect(state.failureDetails?.stackTrace).toContain(`failures.test.ts:${markerLine()}`);
      expect(state.output).toBeUndefined();
    });
  },
);
