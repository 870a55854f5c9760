// `dt workflow <sub>` arguments: one spec per sub-command (usage, help, flags), parsed with node:util parseArgs into a
// typed invocation. Pure: no I/O, no environment (the sidecar connection is resolved in `resolveConnection`).
import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import type { WorkflowStatus } from "@dt/client";
import {
  connectionFromEnv,
  DEFAULT_SIDECAR_ADDRESS,
  parseSidecarAddress,
  type SidecarConnectionOptions,
} from "@dt/proto/transport";
import { EXIT_NOT_FOUND, EXIT_TIMEOUT, EXIT_WORKFLOW_FAILED, exitCodesHelp, UsageError } from "./command.js";

export const WORKFLOW_STATUSES: readonly WorkflowStatus[] = [
  "RUNNING",
  "COMPLETED",
  "CONTINUED_AS_NEW",
  "FAILED",
  "CANCELED",
  "TERMINATED",
  "PENDING",
  "SUSPENDED",
  "STALLED",
];

/** Options every sub-command takes. */
export interface CommonArgs {
  /** `--address`; undefined: resolved from the environment. */
  readonly address: string | undefined;
  /** `--api-token`; undefined: `$DAPR_API_TOKEN`, if set. */
  readonly apiToken: string | undefined;
  /** `--json`: one JSON document on stdout. */
  readonly json: boolean;
  /** `--db`: open this SQLite store in an embedded sidecar of the command's own instead of connecting. */
  readonly db: string | undefined;
}

export type WorkflowArgs = CommonArgs &
  (
    | {
        readonly sub: "run";
        readonly name: string;
        /** Parsed JSON; undefined when no --input. */
        readonly input: unknown;
        readonly hasInput: boolean;
        readonly instanceId: string | undefined;
        readonly startAt: Date | undefined;
        readonly wait: boolean;
        /** `--timeout`, in milliseconds. */
        readonly timeoutMs: number | undefined;
      }
    | {
        readonly sub: "list";
        readonly statuses: readonly WorkflowStatus[] | undefined;
        readonly name: string | undefined;
        readonly pageSize: number | undefined;
      }
    | { readonly sub: "get" | "history"; readonly instanceId: string }
    | {
        readonly sub: "raise-event";
        readonly instanceId: string;
        readonly eventName: string;
        readonly input: unknown;
        readonly hasInput: boolean;
      }
    | { readonly sub: "suspend" | "resume"; readonly instanceId: string; readonly reason: string | undefined }
    | {
        readonly sub: "terminate";
        readonly instanceId: string;
        readonly output: unknown;
        readonly hasOutput: boolean;
        readonly recursive: boolean;
      }
    | {
        readonly sub: "purge";
        readonly target:
          | { readonly kind: "instance"; readonly instanceId: string }
          | {
              readonly kind: "filter";
              /** Only instances created before this (from --all-older-than). */
              readonly createdTo: Date | undefined;
              readonly statuses: readonly WorkflowStatus[] | undefined;
            };
        readonly recursive: boolean;
      }
    | {
        readonly sub: "rerun";
        readonly instanceId: string;
        readonly eventId: number;
        readonly newInstanceId: string | undefined;
        readonly input: unknown;
        readonly hasInput: boolean;
      }
  );

export type SubcommandName = WorkflowArgs["sub"];

/** Every flag any sub-command takes; each spec picks its own (parseArgs refuses the rest). */
const FLAGS = {
  address: { type: "string" },
  "api-token": { type: "string" },
  db: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  input: { type: "string" },
  "instance-id": { type: "string" },
  "start-at": { type: "string" },
  wait: { type: "boolean" },
  timeout: { type: "string" },
  "filter-status": { type: "string", short: "s" },
  "filter-name": { type: "string", short: "w" },
  "page-size": { type: "string" },
  reason: { type: "string" },
  output: { type: "string" },
  recursive: { type: "boolean" },
  all: { type: "boolean" },
  "all-older-than": { type: "string" },
  "all-filter-status": { type: "string" },
  "event-id": { type: "string" },
  "new-instance-id": { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

type Flag = keyof typeof FLAGS;
type FlagValues = {
  -readonly [K in Flag]?: (typeof FLAGS)[K]["type"] extends "boolean" ? boolean : string;
};

const COMMON_FLAGS: readonly Flag[] = ["address", "api-token", "db", "json", "help"];

export const COMMON_OPTIONS_HELP = `Options for every command:
  --address <addr>       the sidecar: host:port, [v6]:port, grpc://, grpcs://, http://, https://, dns:, or a
                         Unix socket: unix:/path, unix:///path, unix:relative/path, unix-abstract:name (Linux)
                         (default: $DAPR_GRPC_ENDPOINT, $DAPR_GRPC_HOST:$DAPR_GRPC_PORT,
                         $DURABLETASK_GRPC_ENDPOINT, else localhost:4001)
  --api-token <token>    sent as dapr-api-token on every call (default: $DAPR_API_TOKEN, if set)
  --db <file>            no sidecar needed: open this SQLite store (what \`dt sidecar --db\` and the samples
                         write) in an embedded sidecar for the command (workflows only run where a worker is)
  --json                 print one JSON document on stdout instead of text (errors still go to stderr)
  -h, --help             show help`;

interface Spec {
  readonly name: SubcommandName;
  /** `<name> [options]`, after `dt workflow `. */
  readonly usage: string;
  /** One line for `dt workflow --help`. */
  readonly summary: string;
  readonly description: string;
  readonly flags: readonly Flag[];
  /** `  --flag <v>   text` lines. */
  readonly optionsHelp: string;
  readonly negatable?: boolean;
  /** Exit codes besides 0, 1, 2 (and 130) this sub-command can end with. */
  readonly exitCodes: readonly number[];
}

const JSON_HINT = "JSON (a string needs quotes: '\"text\"')";
const RECURSIVE_HELP = (what: string, width: number) =>
  `  ${"--no-recursive".padEnd(width)} ${what} only this instance, not its child workflows (default: --recursive)`;

export const SUBCOMMANDS: readonly Spec[] = [
  {
    name: "run",
    usage: "run <name> [options]",
    summary: "start a new instance of a workflow (--wait: until it finishes)",
    description: `Starts a new instance of the workflow <name> and prints its instance ID. A worker that has <name> must be
connected: the sidecar answers once the first turn has run (a --start-at in the future answers at once).
With --wait it then waits for the workflow to finish and prints its final state; the exit code says how it
ended: 0 COMPLETED, 4 FAILED, TERMINATED or CANCELED, 5 still running when --timeout ran out.`,
    flags: ["input", "instance-id", "start-at", "wait", "timeout"],
    optionsHelp: `  --input <json>         the workflow's input, as ${JSON_HINT}
  --instance-id <id>     the new instance's ID (default: a random UUID)
  --start-at <time>      start at this ISO 8601 time instead of now, e.g. 2030-01-15T10:00:00Z
  --wait                 wait until the workflow finishes and print its final state
  --timeout <duration>   with --wait: stop waiting after this long (seconds, or 90s, 5m, 1h30m) and exit 5`,
    exitCodes: [EXIT_WORKFLOW_FAILED, EXIT_TIMEOUT],
  },
  {
    name: "list",
    usage: "list [options]",
    summary: "list workflow instances with their status",
    description:
      "Lists workflow instances, newest first: instance ID, workflow name, status, creation and update time.",
    flags: ["filter-status", "filter-name", "page-size"],
    optionsHelp: `  -s, --filter-status <s,…>  only these statuses (comma-separated): ${WORKFLOW_STATUSES.slice(0, 4).join(", ")},
                             ${WORKFLOW_STATUSES.slice(4).join(", ")}
  -w, --filter-name <name>   only instances of this workflow
  --page-size <n>            instance IDs fetched per call (default: the sidecar's)`,
    exitCodes: [],
  },
  {
    name: "get",
    usage: "get <instance-id> [options]",
    summary: "show an instance's status, input, output and failure",
    description: "Shows a workflow instance: status, times, input, output, custom status and failure details.",
    flags: [],
    optionsHelp: "",
    exitCodes: [EXIT_NOT_FOUND],
  },
  {
    name: "history",
    usage: "history <instance-id> [options]",
    summary: "show an instance's history events",
    description: `Shows the history events of a workflow instance, oldest first. With --json: the events as protobuf JSON
(HistoryEvent), e.g. to replay them with replay() from @dt/core.`,
    flags: [],
    optionsHelp: "",
    exitCodes: [EXIT_NOT_FOUND],
  },
  {
    name: "raise-event",
    usage: "raise-event <instance-id>/<event-name> [options]",
    summary: "send an external event to an instance",
    description: `Raises the external event <event-name> on a workflow instance (what ctx.waitForExternalEvent waits for).
"<instance-id> <event-name>" (two arguments) works too. The instance must exist (checked first, so every
sidecar answers the same).`,
    flags: ["input"],
    optionsHelp: `  --input <json>         the event's data, as ${JSON_HINT}`,
    exitCodes: [EXIT_NOT_FOUND],
  },
  {
    name: "suspend",
    usage: "suspend <instance-id> [options]",
    summary: "suspend an instance (events are kept until it resumes)",
    description: "Suspends a running workflow instance: it takes no further steps until resumed; events are kept.",
    flags: ["reason"],
    optionsHelp: "  --reason <text>        why (recorded in the instance's history)",
    exitCodes: [EXIT_NOT_FOUND],
  },
  {
    name: "resume",
    usage: "resume <instance-id> [options]",
    summary: "resume a suspended instance",
    description: "Resumes a suspended workflow instance.",
    flags: ["reason"],
    optionsHelp: "  --reason <text>        why (recorded in the instance's history)",
    exitCodes: [EXIT_NOT_FOUND],
  },
  {
    name: "terminate",
    usage: "terminate <instance-id> [options]",
    summary: "terminate an instance (and its child workflows)",
    description: "Terminates a workflow instance: it ends TERMINATED at once, with --output as its result.",
    flags: ["output", "recursive"],
    negatable: true,
    optionsHelp: `  --output <json>        the terminated instance's output, as ${JSON_HINT}
${RECURSIVE_HELP("terminate", 22)}`,
    exitCodes: [EXIT_NOT_FOUND],
  },
  {
    name: "purge",
    usage: "purge <instance-id> | --all-older-than <duration> | --all-filter-status <s,…> | --all [options]",
    summary: "delete finished instances' state (one, or by age/status)",
    description: `Deletes the state and history of finished (COMPLETED, FAILED, TERMINATED) workflow instances: one by ID, or
every finished instance created more than <duration> ago and/or with one of the given statuses. Running
instances are never purged. Purging by filter needs a sidecar that supports it (dt sidecar, daprd).`,
    flags: ["all", "all-older-than", "all-filter-status", "recursive"],
    negatable: true,
    optionsHelp: `  --all-older-than <d>       every finished instance created more than this long ago (720h, 30d, 1h30m)
  --all-filter-status <s,…>  every finished instance with one of these statuses (COMPLETED,FAILED,TERMINATED)
  --all                      every finished instance
${RECURSIVE_HELP("purge", 26)}`,
    exitCodes: [EXIT_NOT_FOUND],
  },
  {
    name: "rerun",
    usage: "rerun <instance-id> --event-id <n> [options]",
    summary: "start a new instance from a point in a finished instance's history",
    description: `Starts a new instance that replays <instance-id>'s history up to event <n> (a TaskScheduled, TimerCreated or
ChildWorkflowInstanceCreated event; see \`dt workflow history\`) and runs again from there. Needs a sidecar
that supports it (dt sidecar, daprd).`,
    flags: ["event-id", "new-instance-id", "input"],
    optionsHelp: `  --event-id <n>         the history event to re-run from (its EVENT ID)
  --new-instance-id <id> the new instance's ID (default: a random UUID)
  --input <json>         replace that activity's input, as ${JSON_HINT}`,
    exitCodes: [EXIT_NOT_FOUND],
  },
];

export function findSubcommand(name: string): Spec | undefined {
  return SUBCOMMANDS.find((spec) => spec.name === name);
}

export const WORKFLOW_USAGE = "Usage: dt workflow <command> [arguments] [options]";

export function workflowHelp(): string {
  const width = Math.max(...SUBCOMMANDS.map((spec) => spec.name.length));
  return [
    WORKFLOW_USAGE,
    "",
    "Starts, inspects and manages workflow instances through a Durable Task sidecar (dt sidecar, durabletask-go,",
    "daprd), like `dapr workflow`.",
    "",
    "Commands:",
    ...SUBCOMMANDS.map((spec) => `  ${spec.name.padEnd(width)}  ${spec.summary}`),
    "",
    COMMON_OPTIONS_HELP,
    "",
    "Run `dt workflow <command> --help` for a command's arguments and options. Colour follows the terminal,",
    "NO_COLOR and FORCE_COLOR; --json output is never coloured.",
    "",
    exitCodesHelp(),
  ].join("\n");
}

export function subcommandHelp(spec: Spec): string {
  return [
    `Usage: dt workflow ${spec.usage}`,
    "",
    spec.description,
    "",
    ...(spec.optionsHelp === "" ? [] : ["Options:", spec.optionsHelp, ""]),
    COMMON_OPTIONS_HELP,
    "",
    exitCodesHelp([0, 1, 2, ...spec.exitCodes, 130].sort((a, b) => a - b)),
  ].join("\n");
}

/** True when the arguments ask for help (`-h`/`--help` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "-h" || arg === "--help") return true;
  }
  return false;
}

/** Parses the arguments after `dt workflow <sub>`. Throws UsageError (or parseArgs' TypeError) when they are bad. */
export function parseWorkflowArgs(sub: string, args: readonly string[]): WorkflowArgs {
  const spec = findSubcommand(sub);
  if (spec === undefined) throw new UsageError(`unknown command "${sub}"`);
  const options: ParseArgsOptionsConfig = {};
  for (const flag of [...COMMON_FLAGS, ...spec.flags]) options[flag] = FLAGS[flag];
  const { values: raw, positionals } = parseArgs({
    args: [...args],
    options,
    strict: true,
    allowPositionals: true,
    allowNegative: spec.negatable === true,
  });
  const values = raw as FlagValues;
  for (const [flag, value] of Object.entries(values)) {
    if (value === "") throw new UsageError(`--${flag} must not be empty`);
  }
  const common: CommonArgs = {
    address: values.address,
    apiToken: values["api-token"],
    json: values.json === true,
    db: values.db,
  };
  if (common.db !== undefined && common.address !== undefined) {
    throw new UsageError("--db and --address exclude each other");
  }
  if (common.address !== undefined) {
    try {
      parseSidecarAddress(common.address);
    } catch (error) {
      throw new UsageError(`--address: ${(error as Error).message}`);
    }
  }
  const one = (what: string): string => {
    if (positionals.length === 0) throw new UsageError(`missing ${what}`);
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    return positionals[0] as string;
  };
  const none = () => {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  };
  const json = (flag: "input" | "output") => {
    const text = values[flag];
    return text === undefined ? { value: undefined, present: false } : { value: parseJson(flag, text), present: true };
  };
  switch (spec.name) {
    case "run": {
      const name = one("the workflow name");
      if (values.timeout !== undefined && values.wait !== true) throw new UsageError("--timeout needs --wait");
      const input = json("input");
      return {
        ...common,
        sub: "run",
        name,
        input: input.value,
        hasInput: input.present,
        instanceId: values["instance-id"],
        startAt: values["start-at"] === undefined ? undefined : parseTime("start-at", values["start-at"]),
        wait: values.wait === true,
        timeoutMs: values.timeout === undefined ? undefined : parseTimeout("timeout", values.timeout),
      };
    }
    case "list":
      none();
      return {
        ...common,
        sub: "list",
        statuses:
          values["filter-status"] === undefined ? undefined : parseStatuses("filter-status", values["filter-status"]),
        name: values["filter-name"],
        pageSize:
          values["page-size"] === undefined ? undefined : parseInteger("page-size", values["page-size"], 1, 1_000_000),
      };
    case "get":
    case "history":
      return { ...common, sub: spec.name, instanceId: one("the instance ID") };
    case "raise-event": {
      let instanceId: string;
      let eventName: string;
      if (positionals.length === 2) {
        [instanceId, eventName] = positionals as [string, string];
      } else {
        const target = one("<instance-id>/<event-name>");
        const slash = target.lastIndexOf("/");
        if (slash <= 0 || slash === target.length - 1) {
          throw new UsageError(`expected <instance-id>/<event-name>, got "${target}"`);
        }
        instanceId = target.slice(0, slash);
        eventName = target.slice(slash + 1);
      }
      const input = json("input");
      return { ...common, sub: "raise-event", instanceId, eventName, input: input.value, hasInput: input.present };
    }
    case "suspend":
    case "resume":
      return { ...common, sub: spec.name, instanceId: one("the instance ID"), reason: values.reason };
    case "terminate": {
      const instanceId = one("the instance ID");
      const output = json("output");
      return {
        ...common,
        sub: "terminate",
        instanceId,
        output: output.value,
        hasOutput: output.present,
        recursive: values.recursive !== false,
      };
    }
    case "purge": {
      const olderThan = values["all-older-than"];
      const statusList = values["all-filter-status"];
      const byFilter = values.all === true || olderThan !== undefined || statusList !== undefined;
      const recursive = values.recursive !== false;
      if (!byFilter)
        return { ...common, sub: "purge", target: { kind: "instance", instanceId: one("the instance ID") }, recursive };
      if (positionals.length > 0) {
        throw new UsageError(
          `give either an instance ID or --all/--all-older-than/--all-filter-status, not both (got "${positionals[0]}")`,
        );
      }
      const ageMs = olderThan === undefined ? undefined : parseDuration("all-older-than", olderThan);
      return {
        ...common,
        sub: "purge",
        target: {
          kind: "filter",
          createdTo: ageMs === undefined ? undefined : new Date(Date.now() - ageMs),
          statuses: statusList === undefined ? undefined : parseStatuses("all-filter-status", statusList),
        },
        recursive,
      };
    }
    case "rerun": {
      const instanceId = one("the instance ID");
      const rawEventId = values["event-id"];
      if (rawEventId === undefined) throw new UsageError("missing --event-id <n>");
      const input = json("input");
      return {
        ...common,
        sub: "rerun",
        instanceId,
        eventId: parseInteger("event-id", rawEventId, 0, 2 ** 31 - 1),
        newInstanceId: values["new-instance-id"],
        input: input.value,
        hasInput: input.present,
      };
    }
  }
}

export function parseJson(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--${flag} must be JSON (${(error as Error).message}); a string needs quotes: --${flag} '"${text}"'`,
    );
  }
}

export function parseInteger(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag} must be between ${min} and ${max}, got ${raw}`);
  }
  return value;
}

export function parseTime(flag: string, raw: string): Date {
  // ISO 8601 dates and date-times only, not whatever Date.parse happens to accept.
  const date = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(raw)
    ? new Date(raw)
    : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new UsageError(`--${flag} must be an ISO 8601 time such as 2030-01-15T10:00:00Z, got "${raw}"`);
  }
  return date;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A Go-style duration (`720h`, `1h30m`, `1.5h`, `300ms`; `d` for days too), in milliseconds. */
export function parseDuration(flag: string, raw: string): number {
  const token = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let match = token.exec(raw); match !== null; match = token.exec(raw)) {
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    end = token.lastIndex;
  }
  if (raw === "" || end !== raw.length || !Number.isFinite(total)) {
    throw new UsageError(`--${flag} must be a duration such as 720h, 30d, 1h30m or 90s, got "${raw}"`);
  }
  return total;
}

/** Seconds (`30`, `1.5`) or a duration (`90s`, `5m`), in milliseconds; must be more than zero. */
export function parseTimeout(flag: string, raw: string): number {
  const ms = /^(\d+(\.\d*)?|\.\d+)$/.test(raw) ? Number(raw) * 1000 : parseDuration(flag, raw);
  if (!(ms > 0)) throw new UsageError(`--${flag} must be more than zero, got "${raw}"`);
  return ms;
}

export function parseStatuses(flag: string, raw: string): WorkflowStatus[] {
  const names = raw
    .split(",")
    .map((name) => name.trim().toUpperCase())
    .filter((name) => name !== "");
  if (names.length === 0) throw new UsageError(`--${flag} needs at least one status`);
  for (const name of names) {
    if (!(WORKFLOW_STATUSES as readonly string[]).includes(name)) {
      throw new UsageError(`--${flag}: unknown status "${name}" (known: ${WORKFLOW_STATUSES.join(", ")})`);
    }
  }
  return [...new Set(names)] as WorkflowStatus[];
}

/**
 * The connection for the common options: `--address`/`--api-token` over the environment, read the way the client
 * reads it (`connectionFromEnv`). Bad environment values are usage errors.
 */
export function resolveConnection(
  common: Pick<CommonArgs, "address" | "apiToken">,
  env: NodeJS.ProcessEnv,
): SidecarConnectionOptions & { readonly address: string } {
  let connection: SidecarConnectionOptions;
  try {
    connection = connectionFromEnv(env, {
      ...(common.address === undefined ? {} : { address: common.address }),
      ...(common.apiToken === undefined ? {} : { apiToken: common.apiToken }),
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const address = connection.address ?? DEFAULT_SIDECAR_ADDRESS;
  try {
    parseSidecarAddress(address);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return { ...connection, address };
}
