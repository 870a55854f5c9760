import { type Duration, durationMs } from "./duration.js";
import { type FailureDetails, InvalidArgumentError } from "./errors.js";

export interface RetryPolicyOptions {
  /** Attempts in all, the first one included (>= 1). */
  readonly maxNumberOfAttempts: number;
  /** Delay before the first retry. */
  readonly firstRetryInterval: Duration;
  /** Each further delay is the previous one times this (>= 1, default 1). */
  readonly backoffCoefficient?: number;
  /** Upper bound for any single delay. */
  readonly maxRetryInterval?: Duration;
  /**
   * Retries stop once the delays waited so far plus the next one would reach this. Counted from the policy's
   * own delays, not the clock, so it is the same on every replay.
   */
  readonly retryTimeout?: Duration;
  /** Error types (names or classes) that fail at once. `NonRetryableError` and non-retriable failures always do. */
  readonly nonRetryableErrorTypes?: readonly (string | (abstract new (...args: never[]) => Error))[];
}

export class RetryPolicy {
  readonly maxNumberOfAttempts: number;
  readonly firstRetryIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly maxRetryIntervalMs: number | undefined;
  readonly retryTimeoutMs: number | undefined;
  readonly nonRetryableErrorTypes: ReadonlySet<string>;

  constructor(options: RetryPolicyOptions) {
    const { maxNumberOfAttempts, backoffCoefficient = 1 } = options;
    if (!Number.isInteger(maxNumberOfAttempts) || maxNumberOfAttempts < 1) {
      throw new InvalidArgumentError(`maxNumberOfAttempts must be an integer >= 1; got ${maxNumberOfAttempts}`);
    }
    if (!Number.isFinite(backoffCoefficient) || backoffCoefficient < 1) {
      throw new InvalidArgumentError(`backoffCoefficient must be a finite number >= 1; got ${backoffCoefficient}`);
    }
    this.maxNumberOfAttempts = maxNumberOfAttempts;
    this.firstRetryIntervalMs = durationMs(options.firstRetryInterval, "firstRetryInterval");
    this.backoffCoefficient = backoffCoefficient;
    this.maxRetryIntervalMs =
      options.maxRetryInterval === undefined ? undefined : durationMs(options.maxRetryInterval, "maxRetryInterval");
    this.retryTimeoutMs =
      options.retryTimeout === undefined ? undefined : durationMs(options.retryTimeout, "retryTimeout");
    this.nonRetryableErrorTypes = new Set(
      (options.nonRetryableErrorTypes ?? []).map((t) => (typeof t === "string" ? t : t.name)),
    );
  }

  static from(policy: RetryPolicy | RetryPolicyOptions): RetryPolicy {
    return policy instanceof RetryPolicy ? policy : new RetryPolicy(policy);
  }

  /**
   * The delay before the next attempt after `failedAttempts` failures, having already waited `waitedMs`,
   * or undefined when the failure is final.
   */
  nextDelayMs(failure: FailureDetails, failedAttempts: number, waitedMs: number): number | undefined {
    if (failure.isNonRetriable || failure.errorType === "NonRetryableError") return undefined;
    if (this.nonRetryableErrorTypes.has(failure.errorType)) return undefined;
    if (failedAttempts >= this.maxNumberOfAttempts) return undefined;
    let delay = this.firstRetryIntervalMs * this.backoffCoefficient ** (failedAttempts - 1);
    if (this.maxRetryIntervalMs !== undefined) delay = Math.min(delay, this.maxRetryIntervalMs);
    if (this.retryTimeoutMs !== undefined && waitedMs + delay >= this.retryTimeoutMs) return undefined;
    return Math.round(delay);
  }
}
