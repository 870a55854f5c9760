// gRFC A8 keepalive on H2Connection, on fake timers: a PING only after `intervalMs` without reading anything, the
// connection dropped when nothing arrives within `timeoutMs` of it, no pinging after GOAWAY "too_many_pings".
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ENHANCE_YOUR_CALM, type H2ConnectionSettings, NO_ERROR } from "./connection.js";
import { memory } from "./testing/memory-socket.js";
import { ACK, data, frame, goaway, headers, OK, PING } from "./testing/peer.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

const KEEPALIVE = { intervalMs: 1000, timeoutMs: 500 };

function setup(keepalive: H2ConnectionSettings["keepalive"] = KEEPALIVE) {
  const m = memory({ keepalive });
  /** The PINGs the client sent (not its answers to the server's). */
  const pings = () => m.sent(PING).filter((f) => (f.flags & ACK) === 0).length;
  return { ...m, pings };
}

describe("keepalive", () => {
  it("pings only after intervalMs without reading anything; each frame read restarts the wait", () => {
    const { call, feed, pings } = setup();
    call();
    vi.advanceTimersByTime(900);
    feed(headers(1, OK)); // read at 900
    vi.advanceTimersByTime(900);
    feed(data(1, "x")); // read at 1800
    vi.advanceTimersByTime(950); // 2750: 950 ms since the last read
    expect(pings()).toBe(0);
    vi.advanceTimersByTime(100); // 2850: more than an interval
    expect(pings()).toBe(1);
  });

  it("drops the connection when nothing arrives within timeoutMs of a PING", () => {
    const { conn, call, pings } = setup();
    const { rec } = call();
    vi.advanceTimersByTime(1000);
    expect(pings()).toBe(1);
    vi.advanceTimersByTime(499);
    expect(rec.closes).toBe(0);
    vi.advanceTimersByTime(1);
    expect(rec.error?.message).toBe("keepalive ping not answered within 500 ms");
    expect(rec.error?.code).toBe(NO_ERROR);
    expect(conn.usable).toBe(false);
  });

  it("takes an answer, or any frame, as proof of life, and pings again an interval later", () => {
    const { sent, call, feed, pings } = setup();
    const { rec } = call();
    vi.advanceTimersByTime(1000);
    const ping = sent(PING)[0];
    feed(frame(PING, ACK, 0, ping?.payload));
    vi.advanceTimersByTime(999);
    expect(pings()).toBe(1);
    vi.advanceTimersByTime(1);
    expect(pings()).toBe(2);
    vi.advanceTimersByTime(200);
    feed(headers(1, OK)); // not an answer, but the connection is alive
    vi.advanceTimersByTime(400);
    expect(rec.closes).toBe(0);
  });

  it("does not ping a connection without streams unless permitWithoutCalls", () => {
    const idle = setup();
    vi.advanceTimersByTime(5000);
    expect(idle.pings()).toBe(0);
    const permitted = setup({ ...KEEPALIVE, permitWithoutCalls: true });
    vi.advanceTimersByTime(1000);
    expect(permitted.pings()).toBe(1);
  });

  it("stops pinging after GOAWAY ENHANCE_YOUR_CALM too_many_pings", () => {
    const { call, feed, pings } = setup();
    const { rec } = call();
    feed(goaway(0x7fffffff, ENHANCE_YOUR_CALM, "too_many_pings"));
    vi.advanceTimersByTime(10_000);
    expect(pings()).toBe(0);
    expect(rec.closes).toBe(0); // its stream may still finish
  });
});
