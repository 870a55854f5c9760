// createSidecarTransport on Unix socket addresses: a real gRPC server (connect's node adapter on node:http2) listening
// on a socket in a temporary directory; the call reaches it with `:authority localhost`, as gRPC sends it.
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { TaskHubSidecarService } from "./index.js";
import { createSidecarClient, createSidecarTransport, type SidecarTransport } from "./transport.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A gRPC server on `path` recording the `:authority` of each call. */
async function serve(path: string, authorities: string[]): Promise<void> {
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(TaskHubSidecarService, {
          hello: () => ({}),
        }),
    }),
  );
  server.on("stream", (_stream, headers) => authorities.push(String(headers[":authority"])));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(resolve);
      }),
  );
}

function transport(address: string): SidecarTransport {
  const t = createSidecarTransport({ address, defaultTimeoutMs: 5_000 });
  cleanups.push(() => t.close());
  return t;
}

describe("createSidecarTransport over a Unix socket", () => {
  it.each([
    ["unix:<abs>", (path: string) => `unix:${path}`],
    ["unix:///<abs>", (path: string) => `unix://${path}`],
  ])("calls through %s with :authority localhost", async (_form, address) => {
    const dir = mkdtempSync(join(tmpdir(), "dt-uds-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "grpc.sock");
    const authorities: string[] = [];
    await serve(path, authorities);
    await createSidecarClient(transport(address(path))).hello({});
    expect(authorities).toEqual(["localhost"]);
  });

  it("calls through unix:<relative>, resolved against the working directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-uds-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const authorities: string[] = [];
    await serve(join(dir, "rel.sock"), authorities);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await createSidecarClient(transport("unix:rel.sock")).hello({});
    } finally {
      process.chdir(cwd);
    }
    expect(authorities).toHaveLength(1);
  });

  it.skipIf(process.platform !== "linux")("calls through unix-abstract:<name> (Linux)", async () => {
    const name = `dt-uds-${process.pid}-${Date.now()}`;
    const authorities: string[] = [];
    await serve(`\0${name}`, authorities);
    await createSidecarClient(transport(`unix-abstract:${name}`)).hello({});
    expect(authorities).toEqual(["localhost"]);
  });

  it("fails a call to a socket nothing listens on with UNAVAILABLE, naming the socket", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-uds-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const error = await createSidecarClient(transport(`unix:${join(dir, "none.sock")}`))
      .hello({})
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 14 /* UNAVAILABLE */ });
    expect(String((error as Error).message)).toMatch(/none\.sock/);
  });

  it("refuses TLS on a Unix socket address, from the query or the tls option", () => {
    expect(() => createSidecarTransport({ address: "unix:/tmp/x.sock?tls=true" })).toThrow(
      /TLS over a Unix socket is not supported/,
    );
    expect(() => createSidecarTransport({ address: "unix:/tmp/x.sock", tls: true })).toThrow(
      /TLS cannot be used with the Unix socket address "unix:\/tmp\/x\.sock"/,
    );
    expect(() => createSidecarTransport({ address: "unix:/tmp/x.sock", tls: { ca: "x" } })).toThrow(/TLS cannot/);
    expect(() => createSidecarTransport({ address: "unix:/tmp/x.sock", tls: false })).not.toThrow();
  });
});
