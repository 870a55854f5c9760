// Fan-out/fan-in as an async workflow: start every activity, then `await ctx.whenAll(tasks)`. `ctx.gather(...)`
// does the same for any mix of tasks and async helper functions, and can return failures as values.

import { setTimeout as sleep } from "node:timers/promises";
import { type AsyncWorkflowContext, defineAsyncWorkflow } from "@dt/aio";
import { defineActivity } from "@dt/core";
import { envNumber, runApp, runWorkflow } from "@dt-apps/common";

const WORDS = ["apple", "banana", "cherry", "date", "elderberry", "fig", "grape", "honeydew", "kiwi", "lemon"];

const getWorkItems = defineActivity("get_work_items", (_ctx, count: number) => WORDS.slice(0, count));

const processWorkItem = defineActivity("process_work_item", async (ctx, item: string) => {
  await sleep(100 + Math.random() * 400, undefined, { signal: ctx.signal });
  return item.length;
});

const describeItem = defineActivity("describe_item", (_ctx, item: string) => `${item} has ${item.length} letters`);

/** An async helper awaits workflow tasks too, so it can be gathered like one. */
async function shout(ctx: AsyncWorkflowContext, item: string): Promise<string> {
  const text = await ctx.callActivity(describeItem, { input: item });
  return `${text.toUpperCase()}!`;
}

const fanOutFanIn = defineAsyncWorkflow("async_fan_out_fan_in", async (ctx, count: number) => {
  const workItems = await ctx.callActivity(getWorkItems, { input: count });
  // Fan out: every item at once. Fan in: whenAll keeps the input order, whatever order they finish in.
  const results = await ctx.whenAll(workItems.map((item) => ctx.callActivity(processWorkItem, { input: item })));
  const total = results.reduce((sum, n) => sum + n, 0);
  // gather: tasks and async helpers together, results in argument order.
  const byLength = [...workItems].sort((a, b) => a.length - b.length || a.localeCompare(b));
  const [shortest, longest] = await ctx.gather(
    ctx.callActivity(describeItem, { input: byLength[0] ?? "" }),
    shout(ctx, byLength.at(-1) ?? ""),
  );
  return { workItems, results, total, shortest, longest };
});

await runApp({
  name: "async-fan-out-fan-in",
  workflows: [fanOutFanIn],
  activities: [getWorkItems, processWorkItem, describeItem],
  main: (client) => runWorkflow(client, fanOutFanIn, { input: envNumber("WORK_ITEMS", 5) }),
});
