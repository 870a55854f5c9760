// The gRPC layer on both HTTP/2 clients it runs on (ours and node:http2), against real node:http2 servers on loopback.
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { KeepalivePolicy } from "./grpc-http2.js";
import { ENHANCE_YOUR_CALM } from "./h2/connection.js";
import { GetInstanceResponseSchema, TaskHubSidecarService, WorkflowStateSchema, WorkItemSchema } from "./index.js";
import { proxyFromEnv } from "./proxy.js";
import {
  createNodeHttp2Transport,
  createSidecarTransport,
  type SidecarConnectionOptions,
  type SidecarTransport,
} from "./transport.js";

const closers: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as http2.Http2Server & { closeAllSessions?: () => void }).closeAllSessions?.();
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A connect gRPC server on loopback serving `routes`. */
async function grpcServer(routes: (router: ConnectRouter) => void): Promise<number> {
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer(connectNodeAdapter({ routes }));
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  closers.push(() => {
    for (const session of sessions) session.destroy();
  });
  return listen(server);
}

/** A raw HTTP/2 server whose every stream is answered by `respond`. */
async function rawServer(respond: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void) {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    respond(stream, headers);
  });
  closers.push(() => {
    for (const session of sessions) session.destroy();
  });
  return listen(server);
}

const WIRES: readonly [string, (options: SidecarConnectionOptions) => SidecarTransport][] = [
  ["our HTTP/2 client", createSidecarTransport],
  ["node:http2", createNodeHttp2Transport],
];

function open(make: (options: SidecarConnectionOptions) => SidecarTransport, options: SidecarConnectionOptions) {
  const transport = make(options);
  closers.push(() => transport.close());
  return { transport, client: createClient(TaskHubSidecarService, transport) };
}

describe.each(WIRES)("the gRPC layer on %s", (_name, make) => {
  it("receives a 16 MiB message whole", async () => {
    const big = "x".repeat(16 * 1024 * 1024);
    const port = await grpcServer((router) =>
      router.service(TaskHubSidecarService, {
        getInstance: () =>
          create(GetInstanceResponseSchema, {
            exists: true,
            workflowState: create(WorkflowStateSchema, { customStatus: big }),
          }),
      }),
    );
    const { client } = open(make, { address: `127.0.0.1:${port}`, maxReceiveMessageBytes: 64 * 1024 * 1024 });
    const response = await client.getInstance({ instanceId: "i" });
    expect(response.workflowState?.customStatus?.length).toBe(big.length);
  });

  it("hands response headers and trailers to the caller", async () => {
    const port = await grpcServer((router) =>
      router.service(TaskHubSidecarService, {
        hello(_req, ctx) {
          ctx.responseHeader.set("x-served-by", "test");
          ctx.responseTrailer.set("x-cost", "3");
          return {};
        },
      }),
    );
    const { client } = open(make, { address: `127.0.0.1:${port}` });
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    await client.hello({}, { onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) });
    expect(header?.get("x-served-by")).toBe("test");
    expect(trailer?.get("x-cost")).toBe("3");
  });

  it("decodes rich error details (grpc-status-details-bin) into ConnectError.details", async () => {
    const port = await grpcServer((router) =>
      router.service(TaskHubSidecarService, {
        hello() {
          const error = new ConnectError("no such thing", Code.NotFound);
          error.details.push({ desc: WorkItemSchema, value: create(WorkItemSchema, { completionToken: "why" }) });
          throw error;
        },
      }),
    );
    const { client } = open(make, { address: `127.0.0.1:${port}` });
    const error = await failure(client.hello({}));
    expect(error.code).toBe(Code.NotFound);
    expect(error.rawMessage).toBe("no such thing");
    expect(error.findDetails(WorkItemSchema)[0]?.completionToken).toBe("why");
  });

  it("surfaces the headers and trailers of a server stream", async () => {
    const port = await grpcServer((router) =>
      router.service(TaskHubSidecarService, {
        async *getWorkItems(_req, ctx) {
          ctx.responseHeader.set("x-stream", "open");
          ctx.responseTrailer.set("x-items", "2");
          yield create(WorkItemSchema, { completionToken: "a" });
          yield create(WorkItemSchema, { completionToken: "b" });
        },
      }),
    );
    const { client } = open(make, { address: `127.0.0.1:${port}` });
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const tokens: string[] = [];
    for await (const item of client.getWorkItems(
      {},
      { onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
    ))
      tokens.push(item.completionToken);
    expect(tokens).toEqual(["a", "b"]);
    expect(header?.get("x-stream")).toBe("open");
    expect(trailer?.get("x-items")).toBe("2");
  });

  it("refuses a response that is not gRPC, naming its content type", async () => {
    const port = await rawServer((stream) => {
      stream.respond({ ":status": 200, "content-type": "text/html" });
      stream.end("<html></html>");
    });
    const { client } = open(make, { address: `127.0.0.1:${port}` });
    const error = await failure(client.hello({}));
    expect(error.code).toBe(Code.Unknown);
    expect(error.rawMessage).toMatch(/not gRPC \(content-type "text\/html"\)/);
  });

  it("refuses a 4 GiB message from its length prefix under the default receive limit", async () => {
    const port = await rawServer((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.write(Buffer.from([0, 0xff, 0xff, 0xff, 0xff]));
    });
    const { client } = open(make, { address: `127.0.0.1:${port}` });
    const error = await failure(client.hello({}));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toMatch(/exceeds the limit of 33554432 bytes \(maxReceiveMessageBytes\)/);
  });

  it("reads a garbage grpc-status as INTERNAL", async () => {
    const port = await rawServer((stream) => {
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "banana" },
        { endStream: true },
      );
    });
    const { client } = open(make, { address: `127.0.0.1:${port}` });
    const error = await failure(client.hello({}));
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toMatch(/invalid grpc-status "banana"/);
  });

  it.each([
    ["28 hours", 28 * 3_600_000, "100800S"],
    ["30 days", 30 * 86_400_000, "2592000S"],
  ])("sends a deadline of %s as gRPC allows, and waits", async (_label, timeoutMs, header) => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    closers.push(() => void process.off("warning", onWarning));
    const seen: string[] = [];
    const port = await rawServer((_stream, headers) => {
      seen.push(String(headers["grpc-timeout"]));
      // Holds the call: the client must still be waiting when the test cancels it.
    });
    const { client } = open(make, { address: `127.0.0.1:${port}` });
    const abort = new AbortController();
    const call = client.getInstance({ instanceId: "i" }, { timeoutMs, signal: abort.signal });
    await until(() => seen.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 50)); // a timer that overflowed would fire within 1 ms
    abort.abort();
    const error = await failure(call);
    expect(error.code).toBe(Code.Canceled);
    expect(seen).toEqual([header]);
    expect(warnings.filter((w) => w.name === "TimeoutOverflowWarning")).toEqual([]);
  });

  it("rejects client- and bidi-streaming methods, naming the way out", async () => {
    const { transport } = open(make, { address: "127.0.0.1:1" });
    const method = { ...TaskHubSidecarService.method.getWorkItems, methodKind: "bidi_streaming" } as const;
    const error = await failure(
      transport.stream(method as never, undefined, undefined, undefined, (async function* () {})()),
    );
    expect(error.code).toBe(Code.Unimplemented);
    expect(error.rawMessage).toMatch(/bidi-streaming method.*@connectrpc\/connect-node/);
  });

  it("drops a connection on request: calls on it fail UNAVAILABLE, the next call opens a new one", async () => {
    const ports: number[] = [];
    const port = await grpcServer((router) =>
      router.service(TaskHubSidecarService, {
        async getInstance(req, ctx) {
          ports.push(ctx.requestHeader.get("x-n") === null ? 0 : 1);
          if (req.instanceId === "hold") await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          return { exists: true };
        },
      }),
    );
    const { client, transport } = open(make, { address: `127.0.0.1:${port}` });
    const held = failure(client.getInstance({ instanceId: "hold" }));
    await until(() => ports.length === 1);
    transport.dropConnection("found dead by a keepalive call");
    const error = await held;
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toMatch(/found dead by a keepalive call/);
    expect((await client.getInstance({ instanceId: "next" })).exists).toBe(true);
  });

  it("closes a connection idle for idleTimeoutMs; the next call opens a new one", async () => {
    let opened = 0;
    let closed = 0;
    const server = http2.createServer(
      connectNodeAdapter({ routes: (router) => router.service(TaskHubSidecarService, { hello: () => ({}) }) }),
    );
    server.on("session", (session) => {
      opened++;
      session.on("close", () => closed++);
    });
    const port = await listen(server);
    const { client } = open(make, { address: `127.0.0.1:${port}`, idleTimeoutMs: 100 });
    await client.hello({});
    await until(() => closed === 1);
    await client.hello({});
    expect(opened).toBe(2);
  });

  it("fails a call whose connection cannot start (a TLS key that does not parse) instead of crashing later", async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    closers.push(() => void process.off("unhandledRejection", onRejection));
    const { client } = open(make, {
      address: "127.0.0.1:1",
      tls: { cert: "not a certificate", key: "not a key" },
      defaultTimeoutMs: 50,
    });
    const error = await failure(client.hello({}));
    expect(error.code).toBe(Code.Unavailable);
    await new Promise((resolve) => setTimeout(resolve, 100)); // past the deadline a leaked timer would fire at
    expect(rejections).toEqual([]);
  });

  it("names a GOAWAY's reason in the error of a call the server then cut off", async () => {
    const port = await rawServer((stream) => {
      const session = stream.session;
      session?.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, stream.id, Buffer.from("too_many_pings"));
      setTimeout(() => session?.destroy(), 20);
    });
    const { client } = open(make, { address: `127.0.0.1:${port}` });
    const error = await failure(client.hello({}));
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toMatch(/ENHANCE_YOUR_CALM: too_many_pings/);
  });

  it("tunnels through an HTTP CONNECT proxy", async () => {
    const port = await grpcServer((router) => router.service(TaskHubSidecarService, { hello: () => ({}) }));
    const tunnels: string[] = [];
    const proxy = http.createServer((_req, res) => res.writeHead(405).end());
    proxy.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      tunnels.push(String(req.url));
      const [host, targetPort] = String(req.url).split(":");
      const upstream = net.connect(Number(targetPort), host, () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
      closers.push(() => {
        upstream.destroy();
        client.destroy();
      });
    });
    const proxyPort = await listen(proxy);
    const { client } = open(make, { address: `127.0.0.1:${port}`, proxy: `http://127.0.0.1:${proxyPort}` });
    await client.hello({});
    expect(tunnels).toEqual([`127.0.0.1:${port}`]);
  });
});

describe("proxyFromEnv", () => {
  const env = { https_proxy: "http://proxy.corp:3128" };
  it("takes grpc_proxy, then https_proxy, then http_proxy", () => {
    expect(proxyFromEnv("sidecar", 50001, env)?.host).toBe("proxy.corp:3128");
    expect(proxyFromEnv("sidecar", 50001, { ...env, grpc_proxy: "other:8080" })?.host).toBe("other:8080");
    expect(proxyFromEnv("sidecar", 50001, { HTTP_PROXY: "upper:1" })?.host).toBe("upper:1");
    expect(proxyFromEnv("sidecar", 50001, {})).toBeUndefined();
  });

  it("never proxies loopback, and honours no_proxy (hosts, domains, ports, *)", () => {
    for (const host of ["localhost", "127.0.0.1", "::1", "[::1]"]) expect(proxyFromEnv(host, 1, env)).toBeUndefined();
    expect(proxyFromEnv("a.svc.cluster.local", 1, { ...env, no_proxy: ".cluster.local" })).toBeUndefined();
    expect(proxyFromEnv("sidecar", 1, { ...env, no_proxy: "other, sidecar" })).toBeUndefined();
    expect(proxyFromEnv("sidecar", 2, { ...env, no_proxy: "sidecar:1" })?.host).toBe("proxy.corp:3128");
    expect(proxyFromEnv("anything", 1, { ...env, NO_PROXY: "*" })).toBeUndefined();
    expect(proxyFromEnv("sidecar", 1, { ...env, no_grpc_proxy: "sidecar", no_proxy: "" })).toBeUndefined();
  });

  it("rejects a proxy it cannot use", () => {
    expect(() => proxyFromEnv("sidecar", 1, { https_proxy: "https://proxy:443" })).toThrow(/only http:\/\//);
  });
});

describe("KeepalivePolicy", () => {
  it("doubles the interval on each too_many_pings GOAWAY, and only then", () => {
    const policy = new KeepalivePolicy({ intervalMs: 1000, timeoutMs: 500 });
    policy.onGoaway(ENHANCE_YOUR_CALM, "too_many_pings");
    expect(policy.current).toEqual({ intervalMs: 2000, timeoutMs: 500 });
    policy.onGoaway(ENHANCE_YOUR_CALM, "something else");
    policy.onGoaway(0, "too_many_pings");
    expect(policy.current?.intervalMs).toBe(2000);
    policy.onGoaway(ENHANCE_YOUR_CALM, "too_many_pings");
    expect(policy.current?.intervalMs).toBe(4000);
    expect(new KeepalivePolicy(undefined).current).toBeUndefined();
  });
});

/** The ConnectError `promise` rejects with; fails the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => ConnectError.from(error),
  );
  if (outcome === undefined) throw new Error("expected the call to fail");
  return outcome;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
