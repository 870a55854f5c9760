// Fan-out/fan-in: an activity decides how much work there is, one activity per work item runs in parallel, and the
// workflow waits for all of them (whenAll keeps the input order, whatever order they finish in) and sums the results.

import { setTimeout as sleep } from "node:timers/promises";
import { defineActivity, defineWorkflow } from "@dt/core";
import { envNumber, runApp, runWorkflow } from "@dt-apps/common";

const WORDS = ["apple", "banana", "cherry", "date", "elderberry", "fig", "grape", "honeydew", "kiwi", "lemon"];

/** The work to do: known only at run time (here: the first `count` words). */
const getWorkItems = defineActivity("get_work_items", (_ctx, count: number) => WORDS.slice(0, count));

/** One unit of work: takes a while (random, so they finish out of order) and returns a number. */
const processWorkItem = defineActivity("process_work_item", async (ctx, item: string) => {
  await sleep(100 + Math.random() * 400, undefined, { signal: ctx.signal });
  return item.length;
});

const fanOutFanIn = defineWorkflow("fan_out_fan_in", function* (ctx, count: number) {
  const workItems = yield* ctx.callActivity(getWorkItems, { input: count });
  // Fan out: schedule every item at once; fan in: wait for all of them.
  const results = yield* ctx.whenAll(workItems.map((item) => ctx.callActivity(processWorkItem, { input: item })));
  return { workItems, results, total: results.reduce((sum, n) => sum + n, 0) };
});

await runApp({
  name: "fan-out-fan-in",
  workflows: [fanOutFanIn],
  activities: [getWorkItems, processWorkItem],
  main: (client) => runWorkflow(client, fanOutFanIn, { input: envNumber("WORK_ITEMS", 5) }),
});
