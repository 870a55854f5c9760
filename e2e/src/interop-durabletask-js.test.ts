// Interop with @dapr/durabletask-js 1.0.0 (the Dapr JS SDK's engine) through the same sidecar: workflows its client
// schedules run on our TaskHubGrpcWorker, and workflows our TaskHubGrpcClient schedules run on its worker. Its side
// runs as plain Node scripts (e2e/peers/djs_*.mjs) in child processes that this suite starts and stops by PID.
// Each direction has its own sidecar: a sidecar hands any work item to any connected worker.
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow, whenAll } from "@dt/core";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { type ChildHandle, describeSidecars, printLogs, type RunningSidecar, spawnLogged } from "./harness.js";
import { peerResult, peerWorkerScenarios } from "./peer-scenarios.js";

const PEERS = join(dirname(fileURLToPath(import.meta.url)), "..", "peers");
const PEER = "the @dapr/durabletask-js 1.0.0 peer";

/** Why the peer scripts cannot load @dapr/durabletask-js, or undefined when they can. */
function djsUnavailableReason(): string | undefined {
  try {
    const version = (createRequire(join(PEERS, "x.mjs"))("@dapr/durabletask-js/package.json") as { version: string })
      .version;
    return version === "1.0.0" ? undefined : `@dapr/durabletask-js is ${version}, not 1.0.0`;
  } catch (error) {
    return `@dapr/durabletask-js cannot be loaded from e2e/peers (pnpm install): ${String(error)}`;
  }
}

/** Runs `e2e/peers/<script>` with this Node; stop it with `stop()` (by PID). */
function startPeer(script: string, args: readonly string[]): ChildHandle {
  return spawnLogged(process.execPath, [join(PEERS, script), ...args], { cwd: PEERS });
}

interface DjsResult {
  instanceId: string;
  status: string | null;
  output: unknown;
  customStatus: string | null;
  failure: { errorType: string; message: string } | null;
}

/** Runs djs_client.mjs to completion and returns the state it printed. */
async function djsSchedules(
  address: string,
  name: string,
  instanceId: string,
  options: { input?: unknown; event?: { name: string; data: unknown; whenStatus: string } } = {},
): Promise<DjsResult> {
  const args = [address, name, instanceId, "--timeout", "90"];
  if (options.input !== undefined) args.push("--input", JSON.stringify(options.input));
  if (options.event !== undefined) {
    args.push("--event", options.event.name, "--event-data", JSON.stringify(options.event.data));
    args.push("--when-status", options.event.whenStatus);
  }
  const proc = startPeer("djs_client.mjs", args);
  return peerResult<DjsResult>(proc, `djs_client.mjs ${name}`);
}

// --- our worker's side: workflows the durabletask-js client schedules ----------------------------------------------

const tsGreet = defineActivity("ts_greet", (_ctx, name: string) => `Hello ${name}!`);
const tsSquare = defineActivity("ts_square", (_ctx, n: number) => n * n);
const tsChain = defineWorkflow("ts_chain", function* (ctx, name: string) {
  const first = yield* ctx.callActivity(tsGreet, { input: name });
  const second = yield* ctx.callActivity(tsGreet, { input: first });
  const third = yield* ctx.callActivity(tsGreet, { input: second });
  return [first, second, third];
});
const tsFanOut = defineWorkflow("ts_fan_out", function* (ctx, numbers: number[]) {
  const squares = yield* whenAll(numbers.map((n) => ctx.callActivity(tsSquare, { input: n })));
  return { squares, sum: squares.reduce((a, b) => a + b, 0) };
});
const tsApproval = defineWorkflow("ts_approval", function* (ctx, order: { id: string }) {
  ctx.setCustomStatus("waiting for approval");
  const approval = (yield ctx.waitForExternalEvent("approval", { timeout: 120 })) as { by: string };
  const greeting = yield* ctx.callActivity(tsGreet, { input: approval.by });
  ctx.setCustomStatus("approved");
  return { order: order.id, approval, greeting };
});

describeSidecars(
  "interop: durabletask-js client → TypeScript worker",
  (sidecar: () => RunningSidecar) => {
    let worker: TaskHubGrpcWorker | undefined;
    beforeAll(async () => {
      worker = new TaskHubGrpcWorker({ address: sidecar().address, useEnvironment: false });
      worker.addWorkflow(tsChain).addWorkflow(tsFanOut).addWorkflow(tsApproval);
      worker.addActivity(tsGreet).addActivity(tsSquare);
      await worker.start();
      await worker.waitForReady({ timeoutMs: 30_000 });
    });
    afterAll(async () => {
      await worker?.stop({ timeoutMs: 5_000 });
    });

    it("runs ts_chain scheduled by the durabletask-js client", async () => {
      const id = `djs-to-ts-chain-${randomUUID()}`;
      const result = await djsSchedules(sidecar().address, "ts_chain", id, { input: "JS" });
      expect(result).toEqual({
        instanceId: id,
        status: "COMPLETED",
        output: ["Hello JS!", "Hello Hello JS!!", "Hello Hello Hello JS!!!"],
        customStatus: null,
        failure: null,
      });
    });

    it("runs ts_fan_out (whenAll over 10 activities) scheduled by the durabletask-js client", async () => {
      const id = `djs-to-ts-fan-out-${randomUUID()}`;
      const numbers = Array.from({ length: 10 }, (_, i) => i + 1);
      const result = await djsSchedules(sidecar().address, "ts_fan_out", id, { input: numbers });
      expect(result.status).toBe("COMPLETED");
      expect(result.output).toEqual({ squares: numbers.map((n) => n * n), sum: 385 });
    });

    it("delivers an external event raised by the durabletask-js client to a waiting TypeScript workflow", async () => {
      const id = `djs-to-ts-approval-${randomUUID()}`;
      const result = await djsSchedules(sidecar().address, "ts_approval", id, {
        input: { id: "order-9" },
        event: { name: "approval", data: { by: "djs-client", note: "ok" }, whenStatus: "waiting for approval" },
      });
      expect(result).toEqual({
        instanceId: id,
        status: "COMPLETED",
        output: { order: "order-9", approval: { by: "djs-client", note: "ok" }, greeting: "Hello djs-client!" },
        customStatus: "approved",
        failure: null,
      });
    });
  },
  { requires: djsUnavailableReason, requirement: PEER },
);

// --- its worker's side: workflows our client schedules --------------------------------------------------------------

describeSidecars(
  "interop: TypeScript client → durabletask-js worker",
  (sidecar: () => RunningSidecar) => {
    let peer: ChildHandle | undefined;
    let client: TaskHubGrpcClient | undefined;
    beforeAll(async () => {
      peer = startPeer("djs_worker.mjs", [sidecar().address]);
      await peer.waitForOutput(/^READY$/m, 60_000);
      client = new TaskHubGrpcClient({ address: sidecar().address, useEnvironment: false });
    });
    afterEach((ctx) => {
      if (ctx.task.result?.state === "fail" && peer !== undefined) {
        printLogs(`durabletask-js worker output (pid ${peer.pid})`, peer.logs());
      }
    });
    afterAll(async () => {
      client?.close();
      await peer?.stop();
    });
    const ts = () => {
      if (client === undefined) throw new Error("the client was not created");
      return client;
    };

    peerWorkerScenarios(ts, {
      label: "durabletask-js",
      prefix: "djs",
      approvalInput: { id: "order-7" },
      approvalData: { by: "ts-client", items: [1, 2, 3] },
      approvalOutput: (instanceId) => ({
        order: "order-7",
        instanceId,
        approval: { by: "ts-client", items: [1, 2, 3] },
      }),
    });
  },
  { requires: djsUnavailableReason, requirement: PEER },
);
