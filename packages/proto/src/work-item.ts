// A work item decoded without its workflow's past events. The sidecar sends a workflow's whole history with every
// turn, so decoding all of it costs O(n) per turn and O(n²) per workflow (~0.8 µs per event); a worker that keeps the
// execution live between turns already holds the events it processed and needs to decode only the ones after them.
import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { WorkflowRequestSchema, type WorkItem, WorkItemSchema } from "./gen/orchestrator_service_pb.js";

const WORK_ITEM_WORKFLOW_REQUEST = 1;
const WORKFLOW_REQUEST_PAST_EVENTS = 3;

export interface ShallowWorkItem {
  /** The work item; a workflow request's `pastEvents` is empty when `pastEvents` below is set. */
  readonly item: WorkItem;
  /** The workflow request's past events, each still encoded (decode with `HistoryEventSchema`). */
  readonly pastEvents: readonly Uint8Array[] | undefined;
}

/** Decodes a `WorkItem` but leaves a workflow request's past events encoded. Throws what `fromBinary` throws. */
export function decodeWorkItemShallow(bytes: Uint8Array): ShallowWorkItem {
  const outer = splitField(bytes, WORK_ITEM_WORKFLOW_REQUEST);
  const item = fromBinary(WorkItemSchema, outer.rest);
  if (outer.values.length === 0) return { item, pastEvents: undefined }; // `rest` was the whole message
  // Sent along with another request kind (the oneof's last member wins): the plain decoder decides.
  if (item.request.case !== undefined) return { item: fromBinary(WorkItemSchema, bytes), pastEvents: undefined };
  // Repeated occurrences of a message field merge, which for encoded messages is concatenation.
  const inner = splitField(join(outer.values), WORKFLOW_REQUEST_PAST_EVENTS);
  item.request = { case: "workflowRequest", value: fromBinary(WorkflowRequestSchema, inner.rest) };
  return { item, pastEvents: inner.values };
}

/** The length-delimited occurrences of field `field` in an encoded message, and the message without them. */
function splitField(bytes: Uint8Array, field: number): { rest: Uint8Array; values: Uint8Array[] } {
  const reader = new BinaryReader(bytes);
  const values: Uint8Array[] = [];
  const kept: Uint8Array[] = [];
  let keptFrom = 0;
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === field && wireType === WireType.LengthDelimited) {
      if (start > keptFrom) kept.push(bytes.subarray(keptFrom, start));
      values.push(reader.bytes());
      keptFrom = reader.pos;
    } else reader.skip(wireType, fieldNo);
  }
  if (keptFrom < bytes.length) kept.push(bytes.subarray(keptFrom));
  return { rest: join(kept), values };
}

function join(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
