// What every `dt` command is: a name, a one-line summary, its usage text, and a `run` that returns an exit code.
// Commands write through the context (not process.stdout) and stop when its signal aborts, so they can be tested in
// process; src/cli.ts wires the context to the real process.

/** Conventional exit codes: 0 success, 1 a runtime failure, 2 a usage error (bad flags or arguments). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface CliContext {
  /** Writes a line (a newline is added) to standard output. */
  readonly out: (line: string) => void;
  /** Writes a line to standard error (diagnostics and logs). */
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted when the process is asked to stop (SIGINT / SIGTERM); long-running commands shut down gracefully. */
  readonly signal: AbortSignal;
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
