// Function chaining: call activities one after another, passing each result on. The workflow is a generator:
// `yield*` a task to wait for it and get its typed result. Re-running it from its history gives the same calls.

import { defineActivity, defineWorkflow } from "@dt/core";
import { runApp, runWorkflow } from "@dt-apps/common";

const hello = defineActivity("hello", (_ctx, name: string) => `Hello ${name}!`);

const sequence = defineWorkflow("sequence", function* (ctx) {
  const greetings: string[] = [];
  for (const city of ["Tokyo", "Seattle", "London"]) {
    greetings.push(yield* ctx.callActivity(hello, { input: city }));
  }
  return greetings;
});

await runApp({
  name: "activity-sequence",
  workflows: [sequence],
  activities: [hello],
  main: (client) => runWorkflow(client, sequence),
});
