// Test helpers for the HTTP/2 client: frame builders, a scripted raw server side (Peer) over loopback, and a
// StreamHandler that records what it is told. Not part of the package (excluded from the build).
import { randomBytes } from "node:crypto";
import * as net from "node:net";
import {
  H2Connection,
  type H2ConnectionOptions,
  type H2ConnectionSettings,
  type H2Error,
  type StreamHandler,
} from "../connection.js";
// Frame types and flags (RFC 9113 §6): the client's own, so tests and client cannot disagree on a number.
import {
  ACK,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  GOAWAY,
  HEADERS,
  PADDED,
  PING,
  PRIORITY,
  PRIORITY_FLAG,
  PUSH_PROMISE,
  RST_STREAM,
  SETTINGS,
  WINDOW_UPDATE,
} from "../frames.js";
import { encodeHeaders } from "../hpack.js";

export {
  ACK,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  GOAWAY,
  HEADERS,
  PADDED,
  PING,
  PRIORITY,
  PRIORITY_FLAG,
  PUSH_PROMISE,
  RST_STREAM,
  SETTINGS,
  WINDOW_UPDATE,
};
export const MiB = 1 << 20;

export const fieldsFor = (path: string, scheme = "http") => [
  ":method",
  "POST",
  ":scheme",
  scheme,
  ":path",
  path,
  ":authority",
  "localhost",
];
export const REQUEST = fieldsFor("/dt.Svc/Call");
export const OK = [":status", "200", "content-type", "application/grpc"];
export const GRPC_OK = ["grpc-status", "0"];

export type Frame = { type: number; flags: number; id: number; payload: Buffer };

export function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}
export const u32s = (...values: number[]) =>
  Buffer.concat(values.map((v) => Buffer.from([v >>> 24, v >>> 16, v >>> 8, v])));
export const settings = (...pairs: [number, number][]) =>
  frame(SETTINGS, 0, 0, Buffer.concat(pairs.map(([k, v]) => Buffer.concat([Buffer.from([k >> 8, k]), u32s(v)]))));
export const headers = (id: number, fields: string[], flags = END_HEADERS) =>
  frame(HEADERS, flags, id, encodeHeaders(fields));
export const data = (id: number, bytes: Buffer | string, flags = 0) => frame(DATA, flags, id, Buffer.from(bytes));
export const windowUpdate = (id: number, increment: number) => frame(WINDOW_UPDATE, 0, id, u32s(increment));
export const rstStream = (id: number, code: number) => frame(RST_STREAM, 0, id, u32s(code));
export const goaway = (last: number, code: number, debug = "") =>
  frame(GOAWAY, 0, 0, Buffer.concat([u32s(last, code), Buffer.from(debug, "latin1")]));
export const is =
  (type: number, id?: number, flags = 0) =>
  (f: Frame) =>
    f.type === type && (id === undefined || f.id === id) && (f.flags & flags) === flags;
/** A frame's 32-bit word at `index` (RST_STREAM's code is word 0; GOAWAY's last stream 0, code 1). */
export const word = (f: Frame, index: number) => f.payload.readUInt32BE(index * 4);

/** The server side of one raw connection: parses what the client sends, writes the frames a test scripts. */
export class Peer {
  readonly frames: Frame[] = [];
  preface = Buffer.alloc(0);
  ended = false;
  #rest = Buffer.alloc(0);
  #cursor = 0;
  #closed = false;
  #wake: (() => void)[] = [];

  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      let buffer = Buffer.concat([this.#rest, chunk]);
      if (this.preface.length < 24) {
        const n = Math.min(24 - this.preface.length, buffer.length);
        this.preface = Buffer.concat([this.preface, buffer.subarray(0, n)]);
        buffer = buffer.subarray(n);
      }
      while (buffer.length >= 9 && buffer.length >= 9 + buffer.readUIntBE(0, 3)) {
        const length = buffer.readUIntBE(0, 3);
        const [type, flags] = [buffer[3] as number, buffer[4] as number];
        const payload = Buffer.from(buffer.subarray(9, 9 + length));
        this.frames.push({ type, flags, id: buffer.readUInt32BE(5) & 0x7fffffff, payload });
        buffer = buffer.subarray(9 + length);
      }
      this.#rest = buffer;
      this.#notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#notify();
    });
    socket.on("error", () => {});
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** The index of the first frame at or after `from` that matches, once it has come. */
  async find(match: (f: Frame) => boolean, from = 0): Promise<number> {
    for (;;) {
      for (let i = from; i < this.frames.length; i++) if (match(this.frames[i] as Frame)) return i;
      if (this.#closed) throw new Error(`the client closed first; frames: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  /** The next matching frame after the one the previous next() returned. */
  async next(match: (f: Frame) => boolean): Promise<Frame> {
    const i = await this.find(match, this.#cursor);
    this.#cursor = i + 1;
    return this.frames[i] as Frame;
  }

  /** Sends our SETTINGS and waits for the client's ACK: from then on the client applies them. */
  async handshake(...pairs: [number, number][]): Promise<void> {
    this.send(settings(...pairs));
    await this.next(is(SETTINGS, 0, ACK));
  }

  /** A PING round trip: the client has handled every frame sent before, and what it sent in reply has arrived. */
  async sync(): Promise<void> {
    const payload = randomBytes(8);
    this.send(frame(PING, 0, 0, payload));
    await this.find((f) => is(PING, 0, ACK)(f) && f.payload.equals(payload));
  }

  async whenEnded(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => this.#wake.push(resolve));
  }

  count(match: (f: Frame) => boolean): number {
    return this.frames.filter(match).length;
  }

  /** The DATA frames of stream `id`: their sizes, and END_STREAM ("$"). */
  sizes(id: number): string[] {
    return this.frames.filter(is(DATA, id)).map((f) => `${f.payload.length}${f.flags & END_STREAM ? "$" : ""}`);
  }

  /** The request body as received on stream `id`. */
  body(id: number): Buffer {
    return Buffer.concat(this.frames.filter(is(DATA, id)).map((f) => f.payload));
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) wake();
  }
}

export type Event = ["headers", string[], boolean] | ["data", Buffer] | ["close", H2Error | undefined];

/** A StreamHandler that records its events in order. */
export class Recorder implements StreamHandler {
  readonly events: Event[] = [];
  closes = 0;
  readonly closed: Promise<H2Error | undefined>;
  #resolve: (error: H2Error | undefined) => void = () => {};

  constructor() {
    this.closed = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }
  onHeaders(fields: string[], end: boolean): void {
    this.events.push(["headers", fields, end]);
  }
  onData(bytes: Buffer): void {
    this.events.push(["data", Buffer.from(bytes)]);
  }
  onClose(error: H2Error | undefined): void {
    this.closes++;
    this.events.push(["close", error]);
    this.#resolve(error);
  }
  /** The error the stream closed with; undefined while it is open or after a clean end. */
  get error(): H2Error | undefined {
    const last = this.events.at(-1);
    return last?.[0] === "close" ? last[1] : undefined;
  }
  body(): Buffer {
    return Buffer.concat(this.events.flatMap((e) => (e[0] === "data" ? [e[1]] : [])));
  }
}

/** What a test set up, undone (last first) by runCleanups, which each test file runs after each test. */
export const cleanups: (() => unknown)[] = [];
export async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** Listens on a loopback port; closed (its connections destroyed first) after the test. */
export async function listen(server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as net.AddressInfo).port;
}

export function open(options: H2ConnectionOptions): H2Connection {
  const conn = new H2Connection(options);
  cleanups.push(() => conn.destroy(new Error("the test is over")));
  return conn;
}

/** An H2Connection to a scripted raw server. */
export async function connect(options: H2ConnectionSettings = {}) {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const port = await listen(server);
  const conn = open({ host: "127.0.0.1", port, ...options });
  return { conn, peer: new Peer(await accepted) };
}

export function call(conn: H2Connection, body: Buffer | string = "", fields = REQUEST) {
  const rec = new Recorder();
  const stream = conn.request(encodeHeaders(fields), Buffer.from(body), rec);
  return { rec, stream };
}

export const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};
