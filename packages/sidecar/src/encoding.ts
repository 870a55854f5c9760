// Protobuf encoding of what the sidecar sends and stores, with each history event encoded once in its lifetime.
// A turn's work item repeats the instance's history (or the part a stateful worker lacks), its size check covers all
// of it, and SqliteStore stores every event (inbox first, then history): all of these reuse one encoding per event
// object. Stored events are never mutated (StoreReader's rule), so an event's bytes never go stale; they are kept in
// a WeakMap, as long as the event object lives.
import { toBinary } from "@bufbuild/protobuf";
import {
  type HistoryEvent,
  HistoryEventSchema,
  type WorkflowRequest,
  WorkflowRequestSchema,
  type WorkItem,
  WorkItemSchema,
} from "@dt/proto";

const eventBytes = new WeakMap<HistoryEvent, Uint8Array>();

/** `toBinary(HistoryEventSchema, event)`, computed once per event object. Callers must not modify the bytes. */
export function encodedEvent(event: HistoryEvent): Uint8Array {
  let bytes = eventBytes.get(event);
  if (bytes === undefined) {
    bytes = toBinary(HistoryEventSchema, event);
    eventBytes.set(event, bytes);
  }
  return bytes;
}

function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) size++;
  return size;
}

/** Bytes of a length-delimited field numbered below 16: one tag byte, the varint length, the bytes. */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  let v = n;
  let i = at;
  while (v >= 0x80) {
    out[i++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[i++] = v;
  return i;
}

/** A length-delimited field (tag byte, length, UTF-8) into `out` at `at`; returns the next offset. */
function writeString(out: Buffer, at: number, tag: number, value: string, bytes: number): number {
  out[at] = tag;
  const i = writeVarint(out, at + 1, bytes);
  out.write(value, i, "utf8");
  return i + bytes;
}

const NOTHING = new Uint8Array(0);

/**
 * A WorkflowRequest's fields after its events (6 to 9, unknown ones): the usual case — nothing, or the stateful
 * history's cachedHistory — by hand, anything else through protobuf-es.
 */
function requestTail(request: WorkflowRequest): Uint8Array {
  const cached = request.cachedHistory;
  if (
    !request.requiresHistoryStreaming &&
    request.router === undefined &&
    request.propagatedHistory === undefined &&
    request.$unknown === undefined &&
    (cached === undefined || (cached.$unknown === undefined && cached.eventCount >= 0))
  ) {
    if (cached === undefined) return NOTHING;
    const count = cached.eventCount;
    const inner = count === 0 ? 0 : 1 + varintSize(count);
    const out = new Uint8Array(fieldSize(inner));
    out[0] = 0x4a; // field 9, length-delimited
    const at = writeVarint(out, 1, inner);
    if (count !== 0) {
      out[at] = 0x08; // CachedHistory.eventCount (1), varint
      writeVarint(out, at + 1, count);
    }
    return out;
  }
  return toBinary(WorkflowRequestSchema, {
    ...request,
    instanceId: "",
    executionId: undefined,
    pastEvents: [],
    newEvents: [],
  });
}

interface RequestLayout {
  readonly idBytes: number;
  readonly executionBytes: number | undefined;
  readonly tail: Uint8Array;
  /** The request's encoded size. */
  readonly size: number;
}

/** Sizes of a WorkflowRequest's parts: instanceId (1), executionId (2, a StringValue), the events (3, 4), the rest. */
function layout(request: WorkflowRequest): RequestLayout {
  const idBytes = Buffer.byteLength(request.instanceId, "utf8");
  const executionBytes = request.executionId === undefined ? undefined : Buffer.byteLength(request.executionId, "utf8");
  const tail = requestTail(request);
  let size = (idBytes === 0 ? 0 : fieldSize(idBytes)) + tail.length;
  if (executionBytes !== undefined) size += fieldSize(executionBytes === 0 ? 0 : fieldSize(executionBytes));
  for (const event of request.pastEvents) size += fieldSize(encodedEvent(event).length);
  for (const event of request.newEvents) size += fieldSize(encodedEvent(event).length);
  return { idBytes, executionBytes, tail, size };
}

/** `toBinary(WorkflowRequestSchema, request).length`, without encoding the history again on every turn. */
export function workflowRequestSize(request: WorkflowRequest): number {
  return layout(request).size;
}

/** `toBinary(WorkItemSchema, item)` (the same bytes), with each history event encoded once in its lifetime. */
export function encodeWorkItem(item: WorkItem): Uint8Array {
  if (item.request.case !== "workflowRequest") return toBinary(WorkItemSchema, item);
  const request = item.request.value;
  const { idBytes, executionBytes, tail, size } = layout(request);
  // The WorkItem's other fields: completionToken (10) by hand when it is the only one.
  const token = item.completionToken;
  const tokenBytes = Buffer.byteLength(token, "utf8");
  const rest =
    item.$unknown === undefined ? undefined : toBinary(WorkItemSchema, { ...item, request: { case: undefined } });
  const restSize = rest?.length ?? (tokenBytes === 0 ? 0 : fieldSize(tokenBytes));
  const out = Buffer.allocUnsafe(fieldSize(size) + restSize);
  out[0] = 0x0a; // WorkItem.workflowRequest (1), length-delimited
  let at = writeVarint(out, 1, size);
  if (idBytes !== 0) at = writeString(out, at, 0x0a, request.instanceId, idBytes); // instanceId (1)
  if (executionBytes !== undefined) {
    out[at++] = 0x12; // executionId (2): a StringValue holding the string as its field 1
    at = writeVarint(out, at, executionBytes === 0 ? 0 : fieldSize(executionBytes));
    if (executionBytes !== 0) at = writeString(out, at, 0x0a, request.executionId ?? "", executionBytes);
  }
  for (const [tag, events] of [
    [0x1a, request.pastEvents], // pastEvents (3)
    [0x22, request.newEvents], // newEvents (4)
  ] as const) {
    for (const event of events) {
      const bytes = encodedEvent(event);
      out[at++] = tag;
      at = writeVarint(out, at, bytes.length);
      out.set(bytes, at);
      at += bytes.length;
    }
  }
  out.set(tail, at);
  at += tail.length;
  if (rest !== undefined) out.set(rest, at);
  else if (tokenBytes !== 0) writeString(out, at, 0x52, token, tokenBytes); // completionToken (10)
  return out;
}
