// Regression tests for engine bugs found in peer SDKs, one per bug, each named after the issue it guards:
// - DJS: @dapr/durabletask-js 1.0.0 (ts_peers.md §2.3)
// - MS#n: @microsoft/durabletask-js CHANGELOG fixes (ts_peers.md §2.9)
// - PY§6: quirks of the Dapr Python SDK's HEAD (seed_python.md §6 "Behavioural bugs and quirks", §3.7)
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { HistoryEventSchema, OrchestrationStatus } from "@dt/proto";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WorkflowContext } from "../context.js";
import { defineActivity, defineWorkflow } from "../definitions.js";
import type { WorkflowResult } from "../engine.js";
import { type DurableTaskError, InvalidArgumentError, type TaskFailedError } from "../errors.js";
import type { Logger } from "../logger.js";
import { Registry } from "../registry.js";
import { RetryPolicy, type RetryPolicyOptions } from "../retry.js";
import { whenAll, whenAny } from "../task.js";
import { action, at, h, INSTANCE, kinds, onlyCompletion, registry, run, started } from "../testing/golden.js";

const fireAtIso = (result: WorkflowResult, index: number) => {
  const ts = action(result, index, "createTimer").fireAt;
  return ts === undefined ? undefined : timestampDate(ts).toISOString();
};

const carried = (done: ReturnType<typeof onlyCompletion>) =>
  done.carryoverEvents.map((e) =>
    e.eventType.case === "eventRaised" ? [e.eventType.value.name, e.eventType.value.input] : [e.eventType.case],
  );

/** A workflow that awaits one activity and returns its result. */
const oneActivity = function* (ctx: WorkflowContext) {
  return yield* ctx.callActivity("act");
};

// ---------------------------------------------------------------------------------------------------------------

describe("@dapr/durabletask-js 1.0.0 engine bugs (ts_peers.md §2.3)", () => {
  it("DJS createTimer(seconds) used Date.now (MS#146): fireAt = the turn's time + the duration", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.createTimer(5);
        yield* ctx.callActivity("act");
        yield ctx.createTimer({ minutes: 2 });
      },
    });
    const t1 = run(reg, [], started("wf"));
    expect(fireAtIso(t1, 0)).toBe(at(5).toISOString());
    // A later turn: the time comes from that turn's WorkflowStarted, also while replaying the first timer.
    const past = [
      ...started("wf"),
      h.timerCreated(1, at(5)),
      h.workflowStarted(at(5)),
      h.timerFired(1, at(5)),
      h.taskScheduled(2, "act"),
    ];
    const t3 = run(reg, past, [h.workflowStarted(at(100)), h.taskCompleted(2)]);
    expect(kinds(t3)).toEqual(["createTimer"]);
    expect(fireAtIso(t3, 0)).toBe(at(220).toISOString());
  });

  it("DJS / dapr/js-sdk#708 a workflow exception is reported in failureDetails, not in result", () => {
    const reg = registry({
      wf: () => {
        throw new Error("bad input");
      },
    });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.result).toBeUndefined();
    expect(done.failureDetails?.errorType).toBe("Error");
    expect(done.failureDetails?.errorMessage).toBe("bad input");
    expect(done.failureDetails?.stackTrace).toContain("bad input");
  });

  it("DJS newFailureDetails assumed e.stack: throwing a string fails cleanly", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.createTimer(1);
        throw "plain string";
      },
    });
    const past = [...started("wf"), h.timerCreated(1, at(1))];
    const done = onlyCompletion(run(reg, past, [h.timerFired(1, at(1))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("string");
    expect(done.failureDetails?.errorMessage).toBe("plain string");
  });

  it("DJS throwing other non-Error values (object, null, undefined) fails cleanly too", () => {
    for (const [value, errorType] of [
      [{ code: 7 }, "object"],
      [null, "null"],
      [undefined, "undefined"],
    ] as const) {
      const reg = registry({
        wf: () => {
          throw value;
        },
      });
      const done = onlyCompletion(run(reg, [], started("wf")));
      expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
      expect(done.failureDetails?.errorType).toBe(errorType);
    }
  });

  it("DJS / MS#280 StringValue.toString: inputs, results and custom status are the raw payload strings", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext, input: { city: string }) {
        ctx.setCustomStatus(`working on ${input.city}`);
        return yield* ctx.callActivity("act", { input: input.city });
      },
    });
    const t1 = run(reg, [], started("wf", { city: "Tokyo" }));
    expect(action(t1, 0, "scheduleTask").input).toBe('"Tokyo"');
    expect(t1.customStatus).toBe("working on Tokyo");
    const past = [...started("wf", { city: "Tokyo" }), h.taskScheduled(1, "act", '"Tokyo"')];
    const done = run(reg, past, [h.taskCompleted(1, '{"ok":true}')]);
    expect(onlyCompletion(done).result).toBe('{"ok":true}');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("MS CHANGELOG regressions (ts_peers.md §2.9): serialization", () => {
  const falsy = [0, false, "", null] as const;
  const falsyWire = ["0", "false", '""', "null"];

  it("MS#138 falsy activity and child results are preserved", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const acts = falsy.map(() => ctx.callActivity("act"));
        const child = ctx.callChildWorkflow("child");
        return yield* whenAll([...acts, child]);
      },
    });
    const past = [
      ...started("wf"),
      ...falsy.map((_, i) => h.taskScheduled(i + 1, "act")),
      h.childWorkflowCreated(5, "child", "abc123:0005"),
    ];
    const events = [...falsyWire.map((w, i) => h.taskCompleted(i + 1, w)), h.childWorkflowCompleted(5, "0")];
    expect(onlyCompletion(run(reg, past, events)).result).toBe('[0,false,"",null,0]');
  });

  it("MS#138 falsy workflow inputs reach the code", () => {
    for (const value of falsy) {
      const reg = registry({ wf: (_ctx: WorkflowContext, input: unknown) => [input, typeof input] });
      expect(onlyCompletion(run(reg, [], started("wf", value))).result).toBe(JSON.stringify([value, typeof value]));
    }
  });

  it("MS#138 falsy activity/child inputs and sendEvent data are sent", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        for (const value of falsy) ctx.callActivity("act", { input: value });
        ctx.callChildWorkflow("child", { input: 0 });
        ctx.sendEvent("other", "evt", false);
        yield ctx.createTimer(1);
      },
    });
    const t1 = run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual([
      "scheduleTask",
      "scheduleTask",
      "scheduleTask",
      "scheduleTask",
      "createChildWorkflow",
      "sendEvent",
      "createTimer",
    ]);
    expect([0, 1, 2, 3].map((i) => action(t1, i, "scheduleTask").input)).toEqual(falsyWire);
    expect(action(t1, 4, "createChildWorkflow").input).toBe("0");
    expect(action(t1, 5, "sendEvent").data).toBe("false");
  });

  it("MS#138 / PY§6 falsy external event payloads are preserved (buffered and awaited)", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const first = yield* ctx.waitForExternalEvent("e");
        const rest = yield* whenAll([
          ctx.waitForExternalEvent("e"),
          ctx.waitForExternalEvent("e"),
          ctx.waitForExternalEvent("e"),
        ]);
        return [first, ...rest];
      },
    });
    // The first event is awaited (its timer is in history); the other three were buffered in the same batch.
    const past = [...started("wf"), h.indefiniteTimerCreated(1, "e")];
    const events = falsyWire.map((w) => h.eventRaised("e", w));
    expect(onlyCompletion(run(reg, past, events)).result).toBe('[0,false,"",null]');
  });

  it("MS#138 falsy custom status values are kept", () => {
    for (const [value, wire] of [
      [0, "0"],
      [false, "false"],
      ["", ""],
      [null, "null"],
    ] as const) {
      const reg = registry({
        wf: function* (ctx: WorkflowContext) {
          ctx.setCustomStatus(value);
          yield ctx.createTimer(1);
        },
      });
      expect(run(reg, [], started("wf")).customStatus).toBe(wire);
    }
  });

  it("MS#138 / PY§6 falsy continue-as-new input and falsy carry-over events are kept", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.createTimer(1);
        ctx.continueAsNew(0, { saveEvents: true });
      },
    });
    const past = [...started("wf"), ...falsyWire.map((w) => h.eventRaised("e", w)), h.timerCreated(1, at(1))];
    const done = onlyCompletion(run(reg, past, [h.timerFired(1, at(1))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    expect(done.result).toBe("0");
    expect(carried(done)).toEqual(falsyWire.map((w) => ["e", w]));
  });

  it("PY§6 falsy terminate data is the result", () => {
    for (const wire of ["0", "false", '""', ""]) {
      const reg = registry({ wf: oneActivity });
      const past = [...started("wf"), h.taskScheduled(1, "act")];
      const done = onlyCompletion(run(reg, past, [h.executionTerminated(wire)]));
      expect(done.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
      expect(done.result).toBe(wire);
    }
  });

  it("MS#195 custom status is serialized when set (later mutation does not leak; bad values throw at the call)", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const status = { step: 1 };
        ctx.setCustomStatus(status);
        status.step = 2;
        let error = "";
        try {
          ctx.setCustomStatus({ big: 1n });
        } catch (e) {
          error = (e as DurableTaskError).code;
        }
        yield ctx.createTimer(1);
        return error;
      },
    });
    const t1 = run(reg, [], started("wf"));
    expect(t1.customStatus).toBe('{"step":1}');
    const done = onlyCompletion(run(reg, [...started("wf"), h.timerCreated(1, at(1))], [h.timerFired(1, at(1))]));
    expect(done.result).toBe('"SERIALIZATION_FAILED"');
  });

  it("MS#261/#265 events without timestamps fall back to the epoch (no crash)", () => {
    const bare = create(HistoryEventSchema, {
      eventId: -1,
      eventType: { case: "executionStarted", value: { name: "wf", workflowInstance: { instanceId: INSTANCE } } },
    });
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        ctx.setCustomStatus(ctx.currentUtcDateTime.toISOString());
        ctx.newGuid();
        yield ctx.createTimer(5);
      },
    });
    const t1 = run(reg, [], [bare]);
    expect(t1.customStatus).toBe("1970-01-01T00:00:00.000Z");
    expect(fireAtIso(t1, 0)).toBe("1970-01-01T00:00:05.000Z");
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("MS CHANGELOG regressions (ts_peers.md §2.9): tasks and composites", () => {
  it("MS#118 whenAll([]) completes", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const none = yield* ctx.whenAll([]);
        const one = yield* ctx.callActivity("act");
        return [none, one];
      },
    });
    const t1 = run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["scheduleTask"]);
    const done = onlyCompletion(run(reg, [...started("wf"), h.taskScheduled(1, "act")], [h.taskCompleted(1, "1")]));
    expect(done.result).toBe("[[],1]");
  });

  it("MS#123 a sibling completing after a whenAll failure does not crash (same batch and later turn)", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = ctx.callActivity("a");
        const b = ctx.callActivity("b");
        try {
          yield* whenAll([a, b]);
        } catch (error) {
          return { caught: (error as TaskFailedError).taskName, b: b.getResult() };
        }
        return "no error";
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    // Same batch.
    const same = onlyCompletion(run(reg, past, [h.taskFailed(1, new Error("x")), h.taskCompleted(2, '"late"')]));
    expect(same.result).toBe('{"caught":"a","b":"late"}');
    // Later turn: nothing happens until the sibling settles, then no crash either.
    const failed = [h.taskFailed(1, new Error("x"))];
    expect(run(reg, past, failed).actions).toEqual([]);
    const later = onlyCompletion(
      run(reg, [...past, ...failed], [h.workflowStarted(at(9)), h.taskCompleted(2, '"late"')]),
    );
    expect(later.result).toBe('{"caught":"a","b":"late"}');
  });

  it("MS#143 whenAll built after some children completed still completes (no counter reset)", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const tasks = [ctx.callActivity("act"), ctx.callActivity("act"), ctx.callActivity("act")];
        yield* whenAny(tasks);
        yield ctx.createTimer(1);
        return yield* whenAll(tasks);
      },
    });
    const past = [
      ...started("wf"),
      h.taskScheduled(1, "act"),
      h.taskScheduled(2, "act"),
      h.taskScheduled(3, "act"),
      h.taskCompleted(2, "2"),
      h.timerCreated(4, at(1)),
      h.taskCompleted(1, "1"),
      h.timerFired(4, at(1)),
    ];
    expect(onlyCompletion(run(reg, past, [h.taskCompleted(3, "3")])).result).toBe("[1,2,3]");
  });

  it("MS#150 a composite notifies its parent: whenAny([whenAll([a, b]), timer]) resolves when a and b do", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const both = whenAll([ctx.callActivity("a"), ctx.callActivity("b")]);
        const timeout = ctx.createTimer(60);
        const winner = yield* whenAny([both, timeout]);
        return winner === both ? both.getResult() : "timeout";
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b"), h.timerCreated(3, at(60))];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(2, '"B"'), h.taskCompleted(1, '"A"')]));
    expect(done.result).toBe('["A","B"]');
  });

  it("MS (unnumbered) an already complete first yield is resumed: whenAll([]) and a timeout-0 wait", () => {
    const timeout0 = registry({
      wf: function* (ctx: WorkflowContext) {
        try {
          yield* ctx.waitForExternalEvent("never", { timeout: 0 });
          return "received";
        } catch (error) {
          return (error as DurableTaskError).code;
        }
      },
    });
    const done = onlyCompletion(run(timeout0, [], started("wf")));
    expect(done.result).toBe('"WORKFLOW_TIMEOUT"');
    expect(done.id).toBe(1); // no timer was created
    const empty = registry({
      wf: function* () {
        yield whenAll([]);
        return "drained";
      },
    });
    expect(onlyCompletion(run(empty, [], started("wf"))).result).toBe('"drained"');
  });

  it("MS#164 a non-Task first yield fails the workflow with InvalidArgumentError", () => {
    for (const [value, described] of [
      [42, "a number"],
      [undefined, "undefined"],
      [Promise.resolve(1), "a Promise"],
    ] as const) {
      const reg = registry({
        wf: function* () {
          yield value as never;
          return "unreachable";
        },
      });
      const done = onlyCompletion(run(reg, [], started("wf")));
      expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
      expect(done.failureDetails?.errorType).toBe("InvalidArgumentError");
      expect(done.failureDetails?.errorMessage).toContain(described);
    }
  });

  it("MS#163 a non-Task yield after a caught failure fails with InvalidArgumentError", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        try {
          yield* ctx.callActivity("act");
        } catch {
          yield "fallback" as never;
        }
        return "unreachable";
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "act")];
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, new Error("boom"))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("InvalidArgumentError");
    expect(done.failureDetails?.errorMessage).toContain("a string");
  });

  it("MS#267 no duplicate completion actions: continueAsNew then throw, or an unserializable result", () => {
    const canThenThrow = registry({
      wf: (ctx: WorkflowContext) => {
        ctx.continueAsNew(1);
        throw new Error("after continueAsNew");
      },
    });
    const first = onlyCompletion(run(canThenThrow, [], started("wf")));
    expect(first.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    expect(first.result).toBe("1");
    const unserializable = registry({
      wf: function* (ctx: WorkflowContext) {
        yield* ctx.callActivity("act");
        return 1n;
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "act")];
    const failed = onlyCompletion(run(unserializable, past, [h.taskCompleted(1)]));
    expect(failed.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(failed.failureDetails?.errorType).toBe("SerializationError");
    expect(failed.id).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("MS CHANGELOG regressions (ts_peers.md §2.9): timers", () => {
  it("MS#288 createTimer rejects an invalid Date and negative or non-finite durations", () => {
    const bad: unknown[] = [new Date(Number.NaN), -1, { minutes: -1 }, Number.NaN, Number.POSITIVE_INFINITY];
    for (const input of bad) {
      const reg = registry({
        wf: function* (ctx: WorkflowContext) {
          yield ctx.createTimer(input as Date);
        },
      });
      const done = onlyCompletion(run(reg, [], started("wf")));
      expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
      expect(done.failureDetails?.errorType).toBe("InvalidArgumentError");
    }
  });

  it("MS#288 createTimer rejects values that are neither a Date nor a Duration", () => {
    const inputs: unknown[] = ["2030-01-01", true, null];
    const reg = registry({
      wf: (ctx: WorkflowContext) =>
        inputs.map((input) => {
          try {
            ctx.createTimer(input as never);
            return "accepted";
          } catch (error) {
            return (error as Partial<DurableTaskError>).code ?? (error as Error).name;
          }
        }),
    });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(JSON.parse(done.result ?? "null")).toEqual(Array(inputs.length).fill("INVALID_ARGUMENT"));
  });

  it("MS#293 a timer that lost a race with an activity fires later and is ignored (also on replay)", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const work = ctx.callActivity("work");
        const timeout = ctx.createTimer(60);
        const winner = yield* whenAny([work, timeout]);
        if (winner === timeout) return "timed out";
        const next = yield* ctx.callActivity("next");
        return [work.getResult(), next];
      },
    });
    const past1 = [...started("wf"), h.taskScheduled(1, "work"), h.timerCreated(2, at(60))];
    const t2 = run(reg, past1, [h.workflowStarted(at(1)), h.taskCompleted(1, '"w"')]);
    expect(kinds(t2)).toEqual(["scheduleTask"]);
    expect(t2.actions[0]?.id).toBe(3);
    const past2 = [...past1, h.workflowStarted(at(1)), h.taskCompleted(1, '"w"'), h.taskScheduled(3, "next")];
    const fired = [h.workflowStarted(at(60)), h.timerFired(2, at(60))];
    expect(run(reg, past2, fired).actions).toEqual([]);
    const done = onlyCompletion(run(reg, [...past2, ...fired], [h.taskCompleted(3, '"n"')]));
    expect(done.result).toBe('["w","n"]');
  });

  it("MS#293 an external-event timeout timer that lost to the event is ignored when it fires", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const approval = yield* ctx.waitForExternalEvent("approval", { timeout: 60 });
        const next = yield* ctx.callActivity("next");
        return [approval, next];
      },
    });
    const t1 = run(reg, [], started("wf"));
    expect(fireAtIso(t1, 0)).toBe(at(60).toISOString());
    const past = [
      ...started("wf"),
      h.timerCreated(1, at(60), { case: "externalEvent", value: { name: "approval" } }, "approval"),
      h.eventRaised("approval", "true"),
      h.taskScheduled(2, "next"),
    ];
    const fired = [h.workflowStarted(at(60)), h.timerFired(1, at(60))];
    expect(run(reg, past, fired).actions).toEqual([]);
    expect(onlyCompletion(run(reg, [...past, ...fired], [h.taskCompleted(2, "2")])).result).toBe("[true,2]");
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("MS CHANGELOG regressions (ts_peers.md §2.9): events, suspend, continue-as-new", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("MS#180 event names are matched with toLowerCase, not toLocaleLowerCase (Turkish I)", () => {
    // Make the locale-sensitive lower-casing behave as in a Turkish locale: "I" → "ı" (dotless).
    const turkish = vi.spyOn(String.prototype, "toLocaleLowerCase").mockImplementation(function (this: string) {
      return this.replace(/I/g, "ı").replace(/İ/g, "i").toLowerCase();
    });
    expect("TITLE".toLocaleLowerCase()).toBe("tıtle");
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("title_issued");
      },
    });
    const past = [...started("wf"), h.indefiniteTimerCreated(1, "title_issued")];
    const done = onlyCompletion(run(reg, past, [h.eventRaised("TITLE_ISSUED", '"ok"')]));
    expect(done.result).toBe('"ok"');
    // Buffered path too.
    const buffered = onlyCompletion(run(reg, [], [...started("wf"), h.eventRaised("TITLE_ISSUED", '"early"')]));
    expect(buffered.result).toBe('"early"');
    turkish.mockRestore();
  });

  it("MS#276 an empty event name is rejected", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        let code = "";
        try {
          ctx.waitForExternalEvent("");
        } catch (error) {
          code = (error as DurableTaskError).code;
        }
        yield ctx.createTimer(1);
        return code;
      },
    });
    const t1 = run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["createTimer"]);
    expect(t1.actions[0]?.id).toBe(1); // the rejected wait took no sequence id
    const done = onlyCompletion(run(reg, [...started("wf"), h.timerCreated(1, at(1))], [h.timerFired(1, at(1))]));
    expect(done.result).toBe('"INVALID_ARGUMENT"');
  });

  it("MS#264 EventSent in history confirms our sendEvent on replay (no non-determinism, not re-sent)", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        ctx.sendEvent("other-instance", "ping", { n: 0 });
        return yield* ctx.callActivity("act");
      },
    });
    const t1 = run(reg, [], started("wf"));
    expect(kinds(t1)).toEqual(["sendEvent", "scheduleTask"]);
    const sent = action(t1, 0, "sendEvent");
    expect(sent).toMatchObject({ id: 1, name: "ping", data: '{"n":0}' });
    expect(sent.instance?.instanceId).toBe("other-instance");
    const past = [...started("wf"), h.eventSent(1, "other-instance", "ping", '{"n":0}'), h.taskScheduled(2, "act")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(2, '"done"')]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.id).toBe(3);
  });

  it("MS#264 an EventSent addressed to this instance that confirms nothing is delivered as an event", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* ctx.waitForExternalEvent("Hello");
      },
    });
    const past = [...started("wf"), h.indefiniteTimerCreated(1, "Hello")];
    const done = onlyCompletion(run(reg, past, [h.eventSent(-1, INSTANCE, "hello", '"hi"')]));
    expect(done.result).toBe('"hi"');
    // Addressed to someone else: not for us.
    expect(run(reg, past, [h.eventSent(-1, "someone-else", "hello", '"hi"')]).actions).toEqual([]);
  });

  it("MS#306 a second suspend among the buffered events re-suspends (no infinite loop)", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const a = yield* ctx.waitForExternalEvent("a");
        const b = yield* ctx.waitForExternalEvent("b");
        return [a, b];
      },
    });
    const past = [...started("wf"), h.indefiniteTimerCreated(1, "a")];
    const burst = [
      h.executionSuspended(),
      h.eventRaised("a", "1"),
      h.executionSuspended(),
      h.eventRaised("b", "2"),
      h.executionResumed(),
    ];
    expect(run(reg, past, burst).actions).toEqual([]);
    const done = onlyCompletion(run(reg, [...past, ...burst], [h.executionResumed()]));
    expect(done.result).toBe("[1,2]");
  });

  it("MS#136 continue-as-new keeps fire-and-forget sendEvent and drops other pending work", () => {
    const reg = registry({
      wf: (ctx: WorkflowContext, generation: number) => {
        ctx.sendEvent("watcher", "generation", generation);
        ctx.callActivity("never-awaited");
        ctx.createTimer(10);
        ctx.continueAsNew(generation + 1);
      },
    });
    const result = run(reg, [], started("wf", 0));
    expect(kinds(result)).toEqual(["sendEvent", "completeWorkflow"]);
    expect(action(result, 0, "sendEvent")).toMatchObject({ id: 1, name: "generation", data: "0" });
    const done = action(result, 1, "completeWorkflow");
    expect(done).toMatchObject({ id: 4, workflowStatus: OrchestrationStatus.CONTINUED_AS_NEW, result: "1" });
  });

  it("MS#269 carry-over events keep arrival order and original casing; consumed ones are not carried", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        const first = yield* ctx.waitForExternalEvent("b");
        yield ctx.createTimer(1);
        ctx.continueAsNew(first, { saveEvents: true });
      },
    });
    const past = [
      ...started("wf"),
      h.indefiniteTimerCreated(1, "b"),
      h.eventRaised("B", "1"),
      h.timerCreated(2, at(1)),
      h.eventRaised("a", "2"),
      h.eventRaised("b", "3"),
      h.eventRaised("A", "4"),
    ];
    const done = onlyCompletion(
      run(reg, past, [h.eventRaised("c", "5"), h.timerFired(2, at(1)), h.eventRaised("late", "6")]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.CONTINUED_AS_NEW);
    expect(done.result).toBe("1");
    expect(carried(done)).toEqual([
      ["a", "2"],
      ["b", "3"],
      ["A", "4"],
      ["c", "5"],
      ["late", "6"],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("MS CHANGELOG regressions (ts_peers.md §2.9): retry, errors, naming", () => {
  const base: RetryPolicyOptions = { maxNumberOfAttempts: 3, firstRetryInterval: 1 };
  const invalid: Partial<Record<keyof RetryPolicyOptions, unknown>>[] = [
    { maxNumberOfAttempts: Number.POSITIVE_INFINITY },
    { maxNumberOfAttempts: Number.NaN },
    { maxNumberOfAttempts: 0 },
    { firstRetryInterval: Number.NaN },
    { firstRetryInterval: Number.POSITIVE_INFINITY },
    { firstRetryInterval: -1 },
    { backoffCoefficient: Number.NaN },
    { backoffCoefficient: Number.POSITIVE_INFINITY },
    { maxRetryInterval: Number.POSITIVE_INFINITY },
    { maxRetryInterval: Number.NaN },
    { retryTimeout: Number.NaN },
    { retryTimeout: -5 },
  ];

  it("MS#274 non-finite (or out-of-range) retry policy values are rejected", () => {
    for (const override of invalid) {
      expect(() => new RetryPolicy({ ...base, ...override } as RetryPolicyOptions), JSON.stringify(override)).toThrow(
        InvalidArgumentError,
      );
    }
  });

  it("MS#274 a bad policy passed to callActivity fails the workflow with InvalidArgumentError", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        yield ctx.callActivity("act", {
          retryPolicy: { ...base, backoffCoefficient: Number.POSITIVE_INFINITY },
        });
      },
    });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("InvalidArgumentError");
  });

  it("MS#310 error cause chains become innerFailure chains", () => {
    const reg = registry({
      wf: () => {
        throw new Error("outer", { cause: new TypeError("inner", { cause: "root" }) });
      },
    });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(done.failureDetails?.errorMessage).toBe("outer");
    expect(done.failureDetails?.innerFailure?.errorType).toBe("TypeError");
    expect(done.failureDetails?.innerFailure?.errorMessage).toBe("inner");
    expect(done.failureDetails?.innerFailure?.innerFailure?.errorMessage).toBe("root");
  });

  it("MS#310 an activity's innerFailure reaches TaskFailedError.details.cause", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        try {
          yield* ctx.callActivity("act");
        } catch (error) {
          const { details } = error as TaskFailedError;
          return [details.errorType, details.message, details.cause?.errorType, details.cause?.message];
        }
        return "no failure";
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "act")];
    const failure = new Error("write failed", { cause: new RangeError("disk full") });
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, failure)]));
    expect(done.result).toBe('["Error","write failed","RangeError","disk full"]');
  });

  it("MS#310 an uncaught TaskFailedError keeps the activity's failure as innerFailure", () => {
    const reg = registry({ wf: oneActivity });
    const past = [...started("wf"), h.taskScheduled(1, "act")];
    const failure = new Error("write failed", { cause: new RangeError("disk full") });
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, failure)]));
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
    expect(done.failureDetails?.innerFailure?.errorType).toBe("Error");
    expect(done.failureDetails?.innerFailure?.errorMessage).toBe("write failed");
    expect(done.failureDetails?.innerFailure?.innerFailure?.errorType).toBe("RangeError");
  });

  it("MS#262 anonymous workflow/activity functions are rejected at registration", () => {
    const r = new Registry();
    expect(() => r.addWorkflow(function* () {})).toThrow(InvalidArgumentError);
    expect(() => r.addWorkflow(() => null)).toThrow(InvalidArgumentError);
    expect(() => r.addActivity(() => 1)).toThrow(InvalidArgumentError);
    expect(() => defineWorkflow("", function* () {})).toThrow(InvalidArgumentError);
    expect(() => defineActivity("  ", () => 1)).toThrow(InvalidArgumentError);
    // A named generator registers under its own name.
    function* orderFlow(ctx: WorkflowContext) {
      yield ctx.createTimer(1);
    }
    r.addWorkflow(orderFlow);
    expect(r.workflowNames).toEqual(["orderFlow"]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("Dapr Python SDK quirks (seed_python.md §6, §3.7)", () => {
  it("PY§6 whenAll is wait-all, not fail-fast: a failure waits for the pending siblings", () => {
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        return yield* whenAll([ctx.callActivity("a"), ctx.callActivity("b")]);
      },
    });
    const past = [...started("wf"), h.taskScheduled(1, "a"), h.taskScheduled(2, "b")];
    expect(run(reg, past, [h.taskFailed(1, new Error("x"))]).actions).toEqual([]);
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, new Error("x")), h.taskCompleted(2, "2")]));
    expect(done.failureDetails?.errorMessage).toBe("Activity 'a' (task #1) failed: x");
  });

  it("PY§6 an unsuspended resume does not fail the instance", () => {
    const reg = registry({ wf: oneActivity });
    const past = [...started("wf"), h.executionResumed(), h.taskScheduled(1, "act")];
    const done = onlyCompletion(run(reg, past, [h.executionResumed(), h.taskCompleted(1, "1")]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
  });

  it("PY§6 bookkeeping history events are ignored (workflowCompleted, executionCompleted, stalled, continueAsNew)", () => {
    const reg = registry({ wf: oneActivity });
    const past = [
      ...started("wf"),
      h.taskScheduled(1, "act"),
      h.workflowCompleted(),
      h.executionStalled("parked"),
      h.continueAsNew("1"),
    ];
    const done = onlyCompletion(
      run(reg, past, [h.taskCompleted(1, "1"), h.executionCompleted(2, OrchestrationStatus.COMPLETED, "1")]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("1");
  });

  it("PY§6 an unknown history event type fails the workflow", () => {
    const reg = registry({ wf: oneActivity });
    const unknown = create(HistoryEventSchema, { eventId: -1 });
    const done = onlyCompletion(run(reg, [...started("wf"), h.taskScheduled(1, "act")], [unknown]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
  });

  it("PY§6 (TODO 'check if we already started') a duplicate ExecutionStarted does not restart the code", () => {
    let runs = 0;
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        runs++;
        return yield* ctx.callActivity("act");
      },
    });
    const dup = [...started("wf"), h.executionStarted("wf", INSTANCE)];
    const result = run(reg, [], dup);
    expect(runs).toBe(1);
    expect(kinds(result)).toEqual(["scheduleTask"]);
  });

  it("PY§6 detachedWorkflowInstanceCreated in history is non-determinism (this SDK never creates one)", () => {
    const reg = registry({ wf: oneActivity });
    const past = [...started("wf"), h.taskScheduled(1, "act"), h.detachedWorkflowCreated(2, "other")];
    const done = onlyCompletion(run(reg, past, [h.taskCompleted(1, "1")]));
    expect(done.failureDetails?.errorType).toBe("NonDeterminismError");
  });

  it("PY§6 the GUID seed does not depend on the host time zone", () => {
    const saved = process.env["TZ"];
    const guids: string[] = [];
    const reg = registry({
      g: (ctx: WorkflowContext) => {
        guids.push(ctx.newGuid());
        return null;
      },
    });
    try {
      for (const tz of ["UTC", "Asia/Tokyo", "America/Los_Angeles"]) {
        process.env["TZ"] = tz;
        run(reg, [], started("g"));
      }
    } finally {
      if (saved === undefined) delete process.env["TZ"];
      else process.env["TZ"] = saved;
    }
    expect(guids).toEqual(Array(3).fill("d201625a-bf91-5de9-ac50-56fdd12ee499"));
  });

  it("PY§6 GUID format: Dapr Python's isoformat name (microseconds when non-zero), golden vector", () => {
    const guids: string[] = [];
    const reg = registry({
      g: (ctx: WorkflowContext) => {
        guids.push(ctx.newGuid());
        return null;
      },
    });
    run(reg, [], started("g", undefined, new Date("2020-01-01T12:00:00.500Z")));
    expect(guids).toEqual(["e0f8e124-cc94-5ef1-8e00-dc224534ffa4"]);
  });

  it("PY§2.2 callActivity consumes a GUID tick: [newGuid, callActivity, newGuid] gives counters 0 and 2", () => {
    const guids: string[] = [];
    let executionId = "";
    const reg = registry({
      g: function* (ctx: WorkflowContext) {
        guids.push(ctx.newGuid());
        const task = ctx.callActivity("act");
        guids.push(ctx.newGuid());
        yield* task;
      },
    });
    const result = run(reg, [], started("g"));
    executionId = action(result, 0, "scheduleTask").taskExecutionId;
    expect([guids[0], executionId, guids[1]]).toEqual([
      "d201625a-bf91-5de9-ac50-56fdd12ee499",
      "aaa1fb15-9c1b-53af-8cab-762babdc6589",
      "19610921-6010-5403-a8bf-115e1984981d",
    ]);
  });

  it("PY§6 log handlers accumulate: the replay-safe logger writes each line once", () => {
    const lines: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: (message) => lines.push(message),
      warn: () => {},
      error: () => {},
    };
    const reg = registry({
      wf: function* (ctx: WorkflowContext) {
        ctx.logger.info("before");
        yield* ctx.callActivity("act");
        ctx.logger.info("after");
      },
    });
    run(reg, [], started("wf"), { logger });
    expect(lines).toEqual(["before"]);
    lines.length = 0;
    run(reg, [...started("wf"), h.taskScheduled(1, "act")], [h.taskCompleted(1)], { logger });
    expect(lines).toEqual(["after"]);
  });

  it("PY§3.7 a result that cannot be serialized fails instead of hanging", () => {
    const reg = registry({ wf: () => ({ when: 1n }) });
    const done = onlyCompletion(run(reg, [], started("wf")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("SerializationError");
  });
});
