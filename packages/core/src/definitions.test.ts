// defineActivity / defineWorkflow: input and output types follow a definition to every call site, and names are
// checked at runtime. The expectTypeOf and @ts-expect-error lines are checked by `tsc -p tsconfig.json` (this file
// is part of the package's typecheck); the runtime assertions check what the engine does with the same calls.
import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  type ActivityContext,
  type ActivityDefinition,
  defineActivity,
  defineWorkflow,
  executeActivity,
  type InputOf,
  InvalidArgumentError,
  type OutputOf,
  Registry,
  type Task,
  type WorkflowContext,
  type WorkflowDefinition,
} from "./index.js";
import { h, INSTANCE, onlyCompletion, registry, run, START, started } from "./testing/golden.js";

interface Order {
  readonly id: string;
  readonly amount: number;
}

const charge = defineActivity("charge", (_ctx, order: Order) => ({ receipt: `r-${order.id}`, total: order.amount }));
const fetchRate = defineActivity(
  "fetchRate",
  async (_ctx, currency: string): Promise<number> => (currency === "EUR" ? 1.1 : 1),
);
const tick = defineActivity("tick", () => 42);
const maybe = defineActivity("maybe", (_ctx, note: string | undefined) => note ?? "none");
const shipping = defineWorkflow("shipping", function* (ctx: WorkflowContext, order: Order) {
  const receipt = yield* ctx.callActivity(charge, { input: order });
  return { shipped: true, receipt: receipt.receipt };
});
const plain = defineWorkflow("plain", (_ctx, n: number) => n * 2);

describe("definition types", () => {
  it("defineActivity infers input and awaited output types", () => {
    expectTypeOf(charge).toEqualTypeOf<ActivityDefinition<Order, { receipt: string; total: number }>>();
    expectTypeOf(fetchRate).toEqualTypeOf<ActivityDefinition<string, number>>();
    expectTypeOf(tick).toEqualTypeOf<ActivityDefinition<undefined, number>>();
    expect(charge).toMatchObject({ kind: "activity", name: "charge" });
    expect(typeof charge.run).toBe("function");
  });

  it("defineWorkflow infers input and output types from generator and plain workflows", () => {
    expectTypeOf(shipping).toEqualTypeOf<WorkflowDefinition<Order, { shipped: boolean; receipt: string }>>();
    expectTypeOf(plain).toEqualTypeOf<WorkflowDefinition<number, number>>();
    expect(shipping).toMatchObject({ kind: "workflow", name: "shipping" });
    expect(shipping).not.toHaveProperty("version");
  });

  it("InputOf and OutputOf read a definition's types", () => {
    expectTypeOf<InputOf<typeof charge>>().toEqualTypeOf<Order>();
    expectTypeOf<OutputOf<typeof charge>>().toEqualTypeOf<{ receipt: string; total: number }>();
    expectTypeOf<OutputOf<typeof fetchRate>>().toEqualTypeOf<number>();
    expectTypeOf<InputOf<typeof shipping>>().toEqualTypeOf<Order>();
    expectTypeOf<OutputOf<typeof shipping>>().toEqualTypeOf<{ shipped: boolean; receipt: string }>();
    expectTypeOf<InputOf<string>>().toEqualTypeOf<unknown>();
    expectTypeOf<OutputOf<number>>().toEqualTypeOf<unknown>();
  });

  it("callActivity(def, { input }) requires the right input type and returns Task<O>", () => {
    // Compile-time checks only: this function is never called.
    const _typeOnly = (ctx: WorkflowContext) => {
      expectTypeOf(ctx.callActivity(charge, { input: { id: "o1", amount: 5 } })).toEqualTypeOf<
        Task<{ receipt: string; total: number }>
      >();
      // @ts-expect-error the input must be an Order
      ctx.callActivity(charge, { input: "o1" });
      // @ts-expect-error an Order needs an amount
      ctx.callActivity(charge, { input: { id: "o1" } });
      // @ts-expect-error the input is required when the activity takes one
      ctx.callActivity(charge);
      // @ts-expect-error the input is required when the activity takes one
      ctx.callActivity(charge, {});
      expectTypeOf(ctx.callActivity(fetchRate, { input: "EUR" })).toEqualTypeOf<Task<number>>();
    };
    expectTypeOf(_typeOnly).parameter(0).toEqualTypeOf<WorkflowContext>();
  });

  it("the input is optional when the activity takes undefined", () => {
    const _typeOnly = (ctx: WorkflowContext) => {
      expectTypeOf(ctx.callActivity(tick)).toEqualTypeOf<Task<number>>();
      ctx.callActivity(tick, {});
      ctx.callActivity(tick, { retryPolicy: { maxNumberOfAttempts: 2, firstRetryInterval: 1 } });
      ctx.callActivity(maybe);
      ctx.callActivity(maybe, { input: "note" });
      // @ts-expect-error still type-checked when given
      ctx.callActivity(maybe, { input: 5 });
    };
    expectTypeOf(_typeOnly).returns.toEqualTypeOf<void>();
  });

  it("`yield*` a task gives its output type; a plain `yield` gives any", () => {
    const typed = defineWorkflow("typed", function* (ctx: WorkflowContext) {
      const receipt = yield* ctx.callActivity(charge, { input: { id: "o1", amount: 5 } });
      expectTypeOf(receipt).toEqualTypeOf<{ receipt: string; total: number }>();
      const rate = yield* ctx.callActivity(fetchRate, { input: "EUR" });
      expectTypeOf(rate).toEqualTypeOf<number>();
      const loose = yield ctx.callActivity(tick);
      expectTypeOf(loose).toBeAny();
      const both = yield* ctx.whenAll([ctx.callActivity(tick), ctx.callActivity(fetchRate, { input: "USD" })]);
      expectTypeOf(both).toEqualTypeOf<[number, number]>();
      return receipt.total * rate;
    });
    expectTypeOf<OutputOf<typeof typed>>().toEqualTypeOf<number>();
    // And at runtime: `yield*` hands the generator the decoded results.
    const past = [
      ...started("typed"),
      h.taskScheduled(1, "charge"),
      h.taskCompleted(1, '{"receipt":"r","total":10}'),
      h.taskScheduled(2, "fetchRate"),
      h.taskCompleted(2, "1.5"),
      h.taskScheduled(3, "tick"),
      h.taskCompleted(3, "42"),
      h.taskScheduled(4, "tick"),
      h.taskScheduled(5, "fetchRate"),
    ];
    const done = onlyCompletion(
      run(registry({ typed: typed.run }), past, [h.taskCompleted(4, "42"), h.taskCompleted(5, "1")]),
    );
    expect(done.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done.result).toBe("15");
  });

  it("callSubOrchestrator / callChildWorkflow take a WorkflowDefinition and its input type", () => {
    const _typeOnly = (ctx: WorkflowContext) => {
      expectTypeOf(ctx.callSubOrchestrator(shipping, { input: { id: "o1", amount: 1 } })).toEqualTypeOf<
        Task<{ shipped: boolean; receipt: string }>
      >();
      expectTypeOf(ctx.callChildWorkflow(plain, { input: 2, instanceId: "child-1" })).toEqualTypeOf<Task<number>>();
      // @ts-expect-error the child takes a number
      ctx.callSubOrchestrator(plain, { input: "2" });
      // @ts-expect-error the child's input is required
      ctx.callChildWorkflow(shipping);
      // @ts-expect-error an activity definition is not a workflow
      ctx.callSubOrchestrator(charge, { input: { id: "o", amount: 1 } });
    };
    expectTypeOf(_typeOnly).toBeFunction();
  });

  it("calls by name are untyped unless the output type is given", () => {
    const _typeOnly = (ctx: WorkflowContext) => {
      expectTypeOf(ctx.callActivity("any")).toEqualTypeOf<Task<unknown>>();
      expectTypeOf(ctx.callActivity<string>("any", { input: 1 })).toEqualTypeOf<Task<string>>();
      expectTypeOf(ctx.callSubOrchestrator<number>("child")).toEqualTypeOf<Task<number>>();
    };
    expectTypeOf(_typeOnly).toBeFunction();
  });

  it("the activity function receives an ActivityContext and its typed input", () => {
    expectTypeOf(charge.run).parameter(0).toEqualTypeOf<ActivityContext>();
    expectTypeOf(charge.run).parameter(1).toEqualTypeOf<Order>();
  });
});

describe("definitions at runtime", () => {
  it("callActivity(def, { input }) schedules the definition's name with the encoded input", () => {
    const wf = defineWorkflow("w", function* (ctx: WorkflowContext) {
      yield ctx.whenAll([ctx.callActivity(charge, { input: { id: "o1", amount: 5 } }), ctx.callActivity(tick)]);
    });
    const result = run(registry({ w: wf.run }), [], started("w"));
    const [first, second] = result.actions.map((a) => a.workflowActionType);
    expect(first).toMatchObject({ case: "scheduleTask", value: { name: "charge", input: '{"id":"o1","amount":5}' } });
    expect(second).toMatchObject({ case: "scheduleTask", value: { name: "tick" } });
    expect(second?.case === "scheduleTask" ? second.value.input : "present").toBeUndefined();
  });

  it("callSubOrchestrator(def) creates the definition's child with the default instance id", () => {
    const wf = defineWorkflow("w", function* (ctx: WorkflowContext) {
      return yield* ctx.callSubOrchestrator(plain, { input: 21 });
    });
    const result = run(registry({ w: wf.run }), [], started("w"));
    expect(result.actions[0]?.workflowActionType).toMatchObject({
      case: "createChildWorkflow",
      value: { name: "plain", instanceId: `${INSTANCE}:0001`, input: "21" },
    });
  });

  it("a definition registers under its own name, for workflows and activities", async () => {
    const reg = new Registry().addWorkflow(plain).addActivity(fetchRate);
    expect(reg.workflowNames).toEqual(["plain"]);
    expect(reg.activityNames).toEqual(["fetchRate"]);
    const done = onlyCompletion(run(reg, [], [h.workflowStarted(START), h.executionStarted("plain", INSTANCE, "21")]));
    expect(done.result).toBe("42");
    const rate = await executeActivity({ name: "fetchRate", taskId: 1, taskExecutionId: "", input: '"EUR"' }, reg);
    expect(rate.result).toBe("1.1");
  });

  it("defineWorkflow keeps version and isLatest when given", () => {
    const v2 = defineWorkflow("order", () => 2, { version: "v2", isLatest: true });
    expect(v2).toMatchObject({ kind: "workflow", name: "order", version: "v2", isLatest: true });
  });

  it.each([
    ["an empty name", ""],
    ["a blank name", "   "],
    ["the name 'anonymous'", "anonymous"],
  ])("defineActivity and defineWorkflow reject %s with INVALID_ARGUMENT", (_what, name) => {
    for (const define of [() => defineActivity(name, () => 1), () => defineWorkflow(name, () => 1)]) {
      expect(define).toThrow(InvalidArgumentError);
      try {
        define();
      } catch (error) {
        expect((error as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
        expect((error as Error).message).toContain("needs a non-empty name");
      }
    }
  });

  it("rejects a non-string name passed from untyped code", () => {
    expect(() => defineActivity(undefined as unknown as string, () => 1)).toThrow(/activity needs a non-empty name/);
    expect(() => defineWorkflow(42 as unknown as string, () => 1)).toThrow(/workflow needs a non-empty name/);
  });

  it("registering an anonymous function without a name is rejected; a named function uses its name", () => {
    expect(() => new Registry().addActivity(() => 1)).toThrow(InvalidArgumentError);
    expect(() => new Registry().addWorkflow(() => 1)).toThrow(InvalidArgumentError);
    function reserveStock() {
      return true;
    }
    expect(new Registry().addActivity(reserveStock).activityNames).toEqual(["reserveStock"]);
  });

  it("registering the same name twice is rejected", () => {
    expect(() => new Registry().addActivity(tick).addActivity(tick)).toThrow(/already registered/);
    expect(() => new Registry().addWorkflow(plain).addWorkflow(plain)).toThrow(/already registered/);
  });
});
