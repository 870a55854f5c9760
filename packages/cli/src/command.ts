// What every `dt` command is: a name, a one-line summary, its usage text, and a `run` that returns an exit code.
// Commands write through the context (not process.stdout) and stop when its signal aborts, so they can be tested in
// process; src/cli.ts wires the context to the real process.

/** Success (for `dt workflow run --wait`: the workflow COMPLETED). */
export const EXIT_OK = 0;
/** A runtime failure: the sidecar is unreachable, an RPC failed, the sidecar does not support the call. */
export const EXIT_FAILURE = 1;
/** A usage error: bad flags or arguments. */
export const EXIT_USAGE = 2;
/** The workflow instance does not exist (WORKFLOW_NOT_FOUND). */
export const EXIT_NOT_FOUND = 3;
/** `dt workflow run --wait`: the workflow ended, but not COMPLETED (FAILED, TERMINATED, CANCELED). */
export const EXIT_WORKFLOW_FAILED = 4;
/** `dt workflow run --wait --timeout`: the workflow had not finished in time (WORKFLOW_TIMEOUT). */
export const EXIT_TIMEOUT = 5;
/** Stopped by SIGINT/SIGTERM before the command finished (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

/**
 * The exit codes scripts can rely on: the one table help texts and the README are written from (a unit test checks
 * that packages/cli/README.md lists exactly these).
 */
export const EXIT_CODES: readonly { readonly code: number; readonly meaning: string }[] = [
  { code: EXIT_OK, meaning: "success (`run --wait`: the workflow COMPLETED)" },
  {
    code: EXIT_FAILURE,
    meaning: "runtime failure: sidecar unreachable, RPC error, call not supported by the sidecar (UNIMPLEMENTED)",
  },
  { code: EXIT_USAGE, meaning: "usage error: unknown flag, bad value, missing argument" },
  { code: EXIT_NOT_FOUND, meaning: "no such workflow instance (WORKFLOW_NOT_FOUND)" },
  { code: EXIT_WORKFLOW_FAILED, meaning: "`run --wait`: the workflow ended FAILED, TERMINATED or CANCELED" },
  { code: EXIT_TIMEOUT, meaning: "`run --wait --timeout`: not finished in time (WORKFLOW_TIMEOUT)" },
  { code: EXIT_INTERRUPTED, meaning: "interrupted by SIGINT/SIGTERM before it finished" },
];

/** The exit-code table as help text lines, limited to `codes` when given. */
export function exitCodesHelp(codes?: readonly number[]): string {
  const rows = EXIT_CODES.filter((row) => codes === undefined || codes.includes(row.code));
  return [
    "Exit codes:",
    ...rows.map((row) => `  ${String(row.code).padEnd(4)} ${row.meaning.replaceAll("`", "")}`),
  ].join("\n");
}

/** The exit code for an error a command did not handle: usage 2, not found 3, timeout 5, interrupted 130, else 1. */
export function exitCodeFor(error: unknown): number {
  if (asUsageError(error) !== undefined) return EXIT_USAGE;
  if (error instanceof Error && error.name === "AbortError") return EXIT_INTERRUPTED;
  switch ((error as { code?: unknown } | null)?.code) {
    case "WORKFLOW_NOT_FOUND":
      return EXIT_NOT_FOUND;
    case "WORKFLOW_TIMEOUT":
      return EXIT_TIMEOUT;
    default:
      return EXIT_FAILURE;
  }
}

/** A stream as much as colour and spinners need: `node:util` styleText checks it (TTY, NO_COLOR, FORCE_COLOR). */
export type OutputStream = NodeJS.WritableStream & { readonly isTTY?: boolean };

export interface CliContext {
  /** Writes a line (a newline is added) to standard output. */
  readonly out: (line: string) => void;
  /** Writes a line to standard error (diagnostics and logs). */
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted when the process is asked to stop (SIGINT / SIGTERM); long-running commands shut down gracefully. */
  readonly signal: AbortSignal;
  /**
   * The streams behind `out` and `err`, for colour and TTY detection (src/cli.ts passes process.stdout/stderr).
   * Absent in process (tests): no colour, no spinner.
   */
  readonly stdout?: OutputStream;
  readonly stderr?: OutputStream;
}

export interface Command {
  readonly name: string;
  /** One line for `dt --help`. */
  readonly summary: string;
  /** The full `dt <name> --help` text. */
  readonly help: string;
  /** Runs the command with the arguments after its name; resolves with the exit code. */
  run(args: readonly string[], ctx: CliContext): Promise<number>;
}

/** Bad flags or arguments: reported with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** node:util parseArgs reports bad flags as TypeErrors with ERR_PARSE_ARGS_* codes; those are usage errors. */
export function asUsageError(error: unknown): UsageError | undefined {
  if (error instanceof UsageError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_")) return new UsageError((error as Error).message);
  return undefined;
}
