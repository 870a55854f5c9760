import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { resetCode } from "./grpc-http2.js";
import {
  GetInstanceResponseSchema,
  GetWorkItemsRequestSchema,
  TaskHubSidecarService,
  WorkItemSchema,
} from "./index.js";
import { connectionFromEnv, createSidecarClient, createSidecarTransport } from "./transport.js";

// A real HTTP/2 gRPC server on loopback: proves the transport speaks gRPC, not just that options are passed.
const servers: (http2.Http2Server | http.Server)[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

type Seen = { headers: Headers[] };
function routes(seen: Seen) {
  return (router: ConnectRouter) =>
    router.service(TaskHubSidecarService, {
      hello(_req, ctx) {
        seen.headers.push(ctx.requestHeader);
        return {};
      },
      async getInstance(req, ctx) {
        seen.headers.push(ctx.requestHeader);
        if (req.instanceId === "slow") await new Promise((r) => setTimeout(r, 2_000));
        return create(GetInstanceResponseSchema, { exists: req.instanceId === "known" });
      },
      async *getWorkItems(_req, ctx) {
        // Outlives the unary default deadline: the stream must not inherit it.
        await new Promise((r) => setTimeout(r, 300));
        if (!ctx.signal.aborted) yield create(WorkItemSchema, { completionToken: "t1" });
      },
    });
}

async function listen(server: http2.Http2Server | http2.Http2SecureServer | http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const fixture = (name: string) => readFileSync(new URL(`./testdata/${name}`, import.meta.url), "utf8");

describe("resetCode", () => {
  const CANCEL = http2.constants.NGHTTP2_CANCEL;
  it("reads CANCEL at or past the call's deadline as DEADLINE_EXCEEDED (daprd ending a long poll)", () => {
    expect(resetCode(CANCEL, 10_000, 10_000)).toBe(Code.DeadlineExceeded);
    expect(resetCode(CANCEL, 10_000, 12_000)).toBe(Code.DeadlineExceeded);
    expect(resetCode(CANCEL, 10_000, 9_990)).toBe(Code.DeadlineExceeded); // our timer has not run yet
  });
  it("reads CANCEL well before the deadline, or without one, as CANCELED", () => {
    expect(resetCode(CANCEL, 10_000, 5_000)).toBe(Code.Canceled);
    expect(resetCode(CANCEL, undefined, 5_000)).toBe(Code.Canceled);
  });
  it("maps the codes gRPC gives a status of their own, and reads the rest as UNAVAILABLE", () => {
    expect(resetCode(http2.constants.NGHTTP2_REFUSED_STREAM, undefined, 0)).toBe(Code.Unavailable);
    expect(resetCode(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, undefined, 0)).toBe(Code.ResourceExhausted);
    expect(resetCode(http2.constants.NGHTTP2_INADEQUATE_SECURITY, undefined, 0)).toBe(Code.PermissionDenied);
    // A server shutting down resets open streams with NO_ERROR (node:http2): retryable, not INTERNAL.
    expect(resetCode(http2.constants.NGHTTP2_NO_ERROR, undefined, 0)).toBe(Code.Unavailable);
    expect(resetCode(http2.constants.NGHTTP2_PROTOCOL_ERROR, undefined, 0)).toBe(Code.Unavailable);
  });
});

describe("createSidecarClient", () => {
  it("calls a plaintext HTTP/2 sidecar and sends metadata on every call", async () => {
    const seen: Seen = { headers: [] };
    const port = await listen(http2.createServer(connectNodeAdapter({ routes: routes(seen) })));
    const client = createSidecarClient({
      address: `127.0.0.1:${port}`,
      metadata: { "dapr-api-token": "secret", "x-tenant": "acme" },
    });
    await client.hello({});
    const res = await client.getInstance({ instanceId: "known" }, { headers: { "x-tenant": "override" } });
    expect(res.exists).toBe(true);
    expect(seen.headers.map((h) => h.get("dapr-api-token"))).toEqual(["secret", "secret"]);
    expect(seen.headers.map((h) => h.get("x-tenant"))).toEqual(["acme", "override"]);
  });

  it("applies the default deadline to unary calls but not to the work-item stream", async () => {
    const seen: Seen = { headers: [] };
    const port = await listen(http2.createServer(connectNodeAdapter({ routes: routes(seen) })));
    const client = createSidecarClient({ address: `127.0.0.1:${port}`, defaultTimeoutMs: 100 });
    const err = await client.getInstance({ instanceId: "slow" }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.DeadlineExceeded);
    const items = [];
    for await (const item of client.getWorkItems({})) items.push(item.completionToken);
    expect(items).toEqual(["t1"]);
  });

  it("connects over TLS with a custom CA", async () => {
    const seen: Seen = { headers: [] };
    const tlsServer = http2.createSecureServer(
      { key: fixture("localhost.key.pem"), cert: fixture("localhost.cert.pem") },
      connectNodeAdapter({ routes: routes(seen) }),
    );
    const port = await listen(tlsServer);
    const client = createSidecarClient({
      address: `grpcs://localhost:${port}`,
      tls: { ca: fixture("localhost.cert.pem") },
    });
    expect((await client.getInstance({ instanceId: "nope" })).exists).toBe(false);
  });

  it("names a plaintext server reached with TLS", async () => {
    const port = await listen(http2.createServer());
    const err = await createSidecarClient({ address: `127.0.0.1:${port}`, tls: true })
      .hello({})
      .catch((e: unknown) => e);
    expect(ConnectError.from(err).rawMessage).toMatch(/^the server does not speak TLS here: use a plaintext address/);
  });

  it("names a TLS server reached in plaintext", async () => {
    const tlsServer = http2.createSecureServer({
      key: fixture("localhost.key.pem"),
      cert: fixture("localhost.cert.pem"),
    });
    const port = await listen(tlsServer);
    const err = await createSidecarClient({ address: `127.0.0.1:${port}` })
      .hello({})
      .catch((e: unknown) => e);
    expect(ConnectError.from(err).rawMessage).toMatch(
      /before the server spoke HTTP\/2: does it need TLS \(grpcs:\/\/\)/,
    );
  });

  it("fails a TLS call whose certificate is not trusted", async () => {
    const seen: Seen = { headers: [] };
    const tlsServer = http2.createSecureServer(
      { key: fixture("localhost.key.pem"), cert: fixture("localhost.cert.pem") },
      connectNodeAdapter({ routes: routes(seen) }),
    );
    const port = await listen(tlsServer);
    const client = createSidecarClient({ address: `https://localhost:${port}` });
    const err = await client.hello({}).catch((e: unknown) => e);
    expect(ConnectError.from(err).message).toMatch(/certificate/i);
    expect(seen.headers).toHaveLength(0);
  });
});

describe("connectionFromEnv", () => {
  it.each([
    [{}, "localhost:4001"],
    [{ DAPR_GRPC_ENDPOINT: "grpcs://sidecar:443" }, "grpcs://sidecar:443"],
    [{ DAPR_GRPC_HOST: "h", DAPR_GRPC_PORT: "50001" }, "h:50001"],
    [{ DAPR_RUNTIME_HOST: "r" }, "r:4001"],
    [{ DAPR_GRPC_PORT: "50001" }, "localhost:50001"],
    [{ DURABLETASK_GRPC_ENDPOINT: "127.0.0.1:56178" }, "127.0.0.1:56178"],
    [{ DAPR_GRPC_ENDPOINT: "e:1", DAPR_GRPC_HOST: "h", DURABLETASK_GRPC_ENDPOINT: "d:2" }, "e:1"],
    [{ DAPR_GRPC_ENDPOINT: "unix:/run/dapr.sock", DAPR_GRPC_PORT: "50001" }, "unix:/run/dapr.sock"],
    [{ DURABLETASK_GRPC_ENDPOINT: "unix-abstract:dt" }, "unix-abstract:dt"],
  ])("%j → %s", (env, address) => {
    expect(connectionFromEnv(env).address).toBe(address);
  });

  it("keeps the seed's defaults: keepalive and retries off, token only when set", () => {
    const options = connectionFromEnv({});
    expect(options.keepalive).toBeUndefined();
    expect(options.retry).toBeUndefined();
    expect(options.apiToken).toBeUndefined();
  });

  it("reads keepalive, retry and token settings with the documented defaults", () => {
    const options = connectionFromEnv({
      DAPR_API_TOKEN: "t",
      DAPR_GRPC_KEEPALIVE_ENABLED: "true",
      DAPR_GRPC_RETRY_ENABLED: "true",
      DAPR_GRPC_RETRY_CODES: "unavailable, RESOURCE_EXHAUSTED",
    });
    expect(options.apiToken).toBe("t");
    expect(options.keepalive).toEqual({ intervalMs: 120_000, timeoutMs: 20_000, permitWithoutCalls: false });
    expect(options.retry).toEqual({
      maxAttempts: 4,
      initialBackoffMs: 100,
      maxBackoffMs: 1000,
      backoffMultiplier: 2,
      retryableCodes: [Code.Unavailable, Code.ResourceExhausted],
    });
  });

  it("rejects malformed numbers and codes, and lets explicit options win", () => {
    expect(() => connectionFromEnv({ DAPR_GRPC_RETRY_ENABLED: "1", DAPR_GRPC_RETRY_MAX_ATTEMPTS: "x" })).toThrow(
      /DAPR_GRPC_RETRY_MAX_ATTEMPTS must be a non-negative number/,
    );
    expect(() => connectionFromEnv({ DAPR_GRPC_RETRY_ENABLED: "1", DAPR_GRPC_RETRY_CODES: "NOPE" })).toThrow(
      /Unknown gRPC status code "NOPE"/,
    );
    expect(connectionFromEnv({ DAPR_GRPC_ENDPOINT: "e:1" }, { address: "x:2" }).address).toBe("x:2");
  });
});

describe("unary retries and the API token", () => {
  it("retries UNAVAILABLE unary calls up to maxAttempts and sends dapr-api-token", async () => {
    let calls = 0;
    const tokens: (string | null)[] = [];
    const port = await listen(
      http2.createServer(
        connectNodeAdapter({
          routes: (router) =>
            router.service(TaskHubSidecarService, {
              hello(_req, ctx) {
                tokens.push(ctx.requestHeader.get("dapr-api-token"));
                if (++calls < 3) throw new ConnectError("not yet", Code.Unavailable);
                return {};
              },
              getInstance() {
                calls++;
                throw new ConnectError("nope", Code.InvalidArgument);
              },
            }),
        }),
      ),
    );
    const retry = { maxAttempts: 3, initialBackoffMs: 1, maxBackoffMs: 2 };
    const client = createSidecarClient({ address: `127.0.0.1:${port}`, apiToken: "secret", retry });
    await client.hello({});
    expect(calls).toBe(3);
    expect(tokens).toEqual(["secret", "secret", "secret"]);
    calls = 0;
    await expect(client.getInstance({ instanceId: "x" })).rejects.toThrow(/nope/);
    expect(calls).toBe(1); // INVALID_ARGUMENT is not retryable
  });
});

describe("connection loss", () => {
  it("a work-item stream sent once more after REFUSED_STREAM is the one the reader cancels", async () => {
    const server = http2.createServer();
    let streams = 0;
    let cancelled!: () => void;
    const cancelledOnServer = new Promise<void>((resolve) => {
      cancelled = resolve;
    });
    server.on("stream", (stream) => {
      stream.on("error", () => {}); // node reports resets as stream errors
      if (++streams === 1) return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      const item = toBinary(WorkItemSchema, create(WorkItemSchema, { completionToken: "t" }));
      const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, item.length]), item]);
      const timer = setInterval(() => stream.write(framed), 5);
      stream.on("close", () => {
        clearInterval(timer);
        cancelled();
      });
    });
    const port = await listen(server);
    const transport = createSidecarTransport({ address: `127.0.0.1:${port}` });
    const request = create(GetWorkItemsRequestSchema);
    for await (const bytes of transport.streamBytes(TaskHubSidecarService.method.getWorkItems, undefined, request)) {
      expect(fromBinary(WorkItemSchema, bytes).completionToken).toBe("t");
      break; // the reader stops: the stream it reads is cancelled
    }
    await cancelledOnServer;
    expect(streams).toBe(2);
  });

  it("names an HTTP/1.1 server (a wrong port) in an UNAVAILABLE error", async () => {
    const server = http.createServer((_req, res) => res.end("hello"));
    const port = await listen(server);
    const err = await createSidecarClient({ address: `127.0.0.1:${port}` })
      .hello({})
      .catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Unavailable);
    expect(ConnectError.from(err).rawMessage).toMatch(/HTTP\/1\.x .*is this the sidecar's gRPC port\?/);
  });

  it("sends a request the server refused unprocessed (REFUSED_STREAM) once more", async () => {
    const server = http2.createServer();
    let streams = 0;
    server.on("stream", (stream) => {
      if (++streams === 1) {
        stream.on("error", () => {}); // node reports its own reset as a stream error
        return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    const port = await listen(server);
    const client = createSidecarClient({ address: `127.0.0.1:${port}` });
    await client.hello({});
    expect(streams).toBe(2);
  });

  it.each([
    ["CANCEL", http2.constants.NGHTTP2_CANCEL, Code.Canceled],
    ["ENHANCE_YOUR_CALM", http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, Code.ResourceExhausted],
    ["INTERNAL_ERROR", http2.constants.NGHTTP2_INTERNAL_ERROR, Code.Unavailable],
  ])("maps a stream the server resets with %s to its status", async (_name, rstCode, expected) => {
    const server = http2.createServer();
    server.on("stream", (stream) => {
      stream.on("error", () => {});
      stream.close(rstCode);
    });
    const port = await listen(server);
    const client = createSidecarClient({ address: `127.0.0.1:${port}` });
    const err = ConnectError.from(await client.hello({}, { timeoutMs: 10_000 }).catch((e: unknown) => e));
    expect(err.code).toBe(expected);
    expect(err.message).toMatch(/stream closed with error code/);
  });

  it("reports a connection dropped mid-call as UNAVAILABLE, so it is retryable", async () => {
    const server = http2.createServer();
    server.on("stream", (stream) => stream.session?.destroy());
    const port = await listen(server);
    const client = createSidecarClient({ address: `127.0.0.1:${port}` });
    const err = await client.hello({}).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Unavailable);
  });
});
