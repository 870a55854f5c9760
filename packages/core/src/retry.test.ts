// RetryPolicy: validation, the delay sequence (backoff, cap, attempts, deterministic retryTimeout), non-retryable
// failures, and the engine's retry timers.
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { type HistoryEvent, OrchestrationStatus, type WorkflowAction } from "@dt/proto";
import { describe, expect, it } from "vitest";
import {
  type FailureDetails,
  InvalidArgumentError,
  NonRetryableError,
  RetryPolicy,
  type RetryPolicyOptions,
  type WorkflowContext,
} from "./index.js";
import { at, h, kinds, onlyCompletion, registry, run, START, started } from "./testing/golden.js";

function failed(errorType = "Error", isNonRetriable = false): FailureDetails {
  return { errorType, message: "failed", stackTrace: undefined, isNonRetriable, cause: undefined };
}

/** The delays a policy asks for when every attempt fails with `failure`, until it gives up. */
function delays(policy: RetryPolicy, failure = failed()): number[] {
  const out: number[] = [];
  let waited = 0;
  for (let failures = 1; ; failures++) {
    const delay = policy.nextDelayMs(failure, failures, waited);
    if (delay === undefined) return out;
    out.push(delay);
    waited += delay;
    if (failures > 100) throw new Error("the policy never gives up");
  }
}

function invalid(options: RetryPolicyOptions): InvalidArgumentError {
  try {
    new RetryPolicy(options);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

const base = { maxNumberOfAttempts: 3, firstRetryInterval: 1 } as const;

describe("RetryPolicy validation", () => {
  it.each([0, -1])("rejects maxNumberOfAttempts %d (< 1)", (n) => {
    const error = invalid({ ...base, maxNumberOfAttempts: n });
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toBe(`maxNumberOfAttempts must be an integer >= 1; got ${n}`);
  });

  it.each([1.5, Number.NaN, Number.POSITIVE_INFINITY])("rejects a non-integer maxNumberOfAttempts (%d)", (n) => {
    const error = invalid({ ...base, maxNumberOfAttempts: n });
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("maxNumberOfAttempts must be an integer >= 1");
  });

  it.each([0.5, 0, -2, Number.NaN, Number.POSITIVE_INFINITY])("rejects backoffCoefficient %d", (coefficient) => {
    const error = invalid({ ...base, backoffCoefficient: coefficient });
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("backoffCoefficient must be a finite number >= 1");
    expect(error.message).toContain(String(coefficient));
  });

  it.each([
    ["firstRetryInterval", { firstRetryInterval: -1 }],
    ["firstRetryInterval", { firstRetryInterval: { seconds: -5 } }],
    ["firstRetryInterval", { firstRetryInterval: Number.NaN }],
    ["firstRetryInterval", { firstRetryInterval: Number.POSITIVE_INFINITY }],
    ["maxRetryInterval", { maxRetryInterval: -0.001 }],
    ["maxRetryInterval", { maxRetryInterval: { minutes: Number.POSITIVE_INFINITY } }],
    ["retryTimeout", { retryTimeout: -60 }],
    ["retryTimeout", { retryTimeout: { hours: -1 } }],
  ])("rejects a negative or non-finite %s (%j)", (field, override) => {
    const error = invalid({ ...base, ...override });
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain(`${field} must be a finite, non-negative duration`);
  });

  it("accepts the boundaries: one attempt, coefficient 1, a zero first interval", () => {
    const policy = new RetryPolicy({ maxNumberOfAttempts: 1, firstRetryInterval: 0, backoffCoefficient: 1 });
    expect(policy.maxNumberOfAttempts).toBe(1);
    expect(policy.firstRetryIntervalMs).toBe(0);
    expect(policy.backoffCoefficient).toBe(1);
  });

  it("reads durations as seconds or explicit units", () => {
    const policy = new RetryPolicy({
      maxNumberOfAttempts: 2,
      firstRetryInterval: 1.5,
      maxRetryInterval: { minutes: 1, seconds: 30 },
      retryTimeout: { hours: 1, milliseconds: 5 },
    });
    expect(policy.firstRetryIntervalMs).toBe(1500);
    expect(policy.maxRetryIntervalMs).toBe(90_000);
    expect(policy.retryTimeoutMs).toBe(3_600_005);
  });

  it("RetryPolicy.from keeps an instance and builds one from options", () => {
    const policy = new RetryPolicy(base);
    expect(RetryPolicy.from(policy)).toBe(policy);
    expect(RetryPolicy.from(base)).toBeInstanceOf(RetryPolicy);
  });
});

describe("RetryPolicy.nextDelayMs", () => {
  it("first delay is firstRetryInterval; each next one multiplies by the coefficient", () => {
    // python: compute_next_delay, delay = first * coeff ** (attempt - 1)
    const policy = new RetryPolicy({ maxNumberOfAttempts: 5, firstRetryInterval: 1, backoffCoefficient: 2 });
    expect(delays(policy)).toEqual([1000, 2000, 4000, 8000]);
  });

  it("a coefficient of 1 (the default) keeps the delay constant", () => {
    expect(delays(new RetryPolicy({ maxNumberOfAttempts: 4, firstRetryInterval: { milliseconds: 250 } }))).toEqual([
      250, 250, 250,
    ]);
  });

  it("caps every delay at maxRetryInterval", () => {
    const policy = new RetryPolicy({
      maxNumberOfAttempts: 6,
      firstRetryInterval: 1,
      backoffCoefficient: 3,
      maxRetryInterval: 5,
    });
    expect(delays(policy)).toEqual([1000, 3000, 5000, 5000, 5000]);
  });

  it("maxNumberOfAttempts counts the first attempt", () => {
    expect(delays(new RetryPolicy({ maxNumberOfAttempts: 3, firstRetryInterval: 1 }))).toHaveLength(2);
    expect(delays(new RetryPolicy({ maxNumberOfAttempts: 1, firstRetryInterval: 1 }))).toEqual([]);
  });

  it("retryTimeout counts the policy's own delays: first 1s, backoff 2, 5 attempts, 13s → exactly 4 attempts", () => {
    // python e2e: test_retry_timeout (deterministic form: 1+2+4 = 7 < 13, 7+8 = 15 >= 13 → stop)
    const policy = new RetryPolicy({
      maxNumberOfAttempts: 5,
      firstRetryInterval: 1,
      backoffCoefficient: 2,
      retryTimeout: 13,
    });
    const waits = delays(policy);
    expect(waits).toEqual([1000, 2000, 4000]);
    expect(waits.length + 1).toBe(4);
  });

  it("stops when the waited time plus the next delay reaches the timeout exactly", () => {
    const policy = new RetryPolicy({ maxNumberOfAttempts: 10, firstRetryInterval: 1, retryTimeout: 3 });
    expect(policy.nextDelayMs(failed(), 2, 1000)).toBe(1000);
    expect(policy.nextDelayMs(failed(), 3, 2000)).toBeUndefined();
    expect(delays(policy)).toEqual([1000, 1000]);
  });

  it("gives the same answer for the same arguments (no clock)", () => {
    const policy = new RetryPolicy({ maxNumberOfAttempts: 5, firstRetryInterval: 1, retryTimeout: 4 });
    expect(policy.nextDelayMs(failed(), 2, 1000)).toBe(policy.nextDelayMs(failed(), 2, 1000));
  });

  it("fails at once for an error type listed by name", () => {
    const policy = new RetryPolicy({ ...base, nonRetryableErrorTypes: ["ValueError"] });
    expect(policy.nextDelayMs(failed("ValueError"), 1, 0)).toBeUndefined();
    expect(policy.nextDelayMs(failed("TypeError"), 1, 0)).toBe(1000);
  });

  it("fails at once for an error type listed by class (its name)", () => {
    class InsufficientFunds extends Error {}
    const policy = new RetryPolicy({ ...base, nonRetryableErrorTypes: [InsufficientFunds, TypeError] });
    expect([...policy.nonRetryableErrorTypes]).toEqual(["InsufficientFunds", "TypeError"]);
    expect(policy.nextDelayMs(failed("InsufficientFunds"), 1, 0)).toBeUndefined();
    expect(policy.nextDelayMs(failed("TypeError"), 1, 0)).toBeUndefined();
    expect(policy.nextDelayMs(failed("RangeError"), 1, 0)).toBe(1000);
  });

  it("never retries a NonRetryableError", () => {
    const policy = new RetryPolicy(base);
    expect(policy.nextDelayMs(failed(new NonRetryableError("x").name), 1, 0)).toBeUndefined();
  });

  it("never retries a failure marked isNonRetriable, whatever its type", () => {
    expect(new RetryPolicy(base).nextDelayMs(failed("Error", true), 1, 0)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Through the engine: a small sidecar that records each turn's actions into history.

/** The history events the sidecar writes for the actions a turn returned. */
function record(actions: readonly WorkflowAction[]): HistoryEvent[] {
  return actions.flatMap((a): HistoryEvent[] => {
    const t = a.workflowActionType;
    switch (t.case) {
      case "scheduleTask":
        return [h.taskScheduled(a.id, t.value.name, t.value.input, t.value.taskExecutionId)];
      case "createTimer":
        return [h.timerCreated(a.id, new Date(fireAtMs(t.value)), t.value.origin, t.value.name)];
      case "createChildWorkflow":
        return [h.childWorkflowCreated(a.id, t.value.name, t.value.instanceId, t.value.input)];
      default:
        return [];
    }
  });
}

function fireAtMs(timer: { readonly fireAt?: Timestamp | undefined }): number {
  if (timer.fireAt === undefined) throw new Error("a timer without fireAt");
  return timestampMs(timer.fireAt);
}

function timerOf(action: WorkflowAction | undefined) {
  if (action?.workflowActionType.case !== "createTimer") throw new Error(`not a timer: ${action?.id}`);
  return action.workflowActionType.value;
}

describe("retries in a workflow", () => {
  const flaky = (policy: RetryPolicyOptions) =>
    registry({
      w: function* (ctx: WorkflowContext) {
        return yield* ctx.callActivity("flaky", { input: "x", retryPolicy: policy });
      },
    });

  it("python e2e test_retry_timeout: 4 attempts with timers of 1s, 2s, 4s, then FAILED", () => {
    // python e2e: test_retry_timeout; go: Test_ActivityRetries (timer origin activityRetry)
    const reg = flaky({ maxNumberOfAttempts: 5, firstRetryInterval: 1, backoffCoefficient: 2, retryTimeout: 13 });
    const past: HistoryEvent[] = [];
    let turn = run(reg, past, started("w"));
    past.push(...started("w"), ...record(turn.actions));
    const attempts: WorkflowAction[] = [...turn.actions];
    const timers: number[] = [];
    let now = START.getTime();
    for (let round = 0; round < 10; round++) {
      const last = attempts.at(-1) as WorkflowAction;
      const failedEvents = [h.workflowStarted(new Date(now)), h.taskFailed(last.id, new Error("down"))];
      turn = run(reg, past, failedEvents);
      past.push(...failedEvents, ...record(turn.actions));
      if (kinds(turn)[0] !== "createTimer") break;
      const timer = timerOf(turn.actions[0]);
      const fireAt = fireAtMs(timer);
      timers.push(fireAt - now);
      now = fireAt;
      const firedEvents = [h.workflowStarted(new Date(now)), h.timerFired(turn.actions[0]?.id ?? 0, new Date(now))];
      turn = run(reg, past, firedEvents);
      past.push(...firedEvents, ...record(turn.actions));
      expect(kinds(turn)).toEqual(["scheduleTask"]);
      attempts.push(...turn.actions);
    }
    expect(attempts).toHaveLength(4);
    expect(timers).toEqual([1000, 2000, 4000]);
    const done = onlyCompletion(turn);
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("TaskFailedError");
  });

  it("schedules a retry timer `<name>-retry` at now + delay with origin activityRetry{taskExecutionId}", () => {
    // go: Test_ActivityRetry_TimerOriginMatchesTaskExecutionId
    const reg = flaky({ maxNumberOfAttempts: 3, firstRetryInterval: 5 });
    const first = run(reg, [], started("w"));
    const scheduled = first.actions[0]?.workflowActionType;
    const executionId = scheduled?.case === "scheduleTask" ? scheduled.value.taskExecutionId : "";
    expect(executionId).not.toBe("");
    const past = [...started("w"), ...record(first.actions)];
    const turn = run(reg, past, [h.workflowStarted(at(2)), h.taskFailed(1, new Error("down"))]);
    expect(kinds(turn)).toEqual(["createTimer"]);
    expect(turn.actions[0]?.id).toBe(2);
    const timer = timerOf(turn.actions[0]);
    expect(timer.name).toBe("flaky-retry");
    expect(fireAtMs(timer)).toBe(at(7).getTime());
    expect(timer.origin).toMatchObject({ case: "activityRetry", value: { taskExecutionId: executionId } });
  });

  it("re-schedules with a new sequence id, the same input and the same taskExecutionId", () => {
    const reg = flaky({ maxNumberOfAttempts: 3, firstRetryInterval: 1 });
    const first = run(reg, [], started("w"));
    const past = [
      ...started("w"),
      ...record(first.actions),
      h.workflowStarted(at(1)),
      h.taskFailed(1, new Error("down")),
      h.timerCreated(2, at(2), { case: "activityRetry", value: {} }, "flaky-retry"),
    ];
    const retry = run(reg, past, [h.workflowStarted(at(2)), h.timerFired(2, at(2))]);
    expect(kinds(retry)).toEqual(["scheduleTask"]);
    expect(retry.actions[0]?.id).toBe(3);
    expect(retry.actions[0]?.workflowActionType.value).toEqual(first.actions[0]?.workflowActionType.value);
  });

  it("a NonRetryableError from the activity fails at once: no timer", () => {
    const reg = flaky({ maxNumberOfAttempts: 5, firstRetryInterval: 1 });
    const past = [...started("w"), h.taskScheduled(1, "flaky", '"x"')];
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, new NonRetryableError("card declined"))]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorMessage).toBe("Activity 'flaky' (task #1) failed: card declined");
  });

  it("a failure marked isNonRetriable fails at once: no timer", () => {
    const reg = flaky({ maxNumberOfAttempts: 5, firstRetryInterval: 1 });
    const past = [...started("w"), h.taskScheduled(1, "flaky", '"x"')];
    const failure = { errorType: "IOError", errorMessage: "gone", isNonRetriable: true } as never;
    const done = onlyCompletion(run(reg, past, [h.taskFailed(1, failure)]));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
  });

  it("an error type listed as non-retryable fails at once; another one is retried", () => {
    const reg = flaky({ maxNumberOfAttempts: 5, firstRetryInterval: 1, nonRetryableErrorTypes: ["ValueError"] });
    const past = [...started("w"), h.taskScheduled(1, "flaky", '"x"')];
    const listed = run(reg, past, [h.taskFailed(1, { errorType: "ValueError", errorMessage: "v" })]);
    expect(onlyCompletion(listed).workflowStatus).toBe(OrchestrationStatus.FAILED);
    const other = run(reg, past, [h.taskFailed(1, { errorType: "KeyError", errorMessage: "k" })]);
    expect(kinds(other)).toEqual(["createTimer"]);
  });

  it("an invalid policy passed to callActivity fails the workflow with INVALID_ARGUMENT details", () => {
    const reg = flaky({ maxNumberOfAttempts: 0, firstRetryInterval: 1 });
    const done = onlyCompletion(run(reg, [], started("w")));
    expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(done.failureDetails?.errorType).toBe("InvalidArgumentError");
    expect(done.failureDetails?.errorMessage).toContain("maxNumberOfAttempts");
  });
});
