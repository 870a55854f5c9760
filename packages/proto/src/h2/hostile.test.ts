// H2Connection against broken and hostile servers speaking raw HTTP/2 on loopback (127.0.0.1, port 0) or on Unix
// sockets in a temp dir: one case per failure class, each bounded in time and memory.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, NO_ERROR, PROTOCOL_ERROR } from "./connection.js";
import { hpackInteger } from "./testing/fuzz-model.js";
import {
  ACK,
  call,
  cleanups,
  connect,
  DATA,
  END_HEADERS,
  END_STREAM,
  frame,
  GOAWAY,
  GRPC_OK,
  goaway,
  HEADERS,
  headers,
  is,
  listen,
  MiB,
  OK,
  open,
  Peer,
  PING,
  REQUEST,
  RST_STREAM,
  runCleanups,
  settings,
  word,
} from "./testing/peer.js";

afterEach(runCleanups);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("H2Connection against hostile servers", () => {
  it("names a GOAWAY ENHANCE_YOUR_CALM too_many_pings in the error when the server then closes", async () => {
    const seen: string[] = [];
    const { conn, peer } = await connect({ onGoaway: (code, debug) => seen.push(`${code} ${debug}`) });
    await peer.handshake();
    const { rec } = call(conn);
    await peer.next(is(HEADERS, 1));
    peer.send(goaway(0x7fffffff, ENHANCE_YOUR_CALM, "too_many_pings")); // as grpc-go does, then it closes
    peer.socket.end();
    const error = await rec.closed;
    expect(error?.message).toBe(
      "the connection closed after the server's GOAWAY " +
        "(ENHANCE_YOUR_CALM: too_many_pings; the server allows fewer keepalive pings)",
    );
    expect(error?.tooManyPings).toBe(true);
    expect(conn.tooManyPings).toBe(true);
    expect(seen).toEqual([`${ENHANCE_YOUR_CALM} too_many_pings`]);
  });

  it("sends no keepalive PING while the server keeps sending, and drops the connection once it falls silent", async () => {
    // An interval far above the 25 ms between frames: a loaded machine's event-loop stalls do not open a gap.
    const { conn, peer } = await connect({ keepalive: { intervalMs: 1500, timeoutMs: 300 } });
    await peer.handshake();
    const { rec } = call(conn);
    const clientPing = (f: { type: number; flags: number }) => f.type === PING && (f.flags & ACK) === 0;
    for (let i = 0; i < 80; i++) {
      peer.send(frame(PING, 0, 0, Buffer.alloc(8))); // any frame read puts the next keepalive PING off
      await sleep(25);
    }
    expect(peer.count(clientPing)).toBe(0); // two seconds of traffic, more than the interval, never its silence
    await peer.find(clientPing); // silence: the client pings, and nothing answers it
    expect((await rec.closed)?.message).toBe("keepalive ping not answered within 300 ms");
    expect(conn.usable).toBe(false);
  });

  it.each([
    ["plaintext", undefined, "the server sent no HTTP/2 SETTINGS (is this its gRPC port?)"],
    ["TLS", {}, "the TLS handshake did not complete"],
  ])("times out connecting (%s) to a server that accepts and never speaks", async (_, tls, phase) => {
    const server = net.createServer((socket) => socket.on("error", () => {}));
    const port = await listen(server);
    const conn = open({ host: "127.0.0.1", port, tls, connectTimeoutMs: 100 });
    const { rec } = call(conn);
    const error = await rec.closed;
    expect(error?.message).toBe(`could not connect to 127.0.0.1:${port}: ${phase} within 100 ms`);
    expect(conn.usable).toBe(false);
  });

  it("ends with ENHANCE_YOUR_CALM a PING flood from a server that never reads the answers", async () => {
    let closed: Promise<void> = Promise.resolve();
    let sent = 0;
    const server = net.createServer((socket) => {
      socket.pause(); // never reads: the client's answers pile up in the kernel, then in the client
      socket.on("error", () => {});
      closed = new Promise((resolve) => socket.once("close", () => resolve()));
      // Small batches, so that no single read holds 1000 PINGs: what trips the limit is the answers not being read.
      const batch = Buffer.concat(Array<Buffer>(200).fill(frame(PING, 0, 0, Buffer.alloc(8))));
      socket.write(settings());
      const pump = () => {
        if (socket.destroyed || sent >= 256 * MiB) return;
        sent += batch.length;
        socket.write(batch);
        setImmediate(pump);
      };
      pump();
    });
    const port = await listen(server);
    const conn = open({ host: "127.0.0.1", port });
    const { rec } = call(conn);
    const error = await rec.closed;
    expect(error?.code).toBe(ENHANCE_YOUR_CALM);
    expect(error?.message).toBe(
      "the server sent more than 1000 PING / SETTINGS frames without reading our answers (a flood)",
    );
    await closed; // the client hung up on it
    expect(sent).toBeLessThan(256 * MiB);
  });

  it("resets with FLOW_CONTROL_ERROR a stream whose server sends DATA beyond its window", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const { rec, stream } = call(conn);
    const other = call(conn);
    stream.pause(); // the window is not given back: 1 MiB is all the server may send
    peer.send(headers(1, OK));
    for (let sent = 0; sent < MiB; sent += 16_384) peer.send(frame(DATA, 0, 1, Buffer.alloc(16_384)));
    peer.send(frame(DATA, 0, 1, Buffer.alloc(1)));
    expect(word(await peer.next(is(RST_STREAM, 1)), 0)).toBe(FLOW_CONTROL_ERROR);
    expect((await rec.closed)?.code).toBe(FLOW_CONTROL_ERROR);
    peer.send(headers(3, OK), headers(3, GRPC_OK, END_HEADERS | END_STREAM));
    expect(await other.rec.closed).toBeUndefined();
  });

  it("resets a stream with a header-list bomb and goes on serving the others", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const bombed = call(conn);
    const other = call(conn);
    const entry = Buffer.concat([Buffer.from([0x40, 6]), Buffer.from("x-bomb"), hpackInteger(0, 7, 4000)]);
    const bomb = Buffer.concat([entry, Buffer.alloc(4000, 0x61), Buffer.alloc(12_000, 0x80 | 62)]); // ~48 MB decoded
    peer.send(frame(HEADERS, END_HEADERS, 1, bomb));
    expect(word(await peer.next(is(RST_STREAM, 1)), 0)).toBe(PROTOCOL_ERROR);
    expect((await bombed.rec.closed)?.message).toMatch(/^the server sent a header list larger than 262144 bytes/);
    peer.send(headers(3, OK), headers(3, GRPC_OK, END_HEADERS | END_STREAM));
    expect(await other.rec.closed).toBeUndefined();
    expect(conn.usable).toBe(true);
  });

  it("closes a connection whose stream ids ran out once its last stream is done", async () => {
    const { conn, peer } = await connect({ firstStreamId: 0x7fffffff });
    await peer.handshake();
    const { rec } = call(conn);
    expect(conn.usable).toBe(false);
    await peer.next(is(HEADERS, 0x7fffffff));
    peer.send(headers(0x7fffffff, [":status", "200"], END_HEADERS | END_STREAM));
    expect(await rec.closed).toBeUndefined();
    expect(word(await peer.next(is(GOAWAY)), 1)).toBe(NO_ERROR);
    await peer.whenEnded();
  });
});

describe("H2Connection over Unix sockets", () => {
  const dir = () => {
    const path = mkdtempSync(join(tmpdir(), "dt-h2-"));
    cleanups.push(() => rmSync(path, { recursive: true, force: true }));
    return path;
  };

  /** A raw server on `path`, and the client's connection to it. */
  async function connectUnix(path: string) {
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const conn = open({ path });
    const peer = new Peer(await accepted);
    cleanups.push(() => peer.socket.destroy());
    return { conn, peer };
  }

  it.each([
    ["a filesystem path", () => join(dir(), "h2.sock")],
    ["an abstract name (Linux)", () => `\0dt-h2-${randomBytes(6).toString("hex")}`],
  ])("speaks HTTP/2 over %s", async (what, where) => {
    if (what.includes("abstract") && process.platform !== "linux") return;
    const { conn, peer } = await connectUnix(where());
    await peer.handshake();
    const { rec } = call(conn, "over a unix socket");
    expect((await peer.next(is(DATA, 1, END_STREAM))).payload.toString()).toBe("over a unix socket");
    peer.send(headers(1, OK), headers(1, GRPC_OK, END_HEADERS | END_STREAM));
    expect(await rec.closed).toBeUndefined();
  });

  it("speaks TLS over a Unix socket (servername from the TLS options)", async () => {
    const fixture = (name: string) => readFileSync(new URL(`../testdata/${name}`, import.meta.url), "utf8");
    const server = http2.createSecureServer({ key: fixture("localhost.key.pem"), cert: fixture("localhost.cert.pem") });
    server.on("stream", (stream) => {
      stream.respond({ ":status": 200 });
      stream.end("secure");
    });
    const path = join(dir(), "h2-tls.sock");
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const conn = open({ path, tls: { ca: fixture("localhost.cert.pem"), servername: "localhost" } });
    const { rec } = call(conn, "", REQUEST);
    expect(await rec.closed).toBeUndefined();
    expect(rec.body().toString()).toBe("secure");
    conn.destroy(new Error("the test is over"));
  });

  it("times out on a Unix socket whose server never speaks, naming the socket", async () => {
    const path = join(dir(), "silent.sock");
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => sockets.push(socket.on("error", () => {})));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    });
    const { rec } = call(open({ path, connectTimeoutMs: 50 }));
    expect((await rec.closed)?.message).toBe(
      `could not connect to unix:${path}: the server sent no HTTP/2 SETTINGS (is this its gRPC port?) within 50 ms`,
    );
  });

  it("names the socket path when nothing listens there", async () => {
    const path = join(dir(), "missing.sock");
    const { rec } = call(open({ path }));
    expect((await rec.closed)?.message).toBe(`connect ENOENT ${path}`);
  });

  it("names an abstract socket with @ when nothing listens there (Linux)", async () => {
    if (process.platform !== "linux") return;
    const name = `dt-h2-missing-${randomBytes(6).toString("hex")}`;
    const { rec } = call(open({ path: `\0${name}` }));
    expect((await rec.closed)?.message).toBe(`connect ECONNREFUSED @${name}`);
  });
});
