// Lifecycle: suspend/resume, terminate (with output, recursive or not), continue-as-new.
import { defineActivity, defineWorkflow, WorkflowTimeoutError, whenAll } from "@dt/core";
import { it } from "vitest";
import { describeScenarios, errorInfo, eventKinds, Recorder, rejectionOf, statusOf, uniqueId } from "../fixture.js";

const waitForOne = defineWorkflow("lifecycle-waitForOne", function* (ctx) {
  const value: unknown = yield ctx.waitForExternalEvent("my_event");
  return value;
});

const waitForTen = defineWorkflow("lifecycle-waitForTen", function* (ctx) {
  for (let i = 0; i < 10; i++) {
    const value: number = yield ctx.waitForExternalEvent("MyEvent", { timeout: 30 });
    if (value !== i) throw new Error(`expected event ${i}, got ${value}`);
  }
  return true;
});

// Python's test_terminate_recursive: a parent with 5 children, each on a timer before an activity.
const childActivityRuns = new Recorder();
const recordRun = defineActivity("lifecycle-recordRun", (_ctx, rootId: string) => {
  childActivityRuns.add(rootId, true);
  return "ran";
});
const timerThenActivity = defineWorkflow("lifecycle-timerThenActivity", function* (ctx, rootId: string) {
  yield ctx.createTimer(3);
  return yield* ctx.callActivity(recordRun, { input: rootId });
});
const fiveChildren = defineWorkflow("lifecycle-fiveChildren", function* (ctx) {
  const children = Array.from({ length: 5 }, (_, i) =>
    ctx.callChildWorkflow(timerThenActivity, { input: ctx.instanceId, instanceId: `${ctx.instanceId}-child-${i}` }),
  );
  return yield* whenAll(children);
});

// durabletask-go's Test_Grpc_Terminate_Recursive: root → 5 × L1 → L2 (L2 waits forever).
const level2 = defineWorkflow("lifecycle-L2", function* (ctx) {
  yield ctx.waitForExternalEvent("never");
});
const level1 = defineWorkflow("lifecycle-L1", function* (ctx) {
  yield ctx.callChildWorkflow(level2, { instanceId: `${ctx.instanceId}-L2` });
});
const root = defineWorkflow("lifecycle-root", function* (ctx) {
  yield* whenAll(
    Array.from({ length: 5 }, (_, i) => ctx.callChildWorkflow(level1, { instanceId: `${ctx.instanceId}-L1-${i}` })),
  );
});

// Python's test_continue_as_new: every execution takes one event; the rest are carried over.
const collectEvents = defineWorkflow("lifecycle-collectEvents", function* (ctx, seen: number[]) {
  const value: number = yield ctx.waitForExternalEvent("my_event");
  const all = [...seen, value];
  if (all.length < 5) {
    ctx.continueAsNew(all, { saveEvents: true });
    return undefined;
  }
  return all;
});

const double = defineActivity("lifecycle-double", (_ctx, n: number) => n * 2);
const canWithActivity = defineWorkflow(
  "lifecycle-canWithActivity",
  function* (ctx, input: { counter: number; results: number[] }) {
    const doubled = yield* ctx.callActivity(double, { input: input.counter });
    const results = [...input.results, doubled];
    if (input.counter < 3) {
      ctx.continueAsNew({ counter: input.counter + 1, results });
      return undefined;
    }
    return results;
  },
);

const countToTen = defineWorkflow("lifecycle-countToTen", (ctx, n: number) => {
  if (n < 10) ctx.continueAsNew(n + 1);
  return n;
});

describeScenarios(
  "scenarios: lifecycle",
  {
    workflows: [
      waitForOne,
      waitForTen,
      timerThenActivity,
      fiveChildren,
      level2,
      level1,
      root,
      collectEvents,
      canWithActivity,
      countToTen,
    ],
    activities: [recordRun, double],
  },
  (fx) => {
    it.concurrent("suspends (buffering an event), times out a wait, resumes and completes", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(waitForOne, { instanceId: uniqueId("suspend") });
      const started = await fx.client.waitForOrchestrationStart(id, { timeout: 30 });
      expect(started.status).toBe("RUNNING");
      await fx.client.suspendOrchestration(id, { reason: "maintenance" });
      await statusOf(fx.client, id, "SUSPENDED");
      await fx.client.raiseOrchestrationEvent(id, "my_event", 42);
      const error = await rejectionOf(fx.client.waitForOrchestrationCompletion(id, { timeout: 2 }));
      expect(errorInfo(error)).toMatchObject({ name: "WorkflowTimeoutError", code: "WORKFLOW_TIMEOUT" });
      expect(error).toBeInstanceOf(WorkflowTimeoutError);
      expect((await fx.client.getOrchestrationState(id))?.status).toBe("SUSPENDED");
      await fx.client.resumeOrchestration(id, { reason: "done" });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe(42);
    });

    it.concurrent("buffers 10 events while suspended and consumes them in order after resume", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(waitForTen, { instanceId: uniqueId("suspend-10") });
      await fx.client.suspendOrchestration(id);
      for (let i = 0; i < 10; i++) await fx.client.raiseOrchestrationEvent(id, "MyEvent", i);
      const error = await rejectionOf(fx.client.waitForOrchestrationCompletion(id, { timeout: 2 }));
      expect(errorInfo(error)).toMatchObject({ name: "WorkflowTimeoutError", code: "WORKFLOW_TIMEOUT" });
      expect(error).toBeInstanceOf(WorkflowTimeoutError);
      const suspended = await fx.client.getOrchestrationState(id);
      expect(suspended?.status).toBe("SUSPENDED");
      expect(suspended?.isTerminal).toBe(false);
      await fx.client.resumeOrchestration(id);
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe(true);
    });

    it.concurrent("terminates with an output", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(waitForOne, { instanceId: uniqueId("terminate") });
      await fx.client.waitForOrchestrationStart(id, { timeout: 30 });
      await fx.client.terminateOrchestration(id, { output: "some reason for termination" });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("TERMINATED");
      expect(state.output).toBe("some reason for termination");
      expect(state.serializedOutput).toBe(JSON.stringify("some reason for termination"));
    });

    it.concurrent("terminates a suspended instance", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(waitForOne, { instanceId: uniqueId("terminate-susp") });
      await fx.client.suspendOrchestration(id);
      await statusOf(fx.client, id, "SUSPENDED");
      await fx.client.terminateOrchestration(id, { output: "stop" });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("TERMINATED");
      expect(state.output).toBe("stop");
    });

    for (const recursive of [true, false]) {
      it.concurrent(`terminate recursive=${recursive}: ${recursive ? "no child runs its activity" : "all 5 children finish"}`, async ({
        expect,
      }) => {
        const id = await fx.client.scheduleNewOrchestration(fiveChildren, {
          instanceId: uniqueId(`terminate-rec-${recursive}`),
        });
        const children = Array.from({ length: 5 }, (_, i) => `${id}-child-${i}`);
        // Every child is running (on its 3 s timer) before the parent is terminated.
        await Promise.all(children.map((child) => statusOf(fx.client, child, "RUNNING")));
        await fx.client.terminateOrchestration(id, { recursive, output: `recursive=${recursive}` });
        const parent = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
        expect(parent.status).toBe("TERMINATED");
        expect(parent.output).toBe(`recursive=${recursive}`);
        const finals = await Promise.all(
          children.map((child) => fx.client.waitForOrchestrationCompletion(child, { timeout: 30 })),
        );
        if (recursive) {
          expect(finals.map((s) => s.status)).toEqual(Array(5).fill("TERMINATED"));
          // Terminated before the timer: no child ever scheduled its activity.
          for (const child of children) {
            expect(eventKinds(await fx.client.getOrchestrationHistory(child))).not.toContain("taskScheduled");
          }
          expect(childActivityRuns.count(id)).toBe(0);
        } else {
          expect(finals.map((s) => s.status)).toEqual(Array(5).fill("COMPLETED"));
          expect(finals.map((s) => s.output)).toEqual(Array(5).fill("ran"));
          expect(childActivityRuns.count(id)).toBe(5);
        }
      }, 60_000);
    }

    it.concurrent("terminates recursively through two levels (root → 5 × L1 → L2)", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(root, { instanceId: uniqueId("terminate-tree") });
      const l1 = Array.from({ length: 5 }, (_, i) => `${id}-L1-${i}`);
      const l2 = l1.map((child) => `${child}-L2`);
      await Promise.all(l2.map((leaf) => statusOf(fx.client, leaf, "RUNNING")));
      await fx.client.terminateOrchestration(id, { output: "tree" });
      const states = await Promise.all(
        [id, ...l1, ...l2].map((instance) => fx.client.waitForOrchestrationCompletion(instance, { timeout: 30 })),
      );
      expect(states.map((s) => s.status)).toEqual(Array(11).fill("TERMINATED"));
    });

    it.concurrent("continue-as-new carries unconsumed events over (saveEvents)", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(collectEvents, { input: [], instanceId: uniqueId("can-ev") });
      for (let i = 1; i <= 5; i++) await fx.client.raiseOrchestrationEvent(id, "my_event", i);
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual([1, 2, 3, 4, 5]);
      expect(state.input).toEqual([1, 2, 3, 4]);
    });

    it.concurrent("continue-as-new with an activity in every execution", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(canWithActivity, {
        input: { counter: 1, results: [] },
        instanceId: uniqueId("can-act"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual([2, 4, 6]);
      expect(state.input).toEqual({ counter: 3, results: [2, 4] });
    });

    it.concurrent("continues as new from 0 to 10, then purges", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(countToTen, { input: 0, instanceId: uniqueId("can-10") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.serializedOutput).toBe("10");
      expect(state.input).toBe(10);
      // Only the last execution's history is kept.
      const kinds = eventKinds(await fx.client.getOrchestrationHistory(id));
      expect(kinds.filter((k) => k === "executionStarted")).toHaveLength(1);
      await expect(fx.client.purgeOrchestration(id)).resolves.toBe(1);
      await expect(fx.client.getOrchestrationState(id)).resolves.toBeUndefined();
    });
  },
);
