// Request validation: what a client sends is checked before anything is stored, and refused with INVALID_ARGUMENT
// and a message that says what is wrong.
import type { Message } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseTraceParent } from "@dt/core";
import type { TraceContext } from "@dt/proto";

/** Instance ids longer than this (UTF-8 bytes) are refused. */
export const MAX_INSTANCE_ID_BYTES = 1024;
/** Workflow and event names longer than this (UTF-8 bytes) are refused. */
export const MAX_NAME_BYTES = 1024;

export function fail(code: Code, message: string): ConnectError {
  return new ConnectError(message, code);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused.
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkInstanceId(id: string, what = "instance ID"): void {
  if (id === "") throw fail(Code.InvalidArgument, `The ${what} is required.`);
  const bytes = Buffer.byteLength(id, "utf8");
  if (bytes > MAX_INSTANCE_ID_BYTES) {
    throw fail(Code.InvalidArgument, `The ${what} is ${bytes} bytes long; the limit is ${MAX_INSTANCE_ID_BYTES}.`);
  }
  if (CONTROL.test(id)) throw fail(Code.InvalidArgument, `The ${what} ${JSON.stringify(id)} has a control character.`);
}

export function checkName(name: string, what: string): void {
  if (name === "") throw fail(Code.InvalidArgument, `The ${what} is required.`);
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > MAX_NAME_BYTES) {
    throw fail(Code.InvalidArgument, `The ${what} is ${bytes} bytes long; the limit is ${MAX_NAME_BYTES}.`);
  }
}

const MIN_SECONDS = -62135596800n; // 0001-01-01T00:00:00Z
const MAX_SECONDS = 253402300799n; // 9999-12-31T23:59:59Z

export function checkTimestamp(ts: Timestamp | undefined, what: string): void {
  if (ts === undefined) return;
  if (ts.seconds < MIN_SECONDS || ts.seconds > MAX_SECONDS || ts.nanos < 0 || ts.nanos > 999_999_999) {
    throw fail(
      Code.InvalidArgument,
      `The ${what} is not a valid timestamp (seconds ${ts.seconds}, nanos ${ts.nanos}).`,
    );
  }
}

/** A W3C traceparent (or durabletask-go's legacy bare trace id with a span id), when present. */
export function checkTraceContext(tc: TraceContext | undefined): void {
  const traceParent = tc?.traceParent;
  if (traceParent === undefined || traceParent === "") return;
  if (parseTraceParent(traceParent) !== undefined) return;
  if (/^[0-9a-f]{32}$/.test(traceParent) && /^[0-9a-f]{16}$/.test(tc?.spanID ?? "")) return;
  throw fail(Code.InvalidArgument, `The trace context's traceparent ${JSON.stringify(traceParent)} is malformed.`);
}

/**
 * A bool field this proto version does not declare, read from the message's unknown fields (e.g. durabletask-go's
 * CreateInstanceRequest.enforceUniqueInstanceId = 10, newer than the proto this package is generated from).
 */
export function unknownBool(message: Message, fieldNo: number): boolean {
  const field = message.$unknown?.findLast((f) => f.no === fieldNo && f.wireType === 0);
  return field?.data.some((byte) => (byte & 0x7f) !== 0) === true;
}
