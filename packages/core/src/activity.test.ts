// executeActivity: runs one activity work item and turns every outcome into a result or failure details.
import { describe, expect, it } from "vitest";
import {
  type ActivityContext,
  type ActivityResult,
  defineActivity,
  executeActivity,
  NonRetryableError,
  Registry,
} from "./index.js";

type Request = Parameters<typeof executeActivity>[0];

function request(name: string, input?: string, extra: Partial<Request> = {}): Request {
  return {
    name,
    taskId: 4,
    taskExecutionId: "exec-1",
    workflowInstance: { instanceId: "order-42" },
    ...(input === undefined ? {} : { input }),
    ...extra,
  };
}

function withActivity(name: string, run: (ctx: ActivityContext, input: never) => unknown): Registry {
  return new Registry().addActivity(run as never, { name });
}

function failure(result: ActivityResult) {
  expect(result.result).toBeUndefined();
  expect(result.failureDetails).toBeDefined();
  return result.failureDetails as NonNullable<ActivityResult["failureDetails"]>;
}

describe("executeActivity: running", () => {
  it("runs a sync activity and serializes its result", async () => {
    // python: test_activity_inputs
    const hello = defineActivity("hello", (_ctx, name: string) => `Hello ${name}!`);
    const result = await executeActivity(request("hello", '"Tokyo"'), new Registry().addActivity(hello));
    expect(result).toEqual({ result: '"Hello Tokyo!"', failureDetails: undefined });
  });

  it("awaits an async activity", async () => {
    const double = defineActivity("double", async (_ctx, n: number) => {
      await Promise.resolve();
      return { doubled: n * 2 };
    });
    const result = await executeActivity(request("double", "21"), new Registry().addActivity(double));
    expect(result).toEqual({ result: '{"doubled":42}', failureDetails: undefined });
  });

  it("gives the activity its ActivityContext from the request", async () => {
    // go: Test_ActivityTraceContext (trace context reaches the activity)
    let seen: ActivityContext | undefined;
    const reg = withActivity("probe", (ctx) => {
      seen = ctx;
      return null;
    });
    const req = request("probe", undefined, {
      taskId: 9,
      taskExecutionId: "8f1e-stable",
      parentTraceContext: { traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", traceState: "k=v" },
    });
    await executeActivity(req, reg);
    expect(seen).toMatchObject({
      name: "probe",
      instanceId: "order-42",
      taskId: 9,
      taskExecutionId: "8f1e-stable",
      traceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      traceState: "k=v",
    });
  });

  it("leaves trace fields and the instance id empty when the request has none", async () => {
    let seen: ActivityContext | undefined;
    const reg = withActivity("probe", (ctx) => {
      seen = ctx;
    });
    await executeActivity({ name: "probe", taskId: 1, taskExecutionId: "" }, reg);
    expect(seen?.instanceId).toBe("");
    expect(seen?.traceParent).toBeUndefined();
    expect(seen?.traceState).toBeUndefined();
  });

  it("has a signal that is not aborted by default", async () => {
    let signal: AbortSignal | undefined;
    const reg = withActivity("probe", (ctx) => {
      signal = ctx.signal;
    });
    await executeActivity(request("probe"), reg);
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal?.aborted).toBe(false);
  });

  it("passes the caller's signal through, so the worker can cancel it", async () => {
    const controller = new AbortController();
    let signal: AbortSignal | undefined;
    const reg = withActivity("probe", (ctx) => {
      signal = ctx.signal;
      controller.abort();
      return ctx.signal.aborted;
    });
    const result = await executeActivity(request("probe"), reg, { signal: controller.signal });
    expect(signal).toBe(controller.signal);
    expect(result.result).toBe("true");
  });

  it('round-trips "Hello, 世界!" unchanged', async () => {
    let received: unknown;
    const reg = withActivity("echo", (_ctx, input: string) => {
      received = input;
      return input;
    });
    const result = await executeActivity(request("echo", JSON.stringify("Hello, 世界!")), reg);
    expect(received).toBe("Hello, 世界!");
    expect(result.result).toBe('"Hello, 世界!"');
    expect(JSON.parse(result.result as string)).toBe("Hello, 世界!");
  });

  it("gives undefined input for an absent or empty payload and null for 'null'", async () => {
    const inputs: unknown[] = [];
    const reg = withActivity("probe", (_ctx, input: unknown) => {
      inputs.push(input);
    });
    await executeActivity(request("probe"), reg);
    await executeActivity(request("probe", ""), reg);
    await executeActivity(request("probe", "null"), reg);
    await executeActivity(request("probe", "0"), reg);
    expect(inputs).toEqual([undefined, undefined, null, 0]);
  });

  it("reports an undefined result as no result (absent, not 'null')", async () => {
    const reg = withActivity("void", () => undefined);
    expect(await executeActivity(request("void"), reg)).toEqual({ result: undefined, failureDetails: undefined });
  });

  it.each([
    [0, "0"],
    [false, "false"],
    ["", '""'],
    [null, "null"],
  ])("encodes the falsy result %j as %s", async (value, wire) => {
    const reg = withActivity("falsy", () => value);
    expect(await executeActivity(request("falsy"), reg)).toEqual({ result: wire, failureDetails: undefined });
  });
});

describe("executeActivity: failures", () => {
  it("reports an unregistered name with the names that are registered", async () => {
    const reg = new Registry().addActivity(() => 1, { name: "ship" }).addActivity(() => 2, { name: "bill" });
    const details = failure(await executeActivity(request("pay"), reg));
    expect(details.errorType).toBe("ActivityNotRegisteredError");
    expect(details.errorMessage).toContain("'pay'");
    expect(details.errorMessage).toContain("registered: ship, bill");
  });

  it("reports a thrown Error with its message and stack", async () => {
    const reg = withActivity("fail", () => {
      throw new Error("kaboom");
    });
    const details = failure(await executeActivity(request("fail"), reg));
    expect(details.errorType).toBe("Error");
    expect(details.errorMessage).toBe("kaboom");
    expect(details.isNonRetriable).toBe(false);
    expect(details.stackTrace).toContain("activity.test.ts");
  });

  it("reports a rejected async activity like a thrown one", async () => {
    const reg = withActivity("fail", async () => {
      await Promise.resolve();
      throw new TypeError("late");
    });
    const details = failure(await executeActivity(request("fail"), reg));
    expect(details).toMatchObject({ errorType: "TypeError", errorMessage: "late" });
  });

  it("reports an Error subclass by its class name", async () => {
    class InsufficientFunds extends Error {}
    const reg = withActivity("fail", () => {
      throw new InsufficientFunds("balance 0");
    });
    const details = failure(await executeActivity(request("fail"), reg));
    expect(details).toMatchObject({ errorType: "InsufficientFunds", errorMessage: "balance 0" });
  });

  it("reports a thrown string", async () => {
    const reg = withActivity("fail", () => {
      throw "just a string";
    });
    const details = failure(await executeActivity(request("fail"), reg));
    expect(details).toMatchObject({ errorType: "string", errorMessage: "just a string" });
  });

  it("reports a thrown plain object as JSON", async () => {
    const reg = withActivity("fail", () => {
      throw { code: 503, retry: true };
    });
    const details = failure(await executeActivity(request("fail"), reg));
    expect(details).toMatchObject({ errorType: "object", errorMessage: '{"code":503,"retry":true}' });
  });

  it("marks NonRetryableError (and its subclasses) as non-retriable", async () => {
    class Declined extends NonRetryableError {}
    const plain = withActivity("fail", () => {
      throw new NonRetryableError("stop");
    });
    const sub = withActivity("fail", () => {
      throw new Declined("card");
    });
    expect(failure(await executeActivity(request("fail"), plain))).toMatchObject({
      errorType: "NonRetryableError",
      errorMessage: "stop",
      isNonRetriable: true,
    });
    expect(failure(await executeActivity(request("fail"), sub))).toMatchObject({
      errorType: "Declined",
      isNonRetriable: true,
    });
  });

  it("turns the error.cause chain into the innerFailure chain", async () => {
    const reg = withActivity("fail", () => {
      throw new Error("outer", { cause: new TypeError("middle", { cause: "root cause" }) });
    });
    const details = failure(await executeActivity(request("fail"), reg));
    expect(details.errorMessage).toBe("outer");
    expect(details.innerFailure).toMatchObject({ errorType: "TypeError", errorMessage: "middle" });
    expect(details.innerFailure?.innerFailure).toMatchObject({ errorType: "string", errorMessage: "root cause" });
    expect(details.innerFailure?.innerFailure?.innerFailure).toBeUndefined();
  });

  it("does not loop on a cyclic cause chain", async () => {
    const reg = withActivity("fail", () => {
      const a = new Error("a");
      const b = new Error("b", { cause: a });
      a.cause = b;
      throw a;
    });
    const details = failure(await executeActivity(request("fail"), reg));
    const messages: string[] = [];
    for (let f = details.innerFailure; f !== undefined; f = f.innerFailure) messages.push(f.errorMessage);
    expect(messages.slice(0, 3)).toEqual(["b", "a", "b"]);
    expect(messages.length).toBeLessThanOrEqual(10);
  });

  it("reports input that is not valid JSON as a SerializationError without running the activity", async () => {
    let ran = false;
    const reg = withActivity("parse", () => {
      ran = true;
    });
    const details = failure(await executeActivity(request("parse", "{not json"), reg));
    expect(ran).toBe(false);
    expect(details.errorType).toBe("SerializationError");
    expect(details.errorMessage).toContain("the input of activity 'parse'");
    expect(details.innerFailure?.errorType).toBe("SyntaxError");
  });

  it("reports a BigInt result as a SerializationError", async () => {
    const reg = withActivity("big", () => 10n);
    const details = failure(await executeActivity(request("big"), reg));
    expect(details.errorType).toBe("SerializationError");
    expect(details.errorMessage).toContain("the result of activity 'big'");
    expect(details.innerFailure?.errorType).toBe("TypeError");
  });

  it("reports a cyclic result as a SerializationError", async () => {
    const reg = withActivity("cycle", () => {
      const o: Record<string, unknown> = {};
      o["self"] = o;
      return o;
    });
    expect(failure(await executeActivity(request("cycle"), reg)).errorType).toBe("SerializationError");
  });

  it("never throws, even for a thrown value that cannot be turned into a string", async () => {
    // Both toJSON and toString throw: the failure must still be reported, not escape as a rejection.
    const hostile = {
      toJSON() {
        throw new Error("no json");
      },
      toString() {
        throw new Error("no string");
      },
    };
    const reg = withActivity("hostile", () => {
      throw hostile;
    });
    const result = await executeActivity(request("hostile"), reg).catch((error: unknown) => ({ threw: error }));
    expect(result).not.toHaveProperty("threw");
    expect(failure(result as ActivityResult).errorType).toBe("object");
  });

  it("never throws when the data converter throws (input or result)", async () => {
    const reg = withActivity("ok", () => 1);
    const converter = {
      serialize(): string {
        throw "serialize refused";
      },
      deserialize(): unknown {
        throw new Error("deserialize refused");
      },
    };
    const bad = await executeActivity(request("ok", '"x"'), reg, { converter });
    expect(failure(bad).errorType).toBe("SerializationError");
    const out = await executeActivity(request("ok"), reg, { converter });
    expect(failure(out)).toMatchObject({ errorType: "SerializationError" });
    expect(failure(out).errorMessage).toContain("serialize refused");
  });
});
