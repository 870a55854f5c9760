// ctx.newGuid(): deterministic UUIDv5, byte-compatible with the Dapr Python SDK's `new_guid`
// (uuid5(9e952958-…, f"{instance_id}_{current_utc_datetime.isoformat()}_{counter}")).
// Expected values were produced by CPython's `uuid.uuid5`; see seed_python.md §2.2.
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import type { HistoryEvent } from "@dt/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { WorkflowContext } from "./index.js";
import { defineWorkflow, executeWorkflow, history, replay } from "./index.js";
import { at, h, INSTANCE, kinds, registry, run, START, started } from "./testing/golden.js";
import { uuidV5 } from "./uuid.js";

const V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Golden values at abc123 @ 2020-01-01T12:00:00, counters 0, 1, 2. */
const G0 = "d201625a-bf91-5de9-ac50-56fdd12ee499";
const G1 = "aaa1fb15-9c1b-53af-8cab-762babdc6589";
const G2 = "19610921-6010-5403-a8bf-115e1984981d";

/** Runs one turn of a workflow that records `count` GUIDs, starting at the given WorkflowStarted event. */
function guidsAt(workflowStarted: HistoryEvent, count = 1, instanceId = INSTANCE): string[] {
  const guids: string[] = [];
  const reg = registry({
    g: (ctx: WorkflowContext) => {
      for (let i = 0; i < count; i++) guids.push(ctx.newGuid());
      return null;
    },
  });
  const newEvents = [workflowStarted, history.executionStarted("g", instanceId)];
  executeWorkflow({ instanceId, pastEvents: [], newEvents }, reg);
  return guids;
}

/** A WorkflowStarted event at START plus `nanos` nanoseconds (sub-millisecond precision a Date cannot carry). */
function startedWithNanos(nanos: number): HistoryEvent {
  const event = h.workflowStarted(START);
  event.timestamp = create(TimestampSchema, { seconds: BigInt(START.getTime() / 1000), nanos });
  return event;
}

describe("newGuid golden vectors (Dapr Python)", () => {
  it("abc123 @ 12:00:00 gives the three Python vectors for counters 0, 1, 2", () => {
    // python: deterministic.py new_guid; verified golden values
    expect(guidsAt(h.workflowStarted(START), 3)).toEqual([G0, G1, G2]);
  });

  it("12:00:00.500000 (a WorkflowStarted with 500 ms) gives e0f8e124-…", () => {
    // python: isoformat() prints microseconds when non-zero: 2020-01-01T12:00:00.500000
    expect(guidsAt(h.workflowStarted(new Date("2020-01-01T12:00:00.500Z")))).toEqual([
      "e0f8e124-cc94-5ef1-8e00-dc224534ffa4",
    ]);
  });

  it("microsecond precision comes from the timestamp's nanos (12:00:00.123456)", () => {
    // python: datetime(2020,1,1,12,0,0,123456).isoformat(); nanos below a microsecond are truncated
    expect(guidsAt(startedWithNanos(123_456_789))).toEqual(["c1ef2a01-14e6-580a-9176-f8a09d87c125"]);
  });

  it("a single microsecond is printed with six digits (12:00:00.000001)", () => {
    expect(guidsAt(startedWithNanos(1_000))).toEqual(["71bc91ca-2eee-5ac5-98e4-00560cddf95c"]);
  });

  it("less than a microsecond prints no fraction at all (same as whole seconds)", () => {
    expect(guidsAt(startedWithNanos(999))).toEqual([G0]);
  });

  it("a non-ASCII instance id is hashed as UTF-8 (including astral characters)", () => {
    // python: uuid.uuid5(ns, "wf-日本語-🚀_2020-01-01T12:00:00_0")
    const guids: string[] = [];
    const wf = defineWorkflow("g", (ctx) => {
      guids.push(ctx.newGuid());
      return null;
    });
    const report = replay([h.workflowStarted(START), h.executionStarted("g", "wf-日本語-🚀")], wf);
    expect(report.ok).toBe(true);
    expect(guids).toEqual(["37486a9a-d61b-5da5-bd03-2815b603f183"]);
  });
});

describe("newGuid counter", () => {
  it("callActivity consumes a tick: [newGuid(), callActivity(...), newGuid()] gives counters 0 and 2", () => {
    // python: verified in seed_python.md §2.2; the activity's taskExecutionId takes counter 1
    const seen: string[] = [];
    const reg = registry({
      g: function* (ctx: WorkflowContext) {
        seen.push(ctx.newGuid());
        const task = ctx.callActivity("work");
        seen.push(ctx.newGuid());
        yield task;
      },
    });
    const result = run(reg, [], started("g"));
    expect(seen).toEqual([G0, G2]);
    expect(kinds(result)).toEqual(["scheduleTask"]);
    const action = result.actions[0]?.workflowActionType;
    expect(action?.case === "scheduleTask" ? action.value.taskExecutionId : undefined).toBe(G1);
  });

  it("the counter restarts at 0 on every turn, so replaying gives identical values", () => {
    // python: the counter starts at 0 for each execution (replay)
    const seen: string[][] = [];
    let current: string[] = [];
    const reg = registry({
      g: function* (ctx: WorkflowContext) {
        current.push(ctx.newGuid());
        yield ctx.createTimer(10);
        current.push(ctx.newGuid());
        return current.length;
      },
    });
    const turn = (past: HistoryEvent[], events: HistoryEvent[]) => {
      current = [];
      const result = run(reg, past, events);
      seen.push(current);
      return result;
    };
    turn([], started("g"));
    turn([], started("g"));
    const past = [...started("g"), h.timerCreated(1, at(10))];
    turn(past, [h.workflowStarted(at(10)), h.timerFired(1, at(10))]);
    // Turn 1 twice: the same value. Turn 2 replays counter 0 at 12:00:00, then counter 1 at 12:00:10.
    expect(seen).toEqual([[G0], [G0], [G0, "ca598904-9462-5ea3-b226-ddd09e5a11f8"]]);
  });

  it("replay() reproduces the GUIDs a live turn produced", () => {
    const live: string[] = [];
    const replayed: string[] = [];
    let sink = live;
    const wf = defineWorkflow("g", (ctx) => {
      sink.push(ctx.newGuid(), ctx.newGuid());
      return null;
    });
    run(registry({ g: wf.run }), [], started("g"));
    sink = replayed;
    replay(started("g"), wf);
    expect(replayed).toEqual(live);
    expect(live).toEqual([G0, G1]);
  });

  it("every GUID is a version-5, RFC variant UUID and they are all distinct", () => {
    const guids = guidsAt(h.workflowStarted(START), 50);
    for (const guid of guids) expect(guid).toMatch(V5);
    expect(new Set(guids).size).toBe(50);
  });

  it("different instance ids give different GUIDs at the same time and counter", () => {
    const a = guidsAt(h.workflowStarted(START));
    const other = guidsAt(h.workflowStarted(START), 1, "abc124");
    expect(a).toEqual([G0]);
    expect(other).toHaveLength(1);
    expect(other[0]).toMatch(V5);
    expect(other[0]).not.toBe(G0);
  });
});

describe("uuidV5", () => {
  // RFC 9562 UUIDv5 computed with node:crypto (SHA-1 over the namespace bytes and the UTF-8 name).
  const reference = (namespace: string, name: string) => {
    const ns = Buffer.from(namespace.replaceAll("-", ""), "hex");
    const b = createHash("sha1")
      .update(Buffer.concat([ns, Buffer.from(name, "utf8")]))
      .digest()
      .subarray(0, 16);
    b[6] = ((b[6] as number) & 0x0f) | 0x50;
    b[8] = ((b[8] as number) & 0x3f) | 0x80;
    const hex = b.toString("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
  const ns = "9e952958-5e33-4daf-827f-2fa12937b875";

  it("matches SHA-1 from node:crypto for any well-formed name, of any length (one to many blocks)", () => {
    const v5 = uuidV5(ns);
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 300 }), (name) => {
        expect(v5(name)).toBe(reference(ns, name));
      }),
      { numRuns: 500 },
    );
    // Boundaries of the 64-byte blocks (with the 16 namespace bytes and 9 bytes of padding) and a long name.
    for (const n of [0, 38, 39, 40, 47, 48, 102, 103, 104, 1000, 5000])
      expect(v5("x".repeat(n))).toBe(reference(ns, "x".repeat(n)));
  });
});
