// Async workflows (@dt/aio) end to end: the seeds' async examples (activity sequence, fan-out/fan-in, enhanced
// features, non-determinism demo) and the async forms of children, continue-as-new, suspend/resume/terminate,
// retries and buffered events, on every sidecar target.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
// @dt/aio is not (yet) a dependency of @dt/e2e: its built dist is imported directly (the worker loads the same file).
import { type AsyncWorkflowContext, defineAsyncWorkflow } from "@dt/aio";
import { TaskHubGrpcClient } from "@dt/client";
import {
  defineActivity,
  defineWorkflow,
  NonRetryableError,
  TaskFailedError,
  TimeoutError,
  type WorkflowDefinition,
  WorkflowTimeoutError,
} from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterAll, beforeAll, expectTypeOf, it } from "vitest";
import {
  errorInfo,
  eventKinds,
  eventually,
  type Fixture,
  Recorder,
  rejectionOf,
  statusOf,
  uniqueId,
} from "../fixture.js";
import { describeSidecars, type RunningSidecar } from "../harness.js";

// ---------------------------------------------------------------------------------------------------------------------
// Activities

const plusOne = defineActivity("async-plusOne", (_ctx, n: number) => n + 1);
const timesTen = defineActivity("async-timesTen", (_ctx, n: number) => n * 10);
const square = defineActivity("async-square", (_ctx, n: number) => n * n);
const double = defineActivity("async-double", (_ctx, n: number) => n * 2);

/** Waits `ms` (or until the worker stops), then returns `label`. */
const slow = defineActivity("async-slow", async (ctx, input: { ms: number; label: string }) => {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, input.ms);
    ctx.signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return input.label;
});

const readMetadata = defineActivity("async-readMetadata", (ctx) => ({ ...ctx.metadata }));

const released = new Recorder();
const release = defineActivity("async-release", (_ctx, key: string) => {
  released.add(key, true);
  return "released";
});

const boom = defineActivity("async-boom", (_ctx, message: string) => {
  throw new RangeError(message);
});

const attempts = new Recorder();
const flaky = defineActivity(
  "async-flaky",
  (_ctx, input: { key: string; failures: number; nonRetryable?: boolean }) => {
    const attempt = attempts.add(input.key, true);
    if (input.nonRetryable === true) throw new NonRetryableError(`attempt ${attempt}: do not retry`);
    if (attempt <= input.failures) throw new Error(`attempt ${attempt} failed`);
    return `ok after ${attempt}`;
  },
);

// The seed's quick start calls activities by name: task_0 … task_2 (task_1 answers at once, the others much later).
const providers = [0, 1, 2].map((i) =>
  defineActivity(`async-task_${i}`, async (ctx) => {
    if (i !== 1) await slow.run(ctx, { ms: 20_000, label: "" });
    return `provider ${i}`;
  }),
);
const myActivity = defineActivity("async-my_activity", (_ctx, input: string) => `processed ${input}`);

// ---------------------------------------------------------------------------------------------------------------------
// Seed 002: the async activity sequence, registered as a plain async function (auto-detected by addWorkflow).

async function asyncActivitySequence(ctx: AsyncWorkflowContext, input: number): Promise<number> {
  const r1 = await ctx.callActivity(plusOne, { input });
  await ctx.sleep(1);
  const r2 = await ctx.callActivity(timesTen, { input: r1 });
  return r2;
}

// ---------------------------------------------------------------------------------------------------------------------
// Fan-out/fan-in

type FanMode = "whenAll" | "gather" | "promiseAll";
const fanOut = defineAsyncWorkflow("async-fanOut", async (ctx, input: { mode: FanMode; count: number }) => {
  const tasks = Array.from({ length: input.count }, (_, i) => ctx.callActivity(square, { input: i }));
  let results: number[];
  if (input.mode === "whenAll") results = await ctx.whenAll(tasks);
  else if (input.mode === "gather") results = await ctx.gather(...tasks);
  else results = await Promise.all(tasks);
  return { results, sum: results.reduce((a, b) => a + b, 0) };
});

/** Async helpers (two activities in a row each) run side by side through gather; failures captured as values. */
async function chain(ctx: AsyncWorkflowContext, n: number): Promise<number> {
  const a = await ctx.callActivity(plusOne, { input: n });
  return await ctx.callActivity(timesTen, { input: a });
}
const gatherHelpers = defineAsyncWorkflow("async-gatherHelpers", async (ctx) => {
  const chained = await ctx.gather(chain(ctx, 1), chain(ctx, 2), chain(ctx, 3), ctx.callActivity(square, { input: 7 }));
  const withErrors = await ctx.gather(
    ctx.callActivity(plusOne, { input: 41 }),
    ctx.callActivity(boom, { input: "no luck" }),
    { returnExceptions: true },
  );
  const empty = await ctx.gather();
  return {
    chained,
    withErrors: withErrors.map((r) => (r instanceof Error ? { error: r.name, message: r.message } : r)),
    empty,
  };
});

// ---------------------------------------------------------------------------------------------------------------------
// Seed 004: enhanced features. The quick start, registered as a plain function with an explicit sandbox mode.

async function enhancedWorkflow(ctx: AsyncWorkflowContext, inputData: string) {
  let result: string;
  try {
    result = await ctx.withTimeout(ctx.callActivity<string>("async-my_activity", { input: inputData }), 30);
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    result = "Activity timed out";
  }
  const tasks = [0, 1, 2].map((i) => ctx.callActivity<string>(`async-task_${i}`));
  const [completedIndex, firstResult] = await ctx.whenAnyWithResult(tasks);
  return {
    result,
    firstCompleted: completedIndex,
    firstResult,
    timestamp: ctx.now().toISOString(),
    random: ctx.random(),
    id: ctx.uuid4(),
  };
}

const withTimeout = defineAsyncWorkflow(
  "async-withTimeout",
  async (ctx, input: { activityMs: number; timeoutSeconds: number }) => {
    try {
      const label = await ctx.withTimeout(
        ctx.callActivity(slow, { input: { ms: input.activityMs, label: "activity" } }),
        input.timeoutSeconds,
      );
      return { result: label };
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      return {
        timedOut: {
          name: error.name,
          code: error.code,
          message: error.message,
          isWorkflowTimeoutError: error instanceof WorkflowTimeoutError,
          timeoutSeconds: error instanceof WorkflowTimeoutError ? error.timeoutSeconds : undefined,
          operation: error instanceof WorkflowTimeoutError ? error.operation : undefined,
        },
      };
    }
  },
);

// now()/random()/uuid4(): what the first turn computed must come out the same on every replay.
interface Deterministic {
  readonly now: string;
  readonly random: number;
  readonly uuid: string;
}
const firstSegments = new Recorder<Deterministic>();
const deterministic = defineAsyncWorkflow("async-deterministic", async (ctx, turns: number) => {
  const first: Deterministic = { now: ctx.now().toISOString(), random: ctx.random(), uuid: ctx.uuid4() };
  firstSegments.add(ctx.instanceId, first);
  ctx.setCustomStatus({ stage: "first", ...first });
  for (let i = 1; i <= turns; i++) {
    await ctx.waitForExternalEvent("next");
    ctx.setCustomStatus({ stage: `turn ${i}` });
  }
  const later: Deterministic = { now: ctx.now().toISOString(), random: ctx.random(), uuid: ctx.uuid4() };
  return { first, later };
});

// Metadata: set in the parent, read by its activities and by a child (which passes it on to its own activity).
const metadataChild = defineAsyncWorkflow("async-metadataChild", async (ctx, input: string) => {
  const fromActivity = await ctx.callActivity(readMetadata);
  return { input, metadata: ctx.getMetadata(), headers: ctx.getHeaders(), fromActivity };
});
const metadataParent = defineAsyncWorkflow("async-metadataParent", async (ctx) => {
  const initial = ctx.getMetadata();
  ctx.setMetadata({ tenant: "acme", "x-trace": ctx.instanceId });
  const activity = await ctx.callActivity(readMetadata);
  const merged = await ctx.callActivity(readMetadata, { metadata: { region: "us-east", tenant: "override" } });
  const child = await ctx.callChildWorkflow(metadataChild, { input: "payload", instanceId: `${ctx.instanceId}-child` });
  ctx.setHeaders({ region: "eu-west" });
  const afterHeaders = await ctx.callActivity(readMetadata);
  return { initial, activity, merged, child, afterHeaders, final: ctx.getMetadata() };
});

// info / executionInfo, in a parent and in its child.
function snapshot(ctx: AsyncWorkflowContext) {
  const info = ctx.info;
  const exec = ctx.executionInfo;
  return {
    frozen: Object.isFrozen(info),
    instanceId: info.instanceId,
    workflowName: info.workflowName,
    isReplaying: info.isReplaying,
    isSuspended: info.isSuspended,
    parentInstanceId: info.parentInstanceId ?? null,
    currentTime: info.currentTime.toISOString(),
    historyEventSequence: info.historyEventSequence,
    matchesProperties:
      info.instanceId === ctx.instanceId &&
      info.workflowName === ctx.workflowName &&
      info.isReplaying === ctx.isReplaying &&
      info.parentInstanceId === ctx.parentInstanceId &&
      info.currentTime.getTime() === ctx.now().getTime() &&
      info.workflowSpanId === ctx.orchestrationSpanId,
    executionId: ctx.executionId ?? null,
    infoExecutionId: info.executionId ?? null,
    execution: {
      executionId: exec.executionId ?? null,
      tags: exec.tags,
      scheduledStartTime: exec.scheduledStartTime?.toISOString() ?? null,
      parentInstanceId: exec.parentInstanceId ?? null,
    },
  };
}
const infoChild = defineAsyncWorkflow("async-infoChild", async (ctx) => snapshot(ctx));
const replayFlags = new Recorder<boolean>();
const infoParent = defineAsyncWorkflow("async-infoParent", async (ctx) => {
  replayFlags.add(ctx.instanceId, ctx.isReplaying);
  const start = snapshot(ctx);
  await ctx.callActivity(plusOne, { input: 1 });
  const child = await ctx.callChildWorkflow(infoChild, { instanceId: `${ctx.instanceId}-child` });
  return { start, end: snapshot(ctx), child };
});

// Cleanup with `await using`: cleanups run last-registered first, may await workflow tasks, and also run on a throw.
const withCleanup = defineAsyncWorkflow("async-cleanup", async (ctx, fail: boolean) => {
  const log: string[] = [];
  {
    await using scope = ctx;
    scope.addCleanup(() => {
      log.push("cleanup: registered first");
      ctx.setCustomStatus(log);
    });
    scope.addCleanup(async () => {
      log.push(`cleanup: ${await ctx.callActivity(release, { input: ctx.instanceId })}`);
    });
    const work = await ctx.callActivity(plusOne, { input: 1 });
    log.push(`work: ${work}`);
    if (fail) throw new Error("work failed after cleanups were registered");
  }
  log.push("after the block");
  return log;
});

// The documented "error handling with context" example, in debug mode.
const robust = defineAsyncWorkflow(
  "async-robust",
  async (ctx) => {
    await ctx.callActivity(plusOne, { input: 1 });
    try {
      return await ctx.callActivity(boom, { input: "risky activity failed" });
    } catch (error) {
      const debug = ctx.getDebugInfo();
      return {
        error: error instanceof TaskFailedError ? { code: error.code, cause: error.details.errorType } : String(error),
        message: error instanceof Error ? error.message : "",
        debugMode: debug.debugMode,
        step: debug.step,
        instanceId: debug.instanceId,
        operations: debug.operationHistory.map((o) => o.operation),
      };
    }
  },
  { debug: true },
);

// Human interaction: an approval event raced against a durable timer.
const approvalFlow = defineAsyncWorkflow("async-approval", async (ctx, timeoutSeconds: number) => {
  ctx.setCustomStatus("waiting for approval");
  const approval = ctx.waitForExternalEvent<{ by: string }>("approval");
  const timeout = ctx.sleep(timeoutSeconds);
  const winner = await ctx.whenAny([approval, timeout]);
  if (winner === approval) return { approved: true, by: approval.getResult().by };
  if (winner === timeout) return { approved: false, by: null };
  throw new Error("whenAny returned neither task");
});

// ---------------------------------------------------------------------------------------------------------------------
// The non-determinism demo: the same kind of code under best_effort (replaced, stable), strict (refused) and off
// (a foreign await is reported with its location).

interface Ambient {
  readonly dateNow: number;
  readonly newDate: string;
  readonly random: number;
  readonly uuid: string;
}
const bestEffortFirst = new Recorder<Ambient>();
async function nonDeterminismDemo(ctx: AsyncWorkflowContext) {
  const first: Ambient = {
    dateNow: Date.now(),
    newDate: new Date().toISOString(),
    random: Math.random(),
    uuid: crypto.randomUUID(),
  };
  bestEffortFirst.add(ctx.instanceId, first);
  ctx.setCustomStatus(first);
  await new Promise<void>((resolve) => setTimeout(resolve, 1000)); // a durable timer under the sandbox
  const afterTimer = Date.now();
  const n = await ctx.callActivity(plusOne, { input: 1 });
  return { first, afterTimer, n, random: Math.random(), ctxNow: ctx.now().getTime(), dateNowAtEnd: Date.now() };
}

/** A local HTTP server for the fetch cases (started with the suite). */
let httpUrl = "http://127.0.0.1/unset";

const AMBIENT_CALLS = {
  "Date.now()": () => Date.now(),
  "new Date()": () => new Date(),
  "Math.random()": () => Math.random(),
  "crypto.randomUUID()": () => crypto.randomUUID(),
  "crypto.getRandomValues()": () => crypto.getRandomValues(new Uint8Array(4)),
  "performance.now()": () => performance.now(),
  "setTimeout()": () => setTimeout(() => undefined, 10),
  "setInterval()": () => setInterval(() => undefined, 10),
  "setImmediate()": () => setImmediate(() => undefined),
  "fetch()": () => fetch(httpUrl),
  "fs.readFileSync()": () => readFileSync("/dev/null"),
} as const;
type AmbientCall = keyof typeof AMBIENT_CALLS;

/** Makes one non-deterministic call (after an activity, so the turn that refuses it replays first). */
async function ambientCall(ctx: AsyncWorkflowContext, call: AmbientCall) {
  await ctx.callActivity(plusOne, { input: 1 });
  const value = await AMBIENT_CALLS[call](); // AMBIENT-AWAIT-SITE
  return { called: call, type: typeof value };
}
const strictAmbient = defineAsyncWorkflow("async-strictAmbient", ambientCall, { sandboxMode: "strict" });

/** Looks like fetch: a promise resolved by a real timer, i.e. by nothing in history. */
function fakeFetch(url: string): Promise<{ ok: boolean; url: string }> {
  return new Promise((resolve) => setTimeout(() => resolve({ ok: true, url }), 20));
}
const foreignAwait = defineAsyncWorkflow("async-foreignAwait", async (ctx) => {
  const n = await ctx.callActivity(plusOne, { input: 1 });
  const response = await fakeFetch("https://example.com/api"); // FOREIGN-AWAIT-SITE
  return { n, response };
});

// ---------------------------------------------------------------------------------------------------------------------
// Children, continue-as-new, suspend/resume/terminate, retries, buffered events

interface ChildOut {
  readonly doubled: number;
  readonly parent: string | null;
}
const asyncChild = defineAsyncWorkflow("async-child", async (ctx, input: { n: number }): Promise<ChildOut> => {
  const doubled = await ctx.callActivity(double, { input: input.n });
  return { doubled, parent: ctx.parentInstanceId ?? null };
});
const failingChild = defineAsyncWorkflow("async-failingChild", async (_ctx, reason: string) => {
  throw new TypeError(reason);
});
const asyncParent = defineAsyncWorkflow("async-parent", async (ctx, count: number) => {
  const children = Array.from({ length: count }, (_, n) =>
    ctx.callChildWorkflow(asyncChild, { input: { n }, instanceId: `${ctx.instanceId}-child-${n}` }),
  );
  const results: ChildOut[] = await ctx.whenAll(children);
  let failure: unknown;
  try {
    await ctx.callChildWorkflow(failingChild, { input: "bad input", instanceId: `${ctx.instanceId}-failing` });
  } catch (error) {
    failure =
      error instanceof TaskFailedError
        ? {
            code: error.code,
            kind: error.taskKind,
            name: error.taskName,
            causeType: error.details.errorType,
            causeMessage: error.details.message,
          }
        : String(error);
  }
  return { results, failure };
});
// A generator workflow calling an async child: both kinds interoperate.
const generatorParent = defineWorkflow("async-generatorParent", function* (ctx, n: number) {
  const out = yield* ctx.callChildWorkflow(asyncChild, { input: { n }, instanceId: `${ctx.instanceId}-child` });
  return out;
});

const canLoop = defineAsyncWorkflow("async-canLoop", async (ctx, state: { n: number; seen: number[] }) => {
  const doubled = await ctx.callActivity(double, { input: state.n });
  const seen = [...state.seen, doubled];
  if (state.n < 4) {
    ctx.continueAsNew({ n: state.n + 1, seen });
    return null;
  }
  return seen;
});
const canEvents = defineAsyncWorkflow("async-canEvents", async (ctx, seen: number[]) => {
  const value = await ctx.waitForExternalEvent<number>("item");
  const all = [...seen, value];
  if (all.length < 4) {
    ctx.continueAsNew(all, { saveEvents: true });
    return null;
  }
  return all;
});

const twoSteps = defineAsyncWorkflow("async-twoSteps", async (ctx) => {
  const a = await ctx.waitForExternalEvent<number>("step");
  ctx.setCustomStatus(`got ${a}`);
  const b = await ctx.waitForExternalEvent<number>("step");
  return a + b;
});
const longSleep = defineAsyncWorkflow("async-longSleep", async (ctx) => {
  await ctx.callActivity(plusOne, { input: 1 });
  ctx.setCustomStatus("sleeping");
  await ctx.sleep(300);
  return "woke up";
});

const retrying = defineAsyncWorkflow(
  "async-retrying",
  async (ctx, input: { failures: number; nonRetryable?: boolean }) => {
    try {
      const value = await ctx.callActivity(flaky, {
        input: { key: ctx.instanceId, ...input },
        retryPolicy: { maxNumberOfAttempts: 3, firstRetryInterval: 0.2, backoffCoefficient: 1.5 },
      });
      return { value };
    } catch (error) {
      if (!(error instanceof TaskFailedError)) throw error;
      return { failed: { code: error.code, causeType: error.details.errorType, message: error.details.message } };
    }
  },
);

const bufferedEvents = defineAsyncWorkflow("async-buffered", async (ctx) => {
  const n = await ctx.callActivity(plusOne, { input: 1 });
  await ctx.sleep(0.5);
  const [a, b] = await ctx.gather(ctx.waitForExternalEvent<number>("a"), ctx.waitForExternalEvent<number>("b"));
  return n + a + b;
});

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

const NonDeterminismWarnings: { workflowName: string; call: string; message: string }[] = [];
process.on("warning", (warning) => {
  if (warning.name !== "NonDeterminismWarning") return;
  const w = warning as Error & { workflowName?: string; call?: string };
  NonDeterminismWarnings.push({ workflowName: w.workflowName ?? "", call: w.call ?? "", message: w.message });
});

function timestampMs(ts: Timestamp | undefined): number {
  if (ts === undefined) throw new Error("a history event without a timestamp");
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}

/** Timestamps (ms) of the WorkflowStarted events: the turns' times. */
function turnTimes(history: readonly HistoryEvent[]): number[] {
  return history.filter((e) => e.eventType.case === "workflowStarted").map((e) => timestampMs(e.timestamp));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The line of this file that holds `marker`, 1-based. */
function lineOf(marker: string): number {
  const lines = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  const index = lines.findIndex((line) => line.includes(marker) && !line.includes("lineOf("));
  if (index < 0) throw new Error(`marker ${marker} not found`);
  return index + 1;
}

/** useFixture, but registering through the worker's own API (plain functions, sandbox modes). */
function useAsyncFixture(
  sidecar: () => RunningSidecar,
  workflowCacheSize: number | undefined,
  register: (worker: TaskHubGrpcWorker, target: RunningSidecar["target"]) => void,
): Fixture {
  let worker: TaskHubGrpcWorker | undefined;
  let client: TaskHubGrpcClient | undefined;
  beforeAll(async () => {
    const { address, target } = sidecar();
    worker = new TaskHubGrpcWorker({
      address,
      useEnvironment: false,
      ...(workflowCacheSize === undefined ? {} : { workflowCacheSize }),
    });
    register(worker, target);
    await worker.start();
    await worker.waitForReady({ timeoutMs: 20_000 });
    client = new TaskHubGrpcClient({ address, useEnvironment: false });
  });
  afterAll(async () => {
    client?.close();
    await worker?.stop({ timeoutMs: 3_000 });
  });
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the fixture's ${what} is not running`);
    return value;
  };
  return {
    get client() {
      return need(client, "client");
    },
    get worker() {
      return need(worker, "worker");
    },
    get sidecar() {
      return sidecar();
    },
  };
}

const DEFINED: readonly WorkflowDefinition<never, unknown>[] = [
  fanOut,
  gatherHelpers,
  withTimeout,
  deterministic,
  metadataChild,
  metadataParent,
  infoChild,
  infoParent,
  withCleanup,
  robust,
  approvalFlow,
  strictAmbient,
  foreignAwait,
  asyncChild,
  failingChild,
  asyncParent,
  generatorParent,
  canLoop,
  canEvents,
  twoSteps,
  longSleep,
  retrying,
  bufferedEvents,
];

/** best_effort registrations get a per-suite name: warnings are emitted once per workflow name and process. */
const bestEffortName = (suite: string) => `async-nonDeterminismDemo-${suite}`;
const bestEffortAmbientName = (suite: string) => `async-bestEffortAmbient-${suite}`;

// Twice: with the worker's default execution cache (a workflow's code runs once, resumed turn after turn) and with
// the cache off (every turn replays the code from the start). Both must give the same outcomes.
for (const cached of [true, false]) {
  describeSidecars(`scenarios: async workflows${cached ? "" : " (replaying every turn)"}`, (sidecar) => {
    const suite = () => `${fx.sidecar.target}${cached ? "" : "-replaying"}`;
    let server: Server | undefined;
    beforeAll(async () => {
      server = createServer((_req, res) => {
        res.end("hello");
      });
      await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
      httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });
    afterAll(async () => {
      server?.closeAllConnections();
      await new Promise((resolve) => server?.close(resolve));
    });
    const fx = useAsyncFixture(sidecar, cached ? undefined : 0, (worker, target) => {
      const suite = `${target}${cached ? "" : "-replaying"}`;
      worker.addWorkflow(asyncActivitySequence);
      worker.addWorkflow(enhancedWorkflow, { sandboxMode: "best_effort" });
      worker.addWorkflow(nonDeterminismDemo, { name: bestEffortName(suite), sandboxMode: "best_effort" });
      worker.addWorkflow(ambientCall, { name: bestEffortAmbientName(suite), sandboxMode: "best_effort" });
      worker.addWorkflow(nonDeterminismDemo, { name: "async-nonDeterminismDemo-strict", sandboxMode: "strict" });
      for (const workflow of DEFINED) worker.addWorkflow(workflow);
      for (const activity of [
        plusOne,
        timesTen,
        square,
        double,
        slow,
        readMetadata,
        release,
        boom,
        flaky,
        myActivity,
        ...providers,
      ]) {
        worker.addActivity(activity as never);
      }
    });

    // -------------------------------------------------------------------------------------------------------------------
    // Activity sequence

    it.concurrent("activity sequence: act1, a 1 s sleep, act2 with act1's result (plain async function)", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration<number>("asyncActivitySequence", {
        input: 4,
        instanceId: uniqueId("async-seq"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.name).toBe("asyncActivitySequence");
      expect(state.output).toBe(50);
      const history = await fx.client.getOrchestrationHistory(id);
      expect(eventKinds(history).filter((k) => k !== "workflowStarted" && k !== "workflowCompleted")).toEqual([
        "executionStarted",
        "taskScheduled",
        "taskCompleted",
        "timerCreated",
        "timerFired",
        "taskScheduled",
        "taskCompleted",
        "executionCompleted",
      ]);
      const timer = history.find((e) => e.eventType.case === "timerCreated");
      const turnAfterFirst = history.findIndex((e) => e.eventType.case === "taskCompleted");
      const timerTurnTime = turnTimes(history.slice(0, turnAfterFirst + 1)).at(-1);
      expect(timer?.eventType.case === "timerCreated" ? timestampMs(timer.eventType.value.fireAt) : 0).toBe(
        (timerTurnTime ?? 0) + 1000,
      );
    });

    // -------------------------------------------------------------------------------------------------------------------
    // Fan-out/fan-in

    for (const mode of ["whenAll", "gather", "promiseAll"] as const) {
      it.concurrent(`fan-out/fan-in: 20 parallel activities through ${mode}`, async ({ expect }) => {
        const id = await fx.client.scheduleNewOrchestration(fanOut, {
          input: { mode, count: 20 },
          instanceId: uniqueId(`async-fan-${mode}`),
        });
        const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
        expect(state.status).toBe("COMPLETED");
        const squares = Array.from({ length: 20 }, (_, i) => i * i);
        expect(state.output).toEqual({ results: squares, sum: 2470 });
        expectTypeOf(state.output).toEqualTypeOf<{ results: number[]; sum: number } | undefined>();
        // All 20 were scheduled in the first turn, before any result came back.
        const kinds = eventKinds(await fx.client.getOrchestrationHistory(id));
        const firstResult = kinds.indexOf("taskCompleted");
        expect(kinds.slice(0, firstResult).filter((k) => k === "taskScheduled")).toHaveLength(20);
        expect(kinds.filter((k) => k === "taskCompleted")).toHaveLength(20);
      });
    }

    it.concurrent("gather: async helpers side by side, returnExceptions, and an empty gather", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(gatherHelpers, { instanceId: uniqueId("async-gather") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual({
        chained: [20, 30, 40, 49],
        withErrors: [
          42,
          {
            error: "TaskFailedError",
            message: expect.stringMatching(/^Activity 'async-boom' \(task #\d+\) failed: no luck$/),
          },
        ],
        empty: [],
      });
      // The three chains ran side by side: their first activities were scheduled in the same (first) turn.
      const kinds = eventKinds(await fx.client.getOrchestrationHistory(id));
      expect(kinds.slice(0, kinds.indexOf("taskCompleted")).filter((k) => k === "taskScheduled")).toHaveLength(4);
    });

    // -------------------------------------------------------------------------------------------------------------------
    // Enhanced features (seed 004)

    it.concurrent("quick start: withTimeout, whenAnyWithResult, now/random/uuid4 (plain function, best_effort)", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration("enhancedWorkflow", {
        input: "order-7",
        instanceId: uniqueId("async-quickstart"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      const out = state.output as Record<string, unknown>;
      expect(out).toMatchObject({ result: "processed order-7", firstCompleted: 1, firstResult: "provider 1" });
      const history = await fx.client.getOrchestrationHistory(id);
      expect(out["timestamp"]).toBe(new Date(turnTimes(history).at(-1) ?? 0).toISOString());
      expect(out["random"]).toBeGreaterThanOrEqual(0);
      expect(out["random"]).toBeLessThan(1);
      expect(out["id"]).toMatch(UUID);
    });

    it.concurrent("withTimeout: a fast activity wins over the timer", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(withTimeout, {
        input: { activityMs: 0, timeoutSeconds: 30 },
        instanceId: uniqueId("async-timeout-fast"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual({ result: "activity" });
    });

    it.concurrent("withTimeout: a slow activity against a 1 s timeout is caught as a TimeoutError", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(withTimeout, {
        input: { activityMs: 20_000, timeoutSeconds: 1 },
        instanceId: uniqueId("async-timeout-slow"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual({
        timedOut: {
          name: "WorkflowTimeoutError",
          code: "WORKFLOW_TIMEOUT",
          message: "callActivity('async-slow') timed out after 1s",
          isWorkflowTimeoutError: true,
          timeoutSeconds: 1,
          operation: "callActivity('async-slow')",
        },
      });
    });

    it.concurrent("now()/random()/uuid4() come out the same on every replay", async ({ expect }) => {
      const turns = 3;
      const id = await fx.client.scheduleNewOrchestration(deterministic, {
        input: turns,
        instanceId: uniqueId("async-determinism"),
      });
      const firstTurn = await eventually(
        () => fx.client.getOrchestrationState(id),
        (s) => s?.customStatus?.includes('"stage":"first"') === true,
        { what: "the first turn's custom status" },
      );
      const recorded = JSON.parse(firstTurn?.customStatus ?? "{}") as Deterministic & { stage: string };
      for (let i = 1; i <= turns; i++) {
        await fx.client.raiseOrchestrationEvent(id, "next", i);
        // One turn per event: wait until this one was processed.
        await eventually(
          () => fx.client.getOrchestrationState(id),
          (s) => s?.customStatus === JSON.stringify({ stage: `turn ${i}` }) || s?.status === "COMPLETED",
          { what: `turn ${i}` },
        );
      }
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      const out = state.output as { first: Deterministic; later: Deterministic };
      expect(out.first).toEqual({ now: recorded.now, random: recorded.random, uuid: recorded.uuid });
      // The first segment ran once (the execution stayed live) or once per turn, always to the very same values.
      const replays = firstSegments.get(id);
      if (cached) expect(replays).toHaveLength(1);
      else expect(replays.length).toBeGreaterThanOrEqual(turns + 1);
      for (const values of replays) expect(values).toEqual(out.first);
      // now() is the turn's time from history; random and uuid4 continue their streams.
      const times = turnTimes(await fx.client.getOrchestrationHistory(id));
      expect(out.first.now).toBe(new Date(times[0] ?? 0).toISOString());
      expect(out.later.now).toBe(new Date(times.at(-1) ?? 0).toISOString());
      expect(out.first.uuid).toMatch(UUID);
      expect(out.later.uuid).toMatch(UUID);
      expect(out.later.uuid).not.toBe(out.first.uuid);
      expect(out.later.random).not.toBe(out.first.random);
      for (const r of [out.first.random, out.later.random]) {
        expect(r).toBeGreaterThanOrEqual(0);
        expect(r).toBeLessThan(1);
      }
    });

    it.concurrent("setMetadata reaches activities and a child workflow, which passes it on", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(metadataParent, { instanceId: uniqueId("async-metadata") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      const set = { tenant: "acme", "x-trace": id };
      expect(state.output).toEqual({
        initial: {},
        activity: set,
        merged: { tenant: "override", "x-trace": id, region: "us-east" },
        child: { input: "payload", metadata: set, headers: set, fromActivity: set },
        afterHeaders: { region: "eu-west" },
        final: { region: "eu-west" },
      });
    });

    it.concurrent("info and executionInfo describe the workflow and its child", async ({ expect }) => {
      const tags = { tier: "gold" };
      const id = await fx.client.scheduleNewOrchestration(infoParent, { instanceId: uniqueId("async-info"), tags });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      const history = await fx.client.getOrchestrationHistory(id);
      const started = history.find((e) => e.eventType.case === "executionStarted");
      const executionId =
        started?.eventType.case === "executionStarted" ? started.eventType.value.workflowInstance?.executionId : "";
      const expectedTags = fx.sidecar.target === "embedded" ? tags : {}; // durabletask-go and daprd drop tags
      const times = turnTimes(history);
      const kinds = eventKinds(history);
      const out = state.output as Record<string, Record<string, unknown>>;
      expect(out["start"]).toEqual({
        frozen: true,
        instanceId: id,
        workflowName: "async-infoParent",
        isReplaying: !cached, // the last turn replays the start, unless the execution stayed live
        isSuspended: false,
        parentInstanceId: null,
        currentTime: new Date(times[0] ?? 0).toISOString(),
        historyEventSequence: kinds.indexOf("executionStarted"),
        matchesProperties: true,
        executionId: executionId ?? null,
        infoExecutionId: executionId ?? null,
        execution: {
          executionId: executionId ?? null,
          tags: expectedTags,
          scheduledStartTime: null,
          parentInstanceId: null,
        },
      });
      expect(out["end"]).toMatchObject({
        isReplaying: false,
        currentTime: new Date(times.at(-1) ?? 0).toISOString(),
        historyEventSequence: kinds.indexOf("childWorkflowInstanceCompleted"),
        matchesProperties: true,
      });
      expect(out["child"]).toMatchObject({
        frozen: true,
        instanceId: `${id}-child`,
        workflowName: "async-infoChild",
        isReplaying: false,
        parentInstanceId: id,
        matchesProperties: true,
        execution: { parentInstanceId: id },
      });
      // The first segment ran live once; without the execution cache it then replayed in each later turn (three turns
      // at least).
      const flags = replayFlags.get(id);
      expect(flags[0]).toBe(false);
      if (cached) expect(flags).toHaveLength(1);
      else expect(flags.slice(1)).toEqual(Array.from({ length: Math.max(2, flags.length - 1) }, () => true));
    });

    for (const fail of [false, true]) {
      it.concurrent(`await using runs cleanups last-first, awaiting a durable one (${fail ? "on a throw" : "on success"})`, async ({
        expect,
      }) => {
        const id = await fx.client.scheduleNewOrchestration(withCleanup, {
          input: fail,
          instanceId: uniqueId(`async-cleanup-${fail ? "throw" : "ok"}`),
        });
        const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
        const log = ["work: 2", "cleanup: released", "cleanup: registered first"];
        expect(state.customStatus).toBe(JSON.stringify(log));
        expect(released.count(id)).toBe(1);
        if (fail) {
          expect(state.status).toBe("FAILED");
          expect(state.failureDetails).toMatchObject({
            errorType: "Error",
            message: "work failed after cleanups were registered",
          });
        } else {
          expect(state.status).toBe("COMPLETED");
          expect(state.output).toEqual([...log, "after the block"]);
        }
      });
    }

    it.concurrent("getDebugInfo in debug mode: the failed step and every operation of the turn", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(robust, { instanceId: uniqueId("async-robust") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual({
        error: { code: "ACTIVITY_EXECUTION_FAILED", cause: "RangeError" },
        message: "Activity 'async-boom' (task #2) failed: risky activity failed",
        debugMode: true,
        step: "callActivity('async-boom')",
        instanceId: id,
        operations: ["callActivity('async-plusOne')", "callActivity('async-boom')"],
      });
    });

    it.concurrent("human interaction: the approval raised by the client wins over the timer", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(approvalFlow, {
        input: 60,
        instanceId: uniqueId("async-approved"),
      });
      await statusOf(fx.client, id, "RUNNING");
      await fx.client.raiseOrchestrationEvent(id, "approval", { by: "manager" });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual({ approved: true, by: "manager" });
    });

    it.concurrent("human interaction: without an approval the timer wins", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(approvalFlow, {
        input: 1,
        instanceId: uniqueId("async-not-approved"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual({ approved: false, by: null });
      expect(state.customStatus).toBe("waiting for approval");
    });

    // -------------------------------------------------------------------------------------------------------------------
    // Non-determinism demo

    it.concurrent("best_effort: Date, Math.random, crypto.randomUUID and setTimeout are deterministic across turns", async ({
      expect,
    }) => {
      const name = bestEffortName(suite());
      const id = await fx.client.scheduleNewOrchestration(name, { instanceId: uniqueId("async-best-effort") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      const out = state.output as {
        first: Ambient;
        afterTimer: number;
        n: number;
        random: number;
        ctxNow: number;
        dateNowAtEnd: number;
      };
      const history = await fx.client.getOrchestrationHistory(id);
      const times = turnTimes(history);
      // Date is the turn's time from history; the patched setTimeout became a durable timer of exactly 1 s.
      expect(out.first.dateNow).toBe(times[0]);
      expect(out.first.newDate).toBe(new Date(times[0] ?? 0).toISOString());
      const timer = history.find((e) => e.eventType.case === "timerCreated");
      expect(timer?.eventType.case === "timerCreated" ? timestampMs(timer.eventType.value.fireAt) : 0).toBe(
        out.first.dateNow + 1000,
      );
      expect(out.afterTimer).toBeGreaterThanOrEqual(out.first.dateNow + 1000);
      expect(out.dateNowAtEnd).toBe(out.ctxNow);
      expect(out.dateNowAtEnd).toBe(times.at(-1));
      expect(out.n).toBe(2);
      expect(out.first.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(out.random).not.toBe(out.first.random);
      // The first segment ran once (live execution) or once per turn, always to the same values (and the first turn's
      // custom status holds them too).
      const replays = bestEffortFirst.get(id);
      if (cached) expect(replays).toHaveLength(1);
      else expect(replays.length).toBeGreaterThanOrEqual(3);
      for (const values of replays) expect(values).toEqual(out.first);
      expect(JSON.parse(state.customStatus ?? "null")).toEqual(out.first);
      expect(eventKinds(history).filter((k) => k === "timerCreated" || k === "taskScheduled")).toEqual([
        "timerCreated",
        "taskScheduled",
      ]);
      // Each replaced call was reported once as a NonDeterminismWarning naming the workflow.
      const calls = NonDeterminismWarnings.filter((w) => w.workflowName === name).map((w) => w.call);
      expect([...calls].sort()).toEqual(
        ["Date.now()", "Math.random()", "crypto.randomUUID()", "new Date()", "setTimeout()"].sort(),
      );
    });

    it.concurrent("strict: the same demo fails at its first Date.now() with SandboxViolationError", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration("async-nonDeterminismDemo-strict", {
        instanceId: uniqueId("async-strict-demo"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails).toMatchObject({
        errorType: "SandboxViolationError",
        message:
          "Date.now() is not allowed in a strict-mode workflow: it is not deterministic, so replay could diverge. Use ctx.now() instead.",
      });
      expect(bestEffortFirst.count(id)).toBe(0);
      expect(eventKinds(await fx.client.getOrchestrationHistory(id))).not.toContain("timerCreated");
    });

    const strictCases = Object.keys(AMBIENT_CALLS) as AmbientCall[];
    for (const call of strictCases) {
      it.concurrent(`strict: ${call} fails the workflow with SandboxViolationError`, async ({ expect }) => {
        const id = await fx.client.scheduleNewOrchestration(strictAmbient, {
          input: call,
          instanceId: uniqueId("async-strict"),
        });
        const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
        expect(state.status).toBe("FAILED");
        expect(state.failureDetails?.errorType).toBe("SandboxViolationError");
        expect(state.failureDetails?.message).toMatch(
          new RegExp(`^${call.replace(/[.()]/g, "\\$&")} is not allowed in a strict-mode workflow`),
        );
      });
    }

    it.concurrent("best_effort: setInterval is refused even there (SandboxViolationError)", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(bestEffortAmbientName(suite()), {
        input: "setInterval()",
        instanceId: uniqueId("async-interval"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.errorType).toBe("SandboxViolationError");
      expect(state.failureDetails?.message).toMatch(/^setInterval\(\) is not allowed/);
    });

    it.concurrent("best_effort: fetch runs (with a warning) and awaiting it is a foreign await", async ({ expect }) => {
      const name = bestEffortAmbientName(suite());
      const id = await fx.client.scheduleNewOrchestration(name, {
        input: "fetch()",
        instanceId: uniqueId("async-fetch"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails).toMatchObject({
        errorType: "ForeignAwaitError",
        message: expect.stringContaining(`async.test.ts:${lineOf("AMBIENT-AWAIT-SITE")}:`),
      });
      expect(NonDeterminismWarnings.filter((w) => w.workflowName === name).map((w) => w.call)).toContain("fetch()");
    });

    it.concurrent("a foreign await (a promise resolved by a real timer) fails with ForeignAwaitError at its line", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(foreignAwait, { instanceId: uniqueId("async-foreign") });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails).toMatchObject({
        errorType: "ForeignAwaitError",
        message: expect.stringContaining(`async.test.ts:${lineOf("FOREIGN-AWAIT-SITE")}:`),
      });
      const message = state.failureDetails?.message ?? "";
      expect(message).toContain(`(workflow: async-foreignAwait, instance: ${id}, step: history event #`);
      expect(message).toContain("move the I/O into an activity");
    });

    // -------------------------------------------------------------------------------------------------------------------
    // Children, continue-as-new, lifecycle, retries, events

    it.concurrent("child async workflows: typed results in parallel, a failing child caught as TaskFailedError", async ({
      expect,
    }) => {
      expectTypeOf(asyncChild).toEqualTypeOf<WorkflowDefinition<{ n: number }, ChildOut>>();
      expectTypeOf(fanOut).toEqualTypeOf<
        WorkflowDefinition<{ mode: FanMode; count: number }, { results: number[]; sum: number }>
      >();
      const id = await fx.client.scheduleNewOrchestration(asyncParent, {
        input: 3,
        instanceId: uniqueId("async-parent"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expectTypeOf(state.output).toEqualTypeOf<{ results: ChildOut[]; failure: unknown } | undefined>();
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual({
        results: [0, 2, 4].map((doubled) => ({ doubled, parent: id })),
        failure: {
          code: "CHILD_WORKFLOW_FAILED",
          kind: "childWorkflow",
          name: "async-failingChild",
          causeType: "TypeError",
          causeMessage: "bad input",
        },
      });
      const child = await fx.client.getOrchestrationState(`${id}-child-1`);
      // daprd 1.18.3's GetInstance has no parentInstanceId.
      const parentInstanceId = fx.sidecar.target === "dapr" ? undefined : id;
      expect(child).toMatchObject({ status: "COMPLETED", name: "async-child", parentInstanceId });
      expect(child?.output).toEqual({ doubled: 2, parent: id });
      const failed = await fx.client.getOrchestrationState(`${id}-failing`);
      expect(failed?.status).toBe("FAILED");
      expect(failed?.failureDetails).toMatchObject({ errorType: "TypeError", message: "bad input" });
    });

    it.concurrent("a generator workflow calls an async child", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(generatorParent, {
        input: 21,
        instanceId: uniqueId("async-gen-parent"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual({ doubled: 42, parent: id });
    });

    it.concurrent("continueAsNew loops an async workflow with an activity per execution", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(canLoop, {
        input: { n: 0, seen: [] },
        instanceId: uniqueId("async-can"),
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual([0, 2, 4, 6, 8]);
      expect(state.input).toEqual({ n: 4, seen: [0, 2, 4, 6] });
      const kinds = eventKinds(await fx.client.getOrchestrationHistory(id));
      expect(kinds.filter((k) => k === "taskScheduled")).toHaveLength(1); // the last execution's history only
    });

    it.concurrent("continueAsNew with saveEvents carries unconsumed events over", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(canEvents, {
        input: [],
        instanceId: uniqueId("async-can-ev"),
      });
      await fx.client.waitForOrchestrationStart(id, { timeout: 30 });
      for (let i = 1; i <= 4; i++) await fx.client.raiseOrchestrationEvent(id, "item", i);
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toEqual([1, 2, 3, 4]);
    });

    it.concurrent("suspend holds a running async workflow (events buffered); resume completes it", async ({
      expect,
    }) => {
      const id = await fx.client.scheduleNewOrchestration(twoSteps, { instanceId: uniqueId("async-suspend") });
      await fx.client.raiseOrchestrationEvent(id, "step", 1);
      await eventually(
        () => fx.client.getOrchestrationState(id),
        (s) => s?.customStatus === "got 1",
        { what: "the first step" },
      );
      await fx.client.suspendOrchestration(id, { reason: "hold on" });
      await statusOf(fx.client, id, "SUSPENDED");
      await fx.client.raiseOrchestrationEvent(id, "step", 2);
      const error = await rejectionOf(fx.client.waitForOrchestrationCompletion(id, { timeout: 2 }));
      expect(errorInfo(error)).toMatchObject({ name: "WorkflowTimeoutError", code: "WORKFLOW_TIMEOUT" });
      expect((await fx.client.getOrchestrationState(id))?.status).toBe("SUSPENDED");
      await fx.client.resumeOrchestration(id, { reason: "go on" });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe(3);
    });

    it.concurrent("terminate stops a running async workflow in its sleep", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(longSleep, { instanceId: uniqueId("async-terminate") });
      await eventually(
        () => fx.client.getOrchestrationState(id),
        (s) => s?.customStatus === "sleeping",
        { what: "the sleep" },
      );
      await fx.client.terminateOrchestration(id, { output: { reason: "no longer needed" } });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("TERMINATED");
      expect(state.output).toEqual({ reason: "no longer needed" });
    });

    for (const [label, input, expected, runs] of [
      ["succeeds on the 3rd attempt", { failures: 2 }, { value: "ok after 3" }, 3],
      [
        "gives up after 3 attempts",
        { failures: 5 },
        { failed: { code: "ACTIVITY_EXECUTION_FAILED", causeType: "Error", message: "attempt 3 failed" } },
        3,
      ],
      [
        "does not retry a NonRetryableError",
        { failures: 0, nonRetryable: true },
        {
          failed: {
            code: "ACTIVITY_EXECUTION_FAILED",
            causeType: "NonRetryableError",
            message: "attempt 1: do not retry",
          },
        },
        1,
      ],
    ] as const) {
      it.concurrent(`activity retry policy in async code: ${label}`, async ({ expect }) => {
        const id = await fx.client.scheduleNewOrchestration(retrying, { input, instanceId: uniqueId("async-retry") });
        const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
        expect(state.status).toBe("COMPLETED");
        expect(state.output).toEqual(expected);
        expect(attempts.count(id)).toBe(runs);
      });
    }

    it.concurrent("external events raised before the workflow waits are buffered", async ({ expect }) => {
      const id = await fx.client.scheduleNewOrchestration(bufferedEvents, { instanceId: uniqueId("async-buffered") });
      await fx.client.raiseOrchestrationEvent(id, "b", 30);
      await fx.client.raiseOrchestrationEvent(id, "a", 10);
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect(state.status).toBe("COMPLETED");
      expect(state.output).toBe(42);
      const kinds = eventKinds(await fx.client.getOrchestrationHistory(id));
      // Both events arrived while the workflow was still busy with its activity or timer.
      expect(kinds.indexOf("eventRaised")).toBeLessThan(kinds.indexOf("timerFired"));
    });
  });
}
