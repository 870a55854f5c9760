// The `dt` command table and dispatcher: `dt <command> [options]`, `dt --help`, `dt help <command>`, `dt --version`.
// A new command is one more entry in COMMANDS.
import { readFileSync } from "node:fs";
import { asUsageError, type CliContext, type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./command.js";
import { sidecarCommand } from "./sidecar.js";
import { workflowCommand } from "./workflow.js";

export const COMMANDS: readonly Command[] = [sidecarCommand, workflowCommand];

export function findCommand(name: string, commands: readonly Command[] = COMMANDS): Command | undefined {
  return commands.find((command) => command.name === name);
}

export function mainHelp(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    "Usage: dt <command> [options]",
    "",
    "Commands:",
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "Options:",
    "  -h, --help     show this help (or `dt <command> --help`, `dt help <command>`)",
    "  --version      print the version",
  ].join("\n");
}

/** The version in this package's package.json (dist/ and src/ both sit next to it). */
export function version(): string {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version?: unknown;
  };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}

/** Runs `dt` with `argv` (without node and the script); resolves with the exit code. Never throws. */
export async function main(argv: readonly string[], ctx: CliContext, commands = COMMANDS): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    ctx.err(mainHelp(commands));
    return EXIT_USAGE;
  }
  if (first === "-h" || first === "--help") {
    ctx.out(mainHelp(commands));
    return EXIT_OK;
  }
  if (first === "--version" || first === "-V") {
    ctx.out(version());
    return EXIT_OK;
  }
  if (first === "help") {
    const topic = rest[0];
    if (topic === undefined) {
      ctx.out(mainHelp(commands));
      return EXIT_OK;
    }
    const command = findCommand(topic, commands);
    if (command === undefined) return usage(ctx, `unknown command "${topic}"`);
    ctx.out(command.help);
    return EXIT_OK;
  }
  if (first.startsWith("-")) return usage(ctx, `unknown option "${first}" (options go after the command)`);
  const command = findCommand(first, commands);
  if (command === undefined) return usage(ctx, `unknown command "${first}"`);
  try {
    return await command.run(rest, ctx);
  } catch (error) {
    const bad = asUsageError(error);
    if (bad !== undefined) return usage(ctx, bad.message, command);
    ctx.err(`dt ${command.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return EXIT_FAILURE;
  }
}

function usage(ctx: CliContext, problem: string, command?: Command): number {
  ctx.err(`dt${command === undefined ? "" : ` ${command.name}`}: ${problem}`);
  ctx.err(`Run \`dt ${command === undefined ? "" : `${command.name} `}--help\` for usage.`);
  return EXIT_USAGE;
}
