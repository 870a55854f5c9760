// Test-only: a fake HTTP/2 gRPC server written in raw bytes on net.createServer, so a test can script what no real
// server would do: never speak, flood PINGs or SETTINGS without reading, send DATA past the client's window, declare a
// 4 GiB message, send a garbage grpc-status, refuse GetWorkItems, advertise MAX_CONCURRENT_STREAMS=0. It records what
// the client did (connections, calls by method, RST_STREAM and GOAWAY codes) and ends every socket it accepted on
// close(). It reads our own client's header blocks, which are literal and never Huffman-coded, so a method's path is
// found as plain text; it does not decode HPACK in general.
import * as net from "node:net";

export const DATA = 0;
export const HEADERS = 1;
export const RST_STREAM = 3;
export const SETTINGS = 4;
export const PING = 6;
export const GOAWAY = 7;
export const WINDOW_UPDATE = 8;
export const FLOW_CONTROL_ERROR = 3;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;
const PREFACE_LENGTH = 24;
const MAX_FRAME = 16_384;

/** One frame as received from the client. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly id: number;
  readonly payload: Buffer;
}

/** A call the client opened: its stream id and the method's name (`Hello`, `GetWorkItems`, `GetMetadata`, …). */
export interface CallInfo {
  readonly id: number;
  readonly method: string;
}

/** What the server does on each connection; every hook is optional. */
export interface Script {
  /** SETTINGS sent first; none (and nothing at all) when `silent`. */
  readonly settings?: readonly (readonly [number, number])[];
  /** Accept the connection and never send or read a byte. */
  readonly silent?: boolean;
  /** Never read what the client sends (after the SETTINGS, e.g. to flood a client whose ACKs then pile up). */
  readonly deaf?: boolean;
  /** Runs once the server's SETTINGS are sent, e.g. to start a flood. */
  onConnection?(conn: FakeConnection): void;
  /** Answers a call; default: `defaultAnswer`. */
  onCall?(call: CallInfo, conn: FakeConnection): void;
}

export function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

function hpackInteger(value: number, prefixBits: number, flags: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  let rest = value - max;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A header block: `:status: 200` (static index 8) when asked, then literals without indexing, no Huffman. */
export function headerBlock(fields: readonly (readonly [string, string])[], status200 = false): Buffer {
  const parts: Buffer[] = status200 ? [Buffer.from([0x88])] : [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, "latin1");
    const v = Buffer.from(value, "latin1");
    parts.push(Buffer.from([0]), hpackInteger(n.length, 7, 0), n, hpackInteger(v.length, 7, 0), v);
  }
  return Buffer.concat(parts);
}

/** A gRPC message envelope: not compressed, `length` declared (the body's length unless given). */
export function envelope(body: Uint8Array, length = body.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, body]);
}

const GRPC = [["content-type", "application/grpc"]] as const;

/** One accepted connection: the frames the client sent, and ways to answer. */
export class FakeConnection {
  readonly frames: Frame[] = [];
  /** RST_STREAM codes the client sent, by stream id. */
  readonly resets = new Map<number, number>();
  /** GOAWAY codes the client sent. */
  readonly goaways: number[] = [];
  /** The client's initial stream window (its SETTINGS) and what it granted per stream and on the connection since. */
  streamWindow = 65_535;
  readonly granted = new Map<number, number>();
  connectionGranted = 0;
  closed = false;
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly socket: net.Socket,
    readonly server: FakeH2Server,
  ) {}

  get destroyed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  send(...frames: Buffer[]): boolean {
    if (this.destroyed) return false;
    return this.socket.write(Buffer.concat(frames));
  }

  /** Response headers: 200, gRPC content type. */
  headers(id: number): void {
    this.send(frame(HEADERS, END_HEADERS, id, headerBlock(GRPC, true)));
  }

  /** Trailers with `status` (a string, to send garbage) and `message`. */
  trailers(id: number, status: string, message = ""): void {
    const fields: [string, string][] = [["grpc-status", status]];
    if (message !== "") fields.push(["grpc-message", encodeURIComponent(message)]);
    this.send(frame(HEADERS, END_HEADERS | END_STREAM, id, headerBlock(fields)));
  }

  /** A trailers-only response: the call refused with `status`, no headers first. */
  refuse(id: number, status: number, message: string): void {
    const fields: (readonly [string, string])[] = [...GRPC, ["grpc-status", String(status)]];
    fields.push(["grpc-message", encodeURIComponent(message)]);
    this.send(frame(HEADERS, END_HEADERS | END_STREAM, id, headerBlock(fields, true)));
  }

  /** A unary answer: headers, one message, trailers with `status` (OK unless given). */
  unary(id: number, message: Uint8Array = new Uint8Array(0), status = "0"): void {
    this.headers(id);
    this.send(frame(DATA, 0, id, envelope(message)));
    this.trailers(id, status);
  }

  /** DATA frames of at most 16 KiB carrying `bytes` on stream `id`, with no regard to the client's windows. */
  data(id: number, bytes: Buffer): boolean {
    let ok = true;
    for (let offset = 0; offset < bytes.length; offset += MAX_FRAME) {
      ok = this.send(frame(DATA, 0, id, bytes.subarray(offset, offset + MAX_FRAME)));
    }
    return ok;
  }

  /**
   * Writes frames from `next` (undefined ends it) until `capBytes` have gone, the socket closes, or `stop()` holds,
   * waiting for the socket to drain between batches and letting the client's frames in every 64 KiB (so `stop()`
   * sees them). Resolves with the bytes written; never rejects.
   */
  async flood(next: () => Buffer | undefined, capBytes: number, stop: () => boolean = () => false): Promise<number> {
    let sent = 0;
    let sinceYield = 0;
    while (sent < capBytes && !this.destroyed && !stop()) {
      const chunk = next();
      if (chunk === undefined) break;
      sent += chunk.length;
      sinceYield += chunk.length;
      if (!this.send(chunk) && !this.destroyed) {
        await this.#drained();
        sinceYield = 0;
      } else if (sinceYield >= 64 * 1024) {
        await new Promise((resolve) => setImmediate(resolve));
        sinceYield = 0;
      }
    }
    return sent;
  }

  /** Resolves when the socket drains or closes. */
  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  /** Resolves once `condition()` holds (re-checked on each frame from the client and on close). */
  async until(condition: () => boolean): Promise<void> {
    while (!condition()) {
      if (this.closed) throw new Error("the client closed the connection first");
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }

  notify(): void {
    for (const wake of [...this.#waiters]) {
      this.#waiters.delete(wake);
      wake();
    }
  }

  /** Bytes the server may still send on stream `id` under the client's windows, given `sent` bytes so far. */
  window(id: number, sent: number): number {
    return this.streamWindow + (this.granted.get(id) ?? 0) - sent;
  }
}

/** Answers Hello with OK and anything else (Dapr's GetMetadata included) with UNIMPLEMENTED; GetWorkItems opens idle. */
export function defaultAnswer(call: CallInfo, conn: FakeConnection): void {
  if (call.method === "Hello") conn.unary(call.id);
  else if (call.method === "GetWorkItems") conn.headers(call.id);
  else conn.refuse(call.id, 12, `method ${call.method} not implemented`);
}

export class FakeH2Server {
  readonly connections: FakeConnection[] = [];
  readonly calls: CallInfo[] = [];
  readonly #server: net.Server;
  readonly #listeners = new Set<() => void>();

  private constructor(readonly script: Script) {
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  /** Listens on 127.0.0.1 (a free port). */
  static async start(script: Script): Promise<FakeH2Server> {
    const server = new FakeH2Server(script);
    await new Promise<void>((resolve) => server.#server.listen(0, "127.0.0.1", resolve));
    return server;
  }

  get address(): string {
    return `127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  callsOf(method: string): CallInfo[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves once `condition()` holds, re-checked on every connection, call and client frame. */
  async until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise<void>((resolve) => this.#listeners.add(resolve));
  }

  changed(): void {
    for (const wake of [...this.#listeners]) {
      this.#listeners.delete(wake);
      wake();
    }
  }

  async close(): Promise<void> {
    for (const conn of this.connections) conn.socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #accept(socket: net.Socket): void {
    const conn = new FakeConnection(socket, this);
    this.connections.push(conn);
    socket.on("error", () => {});
    socket.on("close", () => {
      conn.closed = true;
      conn.notify();
      this.changed();
    });
    this.changed();
    if (this.script.silent === true) {
      socket.pause();
      return;
    }
    const settings = Buffer.alloc(6 * (this.script.settings?.length ?? 0));
    this.script.settings?.forEach(([key, value], i) => {
      settings.writeUInt16BE(key, i * 6);
      settings.writeUInt32BE(value, i * 6 + 2);
    });
    conn.send(frame(SETTINGS, 0, 0, settings));
    if (this.script.deaf === true) socket.pause();
    this.script.onConnection?.(conn);
    if (this.script.deaf === true) return;
    let buffer: Buffer = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on("data", (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (!prefaceSeen) {
        if (buffer.length < PREFACE_LENGTH) return;
        buffer = buffer.subarray(PREFACE_LENGTH);
        prefaceSeen = true;
      }
      while (buffer.length >= 9 && buffer.length >= 9 + buffer.readUIntBE(0, 3)) {
        const length = buffer.readUIntBE(0, 3);
        const received: Frame = {
          type: buffer[3] as number,
          flags: buffer[4] as number,
          id: buffer.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(buffer.subarray(9, 9 + length)),
        };
        buffer = buffer.subarray(9 + length);
        this.#frame(conn, received);
      }
      conn.notify();
      this.changed();
    });
  }

  #frame(conn: FakeConnection, f: Frame): void {
    conn.frames.push(f);
    switch (f.type) {
      case SETTINGS:
        if ((f.flags & ACK) === 0) {
          for (let offset = 0; offset + 6 <= f.payload.length; offset += 6) {
            if (f.payload.readUInt16BE(offset) === SETTINGS_INITIAL_WINDOW_SIZE) {
              conn.streamWindow = f.payload.readUInt32BE(offset + 2);
            }
          }
          conn.send(frame(SETTINGS, ACK, 0));
        }
        return;
      case PING:
        if ((f.flags & ACK) === 0) conn.send(frame(PING, ACK, 0, f.payload));
        return;
      case WINDOW_UPDATE: {
        const increment = f.payload.readUInt32BE(0) & 0x7fffffff;
        if (f.id === 0) conn.connectionGranted += increment;
        else conn.granted.set(f.id, (conn.granted.get(f.id) ?? 0) + increment);
        return;
      }
      case RST_STREAM:
        conn.resets.set(f.id, f.payload.readUInt32BE(0));
        return;
      case GOAWAY:
        conn.goaways.push(f.payload.readUInt32BE(4));
        return;
      case HEADERS: {
        // Our client's paths are literal strings in the block: "/<service>/<Method>".
        const path = /\/[A-Za-z0-9_.]+\/([A-Za-z]+)/.exec(f.payload.toString("latin1"));
        const call = { id: f.id, method: path?.[1] ?? "(unknown)" };
        this.calls.push(call);
        (this.script.onCall ?? defaultAnswer)(call, conn);
        return;
      }
      default:
        return;
    }
  }
}
