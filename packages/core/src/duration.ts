import { InvalidArgumentError } from "./errors.js";

/** A span of time: a number of **seconds**, or explicit units. */
export type Duration =
  | number
  | {
      readonly days?: number;
      readonly hours?: number;
      readonly minutes?: number;
      readonly seconds?: number;
      readonly milliseconds?: number;
    };

/** Milliseconds in a Duration; rejects negative and non-finite values with the offending value in the message. */
const UNITS = new Set(["days", "hours", "minutes", "seconds", "milliseconds"]);

export function durationMs(duration: Duration, what = "duration"): number {
  const valid =
    typeof duration === "number" ||
    (typeof duration === "object" &&
      duration !== null &&
      Object.entries(duration).every(([unit, n]) => UNITS.has(unit) && (n === undefined || typeof n === "number")));
  if (!valid) {
    throw new InvalidArgumentError(
      `${what} must be a number of seconds or { days, hours, minutes, seconds, milliseconds }; got ${describe(duration)}`,
    );
  }
  const ms =
    typeof duration === "number"
      ? duration * 1000
      : (duration.days ?? 0) * 86_400_000 +
        (duration.hours ?? 0) * 3_600_000 +
        (duration.minutes ?? 0) * 60_000 +
        (duration.seconds ?? 0) * 1000 +
        (duration.milliseconds ?? 0);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(`${what} must be a finite, non-negative duration; got ${JSON.stringify(duration)}`);
  }
  return ms;
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
