// Property tests that feed random frame sequences to the HTTP/2 client over an in-memory socket, with the caller
// pausing, resuming, cancelling and opening streams meanwhile. Each case must end (every stream's handler closed
// exactly once once the server hangs up), throw nothing, hold bounded memory and give every failure a clear H2Error.
// DT_FUZZ_RUNS sets the cases of all fuzz tests together (default 100 000; `pnpm fuzz` runs 1 000 000); fast-check
// prints the seed and the shrunk case of a failure.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cuts, FAULTS, preface, requests, run, runs, seen, timeout } from "./testing/fuzz-harness.js";
import { ops } from "./testing/fuzz-model.js";

describe("H2Connection under fuzzed server input", () => {
  it(
    `survives random frame sequences (${runs(0.5)} cases)`,
    async () => {
      const cases = fc.record({
        reads: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, fc.constant(false)),
        preface,
        requests,
        ops,
        cuts,
      });
      await fc.assert(fc.asyncProperty(cases, run), { numRuns: runs(0.5) });
      // The generators reach every class of fault (checked once there are enough cases to be sure).
      if (runs(0.5) >= 20_000)
        for (const fault of FAULTS)
          expect(
            [...seen].some((m) => fault.test(m)),
            `no case reached ${fault}`,
          ).toBe(true);
    },
    timeout(0.5),
  );
});
