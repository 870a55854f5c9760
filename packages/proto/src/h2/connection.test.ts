import { randomBytes } from "node:crypto";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { CANCEL, COMPRESSION_ERROR, FRAME_SIZE_ERROR, H2Error, PROTOCOL_ERROR, REFUSED_STREAM } from "./connection.js";
import { encodeHeaders, HpackDecoder } from "./hpack.js";
import {
  ACK,
  CONTINUATION,
  call,
  connect,
  DATA,
  data,
  END_HEADERS,
  END_STREAM,
  type Frame,
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
  PADDED,
  PING,
  PRIORITY,
  PRIORITY_FLAG,
  PUSH_PROMISE,
  REQUEST,
  RST_STREAM,
  rstStream,
  runCleanups,
  SETTINGS,
  settings,
  turns,
  u32s,
  WINDOW_UPDATE,
  windowUpdate,
  word,
} from "./testing/peer.js";

afterEach(runCleanups);

describe("H2Connection against a scripted server", () => {
  it("sends the preface, SETTINGS and WINDOW_UPDATE, then the request; delivers the response in order", async () => {
    const { conn, peer } = await connect();
    const { rec } = call(conn, "hello");
    const first = await peer.next(() => true);
    expect(peer.preface.toString("latin1")).toBe("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    expect(first).toMatchObject({ type: SETTINGS, flags: 0, id: 0 });
    const pairs = new Map<number, number>();
    for (let i = 0; i < first.payload.length; i += 6)
      pairs.set(first.payload.readUInt16BE(i), first.payload.readUInt32BE(i + 2));
    expect(pairs).toEqual(
      new Map([
        [2, 0],
        [4, MiB],
        [6, 256 * 1024],
      ]),
    ); // ENABLE_PUSH=0, INITIAL_WINDOW_SIZE=1 MiB, MAX_HEADER_LIST_SIZE=256 KiB
    const update = await peer.next(() => true);
    expect(update).toMatchObject({ type: WINDOW_UPDATE, id: 0 });
    expect(word(update, 0)).toBe((1 << 24) - 65_535);
    const request = await peer.next(() => true);
    expect(request).toMatchObject({ type: HEADERS, id: 1, flags: END_HEADERS });
    expect(new HpackDecoder().decode(request.payload)).toEqual(REQUEST);
    const body = await peer.next(() => true);
    expect(body).toMatchObject({ type: DATA, id: 1, flags: END_STREAM, payload: Buffer.from("hello") });

    peer.send(settings(), headers(1, OK), data(1, "wor"), data(1, "ld"), headers(1, GRPC_OK, END_HEADERS | END_STREAM));
    expect(await rec.closed).toBeUndefined();
    await peer.next(is(SETTINGS, 0, ACK));
    expect(rec.events).toEqual([
      ["headers", OK, false],
      ["data", Buffer.from("wor")],
      ["data", Buffer.from("ld")],
      ["headers", GRPC_OK, true],
      ["close", undefined],
    ]);
    await peer.sync();
    expect(rec.closes).toBe(1);
  });

  it("delivers a trailers-only response (HEADERS with END_STREAM)", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const { rec } = call(conn);
    expect(await peer.next(is(HEADERS, 1))).toMatchObject({ flags: END_HEADERS | END_STREAM }); // empty body
    const fields = [":status", "200", "grpc-status", "5", "grpc-message", "not found"];
    peer.send(headers(1, fields, END_HEADERS | END_STREAM));
    expect(await rec.closed).toBeUndefined();
    expect(rec.events).toEqual([
      ["headers", fields, true],
      ["close", undefined],
    ]);
  });

  it("sends no more than the stream window and the rest after stream WINDOW_UPDATEs", async () => {
    const { conn, peer } = await connect();
    await peer.handshake([0x4, 100]);
    const body = randomBytes(1000);
    const { rec } = call(conn, body);
    await peer.next(is(HEADERS, 1));
    await peer.sync();
    expect(peer.sizes(1)).toEqual(["100"]);
    peer.send(windowUpdate(1, 400));
    await peer.sync();
    expect(peer.sizes(1)).toEqual(["100", "400"]);
    peer.send(windowUpdate(1, 10_000));
    await peer.next(is(DATA, 1, END_STREAM));
    expect(peer.sizes(1)).toEqual(["100", "400", "500$"]);
    expect(peer.body(1)).toEqual(body);
    peer.send(headers(1, [":status", "200"], END_HEADERS | END_STREAM));
    expect(await rec.closed).toBeUndefined();
  });

  it("waits for a connection WINDOW_UPDATE past 65 535 bytes and sends frames of at most 16 384", async () => {
    const { conn, peer } = await connect();
    await peer.handshake([0x4, 4 * MiB]);
    const small = randomBytes(40_000);
    call(conn, small);
    await peer.next(is(DATA, 1, END_STREAM));
    expect(peer.sizes(1)).toEqual(["16384", "16384", "7232$"]);
    expect(peer.body(1)).toEqual(small);

    const large = randomBytes(100_000); // 25 535 bytes of connection window are left
    call(conn, large);
    await peer.next(is(HEADERS, 3));
    await peer.sync();
    expect(peer.body(3).length).toBe(65_535 - 40_000);
    expect(peer.count(is(DATA, 3, END_STREAM))).toBe(0);
    peer.send(windowUpdate(0, 40_000));
    await peer.sync();
    expect(peer.body(3).length).toBe(65_535);
    peer.send(windowUpdate(0, 100_000));
    await peer.next(is(DATA, 3, END_STREAM));
    expect(peer.body(3)).toEqual(large);
    expect(Math.max(...peer.frames.filter(is(DATA)).map((f) => f.payload.length))).toBe(16_384);
    expect(peer.frames.filter(is(DATA, 3, END_STREAM))).toHaveLength(1);
  });

  it("applies an INITIAL_WINDOW_SIZE change to open streams (up and down)", async () => {
    const { conn, peer } = await connect();
    await peer.handshake([0x4, 100]);
    const body = randomBytes(1000);
    call(conn, body);
    await peer.next(is(HEADERS, 1));
    await peer.sync();
    expect(peer.body(1).length).toBe(100);
    peer.send(settings([0x4, 600])); // +500
    await peer.sync();
    expect(peer.body(1).length).toBe(600);
    peer.send(settings([0x4, 50]), windowUpdate(1, 500)); // -550: the window is -550 + 500 = -50
    await peer.sync();
    expect(peer.body(1).length).toBe(600);
    peer.send(windowUpdate(1, 450)); // 400
    await peer.next(is(DATA, 1, END_STREAM));
    expect(peer.sizes(1)).toEqual(["100", "500", "400$"]);
    expect(peer.body(1)).toEqual(body);
  });

  it("replenishes no window of a paused stream, but the connection's and other streams' still", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const paused = call(conn);
    const other = call(conn);
    paused.stream.pause();
    peer.send(headers(1, OK), headers(3, OK));
    for (let sent = 0; sent < MiB; sent += 16_384) peer.send(data(1, Buffer.alloc(16_384, 1))); // its whole window
    await peer.sync();
    expect(paused.rec.body().length).toBe(MiB); // delivered, only not acknowledged
    expect(peer.count(is(WINDOW_UPDATE, 1))).toBe(0);

    // 8 MiB on stream 3, within the windows the client grants: the connection window (16 MiB) is refilled too.
    let window = MiB;
    let from = 0;
    for (let sent = 0; sent < 8 * MiB; ) {
      while (window === 0) {
        from = (await peer.find(is(WINDOW_UPDATE, 3), from)) + 1;
        window += word(peer.frames[from - 1] as Frame, 0);
      }
      const n = Math.min(16_384, window, 8 * MiB - sent);
      peer.send(data(3, Buffer.alloc(n, 3)));
      sent += n;
      window -= n;
    }
    await peer.sync();
    expect(other.rec.body().length).toBe(8 * MiB);
    const refills = peer.frames.filter(is(WINDOW_UPDATE, 0)).slice(1);
    expect(refills.map((f) => word(f, 0)).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(8 * MiB);
    expect(peer.count(is(WINDOW_UPDATE, 1))).toBe(0);

    paused.stream.resume();
    expect(word(await peer.next(is(WINDOW_UPDATE, 1)), 0)).toBe(MiB);
    peer.send(headers(1, GRPC_OK, END_HEADERS | END_STREAM), headers(3, GRPC_OK, END_HEADERS | END_STREAM));
    expect(await paused.rec.closed).toBeUndefined();
    expect(await other.rec.closed).toBeUndefined();
  });

  it("joins a header block split across HEADERS and CONTINUATION frames", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const { rec } = call(conn);
    const fields = [...OK, "x-long", "v".repeat(300), "x-other", "w"];
    const block = encodeHeaders(fields);
    const trailers = encodeHeaders(GRPC_OK);
    peer.send(
      frame(HEADERS, 0, 1, block.subarray(0, 10)),
      frame(CONTINUATION, 0, 1, block.subarray(10, 200)),
      frame(CONTINUATION, END_HEADERS, 1, block.subarray(200)),
      data(1, "x"),
      frame(HEADERS, END_STREAM, 1, trailers.subarray(0, 3)),
      frame(CONTINUATION, END_HEADERS, 1, trailers.subarray(3)),
    );
    expect(await rec.closed).toBeUndefined();
    expect(rec.events).toEqual([
      ["headers", fields, false],
      ["data", Buffer.from("x")],
      ["headers", GRPC_OK, true],
      ["close", undefined],
    ]);
  });

  it.each([
    ["a PING", frame(PING, 0, 0, Buffer.alloc(8))],
    ["DATA", data(1, "x")],
    ["a CONTINUATION of another stream", frame(CONTINUATION, END_HEADERS, 3, encodeHeaders(OK))],
  ])("ends the connection with PROTOCOL_ERROR when %s interrupts a header block", async (_, interruption) => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const { rec } = call(conn);
    call(conn); // stream 3
    peer.send(frame(HEADERS, 0, 1, encodeHeaders(OK).subarray(0, 2)), interruption);
    expect(word(await peer.next(is(GOAWAY)), 1)).toBe(PROTOCOL_ERROR);
    const error = await rec.closed;
    expect(error).toBeInstanceOf(H2Error);
    expect(error?.code).toBe(PROTOCOL_ERROR);
    expect(conn.usable).toBe(false);
  });

  it("strips padding from HEADERS and DATA, skips the priority fields, ignores PRIORITY frames", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const { rec } = call(conn);
    const block = encodeHeaders(OK);
    const priority = Buffer.from([0x80, 0, 0, 3, 200]); // exclusive, depends on 3, weight 200
    peer.send(
      frame(PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])),
      frame(
        HEADERS,
        END_HEADERS | PADDED | PRIORITY_FLAG,
        1,
        Buffer.concat([Buffer.from([7]), priority, block, Buffer.alloc(7, 0xee)]),
      ),
      frame(DATA, PADDED, 1, Buffer.concat([Buffer.from([3]), Buffer.from("abc"), Buffer.alloc(3, 0xee)])),
      frame(DATA, PADDED, 1, Buffer.from([2, 0xee, 0xee])), // padding only
      frame(
        HEADERS,
        END_HEADERS | END_STREAM | PADDED,
        1,
        Buffer.concat([Buffer.from([1]), encodeHeaders(GRPC_OK), Buffer.alloc(1)]),
      ),
    );
    expect(await rec.closed).toBeUndefined();
    expect(rec.events).toEqual([
      ["headers", OK, false],
      ["data", Buffer.from("abc")],
      ["headers", GRPC_OK, true],
      ["close", undefined],
    ]);
  });

  it("answers a PING with a PING ACK carrying the same 8 bytes", async () => {
    const { peer } = await connect();
    await peer.handshake();
    const payload = Buffer.from("dt-ping!");
    peer.send(frame(PING, 0, 0, payload));
    expect((await peer.next(is(PING, 0, ACK))).payload).toEqual(payload);
  });

  it("drops the connection when a keepalive PING is not answered", async () => {
    const { conn, peer } = await connect({ keepalive: { intervalMs: 50, timeoutMs: 50 } });
    await peer.handshake();
    const { rec } = call(conn);
    expect((await peer.next(is(PING, 0))).payload).toEqual(Buffer.alloc(8)); // never acknowledged
    const error = await rec.closed;
    expect(error).toBeInstanceOf(H2Error);
    expect(error?.message).toBe("keepalive ping not answered within 50 ms");
    expect(conn.usable).toBe(false);
  });

  it("keeps the connection while keepalive PINGs are answered", async () => {
    const { conn, peer } = await connect({ keepalive: { intervalMs: 50, timeoutMs: 100 } });
    await peer.handshake();
    const { rec } = call(conn);
    for (let i = 0; i < 4; i++) {
      const ping = await peer.next((f) => is(PING, 0)(f) && f.flags === 0);
      peer.send(frame(PING, ACK, 0, ping.payload));
    }
    expect(rec.closes).toBe(0);
    expect(conn.usable).toBe(true);
    peer.send(headers(1, [":status", "200"], END_HEADERS | END_STREAM));
    expect(await rec.closed).toBeUndefined();
  });

  it("on GOAWAY refuses the streams past its last id, finishes the others, then ends the socket", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const first = call(conn);
    const second = call(conn);
    await peer.next(is(HEADERS, 3));
    peer.send(goaway(1, 0));
    const error = await second.rec.closed;
    expect(error).toBeInstanceOf(H2Error);
    expect(error?.refused).toBe(true);
    expect(conn.usable).toBe(false);
    const late = call(conn);
    expect((await late.rec.closed)?.refused).toBe(true);
    await peer.sync();
    expect(first.rec.closes).toBe(0);
    expect(peer.ended).toBe(false);
    expect(peer.count(is(HEADERS))).toBe(2); // nothing sent for the late request

    peer.send(headers(1, [":status", "200"], END_HEADERS | END_STREAM));
    expect(await first.rec.closed).toBeUndefined();
    await peer.whenEnded();
    expect(word(await peer.next(is(GOAWAY)), 1)).toBe(0);
  });

  it.each([
    [2, false],
    [REFUSED_STREAM, true],
    [CANCEL, false],
  ])("closes a stream reset by the server with code %i (refused: %s)", async (code, refused) => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const { rec } = call(conn);
    const other = call(conn);
    peer.send(headers(1, OK), rstStream(1, code));
    const error = await rec.closed;
    expect(error).toBeInstanceOf(H2Error);
    expect(error?.code).toBe(code);
    expect(error?.refused).toBe(refused);
    expect(rec.events.map((e) => e[0])).toEqual(["headers", "close"]);
    expect(other.rec.closes).toBe(0);
    expect(conn.usable).toBe(true);
  });

  it("cancel() sends RST_STREAM CANCEL once and ignores the stream's later frames", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const { rec, stream } = call(conn);
    peer.send(headers(1, OK));
    await peer.sync();
    stream.cancel();
    stream.cancel();
    expect(rec.closes).toBe(1);
    expect((await rec.closed)?.code).toBe(CANCEL);
    expect(word(await peer.next(is(RST_STREAM, 1)), 0)).toBe(CANCEL);

    // The server had not seen the reset: 8 MiB of DATA, and a header block that adds "x-seen: yes" to HPACK's table.
    for (let sent = 0; sent < 8 * MiB; sent += 16_384) peer.send(data(1, Buffer.alloc(16_384)));
    const indexed = Buffer.from([0x40, 6, ...Buffer.from("x-seen"), 3, ...Buffer.from("yes")]);
    peer.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, indexed));
    await peer.sync();
    expect(rec.events.map((e) => e[0])).toEqual(["headers", "close"]);
    expect(peer.count(is(RST_STREAM))).toBe(1);
    const refills = peer.frames.filter(is(WINDOW_UPDATE, 0)).slice(1);
    expect(refills.map((f) => word(f, 0)).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(8 * MiB);

    const next = call(conn);
    peer.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, Buffer.from([0x88, 0xbe]))); // :status 200, table entry 62
    await next.rec.closed;
    expect(next.rec.events[0]).toEqual(["headers", [":status", "200", "x-seen", "yes"], true]);
  });

  it("queues requests beyond MAX_CONCURRENT_STREAMS until a stream closes", async () => {
    const { conn, peer } = await connect();
    await peer.handshake([0x3, 1]);
    const first = call(conn);
    const second = call(conn, "queued body");
    const third = call(conn);
    third.stream.cancel(); // cancelled while queued: closed, never sent
    expect((await third.rec.closed)?.code).toBe(CANCEL);
    await peer.sync();
    expect(peer.frames.filter(is(HEADERS)).map((f) => f.id)).toEqual([1]);
    peer.send(headers(1, [":status", "200"], END_HEADERS | END_STREAM));
    expect(await first.rec.closed).toBeUndefined();
    await peer.next(is(HEADERS, 3));
    await peer.next(is(DATA, 3, END_STREAM));
    expect(peer.body(3).toString()).toBe("queued body");
    await peer.sync();
    expect(peer.frames.filter(is(HEADERS)).map((f) => f.id)).toEqual([1, 3]);
    expect(second.rec.closes).toBe(0);
    expect(peer.count(is(RST_STREAM))).toBe(0);
  });

  it("starts the next header block with a table size update to 0 after HEADER_TABLE_SIZE=0", async () => {
    const { conn, peer } = await connect();
    await peer.handshake([0x1, 0]);
    call(conn);
    call(conn);
    const first = (await peer.next(is(HEADERS, 1))).payload;
    const second = (await peer.next(is(HEADERS, 3))).payload;
    expect(first[0]).toBe(0x20);
    expect(first.subarray(1)).toEqual(encodeHeaders(REQUEST));
    expect(new HpackDecoder().decode(first)).toEqual(REQUEST);
    expect(second).toEqual(encodeHeaders(REQUEST)); // said once
  });

  const pushPromise = frame(PUSH_PROMISE, END_HEADERS, 1, Buffer.concat([u32s(2), encodeHeaders(REQUEST)]));
  /** What the server sends, whether after its SETTINGS, and the GOAWAY code the client must answer with. */
  const malformed: [string, boolean, Buffer, number][] = [
    ["a frame larger than 16 384 bytes", true, data(1, Buffer.alloc(16_385)), FRAME_SIZE_ERROR],
    ["a first frame other than SETTINGS", false, frame(PING, 0, 0, Buffer.alloc(8)), PROTOCOL_ERROR],
    ["PUSH_PROMISE", true, pushPromise, PROTOCOL_ERROR],
    ["a bad HPACK block", true, frame(HEADERS, END_HEADERS, 1, Buffer.from([0x80])), COMPRESSION_ERROR],
    ["SETTINGS of 5 bytes", false, frame(SETTINGS, 0, 0, Buffer.alloc(5)), FRAME_SIZE_ERROR],
    ["DATA padding longer than the frame", true, frame(DATA, PADDED, 1, Buffer.from([3, 0, 0])), PROTOCOL_ERROR],
    ["a malformed PING", true, frame(PING, 0, 0, Buffer.alloc(7)), FRAME_SIZE_ERROR],
  ];
  it.each(malformed)("ends the connection on %s with the right GOAWAY code", async (_, handshake, bad, code) => {
    const { conn, peer } = await connect();
    if (handshake) await peer.handshake();
    const { rec } = call(conn);
    const other = call(conn);
    await peer.next(is(HEADERS, 3));
    peer.send(bad);
    expect(word(await peer.next(is(GOAWAY)), 1)).toBe(code);
    for (const r of [rec, other.rec]) {
      const error = await r.closed;
      expect(error).toBeInstanceOf(H2Error);
      expect(error?.code).toBe(code);
    }
    expect(conn.usable).toBe(false);
  });

  it("ends the connection with PROTOCOL_ERROR when a handler throws", async () => {
    const { conn, peer } = await connect();
    await peer.handshake();
    const { rec } = call(conn);
    rec.onData = () => {
      throw new Error("handler bug");
    };
    peer.send(headers(1, OK), data(1, "x"));
    expect(word(await peer.next(is(GOAWAY)), 1)).toBe(PROTOCOL_ERROR);
    expect((await rec.closed)?.message).toMatch(/handler bug/);
  });

  it("names an HTTP/1.1 answer (a wrong port) instead of reading it as frames", async () => {
    const { conn, peer } = await connect();
    const { rec } = call(conn);
    peer.socket.write("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    const error = await rec.closed;
    expect(error?.code).toBe(PROTOCOL_ERROR);
    expect(error?.message).toBe(
      'the server answered in HTTP/1.x ("HTTP/1.1 400 Bad Request"), not HTTP/2: is this the sidecar\'s gRPC port?',
    );
  });

  it("closes the stream once when nothing listens", async () => {
    const server = net.createServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const conn = open({ host: "127.0.0.1", port });
    const { rec } = call(conn);
    const error = await rec.closed;
    expect(error).toBeInstanceOf(H2Error);
    expect((error?.cause as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNREFUSED");
    await turns(3);
    expect(rec.closes).toBe(1);
    expect(conn.usable).toBe(false);
  });
});
