// The samples' shared plumbing, kept to what every sample needs: find or start a sidecar, run a worker with the
// sample's workflows and activities, run its `main`, print progress as it happens, and stop everything.
//
//   DAPR_GRPC_ENDPOINT / DURABLETASK_GRPC_ENDPOINT / DAPR_GRPC_PORT set → connect to that sidecar (Dapr, durabletask-go,
//   `dt sidecar`); otherwise → the embedded sidecar in this process on 127.0.0.1 (free port), its state in
//   DT_APP_DB (default `<app>/.dt/<name>.sqlite`; `:memory:` keeps it in memory).
//
// The last line printed is `RESULT <json>` (exit code 0) or `FAILED <message>` (exit code 1).
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { type InstanceId, type ScheduleOptions, TaskHubGrpcClient, type WorkflowState } from "@dt/client";
import type { ActivityDefinition, Logger, WorkflowDefinition } from "@dt/core";
import { MemoryStore, type Sidecar, SqliteStore, type Store, startSidecar } from "@dt/sidecar";
import { TaskHubGrpcWorker } from "@dt/worker";

/** Prints one progress line. */
export type Log = (line: string) => void;
export type AppWorkflow = Parameters<TaskHubGrpcWorker["addWorkflow"]>[0];
export type AppActivity = ActivityDefinition<never, unknown>;

export interface App {
  /** Names the sample and its default database file. */
  readonly name: string;
  readonly workflows: readonly AppWorkflow[];
  readonly activities?: readonly AppActivity[];
  /** The sample itself; what it returns is printed as the final `RESULT <json>` line. */
  main(client: TaskHubGrpcClient, log: Log): Promise<unknown>;
}

export const log: Log = (line) => {
  process.stdout.write(`${line}\n`);
};

const env = (name: string): string | undefined => {
  const value = process.env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
};

/** A number from the environment (e.g. a timeout in seconds), or `fallback`. */
export function envNumber(name: string, fallback: number): number {
  const raw = env(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number; got "${raw}".`);
  return value;
}

/** A yes/no switch from the environment (`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`), or `fallback`. */
export function envFlag(name: string, fallback: boolean): boolean {
  const raw = env(name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new Error(`${name} must be 1 or 0; got "${raw}".`);
}

/** Runs a sample: sidecar, worker, `main`, then shuts everything down and sets the exit code. */
export async function runApp(app: App): Promise<void> {
  let stopAll: (() => Promise<void>) | undefined;
  const interrupted = (signal: NodeJS.Signals, code: number) => {
    log(`■ ${signal}: stopping`);
    void (stopAll?.() ?? Promise.resolve()).finally(() => process.exit(code));
  };
  process.once("SIGINT", () => interrupted("SIGINT", 130));
  process.once("SIGTERM", () => interrupted("SIGTERM", 143));

  let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
  let stop: () => Promise<void> = async () => {};
  try {
    const sidecar = await connect(app.name);
    const { address } = sidecar;
    const connection = address === undefined ? {} : { address, useEnvironment: false };
    const worker = new TaskHubGrpcWorker({ ...connection, logger: printingLogger });
    for (const workflow of app.workflows) worker.addWorkflow(workflow);
    for (const activity of app.activities ?? []) worker.addActivity(traced(activity));
    const client = new TaskHubGrpcClient(connection);
    stop = async () => {
      // Let running activities finish (a sample's slow activity may outlive its workflow), then close in order.
      await worker.stop({ timeoutMs: 10_000 }).catch(() => {});
      client.close();
      await sidecar.close();
    };
    stopAll = stop;
    await worker.start();
    await worker.waitForReady({ timeoutMs: 30_000 });
    outcome = { ok: true, result: await app.main(client, log) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  await stop();
  if (outcome.ok) {
    log(`RESULT ${JSON.stringify(outcome.result ?? null)}`);
  } else {
    const error = outcome.error;
    if (error instanceof Error && error.stack !== undefined) process.stderr.write(`${error.stack}\n`);
    log(`FAILED ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exitCode = outcome.ok ? 0 : 1;
  // Nothing should be left running; if something is, do not hang.
  setTimeout(() => process.exit(), 3_000).unref();
}

/** The sidecar named by the environment, or the embedded one started here. `address` is undefined for the former. */
async function connect(name: string): Promise<{ address: string | undefined; close(): Promise<void> }> {
  const endpoint =
    env("DAPR_GRPC_ENDPOINT") ??
    (env("DAPR_GRPC_PORT") === undefined
      ? env("DURABLETASK_GRPC_ENDPOINT")
      : `${env("DAPR_GRPC_HOST") ?? env("DAPR_RUNTIME_HOST") ?? "localhost"}:${env("DAPR_GRPC_PORT")}`);
  if (endpoint !== undefined) {
    log(`● sidecar at ${endpoint} (from the environment)`);
    return { address: undefined, close: async () => {} };
  }
  const db = env("DT_APP_DB") ?? join(appDir(), ".dt", `${name}.sqlite`);
  let store: Store;
  if (db === ":memory:") {
    store = new MemoryStore();
  } else {
    mkdirSync(dirname(resolve(db)), { recursive: true });
    store = new SqliteStore(db);
  }
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar({ host: "127.0.0.1", port: 0, store });
  } catch (error) {
    store.close();
    throw error;
  }
  const where = db === ":memory:" ? "in memory" : `SQLite ${relative(process.cwd(), resolve(db)) || db}`;
  log(`● embedded sidecar on ${sidecar.address} (${where})`);
  return {
    address: sidecar.address,
    close: async () => {
      await sidecar.close();
      store.close();
    },
  };
}

/** The sample's directory: the parent of the `src/` its main script is in. */
function appDir(): string {
  const script = dirname(resolve(process.argv[1] ?? "."));
  return basename(script) === "src" ? dirname(script) : script;
}

/** Worker and workflow logs (`ctx.logger`, silent while replaying) as `  · message` lines; debug with DT_APP_VERBOSE=1. */
const printingLogger: Logger = {
  debug: (message, attributes) => {
    if (envFlag("DT_APP_VERBOSE", false)) log(`  · ${message}${show(attributes)}`);
  },
  info: (message, attributes) => log(`  · ${message}${show(attributes)}`),
  warn: (message, attributes) => log(`  ! ${message}${show(attributes)}`),
  error: (message, attributes) => log(`  ! ${message}${show(attributes)}`),
};

/** ` {"a":1}` (clipped), or nothing for an absent or empty value. */
function show(value: unknown): string {
  if (value === undefined || (typeof value === "object" && value !== null && Object.keys(value).length === 0)) {
    return "";
  }
  return ` ${clip(JSON.stringify(value) ?? String(value))}`;
}

function clip(text: string, max = 100): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The activity, printing a line each time an attempt of it finishes. */
function traced(activity: AppActivity): AppActivity {
  return {
    ...activity,
    run: async (ctx, input) => {
      try {
        const output = await activity.run(ctx, input);
        log(`… activity ${activity.name} done${output === undefined ? "" : ` → ${clip(JSON.stringify(output))}`}`);
        return output;
      } catch (error) {
        log(`… activity ${activity.name} failed: ${error instanceof Error ? error.message : String(error)}`);
        throw error;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Watching a workflow instance

export interface Run<O> {
  readonly id: InstanceId<O>;
  /** Resolves with the final state once the instance completed, failed or was terminated (and prints it). */
  done(): Promise<WorkflowState<O>>;
  /** Resolves once the instance's custom status matches (rejects if it finishes first). */
  untilCustomStatus(matches: (status: string) => boolean): Promise<string>;
}

export interface StartOptions<I> extends ScheduleOptions<I> {
  /** Seconds to wait for the instance to finish (default DT_APP_TIMEOUT or 120). */
  readonly timeout?: number;
}

/**
 * Schedules `workflow` (instance id `<name>-<random>` unless given) and watches it: custom status changes are printed
 * as they happen, and the final state when it finishes.
 */
export async function startWorkflow<I, O>(
  client: TaskHubGrpcClient,
  workflow: WorkflowDefinition<I, O>,
  options: StartOptions<I> = {},
): Promise<Run<O>> {
  const { timeout = envNumber("DT_APP_TIMEOUT", 120), ...schedule } = options;
  const instanceId = schedule.instanceId ?? `${workflow.name}-${randomUUID().slice(0, 8)}`;
  // Printed first: scheduling returns once the first turn ran, and its activities may already have printed.
  log(`▶ scheduled ${workflow.name} ${instanceId}`);
  const id = await client.scheduleNewOrchestration(workflow, { ...schedule, instanceId });
  let customStatus: string | undefined;
  let over: Error | undefined;
  const waiters = new Set<{
    matches: (s: string) => boolean;
    resolve: (s: string) => void;
    reject: (e: Error) => void;
  }>();
  const finish = (error: Error) => {
    over = error;
    for (const waiter of waiters) waiter.reject(error);
    waiters.clear();
  };
  const watching = (async () => {
    const deadline = Date.now() + timeout * 1000;
    for (;;) {
      const state = await client.getOrchestrationState(id);
      if (state === undefined) throw new Error(`instance ${id} does not exist`);
      if (state.customStatus !== undefined && state.customStatus !== customStatus) {
        customStatus = state.customStatus;
        log(`… ${id} status: ${customStatus}`);
        for (const waiter of waiters) {
          if (!waiter.matches(customStatus)) continue;
          waiters.delete(waiter);
          waiter.resolve(customStatus);
        }
      }
      if (state.isTerminal) {
        const failure = state.failureDetails;
        if (state.status === "COMPLETED") log(`✔ completed: ${JSON.stringify(state.output ?? null)}`);
        else
          log(
            `✘ ${state.status.toLowerCase()}${failure === undefined ? "" : `: ${failure.errorType}: ${failure.message}`}`,
          );
        return state;
      }
      if (Date.now() > deadline) throw new Error(`${id} did not finish within ${timeout} s (status ${state.status})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  void watching.then(
    (state) => finish(new Error(`${id} finished (${state.status}) before the expected custom status`)),
    (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
  );
  return {
    id,
    done: () => watching,
    untilCustomStatus: (matches) => {
      if (customStatus !== undefined && matches(customStatus)) return Promise.resolve(customStatus);
      if (over !== undefined) return Promise.reject(over);
      return new Promise<string>((resolve, reject) => {
        waiters.add({ matches, resolve, reject });
      });
    },
  };
}

/** Schedules `workflow`, waits for it to finish, and returns its output; throws unless it completed. */
export async function runWorkflow<I, O>(
  client: TaskHubGrpcClient,
  workflow: WorkflowDefinition<I, O>,
  options: StartOptions<I> = {},
): Promise<O> {
  const state = await (await startWorkflow(client, workflow, options)).done();
  if (state.status !== "COMPLETED") {
    throw new Error(`${workflow.name} ${state.status}: ${state.failureDetails?.message ?? "no details"}`);
  }
  return state.output as O;
}

/** Waits `seconds` of wall-clock time (in `main`, never in a workflow). */
export const pause = (seconds: number): Promise<void> => new Promise((r) => setTimeout(r, seconds * 1000));
