// A lean HTTP/2 client connection (RFC 9113) for gRPC calls, on a plain or TLS socket, over TCP or a Unix socket.
// node:http2 costs ~30 CPU-µs per call (a Duplex stream, header objects and an async-resource bind per request); this
// writes one buffer per request and hands frames straight to its caller: ~9 µs. It speaks only what a gRPC client
// needs: requests whose body is known up front, no server push, a stateless header encoder, and flow control both ways
// (a paused stream's window is not replenished, so the server cannot send more than one window ahead of its reader).
// Everything a server can make it hold is bounded: receive windows are enforced, header blocks and lists capped,
// answers to PING/SETTINGS the server does not read capped, and frames that carry nothing limited.
import type * as net from "node:net";
import type { Duplex } from "node:stream";
import { AckQueue, clientPreface, DEFAULT_WINDOW, MAX_WINDOW, PeerSettings, SETTINGS_ACK } from "./control.js";
import { ConnectWatch, describeTarget, dial, socketFailure } from "./dial.js";
import {
  ACK,
  COMPRESSION_ERROR,
  DATA,
  dataHead,
  describeGoaway,
  END_STREAM,
  ENHANCE_YOUR_CALM,
  errorName,
  FLOW_CONTROL_ERROR,
  FRAME_SIZE_ERROR,
  GOAWAY,
  type GoawayInfo,
  goawayFrame,
  H2Error,
  H2StreamReset,
  HEADERS,
  isTooManyPings,
  NO_ERROR,
  PADDED,
  PING,
  PRIORITY,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  pingFrame,
  REFUSED_STREAM,
  RST_STREAM,
  requestFrames,
  rstStreamFrame,
  SETTINGS,
  WINDOW_UPDATE,
  windowUpdateFrame,
  withGoaway,
} from "./frames.js";
import { HeaderListTooLarge, HpackDecoder, HpackError } from "./hpack.js";
import { IdleTimer, Keepalive } from "./keepalive.js";
import type { H2ConnectionOptions } from "./options.js";
import { FrameReader } from "./reader.js";
import { H2Stream, type StreamHandler } from "./stream.js";

export type { DialTarget } from "./dial.js";
export {
  CANCEL,
  COMPRESSION_ERROR,
  ENHANCE_YOUR_CALM,
  FLOW_CONTROL_ERROR,
  FRAME_SIZE_ERROR,
  type GoawayInfo,
  H2Error,
  type H2ErrorOptions,
  H2StreamReset,
  INADEQUATE_SECURITY,
  NO_ERROR,
  PROTOCOL_ERROR,
  REFUSED_STREAM,
} from "./frames.js";
export type { KeepaliveSettings } from "./keepalive.js";
export type { H2ConnectionOptions, H2ConnectionSettings } from "./options.js";
export { H2Stream, type StreamHandler } from "./stream.js";

const MAX_STREAM_ID = 0x7fffffff;
/** Our receive window per stream: the most a paused stream buffers. */
const STREAM_WINDOW = 1 << 20;
/** Our receive window for the connection; replenished as frames arrive, so one paused stream never stalls others. */
const CONNECTION_WINDOW = 1 << 24;
/** The largest decoded header list a response may have (SETTINGS_MAX_HEADER_LIST_SIZE, advertised). */
const MAX_HEADER_LIST = 256 << 10;
/** Frames in a row that carry nothing (empty DATA, PRIORITY, unknown types, frames for closed streams). */
const MAX_IDLE_FRAMES = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
/** After our GOAWAY and FIN, how long a server may take to close its side before the socket is destroyed. */
const CLOSE_GRACE_MS = 5_000;
const ZEROS = Buffer.alloc(8);

/** An HTTP/2 client connection: streams are opened with `request`; it connects at once. */
export class H2Connection {
  readonly #socket: Duplex;
  /** The same socket when it is a real one (ref/unref); a duplex handed in by a test has none. */
  readonly #net: net.Socket | undefined;
  readonly #decoder = new HpackDecoder(4096, MAX_HEADER_LIST);
  readonly #streams = new Map<number, H2Stream>();
  /** Streams waiting for the server's concurrency limit. */
  readonly #queued: H2Stream[] = [];
  /** Streams with request bytes waiting for send window. */
  readonly #blocked = new Set<H2Stream>();
  #nextId: number;
  #sendWindow = DEFAULT_WINDOW;
  readonly #peer = new PeerSettings();
  /** DATA bytes received since we last replenished the connection window: the server may send the rest of it. */
  #unacked = 0;
  readonly #reader = new FrameReader();
  readonly #connect: ConnectWatch;
  /** The server's first SETTINGS arrived. */
  #established = false;
  #out: Buffer[] = [];
  /** Bytes handed to the socket so far: what the socket has taken is this minus its writableLength. */
  #written = 0;
  readonly #acks = new AckQueue();
  #idleFrames = 0;
  #draining = false;
  #closed = false;
  #keepalive: Keepalive | undefined;
  readonly #idle: IdleTimer | undefined;
  #goaway: GoawayInfo | undefined;

  constructor(readonly options: H2ConnectionOptions) {
    const first = options.firstStreamId ?? 1;
    if (!Number.isInteger(first) || first < 1 || first > MAX_STREAM_ID || first % 2 === 0)
      throw new RangeError(`firstStreamId must be an odd stream id, not ${first}`);
    this.#nextId = first;
    this.#net = options.socket === undefined ? dial(options, options.tls) : undefined;
    const socket = options.socket ?? (this.#net as net.Socket);
    this.#socket = socket;
    this.#net?.unref(); // referenced only while a stream is open
    const fail = (error: H2Error) => this.destroy(error);
    const timeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#connect = new ConnectWatch(describeTarget(options), this.#net, options.tls !== undefined, timeout, fail);
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", (error: Error) => this.destroy(socketFailure(error)));
    socket.on("close", () => this.destroy(this.#connect.closed()));
    const preface = clientPreface(STREAM_WINDOW, MAX_HEADER_LIST, CONNECTION_WINDOW);
    this.#written = preface.length;
    socket.write(preface); // queued by the socket until it connects
    const idleMs = options.idleTimeoutMs;
    if (idleMs !== undefined)
      this.#idle = new IdleTimer(
        idleMs,
        () => this.#streams.size + this.#queued.length > 0,
        () => this.close(),
      );
  }

  /** False once the connection is closing or closed: new requests belong on a new connection. */
  get usable(): boolean {
    return !this.#draining && !this.#closed && this.#nextId <= MAX_STREAM_ID;
  }

  /** The last GOAWAY the server sent, if it sent one. */
  get goaway(): GoawayInfo | undefined {
    return this.#goaway;
  }

  /** The server said GOAWAY ENHANCE_YOUR_CALM "too_many_pings": ping half as often on the next connection (gRFC A8). */
  get tooManyPings(): boolean {
    return isTooManyPings(this.#goaway);
  }

  /**
   * Opens a stream: `headerBlock` (from hpack's `encodeHeaders`) and the whole request body, sent as soon as the
   * server's limits allow. Events go to `handler`.
   */
  request(headerBlock: Buffer, body: Buffer, handler: StreamHandler): H2Stream {
    const stream = new H2Stream(this, handler, headerBlock, body);
    if (!this.usable) {
      const refusal = this.#refusal();
      queueMicrotask(() => handler.onClose(refusal));
      return stream;
    }
    if (this.#streams.size >= this.#peer.maxStreams) this.#queued.push(stream);
    else this.#open(stream);
    return stream;
  }

  /** Ends the connection once its open and queued streams are done; no new streams. */
  close(): void {
    this.#draining = true;
    this.#endIfIdle();
  }

  /** Ends the connection now; every open stream closes with `error` (streams not yet sent: refused, safe to resend). */
  destroy(error: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimers();
    this.#socket.destroy();
    // A server that said GOAWAY and then closed: its reason, not only "the connection closed".
    const failure = withGoaway(error, this.#goaway);
    const open = [...this.#streams.values()];
    const queued = this.#queued.splice(0);
    this.#streams.clear();
    this.#blocked.clear();
    // Every handler hears of it, even when one throws; the first exception is rethrown after.
    let thrown: { error: unknown } | undefined;
    for (const stream of open) thrown = closeSafely(stream, failure, thrown);
    if (queued.length > 0) {
      const unsent = withGoaway(failure, undefined, true);
      for (const stream of queued) thrown = closeSafely(stream, unsent, thrown);
    }
    if (thrown !== undefined) throw thrown.error;
  }

  /** Replenishes a stream's receive window by what it has received, unless it is paused. */
  acknowledge(stream: H2Stream): void {
    if (stream.paused || stream.unacked === 0 || stream.remoteEnded || !this.#streams.has(stream.id)) return;
    this.#send(windowUpdateFrame(stream.id, stream.unacked));
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
    if (this.#streams.get(stream.id) !== stream) return;
    this.#send(rstStreamFrame(stream.id, code));
    this.#close(stream, new H2Error(`stream reset with ${errorName(code)}`, code));
  }

  /** Writes the queued frames now. */
  flush(): void {
    const out = this.#out;
    if (out.length === 0) return;
    this.#out = [];
    if (this.#closed) return;
    const bytes = out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
    this.#written += bytes.length;
    this.#socket.write(bytes);
  }

  #open(stream: H2Stream): void {
    stream.id = this.#nextId;
    this.#nextId += 2;
    stream.sendWindow = this.#peer.initialWindow;
    if (this.#streams.size === 0) this.#net?.ref();
    this.#streams.set(stream.id, stream);
    let block = stream.headerBlock;
    if (this.#peer.tableSizeUpdate) {
      this.#peer.tableSizeUpdate = false;
      block = Buffer.concat([TABLE_SIZE_ZERO, block]);
    }
    // The common case: HEADERS and the whole body in one DATA frame, in one buffer.
    const body = stream.body as Buffer;
    const inline =
      body.length === 0 || body.length <= Math.min(this.#peer.maxFrame, stream.sendWindow, this.#sendWindow);
    this.#send(requestFrames(stream.id, block, inline ? body : undefined, body.length === 0, this.#peer.maxFrame));
    if (inline) {
      stream.sendWindow -= body.length;
      this.#sendWindow -= body.length;
      stream.body = undefined;
    } else this.#sendBody(stream);
    if (this.#nextId > MAX_STREAM_ID) {
      // No stream id left: end once the open streams are done; the queued ones go to a new connection.
      this.#draining = true;
      if (this.#queued.length > 0) {
        const refusal = this.#refusal();
        for (const queued of this.#queued.splice(0)) queued.handler.onClose(refusal);
      }
    }
  }

  #openQueued(): void {
    while (this.#queued.length > 0 && this.#streams.size < this.#peer.maxStreams && !this.#closed)
      this.#open(this.#queued.shift() as H2Stream);
  }

  /** The error of requests this connection will not send. */
  #refusal(): H2Error {
    const goaway = this.#goaway;
    if (goaway === undefined) {
      const why =
        this.#nextId > MAX_STREAM_ID ? "the connection has used all its stream ids" : "the connection is closing";
      return new H2Error(why, REFUSED_STREAM, true);
    }
    const code = goaway.code === NO_ERROR ? REFUSED_STREAM : goaway.code;
    return new H2Error(`the server is going away (${describeGoaway(goaway)})`, code, true, { goaway });
  }

  /** Sends as much of the stream's body as the windows allow; the rest waits for WINDOW_UPDATE. */
  #sendBody(stream: H2Stream): void {
    const body = stream.body;
    if (body === undefined) return;
    let offset = 0;
    while (offset < body.length) {
      const size = Math.min(body.length - offset, stream.sendWindow, this.#sendWindow, this.#peer.maxFrame);
      if (size <= 0) break;
      this.#send(dataHead(stream.id, size, offset + size === body.length));
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

  /** Queues the answer to a PING or SETTINGS, unless the server keeps asking without reading the answers. */
  #ack(frame: Buffer): void {
    this.#acks.add(this.#written, this.#written - this.#socket.writableLength);
    this.#send(frame);
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    this.#keepalive?.read();
    const reader = this.#reader;
    try {
      reader.push(chunk);
      while (reader.next()) {
        this.#frame(reader.type, reader.flags, reader.id, reader.payload);
        if (this.#closed) return;
      }
    } catch (error) {
      if (this.#closed) return; // a handler destroyed the connection, then threw
      const failure =
        error instanceof H2Error
          ? error
          : error instanceof HpackError
            ? new H2Error(`bad header block: ${error.message}`, COMPRESSION_ERROR)
            : new H2Error(`stream handler failed: ${String(error)}`, PROTOCOL_ERROR, false, { cause: error });
      this.#send(goawayFrame(failure.code, failure.message));
      this.flush();
      this.destroy(failure);
      return;
    }
    if (this.#unacked >= CONNECTION_WINDOW / 2) {
      this.#send(windowUpdateFrame(0, this.#unacked));
      this.#unacked = 0;
    }
  }

  #frame(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.#established && (type !== SETTINGS || flags & ACK))
      throw new H2Error("the server did not start with SETTINGS", PROTOCOL_ERROR);
    switch (type) {
      case DATA:
        return this.#data(flags, id, payload);
      case HEADERS:
        return this.#headers(id, flags, payload); // the whole block, CONTINUATIONs joined
      case PRIORITY:
        if (id === 0) throw new H2Error("PRIORITY on stream 0", PROTOCOL_ERROR);
        if (payload.length !== 5) return this.#streamError(id, FRAME_SIZE_ERROR, "a PRIORITY frame not of 5 bytes");
        return this.#idleFrame(); // priorities are advice we do not need
      case RST_STREAM: {
        if (payload.length !== 4) throw new H2Error("RST_STREAM must be 4 bytes", FRAME_SIZE_ERROR);
        const stream = this.#streams.get(id);
        if (stream === undefined) {
          this.#known(id, "RST_STREAM");
          return this.#idleFrame();
        }
        return this.#close(stream, new H2StreamReset(payload.readUInt32BE(0)));
      }
      case SETTINGS:
        return this.#settings(flags, id, payload);
      case PUSH_PROMISE:
        throw new H2Error("PUSH_PROMISE although push is disabled", PROTOCOL_ERROR);
      case PING:
        if (payload.length !== 8 || id !== 0) throw new H2Error("a malformed PING", FRAME_SIZE_ERROR);
        if (flags & ACK) this.#keepalive?.acknowledged();
        else this.#ack(pingFrame(ACK, payload));
        return;
      case GOAWAY:
        return this.#onGoaway(id, payload);
      case WINDOW_UPDATE:
        return this.#windowUpdate(id, payload);
      default:
        return this.#idleFrame(); // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  #data(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2Error("DATA on stream 0", PROTOCOL_ERROR);
    const length = payload.length; // padding included: it counts against the windows
    if (length > CONNECTION_WINDOW - this.#unacked) {
      const left = CONNECTION_WINDOW - this.#unacked;
      throw new H2Error(`DATA of ${length} bytes beyond the connection's window (${left} left)`, FLOW_CONTROL_ERROR);
    }
    this.#unacked += length;
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      this.#known(id, "DATA"); // reset by us, and the server had not seen it yet
      if (length === 0) this.#idleFrame();
      return;
    }
    if (length > STREAM_WINDOW - stream.unacked) {
      const why = `DATA of ${length} bytes beyond the stream's window (${STREAM_WINDOW - stream.unacked} left)`;
      return this.#streamError(id, FLOW_CONTROL_ERROR, why);
    }
    stream.unacked += length;
    let data = payload;
    if (flags & PADDED) {
      const pad = payload[0] ?? 0;
      if (pad >= length) throw new H2Error("DATA padding exceeds the frame", PROTOCOL_ERROR);
      data = payload.subarray(1, length - pad);
    }
    if (!stream.responded) return this.#streamError(id, PROTOCOL_ERROR, "DATA before the response's HEADERS");
    if (data.length > 0) {
      this.#idleFrames = 0;
      stream.handler.onData(data);
    } else if (!(flags & END_STREAM)) this.#idleFrame();
    if (flags & END_STREAM) return this.#remoteEnd(stream);
    if (stream.unacked >= STREAM_WINDOW / 2 && !stream.paused && this.#streams.has(id)) {
      this.#send(windowUpdateFrame(id, stream.unacked));
      stream.unacked = 0;
    }
  }

  #headers(id: number, flags: number, block: Buffer): void {
    const stream = this.#streams.get(id);
    if (stream === undefined) this.#known(id, "HEADERS");
    let fields: string[];
    try {
      fields = this.#decoder.decode(block); // always: the decoder's table must follow every block
    } catch (error) {
      if (!(error instanceof HeaderListTooLarge)) throw error;
      return this.#streamError(id, PROTOCOL_ERROR, `the server sent ${error.message}`);
    }
    if (stream === undefined) return;
    this.#idleFrames = 0;
    stream.responded = true;
    const end = (flags & END_STREAM) !== 0;
    stream.handler.onHeaders(fields, end);
    if (end) this.#remoteEnd(stream);
  }

  #remoteEnd(stream: H2Stream): void {
    stream.remoteEnded = true;
    if (!this.#streams.has(stream.id)) return; // the handler reset it
    if (stream.body !== undefined) {
      // The server answered before reading the whole request: it wants no more of it.
      this.#send(rstStreamFrame(stream.id, NO_ERROR));
    }
    this.#close(stream, undefined);
  }

  /** Resets stream `id`, if open, with `code`, and closes it with an error saying `why`. */
  #streamError(id: number, code: number, why: string): void {
    const stream = this.#streams.get(id);
    if (stream === undefined) return;
    this.#send(rstStreamFrame(id, code));
    this.#close(stream, new H2Error(why, code));
  }

  #close(stream: H2Stream, error: H2Error | undefined): void {
    if (!this.#streams.delete(stream.id)) return;
    this.#blocked.delete(stream);
    stream.body = undefined;
    stream.handler.onClose(error);
    this.#openQueued();
    if (this.#streams.size === 0) {
      this.#net?.unref();
      this.#idle?.idle();
      this.#endIfIdle();
    }
  }

  #endIfIdle(): void {
    if (!this.#draining || this.#streams.size > 0 || this.#queued.length > 0 || this.#closed) return;
    this.#send(goawayFrame(NO_ERROR, ""));
    this.flush();
    this.#closed = true;
    this.#stopTimers();
    const socket = this.#socket;
    socket.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref(); // a server that never closes its side
  }

  /** Throws unless `id` is a stream we opened (callers found it closed): frames on others are a protocol error. */
  #known(id: number, what: string): void {
    if (id === 0) throw new H2Error(`${what} on stream 0`, PROTOCOL_ERROR);
    if ((id & 1) === 0 || id >= this.#nextId)
      throw new H2Error(`${what} on stream ${id}, which we never opened`, PROTOCOL_ERROR);
  }

  /** Counts a frame that carries nothing: endless ones are a flood. */
  #idleFrame(): void {
    if (++this.#idleFrames > MAX_IDLE_FRAMES)
      throw new H2Error(`the server sent ${MAX_IDLE_FRAMES} frames in a row that carry nothing`, ENHANCE_YOUR_CALM);
  }

  #settings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error("SETTINGS on a stream", PROTOCOL_ERROR);
    if (flags & ACK) {
      if (payload.length !== 0) throw new H2Error("a SETTINGS ACK with a payload", FRAME_SIZE_ERROR);
      return this.#idleFrame();
    }
    if (!this.#established) this.#opened();
    const grown = this.#peer.apply(payload);
    for (const stream of this.#streams.values()) {
      stream.sendWindow += grown;
      if (stream.sendWindow > MAX_WINDOW)
        throw new H2Error("INITIAL_WINDOW_SIZE overflows a stream's window", FLOW_CONTROL_ERROR);
    }
    this.#ack(SETTINGS_ACK);
    this.#unblock();
    this.#openQueued();
  }

  /** The server's first SETTINGS: connected. */
  #opened(): void {
    this.#established = true;
    this.#connect.opened();
    const keepalive = this.options.keepalive;
    if (keepalive === undefined) return;
    this.#keepalive = new Keepalive(keepalive, {
      keepalivePing: (withoutCalls) => {
        if (this.#streams.size === 0 && !withoutCalls) return false;
        this.#send(pingFrame(0, ZEROS));
        return true;
      },
      keepaliveFailed: (ms) => this.destroy(new H2Error(`keepalive ping not answered within ${ms} ms`, NO_ERROR)),
    });
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
    if (stream === undefined) {
      this.#known(id, "WINDOW_UPDATE");
      return this.#idleFrame();
    }
    if (increment === 0) return this.#streamError(id, PROTOCOL_ERROR, "a WINDOW_UPDATE of 0 from the server");
    if (stream.sendWindow + increment > MAX_WINDOW)
      return this.#streamError(id, FLOW_CONTROL_ERROR, "a WINDOW_UPDATE from the server overflowed the window");
    stream.sendWindow += increment;
    if (this.#blocked.has(stream)) this.#sendBody(stream);
  }

  #unblock(): void {
    for (const stream of this.#blocked) {
      if (this.#sendWindow <= 0) return;
      this.#sendBody(stream);
    }
  }

  #onGoaway(id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error("GOAWAY on a stream", PROTOCOL_ERROR);
    if (payload.length < 8) throw new H2Error("GOAWAY must be at least 8 bytes", FRAME_SIZE_ERROR);
    const code = payload.readUInt32BE(4);
    const debug = payload.toString("latin1", 8);
    // A later GOAWAY may lower the last stream id, never raise it.
    const last = Math.min(payload.readUInt32BE(0) & 0x7fffffff, this.#goaway?.lastStreamId ?? MAX_STREAM_ID);
    // A server closing after an error GOAWAY may send a NO_ERROR one too (node:http2 does): the error's reason stays.
    const keep = code === NO_ERROR && this.#goaway !== undefined && this.#goaway.code !== NO_ERROR;
    const goaway: GoawayInfo = keep
      ? { ...(this.#goaway as GoawayInfo), lastStreamId: last }
      : { code, debug, lastStreamId: last };
    this.#goaway = goaway;
    if (isTooManyPings(goaway)) this.#keepalive?.stop(); // the server has had enough of them
    this.#draining = true;
    this.options.onGoaway?.(code, debug);
    if (this.#closed) return;
    const refused = this.#refusal();
    const queued = this.#queued.splice(0);
    for (const stream of [...this.#streams.values()]) if (stream.id > last) this.#close(stream, refused);
    for (const stream of queued) stream.handler.onClose(refused);
    this.#endIfIdle();
  }

  #stopTimers(): void {
    this.#connect.stop();
    this.#idle?.stop();
    this.#keepalive?.stop();
  }
}

/** HPACK "dynamic table size update to 0": our encoder never indexes, so its table is always empty. */
const TABLE_SIZE_ZERO = Buffer.from([0x20]);

function flushFrames(connection: H2Connection): void {
  connection.flush();
}

/** Closes a stream's handler with `error`; keeps the first exception a handler throws. */
function closeSafely(stream: H2Stream, error: H2Error, thrown: { error: unknown } | undefined) {
  try {
    stream.handler.onClose(error);
  } catch (caught) {
    return thrown ?? { error: caught };
  }
  return thrown;
}
