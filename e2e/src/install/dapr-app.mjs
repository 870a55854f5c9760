// Copied into a scratch project that has only @dt/dapr (and its @dt dependencies) installed from packed tarballs.
// A complete Dapr-style app using nothing but "@dt/dapr": a runtime hosting a generator workflow, an async workflow
// and an activity, and a client that runs both workflows and prints one `RESULT {…}` line. The sidecar comes from
// DAPR_GRPC_ENDPOINT, as under `dapr run`.
// Usage: DAPR_GRPC_ENDPOINT=127.0.0.1:<port> node dapr-app.mjs <instance id prefix>
import { DaprWorkflowClient, WorkflowRuntime, WorkflowRuntimeStatus } from "@dt/dapr";

const prefix = process.argv[2];
if (prefix === undefined) {
  console.error("usage: node dapr-app.mjs <instance id prefix>");
  process.exit(2);
}

async function greet(_ctx, name) {
  return `Hello ${name}!`;
}

function* greetCities(ctx, cities) {
  const greetings = [];
  for (const city of cities) greetings.push(yield ctx.callActivity(greet, city));
  return greetings;
}

async function greetTwice(ctx, name) {
  const first = await ctx.callActivity(greet, name);
  const second = await ctx.callActivity(greet, first);
  return { instance: ctx.getWorkflowInstanceId(), first, second };
}

const runtime = new WorkflowRuntime();
runtime.registerWorkflow(greetCities).registerWorkflow(greetTwice).registerActivity(greet);
const client = new DaprWorkflowClient();
try {
  await runtime.start();
  await runtime.waitForReady(60_000);

  const generatorId = await client.scheduleNewWorkflow(greetCities, ["Tokyo", "Seattle"], `${prefix}-generator`);
  const generator = await client.waitForWorkflowCompletion(generatorId, true, 90);
  const asyncId = await client.scheduleNewWorkflow(greetTwice, "London", `${prefix}-async`);
  const asynchronous = await client.waitForWorkflowCompletion(asyncId, true, 90);

  const describe = (state) => ({
    status: state === undefined ? "missing" : WorkflowRuntimeStatus[state.runtimeStatus],
    name: state?.name,
    output: state?.serializedOutput === undefined ? undefined : JSON.parse(state.serializedOutput),
    failure: state?.workflowFailureDetails?.getErrorMessage(),
  });
  console.log(
    `RESULT ${JSON.stringify({
      resolved: import.meta.resolve("@dt/dapr"),
      generator: { id: generatorId, ...describe(generator) },
      async: { id: asyncId, ...describe(asynchronous) },
    })}`,
  );
} finally {
  await runtime.stop({ timeoutMs: 10_000 });
  await client.stop();
}
