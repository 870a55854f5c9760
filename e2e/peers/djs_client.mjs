// A @dapr/durabletask-js 1.0.0 client for the interop suite: schedules a workflow, optionally raises an event once
// the workflow says it waits for it, waits for completion and prints the final state as one `RESULT <json>` line.
//
// Usage: node djs_client.mjs <sidecar address> <workflow name> <instance id> [--input <json>]
//          [--event <name> --event-data <json> --when-status <custom status>] [--timeout <seconds>]
//
// Exits 0 after printing RESULT (whatever the workflow's status), 1 on an error.
import { TaskHubGrpcClient } from "@dapr/durabletask-js";
import { OrchestrationStatus } from "@dapr/durabletask-js/orchestration/enum/orchestration-status.enum.js";

const [address, name, instanceId, ...rest] = process.argv.slice(2);
if (address === undefined || name === undefined || instanceId === undefined) {
  console.error("usage: node djs_client.mjs <address> <workflow> <instance id> [options]");
  process.exit(2);
}
const options = {};
for (let i = 0; i < rest.length; i += 2) options[rest[i].replace(/^--/, "")] = rest[i + 1];
const timeout = Number(options.timeout ?? "90");
const parseOptional = (text) => (text === undefined || text === "" ? undefined : JSON.parse(text));

const client = new TaskHubGrpcClient(address);
try {
  const id = await client.scheduleNewOrchestration(name, parseOptional(options.input), instanceId);
  if (options.event !== undefined) {
    // Raise the event only once the workflow waits for it (its custom status says so).
    const deadline = Date.now() + timeout * 1000;
    for (;;) {
      const state = await client.getOrchestrationState(id);
      if (state?.serializedCustomStatus === options["when-status"]) break;
      if (Date.now() > deadline) throw new Error(`the workflow never reported "${options["when-status"]}"`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await client.raiseOrchestrationEvent(id, options.event, parseOptional(options["event-data"]));
  }
  const state = await client.waitForOrchestrationCompletion(id, true, timeout);
  const result = {
    instanceId: id,
    status: state === undefined ? null : OrchestrationStatus[state.runtimeStatus],
    output: parseOptional(state?.serializedOutput),
    customStatus: state?.serializedCustomStatus ?? null,
    failure:
      state?.failureDetails === undefined
        ? null
        : { errorType: state.failureDetails.errorType, message: state.failureDetails.message },
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
  // waitForOrchestrationCompletion leaves its timeout timer running; do not wait for it.
  process.exit(0);
} catch (error) {
  console.error(error);
  process.exit(1);
}
