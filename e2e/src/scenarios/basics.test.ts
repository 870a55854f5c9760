// Basics: activities, timers, whenAll/whenAny, payloads and custom status.
import { defineActivity, defineWorkflow, type Task, whenAll, whenAny } from "@dt/core";
import { expectTypeOf, it } from "vitest";
import { describeScenarios, eventKinds, uniqueId } from "../fixture.js";

const empty = defineWorkflow("basics-empty", () => undefined);

const plusOne = defineActivity("basics-plusOne", (_ctx, n: number) => n + 1);
const sequence = defineWorkflow("basics-sequence", function* (ctx, start: number) {
  const numbers = [start];
  let current = start;
  for (let i = 0; i < 10; i++) {
    current = yield* ctx.callActivity(plusOne, { input: current });
    numbers.push(current);
  }
  return numbers;
});

const square = defineActivity("basics-square", (_ctx, n: number) => n * n);
const fanOut = defineWorkflow("basics-fanOut", function* (ctx, count: number) {
  const tasks = Array.from({ length: count }, (_, i) => ctx.callActivity(square, { input: i }));
  const squares = yield* whenAll(tasks);
  return { count: squares.length, sum: squares.reduce((a, b) => a + b, 0) };
});

const singleTimer = defineWorkflow("basics-singleTimer", function* (ctx) {
  const before = ctx.currentUtcDateTime.getTime();
  yield ctx.createTimer(1);
  return ctx.currentUtcDateTime.getTime() - before;
});

const concurrentTimers = defineWorkflow("basics-concurrentTimers", function* (ctx) {
  const before = ctx.currentUtcDateTime.getTime();
  yield* whenAll([ctx.createTimer(1), ctx.createTimer(1.5), ctx.createTimer({ seconds: 2 })]);
  return ctx.currentUtcDateTime.getTime() - before;
});

const slowActivity = defineActivity("basics-slow", async (ctx, ms: number) => {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    ctx.signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return "activity";
});
const activityVsTimer = defineWorkflow(
  "basics-activityVsTimer",
  function* (ctx, input: { activityMs: number; timerSeconds: number }) {
    const activity = ctx.callActivity(slowActivity, { input: input.activityMs });
    const timer: Task<void> = ctx.createTimer(input.timerSeconds);
    const winner = yield* whenAny([activity, timer]);
    return winner === activity ? yield* activity : "timer";
  },
);

interface Order {
  readonly id: string;
  readonly items: readonly { readonly sku: string; readonly qty: number }[];
}
const typedOrder = defineWorkflow("basics-typed", (_ctx, order: Order) => ({
  orderId: order.id,
  total: order.items.reduce((sum, item) => sum + item.qty, 0),
}));

const echoActivity = defineActivity("basics-echo", (_ctx, text: string) => `${text.length}:${text.toUpperCase()}`);
const largePayload = defineWorkflow("basics-large", function* (ctx, text: string) {
  return yield* ctx.callActivity(echoActivity, { input: text });
});

const identity = defineActivity("basics-identity", (_ctx, value: unknown) => value);
const falsy = defineWorkflow("basics-falsy", function* (ctx, value: unknown) {
  const fromActivity: unknown = yield ctx.callActivity(identity, { input: value });
  return fromActivity;
});

const customStatus = defineWorkflow("basics-customStatus", (ctx) => {
  ctx.setCustomStatus("foobaz");
});

const statusAcrossTurns = defineWorkflow("basics-statusAcrossTurns", function* (ctx) {
  ctx.setCustomStatus("waiting");
  const who: string = yield ctx.waitForExternalEvent("go");
  ctx.setCustomStatus({ stage: "done", by: who });
  return who;
});

const seenPatches = new Map<string, { patch1: boolean[]; patch2: boolean[]; runs: number }>();
const patchedActivity = defineActivity("basics-sayHello", () => "Hello");
const patched = defineWorkflow("basics-patched", function* (ctx) {
  const seen = seenPatches.get(ctx.instanceId) ?? { patch1: [], patch2: [], runs: 0 };
  seenPatches.set(ctx.instanceId, seen);
  seen.runs++;
  // As in durabletask-go's Test_Grpc_PatchedWorkflow: patch1 is first asked about while replaying history written
  // without it (false); patch2 is asked about for the first time in a live turn (true).
  if (seen.runs > 1) seen.patch1.push(ctx.isPatched("patch1"));
  yield ctx.callActivity(patchedActivity);
  seen.patch2.push(ctx.isPatched("patch2"));
  return ctx.isPatched("patch2");
});

const hello = defineActivity("basics-hello", (_ctx, name: string) => `Hello, ${name}!`);
const helloWorkflow = defineWorkflow("basics-helloWorkflow", function* (ctx, name: string) {
  const greeting = yield* ctx.callActivity(hello, { input: name });
  ctx.setCustomStatus("hello-test");
  return greeting;
});

describeScenarios(
  "scenarios: basics",
  {
    workflows: [
      empty,
      sequence,
      fanOut,
      singleTimer,
      concurrentTimers,
      activityVsTimer,
      typedOrder,
      largePayload,
      falsy,
      customStatus,
      statusAcrossTurns,
      helloWorkflow,
    ],
    activities: [plusOne, square, slowActivity, echoActivity, identity, hello],
  },
  (fx) => {
    it.concurrent("completes an empty workflow; waiting again on it returns at once", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(empty, { instanceId: uniqueId("empty") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.instanceId).toBe(id);
      expect(state.name).toBe("basics-empty");
      expect(state.status).toBe("COMPLETED");
      expect(state.isTerminal).toBe(true);
      expect(state.input).toBeUndefined();
      expect(state.output).toBeUndefined();
      // No input, output or custom status: absent, as Python's serialized_* are None (not empty strings).
      expect.soft(state.serializedInput).toBeUndefined();
      expect.soft(state.serializedOutput).toBeUndefined();
      expect.soft(state.customStatus).toBeUndefined();
      expect(state.failureDetails).toBeUndefined();
      const again = await fx.client.waitForOrchestrationCompletion(id, { timeout: 5 });
      expect(again.status).toBe("COMPLETED");
      expect(again.instanceId).toBe(id);
    });

    it.concurrent("runs a sequence of 10 activities", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(sequence, { input: 1, instanceId: uniqueId("sequence") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(state.input).toBe(1);
      expect(state.serializedInput).toBe("1");
      expect(state.serializedOutput).toBe(JSON.stringify([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    });

    it.concurrent("fans out 100 activities and fans in their results", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(fanOut, { input: 100, instanceId: uniqueId("fanout") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 45 });
      expect(state.status).toBe("COMPLETED");
      // sum of i² for i < 100
      expect(state.output).toEqual({ count: 100, sum: 328350 });
      const history = await fx.client.getOrchestrationHistory(id);
      expect(eventKinds(history).filter((k) => k === "taskScheduled")).toHaveLength(100);
      expect(eventKinds(history).filter((k) => k === "taskCompleted")).toHaveLength(100);
    });

    it.concurrent("fires a single durable timer", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(singleTimer, { instanceId: uniqueId("timer") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      // The turn after the timer starts no earlier than the timer's due time (durable time, not the test's clock).
      expect(state.output).toBeGreaterThanOrEqual(1000);
      const kinds = eventKinds(await fx.client.getOrchestrationHistory(id));
      expect(kinds.filter((k) => k === "timerCreated")).toHaveLength(1);
      expect(kinds.filter((k) => k === "timerFired")).toHaveLength(1);
    });

    it.concurrent("waits for concurrent timers together", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(concurrentTimers, { instanceId: uniqueId("timers") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBeGreaterThanOrEqual(2000);
      const kinds = eventKinds(await fx.client.getOrchestrationHistory(id));
      expect(kinds.filter((k) => k === "timerCreated")).toHaveLength(3);
      expect(kinds.filter((k) => k === "timerFired")).toHaveLength(3);
      // All three timers were created in the first turn.
      expect(kinds.slice(0, 5)).toEqual([
        "workflowStarted",
        "executionStarted",
        "timerCreated",
        "timerCreated",
        "timerCreated",
      ]);
    });

    it.concurrent("whenAny: a fast activity wins over a long timer", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(activityVsTimer, {
        input: { activityMs: 0, timerSeconds: 60 },
        instanceId: uniqueId("any-activity"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe("activity");
    });

    it.concurrent("whenAny: a short timer wins over a slow activity", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(activityVsTimer, {
        input: { activityMs: 8_000, timerSeconds: 1 },
        instanceId: uniqueId("any-timer"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe("timer");
    });

    it.concurrent("types the output of a defined workflow through the client", async ({ expect }) => {
      const order: Order = {
        id: "o-1",
        items: [
          { sku: "a", qty: 2 },
          { sku: "b", qty: 3 },
        ],
      };
      const id = await fx.client.scheduleNewOrchestration(typedOrder, { input: order, instanceId: uniqueId("typed") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expectTypeOf(state.output).toEqualTypeOf<{ orderId: string; total: number } | undefined>();
      expect(state.status).toBe("COMPLETED");
      expect(state.input).toEqual(order);
      expect(state.output).toEqual({ orderId: "o-1", total: 5 });
      const read = await fx.client.getOrchestrationState(id);
      expectTypeOf(read).toEqualTypeOf<
        import("@dt/client").WorkflowState<{ orderId: string; total: number }> | undefined
      >();
      expect(read?.output?.total).toBe(5);
    });

    it.concurrent("round-trips a 100 KB input and output", async ({ expect }) => {
      const text = Array.from({ length: 100 * 1024 }, (_, i) => "abcdefghijklmnopqrstuvwxyz"[i % 26]).join("");
      const id = await fx.client.scheduleNewOrchestration(largePayload, { input: text, instanceId: uniqueId("large") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.input).toBe(text);
      expect(state.output).toBe(`${text.length}:${text.toUpperCase()}`);
      expect((state.serializedOutput ?? "").length).toBeGreaterThan(100 * 1024);
    });

    it.concurrent("round-trips 1 MiB payloads: a 3 MiB work item spans several HTTP/2 stream windows", async ({
      expect,
    }) => {
      const text = Array.from({ length: 1024 * 1024 }, (_, i) => "abcdefghijklmnopqrstuvwxyz"[(i * 7) % 26]).join("");
      const id = await fx.client.scheduleNewOrchestration(largePayload, { input: text, instanceId: uniqueId("huge") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 60 });
      expect(state.status).toBe("COMPLETED");
      expect(state.input).toBe(text);
      expect(state.output).toBe(`${text.length}:${text.toUpperCase()}`);
    });

    it.concurrent.for([
      ["0", 0],
      ["false", false],
      ['""', ""],
      ["null", null],
    ] as const)(
      "round-trips the falsy output %s through activity, workflow and client",
      async ([label, value], { expect }) => {
        const id = await fx.client.scheduleNewOrchestration(falsy, { input: value, instanceId: uniqueId("falsy") });
        const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
        expect(state.status).toBe("COMPLETED");
        expect(state.serializedOutput).toBe(label);
        expect(state.output).toBe(value);
        expect(state.input).toBe(value);
      },
    );

    it.concurrent("stores a string custom status raw, not as JSON", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(customStatus, { instanceId: uniqueId("status") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.customStatus).toBe("foobaz");
    });

    it.concurrent("updates the custom status across turns", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(statusAcrossTurns, { instanceId: uniqueId("status-turns") });
      // StartInstance returns once the first turn ran, so its status is already there.
      const running = await fx.client.getOrchestrationState(id);
      expect(running?.status).toBe("RUNNING");
      expect(running?.customStatus).toBe("waiting");
      await fx.client.raiseOrchestrationEvent(id, "go", "ann");
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe("ann");
      expect(JSON.parse(state.customStatus ?? "null")).toEqual({ stage: "done", by: "ann" });
    });

    it.concurrent("hello workflow: activity result, custom status, then purge", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(helloWorkflow, {
        input: "世界",
        instanceId: uniqueId("hello"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.serializedOutput).toBe(JSON.stringify("Hello, 世界!"));
      expect(state.customStatus).toBe("hello-test");
      await expect(fx.client.purgeOrchestration(id)).resolves.toBe(1);
      await expect(fx.client.getOrchestrationState(id)).resolves.toBeUndefined();
    });
  },
);

// Patches are decided while replaying, so this suite's worker replays every turn (no execution cache), as
// durabletask-go's Go SDK does in Test_Grpc_PatchedWorkflow.
describeScenarios(
  "scenarios: patching (replaying every turn)",
  { workflows: [patched], activities: [patchedActivity], worker: { workflowCacheSize: 0 } },
  (fx) => {
    it.concurrent("isPatched: false for a patch first met in replayed history, true for a new turn", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(patched, { instanceId: uniqueId("patched") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe(true);
      const seen = seenPatches.get(id);
      expect(seen?.patch1).toEqual([false]);
      expect(seen?.patch2).toEqual([true]);
    });
  },
);
