import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { GetInstanceResponseSchema, TaskHubSidecarService, WorkItemSchema } from "./index.js";
import { createSidecarClient, parseSidecarAddress } from "./transport.js";

describe("parseSidecarAddress", () => {
  it.each([
    ["localhost:4001", "http://localhost:4001", false],
    ["127.0.0.1:50001", "http://127.0.0.1:50001", false],
    ["sidecar", "http://sidecar:4001", false],
    ["[::1]:4001", "http://[::1]:4001", false],
    ["grpc://example.com:5000", "http://example.com:5000", false],
    ["grpcs://example.com", "https://example.com:443", true],
    ["http://example.com", "http://example.com:80", false],
    ["https://example.com:8443", "https://example.com:8443", true],
    ["example.com:443?tls=true", "https://example.com:443", true],
    ["  localhost:4001  ", "http://localhost:4001", false],
  ])("%s → %s", (input, baseUrl, secure) => {
    const parsed = parseSidecarAddress(input);
    expect(parsed.baseUrl).toBe(baseUrl);
    expect(parsed.secure).toBe(secure);
  });

  it.each(["", "unix:///tmp/dapr.sock", "ftp://host:21", "host:notaport", "http://host:80/path"])(
    "rejects %j with the accepted forms",
    (input) => {
      expect(() => parseSidecarAddress(input)).toThrow(/host:port, \[ipv6\]:port, grpc:\/\//);
    },
  );
});

// A real HTTP/2 gRPC server on loopback: proves the transport speaks gRPC, not just that options are passed.
const servers: http2.Http2Server[] = [];
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

async function listen(server: http2.Http2Server | http2.Http2SecureServer): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const fixture = (name: string) => readFileSync(new URL(`./testdata/${name}`, import.meta.url), "utf8");

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
