// The async layer's extras, one after another:
//   withTimeout        an activity raced against a durable timer (a fast one finishes, a slow one times out)
//   whenAnyWithResult  three providers raced; the index and result of the first to answer
//   now/random/uuid4   deterministic time, randomness and ids (the same on every replay)
//   metadata           key/values that travel with every call to activities (ctx.metadata there)
//   gather             tasks gathered with { returnExceptions: true }: a failure comes back as a value
//   cleanup            ctx.addCleanup(fn) runs when the workflow finishes (`await using _ = ctx`)
//   debug mode         getDebugInfo() lists the operations (`{ debug: true }`, or DAPR_WF_DEBUG=true)
import { setTimeout as sleep } from "node:timers/promises";
import { defineAsyncWorkflow, TimeoutError } from "@dt/aio";
import { defineActivity } from "@dt/core";
import { envNumber, runApp, startWorkflow } from "@dt-apps/common";

/** Works for `seconds` (and stops early if the worker shuts down). */
const slowActivity = defineActivity("slow_activity", async (ctx, seconds: number) => {
  await sleep(seconds * 1000, undefined, { signal: ctx.signal });
  return `finished after ${seconds} s`;
});

const provider = (name: string, ms: number) =>
  defineActivity(name, async (ctx) => {
    await sleep(ms, undefined, { signal: ctx.signal });
    return `${name}: 42 EUR`;
  });
const providers = [provider("provider_a", 1500), provider("provider_b", 100), provider("provider_c", 800)];

const whoAmI = defineActivity("who_am_i", (ctx) => ({ instanceId: ctx.instanceId, metadata: ctx.metadata }));

const flaky = defineActivity("flaky_service", (): string => {
  throw new Error("flaky service is down");
});

interface Input {
  /** The withTimeout limit, in seconds. */
  readonly timeout: number;
  /** How long the slow activity works, in seconds (longer than the timeout). */
  readonly slowSeconds: number;
}

const enhanced = defineAsyncWorkflow(
  "enhanced_features",
  async (ctx, input: Input) => {
    // Cleanups run, last registered first, when this scope ends: once, in the turn that finishes the workflow.
    await using _ = ctx;
    ctx.addCleanup(() => {
      ctx.setCustomStatus("cleaned up");
      ctx.logger.info("cleanup: released resources");
    });

    // withTimeout: the result, or a TimeoutError when the durable timer fires first. The operation is not canceled.
    const fast = await ctx.withTimeout(ctx.callActivity(slowActivity, { input: 0.1 }), input.timeout);
    let slow: string;
    try {
      slow = await ctx.withTimeout(ctx.callActivity(slowActivity, { input: input.slowSeconds }), input.timeout);
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      slow = `timed out: ${error.message}`;
    }

    // whenAnyWithResult: [index, result] of the first task to settle.
    const [winnerIndex, quote] = await ctx.whenAnyWithResult(providers.map((p) => ctx.callActivity(p)));

    // Deterministic helpers: recorded nowhere, yet the same on every replay of this instance.
    const deterministic = { now: ctx.now().toISOString(), random: ctx.random(), uuid: ctx.uuid4() };

    // Metadata: attached to every call from here on; activities read it as ctx.metadata.
    ctx.setMetadata({ tenant: "acme", requestId: deterministic.uuid });
    const seen = await ctx.callActivity(whoAmI);

    // gather with returnExceptions: results in order, failures as Error values.
    const gathered = await ctx.gather(ctx.callActivity(whoAmI), ctx.callActivity(flaky), { returnExceptions: true });

    return {
      fast,
      slow,
      race: { winnerIndex, winner: providers[winnerIndex]?.name, quote },
      deterministic,
      metadata: seen.metadata,
      gathered: gathered.map((r) => (r instanceof Error ? `error: ${r.message}` : "ok")),
      operations: ctx.getDebugInfo().operationHistory.length,
    };
  },
  { debug: true },
);

await runApp({
  name: "async-enhanced-features",
  workflows: [enhanced],
  activities: [slowActivity, ...providers, whoAmI, flaky],
  main: async (client) => {
    const input = { timeout: envNumber("TIMEOUT", 1), slowSeconds: envNumber("SLOW_SECONDS", 3) };
    const run = await startWorkflow(client, enhanced, { input });
    const state = await run.done();
    if (state.status !== "COMPLETED") throw new Error(`enhanced_features ${state.status}`);
    return { ...state.output, customStatus: state.customStatus };
  },
});
