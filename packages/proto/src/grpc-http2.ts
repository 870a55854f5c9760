// A lean gRPC-over-HTTP/2 client transport, implementing connect's Transport interface on our own HTTP/2 framing
// (./h2). connect-node's transport costs ~200 µs of CPU per call (an async-iterable pipeline, AbortController and error
// objects per call, two socket writes per request) and node:http2 alone ~30 µs; this one costs ~10 µs, which matters
// because a worker's own work per work item is ~15 µs. Typed clients, ConnectError and codes still come from connect-es.
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
import {
  CANCEL,
  ENHANCE_YOUR_CALM,
  H2Connection,
  type H2Error,
  type H2Stream,
  H2StreamReset,
  INADEQUATE_SECURITY,
  REFUSED_STREAM,
  type StreamHandler,
} from "./h2/connection.js";
import { encodeHeaders } from "./h2/hpack.js";

export interface Http2TransportOptions {
  /** `http://host:port` or `https://host:port`. */
  readonly baseUrl: string;
  /** TLS settings (trust anchors, client certificate, server name) for an `https` base URL. */
  readonly tls?: tls.ConnectionOptions;
  /** Headers sent with every call; a call's own headers win. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Deadline for unary calls that set none. */
  readonly defaultTimeoutMs?: number | undefined;
  readonly maxReceiveMessageBytes?: number | undefined;
  readonly maxSendMessageBytes?: number | undefined;
  /** HTTP/2 PING every `intervalMs`; the connection is dropped when a ping is not answered within `timeoutMs`. */
  readonly keepalive?: {
    readonly intervalMs: number;
    readonly timeoutMs?: number;
    readonly permitWithoutCalls?: boolean;
  };
  /** Retries of unary calls, by gRPC code. */
  readonly retry?: {
    readonly maxAttempts: number;
    readonly initialBackoffMs: number;
    readonly maxBackoffMs: number;
    readonly backoffMultiplier: number;
    readonly retryableCodes: ReadonlySet<Code>;
  };
}

export interface ClosableTransport extends Transport {
  close(): void;
  /** A server-streaming call whose messages are handed over still encoded, for a reader that decodes them itself. */
  streamBytes<I extends DescMessage>(
    method: DescMethodServerStreaming<I, DescMessage>,
    signal: AbortSignal | undefined,
    request: MessageShape<I>,
  ): AsyncGenerator<Uint8Array>;
}

/** Response headers and trailers are not surfaced; one shared empty instance spares two allocations per call. */
const NO_HEADERS = new Headers();

const HTTP_TO_CODE: Record<number, Code> = {
  400: Code.Internal,
  401: Code.Unauthenticated,
  403: Code.PermissionDenied,
  404: Code.Unimplemented,
  429: Code.Unavailable,
  502: Code.Unavailable,
  503: Code.Unavailable,
  504: Code.Unavailable,
};

/** One call's state, and the handler of its HTTP/2 stream: a call allocates this object and its promise, no closures. */
class Call implements StreamHandler {
  stream: H2Stream | undefined;
  status: number | undefined; // 0 is OK; connect's Code has no member for it
  /** When the call's own deadline passes (epoch ms), if it has one. */
  deadlineAt: number | undefined;
  message = "";
  buffered: Buffer | undefined;
  settled = false;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  /** Sent once more already because the server refused it unprocessed. */
  resent = false;
  /** Settles with the trailers' status. */
  readonly done: Promise<void>;
  #resolve: () => void = () => {};
  #reject: (error: ConnectError) => void = () => {};

  constructor(
    readonly signal: AbortSignal | undefined,
    readonly onMessage: (bytes: Uint8Array) => void,
    readonly maxReceive: number,
    readonly headerBlock: Buffer,
    readonly body: Buffer,
    readonly send: (call: Call) => void,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  finish(error?: ConnectError): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.onAbort !== undefined) this.signal?.removeEventListener("abort", this.onAbort);
    if (error !== undefined) this.#reject(error);
    else if (this.status === undefined)
      this.#reject(new ConnectError("the stream ended without a gRPC status", Code.Unavailable));
    else if (this.status !== 0) this.#reject(new ConnectError(this.message, this.status as Code));
    else this.#resolve();
  }

  /** Ends the call with `error` and cancels its stream. */
  fail(error: ConnectError): void {
    this.finish(error);
    this.stream?.cancel();
  }

  onHeaders(fields: string[], _end: boolean): void {
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i] as string;
      const value = fields[i + 1] as string;
      if (name === ":status") {
        if (value.startsWith("1")) return; // informational (100 Continue): the response follows
        const httpStatus = Number(value);
        if (httpStatus !== 200)
          return this.fail(new ConnectError(`HTTP ${httpStatus}`, HTTP_TO_CODE[httpStatus] ?? Code.Unknown));
      } else if (name === "grpc-status") this.status = Number(value);
      else if (name === "grpc-message") this.message = percentDecode(value);
    }
  }

  onData(chunk: Buffer): void {
    let buffered =
      this.buffered === undefined || this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (buffered.length >= 5) {
      const length = buffered.readUInt32BE(1);
      if ((buffered[0] as number) & 1)
        return this.fail(new ConnectError("compressed messages are not supported", Code.Internal));
      if (length > this.maxReceive) {
        return this.fail(
          new ConnectError(
            `message size ${length} exceeds the limit of ${this.maxReceive} bytes (maxReceiveMessageBytes)`,
            Code.ResourceExhausted,
          ),
        );
      }
      if (buffered.length < 5 + length) break;
      const bytes = buffered.subarray(5, 5 + length);
      buffered = buffered.subarray(5 + length);
      try {
        this.onMessage(bytes);
      } catch (error) {
        return this.fail(new ConnectError(`could not decode a response: ${String(error)}`, Code.Internal));
      }
    }
    this.buffered = buffered;
  }

  onClose(error: H2Error | undefined): void {
    // A request the server refused without processing it (GOAWAY past it, REFUSED_STREAM, e.g. a sidecar shutting
    // down gracefully) goes once more on a new connection, as gRPC's transparent retry does.
    if (error?.refused === true && !this.resent && !this.settled) {
      this.resent = true;
      return this.send(this);
    }
    if (error === undefined || this.status !== undefined) return this.finish();
    // A stream the server reset is mapped as gRPC's HTTP/2 spec (and grpc-js) do: CANCEL is the server giving up on
    // the call, which is DEADLINE_EXCEEDED once the call's own deadline has passed (daprd resets a long poll as the
    // deadline it was sent runs out, a moment before our timer fires).
    if (error instanceof H2StreamReset) {
      const code = resetCode(error.code, this.deadlineAt, Date.now());
      return this.finish(new ConnectError(error.message, code, undefined, undefined, error));
    }
    // A connection that broke under the stream may be retried: the server or the network gave up on it.
    this.finish(new ConnectError(error.message, Code.Unavailable, undefined, undefined, error));
  }
}

/**
 * RST_STREAM codes with a status of their own, as gRPC maps them (doc/PROTOCOL-HTTP2.md, "Errors"). Every other code
 * (NO_ERROR, INTERNAL_ERROR, …) is read as UNAVAILABLE: a server going down resets its streams that way (node:http2
 * sends NO_ERROR), and a long poll must be able to retry it.
 */
const RESET_TO_CODE: Partial<Record<number, Code>> = {
  [REFUSED_STREAM]: Code.Unavailable,
  [CANCEL]: Code.Canceled,
  [ENHANCE_YOUR_CALM]: Code.ResourceExhausted,
  [INADEQUATE_SECURITY]: Code.PermissionDenied,
};
/** Our deadline timer may run a little after the server's reset is read; a reset this close to it is the deadline. */
const DEADLINE_SLACK_MS = 50;

/** The status of a call whose stream the server reset with HTTP/2 error `h2Code` at `now` (epoch ms). */
export function resetCode(h2Code: number, deadlineAt: number | undefined, now: number): Code {
  if (h2Code === CANCEL && deadlineAt !== undefined && now >= deadlineAt - DEADLINE_SLACK_MS) {
    return Code.DeadlineExceeded;
  }
  return RESET_TO_CODE[h2Code] ?? Code.Unavailable;
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

export function createHttp2Transport(options: Http2TransportOptions): ClosableTransport {
  const url = new URL(options.baseUrl);
  const secure = url.protocol === "https:";
  const maxReceive = options.maxReceiveMessageBytes ?? 0xffffffff;
  const maxSend = options.maxSendMessageBytes ?? 0xffffffff;
  const pseudo = [":method", "POST", ":scheme", secure ? "https" : "http", ":authority", url.host];
  const fixed = new Map([
    ["content-type", "application/grpc+proto"],
    ["te", "trailers"],
    ["user-agent", "dt-js"],
  ]);
  if (options.headers !== undefined) mergeHeaders(fixed, options.headers);
  const headerBlock = (path: string, own: HeadersInit | undefined, timeoutMs: number | undefined): Buffer => {
    const fields = new Map(fixed);
    if (own !== undefined) mergeHeaders(fields, own);
    if (timeoutMs !== undefined) fields.set("grpc-timeout", `${Math.max(1, Math.ceil(timeoutMs))}m`);
    const list = [...pseudo, ":path", path];
    for (const [name, value] of fields) list.push(name, value);
    return encodeHeaders(list);
  };
  /** Header blocks of calls without headers of their own, by path and deadline: most calls encode nothing. */
  const plainBlocks = new Map<string, Buffer>();
  const plainBlock = (path: string, timeoutMs: number | undefined): Buffer => {
    const key = timeoutMs === undefined ? path : `${path} ${timeoutMs}`;
    let block = plainBlocks.get(key);
    if (block === undefined) {
      if (plainBlocks.size >= 1000) plainBlocks.clear(); // per-call deadlines vary; keep the cache bounded
      block = headerBlock(path, undefined, timeoutMs);
      plainBlocks.set(key, block);
    }
    return block;
  };
  const connectionOptions = {
    host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port: Number(url.port === "" ? (secure ? 443 : 80) : url.port),
    tls: secure ? (options.tls ?? {}) : undefined,
    keepalive: options.keepalive,
  };
  let connection: H2Connection | undefined;

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
    const block = header === undefined ? plainBlock(path, timeoutMs) : headerBlock(path, header, timeoutMs);
    const body = Buffer.allocUnsafe(5 + request.length);
    body[0] = 0;
    body.writeUInt32BE(request.length, 1);
    body.set(request, 5);
    const state = new Call(signal, onMessage, maxReceive, block, body, send);
    if (signal !== undefined) {
      state.onAbort = () => state.fail(new ConnectError("operation was aborted via signal", Code.Canceled));
      signal.addEventListener("abort", state.onAbort, { once: true });
    }
    if (timeoutMs !== undefined) {
      state.deadlineAt = Date.now() + timeoutMs;
      state.timer = setTimeout(
        () => state.fail(new ConnectError(`the operation timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)),
        timeoutMs,
      );
    }
    send(state);
    return state;
  }

  function send(call: Call): void {
    if (connection === undefined || !connection.usable) connection = new H2Connection(connectionOptions);
    call.stream = connection.request(call.headerBlock, call.body, call);
  }

  function unaryOnce<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    request: Uint8Array,
  ): Promise<UnaryResponse<I, O>> {
    let output: MessageShape<O> | undefined;
    const { done } = call(pathOf(method), request, signal, timeoutMs, header, (bytes) => {
      output = fromBinary(method.output, bytes);
    });
    return done.then(() => {
      if (output === undefined) throw new ConnectError("the response has no message", Code.Unimplemented);
      return {
        stream: false,
        service: method.parent,
        method,
        header: NO_HEADERS,
        message: output,
        trailer: NO_HEADERS,
      };
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
    for (let attempt = 1; ; attempt++) {
      try {
        return await unaryOnce(method, signal, timeoutMs, header, request);
      } catch (error) {
        const code = ConnectError.from(error).code;
        if (attempt >= retry.maxAttempts || !retry.retryableCodes.has(code)) throw error;
        if (signal?.aborted === true) throw error;
        const backoff = Math.min(retry.maxBackoffMs, retry.initialBackoffMs * retry.backoffMultiplier ** (attempt - 1));
        await new Promise((resolve) => setTimeout(resolve, backoff * (0.8 + Math.random() * 0.4)));
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
  ): AsyncGenerator<T> {
    const queue: T[] = [];
    let wake: (() => void) | undefined;
    // The call's stream, not a copy of it: a transparent retry replaces it.
    const state = call(path, request, signal, timeoutMs, header, (bytes) => {
      queue.push(decode(bytes));
      if (queue.length >= 16) state.stream?.pause();
      wake?.();
    });
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
    return messages();
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
      let first: MessageInitShape<I> | undefined;
      for await (const message of input) {
        first = message;
        break;
      }
      const request = toBinary(method.input, asMessage(method.input, first));
      const messages = serverStream(pathOf(method), request, signal, timeoutMs, header, (bytes) =>
        fromBinary(method.output, bytes),
      );
      return {
        stream: true,
        service: method.parent,
        method,
        header: NO_HEADERS,
        message: messages,
        trailer: NO_HEADERS,
      };
    },

    streamBytes(method, signal, request) {
      return serverStream(pathOf(method), toBinary(method.input, request), signal, undefined, undefined, (b) => b);
    },

    close() {
      connection?.close();
      connection = undefined;
    },
  };
}

/** The message itself when the caller built one already (the common case), else a new one from the init shape. */
function asMessage<D extends DescMessage>(schema: D, input: MessageInitShape<D> | undefined): MessageShape<D> {
  return isMessage(input, schema) ? input : create(schema, input);
}

function pathOf(method: { readonly parent: { readonly typeName: string }; readonly name: string }): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** gRPC percent-encodes grpc-message; a malformed encoding is shown as sent rather than failing the call. */
function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
