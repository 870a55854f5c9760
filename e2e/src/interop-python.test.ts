// Interop with the Durable Task Python SDK (durabletask-dapr 0.17.4) through the same sidecar: workflows the Python
// client schedules run on our TaskHubGrpcWorker, and workflows our TaskHubGrpcClient schedules run on a Python
// worker. The Python side runs as child processes (e2e/python/*.py) that this suite starts and stops by PID.
import { randomUUID } from "node:crypto";
import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow } from "@dt/core";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ChildHandle,
  describeTargets,
  type E2ETarget,
  printLogs,
  pythonUnavailableReason,
  type RunningSidecar,
  startPythonScript,
  startSidecar,
} from "./harness.js";
import { peerResult, peerWorkerScenarios } from "./peer-scenarios.js";

const PEER = "the Python peer (durabletask-dapr 0.17.4)";

interface PythonResult {
  instance_id: string;
  status: string | null;
  output: unknown;
  custom_status: string | null;
  failure: { error_type: string; message: string } | null;
}

/** Runs e2e/python/py_client.py to completion and returns the state it printed. */
async function pythonSchedules(
  address: string,
  name: string,
  instanceId: string,
  options: { input?: unknown; autoObject?: boolean } = {},
): Promise<PythonResult> {
  const args = [name, instanceId, "--timeout", "90"];
  if (options.input !== undefined) args.push("--input", JSON.stringify(options.input));
  if (options.autoObject === true) args.push("--auto-object");
  const proc = startPythonScript("py_client.py", args, address);
  return peerResult<PythonResult>(proc, `py_client.py ${name}`);
}

// --- our worker's side: workflows the Python client schedules -------------------------------------------------------

interface ChainInput {
  greeting: string;
  names: string[];
}
const tsGreet = defineActivity("ts_greet", (_ctx, input: { greeting: string; name: string }) => {
  return `${input.greeting}, ${input.name}!`;
});
const tsChain = defineWorkflow("ts_chain", function* (ctx, input: ChainInput) {
  const greetings: string[] = [];
  for (const name of input.names) {
    greetings.push(yield* ctx.callActivity(tsGreet, { input: { greeting: input.greeting, name } }));
  }
  ctx.setCustomStatus("greeted");
  // The keys show whether the Python auto-object marker reached the workflow.
  return { greetings, inputKeys: Object.keys(input).sort(), by: "ts" };
});
class OrderRejected extends Error {
  override name = "OrderRejected";
}
const tsReject = defineActivity("ts_reject", (_ctx, order: string): string => {
  throw new OrderRejected(`order ${order} is out of stock`);
});
const tsFail = defineWorkflow("ts_fail", function* (ctx, order: string) {
  return yield* ctx.callActivity(tsReject, { input: order });
});

describeTargets(
  "interop: Python SDK",
  (target: E2ETarget) => {
    describe("Python client → TypeScript worker", () => {
      let sidecar: RunningSidecar | undefined;
      let worker: TaskHubGrpcWorker | undefined;
      beforeAll(async () => {
        sidecar = await startSidecar(target);
        worker = new TaskHubGrpcWorker({ address: sidecar.address, useEnvironment: false });
        worker.addWorkflow(tsChain).addActivity(tsGreet).addWorkflow(tsFail).addActivity(tsReject);
        await worker.start();
        await worker.waitForReady({ timeoutMs: 30_000 });
      });
      afterEach((ctx) => {
        if (ctx.task.result?.state === "fail" && sidecar !== undefined) {
          printLogs(`${target} sidecar logs (pid ${sidecar.pid})`, sidecar.logs());
        }
      });
      afterAll(async () => {
        await worker?.stop({ timeoutMs: 5_000 });
        await sidecar?.stop();
      });

      it("runs ts_chain scheduled by the Python client and returns its output to it", async () => {
        const id = `py-to-ts-${randomUUID()}`;
        const input: ChainInput = { greeting: "Hello", names: ["Tokyo", "Seattle", "London"] };
        const result = await pythonSchedules(sidecar?.address ?? "", "ts_chain", id, { input });
        expect(result).toEqual({
          instance_id: id,
          status: "COMPLETED",
          output: {
            greetings: ["Hello, Tokyo!", "Hello, Seattle!", "Hello, London!"],
            inputKeys: ["greeting", "names"],
            by: "ts",
          },
          custom_status: "greeted",
          failure: null,
        });
      });

      it("reads a Python auto-object input (SimpleNamespace) without its marker", async () => {
        const id = `py-auto-object-${randomUUID()}`;
        const input: ChainInput = { greeting: "Hi", names: ["Oslo"] };
        const result = await pythonSchedules(sidecar?.address ?? "", "ts_chain", id, { input, autoObject: true });
        expect(result.status).toBe("COMPLETED");
        expect(result.output).toEqual({ greetings: ["Hi, Oslo!"], inputKeys: ["greeting", "names"], by: "ts" });
      });

      it("reports a TypeScript failure to the Python client with its error type and message", async () => {
        const id = `py-sees-failure-${randomUUID()}`;
        const result = await pythonSchedules(sidecar?.address ?? "", "ts_fail", id, { input: "A-17" });
        expect(result.status).toBe("FAILED");
        expect(result.output).toBeNull();
        expect(result.failure?.error_type).toBe("TaskFailedError");
        expect(result.failure?.message).toContain("order A-17 is out of stock");
      });
    });

    describe("TypeScript client → Python worker", () => {
      let sidecar: RunningSidecar | undefined;
      let peer: ChildHandle | undefined;
      let client: TaskHubGrpcClient | undefined;
      beforeAll(async () => {
        sidecar = await startSidecar(target);
        peer = startPythonScript("py_worker.py", [], sidecar.address);
        await peer.waitForOutput(/^READY$/m, 60_000);
        client = new TaskHubGrpcClient({ address: sidecar.address, useEnvironment: false });
      });
      afterEach((ctx) => {
        if (ctx.task.result?.state === "fail") {
          if (peer !== undefined) printLogs(`Python worker output (pid ${peer.pid})`, peer.logs());
          if (sidecar !== undefined) printLogs(`${target} sidecar logs (pid ${sidecar.pid})`, sidecar.logs());
        }
      });
      afterAll(async () => {
        client?.close();
        await peer?.stop();
        await sidecar?.stop();
      });
      const ts = () => {
        if (client === undefined) throw new Error("the client was not created");
        return client;
      };

      peerWorkerScenarios(ts, {
        label: "Python",
        prefix: "py",
        approvalInput: { id: "order-7", timeout_seconds: 120 },
        approvalData: { by: "ts-client" },
        approvalOutput: () => ({ order: "order-7", approved: true, by: "ts-client", greeting: "Hello ts-client!" }),
      });
    });
  },
  { requires: pythonUnavailableReason, requirement: PEER },
);
