// TaskHubGrpcWorker against an in-process fake sidecar (a real HTTP/2 gRPC server on loopback): connection and
// reconnection, backpressure, completions, stateful history, the oversize guard, malformed work and graceful stop.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ActivityContext, defineActivity, defineWorkflow, history } from "@dt/core";
import {
  type CompleteWorkflowAction,
  OrchestrationStatus,
  type ScheduleTaskAction,
  WorkerCapability,
  type WorkflowResponse,
} from "@dt/proto";
import { afterEach, describe, expect, it } from "vitest";
import { activityItem, FakeSidecar, workflowItem } from "./testing/fake-sidecar.js";
import { daprdLimits } from "./turns.js";
import { TaskHubGrpcWorker, type WorkerOptions } from "./worker.js";

// --- fixtures -------------------------------------------------------------------------------------------------------

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startSidecar(port = 0): Promise<FakeSidecar> {
  const sidecar = await FakeSidecar.start(port);
  cleanups.push(() => sidecar.stop());
  return sidecar;
}

function newWorker(address: string, options: Partial<WorkerOptions> = {}): TaskHubGrpcWorker {
  const worker = new TaskHubGrpcWorker({
    address,
    useEnvironment: false,
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    ...options,
  });
  cleanups.push(() => worker.stop({ timeoutMs: 1_000 }));
  return worker;
}

/** A worker with `register` applied, started and connected to `sidecar`. */
async function connectedWorker(
  sidecar: FakeSidecar,
  register: (worker: TaskHubGrpcWorker) => void = () => {},
  options: Partial<WorkerOptions> = {},
): Promise<TaskHubGrpcWorker> {
  const worker = newWorker(sidecar.address, options);
  register(worker);
  const streams = sidecar.streams.length;
  await worker.start();
  await worker.waitForReady({ timeoutMs: 10_000 });
  // Ready means the sidecar answered the stream (connect's server sends no headers before the first item, so a Hello
  // after it did); the sidecar's own record of the stream may still be on its way.
  await sidecar.waitFor(() => sidecar.streams.length > streams, "the worker's work-item stream");
  return worker;
}

/** Polls `condition` (bounded): for worker-side state the sidecar cannot observe. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const id = (name: string) => `${name}-${randomUUID()}`;
const T0 = new Date("2025-01-01T00:00:00Z");
const T1 = new Date("2025-01-01T00:00:01Z");
const T2 = new Date("2025-01-01T00:00:02Z");

/** The first turn of a new instance: no past, WorkflowStarted + ExecutionStarted. */
function firstTurn(name: string, instanceId: string, input?: string, completionToken?: string) {
  return workflowItem({
    instanceId,
    newEvents: [history.workflowStarted(T0), history.executionStarted(name, instanceId, input)],
    ...(completionToken === undefined ? {} : { completionToken }),
  });
}

function completion(response: WorkflowResponse): CompleteWorkflowAction {
  const action = response.actions.find((a) => a.workflowActionType.case === "completeWorkflow")?.workflowActionType;
  if (action?.case !== "completeWorkflow") throw new Error(`no completeWorkflow action in ${response.instanceId}`);
  return action.value;
}

function scheduled(response: WorkflowResponse): ScheduleTaskAction[] {
  return response.actions.flatMap((a) =>
    a.workflowActionType.case === "scheduleTask" ? [a.workflowActionType.value] : [],
  );
}

function completionFor(sidecar: FakeSidecar, token: string) {
  const found = sidecar.workflowCompletions.find((c) => c.response.completionToken === token);
  if (found === undefined) throw new Error(`no workflow completion with token ${token}`);
  return found;
}

const hasWorkflowCompletion = (sidecar: FakeSidecar, token: string) => () =>
  sidecar.workflowCompletions.some((c) => c.response.completionToken === token);
const hasActivityCompletion = (sidecar: FakeSidecar, token: string) => () =>
  sidecar.activityCompletions.some((c) => c.completionToken === token);

const echo = defineWorkflow("echo", (_ctx, input: string) => `echo:${input}`);
const shout = defineActivity("shout", (_ctx, input: string) => input.toUpperCase());

// A two-step chain, for multi-turn (stateful history) tests.
const chain = defineWorkflow("chain", function* (ctx, input: string) {
  const a: string = yield ctx.callActivity("stepA", { input });
  const b: string = yield ctx.callActivity("stepB", { input: a });
  return [a, b];
});

/** The committed history of `chain` after each turn, as durabletask-go would send it. */
function chainHistory(instanceId: string, name = "chain") {
  const turn1New = [history.workflowStarted(T0), history.executionStarted(name, instanceId, '"x"')];
  const afterTurn1 = [...turn1New, history.taskScheduled(1, "stepA", '"x"')];
  const turn2New = [history.workflowStarted(T1), history.taskCompleted(1, '"A"')];
  const afterTurn2 = [...afterTurn1, ...turn2New, history.taskScheduled(2, "stepB", '"A"')];
  const turn3New = [history.workflowStarted(T2), history.taskCompleted(2, '"B"')];
  return { turn1New, afterTurn1, turn2New, afterTurn2, turn3New };
}

// --- connecting -----------------------------------------------------------------------------------------------------

describe("connecting", () => {
  it("connects once the sidecar comes up after start(), retrying from the very first attempt", async () => {
    const port = await FakeSidecar.freePort();
    const worker = newWorker(`127.0.0.1:${port}`);
    await worker.start();
    expect(worker.isReady).toBe(false);
    const ready = worker.waitForReady({ timeoutMs: 15_000 });
    const sidecar = await startSidecar(port);
    await ready;
    expect(worker.isReady).toBe(true);
    await sidecar.waitFor(() => sidecar.openStreams().length === 1, "an open work-item stream");
    expect(sidecar.helloCalls).toBeGreaterThanOrEqual(1);
  });

  it("waitForReady resolves at once when already connected, and for every waiter", async () => {
    const sidecar = await startSidecar();
    const worker = newWorker(sidecar.address);
    const waiters = [worker.waitForReady(), worker.waitForReady({ timeoutMs: 10_000 })];
    await worker.start();
    await Promise.all(waiters);
    await worker.waitForReady({ timeoutMs: 1 });
    expect(worker.isReady).toBe(true);
  });

  it("waitForReady({ timeoutMs }) rejects with SIDECAR_UNAVAILABLE when nothing listens", async () => {
    const port = await FakeSidecar.freePort();
    const worker = newWorker(`127.0.0.1:${port}`);
    await worker.start();
    const error = await worker.waitForReady({ timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "SIDECAR_UNAVAILABLE", grpcCode: "UNAVAILABLE" });
    expect(String((error as Error).message)).toContain(`127.0.0.1:${port}`);
    expect(worker.isReady).toBe(false);
  });

  it("waitForReady rejects with the signal's reason when it is aborted", async () => {
    const worker = newWorker(`127.0.0.1:${await FakeSidecar.freePort()}`);
    await worker.start();
    const controller = new AbortController();
    const waiting = worker.waitForReady({ signal: controller.signal });
    controller.abort(new Error("gave up"));
    await expect(waiting).rejects.toThrow("gave up");
  });

  it("waitForReady rejects at once when the signal is already aborted", async () => {
    const worker = newWorker(`127.0.0.1:${await FakeSidecar.freePort()}`);
    await worker.start();
    const outcome = await Promise.race([
      worker.waitForReady({ signal: AbortSignal.abort(new Error("already gone")) }).then(
        () => "resolved",
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      ),
      sleep(2_000).then(() => "still pending after 2 s"),
    ]);
    expect(outcome).toBe("already gone");
  });

  it("advertises STATEFUL_HISTORY by default and nothing when statefulHistory is false", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar);
    await connectedWorker(sidecar, () => {}, { statefulHistory: false });
    await sidecar.waitFor(() => sidecar.streams.length === 2, "two work-item streams");
    const capabilities = sidecar.streams.map((s) => [...s.capabilities]).sort((a, b) => b.length - a.length);
    expect(capabilities).toEqual([[WorkerCapability.STATEFUL_HISTORY], []]);
  });

  it("sends the API token on Hello, GetWorkItems and completions", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addActivity(shout), { apiToken: "s3cret" });
    sidecar.push(activityItem({ name: "shout", input: '"hi"', completionToken: "tok" }));
    await sidecar.waitFor(hasActivityCompletion(sidecar, "tok"), "the activity completion");
    const methods = new Set(sidecar.calls.map((c) => c.method));
    expect(methods).toEqual(new Set(["hello", "getWorkItems", "completeActivityTask"]));
    for (const call of sidecar.calls) expect(call.headers.get("dapr-api-token"), call.method).toBe("s3cret");
  });
});

// --- reconnecting ---------------------------------------------------------------------------------------------------

describe("reconnecting", () => {
  it("reconnects after the sidecar closes the work-item stream, and takes work on the new stream", async () => {
    const sidecar = await startSidecar();
    const worker = await connectedWorker(sidecar, (w) => w.addActivity(shout));
    sidecar.closeStreams();
    await sidecar.waitFor(
      () => sidecar.streams.length === 2 && sidecar.streams[1]?.state === "open",
      "a second, open work-item stream",
    );
    expect(sidecar.streams[0]?.state).toBe("closed-by-server");
    await worker.waitForReady({ timeoutMs: 10_000 });
    sidecar.push(activityItem({ name: "shout", input: '"again"', completionToken: "after-reconnect" }));
    await sidecar.waitFor(hasActivityCompletion(sidecar, "after-reconnect"), "the activity completion");
    expect(sidecar.streams[1]?.delivered.map((i) => i.completionToken)).toEqual(["after-reconnect"]);
    expect(sidecar.activityCompletions[0]?.result).toBe('"AGAIN"');
  });

  it("drops the stream when the Hello keepalive fails, retries with backoff, and reconnects", async () => {
    const sidecar = await startSidecar();
    const worker = await connectedWorker(sidecar, () => {}, {
      keepaliveIntervalMs: 30,
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    await sidecar.waitFor(() => sidecar.helloCalls >= 2, "a keepalive Hello");
    sidecar.helloError = new ConnectError("sidecar is draining", Code.Unavailable);
    await sidecar.waitFor(() => sidecar.streams[0]?.state === "closed-by-client", "the worker to drop its stream");
    await until(() => !worker.isReady, "the worker to report not ready");

    // While Hello keeps failing the worker retries, but with backoff: not in a tight loop.
    const before = sidecar.helloCalls;
    await sleep(500);
    const attempts = sidecar.helloCalls - before;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThan(30);
    expect(sidecar.streams).toHaveLength(1); // no stream is opened while Hello fails

    sidecar.helloError = undefined;
    await worker.waitForReady({ timeoutMs: 10_000 });
    await sidecar.waitFor(() => sidecar.openStreams().length === 1, "a new open stream");
    expect(sidecar.streams).toHaveLength(2);
  });

  it("reconnects after the sidecar stops and restarts on the same port", async () => {
    const sidecar = await startSidecar();
    const worker = await connectedWorker(sidecar, (w) => w.addWorkflow(echo));
    await sidecar.stop();
    await until(() => !worker.isReady, "the worker to notice the sidecar went away");
    await sidecar.restart();
    await worker.waitForReady({ timeoutMs: 10_000 });
    const instanceId = id("restart");
    sidecar.push(firstTurn("echo", instanceId, '"back"', "after-restart"));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "after-restart"), "the workflow completion");
    expect(completion(completionFor(sidecar, "after-restart").response).result).toBe('"echo:back"');
  });
});

// --- completions ----------------------------------------------------------------------------------------------------

describe("completions", () => {
  it("echoes completion tokens on workflow and activity responses", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(echo).addActivity(shout));
    const instanceId = id("tokens");
    const wfToken = `wf-${randomUUID()}`;
    const actToken = `act-${randomUUID()}`;
    sidecar.push(firstTurn("echo", instanceId, '"a"', wfToken));
    sidecar.push(activityItem({ name: "shout", input: '"b"', instanceId, taskId: 7, completionToken: actToken }));
    await sidecar.waitFor(
      () => hasWorkflowCompletion(sidecar, wfToken)() && hasActivityCompletion(sidecar, actToken)(),
      "both completions",
    );
    const wf = completionFor(sidecar, wfToken);
    expect(wf.method).toBe("completeWorkflowTask");
    expect(wf.response.instanceId).toBe(instanceId);
    expect(completion(wf.response)).toMatchObject({
      workflowStatus: OrchestrationStatus.COMPLETED,
      result: '"echo:a"',
    });
    expect(sidecar.activityCompletions[0]).toMatchObject({
      completionToken: actToken,
      instanceId,
      taskId: 7,
      result: '"B"',
    });
    expect(sidecar.activityCompletions[0]?.failureDetails).toBeUndefined();
  });

  it("sends the workflow's actions and custom status", async () => {
    const sidecar = await startSidecar();
    const withStatus = defineWorkflow("withStatus", function* (ctx, input: string) {
      ctx.setCustomStatus({ stage: "calling" });
      const result: string = yield ctx.callActivity("stepA", { input });
      return result;
    });
    await connectedWorker(sidecar, (w) => w.addWorkflow(withStatus));
    sidecar.push(firstTurn("withStatus", id("status"), '"in"', "tok-status"));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "tok-status"), "the workflow completion");
    const { response } = completionFor(sidecar, "tok-status");
    expect(scheduled(response)).toMatchObject([{ name: "stepA", input: '"in"' }]);
    expect(response.actions[0]?.id).toBe(1);
    expect(response.customStatus).toBe('{"stage":"calling"}');
  });

  it("reports a throwing activity as failure details", async () => {
    const sidecar = await startSidecar();
    const boom = defineActivity("boom", () => {
      throw new TypeError("kaput");
    });
    await connectedWorker(sidecar, (w) => w.addActivity(boom));
    sidecar.push(activityItem({ name: "boom", completionToken: "tok-boom" }));
    await sidecar.waitFor(hasActivityCompletion(sidecar, "tok-boom"), "the activity completion");
    const response = sidecar.activityCompletions[0];
    expect(response?.result).toBeUndefined();
    expect(response?.failureDetails).toMatchObject({ errorType: "TypeError", errorMessage: "kaput" });
  });

  it("falls back to CompleteOrchestratorTask when CompleteWorkflowTask is UNIMPLEMENTED, and keeps using it", async () => {
    const sidecar = await startSidecar();
    sidecar.completeWorkflowTaskUnimplemented = true;
    await connectedWorker(sidecar, (w) => w.addWorkflow(echo));
    sidecar.push(firstTurn("echo", id("old-sidecar"), '"1"', "turn-1"));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "turn-1"), "the first completion");
    sidecar.push(firstTurn("echo", id("old-sidecar"), '"2"', "turn-2"));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "turn-2"), "the second completion");
    expect(sidecar.workflowCompletions.map((c) => c.method)).toEqual([
      "completeOrchestratorTask",
      "completeOrchestratorTask",
    ]);
    expect(sidecar.completeWorkflowTaskCalls).toBe(1);
    expect(completion(completionFor(sidecar, "turn-2").response).result).toBe('"echo:2"');
  });

  it("gives the activity context the trace parent and state from the request", async () => {
    const sidecar = await startSidecar();
    let seen: ActivityContext | undefined;
    const probe = defineActivity("probe", (ctx) => {
      seen = ctx;
      return null;
    });
    await connectedWorker(sidecar, (w) => w.addActivity(probe));
    const traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    sidecar.push(
      activityItem({
        name: "probe",
        instanceId: "inst-trace",
        taskId: 3,
        taskExecutionId: "exec-stable",
        traceParent,
        traceState: "vendor=1",
        completionToken: "tok-trace",
      }),
    );
    await sidecar.waitFor(hasActivityCompletion(sidecar, "tok-trace"), "the activity completion");
    expect(seen).toMatchObject({
      name: "probe",
      instanceId: "inst-trace",
      taskId: 3,
      taskExecutionId: "exec-stable",
      traceParent,
      traceState: "vendor=1",
    });
    expect(seen?.signal.aborted).toBe(false);
  });
});

// --- backpressure ---------------------------------------------------------------------------------------------------

describe("backpressure", () => {
  it("runs at most maxConcurrentActivities at once and completes every queued item", async () => {
    const sidecar = await startSidecar();
    let running = 0;
    let maxRunning = 0;
    const started: number[] = [];
    const gates = new Map<number, () => void>();
    const blocking = defineActivity("blocking", async (ctx, n: number) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      started.push(n);
      await new Promise<void>((resolve) => gates.set(ctx.taskId, resolve));
      running--;
      return n * 10;
    });
    await connectedWorker(sidecar, (w) => w.addActivity(blocking), { maxConcurrentActivities: 2 });
    for (let n = 1; n <= 10; n++) {
      sidecar.push(activityItem({ name: "blocking", input: String(n), taskId: n, completionToken: `tok-${n}` }));
    }
    await until(() => started.length === 2, "two activities to start");
    await sleep(100); // give an over-eager worker the chance to start a third
    expect(started).toHaveLength(2);
    expect(sidecar.activityCompletions).toHaveLength(0);

    // Release one at a time: each finished activity lets exactly one more in.
    for (let released = 0; released < 10; released++) {
      await until(() => gates.size > 0, "a running activity to release");
      const [taskId, open] = [...gates.entries()][0] as [number, () => void];
      gates.delete(taskId);
      open();
      await sidecar.waitFor(() => sidecar.activityCompletions.length === released + 1, `${released + 1} completions`);
    }
    expect(maxRunning).toBe(2);
    expect(started).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const byTask = new Map(sidecar.activityCompletions.map((c) => [c.taskId, c]));
    expect([...byTask.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const [taskId, response] of byTask) {
      expect(response).toMatchObject({ completionToken: `tok-${taskId}`, result: String(taskId * 10) });
    }
    expect(sidecar.streams).toHaveLength(1);
  });

  it("keeps reading workflow turns while activities are saturated (no head-of-line blocking)", async () => {
    const sidecar = await startSidecar();
    const release = deferred();
    const hold = defineActivity("hold", async () => {
      await release.promise;
      return "held";
    });
    await connectedWorker(sidecar, (w) => w.addActivity(hold).addWorkflow(echo), { maxConcurrentActivities: 1 });
    // One running, one queued: the activity kind is full, yet the workflow turn behind them still runs.
    sidecar.push(activityItem({ name: "hold", taskId: 1, completionToken: "tok-a1" }));
    sidecar.push(activityItem({ name: "hold", taskId: 2, completionToken: "tok-a2" }));
    sidecar.push(firstTurn("echo", id("hol"), '"x"', "tok-wf"));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "tok-wf"), "the workflow turn behind saturated activities");
    expect(sidecar.activityCompletions).toHaveLength(0);
    release.resolve();
    await sidecar.waitFor(() => sidecar.activityCompletions.length === 2, "both activities");
  });

  it("runs workflow turns and activities on separate budgets", async () => {
    const sidecar = await startSidecar();
    const release = deferred();
    const hold = defineActivity("hold", async () => {
      await release.promise;
      return "held";
    });
    await connectedWorker(sidecar, (w) => w.addActivity(hold).addWorkflow(echo), { maxConcurrentActivities: 1 });
    sidecar.push(activityItem({ name: "hold", completionToken: "tok-hold" }));
    sidecar.push(firstTurn("echo", id("budget"), '"w"', "tok-wf"));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "tok-wf"), "the workflow turn while the activity runs");
    expect(sidecar.activityCompletions).toHaveLength(0);
    release.resolve();
    await sidecar.waitFor(hasActivityCompletion(sidecar, "tok-hold"), "the activity completion");
  });
});

// --- stateful history -----------------------------------------------------------------------------------------------

describe("stateful history", () => {
  it("replays a delta from its cache without calling GetInstanceHistory", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(chain));
    const instanceId = id("delta");
    const h = chainHistory(instanceId);

    sidecar.push(workflowItem({ instanceId, newEvents: h.turn1New, completionToken: "t1" }));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "t1"), "turn 1");
    expect(scheduled(completionFor(sidecar, "t1").response)).toMatchObject([{ name: "stepA", input: '"x"' }]);

    // Turn 2: the full history (the sidecar holds no warm prefix of length > 0 yet).
    sidecar.push(workflowItem({ instanceId, pastEvents: h.afterTurn1, newEvents: h.turn2New, completionToken: "t2" }));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "t2"), "turn 2");
    expect(scheduled(completionFor(sidecar, "t2").response)).toMatchObject([{ name: "stepB", input: '"A"' }]);

    // Turn 3: a delta over the 3 events turn 2 had as its past.
    const delta = h.afterTurn2.slice(h.afterTurn1.length);
    sidecar.push(
      workflowItem({
        instanceId,
        pastEvents: delta,
        cachedEventCount: h.afterTurn1.length,
        newEvents: h.turn3New,
        completionToken: "t3",
      }),
    );
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "t3"), "turn 3");
    expect(completion(completionFor(sidecar, "t3").response)).toMatchObject({
      workflowStatus: OrchestrationStatus.COMPLETED,
      result: '["A","B"]',
    });
    expect(sidecar.historyRequests).toEqual([]);
  });

  it("fetches the full history with GetInstanceHistory when the delta's count does not match its cache", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(chain));
    const instanceId = id("miss");
    const h = chainHistory(instanceId);
    sidecar.histories.set(instanceId, h.afterTurn2);

    sidecar.push(workflowItem({ instanceId, pastEvents: h.afterTurn1, newEvents: h.turn2New, completionToken: "t2" }));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "t2"), "turn 2");
    sidecar.push(
      workflowItem({
        instanceId,
        pastEvents: h.afterTurn2.slice(5),
        cachedEventCount: 5, // the worker holds 3 events: a miss
        newEvents: h.turn3New,
        completionToken: "t3",
      }),
    );
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "t3"), "turn 3");
    expect(sidecar.historyRequests).toEqual([instanceId]);
    expect(completion(completionFor(sidecar, "t3").response)).toMatchObject({
      workflowStatus: OrchestrationStatus.COMPLETED,
      result: '["A","B"]',
    });
  });

  it("treats a delta on a new stream as a miss: the cache lives and dies with its stream", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(chain));
    const instanceId = id("per-stream");
    const h = chainHistory(instanceId);
    sidecar.histories.set(instanceId, h.afterTurn2);

    sidecar.push(workflowItem({ instanceId, pastEvents: h.afterTurn1, newEvents: h.turn2New, completionToken: "t2" }));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "t2"), "turn 2");
    sidecar.closeStreams();
    await sidecar.waitFor(() => sidecar.streams[1]?.state === "open", "the worker to reconnect");
    sidecar.push(
      workflowItem({
        instanceId,
        pastEvents: h.afterTurn2.slice(h.afterTurn1.length),
        cachedEventCount: h.afterTurn1.length,
        newEvents: h.turn3New,
        completionToken: "t3",
      }),
    );
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, "t3"), "turn 3");
    expect(sidecar.historyRequests).toEqual([instanceId]);
    expect(completion(completionFor(sidecar, "t3").response).result).toBe('["A","B"]');
  });

  it("drops its stream (so the sidecar redelivers) when the history cannot be fetched", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(chain));
    sidecar.historyError = new ConnectError("store offline", Code.Unavailable);
    const instanceId = id("no-history");
    const h = chainHistory(instanceId);
    sidecar.push(
      workflowItem({
        instanceId,
        pastEvents: h.afterTurn2.slice(3),
        cachedEventCount: 3,
        newEvents: h.turn3New,
        completionToken: "t3",
      }),
    );
    await sidecar.waitFor(() => sidecar.streams[0]?.state === "closed-by-client", "the worker to drop its stream");
    await sidecar.waitFor(() => sidecar.streams[1]?.state === "open", "the worker to reconnect");
    expect(sidecar.historyRequests).toEqual([instanceId]);
    expect(sidecar.workflowCompletions).toEqual([]);
  });
});

// --- live executions ------------------------------------------------------------------------------------------------

describe("live executions (workflowCacheSize)", () => {
  // `chain` with a count of how often its code starts: a resumed execution does not start again, a replay does.
  let starts = 0;
  const counted = defineWorkflow("counted", function* (ctx, input: string) {
    starts++;
    const a: string = yield ctx.callActivity("stepA", { input });
    const b: string = yield ctx.callActivity("stepB", { input: a });
    return [a, b];
  });
  const runTurns = async (sidecar: FakeSidecar, instanceId: string, redeliverTurn2: boolean) => {
    const h = chainHistory(instanceId, "counted");
    sidecar.push(workflowItem({ instanceId, newEvents: h.turn1New, completionToken: `${instanceId}-1` }));
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, `${instanceId}-1`), "turn 1");
    sidecar.push(
      workflowItem({ instanceId, pastEvents: h.afterTurn1, newEvents: h.turn2New, completionToken: `${instanceId}-2` }),
    );
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, `${instanceId}-2`), "turn 2");
    if (redeliverTurn2) {
      // The sidecar never got turn 2's result and hands the same turn out again.
      sidecar.push(
        workflowItem({
          instanceId,
          pastEvents: h.afterTurn1,
          newEvents: h.turn2New,
          completionToken: `${instanceId}-2b`,
        }),
      );
      await sidecar.waitFor(hasWorkflowCompletion(sidecar, `${instanceId}-2b`), "turn 2 again");
      expect(scheduled(completionFor(sidecar, `${instanceId}-2b`).response)).toMatchObject([{ name: "stepB" }]);
    }
    sidecar.push(
      workflowItem({ instanceId, pastEvents: h.afterTurn2, newEvents: h.turn3New, completionToken: `${instanceId}-3` }),
    );
    await sidecar.waitFor(hasWorkflowCompletion(sidecar, `${instanceId}-3`), "turn 3");
    expect(completion(completionFor(sidecar, `${instanceId}-3`).response)).toMatchObject({
      workflowStatus: OrchestrationStatus.COMPLETED,
      result: '["A","B"]',
    });
  };

  it("resumes a workflow's execution on its later turns: its code starts once", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(counted), { statefulHistory: false });
    starts = 0;
    await runTurns(sidecar, id("live"), false);
    expect(starts).toBe(1);
  });

  it("replays a redelivered turn (a lost result) and the turn after it, with the same results", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(counted), { statefulHistory: false });
    starts = 0;
    await runTurns(sidecar, id("redelivered"), true);
    expect(starts).toBe(2); // the redelivered turn replays; the next one resumes that replay's execution
  });

  it("workflowCacheSize: 0 replays every turn", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(counted), { statefulHistory: false, workflowCacheSize: 0 });
    starts = 0;
    await runTurns(sidecar, id("no-cache"), false);
    expect(starts).toBe(3);
  });
});

// --- the oversize guard ---------------------------------------------------------------------------------------------

describe("oversize responses", () => {
  it("fails a workflow whose response exceeds maxResponseBytes, naming the limit", async () => {
    const sidecar = await startSidecar();
    const big = defineWorkflow("big", () => "x".repeat(5_000));
    await connectedWorker(sidecar, (w) => w.addWorkflow(big).addWorkflow(echo), { maxResponseBytes: 1_000 });
    const instanceId = id("big");
    sidecar.push(firstTurn("big", instanceId, undefined, "tok-big"));
    sidecar.push(firstTurn("echo", id("small"), '"fits"', "tok-small"));
    await sidecar.waitFor(
      () => hasWorkflowCompletion(sidecar, "tok-big")() && hasWorkflowCompletion(sidecar, "tok-small")(),
      "both completions",
    );
    const { response } = completionFor(sidecar, "tok-big");
    expect(response.instanceId).toBe(instanceId);
    const done = completion(response);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.result).toBeUndefined();
    expect(done.failureDetails?.errorMessage).toMatch(/limit of 1000 bytes/);
    expect(completion(completionFor(sidecar, "tok-small").response).result).toBe('"echo:fits"');
  });

  it("fails an activity whose result exceeds maxResponseBytes, naming the limit", async () => {
    const sidecar = await startSidecar();
    const huge = defineActivity("huge", () => "y".repeat(5_000));
    await connectedWorker(sidecar, (w) => w.addActivity(huge), { maxResponseBytes: 1_000 });
    sidecar.push(activityItem({ name: "huge", instanceId: "inst-huge", taskId: 4, completionToken: "tok-huge" }));
    await sidecar.waitFor(hasActivityCompletion(sidecar, "tok-huge"), "the activity completion");
    const response = sidecar.activityCompletions[0];
    expect(response).toMatchObject({ instanceId: "inst-huge", taskId: 4, completionToken: "tok-huge" });
    expect(response?.result).toBeUndefined();
    expect(response?.failureDetails?.errorMessage).toMatch(/huge/);
    expect(response?.failureDetails?.errorMessage).toMatch(/limit of 1000 bytes/);
  });
});

// --- bad work -------------------------------------------------------------------------------------------------------

describe("unknown and malformed work", () => {
  it("answers an unregistered workflow with a FAILED completion and keeps running", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(echo));
    sidecar.push(firstTurn("missing", id("missing"), undefined, "tok-missing"));
    sidecar.push(firstTurn("echo", id("after"), '"ok"', "tok-after"));
    await sidecar.waitFor(
      () => hasWorkflowCompletion(sidecar, "tok-missing")() && hasWorkflowCompletion(sidecar, "tok-after")(),
      "both completions",
    );
    const failed = completion(completionFor(sidecar, "tok-missing").response);
    expect(failed.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(failed.failureDetails?.errorMessage).toMatch(/No workflow named 'missing'/);
    expect(completion(completionFor(sidecar, "tok-after").response).result).toBe('"echo:ok"');
    expect(sidecar.streams).toHaveLength(1);
  });

  it("answers an unregistered activity with failure details and keeps running", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addActivity(shout));
    sidecar.push(activityItem({ name: "nope", completionToken: "tok-nope" }));
    sidecar.push(activityItem({ name: "shout", input: '"ok"', completionToken: "tok-ok" }));
    await sidecar.waitFor(
      () => hasActivityCompletion(sidecar, "tok-nope")() && hasActivityCompletion(sidecar, "tok-ok")(),
      "both completions",
    );
    const nope = sidecar.activityCompletions.find((c) => c.completionToken === "tok-nope");
    expect(nope?.result).toBeUndefined();
    expect(nope?.failureDetails?.errorMessage).toMatch(/No activity named 'nope'/);
    expect(sidecar.activityCompletions.find((c) => c.completionToken === "tok-ok")?.result).toBe('"OK"');
    expect(sidecar.streams).toHaveLength(1);
  });

  it("skips a work item of an unknown kind without crashing or reconnecting", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addActivity(shout));
    // A Microsoft-flavour entity request (field 3): this worker decodes it as a WorkItem with no known request.
    const foreign = activityItem({ name: "ignored", completionToken: "tok-foreign" });
    foreign.request = { case: undefined };
    foreign.$unknown = [{ no: 3, wireType: WireType.LengthDelimited, data: Uint8Array.of(0) }];
    sidecar.push(foreign);
    sidecar.push(activityItem({ name: "shout", input: '"next"', completionToken: "tok-next" }));
    await sidecar.waitFor(hasActivityCompletion(sidecar, "tok-next"), "the next activity completion");
    expect(sidecar.activityCompletions.map((c) => c.completionToken)).toEqual(["tok-next"]);
    expect(sidecar.workflowCompletions).toEqual([]);
    expect(sidecar.streams).toHaveLength(1);
    expect(sidecar.streams[0]?.state).toBe("open");
  });

  it("answers a workflow turn with no new events with no actions (nothing to do, nothing lost), and keeps running", async () => {
    const sidecar = await startSidecar();
    await connectedWorker(sidecar, (w) => w.addWorkflow(echo));
    const instanceId = id("empty");
    sidecar.push(workflowItem({ instanceId, newEvents: [], completionToken: "tok-empty" }));
    sidecar.push(firstTurn("echo", id("fine"), '"fine"', "tok-fine"));
    await sidecar.waitFor(
      () => hasWorkflowCompletion(sidecar, "tok-empty")() && hasWorkflowCompletion(sidecar, "tok-fine")(),
      "both completions",
    );
    expect(completionFor(sidecar, "tok-empty").response.actions).toEqual([]);
    expect(completion(completionFor(sidecar, "tok-fine").response).result).toBe('"echo:fine"');
    expect(sidecar.streams).toHaveLength(1);
  });
});

// --- lifecycle ------------------------------------------------------------------------------------------------------

describe("graceful stop", () => {
  it("lets running activities finish within the deadline and reports them", async () => {
    const sidecar = await startSidecar();
    const started = deferred();
    const release = deferred();
    let signal: AbortSignal | undefined;
    const slow = defineActivity("slow", async (ctx) => {
      signal = ctx.signal;
      started.resolve();
      await release.promise;
      return "finished";
    });
    const worker = await connectedWorker(sidecar, (w) => w.addActivity(slow));
    sidecar.push(activityItem({ name: "slow", completionToken: "tok-slow" }));
    await started.promise;
    const stopping = worker.stop({ timeoutMs: 10_000 });
    release.resolve();
    await stopping;
    expect(signal?.aborted).toBe(false);
    expect(sidecar.activityCompletions).toMatchObject([{ completionToken: "tok-slow", result: '"finished"' }]);
    await sidecar.waitFor(() => sidecar.streams[0]?.state === "closed-by-client", "the stream to close");
  });

  it("takes no new work while draining", async () => {
    const sidecar = await startSidecar();
    const started = deferred();
    const release = deferred();
    const ran: string[] = [];
    const slow = defineActivity("slow", async (_ctx, label: string) => {
      ran.push(label);
      started.resolve();
      await release.promise;
      return label;
    });
    const worker = await connectedWorker(sidecar, (w) => w.addActivity(slow));
    sidecar.push(activityItem({ name: "slow", input: '"first"', taskId: 1, completionToken: "tok-first" }));
    await started.promise;
    const stopping = worker.stop({ timeoutMs: 10_000 });
    sidecar.push(activityItem({ name: "slow", input: '"late"', taskId: 2, completionToken: "tok-late" }));
    await sleep(50); // the late item reaches the worker (or not) while it drains
    release.resolve();
    await stopping;
    expect(ran).toEqual(["first"]);
    expect(sidecar.activityCompletions.map((c) => c.completionToken)).toEqual(["tok-first"]);
  });

  it("aborts activities still running at the deadline and does not report them", async () => {
    const sidecar = await startSidecar();
    const started = deferred();
    let signal: AbortSignal | undefined;
    const stuck = defineActivity(
      "stuck",
      (ctx) =>
        new Promise<string>((resolve) => {
          signal = ctx.signal;
          ctx.signal.addEventListener("abort", () => resolve("gave up"));
          started.resolve();
        }),
    );
    const worker = await connectedWorker(sidecar, (w) => w.addActivity(stuck));
    sidecar.push(activityItem({ name: "stuck", completionToken: "tok-stuck" }));
    await started.promise;
    await worker.stop({ timeoutMs: 50 });
    expect(signal?.aborted).toBe(true);
    expect(String(signal?.reason)).toMatch(/shutting down/);
    expect(sidecar.activityCompletions).toEqual([]);
    await sidecar.waitFor(() => sidecar.streams[0]?.state === "closed-by-client", "the stream to close");
    expect(worker.isReady).toBe(false);
  });

  it("stop() returns after the deadline even when an activity ignores its AbortSignal", async () => {
    const sidecar = await startSidecar();
    const started = deferred();
    const release = deferred();
    const stubborn = defineActivity("stubborn", async () => {
      started.resolve();
      await release.promise;
      return "late";
    });
    const worker = await connectedWorker(sidecar, (w) => w.addActivity(stubborn));
    sidecar.push(activityItem({ name: "stubborn", completionToken: "tok-stubborn" }));
    await started.promise;
    try {
      const outcome = await Promise.race([
        worker.stop({ timeoutMs: 50 }).then(() => "stopped"),
        sleep(3_000).then(() => "stop() still pending 3 s after a 50 ms deadline"),
      ]);
      expect(outcome).toBe("stopped");
    } finally {
      release.resolve();
    }
    await until(() => sidecar.streams[0]?.state !== "open", "the stream to close");
    expect(sidecar.activityCompletions).toEqual([]);
  }, 15_000);

  it("stop() resolves before start(), and while the sidecar is unreachable", async () => {
    const idle = newWorker(`127.0.0.1:${await FakeSidecar.freePort()}`);
    await idle.stop();
    const retrying = newWorker(`127.0.0.1:${await FakeSidecar.freePort()}`);
    await retrying.start();
    await expect(retrying.waitForReady({ timeoutMs: 100 })).rejects.toMatchObject({ code: "SIDECAR_UNAVAILABLE" });
    await retrying.stop({ timeoutMs: 1_000 });
    expect(retrying.isReady).toBe(false);
  });

  it("refuses registrations and a second start() while running, and allows them after stop()", async () => {
    const sidecar = await startSidecar();
    const worker = await connectedWorker(sidecar, (w) => w.addWorkflow(echo));
    expect(() => worker.addWorkflow(chain)).toThrow(/while the worker is running/);
    expect(() => worker.addOrchestrator(chain)).toThrow(/while the worker is running/);
    expect(() => worker.addActivity(shout)).toThrow(/while the worker is running/);
    await expect(worker.start()).rejects.toThrow(/already running/);
    await worker.stop();
    expect(() => worker.addWorkflow(chain).addActivity(shout)).not.toThrow();
  });

  it("can be started again after stop()", async () => {
    const sidecar = await startSidecar();
    const worker = await connectedWorker(sidecar, (w) => w.addActivity(shout));
    await worker.stop();
    await sidecar.waitFor(() => sidecar.streams[0]?.state === "closed-by-client", "the first stream to close");
    await worker.start();
    await worker.waitForReady({ timeoutMs: 10_000 });
    sidecar.push(activityItem({ name: "shout", input: '"again"', completionToken: "tok-again" }));
    await sidecar.waitFor(hasActivityCompletion(sidecar, "tok-again"), "the activity completion after restart");
    expect(sidecar.streams).toHaveLength(2);
  });

  it("stops through Symbol.asyncDispose", async () => {
    const sidecar = await startSidecar();
    const worker = await connectedWorker(sidecar);
    await worker[Symbol.asyncDispose]();
    await sidecar.waitFor(() => sidecar.streams[0]?.state === "closed-by-client", "the stream to close");
    expect(worker.isReady).toBe(false);
  });
});

describe("daprdLimits", () => {
  it("holds daprd up to 1.18 (and builds without a version) to what 1.18.3 was seen to do: no sendEvent", () => {
    for (const version of ["1.18.3", "v1.18.0", "1.15.2", "edge", ""]) {
      expect(daprdLimits(version)?.sendEvent).toMatch(/does not deliver events between workflows/);
    }
    expect(daprdLimits("1.18.3")?.sendEvent).toBe("daprd 1.18.3 does not deliver events between workflows");
  });
  it("assumes nothing of later releases", () => {
    expect(daprdLimits("1.19.0")).toBeUndefined();
    expect(daprdLimits("2.0.0")).toBeUndefined();
  });
});
