// Retry policies with the names every Dapr SDK uses (Python's `RetryPolicy(first_retry_interval=…,
// max_number_of_attempts=…, backoff_coefficient=…, max_retry_interval=…, retry_timeout=…)`, camel-cased), run by the
// @dt/core engine on durable timers. @microsoft/durabletask-js's `…InMilliseconds` spellings are accepted too.
import { RetryPolicy as CoreRetryPolicy, type Duration, InvalidArgumentError, type RetryPolicyOptions } from "@dt/core";

export interface DaprRetryPolicyOptions {
  /** Attempts in all, the first one included (>= 1). */
  readonly maxNumberOfAttempts: number;
  /** Delay before the first retry: a number of seconds, or `{ seconds, minutes, … }`. */
  readonly firstRetryInterval?: Duration;
  /** The same delay in milliseconds (@microsoft/durabletask-js's name). */
  readonly firstRetryIntervalInMilliseconds?: number;
  /** Each further delay is the previous one times this (>= 1). Default 1. */
  readonly backoffCoefficient?: number;
  /** Upper bound for a single delay. */
  readonly maxRetryInterval?: Duration;
  readonly maxRetryIntervalInMilliseconds?: number;
  /** No retry is started once the delays waited so far plus the next one would reach this. */
  readonly retryTimeout?: Duration;
  /** In milliseconds; a negative value (durabletask-js's -1) means no timeout. */
  readonly retryTimeoutInMilliseconds?: number;
  /** Error types (names or classes) that fail at once. `NonRetryableError` always does. */
  readonly nonRetryableErrorTypes?: RetryPolicyOptions["nonRetryableErrorTypes"];
}

/**
 * `new RetryPolicy({ maxNumberOfAttempts: 3, firstRetryInterval: 1, backoffCoefficient: 2 })`; pass it as
 * `ctx.callActivity(activity, input, { retryPolicy })`. It is a @dt/core `RetryPolicy`, so @dt/core APIs take it too.
 */
export class RetryPolicy extends CoreRetryPolicy {
  constructor(options: DaprRetryPolicyOptions) {
    super(toRetryPolicyOptions(options));
  }

  /** A policy from a RetryPolicy (either package's) or from Dapr-named options. */
  static override from(policy: CoreRetryPolicy | DaprRetryPolicyOptions | RetryPolicyOptions): CoreRetryPolicy {
    return policy instanceof CoreRetryPolicy ? policy : new RetryPolicy(policy);
  }

  /** Delay before the first retry, in milliseconds. */
  get firstRetryIntervalInMilliseconds(): number {
    return this.firstRetryIntervalMs;
  }

  get maxRetryIntervalInMilliseconds(): number | undefined {
    return this.maxRetryIntervalMs;
  }

  get retryTimeoutInMilliseconds(): number | undefined {
    return this.retryTimeoutMs;
  }
}

/** Dapr-named options as @dt/core's: one spelling per setting, milliseconds turned into `{ milliseconds }`. */
export function toRetryPolicyOptions(options: DaprRetryPolicyOptions): RetryPolicyOptions {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError(`A retry policy needs options ({ maxNumberOfAttempts, firstRetryInterval, … }).`);
  }
  const firstRetryInterval = pick(options, "firstRetryInterval", "firstRetryIntervalInMilliseconds");
  if (firstRetryInterval === undefined) {
    throw new InvalidArgumentError("A retry policy needs firstRetryInterval (seconds, or { milliseconds, … }).");
  }
  const maxRetryInterval = pick(options, "maxRetryInterval", "maxRetryIntervalInMilliseconds");
  let retryTimeout = pick(options, "retryTimeout", "retryTimeoutInMilliseconds");
  if (options.retryTimeoutInMilliseconds !== undefined && options.retryTimeoutInMilliseconds < 0) {
    retryTimeout = undefined;
  }
  return {
    maxNumberOfAttempts: options.maxNumberOfAttempts,
    firstRetryInterval,
    ...(options.backoffCoefficient === undefined ? {} : { backoffCoefficient: options.backoffCoefficient }),
    ...(maxRetryInterval === undefined ? {} : { maxRetryInterval }),
    ...(retryTimeout === undefined ? {} : { retryTimeout }),
    ...(options.nonRetryableErrorTypes === undefined ? {} : { nonRetryableErrorTypes: options.nonRetryableErrorTypes }),
  };
}

function pick(
  options: DaprRetryPolicyOptions,
  name: "firstRetryInterval" | "maxRetryInterval" | "retryTimeout",
  msName: "firstRetryIntervalInMilliseconds" | "maxRetryIntervalInMilliseconds" | "retryTimeoutInMilliseconds",
): Duration | undefined {
  const value = options[name];
  const ms = options[msName];
  if (value !== undefined && ms !== undefined) {
    throw new InvalidArgumentError(`Give ${name} or ${msName}, not both.`);
  }
  if (ms !== undefined) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) {
      throw new InvalidArgumentError(`${msName} must be a finite number; got ${String(ms)}.`);
    }
    return { milliseconds: ms };
  }
  return value;
}
