// The gRPC wire pieces (doc/PROTOCOL-HTTP2.md) that both ends of our own gRPC code need: the 5-byte message envelope,
// `grpc-timeout` and the status in trailers. One codec for the client transports and the embedded sidecar's server
// fast path, so the two framers cannot drift apart. Status details come from connect-es's own decoder.
import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";

/** The longest delay a Node.js timer can hold (2^31−1 ms, ~24.8 days); a longer deadline gets no local timer. */
export const MAX_TIMER_MS = 0x7fffffff;

/** A gRPC message frame: flags (0: not compressed), the length, the message. */
export function encodeEnvelope(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * Splits a stream of DATA chunks into gRPC messages in linear time: chunks are kept as they arrive and copied once,
 * into the message they complete (a message inside one chunk is not copied at all). Compressed messages and messages
 * over `maxBytes` end the stream with a ConnectError before any of their body is buffered.
 */
export class EnvelopeReader {
  #chunks: Buffer[] = [];
  #size = 0;
  /** The body length of the message being read; -1 until its 5-byte prefix has arrived. */
  #length = -1;

  /** `maxBytes`: the largest message accepted; `limitName` names the option that sets it, for the error. */
  constructor(
    readonly maxBytes: number,
    readonly limitName: string,
  ) {}

  /** Bytes of a message that has not arrived whole yet (0 between messages). */
  get pending(): number {
    return this.#size + (this.#length >= 0 ? 5 : 0);
  }

  /** Adds `chunk`; calls `onMessage` with each message it completes. Throws a ConnectError on a bad envelope. */
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    for (;;) {
      if (this.#length < 0) {
        if (this.#size < 5) return;
        const prefix = this.#take(5);
        if (((prefix[0] as number) & 1) !== 0) {
          throw new ConnectError("received a compressed message, but no compression was negotiated", Code.Internal);
        }
        const length = prefix.readUInt32BE(1);
        if (length > this.maxBytes) {
          throw new ConnectError(
            `message size ${length} exceeds the limit of ${this.maxBytes} bytes (${this.limitName})`,
            Code.ResourceExhausted,
          );
        }
        this.#length = length;
      }
      if (this.#size < this.#length) return;
      const message = this.#take(this.#length);
      this.#length = -1;
      onMessage(message);
    }
  }

  /** Removes and returns the first `n` buffered bytes (copied only when they span chunks). */
  #take(n: number): Buffer {
    this.#size -= n;
    const first = this.#chunks[0] as Buffer | undefined;
    if (first === undefined) return EMPTY; // n is 0
    if (first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    let used = 0;
    while (copied < n) {
      const chunk = this.#chunks[used] as Buffer;
      const part = Math.min(chunk.length, n - copied);
      chunk.copy(out, copied, 0, part);
      copied += part;
      if (part === chunk.length) used++;
      else this.#chunks[used] = chunk.subarray(part);
    }
    this.#chunks.splice(0, used);
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

/** `grpc-timeout` units, largest last: at most 8 digits each (gRPC's limit), so the finest unit that fits is used. */
const TIMEOUT_UNITS: readonly (readonly [string, number])[] = [
  ["m", 1],
  ["S", 1000],
  ["M", 60_000],
  ["H", 3_600_000],
];
const MAX_TIMEOUT_DIGITS = 99_999_999;

/** The `grpc-timeout` value for a deadline `ms` from now: rounded up, in the finest unit that fits in 8 digits. */
export function encodeTimeout(ms: number): string {
  const wanted = Math.max(1, Math.ceil(ms));
  for (const [unit, size] of TIMEOUT_UNITS) {
    const count = Math.ceil(wanted / size);
    if (count <= MAX_TIMEOUT_DIGITS) return `${count}${unit}`;
  }
  return `${MAX_TIMEOUT_DIGITS}H`; // ~11,400 years
}

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Reads a `grpc-timeout` value in ms; undefined when absent, a ConnectError (INVALID_ARGUMENT) when malformed. */
export function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) throw new ConnectError(`invalid grpc-timeout "${value}"`, Code.InvalidArgument);
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

/**
 * The error a response's trailers (or trailers-only headers) carry, with `grpc-status-details-bin` decoded into
 * `ConnectError.details`; undefined for OK. A missing status is UNKNOWN; a status that is not a gRPC code is INTERNAL.
 */
export function trailerError(trailers: Headers): ConnectError | undefined {
  const status = trailers.get("grpc-status");
  if (status === null && !trailers.has("grpc-status-details-bin")) {
    // grpc-js reads this as UNKNOWN too: a server (or a proxy) that ends a response without a status is not gRPC.
    return new ConnectError("the response ended without a gRPC status", Code.Unknown, trailers);
  }
  if (status !== null && !(/^\d{1,2}$/.test(status) && Number(status) <= Code.Unauthenticated)) {
    return new ConnectError(`the server sent an invalid grpc-status "${status}"`, Code.Internal, trailers);
  }
  try {
    return findTrailerError(trailers);
  } catch (error) {
    // A details header that does not decode: the status and message still say what happened.
    const code = Number(status ?? Code.Internal) as Code;
    if ((code as number) === 0) return undefined;
    return new ConnectError(
      `${percentDecode(trailers.get("grpc-message") ?? "")} (undecodable grpc-status-details-bin: ${String(error)})`,
      code,
      trailers,
    );
  }
}

/**
 * The trailer fields that carry `error`, or OK without one: `grpc-status`, the percent-encoded `grpc-message` and, when
 * the error has details, `grpc-status-details-bin` (what `trailerError` reads back).
 */
export function statusTrailers(error: ConnectError | undefined): Record<string, string> {
  return Object.fromEntries(setTrailerStatus(new Headers(), error));
}

/** The `content-type` of a gRPC response: application/grpc, optionally +proto (what every sidecar sends). */
export function isGrpcProtoContentType(contentType: string | null | undefined): boolean {
  if (contentType === undefined || contentType === null) return false;
  const type = contentType.split(";", 1)[0]?.trim().toLowerCase();
  return type === "application/grpc" || type === "application/grpc+proto";
}

/** The gRPC status name of `code` (`PERMISSION_DENIED`), from connect's enum key (`PermissionDenied`). */
export function grpcCodeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** gRPC percent-encodes grpc-message; a malformed encoding is shown as sent rather than failing the call. */
export function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
