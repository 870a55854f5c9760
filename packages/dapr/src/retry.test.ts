import { RetryPolicy as CoreRetryPolicy, InvalidArgumentError } from "@dt/core";
import { describe, expect, it } from "vitest";
import { RetryPolicy, toRetryPolicyOptions } from "./retry.js";

const failure = { errorType: "Error", message: "boom", stackTrace: undefined, isNonRetriable: false, cause: undefined };

describe("RetryPolicy with Dapr's names", () => {
  it("is a @dt/core RetryPolicy with the same delays", () => {
    const policy = new RetryPolicy({
      maxNumberOfAttempts: 4,
      firstRetryInterval: 1,
      backoffCoefficient: 2,
      maxRetryInterval: { seconds: 3 },
      retryTimeout: { minutes: 1 },
    });
    expect(policy).toBeInstanceOf(CoreRetryPolicy);
    expect(policy.firstRetryIntervalInMilliseconds).toBe(1000);
    expect(policy.maxRetryIntervalInMilliseconds).toBe(3000);
    expect(policy.retryTimeoutInMilliseconds).toBe(60_000);
    expect([1, 2, 3, 4].map((n) => policy.nextDelayMs(failure, n, 0))).toEqual([1000, 2000, 3000, undefined]);
  });

  it("accepts @microsoft/durabletask-js's …InMilliseconds spellings; -1 means no timeout", () => {
    const options = toRetryPolicyOptions({
      maxNumberOfAttempts: 2,
      firstRetryIntervalInMilliseconds: 250,
      maxRetryIntervalInMilliseconds: 1000,
      retryTimeoutInMilliseconds: -1,
    });
    expect(options).toEqual({
      maxNumberOfAttempts: 2,
      firstRetryInterval: { milliseconds: 250 },
      maxRetryInterval: { milliseconds: 1000 },
    });
    expect(
      new RetryPolicy({ maxNumberOfAttempts: 2, firstRetryIntervalInMilliseconds: 250 }).firstRetryIntervalMs,
    ).toBe(250);
  });

  it("refuses two spellings of one setting, a missing first interval and invalid values", () => {
    expect(
      () => new RetryPolicy({ maxNumberOfAttempts: 2, firstRetryInterval: 1, firstRetryIntervalInMilliseconds: 1 }),
    ).toThrow(/firstRetryInterval or firstRetryIntervalInMilliseconds/);
    expect(() => new RetryPolicy({ maxNumberOfAttempts: 2 })).toThrow(InvalidArgumentError);
    expect(() => new RetryPolicy({ maxNumberOfAttempts: 0, firstRetryInterval: 1 })).toThrow(/maxNumberOfAttempts/);
    expect(() => new RetryPolicy({ maxNumberOfAttempts: 2, firstRetryInterval: 1, backoffCoefficient: 0.5 })).toThrow(
      /backoffCoefficient/,
    );
  });

  it("from(): policies pass as they are, options become a policy", () => {
    const core = new CoreRetryPolicy({ maxNumberOfAttempts: 2, firstRetryInterval: 1 });
    expect(RetryPolicy.from(core)).toBe(core);
    const made = RetryPolicy.from({ maxNumberOfAttempts: 3, firstRetryIntervalInMilliseconds: 10 });
    expect(made).toBeInstanceOf(RetryPolicy);
    expect(made.maxNumberOfAttempts).toBe(3);
  });

  it("keeps non-retryable error types", () => {
    const policy = new RetryPolicy({
      maxNumberOfAttempts: 5,
      firstRetryInterval: 1,
      nonRetryableErrorTypes: [TypeError],
    });
    expect(policy.nextDelayMs({ ...failure, errorType: "TypeError" }, 1, 0)).toBeUndefined();
    expect(policy.nextDelayMs(failure, 1, 0)).toBe(1000);
  });
});
