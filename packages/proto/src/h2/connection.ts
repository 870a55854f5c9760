// A lean HTTP/2 client connection (RFC 9113) for gRPC calls, on a plain or TLS socket.
// node:http2 costs ~30 CPU-µs per call (a Duplex stream, header objects and an async-resource bind per request); this
// writes one buffer per request and hands frames straight to its caller: ~9 µs. It speaks only what a gRPC client
// needs: requests whose body is known up front, no server push, a stateless header encoder, and flow control both ways
// (a paused stream's window is not replenished, so the server cannot send more than one window ahead of its reader).
import * as net from "node:net";
import * as tls from "node:tls";
import { HpackDecoder, HpackError } from "./hpack.js";

const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PUSH_PROMISE = 5;
const PING = 6;
const GOAWAY = 7;
const WINDOW_UPDATE = 8;
const CONTINUATION = 9;

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

const NO_ERROR = 0;
export const PROTOCOL_ERROR = 1;
const FLOW_CONTROL_ERROR = 3;
export const FRAME_SIZE_ERROR = 6;
export const REFUSED_STREAM = 7;
export const CANCEL = 8;
export const COMPRESSION_ERROR = 9;
export const ENHANCE_YOUR_CALM = 11;
export const INADEQUATE_SECURITY = 12;

const ERROR_NAMES = [
  "NO_ERROR",
  "PROTOCOL_ERROR",
  "INTERNAL_ERROR",
  "FLOW_CONTROL_ERROR",
  "SETTINGS_TIMEOUT",
  "STREAM_CLOSED",
  "FRAME_SIZE_ERROR",
  "REFUSED_STREAM",
  "CANCEL",
  "COMPRESSION_ERROR",
  "CONNECT_ERROR",
  "ENHANCE_YOUR_CALM",
  "INADEQUATE_SECURITY",
  "HTTP_1_1_REQUIRED",
];

const NO_H2 = "the server did not negotiate HTTP/2 (ALPN h2)";
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const DEFAULT_WINDOW = 65_535;
const MAX_WINDOW = 0x7fffffff;
const MAX_STREAM_ID = 0x7fffffff;
/** Our receive window per stream: the most a paused stream buffers. */
const STREAM_WINDOW = 1 << 20;
/** Our receive window for the connection; replenished as frames arrive, so one paused stream never stalls others. */
const CONNECTION_WINDOW = 1 << 24;
/** The frame size we accept (the protocol's default; we do not raise it). */
const MAX_FRAME = 16_384;
/** Header blocks larger than this end the connection instead of growing without bound. */
const MAX_HEADER_BLOCK = 1 << 20;

/** Why a stream or a connection ended. `code` is an HTTP/2 error code. */
export class H2Error extends Error {
  constructor(
    message: string,
    readonly code: number,
    /** The server did not process the request (GOAWAY past it, REFUSED_STREAM): it is safe to send again. */
    readonly refused = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "H2Error";
  }
}

/** The server (or peer) reset one stream with RST_STREAM; `code` is its HTTP/2 error code. */
export class H2StreamReset extends H2Error {
  constructor(code: number) {
    super(`stream closed with error code ${errorName(code)}`, code, code === REFUSED_STREAM);
    this.name = "H2StreamReset";
  }
}

function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** Receives one stream's events. Methods rather than closures: a call's state object can be its own handler. */
export interface StreamHandler {
  /** A header block: the response headers, then the trailers. `end` marks the last block of the response. */
  onHeaders(fields: string[], end: boolean): void;
  onData(data: Buffer): void;
  /** The stream is over; `error` unless the response ended normally. Called exactly once. */
  onClose(error: H2Error | undefined): void;
}

export interface H2ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** TLS (ALPN h2) when set. */
  readonly tls?: tls.ConnectionOptions | undefined;
  /** PING every `intervalMs`; the connection is dropped when one is not answered within `timeoutMs`. */
  readonly keepalive?:
    | { readonly intervalMs: number; readonly timeoutMs?: number; readonly permitWithoutCalls?: boolean }
    | undefined;
}

export class H2Stream {
  id = 0;
  sendWindow = 0;
  unacked = 0;
  paused = false;
  remoteEnded = false;
  /** Request body not yet sent (flow control); the stream's request is complete once it is empty. */
  body: Buffer | undefined;

  constructor(
    readonly connection: H2Connection,
    readonly handler: StreamHandler,
    readonly headerBlock: Buffer,
    body: Buffer,
  ) {
    this.body = body;
  }

  /** Stops replenishing the stream's receive window; the server stops once it has used it. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.connection.acknowledge(this);
  }

  /** Cancels the stream (RST_STREAM CANCEL); its handler is closed with a CANCEL error if it was still open. */
  cancel(): void {
    this.connection.reset(this, CANCEL);
  }
}

export class H2Connection {
  readonly #socket: net.Socket;
  readonly #decoder = new HpackDecoder();
  readonly #streams = new Map<number, H2Stream>();
  /** Streams waiting for the server's concurrency limit. */
  readonly #queued: H2Stream[] = [];
  /** Streams with request bytes waiting for send window. */
  readonly #blocked = new Set<H2Stream>();
  #nextId = 1;
  #sendWindow = DEFAULT_WINDOW;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = MAX_FRAME;
  #peerMaxStreams = Number.POSITIVE_INFINITY;
  /** The server asked for a header table smaller than HPACK's default: say once that ours is empty. */
  #tableSizeUpdate = false;
  #unacked = 0;
  #rest: Buffer | undefined;
  #continuation: { id: number; flags: number; parts: Buffer[]; size: number } | undefined;
  #sawSettings = false;
  #out: Buffer[] = [];
  #draining = false;
  #closed = false;
  #pinger: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #awaitingPong = false;

  constructor(readonly options: H2ConnectionOptions) {
    const { host, port } = options;
    if (options.tls === undefined) this.#socket = net.connect({ host, port, noDelay: true });
    else {
      const servername = options.tls.servername ?? (net.isIP(host) === 0 ? host : undefined);
      this.#socket = tls.connect({
        ...options.tls,
        host,
        port,
        ALPNProtocols: ["h2"],
        ...(servername === undefined ? {} : { servername }),
      });
      this.#socket.setNoDelay(true);
      this.#socket.once("secureConnect", () => {
        if ((this.#socket as tls.TLSSocket).alpnProtocol !== "h2") this.destroy(new H2Error(NO_H2, PROTOCOL_ERROR));
      });
    }
    const socket = this.#socket;
    socket.unref(); // referenced only while a stream is open
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", (error) => {
      // A server without h2 may refuse the handshake itself rather than negotiate no protocol.
      if (/no application protocol/i.test(error.message))
        this.destroy(new H2Error(`${NO_H2}: ${error.message}`, PROTOCOL_ERROR, false, { cause: error }));
      else if (/wrong version number/i.test(error.message)) {
        const hint = "the server does not speak TLS here: use a plaintext address (host:port, grpc://) or its TLS port";
        this.destroy(new H2Error(`${hint} (${error.message.trim()})`, PROTOCOL_ERROR, false, { cause: error }));
      } else this.destroy(error);
    });
    socket.on("close", () =>
      this.destroy(
        new H2Error(
          this.#sawSettings
            ? "the connection closed"
            : "the connection closed before the server spoke HTTP/2: does it need TLS (grpcs://), or is this not its gRPC port?",
          NO_ERROR,
        ),
      ),
    );
    const settings = Buffer.allocUnsafe(9 + 12 + 9 + 4);
    frameHeader(settings, 0, 12, SETTINGS, 0, 0);
    settings.writeUInt16BE(0x2, 9); // ENABLE_PUSH
    settings.writeUInt32BE(0, 11);
    settings.writeUInt16BE(0x4, 15); // INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(STREAM_WINDOW, 17);
    frameHeader(settings, 21, 4, WINDOW_UPDATE, 0, 0);
    settings.writeUInt32BE(CONNECTION_WINDOW - DEFAULT_WINDOW, 30);
    socket.write(Buffer.concat([PREFACE, settings])); // queued by the socket until it connects
    const keepalive = options.keepalive;
    if (keepalive !== undefined) {
      this.#pinger = setInterval(
        () => this.#ping(keepalive.timeoutMs ?? 20_000, keepalive.permitWithoutCalls === true),
        keepalive.intervalMs,
      );
      this.#pinger.unref();
    }
  }

  /** False once the connection is closing or closed: new requests belong on a new connection. */
  get usable(): boolean {
    return !this.#draining && !this.#closed && this.#nextId <= MAX_STREAM_ID;
  }

  /**
   * Opens a stream: `headerBlock` (from hpack's `encodeHeaders`) and the whole request body, sent as soon as the
   * server's limits allow. Events go to `handler`.
   */
  request(headerBlock: Buffer, body: Buffer, handler: StreamHandler): H2Stream {
    const stream = new H2Stream(this, handler, headerBlock, body);
    if (!this.usable) {
      queueMicrotask(() => handler.onClose(new H2Error("the connection is closing", REFUSED_STREAM, true)));
      return stream;
    }
    if (this.#streams.size >= this.#peerMaxStreams) this.#queued.push(stream);
    else this.#open(stream);
    return stream;
  }

  /** Ends the connection once its open and queued streams are done; no new streams. */
  close(): void {
    this.#draining = true;
    this.#endIfIdle();
  }

  /** Ends the connection now; every open stream closes with `error`. */
  destroy(error: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pinger);
    clearTimeout(this.#pingTimer);
    this.#socket.destroy();
    const failure = error instanceof H2Error ? error : new H2Error(error.message, NO_ERROR, false, { cause: error });
    const streams = [...this.#streams.values(), ...this.#queued];
    this.#streams.clear();
    this.#queued.length = 0;
    this.#blocked.clear();
    for (const stream of streams) stream.handler.onClose(failure);
  }

  /** Replenishes a stream's receive window by what it has received, unless it is paused. */
  acknowledge(stream: H2Stream): void {
    if (stream.paused || stream.unacked === 0 || stream.remoteEnded || !this.#streams.has(stream.id)) return;
    this.#send(windowUpdate(stream.id, stream.unacked));
    stream.unacked = 0;
  }

  /** Resets a stream we no longer want and closes it with `code`. */
  reset(stream: H2Stream, code: number): void {
    const queued = this.#queued.indexOf(stream);
    if (queued >= 0) {
      this.#queued.splice(queued, 1);
      stream.handler.onClose(new H2Error(`stream reset with ${errorName(code)}`, code));
      return;
    }
    if (!this.#streams.has(stream.id)) return;
    this.#send(rstStream(stream.id, code));
    this.#close(stream, new H2Error(`stream reset with ${errorName(code)}`, code));
  }

  #open(stream: H2Stream): void {
    stream.id = this.#nextId;
    this.#nextId += 2;
    stream.sendWindow = this.#peerInitialWindow;
    if (this.#streams.size === 0) this.#socket.ref();
    this.#streams.set(stream.id, stream);
    this.#send(this.#headersFrames(stream));
    this.#sendBody(stream);
  }

  #headersFrames(stream: H2Stream): Buffer {
    let block = stream.headerBlock;
    if (this.#tableSizeUpdate) {
      this.#tableSizeUpdate = false;
      block = Buffer.concat([TABLE_SIZE_ZERO, block]);
    }
    const endStream = stream.body !== undefined && stream.body.length === 0 ? END_STREAM : 0;
    if (endStream) stream.body = undefined;
    const max = this.#peerMaxFrame;
    if (block.length <= max) {
      // The common case: HEADERS, and the DATA frame when the body fits the windows, in one write.
      const body = stream.body;
      const inline =
        body !== undefined && body.length <= max && body.length <= stream.sendWindow && body.length <= this.#sendWindow;
      const out = Buffer.allocUnsafe(9 + block.length + (inline ? 9 + body.length : 0));
      frameHeader(out, 0, block.length, HEADERS, END_HEADERS | endStream, stream.id);
      block.copy(out, 9);
      if (inline) {
        frameHeader(out, 9 + block.length, body.length, DATA, END_STREAM, stream.id);
        body.copy(out, 18 + block.length);
        stream.sendWindow -= body.length;
        this.#sendWindow -= body.length;
        stream.body = undefined;
      }
      return out;
    }
    const frames: Buffer[] = [];
    for (let offset = 0; offset < block.length; offset += max) {
      const part = block.subarray(offset, offset + max);
      const last = offset + max >= block.length ? END_HEADERS : 0;
      const head = Buffer.allocUnsafe(9);
      frameHeader(
        head,
        0,
        part.length,
        offset === 0 ? HEADERS : CONTINUATION,
        last | (offset === 0 ? endStream : 0),
        stream.id,
      );
      frames.push(head, part);
    }
    return Buffer.concat(frames);
  }

  /** Sends as much of the stream's body as the windows allow; the rest waits for WINDOW_UPDATE. */
  #sendBody(stream: H2Stream): void {
    const body = stream.body;
    if (body === undefined) return;
    let offset = 0;
    while (offset < body.length) {
      const size = Math.min(body.length - offset, stream.sendWindow, this.#sendWindow, this.#peerMaxFrame);
      if (size <= 0) break;
      const end = offset + size === body.length ? END_STREAM : 0;
      const head = Buffer.allocUnsafe(9);
      frameHeader(head, 0, size, DATA, end, stream.id);
      this.#send(head);
      this.#send(body.subarray(offset, offset + size));
      offset += size;
      stream.sendWindow -= size;
      this.#sendWindow -= size;
    }
    if (offset === body.length) {
      stream.body = undefined;
      this.#blocked.delete(stream);
      if (stream.remoteEnded) this.#close(stream, undefined);
    } else {
      stream.body = body.subarray(offset);
      this.#blocked.add(stream);
    }
  }

  /**
   * Queues a frame. Frames are written once per event-loop turn: on loopback a write's syscall also runs the
   * receiver's TCP processing, ~15 µs, so several calls' frames in one write cost the same as one.
   */
  #send(frame: Buffer): void {
    this.#out.push(frame);
    if (this.#out.length === 1) setImmediate(flushFrames, this);
  }

  /** Writes the queued frames now. */
  flush(): void {
    const out = this.#out;
    if (out.length === 0 || this.#closed) return;
    this.#socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
    this.#out = [];
  }

  #receive(chunk: Buffer): void {
    let buffer = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk]);
    let offset = 0;
    try {
      // A common mistake: the address of an HTTP/1.1 port (Dapr's 3500, a proxy) instead of the sidecar's gRPC port.
      if (!this.#sawSettings && buffer.length >= 5 && buffer.toString("latin1", 0, 5) === "HTTP/") {
        const status = buffer.toString("latin1", 0, Math.min(buffer.length, 64)).split("\r\n")[0];
        throw new H2Error(
          `the server answered in HTTP/1.x ("${status}"), not HTTP/2: is this the sidecar's gRPC port?`,
          PROTOCOL_ERROR,
        );
      }
      while (buffer.length - offset >= 9) {
        const length =
          ((buffer[offset] as number) << 16) | ((buffer[offset + 1] as number) << 8) | (buffer[offset + 2] as number);
        if (length > MAX_FRAME) throw new H2Error(`a frame of ${length} bytes exceeds ${MAX_FRAME}`, FRAME_SIZE_ERROR);
        if (buffer.length - offset < 9 + length) break;
        const type = buffer[offset + 3] as number;
        const flags = buffer[offset + 4] as number;
        const id = buffer.readUInt32BE(offset + 5) & 0x7fffffff;
        const payload = buffer.subarray(offset + 9, offset + 9 + length);
        offset += 9 + length;
        this.#frame(type, flags, id, payload);
        if (this.#closed) return;
      }
    } catch (error) {
      const failure =
        error instanceof H2Error
          ? error
          : error instanceof HpackError
            ? new H2Error(`bad header block: ${error.message}`, COMPRESSION_ERROR)
            : new H2Error(`stream handler failed: ${String(error)}`, PROTOCOL_ERROR, false, { cause: error });
      this.#send(goaway(failure.code, failure.message));
      this.flush();
      this.destroy(failure);
      return;
    }
    buffer = buffer.subarray(offset);
    this.#rest = buffer.length === 0 ? undefined : buffer;
    if (this.#unacked >= CONNECTION_WINDOW / 2) {
      this.#send(windowUpdate(0, this.#unacked));
      this.#unacked = 0;
    }
  }

  #frame(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.#sawSettings && type !== SETTINGS)
      throw new H2Error("the server did not start with SETTINGS", PROTOCOL_ERROR);
    if (this.#continuation !== undefined && type !== CONTINUATION)
      throw new H2Error("a header block was interrupted", PROTOCOL_ERROR);
    switch (type) {
      case DATA:
        return this.#data(flags, id, payload);
      case HEADERS: {
        if (id === 0) throw new H2Error("HEADERS on stream 0", PROTOCOL_ERROR);
        let start = 0;
        let end = payload.length;
        if (flags & PADDED) {
          start = 1;
          end -= payload[0] ?? 0;
        }
        if (flags & PRIORITY) start += 5;
        if (start > end) throw new H2Error("HEADERS padding exceeds the frame", PROTOCOL_ERROR);
        const block = payload.subarray(start, end);
        if (flags & END_HEADERS) return this.#headers(id, flags, block);
        this.#continuation = { id, flags, parts: [block], size: block.length };
        return;
      }
      case CONTINUATION: {
        const pending = this.#continuation;
        if (pending === undefined || pending.id !== id) throw new H2Error("an unexpected CONTINUATION", PROTOCOL_ERROR);
        pending.parts.push(payload);
        pending.size += payload.length;
        if (pending.size > MAX_HEADER_BLOCK) throw new H2Error("a header block exceeds 1 MiB", PROTOCOL_ERROR);
        if (!(flags & END_HEADERS)) return;
        this.#continuation = undefined;
        return this.#headers(id, pending.flags, Buffer.concat(pending.parts));
      }
      case RST_STREAM: {
        if (payload.length !== 4) throw new H2Error("RST_STREAM must be 4 bytes", FRAME_SIZE_ERROR);
        const stream = this.#streams.get(id);
        if (stream === undefined) return;
        const code = payload.readUInt32BE(0);
        return this.#close(stream, new H2StreamReset(code));
      }
      case SETTINGS:
        return this.#settings(flags, id, payload);
      case PUSH_PROMISE:
        throw new H2Error("PUSH_PROMISE although push is disabled", PROTOCOL_ERROR);
      case PING:
        if (payload.length !== 8 || id !== 0) throw new H2Error("a malformed PING", FRAME_SIZE_ERROR);
        if (flags & ACK) {
          clearTimeout(this.#pingTimer);
          this.#awaitingPong = false;
        } else {
          const pong = Buffer.allocUnsafe(17);
          frameHeader(pong, 0, 8, PING, ACK, 0);
          payload.copy(pong, 9);
          this.#send(pong);
        }
        return;
      case GOAWAY:
        return this.#goaway(payload);
      case WINDOW_UPDATE:
        return this.#windowUpdate(id, payload);
      default:
        return; // PRIORITY and unknown frame types are ignored
    }
  }

  #data(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2Error("DATA on stream 0", PROTOCOL_ERROR);
    this.#unacked += payload.length; // padding included: it counts against the window
    const stream = this.#streams.get(id);
    if (stream === undefined || stream.remoteEnded) return; // reset by us; the server had not seen it yet
    stream.unacked += payload.length;
    let data = payload;
    if (flags & PADDED) {
      const pad = payload[0] ?? 0;
      if (pad >= payload.length) throw new H2Error("DATA padding exceeds the frame", PROTOCOL_ERROR);
      data = payload.subarray(1, payload.length - pad);
    }
    if (data.length > 0) stream.handler.onData(data);
    if (flags & END_STREAM) return this.#remoteEnd(stream);
    if (stream.unacked >= STREAM_WINDOW / 2 && !stream.paused && this.#streams.has(id)) {
      this.#send(windowUpdate(id, stream.unacked));
      stream.unacked = 0;
    }
  }

  #headers(id: number, flags: number, block: Buffer): void {
    const fields = this.#decoder.decode(block); // always: the decoder's table must follow every block
    const stream = this.#streams.get(id);
    if (stream === undefined || stream.remoteEnded) return;
    const end = (flags & END_STREAM) !== 0;
    stream.handler.onHeaders(fields, end);
    if (end) this.#remoteEnd(stream);
  }

  #remoteEnd(stream: H2Stream): void {
    stream.remoteEnded = true;
    if (!this.#streams.has(stream.id)) return; // the handler reset it
    if (stream.body !== undefined) {
      // The server answered before reading the whole request: it wants no more of it.
      this.#send(rstStream(stream.id, NO_ERROR));
    }
    this.#close(stream, undefined);
  }

  #close(stream: H2Stream, error: H2Error | undefined): void {
    if (!this.#streams.delete(stream.id)) return;
    this.#blocked.delete(stream);
    stream.body = undefined;
    stream.handler.onClose(error);
    while (this.#queued.length > 0 && this.#streams.size < this.#peerMaxStreams)
      this.#open(this.#queued.shift() as H2Stream);
    if (this.#streams.size === 0) {
      this.#socket.unref();
      this.#endIfIdle();
    }
  }

  #endIfIdle(): void {
    if (this.#draining && this.#streams.size === 0 && this.#queued.length === 0 && !this.#closed) {
      this.#send(goaway(NO_ERROR, ""));
      this.flush();
      this.#closed = true;
      clearInterval(this.#pinger);
      clearTimeout(this.#pingTimer);
      this.#socket.end();
    }
  }

  #settings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error("SETTINGS on a stream", PROTOCOL_ERROR);
    if (flags & ACK) {
      if (payload.length !== 0) throw new H2Error("a SETTINGS ACK with a payload", FRAME_SIZE_ERROR);
      return;
    }
    if (payload.length % 6 !== 0) throw new H2Error("SETTINGS must be a multiple of 6 bytes", FRAME_SIZE_ERROR);
    this.#sawSettings = true;
    for (let offset = 0; offset < payload.length; offset += 6) {
      const key = payload.readUInt16BE(offset);
      const value = payload.readUInt32BE(offset + 2);
      if (key === 0x1 && value < 4096) this.#tableSizeUpdate = true;
      else if (key === 0x3) this.#peerMaxStreams = value;
      else if (key === 0x4) {
        if (value > MAX_WINDOW) throw new H2Error("INITIAL_WINDOW_SIZE above 2^31-1", FLOW_CONTROL_ERROR);
        const delta = value - this.#peerInitialWindow;
        this.#peerInitialWindow = value;
        for (const stream of this.#streams.values()) stream.sendWindow += delta;
      } else if (key === 0x5) {
        if (value < MAX_FRAME || value > 0xffffff)
          throw new H2Error(`MAX_FRAME_SIZE ${value} is out of range`, PROTOCOL_ERROR);
        this.#peerMaxFrame = value;
      }
    }
    const ack = Buffer.allocUnsafe(9);
    frameHeader(ack, 0, 0, SETTINGS, ACK, 0);
    this.#send(ack);
    this.#unblock();
    while (this.#queued.length > 0 && this.#streams.size < this.#peerMaxStreams)
      this.#open(this.#queued.shift() as H2Stream);
  }

  #windowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2Error("WINDOW_UPDATE must be 4 bytes", FRAME_SIZE_ERROR);
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new H2Error("a WINDOW_UPDATE of 0", PROTOCOL_ERROR);
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) throw new H2Error("the connection window overflowed", FLOW_CONTROL_ERROR);
      return this.#unblock();
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) return;
    if (increment === 0 || stream.sendWindow + increment > MAX_WINDOW) {
      this.#send(rstStream(id, increment === 0 ? PROTOCOL_ERROR : FLOW_CONTROL_ERROR));
      return this.#close(stream, new H2Error("a bad WINDOW_UPDATE from the server", FLOW_CONTROL_ERROR));
    }
    stream.sendWindow += increment;
    if (this.#blocked.has(stream)) this.#sendBody(stream);
  }

  #unblock(): void {
    for (const stream of this.#blocked) {
      if (this.#sendWindow <= 0) return;
      this.#sendBody(stream);
    }
  }

  #goaway(payload: Buffer): void {
    if (payload.length < 8) throw new H2Error("GOAWAY must be at least 8 bytes", FRAME_SIZE_ERROR);
    const last = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    const debug = payload.toString("latin1", 8);
    this.#draining = true;
    const queued = this.#queued.splice(0);
    const refused = new H2Error(
      `the server is going away (${errorName(code)}${debug === "" ? "" : `: ${debug}`})`,
      code === NO_ERROR ? REFUSED_STREAM : code,
      true,
    );
    for (const stream of [...this.#streams.values()]) if (stream.id > last) this.#close(stream, refused);
    for (const stream of queued) stream.handler.onClose(refused);
    this.#endIfIdle();
  }

  #ping(timeoutMs: number, withoutCalls: boolean): void {
    if (this.#closed || this.#awaitingPong || (this.#streams.size === 0 && !withoutCalls)) return;
    this.#awaitingPong = true;
    const ping = Buffer.alloc(17);
    frameHeader(ping, 0, 8, PING, 0, 0);
    this.#send(ping);
    this.#pingTimer = setTimeout(() => this.destroy(new H2Error("keepalive ping timed out", NO_ERROR)), timeoutMs);
    this.#pingTimer.unref();
  }
}

/** HPACK "dynamic table size update to 0": our encoder never indexes, so its table is always empty. */
const TABLE_SIZE_ZERO = Buffer.from([0x20]);

function flushFrames(connection: H2Connection): void {
  connection.flush();
}

function frameHeader(buffer: Buffer, offset: number, length: number, type: number, flags: number, id: number): void {
  buffer[offset] = length >>> 16;
  buffer[offset + 1] = (length >>> 8) & 0xff;
  buffer[offset + 2] = length & 0xff;
  buffer[offset + 3] = type;
  buffer[offset + 4] = flags;
  buffer.writeUInt32BE(id, offset + 5);
}

function windowUpdate(id: number, increment: number): Buffer {
  const frame = Buffer.allocUnsafe(13);
  frameHeader(frame, 0, 4, WINDOW_UPDATE, 0, id);
  frame.writeUInt32BE(increment, 9);
  return frame;
}

function rstStream(id: number, code: number): Buffer {
  const frame = Buffer.allocUnsafe(13);
  frameHeader(frame, 0, 4, RST_STREAM, 0, id);
  frame.writeUInt32BE(code, 9);
  return frame;
}

function goaway(code: number, message: string): Buffer {
  const debug = Buffer.from(message.slice(0, 256), "latin1");
  const frame = Buffer.allocUnsafe(17 + debug.length);
  frameHeader(frame, 0, 8 + debug.length, GOAWAY, 0, 0);
  frame.writeUInt32BE(0, 9); // the server opens no streams
  frame.writeUInt32BE(code, 13);
  debug.copy(frame, 17);
  return frame;
}
