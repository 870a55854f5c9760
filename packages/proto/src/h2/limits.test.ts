// What a server can make the client hold or do is bounded, and each limit ends the right thing (a stream, or the
// connection) with a clear error. Driven through the in-memory socket, frame by frame, without timers.
import { describe, expect, it } from "vitest";
import {
  COMPRESSION_ERROR,
  ENHANCE_YOUR_CALM,
  FLOW_CONTROL_ERROR,
  type H2Error,
  NO_ERROR,
  PROTOCOL_ERROR,
  REFUSED_STREAM,
} from "./connection.js";
import { encodeHeaders } from "./hpack.js";
import { hpackInteger } from "./testing/fuzz-model.js";
import { memory } from "./testing/memory-socket.js";
import {
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  type Frame,
  frame,
  GOAWAY,
  GRPC_OK,
  goaway,
  HEADERS,
  headers,
  MiB,
  OK,
  PING,
  RST_STREAM,
  SETTINGS,
  settings,
  WINDOW_UPDATE,
  windowUpdate,
  word,
} from "./testing/peer.js";

/** `count` DATA frames of 16 KiB on stream `id`, in one buffer. */
const dataFrames = (id: number, count: number) =>
  Buffer.concat(Array.from({ length: count }, () => frame(DATA, 0, id, Buffer.alloc(16_384, 7))));

/** The GOAWAY code the client sent, if it sent one. */
const goawayCode = (sent: (type: number) => Frame[]) => {
  const frames = sent(GOAWAY);
  return frames.length === 0 ? undefined : word(frames[0] as Frame, 1);
};

describe("receive flow control", () => {
  it("accepts a paused stream's whole window, and resets the stream with FLOW_CONTROL_ERROR one byte past it", () => {
    const { conn, call, feed, sent } = memory();
    const paused = call();
    const other = call();
    paused.stream.pause();
    feed(headers(1, OK), dataFrames(1, 64)); // exactly 1 MiB
    expect(paused.rec.closes).toBe(0);
    expect(paused.rec.body().length).toBe(MiB);
    feed(frame(DATA, 0, 1, Buffer.alloc(1)));
    expect(paused.rec.closes).toBe(1);
    const error = paused.rec.error as H2Error;
    expect(error.code).toBe(FLOW_CONTROL_ERROR);
    expect(error.message).toBe("DATA of 1 bytes beyond the stream's window (0 left)");
    expect(sent(RST_STREAM, 1).map((f) => word(f, 0))).toEqual([FLOW_CONTROL_ERROR]);
    feed(headers(3, OK), headers(3, GRPC_OK, END_HEADERS | END_STREAM));
    expect(other.rec.events.at(-1)).toEqual(["close", undefined]);
    expect(conn.usable).toBe(true);
  });

  it("counts the WINDOW_UPDATEs it sends: after resume() the server may send one more window", () => {
    const { call, feed, sent } = memory();
    const { rec, stream } = call();
    stream.pause();
    feed(headers(1, OK), dataFrames(1, 64));
    stream.resume();
    expect(sent(WINDOW_UPDATE, 1).map((f) => word(f, 0))).toEqual([MiB]);
    feed(dataFrames(1, 64));
    expect(rec.closes).toBe(0);
    expect(rec.body().length).toBe(2 * MiB);
  });

  it("ends the connection with FLOW_CONTROL_ERROR when DATA exceeds the connection window (16 MiB)", () => {
    const { conn, call, feed, sent } = memory();
    const cancelled = call();
    const open = call();
    cancelled.stream.cancel(); // its DATA is dropped, but still counts against the connection window
    feed(dataFrames(1, 1024)); // exactly 16 MiB in one read: allowed
    expect(open.rec.closes).toBe(0);
    feed(dataFrames(1, 1024), frame(DATA, 0, 1, Buffer.alloc(1))); // the client gave back 16 MiB after the first read
    expect(goawayCode(sent)).toBe(FLOW_CONTROL_ERROR);
    const error = open.rec.error as H2Error;
    expect(error.code).toBe(FLOW_CONTROL_ERROR);
    expect(error.message).toBe("DATA of 1 bytes beyond the connection's window (0 left)");
    expect(conn.usable).toBe(false);
  });

  it("ends the connection when INITIAL_WINDOW_SIZE pushes a stream's send window past 2^31-1", () => {
    const { call, feed, sent } = memory({}, true, settings([0x4, 0]));
    const { rec } = call(); // no body: its window stays as the server sets it
    feed(windowUpdate(1, 0x7fffffff), settings([0x4, 1]));
    expect(goawayCode(sent)).toBe(FLOW_CONTROL_ERROR);
    expect((rec.error as H2Error).message).toBe("INITIAL_WINDOW_SIZE overflows a stream's window");
  });
});

describe("control-frame floods", () => {
  it.each([
    ["PING", frame(PING, 0, 0, Buffer.alloc(8))],
    ["SETTINGS", frame(SETTINGS, 0, 0)],
  ])("answers up to 1000 %s frames a server does not read, then ends with ENHANCE_YOUR_CALM", (_, flood) => {
    const { socket, conn, call, feed } = memory({}, false); // the SETTINGS ACK is the first answer
    const { rec } = call();
    for (let round = 0; round < 111; round++) {
      feed(...Array<Buffer>(9).fill(flood)); // a few at a time: they pile up because the server does not read
      conn.flush();
    }
    expect(rec.closes).toBe(0);
    feed(flood);
    const error = rec.error as H2Error;
    expect(error.code).toBe(ENHANCE_YOUR_CALM);
    expect(error.message).toBe(
      "the server sent more than 1000 PING / SETTINGS frames without reading our answers (a flood)",
    );
    expect(socket.writableLength).toBeLessThan(1000 * 17 + 1024); // answers, the request, the preface, GOAWAY
    feed(...Array<Buffer>(10_000).fill(flood)); // ignored: the connection is gone
    expect(socket.writableLength).toBeLessThan(1000 * 17 + 1024);
  });

  it("answers any number of PINGs from a server that reads the answers", () => {
    const { conn, call, feed, sent } = memory();
    const { rec } = call();
    for (let round = 0; round < 30; round++) {
      feed(...Array<Buffer>(100).fill(frame(PING, 0, 0, Buffer.alloc(8))));
      conn.flush(); // the socket takes them at once
    }
    expect(rec.closes).toBe(0);
    expect(sent(PING)).toHaveLength(3000);
  });

  it("ends the connection after 10 000 frames in a row that carry nothing; data in between resets the count", () => {
    const { call, feed, sent } = memory();
    const { rec } = call();
    const empty = frame(DATA, 0, 1);
    feed(headers(1, OK));
    feed(
      ...Array<Buffer>(10_000).fill(empty),
      frame(DATA, 0, 1, Buffer.from("x")),
      ...Array<Buffer>(10_000).fill(empty),
    );
    expect(rec.closes).toBe(0);
    feed(empty);
    expect(goawayCode(sent)).toBe(ENHANCE_YOUR_CALM);
    expect((rec.error as H2Error).message).toBe("the server sent 10000 frames in a row that carry nothing");
  });

  it("ends a header block of more than 256 frames (endless empty CONTINUATION) with ENHANCE_YOUR_CALM", () => {
    const { call, feed, sent } = memory();
    const { rec } = call();
    feed(frame(HEADERS, 0, 1, encodeHeaders(OK)), ...Array<Buffer>(255).fill(frame(CONTINUATION, 0, 1)));
    expect(rec.closes).toBe(0);
    feed(frame(CONTINUATION, 0, 1));
    expect(goawayCode(sent)).toBe(ENHANCE_YOUR_CALM);
    expect((rec.error as H2Error).message).toBe("a header block in more than 256 frames");
  });

  it("ends a header block larger than 1 MiB with PROTOCOL_ERROR", () => {
    const { call, feed, sent } = memory();
    const { rec } = call();
    const part = frame(CONTINUATION, 0, 1, Buffer.alloc(16_384, 0x82));
    feed(frame(HEADERS, 0, 1, Buffer.alloc(1, 0x82)), ...Array<Buffer>(64).fill(part));
    expect(goawayCode(sent)).toBe(PROTOCOL_ERROR);
    expect((rec.error as H2Error).message).toBe("a header block exceeds 1 MiB");
  });
});

describe("header lists", () => {
  /** One 3 900-byte table entry, then `refs` references to it: ~4 KB decoded per byte sent. */
  const bomb = (refs: number) =>
    Buffer.concat([
      Buffer.from([0x40, 6]),
      Buffer.from("x-bomb"),
      hpackInteger(0, 7, 3_900),
      Buffer.alloc(3_900, 0x61),
      Buffer.alloc(refs, 0x80 | 62),
    ]);

  it("resets a stream whose decoded header list exceeds 256 KiB; the table stays in step for the others", () => {
    const { conn, call, feed, sent } = memory();
    const bombed = call();
    const other = call();
    feed(frame(HEADERS, END_HEADERS, 1, bomb(10_000))); // ~39 MB decoded from 14 KB
    const error = bombed.rec.error as H2Error;
    expect(error.code).toBe(PROTOCOL_ERROR);
    expect(error.message).toBe(
      "the server sent a header list larger than 262144 bytes (SETTINGS_MAX_HEADER_LIST_SIZE, decoded, 32 bytes a field)",
    );
    expect(bombed.rec.events.map((e) => e[0])).toEqual(["close"]); // nothing of it was delivered
    expect(sent(RST_STREAM, 1).map((f) => word(f, 0))).toEqual([PROTOCOL_ERROR]);
    feed(frame(HEADERS, END_HEADERS | END_STREAM, 3, Buffer.from([0x88, 0x80 | 62]))); // :status 200, entry 62
    expect(other.rec.events[0]).toEqual(["headers", [":status", "200", "x-bomb", "a".repeat(3_900)], true]);
    expect(conn.usable).toBe(true);
  });

  it("accepts a list just under the limit", () => {
    const { call, feed } = memory();
    const { rec } = call();
    feed(frame(HEADERS, END_HEADERS | END_STREAM, 1, bomb(62))); // 63 fields of 3 938 bytes: 248 094
    expect(rec.events.at(-1)).toEqual(["close", undefined]);
  });

  it("ends the connection with COMPRESSION_ERROR on a table size update above the 4096 we allow", () => {
    const { call, feed, sent } = memory();
    const { rec } = call();
    feed(frame(HEADERS, END_HEADERS, 1, Buffer.concat([hpackInteger(0x20, 5, 4097), Buffer.from([0x88])])));
    expect(goawayCode(sent)).toBe(COMPRESSION_ERROR);
    expect((rec.error as H2Error).message).toBe(
      "bad header block: dynamic table size 4097 exceeds SETTINGS_HEADER_TABLE_SIZE 4096",
    );
  });
});

describe("frames out of place", () => {
  it.each([
    ["DATA", frame(DATA, 0, 5, Buffer.from("x")), "DATA on stream 5, which we never opened"],
    ["HEADERS", headers(2, OK), "HEADERS on stream 2, which we never opened"],
    ["RST_STREAM", frame(RST_STREAM, 0, 7, Buffer.alloc(4)), "RST_STREAM on stream 7, which we never opened"],
    ["WINDOW_UPDATE", windowUpdate(9, 1), "WINDOW_UPDATE on stream 9, which we never opened"],
  ])("ends the connection on %s for a stream never opened", (_, bad, message) => {
    const { call, feed, sent } = memory();
    const { rec } = call(); // stream 1
    call(); // stream 3
    feed(bad);
    expect(goawayCode(sent)).toBe(PROTOCOL_ERROR);
    expect((rec.error as H2Error).message).toBe(message);
  });

  it("resets a stream whose DATA comes before its response HEADERS (malformed), and no other", () => {
    const { conn, call, feed, sent } = memory();
    const { rec } = call();
    feed(frame(DATA, 0, 1, Buffer.from("too early")));
    expect(rec.events.map((e) => e[0])).toEqual(["close"]);
    expect(rec.error?.message).toBe("DATA before the response's HEADERS");
    expect(sent(RST_STREAM, 1).map((f) => word(f, 0))).toEqual([PROTOCOL_ERROR]);
    expect(conn.usable).toBe(true);
  });

  it("reads a frame that arrives a byte at a time", () => {
    const { socket, call } = memory();
    const { rec } = call();
    const bytes = Buffer.concat([headers(1, OK), frame(DATA, END_STREAM, 1, Buffer.alloc(16_384, 3))]);
    for (let i = 0; i < bytes.length; i++) socket.feed(bytes.subarray(i, i + 1));
    expect(rec.body()).toEqual(Buffer.alloc(16_384, 3));
    expect(rec.events.at(-1)).toEqual(["close", undefined]);
  });
});

describe("GOAWAY", () => {
  it("names the server's reason in the errors: refused streams and those the closing socket ends", () => {
    const onGoaway: [number, string][] = [];
    const { socket, conn, call, feed } = memory({ onGoaway: (code, debug) => onGoaway.push([code, debug]) });
    const processed = call();
    const unprocessed = call();
    feed(goaway(1, ENHANCE_YOUR_CALM, "too_many_pings"));
    expect(onGoaway).toEqual([[ENHANCE_YOUR_CALM, "too_many_pings"]]);
    expect(conn.tooManyPings).toBe(true);
    expect(conn.goaway).toEqual({ code: ENHANCE_YOUR_CALM, debug: "too_many_pings", lastStreamId: 1 });
    const refused = unprocessed.rec.error as H2Error;
    expect(refused.refused).toBe(true);
    expect(refused.message).toBe(
      "the server is going away (ENHANCE_YOUR_CALM: too_many_pings; the server allows fewer keepalive pings)",
    );
    socket.destroy();
    return processed.rec.closed.then((error) => {
      expect(error?.message).toBe(
        "the connection closed after the server's GOAWAY " +
          "(ENHANCE_YOUR_CALM: too_many_pings; the server allows fewer keepalive pings)",
      );
      expect(error?.code).toBe(ENHANCE_YOUR_CALM);
      expect(error?.refused).toBe(false);
      expect(error?.tooManyPings).toBe(true);
      expect(error?.goaway?.lastStreamId).toBe(1);
    });
  });

  it("lets a second GOAWAY lower the last stream id but never raise it", () => {
    const { conn, call, feed } = memory();
    const first = call();
    const second = call();
    const third = call();
    feed(goaway(0x7fffffff, NO_ERROR), goaway(3, NO_ERROR), goaway(5, NO_ERROR));
    expect(conn.goaway?.lastStreamId).toBe(3);
    expect((third.rec.error as H2Error).code).toBe(REFUSED_STREAM);
    expect(first.rec.closes + second.rec.closes).toBe(0);
  });

  it("refuses the streams it had queued when it is destroyed (never sent: safe to resend)", () => {
    const { conn, call } = memory({}, true, settings([0x3, 1]));
    const sentOne = call();
    const queued = call();
    conn.destroy(new Error("gone"));
    expect((sentOne.rec.error as H2Error).refused).toBe(false);
    expect((queued.rec.error as H2Error).refused).toBe(true);
    expect((queued.rec.error as H2Error).message).toBe("gone");
  });
});

describe("stream ids", () => {
  it("closes a connection whose stream ids ran out once its streams are done", async () => {
    const { socket, conn, call, feed, sent } = memory({ firstStreamId: 0x7ffffffd });
    const a = call();
    const b = call();
    expect(conn.usable).toBe(false);
    const late = call();
    expect((await late.rec.closed)?.message).toBe("the connection has used all its stream ids");
    expect((await late.rec.closed)?.refused).toBe(true);
    feed(headers(0x7ffffffd, [":status", "200"], END_HEADERS | END_STREAM));
    expect(sent(GOAWAY)).toHaveLength(0);
    feed(headers(0x7fffffff, [":status", "200"], END_HEADERS | END_STREAM));
    expect([await a.rec.closed, await b.rec.closed]).toEqual([undefined, undefined]);
    expect(sent(GOAWAY).map((f) => word(f, 1))).toEqual([NO_ERROR]);
    expect(socket.writableEnded).toBe(true);
  });

  it("refuses streams queued behind MAX_CONCURRENT_STREAMS once the last id is taken", () => {
    const { call, feed } = memory({ firstStreamId: 0x7ffffffd }, true, settings([0x3, 1]));
    call();
    const last = call(); // queued, then opened with the last id
    const queued = call(); // queued, and no id is left for it
    feed(headers(0x7ffffffd, [":status", "200"], END_HEADERS | END_STREAM));
    expect(last.rec.closes).toBe(0);
    const error = queued.rec.error as H2Error;
    expect([error.refused, error.message]).toEqual([true, "the connection has used all its stream ids"]);
  });

  it("rejects an even or out-of-range first stream id", () => {
    for (const firstStreamId of [0, 2, 0x80000001]) expect(() => memory({ firstStreamId })).toThrow(RangeError);
  });
});

describe("idleTimeoutMs", () => {
  it("closes a connection without streams gracefully once it has been idle that long", async () => {
    const { socket, conn, call, feed, sent } = memory({ idleTimeoutMs: 20 });
    const { rec } = call();
    await new Promise((resolve) => setTimeout(resolve, 60)); // busy: the timer must not close it
    expect(conn.usable).toBe(true);
    feed(headers(1, [":status", "200"], END_HEADERS | END_STREAM));
    expect(await rec.closed).toBeUndefined();
    await new Promise((resolve) => socket.once("finish", resolve));
    expect(conn.usable).toBe(false);
    expect(sent(GOAWAY).map((f) => word(f, 1))).toEqual([NO_ERROR]);
  });
});
