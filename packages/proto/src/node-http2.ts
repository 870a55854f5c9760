// The same gRPC layer on node:http2 instead of our HTTP/2 client: the escape hatch when ours is not wanted, and the
// carrier where ours does not go (an HTTP CONNECT proxy). It costs ~3× our CPU per call (see BENCHMARKS.md).
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import type { Call, Channel, StreamControl } from "./grpc-call.js";
import { MAX_TIMER_MS } from "./grpc-codec.js";
import {
  type ClosableTransport,
  createGrpcTransport,
  type Http2TransportOptions,
  KeepalivePolicy,
} from "./grpc-http2.js";
import { CANCEL, H2Error, H2StreamReset, REFUSED_STREAM } from "./h2/connection.js";
import { describeGoaway } from "./h2/frames.js";
import { connectThroughProxy } from "./proxy.js";

/** Options of the node:http2 transport: ours, and an HTTP CONNECT proxy to tunnel through. */
export interface NodeHttp2TransportOptions extends Http2TransportOptions {
  /** `http://[user:password@]host:port` of an HTTP proxy that allows CONNECT to the sidecar. */
  readonly proxy?: URL | undefined;
}

type Headers2 = http2.OutgoingHttpHeaders;

/** A gRPC transport on node:http2. */
export function createNodeHttp2Transport(options: NodeHttp2TransportOptions): ClosableTransport {
  const keepalive = new KeepalivePolicy(options.keepalive);
  return createGrpcTransport(options, {
    encode(fields) {
      const headers: Headers2 = {};
      for (let i = 0; i < fields.length; i += 2) headers[fields[i] as string] = fields[i + 1] as string;
      return headers;
    },
    connect: () => new NodeChannel(options, keepalive),
  });
}

const END_STREAM = http2.constants.NGHTTP2_FLAG_END_STREAM;

class NodeChannel implements Channel<Headers2> {
  #session: http2.ClientHttp2Session | undefined;
  /** Calls waiting for the connection (a proxy tunnel being opened). */
  #waiting: NodeStream[] = [];
  #open = 0;
  #draining = false;
  #closed = false;
  #goaway: string | undefined;
  /** Set by an error GOAWAY (ENHANCE_YOUR_CALM …): node:http2 then resets every stream with its code, but it is the
   * connection that failed, and the reason is what a caller needs. */
  goawayFailure: H2Error | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #pinger: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly options: NodeHttp2TransportOptions,
    readonly keepalive: KeepalivePolicy,
  ) {
    const url = new URL(options.baseUrl);
    const secure = url.protocol === "https:";
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const port = Number(url.port === "" ? (secure ? 443 : 80) : url.port);
    const timeoutMs = options.connectTimeoutMs ?? 20_000;
    const where = options.path ?? `${host}:${port}`;
    // As on our own client: 0 turns the connect timeout off, and one longer than a timer can hold is none.
    this.#connectTimer = timer(timeoutMs, () =>
      this.destroy(new Error(`could not connect to ${where} within ${timeoutMs} ms`)),
    );
    if (options.proxy === undefined) {
      const path = options.path;
      this.#start(url.origin, path === undefined ? undefined : () => net.connect({ path }), secure, host);
      return;
    }
    connectThroughProxy(options.proxy, host, port, timeoutMs).then(
      (socket) => {
        if (this.#closed) return void socket.destroy();
        try {
          this.#start(url.origin, () => socket, secure, host);
        } catch (error) {
          this.destroy(error instanceof Error ? error : new Error(String(error)));
        }
      },
      (error: Error) => this.destroy(error),
    );
  }

  get usable(): boolean {
    return !this.#draining && !this.#closed;
  }

  #start(origin: string, socket: (() => Duplex) | undefined, secure: boolean, host: string): void {
    const tlsOptions = this.options.tls ?? {};
    const servername = tlsOptions.servername ?? (net.isIP(host) === 0 ? host : undefined);
    const createConnection =
      socket === undefined
        ? undefined
        : secure
          ? () =>
              tls.connect({
                ...tlsOptions,
                socket: socket(),
                ALPNProtocols: ["h2"],
                ...(servername === undefined ? {} : { servername }),
              })
          : socket;
    const session = http2.connect(origin, {
      ...(secure ? tlsOptions : {}),
      ...(createConnection === undefined ? {} : { createConnection }),
      settings: { enablePush: false, initialWindowSize: 1 << 20 },
    });
    this.#session = session;
    session.on("error", (error) => this.destroy(error));
    session.once("connect", () => {
      clearTimeout(this.#connectTimer);
      try {
        session.setLocalWindowSize(1 << 24); // the connection window ours advertises: one slow stream stalls no other
      } catch {
        // a session already closing: its 'close' says why
      }
      this.#startKeepalive(session);
    });
    session.on("goaway", (code, lastStreamId, data) => {
      const debug = data?.toString("latin1") ?? "";
      this.keepalive.onGoaway(code, debug);
      if (this.goawayFailure !== undefined && code === 0) return; // a NO_ERROR after an error: the error's reason stays
      this.#goaway = `the server's GOAWAY (${describeGoaway({ code, debug, lastStreamId })})`;
      if (code !== 0) this.goawayFailure = new H2Error(`the connection closed after ${this.#goaway}`, code);
      this.#draining = true;
    });
    session.once("close", () => this.destroy(new Error(this.#goaway ?? "the connection closed")));
    session.unref();
    for (const stream of this.#waiting.splice(0)) stream.open(session);
  }

  /** When our streams last received anything (epoch ms): gRFC A8 pings only after a quiet interval. */
  lastRead = Date.now();

  #startKeepalive(session: http2.ClientHttp2Session): void {
    const keepalive = this.keepalive.current;
    if (keepalive === undefined || !(keepalive.intervalMs > 0)) return;
    const interval = Math.min(keepalive.intervalMs, MAX_TIMER_MS);
    let awaiting = false;
    this.#pinger = setInterval(() => {
      if (awaiting || session.destroyed || session.closed) return;
      if (this.#open === 0 && keepalive.permitWithoutCalls !== true) return;
      if (Date.now() - this.lastRead < interval) return;
      const timeoutMs = keepalive.timeoutMs ?? 20_000;
      const deadline = timer(timeoutMs, () =>
        this.destroy(new Error(`keepalive ping not answered within ${timeoutMs} ms`)),
      );
      awaiting = true;
      try {
        session.ping((error) => {
          awaiting = false;
          clearTimeout(deadline);
          this.lastRead = Date.now();
          if (error !== null && !this.#closed) this.destroy(error);
        });
      } catch (error) {
        clearTimeout(deadline);
        this.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    }, interval);
    this.#pinger.unref();
  }

  request(headers: Headers2, body: Buffer, call: Call): StreamControl {
    const stream = new NodeStream(this, headers, body, call);
    if (this.#closed || this.#draining) {
      queueMicrotask(() => call.onClose(new H2Error("the connection is closing", REFUSED_STREAM, true)));
    } else if (this.#session === undefined) this.#waiting.push(stream);
    else stream.open(this.#session);
    return stream;
  }

  opened(): void {
    if (this.#open++ === 0) this.#session?.ref();
  }

  closed(): void {
    if (--this.#open === 0) {
      this.#session?.unref();
      if (this.#draining) this.close();
      else if (this.options.idleTimeoutMs !== undefined) {
        clearTimeout(this.#idleTimer);
        this.#idleTimer = timer(this.options.idleTimeoutMs, () => {
          if (this.#open === 0) this.close();
        });
      }
    }
  }

  close(): void {
    this.#draining = true;
    if (this.#open === 0 && this.#waiting.length === 0 && !this.#closed) {
      this.#closed = true;
      this.#stopTimers();
      this.#session?.close();
    }
  }

  /** Why the connection broke, once it did: its streams end with this rather than with their reset codes. */
  failure: H2Error | undefined;

  destroy(error: Error): void {
    if (this.failure !== undefined) return;
    this.#closed = true;
    this.#stopTimers();
    // A server that said GOAWAY and then closed: its reason, not only how the session ended.
    const message = this.#goaway === undefined ? error.message : `${error.message} after ${this.#goaway}`;
    this.failure = new H2Error(message, 0, false, { cause: error });
    // Calls still waiting for the connection were never sent: safe to send again.
    const unsent = new H2Error(message, REFUSED_STREAM, true, { cause: error });
    for (const stream of this.#waiting.splice(0)) stream.call.onClose(unsent);
    this.#session?.destroy();
  }

  #stopTimers(): void {
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#idleTimer);
    clearInterval(this.#pinger);
  }
}

/** One call's node:http2 stream, opened once the connection exists. */
class NodeStream implements StreamControl {
  #request: http2.ClientHttp2Stream | undefined;
  #cancelled = false;
  #paused = false;
  #error: Error | undefined;

  constructor(
    readonly channel: NodeChannel,
    readonly headers: Headers2,
    readonly body: Buffer,
    readonly call: Call,
  ) {}

  open(session: http2.ClientHttp2Session): void {
    if (this.#cancelled) return this.call.onClose(new H2Error("stream reset with CANCEL", CANCEL));
    let request: http2.ClientHttp2Stream;
    try {
      request = session.request(this.headers, { endStream: false });
    } catch (error) {
      return this.call.onClose(new H2Error(String(error), REFUSED_STREAM, true, { cause: error }));
    }
    this.#request = request;
    this.channel.opened();
    const call = this.call;
    const channel = this.channel;
    request.on("response", (headers, flags) => {
      channel.lastRead = Date.now();
      call.onHeaders(flatten(headers), (flags & END_STREAM) !== 0);
    });
    request.on("trailers", (trailers) => call.onHeaders(flatten(trailers), true));
    request.on("data", (chunk: Buffer) => {
      channel.lastRead = Date.now();
      call.onData(chunk);
    });
    request.on("error", (error) => {
      this.#error = error;
    });
    request.once("close", () => {
      this.channel.closed();
      const code = request.rstCode ?? 0;
      const broken = this.channel.failure ?? this.channel.goawayFailure;
      if (broken !== undefined && call.trailerFields === undefined) call.onClose(broken);
      else if (this.#error !== undefined && code === 0) {
        call.onClose(new H2Error(this.#error.message, 0, false, { cause: this.#error }));
      } else if (code !== 0) call.onClose(new H2StreamReset(code));
      else call.onClose(undefined);
    });
    if (this.#paused) request.pause();
    request.end(this.body);
  }

  pause(): void {
    this.#paused = true;
    this.#request?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#request?.resume();
  }

  cancel(): void {
    this.#cancelled = true;
    if (this.#request !== undefined && !this.#request.closed) this.#request.close(http2.constants.NGHTTP2_CANCEL);
  }
}

/** node:http2's header object as our field list (name, value, …); repeated fields become one entry each. */
function flatten(headers: http2.IncomingHttpHeaders): string[] {
  const fields: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (Array.isArray(value)) for (const item of value) fields.push(name, item);
    else if (value !== undefined) fields.push(name, String(value));
  }
  return fields;
}

/** An unref'd timer, or none for 0 or a delay longer than a timer can hold (both mean "no limit"). */
function timer(ms: number, fire: () => void): NodeJS.Timeout | undefined {
  if (!(ms > 0) || ms > MAX_TIMER_MS) return undefined;
  const handle = setTimeout(fire, ms);
  handle.unref();
  return handle;
}
