// HTTP/2 (RFC 9113) frame constants, error types and the encoders of the small frames our client sends.

/** Frame types (RFC 9113 §6). */
export const DATA = 0;
export const HEADERS = 1;
export const PRIORITY = 2;
export const RST_STREAM = 3;
export const SETTINGS = 4;
export const PUSH_PROMISE = 5;
export const PING = 6;
export const GOAWAY = 7;
export const WINDOW_UPDATE = 8;
export const CONTINUATION = 9;

/** Frame flags. */
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;

/** HTTP/2 error codes (RFC 9113 §7). */
export const NO_ERROR = 0;
export const PROTOCOL_ERROR = 1;
export const FLOW_CONTROL_ERROR = 3;
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

/** The name of an HTTP/2 error code (`ENHANCE_YOUR_CALM`), or its hex value when it has none. */
export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** A GOAWAY the server sent. */
export interface GoawayInfo {
  /** Its HTTP/2 error code. */
  readonly code: number;
  /** Its debug data (latin1), e.g. "too_many_pings". */
  readonly debug: string;
  /** The highest stream id the server may have processed; streams above it were not. */
  readonly lastStreamId: number;
}

/** The GOAWAY grpc-go servers (durabletask-go, daprd) send a client that pings more often than their policy allows. */
export function isTooManyPings(goaway: GoawayInfo | undefined): boolean {
  return goaway !== undefined && goaway.code === ENHANCE_YOUR_CALM && goaway.debug === "too_many_pings";
}

/** "ENHANCE_YOUR_CALM: too_many_pings", debug data cut to 200 printable characters. */
export function describeGoaway(goaway: GoawayInfo): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the server's bytes must not reach a log as control codes
  const debug = goaway.debug.slice(0, 200).replace(/[\x00-\x1f\x7f-\xff]/g, "?");
  const text = `${errorName(goaway.code)}${debug === "" ? "" : `: ${debug}`}`;
  return isTooManyPings(goaway) ? `${text}; the server allows fewer keepalive pings` : text;
}

/** Options of an H2Error beyond the standard `cause`. */
export interface H2ErrorOptions extends ErrorOptions {
  /** The server's GOAWAY that led to this error. */
  readonly goaway?: GoawayInfo | undefined;
}

/** Why a stream or a connection ended. `code` is an HTTP/2 error code. */
export class H2Error extends Error {
  /** The server's GOAWAY that led to this error, if one did. */
  readonly goaway: GoawayInfo | undefined;

  constructor(
    message: string,
    readonly code: number,
    /** The server did not process the request (GOAWAY past it, REFUSED_STREAM): it is safe to send again. */
    readonly refused = false,
    options?: H2ErrorOptions,
  ) {
    super(message, options);
    this.name = "H2Error";
    this.goaway = options?.goaway;
  }

  /** The server said GOAWAY ENHANCE_YOUR_CALM "too_many_pings": the next connection should ping half as often. */
  get tooManyPings(): boolean {
    return isTooManyPings(this.goaway);
  }
}

/**
 * `error` as an H2Error that names `goaway` (the server's reason for closing) when it does not yet, with the GOAWAY's
 * code unless it has one of its own; `refused` (when given) marks requests that never reached the server.
 */
export function withGoaway(error: Error, goaway: GoawayInfo | undefined, refused?: boolean): H2Error {
  const h2 = error instanceof H2Error ? error : undefined;
  const mark = refused ?? h2?.refused ?? false;
  const adds = goaway !== undefined && h2?.goaway === undefined;
  if (h2 !== undefined && !adds && h2.refused === mark) return h2;
  const code = h2?.code ?? NO_ERROR;
  const message = adds ? `${error.message} after the server's GOAWAY (${describeGoaway(goaway)})` : error.message;
  return new H2Error(message, adds && code === NO_ERROR ? goaway.code : code, mark, {
    cause: h2 === undefined ? error : h2.cause,
    goaway: adds ? goaway : h2?.goaway,
  });
}

/** The server (or peer) reset one stream with RST_STREAM; `code` is its HTTP/2 error code. */
export class H2StreamReset extends H2Error {
  constructor(code: number) {
    super(`stream closed with error code ${errorName(code)}`, code, code === REFUSED_STREAM);
    this.name = "H2StreamReset";
  }
}

/** Writes a 9-byte frame header at `offset`. */
export function frameHeader(
  buffer: Buffer,
  offset: number,
  length: number,
  type: number,
  flags: number,
  id: number,
): void {
  buffer[offset] = length >>> 16;
  buffer[offset + 1] = (length >>> 8) & 0xff;
  buffer[offset + 2] = length & 0xff;
  buffer[offset + 3] = type;
  buffer[offset + 4] = flags;
  buffer.writeUInt32BE(id, offset + 5);
}

/** WINDOW_UPDATE: `increment` more bytes of window for stream `id` (0: the connection). */
export function windowUpdateFrame(id: number, increment: number): Buffer {
  const frame = Buffer.allocUnsafe(13);
  frameHeader(frame, 0, 4, WINDOW_UPDATE, 0, id);
  frame.writeUInt32BE(increment, 9);
  return frame;
}

/** RST_STREAM: stream `id` ends with error `code`. */
export function rstStreamFrame(id: number, code: number): Buffer {
  const frame = Buffer.allocUnsafe(13);
  frameHeader(frame, 0, 4, RST_STREAM, 0, id);
  frame.writeUInt32BE(code, 9);
  return frame;
}

/** The 9-byte header of a DATA frame of `size` bytes, ending the stream when `end`. */
export function dataHead(id: number, size: number, end: boolean): Buffer {
  const head = Buffer.allocUnsafe(9);
  frameHeader(head, 0, size, DATA, end ? END_STREAM : 0, id);
  return head;
}

/** GOAWAY with our reason as debug data (at most 256 characters); the server opens no streams, so last id is 0. */
export function goawayFrame(code: number, message: string): Buffer {
  const debug = Buffer.from(message.slice(0, 256), "latin1");
  const frame = Buffer.allocUnsafe(17 + debug.length);
  frameHeader(frame, 0, 8 + debug.length, GOAWAY, 0, 0);
  frame.writeUInt32BE(0, 9);
  frame.writeUInt32BE(code, 13);
  debug.copy(frame, 17);
  return frame;
}

/** A PING, or with ACK the answer echoing `payload` (8 bytes). */
export function pingFrame(flags: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(17);
  frameHeader(frame, 0, 8, PING, flags, 0);
  payload.copy(frame, 9, 0, 8);
  return frame;
}

/**
 * A request's HEADERS (split into CONTINUATION frames beyond `maxFrame`), ending the stream when `empty` (no body),
 * followed by `body` as one DATA frame that ends it when given (it must fit the frame size and the windows).
 */
export function requestFrames(
  id: number,
  block: Buffer,
  body: Buffer | undefined,
  empty: boolean,
  maxFrame: number,
): Buffer {
  const endStream = empty ? END_STREAM : 0;
  if (block.length <= maxFrame) {
    const out = Buffer.allocUnsafe(9 + block.length + (body === undefined || empty ? 0 : 9 + body.length));
    frameHeader(out, 0, block.length, HEADERS, END_HEADERS | endStream, id);
    block.copy(out, 9);
    if (body !== undefined && !empty) {
      frameHeader(out, 9 + block.length, body.length, DATA, END_STREAM, id);
      body.copy(out, 18 + block.length);
    }
    return out;
  }
  const frames: Buffer[] = [];
  for (let offset = 0; offset < block.length; offset += maxFrame) {
    const part = block.subarray(offset, offset + maxFrame);
    const last = offset + maxFrame >= block.length ? END_HEADERS : 0;
    const head = Buffer.allocUnsafe(9);
    frameHeader(head, 0, part.length, offset === 0 ? HEADERS : CONTINUATION, last | (offset === 0 ? endStream : 0), id);
    frames.push(head, part);
  }
  if (body !== undefined && !empty) {
    const head = Buffer.allocUnsafe(9);
    frameHeader(head, 0, body.length, DATA, END_STREAM, id);
    frames.push(head, body);
  }
  return Buffer.concat(frames);
}
