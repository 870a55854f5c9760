// The harness of the HTTP/2 client's fuzz tests: runs one case (a server's bytes and the caller's actions) against an
// H2Connection over an in-memory socket, and checks what must hold whatever the server sent. Not part of the package.
import fc from "fast-check";
import { H2Connection, H2Error, type H2Stream, type StreamHandler } from "../connection.js";
import { encodeHeaders } from "../hpack.js";
import type { Op } from "./fuzz-model.js";
import { MemorySocket } from "./memory-socket.js";
import { DATA, type Frame, GOAWAY, HEADERS, REQUEST, RST_STREAM, SETTINGS, settings, WINDOW_UPDATE } from "./peer.js";

/** Cases in all, over every fuzz test: DT_FUZZ_RUNS, default 100 000. */
const TOTAL_RUNS = Number(process.env["DT_FUZZ_RUNS"] ?? 100_000);
export const runs = (share: number) => Math.max(1, Math.round(TOTAL_RUNS * share));
/** Wall time allowed per test: generous, so only a hang fails it. */
export const timeout = (share: number) => 60_000 + runs(share) * 5;

export const STREAM_WINDOW = 1 << 20;
export const MAX_HEADER_LIST = 256 << 10;
const MAX_PENDING_ACKS = 1000;
export const REQUEST_BLOCK = encodeHeaders(REQUEST);
export const BODIES = [Buffer.alloc(0), Buffer.alloc(10, 1), Buffer.alloc(70_000, 2)];

/** A handler that checks the contract as it goes: nothing after onClose, onClose once. */
export class Probe implements StreamHandler {
  closes = 0;
  late = false;
  error: H2Error | undefined;
  received = 0;
  /** Paused since it was opened and never resumed: the server may send it one window at most. */
  pausedThroughout = false;
  largestList = 0;
  blocks = 0;
  stream: H2Stream | undefined;

  onHeaders(fields: string[]): void {
    if (this.closes > 0) this.late = true;
    this.blocks++;
    let size = 0;
    for (const value of fields) size += value.length + 16;
    this.largestList = Math.max(this.largestList, size);
  }
  onData(bytes: Buffer): void {
    if (this.closes > 0 || this.blocks === 0) this.late = true; // after the end, or before any headers
    this.received += bytes.length;
  }
  onClose(error: H2Error | undefined): void {
    this.closes++;
    this.error = error;
  }
}

export function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

/** A clear error: typed, with an HTTP/2 code and a sentence that does not leak "undefined" or "[object". */
export function checkError(error: unknown): void {
  check(error instanceof H2Error, `not an H2Error: ${String(error)}`);
  const { code, message } = error as H2Error;
  check(Number.isInteger(code) && code >= 0, `bad code ${code}`);
  check(message.length >= 12 && !/undefined|NaN|\[object/.test(message), `unclear message "${message}"`);
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
let cases = 0;
/** The error messages streams were closed with. */
export const seen = new Set<string>();
/** Classes of fault the random cases must reach. */
export const FAULTS = [
  /beyond the stream's window/,
  /beyond the connection's window/,
  /header list larger than/,
  /without reading our answers/,
  /frames in a row that carry nothing/,
  /^bad header block: /,
  /which we never opened/,
  /going away \(ENHANCE_YOUR_CALM: too_many_pings/,
  /after the server's GOAWAY/,
  /a frame of \d+ bytes exceeds/,
  /header block was interrupted/,
];

export interface Case {
  readonly reads: boolean;
  readonly preface: Buffer;
  readonly requests: readonly number[];
  readonly ops: readonly Op[];
  readonly cuts: readonly number[];
}

/** Runs one case: opens the requests, feeds the ops, hangs up, then checks every stream and the bounds. */
export async function run(c: Case): Promise<void> {
  const socket = new MemorySocket(c.reads);
  const conn = new H2Connection({ host: "fuzz.invalid", port: 1, socket, connectTimeoutMs: 0 });
  const probes: Probe[] = [];
  let requested = 0;
  const request = (body: number) => {
    const probe = new Probe();
    const bytes = BODIES[body % BODIES.length] as Buffer;
    requested += REQUEST_BLOCK.length + bytes.length + 64;
    probe.stream = conn.request(REQUEST_BLOCK, bytes, probe);
    probes.push(probe);
  };
  for (const body of c.requests) request(body);
  /** The connection is closed (or closes once idle): nothing more it reads matters. */
  const done = () => !conn.usable && probes.every((p) => p.closes > 0);
  let input = 0;
  let pending: Buffer[] = [c.preface];
  let cut = 0;
  const feed = (bytes: Buffer) => {
    input += bytes.length;
    for (let offset = 0; offset < bytes.length; ) {
      // Cut as the case says; a flood of megabytes in chunks of at least 16 KiB, to keep the case quick.
      const size =
        c.cuts.length === 0 ? bytes.length : Math.max(c.cuts[cut++ % c.cuts.length] as number, bytes.length >> 10);
      socket.feed(bytes.subarray(offset, offset + size));
      offset += size;
    }
  };
  const deliver = () => {
    if (pending.length > 0) feed(Buffer.concat(pending));
    pending = [];
  };
  for (const step of c.ops) {
    if (step.kind === "bytes") pending.push(step.bytes);
    else if (step.kind === "repeat") {
      deliver();
      // Fed whole, and only while the connection may still read it: a dead one ignores the rest.
      const batch = Buffer.concat(Array.from({ length: Math.min(step.count, 64) }, () => step.bytes));
      for (let sent = 0; sent < step.count && !done(); sent += 64) {
        const bytes = batch.subarray(0, Math.min(64, step.count - sent) * step.bytes.length);
        input += bytes.length;
        socket.feed(bytes);
      }
    } else if (step.kind === "turn") {
      deliver();
      await turn();
    } else {
      deliver();
      const probe = probes[step.stream % Math.max(1, probes.length)];
      if (step.action === "request") request(step.stream);
      else if (probe?.stream !== undefined) {
        if (step.action === "pause" && probe.received === 0 && probe.closes === 0) probe.pausedThroughout = true;
        if (step.action === "resume") probe.pausedThroughout = false;
        probe.stream[step.action]();
      }
    }
  }
  deliver();
  conn.flush(); // what the client queued, now rather than next turn
  const buffered = socket.writableLength;
  socket.destroy(); // the server hangs up
  await new Promise(process.nextTick); // the socket's 'close'
  // Let the event loop run now and then: the client's deferred flushes of finished cases must not pile up.
  if (++cases % 32 === 0) await turn();

  check(!conn.usable, "the connection is still usable after the socket closed");
  for (const probe of probes) {
    check(probe.closes === 1, `onClose called ${probe.closes} times`);
    check(!probe.late, "an event after onClose, or DATA before HEADERS");
    if (probe.error !== undefined) {
      checkError(probe.error);
      seen.add(probe.error.message);
    }
    if (probe.pausedThroughout) check(probe.received <= STREAM_WINDOW, `a paused stream got ${probe.received} bytes`);
    check(probe.largestList <= MAX_HEADER_LIST * 2, `a header list of ${probe.largestList} bytes`);
  }
  // Memory: what the client queued for a server that does not read is its requests and at most MAX_PENDING_ACKS
  // answers; what it wrote to one that does is its requests and answers no larger than the frames they answer.
  if (!c.reads) check(buffered <= requested + MAX_PENDING_ACKS * 17 + 65_536, `${buffered} bytes queued`);
  else check(socket.writtenBytes <= requested + 2 * input + 65_536, `${socket.writtenBytes} bytes written`);
  const output = socket.frames();
  checkOutput(output);
  if (c.ops.every((step) => step.kind !== "bytes" || step.garbage !== true)) checkWindows(c, output);
}

/**
 * The client sent no more DATA than the server allowed: per stream, at most the largest INITIAL_WINDOW_SIZE the server
 * set plus its WINDOW_UPDATEs for the stream; in all, at most 65 535 plus its connection WINDOW_UPDATEs. (An upper
 * bound whatever the order; only for cases whose bytes are whole frames.)
 */
function checkWindows(c: Case, output: readonly Frame[]): void {
  let initial = 65_535;
  let connection = 65_535;
  const streams = new Map<number, number>();
  const read = (bytes: Buffer, times: number) => {
    for (let offset = 0; bytes.length - offset >= 9; ) {
      const length = bytes.readUIntBE(offset, 3);
      const [type, flags, id] = [
        bytes[offset + 3],
        bytes[offset + 4] as number,
        bytes.readUInt32BE(offset + 5) & 0x7fffffff,
      ];
      const payload = bytes.subarray(offset + 9, offset + 9 + length);
      offset += 9 + length;
      if (type === WINDOW_UPDATE && payload.length === 4) {
        const increment = (payload.readUInt32BE(0) & 0x7fffffff) * times;
        if (id === 0) connection += increment;
        else streams.set(id, (streams.get(id) ?? 0) + increment);
      } else if (type === SETTINGS && (flags & 1) === 0) {
        for (let i = 0; i + 6 <= payload.length; i += 6)
          if (payload.readUInt16BE(i) === 4) initial = Math.max(initial, payload.readUInt32BE(i + 2));
      }
    }
  };
  read(c.preface, 1);
  for (const step of c.ops)
    if (step.kind === "bytes" || step.kind === "repeat") read(step.bytes, step.kind === "repeat" ? step.count : 1);
  const sent = new Map<number, number>();
  let total = 0;
  for (const f of output) {
    if (f.type !== DATA) continue;
    sent.set(f.id, (sent.get(f.id) ?? 0) + f.payload.length);
    total += f.payload.length;
  }
  for (const [id, bytes] of sent) {
    const allowed = initial + (streams.get(id) ?? 0);
    check(bytes <= allowed, `${bytes} bytes of DATA on stream ${id}, ${allowed} allowed`);
  }
  check(total <= connection, `${total} bytes of DATA in all, ${connection} allowed`);
}

/** What the client wrote is well-formed HTTP/2 whatever the server sent. */
function checkOutput(frames: readonly Frame[]): void {
  let lastOpened = 0;
  let goaway = false;
  for (const f of frames) {
    check(!goaway, "a frame after the client's GOAWAY");
    if (f.type === HEADERS) {
      check(f.id % 2 === 1 && f.id > lastOpened, `HEADERS on stream ${f.id} after ${lastOpened}`);
      lastOpened = f.id;
    } else if (f.type === DATA || f.type === RST_STREAM) {
      check(f.id % 2 === 1 && f.id <= lastOpened, `frame type ${f.type} on stream ${f.id}, never opened`);
    } else if (f.type === WINDOW_UPDATE) {
      const increment = f.payload.readUInt32BE(0);
      check(increment >= 1 && increment <= 0x7fffffff, `a WINDOW_UPDATE of ${increment}`);
    } else if (f.type === GOAWAY) {
      goaway = true;
      if (f.payload.readUInt32BE(4) !== 0) check(f.payload.length > 8, "a GOAWAY with an error code but no reason");
    }
  }
}

export const requests = fc.array(fc.nat(5), { minLength: 1, maxLength: 4 });
export const cuts = fc.oneof(
  fc.constant([]),
  fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 6 }),
);
export const preface = fc.oneof(
  { arbitrary: fc.constant(settings()), weight: 8 },
  { arbitrary: fc.constant(settings([0x3, 1], [0x4, 100])), weight: 2 }, // queued streams, blocked bodies
  { arbitrary: fc.constant(settings([0x1, 0], [0x5, 1 << 20])), weight: 1 },
  { arbitrary: fc.constant(Buffer.alloc(0)), weight: 1 },
);
