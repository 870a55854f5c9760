// Everything over a Unix socket instead of TCP: the embedded sidecar listening on one (`startSidecar({ socket })`) and
// daprd serving its API on one (`--unix-domain-socket`, which creates `dapr-<appId>-grpc.socket`). Against each: the
// representative scenarios through a worker and a client given `unix:<path>`, a worker and a client configured by
// DAPR_GRPC_ENDPOINT alone, the Dapr facade, and the `dt` CLI by --address and by DAPR_GRPC_ENDPOINT.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { TaskHubGrpcClient } from "@dt/client";
import { DaprWorkflowClient } from "@dt/dapr";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterAll, afterEach, beforeAll, expect, it, vi } from "vitest";
import { uniqueId, useFixture } from "./fixture.js";
import { describeTarget, printLogs, type RunningSidecar, startSidecar } from "./harness.js";
import { REPRESENTATIVE, REPRESENTATIVE_WORKFLOWS, representativeScenarios, runChain } from "./representative.js";

const CLI = fileURLToPath(new URL("../../packages/cli/dist/cli.js", import.meta.url));
const run = promisify(execFile);

/** `dt workflow <args>` as a child process; resolves with its stdout (it must exit 0 within a minute). */
async function dt(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DAPR_|DURABLETASK_)/.test(name)));
  const { stdout } = await run(process.execPath, [CLI, "workflow", ...args], {
    env: { ...clean, ...env },
    timeout: 60_000,
  });
  return stdout;
}

for (const target of ["embedded", "dapr"] as const) {
  describeTarget(target, "over a Unix socket", () => {
    let dir: string | undefined;
    let sidecar: RunningSidecar | undefined;
    const running = (): RunningSidecar => {
      if (sidecar === undefined) throw new Error(`the ${target} sidecar is not running`);
      return sidecar;
    };
    const cleanups: (() => unknown)[] = [];

    beforeAll(async () => {
      // /tmp rather than os.tmpdir(): a socket path must stay under ~104 bytes (macOS's TMPDIR alone is ~50).
      dir = mkdtempSync(join("/tmp", "dt-uds-"));
      sidecar = await startSidecar(target, { socketDir: dir });
    });
    afterEach(async (ctx) => {
      vi.unstubAllEnvs();
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      if (ctx.task.result?.state === "fail" && sidecar !== undefined) {
        printLogs(`${target} sidecar logs (pid ${sidecar.pid})`, sidecar.logs());
      }
    });
    afterAll(async () => {
      await sidecar?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });
    // Registered after the hooks above, so its worker and client go before the sidecar does.
    const fx = useFixture(running, REPRESENTATIVE);

    it("listens on a socket file and names it unix:<path>", () => {
      const path = running().address.slice("unix:".length);
      expect(running().address).toMatch(/^unix:\/tmp\/dt-uds-/);
      expect(existsSync(path)).toBe(true);
      if (target === "dapr") expect(path).toMatch(/\/dapr-[\w-]+-grpc\.socket$/);
    });

    representativeScenarios(fx);

    it("a worker and a client configured by DAPR_GRPC_ENDPOINT=unix:… alone", async () => {
      vi.stubEnv("DAPR_GRPC_ENDPOINT", running().address);
      vi.stubEnv("DAPR_GRPC_PORT", "1"); // the endpoint wins over host and port
      const worker = new TaskHubGrpcWorker();
      for (const workflow of REPRESENTATIVE.workflows ?? []) worker.addWorkflow(workflow);
      for (const activity of REPRESENTATIVE.activities ?? []) worker.addActivity(activity);
      cleanups.push(() => worker.stop({ timeoutMs: 3_000 }));
      await worker.start();
      await worker.waitForReady({ timeoutMs: 20_000 });
      const client = new TaskHubGrpcClient();
      cleanups.push(() => client.close());
      await runChain(client, ["env"]);
    });

    it("the Dapr facade (DaprWorkflowClient) given address unix:…", async () => {
      const client = new DaprWorkflowClient({ address: running().address, useEnvironment: false });
      cleanups.push(() => client.stop());
      const id = await client.scheduleNewWorkflow(REPRESENTATIVE_WORKFLOWS.chain, ["Dapr"]);
      const state = await client.waitForWorkflowCompletion(id, true, 30);
      expect(state?.serializedOutput).toBe('["Hello Dapr!"]');
    });

    it("dt workflow run --address unix:…, then get with DAPR_GRPC_ENDPOINT=unix:…", async () => {
      if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`pnpm build\` first`);
      const id = uniqueId("uds-cli");
      const ran = JSON.parse(
        await dt([
          "run",
          REPRESENTATIVE_WORKFLOWS.chain,
          "--input",
          '["CLI"]',
          "--instance-id",
          id,
          "--wait",
          "--json",
          "--address",
          running().address,
        ]),
      ) as { status: string; output: unknown };
      expect(ran).toMatchObject({ status: "COMPLETED", output: ["Hello CLI!"] });
      const got = JSON.parse(await dt(["get", id, "--json"], { DAPR_GRPC_ENDPOINT: running().address })) as {
        instanceId: string;
        status: string;
      };
      expect(got).toMatchObject({ instanceId: id, status: "COMPLETED" });
    }, 90_000);
  });
}
