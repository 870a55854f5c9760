// @dt/cli: the `dt` command line. The binary is src/cli.ts; this entry exposes the command table for embedding/tests.
export {
  asUsageError,
  type CliContext,
  type Command,
  EXIT_CODES,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_NOT_FOUND,
  EXIT_OK,
  EXIT_TIMEOUT,
  EXIT_USAGE,
  EXIT_WORKFLOW_FAILED,
  exitCodeFor,
  exitCodesHelp,
  type OutputStream,
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
export {
  type ConnectWorkflowClient,
  createWorkflowCommand,
  type WorkflowClient,
  workflowCommand,
} from "./workflow.js";
export {
  parseDuration,
  parseWorkflowArgs,
  resolveConnection,
  SUBCOMMANDS as WORKFLOW_SUBCOMMANDS,
  subcommandHelp,
  type WorkflowArgs,
  workflowHelp,
} from "./workflow-args.js";
