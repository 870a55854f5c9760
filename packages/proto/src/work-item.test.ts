import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HistoryEventSchema, type WorkItem, WorkItemSchema } from "./index.js";
import { decodeWorkItemShallow } from "./work-item.js";

const event = (eventId: number, name: string) =>
  create(HistoryEventSchema, {
    eventId,
    timestamp: { seconds: BigInt(1_700_000_000 + eventId), nanos: eventId },
    eventType: { case: "taskScheduled", value: { name, input: `"${name}"`, taskExecutionId: `t-${eventId}` } },
  });

function workflowItem(past: number, fresh: number): WorkItem {
  return create(WorkItemSchema, {
    completionToken: "token-1",
    request: {
      case: "workflowRequest",
      value: {
        instanceId: "i-1",
        executionId: "e-1",
        pastEvents: Array.from({ length: past }, (_, i) => event(i, `a${i}`)),
        newEvents: Array.from({ length: fresh }, (_, i) => event(past + i, `n${i}`)),
        requiresHistoryStreaming: true,
      },
    },
  });
}

/** The shallow decoding with its past events decoded afterwards: must equal the plain decoding. */
function roundTrip(bytes: Uint8Array): WorkItem {
  const { item, pastEvents } = decodeWorkItemShallow(bytes);
  if (pastEvents !== undefined && item.request.case === "workflowRequest")
    item.request.value.pastEvents = pastEvents.map((b) => fromBinary(HistoryEventSchema, b));
  return item;
}

describe("decodeWorkItemShallow", () => {
  it.each([
    [0, 1],
    [1, 1],
    [250, 3],
  ])("keeps %i past events encoded and decodes everything else (%i new)", (past, fresh) => {
    const bytes = toBinary(WorkItemSchema, workflowItem(past, fresh));
    const { item, pastEvents } = decodeWorkItemShallow(bytes);
    expect(pastEvents).toHaveLength(past);
    expect(item.request.case === "workflowRequest" && item.request.value.pastEvents).toEqual([]);
    expect(item.request.case === "workflowRequest" && item.request.value.newEvents).toHaveLength(fresh);
    expect(roundTrip(bytes)).toEqual(fromBinary(WorkItemSchema, bytes));
  });

  it("decodes other work items as they are", () => {
    const activity = create(WorkItemSchema, {
      completionToken: "t",
      request: { case: "activityRequest", value: { name: "a", taskId: 3 } },
    });
    const bytes = toBinary(WorkItemSchema, activity);
    expect(decodeWorkItemShallow(bytes)).toEqual({ item: fromBinary(WorkItemSchema, bytes), pastEvents: undefined });
  });

  it("follows protobuf's rules for a request sent in pieces or along with another kind", () => {
    const whole = toBinary(WorkItemSchema, workflowItem(3, 1));
    // The same request as two occurrences of field 1: a decoder merges them (repeated fields append).
    const a = toBinary(WorkItemSchema, workflowItem(2, 0));
    const b = toBinary(
      WorkItemSchema,
      create(WorkItemSchema, {
        request: { case: "workflowRequest", value: { pastEvents: [event(2, "a2")], newEvents: [event(3, "n0")] } },
      }),
    );
    const pieces = new Uint8Array([...a, ...b]);
    expect(roundTrip(pieces)).toEqual(fromBinary(WorkItemSchema, pieces));
    expect(fromBinary(WorkItemSchema, pieces).request.value).toBeDefined();
    // A workflow request followed by an activity request: the oneof's last member wins.
    const activity = toBinary(
      WorkItemSchema,
      create(WorkItemSchema, { request: { case: "activityRequest", value: { name: "x" } } }),
    );
    const both = new Uint8Array([...whole, ...activity]);
    expect(roundTrip(both)).toEqual(fromBinary(WorkItemSchema, both));
    expect(roundTrip(both).request.case).toBe("activityRequest");
  });

  it("rejects truncated bytes like fromBinary does", () => {
    const bytes = toBinary(WorkItemSchema, workflowItem(5, 1));
    expect(() => decodeWorkItemShallow(bytes.subarray(0, bytes.length - 7))).toThrow();
  });
});
