// @dt/cli: the `dt` command line. The binary is src/cli.ts; this entry exposes the command table for embedding/tests.
export {
  asUsageError,
  type CliContext,
  type Command,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  UsageError,
} from "./command.js";
export { COMMANDS, findCommand, main, mainHelp, version } from "./main.js";
export {
  CLOSE_GRACE_MS,
  DEFAULT_DB,
  DEFAULT_HOST,
  DEFAULT_PORT,
  jsonLogger,
  parseSidecarArgs,
  readinessLine,
  SIDECAR_HELP,
  type SidecarArgs,
  sidecarCommand,
} from "./sidecar.js";
