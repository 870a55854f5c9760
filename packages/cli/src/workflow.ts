// `dt workflow <sub>`: start, inspect and manage workflow instances through a sidecar, like `dapr workflow`.
// Each sub-command parses its arguments (workflow-args.ts), makes its calls through @dt/client and prints text or,
// with --json, one JSON document on stdout. Errors go to stderr as `dt workflow <sub>: <CODE>: <message>`, and the
// exit code follows the one table in command.ts.

import { existsSync } from "node:fs";
import { TaskHubGrpcClient, type WorkflowState } from "@dt/client";
import { DurableTaskError, WorkflowNotFoundError } from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { type Sidecar, SqliteStore, startSidecar } from "@dt/sidecar";
import {
  asUsageError,
  type CliContext,
  type Command,
  EXIT_OK,
  EXIT_TIMEOUT,
  EXIT_USAGE,
  EXIT_WORKFLOW_FAILED,
  exitCodeFor,
} from "./command.js";
import { formatJson, startSpinner, styler } from "./output.js";
import {
  findSubcommand,
  parseWorkflowArgs,
  resolveConnection,
  SUBCOMMANDS,
  subcommandHelp,
  type WorkflowArgs,
  wantsHelp,
  workflowHelp,
} from "./workflow-args.js";
import { historyJson, historyLines, listLines, stateJson, stateLines } from "./workflow-format.js";

/** What `dt workflow` needs from a client (TaskHubGrpcClient has it all); tests pass a fake. */
export interface WorkflowClient {
  scheduleNewOrchestration(
    name: string,
    options?: { input?: unknown; instanceId?: string; startAt?: Date },
  ): Promise<string>;
  getOrchestrationState(instanceId: string, options?: { fetchPayloads?: boolean }): Promise<WorkflowState | undefined>;
  waitForOrchestrationCompletion(
    instanceId: string,
    options?: { timeout?: { milliseconds: number }; signal?: AbortSignal; fetchPayloads?: boolean },
  ): Promise<WorkflowState>;
  raiseOrchestrationEvent(instanceId: string, eventName: string, data?: unknown): Promise<void>;
  terminateOrchestration(instanceId: string, options?: { output?: unknown; recursive?: boolean }): Promise<void>;
  suspendOrchestration(instanceId: string, options?: { reason?: string }): Promise<void>;
  resumeOrchestration(instanceId: string, options?: { reason?: string }): Promise<void>;
  purgeOrchestration(instanceId: string, options?: { recursive?: boolean }): Promise<number>;
  purgeOrchestrations(
    filter: { createdTo?: Date; statuses?: readonly WorkflowState["status"][] },
    options?: { recursive?: boolean },
  ): Promise<number>;
  listInstanceIds(options?: { pageSize?: number }): AsyncIterable<string>;
  getOrchestrationHistory(instanceId: string): Promise<HistoryEvent[]>;
  rerunWorkflowFromEvent(
    sourceInstanceId: string,
    eventId: number,
    options?: { newInstanceId?: string; input?: unknown },
  ): Promise<string>;
  close(): void;
}

/** Opens a client for the resolved connection (address and API token from the flags and the environment). */
export type ConnectWorkflowClient = (
  connection: ReturnType<typeof resolveConnection>,
  ctx: CliContext,
) => WorkflowClient;

const connectGrpc: ConnectWorkflowClient = (connection) =>
  new TaskHubGrpcClient({ ...connection, useEnvironment: false });

/** How many instance states `list` reads at once. */
const LIST_CONCURRENCY = 16;

/** The `dt workflow` command; `connect` replaces the gRPC client (tests). */
export function createWorkflowCommand(options: { connect?: ConnectWorkflowClient } = {}): Command {
  const connect = options.connect ?? connectGrpc;
  return {
    name: "workflow",
    summary: "start, list, inspect, signal, suspend, terminate, purge and rerun workflow instances",
    help: workflowHelp(),
    run: (args, ctx) => runWorkflow(args, ctx, connect),
  };
}

export const workflowCommand: Command = createWorkflowCommand();

async function runWorkflow(args: readonly string[], ctx: CliContext, connect: ConnectWorkflowClient): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) {
    ctx.err(workflowHelp());
    return EXIT_USAGE;
  }
  if (sub === "-h" || sub === "--help") {
    ctx.out(workflowHelp());
    return EXIT_OK;
  }
  if (sub === "help") {
    const topic = rest[0];
    const spec = topic === undefined ? undefined : findSubcommand(topic);
    if (topic !== undefined && spec === undefined) return usage(ctx, undefined, `unknown command "${topic}"`);
    ctx.out(spec === undefined ? workflowHelp() : subcommandHelp(spec));
    return EXIT_OK;
  }
  const spec = findSubcommand(sub);
  if (spec === undefined) {
    const known = SUBCOMMANDS.map((s) => s.name).join(", ");
    return usage(ctx, undefined, `unknown command "${sub}" (commands: ${known})`);
  }
  if (wantsHelp(rest)) {
    ctx.out(subcommandHelp(spec));
    return EXIT_OK;
  }
  let parsed: WorkflowArgs;
  let connection: ReturnType<typeof resolveConnection>;
  try {
    parsed = parseWorkflowArgs(sub, rest);
    connection = resolveConnection(parsed, ctx.env);
  } catch (error) {
    const bad = asUsageError(error);
    if (bad === undefined) throw error;
    return usage(ctx, sub, bad.message);
  }
  if (ctx.signal.aborted) return exitCodeFor(abortError());
  let local: Sidecar | undefined;
  let client: WorkflowClient | undefined;
  try {
    if (parsed.db !== undefined) {
      local = await openStore(parsed.db);
      connection = { address: local.address };
    }
    client = connect(connection, ctx);
    return await execute(parsed, client, ctx);
  } catch (error) {
    report(ctx, sub, error, connection.address);
    return exitCodeFor(error);
  } finally {
    client?.close();
    await local?.close();
  }
}

/** `--db`: the store in an embedded sidecar on a free loopback port, for this one command. */
async function openStore(path: string): Promise<Sidecar> {
  if (!existsSync(path)) {
    throw new DurableTaskError(
      "INVALID_ARGUMENT",
      `--db: no store at ${path} (run a sample or \`dt sidecar --db\` first).`,
    );
  }
  return startSidecar({ host: "127.0.0.1", port: 0, store: new SqliteStore(path) });
}

function usage(ctx: CliContext, sub: string | undefined, problem: string): number {
  const name = sub === undefined ? "dt workflow" : `dt workflow ${sub}`;
  ctx.err(`${name}: ${problem}`);
  ctx.err(`Run \`${name} --help\` for usage.`);
  return EXIT_USAGE;
}

/** `dt workflow <sub>: CODE: message` on stderr (the code in red on a colour terminal). */
function report(ctx: CliContext, sub: string, error: unknown, address: string): void {
  const style = styler(ctx.stderr);
  const prefix = `dt workflow ${sub}:`;
  if (error instanceof Error && error.name === "AbortError") {
    ctx.err(`${prefix} interrupted`);
    return;
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === "string" && /^[A-Z][A-Z_]+$/.test(code)) {
    ctx.err(`${prefix} ${style(["red", "bold"], code)}: ${message}`);
    if (code === "SIDECAR_UNAVAILABLE") {
      ctx.err(`Is a sidecar listening on ${address}? Set it with --address or DAPR_GRPC_ENDPOINT.`);
    }
    return;
  }
  // Not one of ours: a bug, so the stack helps.
  ctx.err(`${prefix} ${error instanceof Error ? (error.stack ?? message) : message}`);
}

function abortError(): Error {
  return new DOMException("interrupted", "AbortError");
}

/** `promise`, or an AbortError as soon as the context's signal aborts (the client is closed afterwards). */
function interruptible<T>(ctx: CliContext, promise: Promise<T>): Promise<T> {
  if (ctx.signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        ctx.signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        ctx.signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

async function execute(args: WorkflowArgs, client: WorkflowClient, ctx: CliContext): Promise<number> {
  const call = <T>(promise: Promise<T>) => interruptible(ctx, promise);
  const style = styler(ctx.stdout);
  const print = (json: unknown, lines: () => string[]) => {
    if (args.json) ctx.out(formatJson(json));
    else for (const line of lines()) ctx.out(line);
  };
  /** Fails with WORKFLOW_NOT_FOUND unless the instance exists (for sidecars that accept unknown ids). */
  const mustExist = async (instanceId: string) => {
    const state = await call(client.getOrchestrationState(instanceId, { fetchPayloads: false }));
    if (state === undefined) throw new WorkflowNotFoundError(instanceId);
    return state;
  };

  switch (args.sub) {
    case "run":
      return run(args, client, ctx);

    case "list": {
      const ids = await call(
        collect(client.listInstanceIds(args.pageSize === undefined ? {} : { pageSize: args.pageSize })),
      );
      const states = await call(
        mapLimit(ids, LIST_CONCURRENCY, (id) => client.getOrchestrationState(id, { fetchPayloads: false })),
      );
      const shown = states
        .filter((state): state is WorkflowState => state !== undefined) // purged in between
        .filter((state) => args.statuses === undefined || args.statuses.includes(state.status))
        .filter((state) => args.name === undefined || state.name === args.name)
        .sort(newestFirst);
      print(shown.map(stateJson), () =>
        shown.length === 0 ? ["No workflow instances found."] : listLines(shown, style),
      );
      return EXIT_OK;
    }

    case "get": {
      const state = await call(client.getOrchestrationState(args.instanceId, { fetchPayloads: true }));
      if (state === undefined) throw new WorkflowNotFoundError(args.instanceId);
      print(stateJson(state), () => stateLines(state, style));
      return EXIT_OK;
    }

    case "history": {
      const events = await call(client.getOrchestrationHistory(args.instanceId));
      // durabletask-go answers an unknown id with an empty history; an existing instance may have none yet.
      if (events.length === 0) await mustExist(args.instanceId);
      print(historyJson(events), () =>
        events.length === 0 ? ["No history events yet."] : historyLines(events, style),
      );
      return EXIT_OK;
    }

    case "raise-event": {
      // durabletask-go accepts events for ids that do not exist (yet); a typo should not pass silently.
      await mustExist(args.instanceId);
      await call(
        args.hasInput
          ? client.raiseOrchestrationEvent(args.instanceId, args.eventName, args.input)
          : client.raiseOrchestrationEvent(args.instanceId, args.eventName),
      );
      print({ instanceId: args.instanceId, eventName: args.eventName, raised: true }, () => [
        `Raised event "${args.eventName}" on workflow instance ${args.instanceId}.`,
      ]);
      return EXIT_OK;
    }

    case "suspend":
    case "resume": {
      const reason = args.reason === undefined ? {} : { reason: args.reason };
      await call(
        args.sub === "suspend"
          ? client.suspendOrchestration(args.instanceId, reason)
          : client.resumeOrchestration(args.instanceId, reason),
      );
      const done = args.sub === "suspend" ? "suspended" : "resumed";
      print({ instanceId: args.instanceId, [done]: true }, () => [
        `${done === "suspended" ? "Suspended" : "Resumed"} workflow instance ${args.instanceId}.`,
      ]);
      return EXIT_OK;
    }

    case "terminate": {
      await call(
        client.terminateOrchestration(args.instanceId, {
          recursive: args.recursive,
          ...(args.hasOutput ? { output: args.output } : {}),
        }),
      );
      print({ instanceId: args.instanceId, terminated: true, recursive: args.recursive }, () => [
        `Terminated workflow instance ${args.instanceId}${args.recursive ? "" : " (not its child workflows)"}.`,
      ]);
      return EXIT_OK;
    }

    case "purge": {
      const target = args.target;
      if (target.kind === "instance") {
        const deleted = await call(client.purgeOrchestration(target.instanceId, { recursive: args.recursive }));
        // Like the Go client: nothing deleted means there was nothing by that id.
        if (deleted === 0) throw new WorkflowNotFoundError(target.instanceId);
        print({ instanceId: target.instanceId, deletedInstanceCount: deleted }, () => [
          `Purged workflow instance ${target.instanceId}${deleted > 1 ? ` and ${plural(deleted - 1, "child workflow")}` : ""}.`,
        ]);
        return EXIT_OK;
      }
      const deleted = await call(
        client.purgeOrchestrations(
          {
            ...(target.createdTo === undefined ? {} : { createdTo: target.createdTo }),
            ...(target.statuses === undefined ? {} : { statuses: target.statuses }),
          },
          { recursive: args.recursive },
        ),
      );
      print({ deletedInstanceCount: deleted }, () => [`Purged ${plural(deleted, "workflow instance")}.`]);
      return EXIT_OK;
    }

    case "rerun": {
      const newInstanceId = await call(
        client.rerunWorkflowFromEvent(args.instanceId, args.eventId, {
          ...(args.newInstanceId === undefined ? {} : { newInstanceId: args.newInstanceId }),
          ...(args.hasInput ? { input: args.input } : {}),
        }),
      );
      print({ sourceInstanceId: args.instanceId, eventId: args.eventId, newInstanceId }, () => [
        `Rerunning workflow instance ${args.instanceId} from event ${args.eventId} as ${newInstanceId}.`,
      ]);
      return EXIT_OK;
    }
  }
}

async function run(
  args: Extract<WorkflowArgs, { sub: "run" }>,
  client: WorkflowClient,
  ctx: CliContext,
): Promise<number> {
  const style = styler(ctx.stdout);
  /** `promise` under a spinner on stderr (only with --wait, only on a terminal). */
  const waiting = async <T>(what: string, promise: Promise<T>): Promise<T> => {
    const since = Date.now();
    const spinner = args.wait
      ? startSpinner(ctx.stderr, () => `${what} (${Math.floor((Date.now() - since) / 1000)} s)`)
      : undefined;
    try {
      return await interruptible(ctx, promise);
    } finally {
      spinner?.stop();
    }
  };
  const instanceId = await waiting(
    `starting workflow ${args.name}`,
    client.scheduleNewOrchestration(args.name, {
      ...(args.hasInput ? { input: args.input } : {}),
      ...(args.instanceId === undefined ? {} : { instanceId: args.instanceId }),
      ...(args.startAt === undefined ? {} : { startAt: args.startAt }),
    }),
  );
  if (!args.wait) {
    if (args.json) ctx.out(formatJson({ instanceId, name: args.name }));
    else ctx.out(`Started workflow ${args.name} as instance ${instanceId}.`);
    return EXIT_OK;
  }
  if (!args.json) ctx.out(`Started workflow ${args.name} as instance ${instanceId}; waiting for it to finish.`);
  let state: WorkflowState;
  try {
    state = await waiting(
      `waiting for ${instanceId}`,
      client.waitForOrchestrationCompletion(instanceId, {
        signal: ctx.signal,
        fetchPayloads: true,
        ...(args.timeoutMs === undefined ? {} : { timeout: { milliseconds: args.timeoutMs } }),
      }),
    );
  } catch (error) {
    if (ctx.signal.aborted) throw abortError();
    if ((error as { code?: unknown } | null)?.code !== "WORKFLOW_TIMEOUT") throw error;
    // Still running: show where it is, so a script can follow up on the id.
    const current = await interruptible(ctx, client.getOrchestrationState(instanceId, { fetchPayloads: true })).catch(
      () => undefined,
    );
    if (args.json) ctx.out(formatJson(current === undefined ? { instanceId, name: args.name } : stateJson(current)));
    else if (current !== undefined) for (const line of stateLines(current, style)) ctx.out(line);
    report(ctx, "run", error, "");
    return EXIT_TIMEOUT;
  }
  if (args.json) ctx.out(formatJson(stateJson(state)));
  else for (const line of stateLines(state, style)) ctx.out(line);
  if (state.status === "COMPLETED") return EXIT_OK;
  const failure = state.failureDetails === undefined ? "" : `: ${state.failureDetails.message}`;
  ctx.err(`dt workflow run: workflow instance ${instanceId} ended ${state.status}${failure}`);
  return EXIT_WORKFLOW_FAILED;
}

function newestFirst(a: WorkflowState, b: WorkflowState): number {
  const ta = a.createdAt?.getTime() ?? 0;
  const tb = b.createdAt?.getTime() ?? 0;
  return tb - ta || (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0);
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** `fn` over `items`, at most `limit` at a time, results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
