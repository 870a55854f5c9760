// The representative subset (representative.ts) plus a sidecar restart, with the worker and the client on each
// transport: ours (the default, from `address`), @connectrpc/connect-node's createGrpcTransport (passed in as
// `transport`, so the worker reads work items through connect's typed stream) and @dt/proto's node:http2 transport.
// Each transport gets its own sidecar, on durabletask-go and on the embedded sidecar.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TaskHubGrpcClient } from "@dt/client";
import { createNodeHttp2Transport } from "@dt/proto/transport";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { statusOf, uniqueId } from "./fixture.js";
import { describeTarget, printLogs, type RunningSidecar, restartSidecar, startSidecar } from "./harness.js";
import { REPRESENTATIVE, REPRESENTATIVE_WORKFLOWS, representativeScenarios, runChain } from "./representative.js";

/** How a suite reaches its sidecar: a transport for `address`, or undefined for the one worker and client open. */
interface TransportFactory {
  readonly name: string;
  readonly create: ((address: string) => Transport & { close?: () => void }) | undefined;
}

const TRANSPORTS: readonly TransportFactory[] = [
  { name: "ours", create: undefined },
  { name: "connect-node", create: (address) => createGrpcTransport({ baseUrl: `http://${address}` }) },
  { name: "node-http2", create: (address) => createNodeHttp2Transport({ address }) },
];

for (const target of ["go", "embedded"] as const) {
  describeTarget(target, "transports", () => {
    for (const factory of TRANSPORTS) {
      describe(factory.name, () => {
        let sidecar: RunningSidecar | undefined;
        let dir: string | undefined;
        const transports: (Transport & { close?: () => void })[] = [];
        let worker: TaskHubGrpcWorker | undefined;
        let client: TaskHubGrpcClient | undefined;
        /** Worker or client options: our transport from the address, or one made by the factory. */
        const connection = (address: string) => {
          if (factory.create === undefined) return { address, useEnvironment: false };
          const transport = factory.create(address);
          transports.push(transport);
          return { transport, address };
        };

        beforeAll(async () => {
          dir = mkdtempSync(join(tmpdir(), "dt-transports-"));
          // A file database, so that the restart below finds the instances again.
          sidecar = await startSidecar(target, { db: join(dir, "state.sqlite") });
          worker = new TaskHubGrpcWorker({
            ...connection(sidecar.address),
            reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
          });
          for (const workflow of REPRESENTATIVE.workflows ?? []) worker.addWorkflow(workflow);
          for (const activity of REPRESENTATIVE.activities ?? []) worker.addActivity(activity);
          await worker.start();
          await worker.waitForReady({ timeoutMs: 20_000 });
          client = new TaskHubGrpcClient(connection(sidecar.address));
        });
        afterEach((ctx) => {
          if (ctx.task.result?.state === "fail" && sidecar !== undefined) {
            printLogs(`${target} sidecar logs (pid ${sidecar.pid})`, sidecar.logs());
          }
        });
        afterAll(async () => {
          client?.close();
          await worker?.stop({ timeoutMs: 3_000 });
          for (const transport of transports) transport.close?.();
          await sidecar?.stop();
          if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        });

        const fx = {
          get client(): TaskHubGrpcClient {
            if (client === undefined) throw new Error("the suite's client is not open");
            return client;
          },
        };
        representativeScenarios(fx);

        // After the concurrent scenarios: it restarts the suite's sidecar.
        it("reconnect: a restart of the sidecar mid-workflow; worker and client carry on", async () => {
          const before = sidecar as RunningSidecar;
          const waiting = await fx.client.scheduleNewOrchestration(REPRESENTATIVE_WORKFLOWS.approval, {
            instanceId: uniqueId("rep-restart"),
          });
          await statusOf(fx.client, waiting, "RUNNING");
          sidecar = await restartSidecar(before);
          expect(sidecar.address).toBe(before.address);
          await fx.client.raiseOrchestrationEvent(waiting, "approve", "after the restart");
          const state = await fx.client.waitForOrchestrationCompletion(waiting, { timeout: 60 });
          expect(state.status).toBe("COMPLETED");
          expect(state.output).toBe("approved by after the restart");
          await runChain(fx.client);
          expect(worker?.isReady).toBe(true);
        }, 90_000);
      });
    }
  });
}
