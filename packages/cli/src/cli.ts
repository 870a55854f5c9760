#!/usr/bin/env node
// The `dt` binary: runs main() with the real process. The first SIGINT/SIGTERM asks the running command to stop
// gracefully; a second one exits at once (code 1).
import { main } from "./main.js";

const controller = new AbortController();
const onSignal = (signal: NodeJS.Signals) => {
  if (controller.signal.aborted) {
    process.stderr.write(`dt: ${signal} again, exiting now\n`);
    process.exit(1);
  }
  controller.abort(signal);
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const code = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  signal: controller.signal,
  stdout: process.stdout,
  stderr: process.stderr,
});
process.off("SIGINT", onSignal);
process.off("SIGTERM", onSignal);
process.exitCode = code;
