// H2Connection against real HTTP/2 servers (node:http2, plain and TLS): varied headers and bodies both ways, ALPN.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import type * as net from "node:net";
import * as tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { type H2Connection, H2Error } from "./connection.js";
import { encodeHeaders } from "./hpack.js";
import { call, fieldsFor, listen, open, Recorder, runCleanups } from "./testing/peer.js";

afterEach(runCleanups);

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

async function listenHttp2(server: http2.Http2Server | http2.Http2SecureServer): Promise<number> {
  return listen(server as net.Server);
}

async function collect(conn: H2Connection, fields: string[], body: Buffer = Buffer.alloc(0)) {
  const rec = new Recorder();
  conn.request(encodeHeaders(fields), body, rec);
  expect(await rec.closed).toBeUndefined();
  return rec;
}

describe("H2Connection against node:http2", () => {
  it("reads 200 responses with varied headers (indexed, evicted, Huffman-coded) and bodies up to 200 000 bytes", async () => {
    const random = prng(20_240_601);
    const pool = Array.from({ length: 40 }, (_, i) => `v${i}-${"abcdefghij".slice(0, random(10))}`);
    const text = (n: number) =>
      Array.from({ length: n }, () => "abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_.~/+=:;,"[random(52)]).join("");
    const expected = Array.from({ length: 200 }, () => {
      const pairs: string[] = [];
      for (const n of Array.from({ length: 30 }, (_, i) => i).filter(() => random(3) === 0))
        pairs.push(`x-k${n}`, random(2) === 0 ? (pool[random(40)] as string) : text(1 + random(300)));
      return {
        pairs,
        trailers: { "grpc-status": String(random(17)), "x-t": text(random(50)) },
        body: randomBytes(random(200_001)),
      };
    });
    const server = http2.createServer();
    server.on("stream", (stream, reqHeaders) => {
      const i = Number(String(reqHeaders[":path"]).slice(1));
      const { pairs, trailers, body } = expected[i] as (typeof expected)[number];
      const out: http2.OutgoingHttpHeaders = { ":status": 200 };
      for (let j = 0; j < pairs.length; j += 2) out[pairs[j] as string] = pairs[j + 1];
      stream.respond(out, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end(body);
      stream.resume();
    });
    const port = await listenHttp2(server);
    const conn = open({ host: "127.0.0.1", port });
    // 8 at a time: node's maxSessionMemory (10 MB) answers ENHANCE_YOUR_CALM when 200 responses are buffered at once.
    const recs: Recorder[] = [];
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < expected.length; i = next++) recs[i] = await collect(conn, fieldsFor(`/${i}`));
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    for (const [i, rec] of recs.entries()) {
      const want = expected[i] as (typeof expected)[number];
      const first = rec.events[0];
      if (first?.[0] !== "headers") throw new Error(`response ${i} began with ${first?.[0]}`);
      const got = first[1].filter((_, j, all) => all[j - (j % 2)] !== "date"); // node adds a date
      expect(got).toEqual([":status", "200", ...want.pairs]);
      expect(rec.events.at(-2)).toEqual(["headers", Object.entries(want.trailers).flat(), true]);
      expect(rec.body().equals(want.body)).toBe(true);
    }
    expect(conn.usable).toBe(true);
  });

  it("sends 50 concurrent request bodies of 100 000 bytes byte-exact under node's flow control", async () => {
    const received = new Map<string, Buffer[]>();
    const server = http2.createServer();
    server.on("stream", (stream, reqHeaders) => {
      const chunks: Buffer[] = [];
      received.set(String(reqHeaders[":path"]), chunks);
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => stream.respond({ ":status": 200 }, { endStream: true }));
    });
    const port = await listenHttp2(server);
    const conn = open({ host: "127.0.0.1", port });
    const bodies = Array.from({ length: 50 }, () => randomBytes(100_000));
    await Promise.all(bodies.map((body, i) => collect(conn, fieldsFor(`/${i}`), body)));
    for (const [i, body] of bodies.entries())
      expect(Buffer.concat(received.get(`/${i}`) ?? []).equals(body)).toBe(true);
  });
});

describe("H2Connection over TLS", () => {
  const fixture = (name: string) => readFileSync(new URL(`../testdata/${name}`, import.meta.url), "utf8");
  const credentials = () => ({ key: fixture("localhost.key.pem"), cert: fixture("localhost.cert.pem") });

  it("speaks HTTP/2 to a node:http2 secure server (ALPN h2)", async () => {
    const server = http2.createSecureServer(credentials());
    server.on("stream", (stream) => {
      stream.respond({ ":status": 200 });
      stream.end("secure");
    });
    const port = await listenHttp2(server);
    const conn = open({ host: "127.0.0.1", port, tls: { ca: fixture("localhost.cert.pem") } }); // IP SAN
    const rec = await collect(conn, fieldsFor("/", "https"));
    expect(rec.body().toString()).toBe("secure");
  });

  it.each([
    ["no ALPN", {}],
    ["only http/1.1", { ALPNProtocols: ["http/1.1"] }],
  ])("fails the stream with an error naming ALPN h2 when the TLS server negotiates %s", async (_, alpn) => {
    // With ALPNProtocols ["http/1.1"] node's server aborts the handshake with a no_application_protocol alert, so the
    // client never reaches its secureConnect check: the error is ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL.
    const server = tls.createServer({ ...credentials(), ...alpn });
    const port = await listen(server);
    const conn = open({ host: "127.0.0.1", port, tls: { ca: fixture("localhost.cert.pem"), servername: "localhost" } });
    const { rec } = call(conn);
    const error = await rec.closed;
    expect(error).toBeInstanceOf(H2Error);
    expect(error?.message).toMatch(/ALPN h2/);
    expect(rec.closes).toBe(1);
  });
});
