// Copied into a scratch project that has only @dt/client (and its @dt dependencies) installed from packed tarballs.
// Usage: node client-app.mjs <sidecar address> <workflow name> <instance id> <input as JSON>
// Schedules the workflow by name, waits for it to finish and prints one `RESULT {…}` line.
import { TaskHubGrpcClient } from "@dt/client";

const [address, name, instanceId, input] = process.argv.slice(2);
if (address === undefined || name === undefined || instanceId === undefined || input === undefined) {
  console.error("usage: node client-app.mjs <address> <workflow name> <instance id> <input json>");
  process.exit(2);
}

const client = new TaskHubGrpcClient({ address, useEnvironment: false });
try {
  const id = await client.scheduleNewOrchestration(name, { instanceId, input: JSON.parse(input) });
  const state = await client.waitForOrchestrationCompletion(id, { timeout: 90 });
  console.log(
    `RESULT ${JSON.stringify({
      resolved: import.meta.resolve("@dt/client"),
      id,
      name: state.name,
      status: state.status,
      output: state.output,
    })}`,
  );
} finally {
  client.close();
}
