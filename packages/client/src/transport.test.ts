// TaskHubGrpcClient on a transport passed in (connect-node's createGrpcTransport): every call goes through it, the
// connection options and the environment are not read, and close() leaves the transport alone.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { TaskHubSidecarService } from "@dt/proto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { TaskHubGrpcClient } from "./client.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A sidecar that knows no instance, on a free loopback port. */
async function sidecar(): Promise<string> {
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) => router.service(TaskHubSidecarService, { getInstance: () => ({ exists: false }) }),
    }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(resolve);
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("ClientOptions.transport", () => {
  it("sends every call through the transport, never to `address`, and does not close it", async () => {
    const seen: string[] = [];
    const record: Interceptor = (next) => (req) => {
      seen.push(req.method.name);
      return next(req);
    };
    const inner = createGrpcTransport({ baseUrl: await sidecar(), interceptors: [record] });
    let closed = 0;
    const transport = { unary: inner.unary.bind(inner), stream: inner.stream.bind(inner), close: () => closed++ };
    // A malformed variable fails a client that reads the environment; one with a transport never looks.
    vi.stubEnv("DAPR_GRPC_RETRY_ENABLED", "true");
    vi.stubEnv("DAPR_GRPC_RETRY_MAX_ATTEMPTS", "many");
    expect(() => new TaskHubGrpcClient()).toThrow(/DAPR_GRPC_RETRY_MAX_ATTEMPTS/);
    const client = new TaskHubGrpcClient({ transport, address: "127.0.0.1:1", tls: true });
    expect(await client.getOrchestrationState("nobody")).toBeUndefined();
    expect(seen).toEqual(["GetInstance"]);
    client.close();
    expect(closed).toBe(0);
    await expect(client.getOrchestrationState("nobody")).rejects.toMatchObject({ code: "INVALID_STATE" });
    // The transport is still the caller's to use.
    const again = new TaskHubGrpcClient({ transport });
    expect(await again.getOrchestrationState("still-nobody")).toBeUndefined();
    again.close();
    expect(closed).toBe(0);
  });
});
