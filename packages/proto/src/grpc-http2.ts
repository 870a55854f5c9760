// A lean gRPC-over-HTTP/2 client transport, implementing connect's Transport interface on our own HTTP/2 framing
// (./h2) or on node:http2 (./node-http2.ts, for where ours does not go). connect-node's transport costs ~200 µs of CPU
// per call (an async-iterable pipeline, AbortController and error objects per call, two socket writes per request) and
// node:http2 alone ~30 µs; ours costs ~10 µs, which matters because a worker's own work per work item is ~15 µs.
// Typed clients, ConnectError and codes still come from connect-es. docs/adr/0001-own-http2-client.md says why.
import type * as tls from "node:tls";
import {
  create,
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodStreaming,
  type DescMethodUnary,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamResponse, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { Call, type Channel } from "./grpc-call.js";
import { encodeEnvelope, encodeTimeout } from "./grpc-codec.js";
import { ENHANCE_YOUR_CALM, H2Connection } from "./h2/connection.js";
import { encodeHeaders } from "./h2/hpack.js";

export { resetCode } from "./grpc-call.js";

/** The largest response message accepted unless `maxReceiveMessageBytes` says otherwise: 32 MiB. */
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 32 * 1024 * 1024;

/** HTTP/2 keepalive (gRFC A8). */
export interface KeepaliveOptions {
  /** PING after this long without receiving anything on the connection. */
  readonly intervalMs: number;
  /** The connection is dropped when a PING is not answered within this. Default 20 s. */
  readonly timeoutMs?: number;
  /** Ping while no call is open, too (gRPC's keepalive_permit_without_calls). */
  readonly permitWithoutCalls?: boolean;
}

export interface Http2TransportOptions {
  /** `http://host:port` or `https://host:port`; for a Unix socket the authority sent (`http://localhost`). */
  readonly baseUrl: string;
  /** A Unix socket to connect to instead of the base URL's host and port. */
  readonly path?: string | undefined;
  /** TLS settings (trust anchors, client certificate, server name) for an `https` base URL. */
  readonly tls?: tls.ConnectionOptions;
  /** Headers sent with every call; a call's own headers win. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Deadline for unary calls that set none. */
  readonly defaultTimeoutMs?: number | undefined;
  /** Largest response message accepted. Default 32 MiB. */
  readonly maxReceiveMessageBytes?: number | undefined;
  readonly maxSendMessageBytes?: number | undefined;
  readonly keepalive?: KeepaliveOptions | undefined;
  /** Time allowed to connect (TCP, TLS and the server's first SETTINGS). Default 20 s. */
  readonly connectTimeoutMs?: number | undefined;
  /** A connection without calls for this long is closed (the next call opens a new one). Off unless set. */
  readonly idleTimeoutMs?: number | undefined;
  /** Retries of unary calls, by gRPC code. */
  readonly retry?: {
    readonly maxAttempts: number;
    readonly initialBackoffMs: number;
    readonly maxBackoffMs: number;
    readonly backoffMultiplier: number;
    readonly retryableCodes: ReadonlySet<Code>;
  };
}

/** A server stream's messages, still encoded, and a promise of its response headers. */
export interface ByteStream extends AsyncGenerator<Uint8Array> {
  /** Resolves when the server answered with response headers (the stream is open); rejects with the call's error. */
  readonly headers: Promise<Headers>;
  /**
   * Settles when the call is over, before the reader has taken the messages still queued: resolves on an OK status,
   * rejects with the call's error. A reader that cannot take more yet learns from it that the stream is gone.
   */
  readonly done: Promise<void>;
}

export interface ClosableTransport extends Transport {
  /** Ends the connection once its calls are done; a later call opens a new one. */
  close(): void;
  /**
   * Drops the current connection now (its calls fail with UNAVAILABLE); the next call opens a new one. For a caller
   * that found the connection dead (a keepalive call that timed out) before the transport did.
   */
  dropConnection(reason: string): void;
  /** A server-streaming call whose messages are handed over still encoded, for a reader that decodes them itself. */
  streamBytes<I extends DescMessage>(
    method: DescMethodServerStreaming<I, DescMessage>,
    signal: AbortSignal | undefined,
    request: MessageShape<I>,
  ): ByteStream;
}

/** How the transport reaches an HTTP/2 server: how to prepare a call's headers, and how to open a connection. */
export interface Wire<H> {
  /** The header form `Channel.request` takes, from a field list (name, value, …) with the pseudo-headers first. */
  encode(fields: string[]): H;
  connect(): Channel<H>;
}

/** Connection-specific headers are malformed in HTTP/2 (RFC 9113 §8.2.2); a server would reset the call. */
const FORBIDDEN_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/** Adds `headers` to `fields` (lowercased and validated by `Headers`), replacing earlier values of the same names. */
function mergeHeaders(fields: Map<string, string>, headers: HeadersInit): void {
  for (const [name, value] of new Headers(headers)) {
    if (FORBIDDEN_HEADERS.has(name) || name.startsWith(":"))
      throw new TypeError(`The header "${name}" cannot be sent on a gRPC call.`);
    fields.set(name, value);
  }
}

/** A gRPC transport over `wire`. */
export function createGrpcTransport<H>(options: Http2TransportOptions, wire: Wire<H>): ClosableTransport {
  const url = new URL(options.baseUrl);
  const secure = url.protocol === "https:";
  const maxReceive = options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_MESSAGE_BYTES;
  const maxSend = options.maxSendMessageBytes ?? 0xffffffff;
  const pseudo = [":method", "POST", ":scheme", secure ? "https" : "http", ":authority", url.host];
  const fixed = new Map([
    ["content-type", "application/grpc+proto"],
    ["te", "trailers"],
    ["user-agent", "dt-js"],
  ]);
  if (options.headers !== undefined) mergeHeaders(fixed, options.headers);
  const headersOf = (path: string, own: HeadersInit | undefined, timeoutMs: number | undefined): H => {
    const fields = new Map(fixed);
    if (own !== undefined) mergeHeaders(fields, own);
    if (timeoutMs !== undefined) fields.set("grpc-timeout", encodeTimeout(timeoutMs));
    const list = [...pseudo, ":path", path];
    for (const [name, value] of fields) list.push(name, value);
    return wire.encode(list);
  };
  /** Headers of calls without headers of their own, by path and deadline: most calls encode nothing. */
  const plain = new Map<string, H>();
  const plainHeaders = (path: string, timeoutMs: number | undefined): H => {
    const key = timeoutMs === undefined ? path : `${path} ${timeoutMs}`;
    let headers = plain.get(key);
    if (headers === undefined) {
      if (plain.size >= 1000) plain.clear(); // per-call deadlines vary; keep the cache bounded
      headers = headersOf(path, undefined, timeoutMs);
      plain.set(key, headers);
    }
    return headers;
  };
  let connection: Channel<H> | undefined;

  /** Opens a call; `onMessage` gets each response message's bytes, the promise settles with the trailers' status. */
  function call(
    path: string,
    request: Uint8Array,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    onMessage: (bytes: Uint8Array) => void,
  ): Call {
    if (request.length > maxSend) {
      throw new ConnectError(
        `message size ${request.length} exceeds the limit of ${maxSend} bytes (maxSendMessageBytes)`,
        Code.ResourceExhausted,
      );
    }
    if (signal?.aborted === true) throw new ConnectError("operation was aborted via signal", Code.Canceled);
    const headers = header === undefined ? plainHeaders(path, timeoutMs) : headersOf(path, header, timeoutMs);
    const state = new Call(signal, onMessage, maxReceive, headers, encodeEnvelope(request), send);
    if (signal !== undefined) {
      state.onAbort = () => state.fail(new ConnectError("operation was aborted via signal", Code.Canceled));
      signal.addEventListener("abort", state.onAbort, { once: true });
    }
    if (timeoutMs !== undefined) state.startDeadline(timeoutMs);
    send(state);
    return state;
  }

  /** Puts the call on the current connection, opening one if needed; a connection that cannot even start fails it. */
  function send(call: Call): void {
    try {
      if (connection === undefined || !connection.usable) connection = wire.connect();
      call.stream = connection.request(call.headers as H, call.body, call);
    } catch (error) {
      // e.g. a TLS key or certificate that does not parse: tls.connect throws before any I/O.
      const reason = error instanceof Error ? error.message : String(error);
      call.finish(
        new ConnectError(`could not open a connection: ${reason}`, Code.Unavailable, undefined, undefined, error),
      );
    }
  }

  function unaryOnce<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    request: Uint8Array,
  ): Promise<UnaryResponse<I, O>> {
    let output: MessageShape<O> | undefined;
    const state = call(pathOf(method), request, signal, timeoutMs, header, (bytes) => {
      if (output !== undefined)
        throw new ConnectError("a unary response with more than one message", Code.Unimplemented);
      output = fromBinary(method.output, bytes);
    });
    return state.done.then(() => {
      if (output === undefined) throw new ConnectError("the response has no message", Code.Unimplemented);
      return unaryResponse(method, output, state);
    });
  }

  /** Calls with retries: each failure with a retryable code is tried again after a jittered backoff. */
  async function unaryWithRetries<I extends DescMessage, O extends DescMessage>(
    retry: NonNullable<Http2TransportOptions["retry"]>,
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    request: Uint8Array,
  ): Promise<UnaryResponse<I, O>> {
    // The deadline covers every attempt, as gRPC's retries do: each gets what is left of it.
    const deadlineAt = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const remaining = deadlineAt === undefined ? undefined : deadlineAt - Date.now();
        return await unaryOnce(method, signal, remaining, header, request);
      } catch (error) {
        const code = ConnectError.from(error).code;
        if (attempt >= retry.maxAttempts || !retry.retryableCodes.has(code)) throw error;
        if (signal?.aborted === true) throw error;
        const backoff = Math.min(retry.maxBackoffMs, retry.initialBackoffMs * retry.backoffMultiplier ** (attempt - 1));
        const pause = backoff * (0.8 + Math.random() * 0.4);
        if (deadlineAt !== undefined && Date.now() + pause >= deadlineAt) throw error;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  /**
   * Starts a server-streaming call now and returns its messages, each passed through `decode`. While more than 16 wait
   * for the reader, the stream is paused: HTTP/2 flow control then holds the server back.
   */
  function serverStream<T>(
    path: string,
    request: Uint8Array,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    decode: (bytes: Uint8Array) => T,
  ): { messages: AsyncGenerator<T>; headers: Promise<Headers>; state: Call } {
    const queue: T[] = [];
    let wake: (() => void) | undefined;
    // The call's stream, not a copy of it: a transparent retry replaces it.
    const state = call(path, request, signal, timeoutMs, header, (bytes) => {
      queue.push(decode(bytes));
      if (queue.length >= 16) state.stream?.pause();
      wake?.();
    });
    const headers = new Promise<Headers>((resolve, reject) => {
      state.onResponse = () => resolve(state.responseHeaders);
      state.done.then(() => resolve(state.responseHeaders), reject);
    });
    headers.catch(() => {}); // the same error reaches the reader of the messages
    let finished = false;
    let failure: unknown;
    state.done.then(
      () => {
        finished = true;
        wake?.();
      },
      (error: unknown) => {
        finished = true;
        failure = error;
        wake?.();
      },
    );
    async function* messages(): AsyncGenerator<T> {
      try {
        for (;;) {
          if (queue.length > 0) {
            const next = queue.shift() as T;
            if (queue.length < 4) state.stream?.resume();
            yield next;
            continue;
          }
          if (finished) {
            if (failure !== undefined) throw failure;
            return;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        if (!finished) state.stream?.cancel();
      }
    }
    return { messages: messages(), headers, state };
  }

  return {
    unary(method, signal, timeoutMs, header, input) {
      try {
        const request = toBinary(method.input, asMessage(method.input, input));
        const deadline = timeoutMs ?? options.defaultTimeoutMs;
        const retry = options.retry;
        return retry === undefined
          ? unaryOnce(method, signal, deadline, header, request)
          : unaryWithRetries(retry, method, signal, deadline, header, request);
      } catch (error) {
        return Promise.reject(error);
      }
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
    ): Promise<StreamResponse<I, O>> {
      if (method.methodKind !== "server_streaming") {
        throw new ConnectError(
          `${pathOf(method)} is a ${method.methodKind.replace("_", "-")} method, which this transport does not carry ` +
            "(it sends one request message). Pass a transport that does, e.g. createGrpcTransport from " +
            "@connectrpc/connect-node, as the `transport` option.",
          Code.Unimplemented,
        );
      }
      let first: MessageInitShape<I> | undefined;
      let count = 0;
      for await (const message of input) {
        if (count++ === 0) first = message;
        else throw new ConnectError(`${pathOf(method)} takes exactly one request message`, Code.InvalidArgument);
      }
      const request = toBinary(method.input, asMessage(method.input, first));
      const { messages, headers, state } = serverStream(pathOf(method), request, signal, timeoutMs, header, (bytes) =>
        fromBinary(method.output, bytes),
      );
      // As connect-node does: the response's headers are there when the call returns, its trailers once it ends.
      const trailer = new Headers();
      state.done.then(
        () => copyInto(trailer, state.responseTrailers),
        () => copyInto(trailer, state.responseTrailers),
      );
      try {
        return { stream: true, service: method.parent, method, header: await headers, message: messages, trailer };
      } catch (error) {
        await messages.return(undefined);
        throw error;
      }
    },

    streamBytes(method, signal, request) {
      const { messages, headers, state } = serverStream(
        pathOf(method),
        toBinary(method.input, request),
        signal,
        undefined,
        undefined,
        (b) => b,
      );
      return Object.assign(messages, { headers, done: state.done });
    },

    close() {
      connection?.close();
      connection = undefined;
    },

    dropConnection(reason) {
      connection?.destroy(new Error(reason));
      connection = undefined;
    },
  };
}

/** A unary response whose header and trailer are built only if read. */
function unaryResponse<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  message: MessageShape<O>,
  state: Call,
): UnaryResponse<I, O> {
  return {
    stream: false,
    service: method.parent,
    method,
    message,
    get header() {
      return state.responseHeaders;
    },
    get trailer() {
      return state.responseTrailers;
    },
  };
}

function copyInto(target: Headers, source: Headers): void {
  for (const [name, value] of source) target.append(name, value);
}

/** The message itself when the caller built one already (the common case), else a new one from the init shape. */
function asMessage<D extends DescMessage>(schema: D, input: MessageInitShape<D> | undefined): MessageShape<D> {
  return isMessage(input, schema) ? input : create(schema, input);
}

function pathOf(method: { readonly parent: { readonly typeName: string }; readonly name: string }): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** A gRPC transport on our own HTTP/2 client (./h2). */
export function createHttp2Transport(options: Http2TransportOptions): ClosableTransport {
  const url = new URL(options.baseUrl);
  const secure = url.protocol === "https:";
  const target =
    options.path !== undefined
      ? { path: options.path }
      : {
          host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
          port: Number(url.port === "" ? (secure ? 443 : 80) : url.port),
        };
  const keepalive = new KeepalivePolicy(options.keepalive);
  return createGrpcTransport(options, {
    encode: encodeHeaders,
    connect() {
      const connection = new H2Connection({
        ...target,
        tls: secure ? (options.tls ?? {}) : undefined,
        keepalive: keepalive.current,
        ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
        ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
        onGoaway: (code, debug) => keepalive.onGoaway(code, debug),
      });
      return connection;
    },
  });
}

/**
 * gRFC A8's client side of keepalive: each GOAWAY ENHANCE_YOUR_CALM "too_many_pings" doubles the interval for the
 * transport's later connections (grpc-go servers, i.e. durabletask-go and daprd, send it to a client pinging more
 * often than their policy allows), so a reconnect does not repeat the offence.
 */
export class KeepalivePolicy {
  #current: KeepaliveOptions | undefined;

  constructor(options: KeepaliveOptions | undefined) {
    this.#current = options;
  }

  /** The keepalive settings for a new connection. */
  get current(): KeepaliveOptions | undefined {
    return this.#current;
  }

  /** Reads a GOAWAY from the server. */
  onGoaway(code: number, debug: string): void {
    const current = this.#current;
    if (current === undefined || code !== ENHANCE_YOUR_CALM || debug !== "too_many_pings") return;
    this.#current = { ...current, intervalMs: Math.min(current.intervalMs * 2, MAX_KEEPALIVE_INTERVAL_MS) };
  }
}

/** The interval never doubles past this (grpc-go's default MinTime is 5 min; an hour is far beyond any policy). */
const MAX_KEEPALIVE_INTERVAL_MS = 3_600_000;
