// Function chaining as an async workflow: `await` each activity instead of `yield*`-ing it. The code reads like
// ordinary async TypeScript, yet replays exactly like the generator version: every await is a durable task, and the
// engine resumes the code in history order.

import { defineAsyncWorkflow } from "@dt/aio";
import { defineActivity } from "@dt/core";
import { runApp, runWorkflow } from "@dt-apps/common";

const hello = defineActivity("hello", (_ctx, name: string) => `Hello ${name}!`);

const sequence = defineAsyncWorkflow("async_sequence", async (ctx) => {
  const tokyo = await ctx.callActivity(hello, { input: "Tokyo" });
  const seattle = await ctx.callActivity(hello, { input: "Seattle" });
  await ctx.sleep(1); // a durable timer: one second, even if the app restarts in between
  const london = await ctx.callActivity(hello, { input: "London" });
  return [tokyo, seattle, london];
});

await runApp({
  name: "async-activity-sequence",
  workflows: [sequence],
  activities: [hello],
  main: (client) => runWorkflow(client, sequence),
});
