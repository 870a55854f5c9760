// startSidecar({ socket }): listening on a Unix socket, what it does with a file already at the path, and our worker
// and client reaching it through `unix:` addresses (given, or from DAPR_GRPC_ENDPOINT).
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow } from "@dt/core";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type SidecarOptions, startSidecar } from "./service.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh temporary directory (short: socket paths are limited to ~104 bytes), removed after the test. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "dt-sock-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function sidecar(options: SidecarOptions) {
  const s = await startSidecar(options);
  cleanups.push(() => s.close());
  return s;
}

const greet = defineActivity("greet", (_ctx, name: string) => `Hello ${name}!`);
const greetAll = defineWorkflow("greetAll", function* (ctx, names: string[]) {
  const out: string[] = [];
  for (const name of names) out.push(yield* ctx.callActivity(greet, { input: name }));
  return out;
});

/** Runs greetAll through a worker and a client made by `connect` (both given the same options). */
async function roundTrip(options: { address?: string; useEnvironment?: boolean }): Promise<unknown> {
  const worker = new TaskHubGrpcWorker(options).addWorkflow(greetAll).addActivity(greet);
  cleanups.push(() => worker.stop({ timeoutMs: 1_000 }));
  await worker.start();
  await worker.waitForReady({ timeoutMs: 10_000 });
  const client = new TaskHubGrpcClient(options);
  cleanups.push(() => client.close());
  const id = await client.scheduleNewOrchestration(greetAll, { input: ["unix", "socket"] });
  const state = await client.waitForOrchestrationCompletion(id, { timeout: 20 });
  expect(state.status).toBe("COMPLETED");
  return state.output;
}

/** A socket file nothing listens on: a child process listens on `path` and is killed before it can clean up. */
function staleSocket(path: string): void {
  const script = `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`;
  spawnSync(process.execPath, ["-e", script], { timeout: 10_000 });
  expect(lstatSync(path).isSocket()).toBe(true);
}

describe("startSidecar({ socket })", () => {
  it("listens on the socket, reports unix:<path>, serves worker and client, and removes the file on close", async () => {
    const path = join(tempDir(), "dt.sock");
    const s = await startSidecar({ socket: path });
    try {
      expect(s.address).toBe(`unix:${path}`);
      expect(s.socket).toBe(path);
      expect(s.port).toBe(0);
      expect(lstatSync(path).isSocket()).toBe(true);
      expect(await roundTrip({ address: s.address, useEnvironment: false })).toEqual(["Hello unix!", "Hello socket!"]);
      // The same socket as unix:///path (gRPC's absolute form).
      const client = new TaskHubGrpcClient({ address: `unix://${path}`, useEnvironment: false });
      cleanups.push(() => client.close());
      expect(await client.getOrchestrationState("nope")).toBeUndefined();
    } finally {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      await s.close();
    }
    expect(existsSync(path)).toBe(false);
  });

  it("is found through DAPR_GRPC_ENDPOINT=unix:<path>", async () => {
    const path = join(tempDir(), "env.sock");
    await sidecar({ socket: path });
    vi.stubEnv("DAPR_GRPC_ENDPOINT", `unix:${path}`);
    vi.stubEnv("DAPR_GRPC_PORT", "1"); // the endpoint wins over host and port
    expect(await roundTrip({})).toEqual(["Hello unix!", "Hello socket!"]);
  });

  it("replaces a stale socket file nothing answers on", async () => {
    const path = join(tempDir(), "stale.sock");
    staleSocket(path);
    const s = await sidecar({ socket: path });
    const client = new TaskHubGrpcClient({ address: s.address, useEnvironment: false });
    cleanups.push(() => client.close());
    expect(await client.getOrchestrationState("nope")).toBeUndefined();
  });

  it("refuses a socket another process answers on (EADDRINUSE), and leaves it alone", async () => {
    const path = join(tempDir(), "live.sock");
    const other: Server = createServer();
    await new Promise<void>((resolve) => other.listen(path, resolve));
    cleanups.push(() => new Promise((resolve) => other.close(resolve)));
    const error = await startSidecar({ socket: path }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "EADDRINUSE", message: expect.stringMatching(/is in use/) });
    expect(lstatSync(path).isSocket()).toBe(true);
  });

  it("never deletes a file that is not a socket (ENOTSOCK)", async () => {
    const path = join(tempDir(), "precious.txt");
    writeFileSync(path, "keep me");
    const error = await startSidecar({ socket: path }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ENOTSOCK", message: expect.stringMatching(/is not a socket/) });
    expect(readFileSync(path, "utf8")).toBe("keep me");
  });

  it("rejects a path too long for the platform and TLS on a socket before starting", async () => {
    await expect(startSidecar({ socket: `/tmp/${"x".repeat(120)}.sock` })).rejects.toThrow(
      /Cannot use the Unix socket .* at most 10[37] bytes/,
    );
    await expect(startSidecar({ socket: "/tmp/x.sock", tls: { cert: "", key: "" } })).rejects.toThrow(
      /`socket` and `tls` exclude each other/,
    );
  });

  it.skipIf(process.platform !== "linux")("listens on an abstract name (Linux): unix-abstract:<name>", async () => {
    const name = `dt-test-${randomUUID()}`;
    const s = await sidecar({ socket: `\0${name}` });
    expect(s.address).toBe(`unix-abstract:${name}`);
    expect(await roundTrip({ address: s.address, useEnvironment: false })).toEqual(["Hello unix!", "Hello socket!"]);
  });
});
