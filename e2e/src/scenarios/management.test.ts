// Management through the client: unknown instances, duplicate ids, purge, listing, history, scheduled starts, rerun
// and tags. Where durabletask-go's sqlite backend and Dapr differ (the embedded sidecar follows Dapr), each target
// asserts its own documented behaviour.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskHubGrpcClient } from "@dt/client";
import {
  defineActivity,
  defineWorkflow,
  InvalidArgumentError,
  SidecarError,
  WorkflowAlreadyExistsError,
  WorkflowNotFoundError,
  WorkflowTimeoutError,
} from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { createSidecarClient, createSidecarTransport } from "@dt/proto/transport";
import { TaskHubGrpcWorker } from "@dt/worker";
import { it } from "vitest";
import { describeScenarios, errorInfo, eventKinds, Recorder, rejectionOf, uniqueId } from "../fixture.js";
import { startSidecar } from "../harness.js";

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

// Rerun: three steps; each run of a step is recorded under the instance that ran it.
const stepRuns = new Recorder<number>();
const step = defineActivity("management-step", (ctx, n: number) => {
  stepRuns.add(ctx.instanceId, n);
  return n * 10;
});
const threeSteps = defineWorkflow("management-threeSteps", function* (ctx) {
  const results: number[] = [];
  for (const n of [1, 2, 3]) results.push(yield* ctx.callActivity(step, { input: n }));
  return results;
});

describeScenarios(
  "scenarios: management",
  {
    workflows: [answer, waitForGo, leaf, withChildren, threeActivities, accumulate, threeSteps],
    activities: [bar, addOne, step],
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

    it.concurrent("refuses a running instance's id; a completed one's: refused (go) or reused (Dapr, embedded)", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(waitForGo, { instanceId: uniqueId("duplicate") });
      const whileRunning = await rejectionOf(fx.client.scheduleNewOrchestration(waitForGo, { instanceId: id }));
      expect(errorInfo(whileRunning)).toMatchObject({
        name: "WorkflowAlreadyExistsError",
        code: "WORKFLOW_ALREADY_EXISTS",
      });
      expect(whileRunning).toBeInstanceOf(WorkflowAlreadyExistsError);
      await fx.client.raiseOrchestrationEvent(id, "go", "first");
      const first = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(first.output).toBe("first");
      const firstExecution = executionIdOf(await fx.client.getOrchestrationHistory(id));
      expect(firstExecution).toBeTruthy();
      if (fx.sidecar.target === "go") {
        const afterCompletion = await rejectionOf(fx.client.scheduleNewOrchestration(answer, { instanceId: id }));
        expect(afterCompletion).toBeInstanceOf(WorkflowAlreadyExistsError);
        // The original instance is untouched.
        const state = await fx.client.getOrchestrationState(id);
        expect(state?.name).toBe("management-waitForGo");
        expect(state?.output).toBe("first");
      } else {
        // Dapr recreates a finished instance under the same id: a new execution with a fresh history.
        await fx.client.scheduleNewOrchestration(answer, { instanceId: id });
        const second = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
        expect(second.name).toBe("management-answer");
        expect(second.output).toBe(42);
        // daprd 1.18.3's GetInstance has no executionId; the histories' ExecutionStarted events do.
        if (fx.sidecar.target === "dapr") expect(second.executionId).toBeUndefined();
        else expect(second.executionId).not.toBe(first.executionId);
        const secondHistory = await fx.client.getOrchestrationHistory(id);
        expect(executionIdOf(secondHistory)).not.toBe(firstExecution);
        const kinds = eventKinds(secondHistory);
        expect(kinds.filter((k) => k === "executionStarted")).toHaveLength(1);
        expect(kinds).not.toContain("eventRaised");
      }
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

    it.concurrent("purge by filter: unsupported by durabletask-go and daprd; the embedded sidecar purges what matches", async ({
      expect,
    }) => {
      // durabletask-go: UNKNOWN "multi-instance purge is not implemented"; daprd 1.18.3: UNKNOWN "multi-instance purge
      // is not unimplemented" (sic). Both read as UNIMPLEMENTED by the client.
      if (fx.sidecar.target === "go" || fx.sidecar.target === "dapr") {
        const error = await rejectionOf(fx.client.purgeOrchestrations({ statuses: ["COMPLETED"] }));
        expect(errorInfo(error)).toMatchObject({ name: "SidecarError", code: "UNIMPLEMENTED" });
        expect(error).toBeInstanceOf(SidecarError);
        return;
      }
      // A sidecar of its own: a filter purge must not take other tests' instances with it.
      const own = await startSidecar(fx.sidecar.target);
      const worker = new TaskHubGrpcWorker({ address: own.address, useEnvironment: false });
      worker.addWorkflow(answer).addWorkflow(waitForGo).addWorkflow(withChildren).addWorkflow(leaf);
      const client = new TaskHubGrpcClient({ address: own.address, useEnvironment: false });
      try {
        await worker.start();
        const done = await Promise.all(
          [0, 1, 2].map((i) => client.scheduleNewOrchestration(answer, { instanceId: `done-${i}` })),
        );
        const tree = await client.scheduleNewOrchestration(withChildren, { instanceId: "tree" });
        const running = await client.scheduleNewOrchestration(waitForGo, { instanceId: "running" });
        for (const id of [...done, tree]) await client.waitForOrchestrationCompletion(id, { timeout: 30 });
        // Nothing created before this instant matches; the running instance is never purged by a filter.
        await expect(client.purgeOrchestrations({ createdTo: new Date(Date.now() - 3_600_000) })).resolves.toBe(0);
        await expect(client.purgeOrchestrations({ statuses: ["FAILED"] })).resolves.toBe(0);
        // 3 answers + the tree (root and its 2 children, purged recursively).
        await expect(client.purgeOrchestrations({ statuses: ["COMPLETED", "RUNNING"] })).resolves.toBe(6);
        const left: string[] = [];
        for await (const id of client.listInstanceIds()) left.push(id);
        expect(left).toEqual([running]);
        expect((await client.getOrchestrationState(running))?.status).toBe("RUNNING");
      } finally {
        client.close();
        await worker.stop({ timeoutMs: 2_000 });
        await own.stop();
      }
    });

    it.concurrent("list paging: durabletask-go returns everything at once; daprd and the embedded sidecar page", async ({
      expect,
    }) => {
      // daprd lists through its actor state store (KeysLike), so paging is only as stable as the store: the in-memory
      // store repeats (and can skip) ids across pages. On daprd this test uses a SQLite store of its own.
      const dir = fx.sidecar.target === "dapr" ? await mkdtemp(join(tmpdir(), "dt-paging-")) : undefined;
      const own = dir === undefined ? undefined : await startSidecar("dapr", { db: join(dir, "actors.sqlite") });
      const sidecar = own ?? fx.sidecar;
      const worker =
        own === undefined ? undefined : new TaskHubGrpcWorker({ address: own.address, useEnvironment: false });
      const client =
        own === undefined ? fx.client : new TaskHubGrpcClient({ address: own.address, useEnvironment: false });
      await worker?.addWorkflow(answer).start();
      const prefix = uniqueId("paging");
      const ids = await Promise.all(
        [0, 1, 2, 3, 4].map((i) => client.scheduleNewOrchestration(answer, { instanceId: `${prefix}-${i}` })),
      );
      const transport = createSidecarTransport({ address: sidecar.address, defaultTimeoutMs: 10_000 });
      const raw = createSidecarClient(transport);
      try {
        const pages: string[][] = [];
        let token: string | undefined;
        do {
          const page = await raw.listInstanceIDs({
            pageSize: 2,
            ...(token === undefined ? {} : { continuationToken: token }),
          });
          pages.push(page.instanceIds);
          token = page.continuationToken;
        } while (token !== undefined && token !== "" && pages.length < 10_000);
        const all = pages.flat();
        expect(all).toEqual(expect.arrayContaining(ids));
        expect(new Set(all).size).toBe(all.length);
        if (fx.sidecar.target === "go") {
          expect(pages).toHaveLength(1); // pageSize ignored, no continuation token
        } else {
          expect(pages.length).toBeGreaterThanOrEqual(3);
          expect(pages.every((page) => page.length <= 2)).toBe(true);
          expect(pages.slice(0, -1).every((page) => page.length === 2)).toBe(true);
          // The embedded sidecar pages in instance id order, so concurrent creations never make a page repeat or skip
          // an id. daprd 1.18.3 pages in its store's order (SQLite: neither id nor creation order).
          if (fx.sidecar.target === "embedded") expect(all).toEqual([...all].sort());
        }
      } finally {
        transport.close();
        if (own !== undefined) {
          client.close();
          await worker?.stop({ timeoutMs: 2_000 });
          await own.stop();
        }
        if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      }
    });

    it.concurrent("tags: dropped by durabletask-go and daprd (the client warns there); kept and returned by the embedded sidecar", async ({
      expect,
    }) => {
      const tags = { team: "payments", "region.eu": "west", empty: "" };
      const id = await fx.client.scheduleNewOrchestration(answer, { instanceId: uniqueId("tags"), tags });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.output).toBe(42);
      if (fx.sidecar.target === "dapr") {
        // The client says so instead of losing them silently (once per client).
        const warnings: string[] = [];
        const log = () => {};
        const warned = new TaskHubGrpcClient({
          address: fx.sidecar.address,
          useEnvironment: false,
          logger: { debug: log, info: log, error: log, warn: (message) => warnings.push(message) },
        });
        try {
          for (const n of [1, 2]) {
            const tagged = await warned.scheduleNewOrchestration(answer, { instanceId: uniqueId(`tags-${n}`), tags });
            await warned.waitForOrchestrationCompletion(tagged, { timeout: 30 });
          }
        } finally {
          warned.close();
        }
        expect(warnings).toEqual([expect.stringMatching(/^daprd 1\.18\.3 drops the tags given at start/)]);
      }
      if (fx.sidecar.target !== "embedded") {
        // daprd 1.18.3 drops StartInstance's tags: neither GetInstance nor the ExecutionStarted event has them.
        expect(state.tags).toEqual({});
        const history = await fx.client.getOrchestrationHistory(id);
        const started = history.find((e) => e.eventType.case === "executionStarted")?.eventType;
        expect(started?.case === "executionStarted" ? started.value.tags : undefined).toEqual({});
      } else {
        expect(state.tags).toEqual(tags);
        const history = await fx.client.getOrchestrationHistory(id);
        const started = history.find((e) => e.eventType.case === "executionStarted")?.eventType;
        expect(started?.case === "executionStarted" ? started.value.tags : undefined).toEqual(tags);
      }
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
      // durabletask-go: an empty history; Dapr and the embedded sidecar: NOT_FOUND.
      if (fx.sidecar.target === "go") {
        await expect(fx.client.getOrchestrationHistory(uniqueId("no-history"))).resolves.toEqual([]);
      } else {
        await expect(fx.client.getOrchestrationHistory(uniqueId("no-history"))).rejects.toBeInstanceOf(
          WorkflowNotFoundError,
        );
      }
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

    it.concurrent("rerun from an event: unsupported by durabletask-go; the embedded sidecar reruns from it", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(threeSteps, { instanceId: uniqueId("rerun") });
      expect((await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 })).output).toEqual([10, 20, 30]);
      expect(stepRuns.get(id)).toEqual([1, 2, 3]);
      if (fx.sidecar.target === "go") {
        const error = await rejectionOf(fx.client.rerunWorkflowFromEvent(id, 2));
        expect(errorInfo(error)).toMatchObject({ name: "SidecarError", code: "UNIMPLEMENTED" });
        expect(error).toBeInstanceOf(SidecarError);
        return;
      }
      // Event 2 is the second step's TaskScheduled: steps 2 and 3 run again, step 1's result is kept.
      const again = await fx.client.rerunWorkflowFromEvent(id, 2, { newInstanceId: `${id}-again` });
      expect(again).toBe(`${id}-again`);
      const rerun = await fx.client.waitForOrchestrationCompletion(again, { timeout: 30 });
      expect(rerun.status).toBe("COMPLETED");
      expect(rerun.output).toEqual([10, 20, 30]);
      expect(stepRuns.get(again)).toEqual([2, 3]);
      const history = await fx.client.getOrchestrationHistory(again);
      const rerunFrom = history.find((e) => e.eventId === 2 && e.eventType.case === "taskScheduled")?.eventType;
      expect(rerunFrom?.case === "taskScheduled" ? rerunFrom.value.rerunParentInstanceInfo?.instanceID : "").toBe(id);

      // With a new input for the step it reruns from.
      const changed = await fx.client.rerunWorkflowFromEvent(id, 2, { newInstanceId: `${id}-input`, input: 7 });
      const withInput = await fx.client.waitForOrchestrationCompletion(changed, { timeout: 30 });
      expect(withInput.output).toEqual([10, 70, 30]);
      expect(stepRuns.get(changed)).toEqual([7, 3]);
      // A random new id by default; the source is untouched.
      const generated = await fx.client.rerunWorkflowFromEvent(id, 3);
      expect(generated).not.toBe(id);
      expect((await fx.client.waitForOrchestrationCompletion(generated, { timeout: 30 })).output).toEqual([10, 20, 30]);
      expect((await fx.client.getOrchestrationState(id))?.output).toEqual([10, 20, 30]);

      // What cannot be rerun.
      const existing = await rejectionOf(fx.client.rerunWorkflowFromEvent(id, 2, { newInstanceId: `${id}-again` }));
      expect(existing).toBeInstanceOf(WorkflowAlreadyExistsError);
      // A missing event is a bad argument; the source instance exists.
      await expect(fx.client.rerunWorkflowFromEvent(id, 99)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(fx.client.rerunWorkflowFromEvent(uniqueId("no-source"), 1)).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
      const running = await fx.client.scheduleNewOrchestration(waitForGo, { instanceId: uniqueId("rerun-running") });
      const notTerminal = await rejectionOf(fx.client.rerunWorkflowFromEvent(running, 1));
      expect(errorInfo(notTerminal)).toMatchObject({ name: "SidecarError", code: "WORKFLOW_NOT_COMPLETED" });
      expect((notTerminal as Error).message).toMatch(/not in a terminal state/);
      await fx.client.terminateOrchestration(running);
    });
  },
);

/** The execution id in a history's ExecutionStarted event. */
function executionIdOf(history: readonly HistoryEvent[]): string | undefined {
  const started = history.find((e) => e.eventType.case === "executionStarted")?.eventType;
  return started?.case === "executionStarted" ? started.value.workflowInstance?.executionId : undefined;
}
