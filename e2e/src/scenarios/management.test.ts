// Management through the client: unknown instances, duplicate ids, purge, listing, history, scheduled starts.
import {
  defineActivity,
  defineWorkflow,
  SidecarError,
  WorkflowAlreadyExistsError,
  WorkflowNotFoundError,
  WorkflowTimeoutError,
} from "@dt/core";
import { it } from "vitest";
import { describeScenarios, errorInfo, eventKinds, rejectionOf, uniqueId } from "../fixture.js";

const answer = defineWorkflow("management-answer", () => 42);

const waitForGo = defineWorkflow("management-waitForGo", function* (ctx) {
  const value: unknown = yield ctx.waitForExternalEvent("go");
  return value;
});

const leaf = defineWorkflow("management-leaf", (_ctx, n: number) => n);
const withChildren = defineWorkflow("management-withChildren", function* (ctx) {
  const a = yield* ctx.callChildWorkflow(leaf, { input: 1, instanceId: `${ctx.instanceId}-a` });
  const b = yield* ctx.callChildWorkflow(leaf, { input: 2, instanceId: `${ctx.instanceId}-b` });
  return a + b;
});

const bar = defineActivity("management-bar", () => 42);
const threeActivities = defineWorkflow("management-threeActivities", function* (ctx) {
  yield ctx.callActivity(bar);
  yield ctx.callActivity(bar);
  yield ctx.callActivity(bar);
  return 42;
});

const addOne = defineActivity("management-addOne", (_ctx, n: number) => n + 1);
const accumulate = defineWorkflow("management-accumulate", function* (ctx) {
  let total = 0;
  for (let i = 0; i < 8; i++) total = yield* ctx.callActivity(addOne, { input: total });
  return total;
});

describeScenarios(
  "scenarios: management",
  {
    workflows: [answer, waitForGo, leaf, withChildren, threeActivities, accumulate],
    activities: [bar, addOne],
  },
  (fx) => {
    it.concurrent("getOrchestrationState of an unknown instance is undefined", async ({ expect }) => {
      await expect(fx.client.getOrchestrationState(uniqueId("unknown"))).resolves.toBeUndefined();
    });

    it.concurrent("waiting on an unknown instance fails with WorkflowNotFoundError", async ({ expect }) => {
      const id = uniqueId("unknown");
      const completion = await rejectionOf(fx.client.waitForOrchestrationCompletion(id, { timeout: 10 }));
      expect(errorInfo(completion)).toMatchObject({ name: "WorkflowNotFoundError", code: "WORKFLOW_NOT_FOUND" });
      expect(completion).toBeInstanceOf(WorkflowNotFoundError);
      expect((completion as WorkflowNotFoundError).instanceId).toBe(id);
      await expect(fx.client.waitForOrchestrationStart(id, { timeout: 10 })).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
    });

    it.concurrent("refuses a duplicate instance id, running or completed", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(waitForGo, { instanceId: uniqueId("duplicate") });
      const whileRunning = await rejectionOf(fx.client.scheduleNewOrchestration(waitForGo, { instanceId: id }));
      expect(errorInfo(whileRunning)).toMatchObject({
        name: "WorkflowAlreadyExistsError",
        code: "WORKFLOW_ALREADY_EXISTS",
      });
      expect(whileRunning).toBeInstanceOf(WorkflowAlreadyExistsError);
      await fx.client.raiseOrchestrationEvent(id, "go", "first");
      expect((await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 })).output).toBe("first");
      const afterCompletion = await rejectionOf(fx.client.scheduleNewOrchestration(answer, { instanceId: id }));
      expect(afterCompletion).toBeInstanceOf(WorkflowAlreadyExistsError);
      // The original instance is untouched.
      const state = await fx.client.getOrchestrationState(id);
      expect(state?.name).toBe("management-waitForGo");
      expect(state?.output).toBe("first");
    });

    it.concurrent("refuses to purge a running instance with a typed error; the instance survives", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(waitForGo, { instanceId: uniqueId("purge-running") });
      const error = await rejectionOf(fx.client.purgeOrchestration(id));
      expect(errorInfo(error)).toMatchObject({ name: "SidecarError", code: "WORKFLOW_NOT_COMPLETED" });
      expect(error).toBeInstanceOf(SidecarError);
      expect((await fx.client.getOrchestrationState(id))?.status).toBe("RUNNING");
      await fx.client.raiseOrchestrationEvent(id, "go", "still alive");
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.output).toBe("still alive");
      await expect(fx.client.purgeOrchestration(id)).resolves.toBe(1);
      await expect(fx.client.purgeOrchestration(id)).rejects.toBeInstanceOf(WorkflowNotFoundError);
    });

    it.concurrent("purges a workflow together with its children", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(withChildren, { instanceId: uniqueId("purge-tree") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.output).toBe(3);
      expect((await fx.client.getOrchestrationState(`${id}-a`))?.status).toBe("COMPLETED");
      await expect(fx.client.purgeOrchestration(id, { recursive: true })).resolves.toBe(3);
      for (const instance of [id, `${id}-a`, `${id}-b`]) {
        await expect(fx.client.getOrchestrationState(instance)).resolves.toBeUndefined();
      }
    });

    it.concurrent("purge by filter is reported as unsupported by durabletask-go's sqlite backend", async ({
      expect,
    }) => {
      const error = await rejectionOf(fx.client.purgeOrchestrations({ statuses: ["COMPLETED"] }));
      expect(errorInfo(error)).toMatchObject({ name: "SidecarError", code: "UNIMPLEMENTED" });
      expect(error).toBeInstanceOf(SidecarError);
    });

    it.concurrent("lists instance ids", async ({ expect }) => {
      const prefix = uniqueId("list");
      const ids = await Promise.all(
        [0, 1, 2, 3, 4].map((i) => fx.client.scheduleNewOrchestration(answer, { instanceId: `${prefix}-${i}` })),
      );
      const listed: string[] = [];
      for await (const id of fx.client.listInstanceIds({ pageSize: 2 })) listed.push(id);
      expect(listed).toEqual(expect.arrayContaining(ids));
      expect(new Set(listed).size).toBe(listed.length);
    });

    it.concurrent("returns the 12 history events of a 3-activity chain, in order", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(threeActivities, { instanceId: uniqueId("history") });
      expect((await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 })).output).toBe(42);
      const history = await fx.client.getOrchestrationHistory(id);
      expect(eventKinds(history)).toEqual([
        "workflowStarted",
        "executionStarted",
        "taskScheduled",
        "workflowStarted",
        "taskCompleted",
        "taskScheduled",
        "workflowStarted",
        "taskCompleted",
        "taskScheduled",
        "workflowStarted",
        "taskCompleted",
        "executionCompleted",
      ]);
      const started = history[1]?.eventType;
      expect(started?.case === "executionStarted" ? started.value.name : undefined).toBe("management-threeActivities");
      await expect(fx.client.getOrchestrationHistory(uniqueId("no-history"))).resolves.toEqual([]);
    });

    it.concurrent("runs 8 sequential activities across turns with stateful history", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(accumulate, { instanceId: uniqueId("stateful") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.serializedOutput).toBe("8");
      const kinds = eventKinds(await fx.client.getOrchestrationHistory(id));
      // 9 turns of 3 events: started + (completion | start) + (schedule | completion).
      expect(kinds).toHaveLength(27);
      expect(kinds.filter((k) => k === "taskScheduled")).toHaveLength(8);
      expect(kinds.filter((k) => k === "taskCompleted")).toHaveLength(8);
      await expect(fx.client.purgeOrchestration(id)).resolves.toBe(1);
    });

    it.concurrent("waitForOrchestrationStart times out with WorkflowTimeoutError while not started", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(answer, {
        instanceId: uniqueId("start-timeout"),
        startAt: new Date(Date.now() + 4_000),
      });
      const error = await rejectionOf(fx.client.waitForOrchestrationStart(id, { timeout: 0.5 }));
      expect(errorInfo(error)).toMatchObject({ name: "WorkflowTimeoutError", code: "WORKFLOW_TIMEOUT" });
      expect(error).toBeInstanceOf(WorkflowTimeoutError);
      // A later wait still sees it start.
      const started = await fx.client.waitForOrchestrationStart(id, { timeout: 30 });
      expect(started.status).not.toBe("PENDING");
    });

    it.concurrent("schedules a start in the future: PENDING first, then it runs", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(answer, {
        instanceId: uniqueId("scheduled"),
        startAt: new Date(Date.now() + 4_000),
      });
      const pending = await fx.client.getOrchestrationState(id);
      expect(pending?.status).toBe("PENDING");
      expect(pending?.isTerminal).toBe(false);
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe(42);
      // It did not run before its start time (the sidecar's own timestamps, not the test's clock).
      expect(pending?.createdAt).toBeInstanceOf(Date);
      expect(state.startedAt?.getTime() ?? 0).toBeGreaterThanOrEqual((pending?.createdAt?.getTime() ?? 0) + 2_000);
    });

    it.concurrent("rerun from an event is reported as unsupported by durabletask-go's sqlite backend", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(threeActivities, { instanceId: uniqueId("rerun") });
      await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      const error = await rejectionOf(fx.client.rerunWorkflowFromEvent(id, 2));
      expect(errorInfo(error)).toMatchObject({ name: "SidecarError", code: "UNIMPLEMENTED" });
      expect(error).toBeInstanceOf(SidecarError);
    });
  },
);
