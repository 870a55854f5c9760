// Determinism checks. A workflow's code is re-run from its history on every turn, so it must not read the clock,
// draw random numbers or do I/O itself. The same careless workflow runs twice here:
//   best_effort  the sandbox swaps Date, Math.random and crypto.randomUUID for deterministic versions (turn time,
//                a stream seeded by the instance) and warns once per call (NonDeterminismWarning): it completes.
//   strict       the same calls throw SandboxViolationError: the workflow fails, naming the call and the ctx
//                alternative.
// A third workflow awaits a promise that no workflow task settles (a file read): whatever the sandbox mode, it fails
// with ForeignAwaitError, naming the line of that await.
import { readFile } from "node:fs/promises";
import { type AsyncWorkflowContext, defineAsyncWorkflow, NonDeterminismWarning } from "@dt/aio";
import type { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, type WorkflowDefinition } from "@dt/core";
import { runApp, startWorkflow } from "@dt-apps/common";

const hello = defineActivity("hello", (_ctx, name: string) => `Hello ${name}!`);

/** Don't do this: the clock, Math.random and randomUUID inside a workflow (use ctx.now(), ctx.random(), ctx.uuid4()). */
async function rollDice(ctx: AsyncWorkflowContext) {
  const rolledAt = new Date().toISOString();
  const roll = 1 + Math.floor(Math.random() * 6);
  const id = crypto.randomUUID();
  // Under best_effort, `new Date()` gave the turn's time: the same value on every replay.
  const rolledAtIsTurnTime = rolledAt === ctx.now().toISOString();
  const greeting = await ctx.callActivity(hello, { input: `player ${roll}` });
  return { roll, id, greeting, rolledAt, rolledAtIsTurnTime };
}

const bestEffort = defineAsyncWorkflow("dice_best_effort", rollDice, { sandboxMode: "best_effort" });
const strict = defineAsyncWorkflow("dice_strict", rollDice, { sandboxMode: "strict" });

/** Don't do this either: I/O awaited inside a workflow (do it in an activity). */
const foreignAwait = defineAsyncWorkflow("read_config", async (ctx) => {
  const config = await readFile(new URL("../package.json", import.meta.url), "utf8");
  return ctx.callActivity(hello, { input: JSON.parse(config).name });
});

async function attempt(client: TaskHubGrpcClient, workflow: WorkflowDefinition<undefined, unknown>) {
  const state = await (await startWorkflow(client, workflow)).done();
  return state.status === "COMPLETED"
    ? { status: state.status, output: state.output }
    : { status: state.status, errorType: state.failureDetails?.errorType, message: state.failureDetails?.message };
}

await runApp({
  name: "async-non-determinism",
  workflows: [bestEffort, strict, foreignAwait],
  activities: [hello],
  main: async (client, log) => {
    const warnings: string[] = [];
    process.on("warning", (warning) => {
      if (!(warning instanceof NonDeterminismWarning)) return;
      warnings.push(warning.call);
      log(`⚠ ${warning.message}`);
    });
    return {
      bestEffort: { ...(await attempt(client, bestEffort)), warnings },
      strict: await attempt(client, strict),
      foreignAwait: await attempt(client, foreignAwait),
    };
  },
});
