// One gRPC call's state over an HTTP/2 stream, whichever HTTP/2 client carries it (ours in ./h2, or node:http2).
import { Code, ConnectError } from "@connectrpc/connect";
import { EnvelopeReader, isGrpcProtoContentType, MAX_TIMER_MS, trailerError } from "./grpc-codec.js";
import {
  CANCEL,
  ENHANCE_YOUR_CALM,
  type H2Error,
  H2StreamReset,
  INADEQUATE_SECURITY,
  REFUSED_STREAM,
} from "./h2/connection.js";

/** What a call can do to its stream: flow control and cancellation. */
export interface StreamControl {
  /** Stops replenishing the stream's receive window; the server stops once it has used it. */
  pause(): void;
  resume(): void;
  /** Resets the stream (RST_STREAM CANCEL). */
  cancel(): void;
}

/** An HTTP/2 connection calls can be opened on. `H` is the header form the client takes (an HPACK block, an object). */
export interface Channel<H> {
  /** False once the connection is closing or closed: new calls belong on a new connection. */
  readonly usable: boolean;
  request(headers: H, body: Buffer, call: Call): StreamControl;
  /** Ends the connection once its calls are done. */
  close(): void;
  /** Ends the connection now; its calls fail with `error` (UNAVAILABLE). */
  destroy(error: Error): void;
}

/** Response headers with no fields: shared, so calls whose headers nobody reads allocate none. */
export const NO_HEADERS: Headers = new Headers();

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
export class Call {
  stream: StreamControl | undefined;
  /** The response's header fields (name, value, …), once they arrived. */
  headerFields: string[] | undefined;
  /** The trailer fields, or the headers of a trailers-only response. */
  trailerFields: string[] | undefined;
  /** The trailers said OK. */
  ok = false;
  /** When the call's own deadline passes (epoch ms), if it has one. */
  deadlineAt: number | undefined;
  settled = false;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  /** Called once the response headers arrived (streams wait for them). */
  onResponse: (() => void) | undefined;
  /** Sent once more already because the server refused it unprocessed. */
  resent = false;
  readonly reader: EnvelopeReader;
  /** Settles with the trailers' status. */
  readonly done: Promise<void>;
  #resolve: () => void = () => {};
  #reject: (error: ConnectError) => void = () => {};

  constructor(
    readonly signal: AbortSignal | undefined,
    readonly onMessage: (bytes: Uint8Array) => void,
    maxReceive: number,
    /** The prepared request headers, in the form the channel takes. */
    readonly headers: unknown,
    readonly body: Buffer,
    readonly send: (call: Call) => void,
  ) {
    this.reader = new EnvelopeReader(maxReceive, "maxReceiveMessageBytes");
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Starts the call's deadline timer; a deadline longer than a timer can hold is left to the server. */
  startDeadline(timeoutMs: number): void {
    this.deadlineAt = Date.now() + timeoutMs;
    if (timeoutMs > MAX_TIMER_MS) return;
    this.timer = setTimeout(
      () => this.fail(new ConnectError(`the operation timed out after ${timeoutMs} ms`, Code.DeadlineExceeded)),
      timeoutMs,
    );
  }

  finish(error?: ConnectError): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.onAbort !== undefined) this.signal?.removeEventListener("abort", this.onAbort);
    const failure = error ?? (this.ok ? undefined : trailerError(fieldsToHeaders(this.trailerFields)));
    if (failure !== undefined) this.#reject(failure);
    else this.#resolve();
  }

  /** Ends the call with `error` and cancels its stream. */
  fail(error: ConnectError): void {
    this.finish(error);
    this.stream?.cancel();
  }

  onHeaders(fields: string[], end: boolean): void {
    if (this.headerFields === undefined && !end) {
      const status = field(fields, ":status");
      if (status?.startsWith("1") === true) return; // informational (100 Continue): the response follows
      if (status !== "200") {
        const http = Number(status);
        return this.fail(
          new ConnectError(`HTTP ${status}`, HTTP_TO_CODE[http] ?? Code.Unknown, fieldsToHeaders(fields)),
        );
      }
      const type = field(fields, "content-type");
      if (!isGrpcProtoContentType(type)) {
        return this.fail(
          new ConnectError(
            `the response is not gRPC (content-type ${type === undefined ? "missing" : `"${type}"`}): is this the sidecar's gRPC port?`,
            Code.Unknown,
            fieldsToHeaders(fields),
          ),
        );
      }
      this.headerFields = fields;
      this.onResponse?.();
      return;
    }
    if (this.headerFields === undefined) {
      // Trailers-only: an HTTP error status still wins over a missing grpc-status.
      const status = field(fields, ":status");
      if (
        status !== undefined &&
        status !== "200" &&
        !status.startsWith("1") &&
        field(fields, "grpc-status") === undefined
      ) {
        const http = Number(status);
        return this.fail(
          new ConnectError(`HTTP ${status}`, HTTP_TO_CODE[http] ?? Code.Unknown, fieldsToHeaders(fields)),
        );
      }
    }
    this.trailerFields = fields;
    this.ok = field(fields, "grpc-status") === "0";
  }

  onData(chunk: Buffer): void {
    if (this.settled) return;
    try {
      this.reader.push(chunk, this.onMessage);
    } catch (error) {
      this.fail(
        error instanceof ConnectError
          ? error
          : new ConnectError(`could not decode a response: ${String(error)}`, Code.Internal),
      );
    }
  }

  onClose(error: H2Error | undefined): void {
    // A request the server refused without processing it (GOAWAY past it, REFUSED_STREAM, e.g. a sidecar shutting
    // down gracefully) goes once more on a new connection, as gRPC's transparent retry does.
    if (error?.refused === true && !this.resent && !this.settled) {
      this.resent = true;
      return this.send(this);
    }
    if (error === undefined || this.trailerFields !== undefined) {
      if (this.reader.pending > 0 && this.ok) {
        return this.finish(new ConnectError("the response ended inside a message", Code.Internal));
      }
      return this.finish();
    }
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

  /** The response headers as `Headers` (built on demand). */
  get responseHeaders(): Headers {
    return fieldsToHeaders(this.headerFields);
  }

  /** The trailers as `Headers` (built on demand). */
  get responseTrailers(): Headers {
    return fieldsToHeaders(this.trailerFields);
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

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Header fields (name, value, …) as `Headers`, pseudo-headers left out. */
export function fieldsToHeaders(fields: readonly string[] | undefined): Headers {
  if (fields === undefined || fields.length === 0) return new Headers();
  const headers = new Headers();
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    if (name.startsWith(":")) continue;
    try {
      headers.append(name, fields[i + 1] as string);
    } catch {
      // A value Headers refuses (a control character) is left out rather than failing the call.
    }
  }
  return headers;
}
