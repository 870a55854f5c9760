// The client's default deadline: ordinary calls carry one (60 s unless `defaultTimeoutMs` says otherwise, 0 for none),
// so a sidecar that never answers cannot hang them; the long polls (waits) carry only the timeout they are given.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { parseTimeout } from "@dt/proto/transport";
import { afterEach, describe, expect, it } from "vitest";
import { TaskHubGrpcClient } from "./client.js";

/** A gRPC server that records each call's path and `grpc-timeout`, and answers UNIMPLEMENTED or, if `silent`, never. */
class Recorder {
  readonly calls: { path: string; timeoutMs: number | undefined }[] = [];
  silent = false;
  readonly #server = http2.createServer();
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  async listen(): Promise<string> {
    this.#server.on("session", (session) => {
      this.#sessions.add(session);
      session.on("close", () => this.#sessions.delete(session));
    });
    this.#server.on("stream", (stream, headers) => {
      stream.on("error", () => {});
      const timeout = headers["grpc-timeout"];
      this.calls.push({
        path: String(headers[":path"]),
        timeoutMs: parseTimeout(typeof timeout === "string" ? timeout : undefined),
      });
      stream.resume(); // read the request, answer only when told to
      if (this.silent) return;
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "not here" },
        { endStream: true },
      );
    });
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  timeoutOf(method: string): (number | undefined)[] {
    return this.calls.filter((c) => c.path.endsWith(`/${method}`)).map((c) => c.timeoutMs);
  }

  async close(): Promise<void> {
    for (const session of this.#sessions) session.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { defaultTimeoutMs?: number } = {}) {
  const server = new Recorder();
  const address = await server.listen();
  cleanups.push(() => server.close());
  const client = new TaskHubGrpcClient({ address, useEnvironment: false, ...options });
  cleanups.push(() => client.close());
  return { server, client };
}

describe("the client's default deadline", () => {
  it("is 60 s on ordinary calls, and waits without a timeout carry none", async () => {
    const { server, client } = await setup();
    await expect(client.getOrchestrationState("i1")).rejects.toThrow();
    await expect(client.raiseOrchestrationEvent("i1", "go")).rejects.toThrow();
    await expect(client.waitForOrchestrationCompletion("i1")).rejects.toThrow();
    for (const method of ["GetInstance", "RaiseEvent"]) {
      const deadlines = server.timeoutOf(method);
      expect(deadlines.length, method).toBeGreaterThan(0);
      for (const ms of deadlines) expect(ms, method).toBe(60_000);
    }
    expect(server.timeoutOf("WaitForInstanceCompletion")).toEqual([undefined]);
  });

  it("leaves a wait's own timeout as it is", async () => {
    const { server, client } = await setup({ defaultTimeoutMs: 1_000 });
    await expect(client.waitForOrchestrationStart("i1", { timeout: 600 })).rejects.toThrow();
    const [deadline] = server.timeoutOf("WaitForInstanceStart");
    expect(deadline).toBeGreaterThan(500_000);
    expect(deadline).toBeLessThanOrEqual(600_000);
  });

  it("follows defaultTimeoutMs, and 0 turns it off", async () => {
    const short = await setup({ defaultTimeoutMs: 1_500 });
    await expect(short.client.terminateOrchestration("i1")).rejects.toThrow();
    expect(short.server.timeoutOf("TerminateInstance")).toEqual([1_500]);
    const none = await setup({ defaultTimeoutMs: 0 });
    await expect(none.client.terminateOrchestration("i1")).rejects.toThrow();
    expect(none.server.timeoutOf("TerminateInstance")).toEqual([undefined]);
  });

  it("fails a call the sidecar never answers once the deadline passes", async () => {
    const { server, client } = await setup({ defaultTimeoutMs: 200 });
    server.silent = true;
    const error = await client.getOrchestrationState("i1").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "WORKFLOW_TIMEOUT" });
    expect(String((error as Error).message)).toMatch(/get_workflow timed out/);
  });
});
