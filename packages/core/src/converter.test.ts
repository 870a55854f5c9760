// Payload conversion: jsonConverter, absent/empty/null payloads, the Python auto-object marker, and custom
// DataConverters plugged into executeWorkflow, executeActivity and replay.
import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import {
  type DataConverter,
  defineWorkflow,
  executeActivity,
  jsonConverter,
  Registry,
  replay,
  type WorkflowContext,
  type WorkflowGenerator,
  type WorkflowResult,
} from "./index.js";
import { at, h, INSTANCE, onlyCompletion, registry, run, START, started } from "./testing/golden.js";

const MARKER = "__durabletask_autoobject__";

function action<C extends string>(result: WorkflowResult, kind: C) {
  const found = result.actions.find((a) => a.workflowActionType.case === kind);
  expect(found, `an action of kind ${kind}`).toBeDefined();
  return found?.workflowActionType.value as Record<string, unknown>;
}

/** Values travel as `~` + JSON, so a test can tell which converter produced or read a payload. */
function tildeConverter(): DataConverter & { read: string[]; written: unknown[] } {
  const read: string[] = [];
  const written: unknown[] = [];
  return {
    read,
    written,
    serialize(value) {
      written.push(value);
      return value === undefined ? undefined : `~${JSON.stringify(value)}`;
    },
    deserialize(text) {
      read.push(text);
      if (!text.startsWith("~")) throw new Error(`not a ~ payload: ${text}`);
      return JSON.parse(text.slice(1));
    },
  };
}

describe("jsonConverter", () => {
  it.each([
    ["a string", "Hello, 世界!", '"Hello, 世界!"'],
    ["zero", 0, "0"],
    ["false", false, "false"],
    ["the empty string", "", '""'],
    ["null", null, "null"],
    ["an object (compact)", { a: [1, 2], b: { c: "d" } }, '{"a":[1,2],"b":{"c":"d"}}'],
    ["an array", [0, 1, 2], "[0,1,2]"],
  ])("round-trips %s", (_what, value, wire) => {
    expect(jsonConverter.serialize(value)).toBe(wire);
    expect(jsonConverter.deserialize(wire)).toEqual(value);
  });

  it("serializes undefined as no payload at all (distinct from null)", () => {
    expect(jsonConverter.serialize(undefined)).toBeUndefined();
    expect(jsonConverter.serialize(null)).toBe("null");
  });

  it("throws on text that is not JSON", () => {
    expect(() => jsonConverter.deserialize("{oops")).toThrow(SyntaxError);
  });
});

describe("Python __durabletask_autoobject__ payloads", () => {
  // python: shared.py AUTO_SERIALIZED (dataclasses, namedtuples and SimpleNamespaces carry the marker)
  it("drops the marker of a top-level dataclass", () => {
    expect(jsonConverter.deserialize(`{"name": "Ada", "age": 36, "${MARKER}": true}`)).toEqual({
      name: "Ada",
      age: 36,
    });
  });

  it("drops the marker of each dataclass in a list", () => {
    const text = `[{"sku": "a", "${MARKER}": true}, {"sku": "b", "${MARKER}": true}]`;
    expect(jsonConverter.deserialize(text)).toEqual([{ sku: "a" }, { sku: "b" }]);
  });

  it("drops the marker at any depth and keeps everything else", () => {
    const text = `{"order": {"lines": [{"item": {"id": 1, "${MARKER}": true}, "${MARKER}": true}], "${MARKER}": true}}`;
    expect(jsonConverter.deserialize(text)).toEqual({ order: { lines: [{ item: { id: 1 } }] } });
  });

  it("keeps the marker text when it is a value, not a key", () => {
    expect(jsonConverter.deserialize(`{"note": "${MARKER}"}`)).toEqual({ note: MARKER });
  });

  it("reaches a workflow's input and an activity result without the marker", () => {
    // python: human_interaction.py sends a namedtuple Approval(approver) as data
    const seen: unknown[] = [];
    const reg = registry({
      w: function* (ctx: WorkflowContext, input: unknown) {
        seen.push(input);
        seen.push(yield ctx.callActivity("lookup"));
        return seen;
      },
    });
    const input = `{"customer": "c1", "${MARKER}": true}`;
    const past = [h.workflowStarted(START), h.executionStarted("w", INSTANCE, input), h.taskScheduled(1, "lookup")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(1, `{"price": 5, "${MARKER}": true}`)]));
    expect(seen).toEqual([{ customer: "c1" }, { price: 5 }]);
    expect(done.result).toBe('[{"customer":"c1"},{"price":5}]');
  });

  it("reaches an activity's input without the marker", async () => {
    let received: unknown;
    const reg = new Registry().addActivity(
      (_ctx, input: unknown) => {
        received = input;
      },
      { name: "a" },
    );
    await executeActivity({ name: "a", taskId: 1, taskExecutionId: "", input: `{"x": 1, "${MARKER}": true}` }, reg);
    expect(received).toEqual({ x: 1 });
  });
});

describe("absent, empty and null payloads", () => {
  it("absent and empty inputs are undefined, 'null' is null", () => {
    const inputs: unknown[] = [];
    const reg = registry({
      w: (_ctx: WorkflowContext, input: unknown) => {
        inputs.push(input);
        return null;
      },
    });
    for (const input of [undefined, "", "null"]) {
      run(reg, [], [h.workflowStarted(START), h.executionStarted("w", INSTANCE, input)]);
    }
    expect(inputs).toEqual([undefined, undefined, null]);
  });

  it("activity results: absent and empty are undefined, 'null' is null", () => {
    const results: unknown[] = [];
    const reg = registry({
      w: function* (ctx: WorkflowContext) {
        results.push(yield ctx.callActivity("a"), yield ctx.callActivity("b"), yield ctx.callActivity("c"));
        return null;
      },
    });
    const past = [
      ...started("w"),
      h.taskScheduled(1, "a"),
      h.workflowStarted(at(1)),
      h.taskCompleted(1),
      h.taskScheduled(2, "b"),
      h.workflowStarted(at(2)),
      h.taskCompleted(2, ""),
      h.taskScheduled(3, "c"),
    ];
    run(reg, past, [h.workflowStarted(at(3)), h.taskCompleted(3, "null")]);
    expect(results).toEqual([undefined, undefined, null]);
  });

  it("a workflow returning undefined completes with no result; null completes with 'null'", () => {
    const none = onlyCompletion(run(registry({ w: () => undefined }), [], started("w")));
    const nil = onlyCompletion(run(registry({ w: () => null }), [], started("w")));
    expect(none.result).toBeUndefined();
    expect(nil.result).toBe("null");
  });
});

describe("a custom DataConverter", () => {
  it("decodes the workflow input and encodes activity inputs and custom status", () => {
    const converter = tildeConverter();
    const reg = registry({
      w: function* (ctx: WorkflowContext, input: { stage: string }) {
        ctx.setCustomStatus({ stage: input.stage });
        yield ctx.callActivity("a", { input: { n: 1 } });
      },
    });
    const events = [h.workflowStarted(START), h.executionStarted("w", INSTANCE, '~{"stage":"one"}')];
    const result = run(reg, [], events, { converter });
    expect(converter.read).toEqual(['~{"stage":"one"}']);
    expect(action(result, "scheduleTask")["input"]).toBe('~{"n":1}');
    expect(result.customStatus).toBe('~{"stage":"one"}');
  });

  it("stores a string custom status raw, without the converter", () => {
    const converter = tildeConverter();
    const reg = registry({
      w: (ctx: WorkflowContext) => {
        ctx.setCustomStatus("waiting");
        return 1;
      },
    });
    expect(run(reg, [], started("w"), { converter }).customStatus).toBe("waiting");
  });

  it("decodes activity results and event data and encodes sendEvent data and the result", () => {
    const converter = tildeConverter();
    const reg = registry({
      w: function* (ctx: WorkflowContext): WorkflowGenerator {
        const r = yield ctx.callActivity("a");
        const e = yield ctx.waitForExternalEvent("go");
        ctx.sendEvent("other", "ping", { p: 1 });
        return { r, e };
      },
    });
    const past = [
      h.workflowStarted(START),
      h.executionStarted("w", INSTANCE),
      h.taskScheduled(1, "a"),
      h.workflowStarted(at(1)),
      h.taskCompleted(1, '~"res"'),
      h.indefiniteTimerCreated(2, "go"),
    ];
    const result = run(reg, past, [h.workflowStarted(at(2)), h.eventRaised("go", '~{"e":true}')], { converter });
    expect(converter.read).toEqual(['~"res"', '~{"e":true}']);
    expect(action(result, "sendEvent")["data"]).toBe('~{"p":1}');
    const done = action(result, "completeWorkflow");
    expect(done["workflowStatus"]).toBe(OrchestrationStatus.COMPLETED);
    expect(done["result"]).toBe('~{"r":"res","e":{"e":true}}');
  });

  it("encodes child workflow inputs and the continue-as-new input", () => {
    const converter = tildeConverter();
    const child = registry({
      w: function* (ctx: WorkflowContext) {
        yield ctx.callSubOrchestrator("child", { input: [1] });
      },
    });
    expect(action(run(child, [], started("w"), { converter }), "createChildWorkflow")["input"]).toBe("~[1]");
    const restart = registry({
      w: (ctx: WorkflowContext) => {
        ctx.continueAsNew({ round: 2 });
      },
    });
    const done = onlyCompletion(run(restart, [], started("w"), { converter }));
    expect(done.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    expect(done.result).toBe('~{"round":2}');
  });

  it("is never asked to decode an absent or empty payload", () => {
    const converter = tildeConverter();
    const reg = registry({
      w: function* (ctx: WorkflowContext, input: unknown): WorkflowGenerator {
        return [input, yield ctx.callActivity("a")];
      },
    });
    const past = [h.workflowStarted(START), h.executionStarted("w", INSTANCE, ""), h.taskScheduled(1, "a")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(1)], { converter }));
    expect(converter.read).toEqual([]);
    expect(done.result).toBe("~[null,null]");
  });

  it("a payload the converter cannot read fails the workflow with a SerializationError", () => {
    const converter = tildeConverter();
    const reg = registry({ w: (_ctx: WorkflowContext, input: unknown) => input });
    const events = [h.workflowStarted(START), h.executionStarted("w", INSTANCE, '{"plain":"json"}')];
    const done = onlyCompletion(run(reg, [], events, { converter }));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("SerializationError");
  });

  it("is used by executeActivity for the input and the result", async () => {
    const converter = tildeConverter();
    const reg = new Registry().addActivity((_ctx, n: number) => ({ twice: n * 2 }), { name: "double" });
    const result = await executeActivity({ name: "double", taskId: 1, taskExecutionId: "", input: "~21" }, reg, {
      converter,
    });
    expect(converter.read).toEqual(["~21"]);
    expect(result).toEqual({ result: '~{"twice":42}', failureDetails: undefined });
  });

  it("is used by replay() to compare a recorded result", () => {
    const converter = tildeConverter();
    const wf = defineWorkflow("w", (_ctx, input: number) => input + 1);
    const events = [
      h.workflowStarted(START),
      h.executionStarted("w", INSTANCE, "~1"),
      h.executionCompleted(1, OrchestrationStatus.COMPLETED, "~2"),
    ];
    const report = replay(events, wf, { converter });
    expect(report.ok).toBe(true);
    expect(report.result).toBe("~2");
  });
});
