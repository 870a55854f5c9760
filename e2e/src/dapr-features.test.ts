// Dapr-only features, end to end on daprd: cross-app workflows (two app ids on one placement, scheduler and state
// store kind: an activity and a child workflow routed by appId, results back to the caller; a target app that is not
// running, or lacks the name), the API token (DAPR_API_TOKEN on daprd and in the SDK), and the stateful-history capability.
import { randomUUID } from "node:crypto";
import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow, TaskFailedError } from "@dt/core";
import { OrchestrationStatus, WorkerCapability } from "@dt/proto";
import { createSidecarClient, createSidecarTransport } from "@dt/proto/transport";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterEach, expect, it } from "vitest";
import { type Daprd, startDaprd } from "./dapr.js";
import { errorInfo, rejectionOf } from "./fixture.js";
import { describeTarget, printLogs } from "./harness.js";

const double = defineActivity("crossapp.double", (ctx, n: number) => ({ doubled: n * 2, appInstance: ctx.instanceId }));
const child = defineWorkflow("crossapp.child", function* (ctx, n: number) {
  const inner = yield* ctx.callActivity(double, { input: n });
  return { child: ctx.instanceId, appId: ctx.appId ?? null, inner };
});

/** Calls into `target`: an activity and a child workflow there; `what` picks a call that cannot succeed. */
const caller = defineWorkflow(
  "crossapp.caller",
  function* (ctx, input: { target: string; what: "both" | "missing-activity" | "missing-app" }) {
    try {
      if (input.what === "missing-activity") {
        return { ok: yield* ctx.callActivity<number>("crossapp.nowhere", { input: 1, appId: input.target }) };
      }
      if (input.what === "missing-app") {
        return { ok: yield* ctx.callActivity<number>("crossapp.double", { input: 1, appId: input.target }) };
      }
      const activity = yield* ctx.callActivity(double, { input: 21, appId: input.target });
      const sub = yield* ctx.callChildWorkflow(child, { input: 5, appId: input.target });
      return { activity, sub, callerAppId: ctx.appId ?? null };
    } catch (error) {
      if (error instanceof TaskFailedError) return { failed: error.message, cause: error.cause };
      throw error;
    }
  },
);

describeTarget("dapr", "Dapr-only features", () => {
  let cleanups: (() => unknown)[] = [];
  let daprds: Daprd[] = [];
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const d of daprds) printLogs(`daprd ${d.appId} (pid ${d.process.pid})`, d.process.logs());
    }
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
    daprds = [];
  });
  const daprd = async (options: Parameters<typeof startDaprd>[0] = {}) => {
    const d = await startDaprd(options);
    daprds.push(d);
    cleanups.push(() => d.process.stop());
    return d;
  };
  const worker = async (d: Daprd, register: (w: TaskHubGrpcWorker) => void, apiToken?: string) => {
    const w = new TaskHubGrpcWorker({
      address: `127.0.0.1:${d.grpcPort}`,
      useEnvironment: false,
      ...(apiToken === undefined ? {} : { apiToken }),
    });
    register(w);
    await w.start();
    await w.waitForReady({ timeoutMs: 30_000 });
    cleanups.push(() => w.stop({ timeoutMs: 2_000 }));
    return w;
  };
  const client = (d: Daprd, apiToken?: string) => {
    const c = new TaskHubGrpcClient({
      address: `127.0.0.1:${d.grpcPort}`,
      useEnvironment: false,
      ...(apiToken === undefined ? {} : { apiToken }),
    });
    cleanups.push(() => c.close());
    return c;
  };

  /** A caller app (the caller workflow) and a callee app (what `register` adds), each with its own daprd and worker. */
  const twoApps = async (register: (w: TaskHubGrpcWorker) => void) => {
    const suffix = randomUUID().slice(0, 8);
    const callerSide = await daprd({ appId: `caller-${suffix}` });
    const calleeSide = await daprd({ appId: `callee-${suffix}` });
    await worker(callerSide, (w) => w.addWorkflow(caller));
    await worker(calleeSide, register);
    return { suffix, callerSide, calleeSide, c: client(callerSide) };
  };

  it("cross-app: an activity and a child workflow run in the app named by appId, results return to the caller", async () => {
    const { suffix, callerSide, calleeSide, c } = await twoApps((w) => w.addWorkflow(child).addActivity(double));
    const id = await c.scheduleNewOrchestration(caller, {
      input: { target: calleeSide.appId, what: "both" },
      instanceId: `crossapp-${suffix}`,
    });
    const state = await c.waitForOrchestrationCompletion(id, { timeout: 60 });
    expect(state.status).toBe("COMPLETED");
    const output = state.output as { activity: unknown; sub: { child: string; appId: string; inner: unknown } };
    expect(output).toMatchObject({
      activity: { doubled: 42, appInstance: id },
      sub: { appId: calleeSide.appId, inner: { doubled: 10 } },
      callerAppId: callerSide.appId,
    });
    // The child lives in the callee's app: its daprd knows it, the caller's does not.
    const childId = output.sub.child;
    expect((await client(calleeSide).getOrchestrationState(childId))?.status).toBe("COMPLETED");
    expect(await c.getOrchestrationState(childId)).toBeUndefined();
  });

  it("cross-app: an activity the target app does not register fails the call with a TaskFailedError", async () => {
    const { suffix, calleeSide, c } = await twoApps((w) => w.addActivity(double));
    const id = await c.scheduleNewOrchestration(caller, {
      input: { target: calleeSide.appId, what: "missing-activity" },
      instanceId: `crossapp-missing-${suffix}`,
    });
    const state = await c.waitForOrchestrationCompletion(id, { timeout: 60 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toMatchObject({ failed: expect.stringMatching(/crossapp\.nowhere/) });
  });

  it("cross-app: a call to an app that is not running waits for it (daprd retries the turn) and completes once it runs", async () => {
    const suffix = randomUUID().slice(0, 8);
    const callerSide = await daprd({ appId: `caller-${suffix}` });
    await worker(callerSide, (w) => w.addWorkflow(caller));
    const c = client(callerSide);
    const late = `late-app-${suffix}`;
    const id = await c.scheduleNewOrchestration(caller, {
      input: { target: late, what: "missing-app" },
      instanceId: `crossapp-late-${suffix}`,
    });
    // Observed on daprd 1.18.3: "failed to dispatch activity 'crossapp.double' to remote app … (the app may not be
    // available)" is a recoverable error; the turn is not committed and is retried every few seconds.
    const error = await rejectionOf(c.waitForOrchestrationCompletion(id, { timeout: 6 }));
    expect(errorInfo(error)).toMatchObject({ code: "WORKFLOW_TIMEOUT" });
    expect((await c.getOrchestrationState(id))?.status).toBe("RUNNING");
    expect((await c.getOrchestrationHistory(id)).some((e) => e.eventType.case === "taskScheduled")).toBe(false);

    const lateSide = await daprd({ appId: late });
    await worker(lateSide, (w) => w.addActivity(double));
    const state = await c.waitForOrchestrationCompletion(id, { timeout: 60 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toEqual({ ok: { doubled: 2, appInstance: id } });
  });

  it("the API token: daprd refuses calls without DAPR_API_TOKEN; the client and worker send it", async () => {
    const token = `token-${randomUUID()}`;
    const d = await daprd({ apiToken: token });
    const noToken = client(d);
    const refused = await rejectionOf(noToken.getOrchestrationState("anything"));
    expect(errorInfo(refused)).toMatchObject({ name: "SidecarError", code: "SIDECAR_ERROR" });
    expect((refused as { grpcCode?: unknown }).grpcCode).toBe("UNAUTHENTICATED");

    await worker(d, (w) => w.addActivity(double).addWorkflow(child), token);
    const withToken = client(d, token);
    const id = await withToken.scheduleNewOrchestration(child, { input: 4, instanceId: `token-${randomUUID()}` });
    const state = await withToken.waitForOrchestrationCompletion(id, { timeout: 60 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toMatchObject({ inner: { doubled: 8 } });
  });

  it("stateful history: a worker may advertise it; daprd 1.18.3 ignores it and sends the full history each turn", async () => {
    const d = await daprd();
    const transport = createSidecarTransport({ address: `127.0.0.1:${d.grpcPort}`, defaultTimeoutMs: 30_000 });
    cleanups.push(() => transport.close());
    const raw = createSidecarClient(transport);
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const items = raw.getWorkItems({ capabilities: [WorkerCapability.STATEFUL_HISTORY] }, { signal: abort.signal });
    const instanceId = `stateful-${randomUUID()}`;
    const started = raw.startInstance({ instanceId, name: "stateful.timer" });
    const turns: { past: number; cached: boolean }[] = [];
    for await (const item of items) {
      if (item.request.case !== "workflowRequest") continue;
      const request = item.request.value;
      turns.push({ past: request.pastEvents.length, cached: request.cachedHistory !== undefined });
      const first = turns.length === 1;
      // daprd 1.18.3 serves the older name of this RPC only.
      await raw.completeOrchestratorTask({
        instanceId,
        completionToken: item.completionToken,
        actions: [
          first
            ? { id: 1, workflowActionType: { case: "createTimer", value: { fireAt: { seconds: BigInt(0) } } } }
            : {
                id: 2,
                workflowActionType: {
                  case: "completeWorkflow",
                  value: { workflowStatus: OrchestrationStatus.COMPLETED, result: '"done"' },
                },
              },
        ],
      });
      if (!first) break;
    }
    await started;
    expect(turns).toHaveLength(2);
    expect(turns[1]?.cached).toBe(false);
    expect(turns[1]?.past).toBeGreaterThan(turns[0]?.past ?? 0);
  });
});
