// WorkflowRuntime: @dapr/dapr's worker API (registerWorkflow, registerActivity, start, stop) over @dt/worker.

import { driveAsyncGenerator, isAsyncFunction, isAsyncGeneratorFunction } from "@dt/aio";
import {
  type ActivityContext,
  type WorkflowContext as CoreWorkflowContext,
  InvalidArgumentError,
  type SandboxMode,
  type WorkflowDefinition,
  type WorkflowFunction,
} from "@dt/core";
import { TaskHubGrpcWorker, type WorkerOptions } from "@dt/worker";
import { WorkflowActivityContext, WorkflowContext } from "./context.js";
import { getFunctionName } from "./names.js";
import { resolveTransport, toLogger, type WorkflowClientOptions } from "./options.js";
import type { TInput, TOutput, TWorkflow, TWorkflowActivity } from "./types.js";

/** What a registered workflow becomes for the worker. */
export type RegisteredWorkflowFunction = WorkflowFunction<never, unknown> | WorkflowDefinition<never, unknown>;

/** An `async` workflow: its context is @dt/aio's by default (see `AsyncWorkflowAdapter`), so typed loosely. */
// biome-ignore lint/suspicious/noExplicitAny: any async function, whatever its context and input types.
export type AsyncTWorkflow = (context: any, input: any) => Promise<unknown>;

/**
 * THE ASYNC SEAM. Every `async function` workflow registered goes through this adapter, which decides what the worker
 * registers. The default, `daprContextForAsyncWorkflows`, gives it this package's `WorkflowContext` (whose tasks are
 * awaitable), so code written against @dapr/dapr keeps working. `passAsyncWorkflowThrough` hands it to the worker
 * unchanged: @dt/aio then runs it with its own `AsyncWorkflowContext` (`gather`, `withTimeout`, metadata, …).
 * (`async function*` workflows, @dapr/dapr's usual style, always get the Dapr context: see `adaptAsyncGeneratorWorkflow`.)
 */
export type AsyncWorkflowAdapter = (workflow: AsyncTWorkflow, name: string) => RegisteredWorkflowFunction;

/** The default async seam: the async function goes to the worker exactly as it was registered (@dt/aio runs it). */
export const passAsyncWorkflowThrough: AsyncWorkflowAdapter = (workflow) => workflow as RegisteredWorkflowFunction;

/** An async seam for code written against @dapr/dapr: the async function gets the Dapr-flavoured `WorkflowContext`. */
export const daprContextForAsyncWorkflows: AsyncWorkflowAdapter = (workflow) =>
  // A plain function returning the promise: the worker hands it the engine's context, and the engine's async mode
  // (@dt/aio's turn runner) waits for the promise.
  ((ctx: CoreWorkflowContext, input: TInput) =>
    workflow(new WorkflowContext(ctx), input)) as RegisteredWorkflowFunction;

/** The kind of function a workflow is, as far as running it goes. */
export function workflowKind(fn: unknown): "async" | "asyncGenerator" | "sync" {
  if (isAsyncFunction(fn)) return "async";
  if (isAsyncGeneratorFunction(fn)) return "asyncGenerator";
  return "sync";
}

/**
 * A generator or plain workflow for the worker: the worker calls it with @dt/core's context, the workflow gets the
 * Dapr-flavoured one and yields the engine's tasks to the engine.
 */
export function adaptWorkflow(workflow: TWorkflow): WorkflowFunction<TInput, TOutput> {
  return (ctx: CoreWorkflowContext, input: TInput) => workflow(new WorkflowContext(ctx), input);
}

/**
 * An `async function*` workflow, as @dapr/dapr runs it: `const r = yield ctx.callActivity(...)` gives the activity's
 * result. Tasks are awaitable and an async generator awaits what it yields, so the generator itself waits for each
 * task (a failure is thrown at its `yield`) and hands the result out; the driver hands it straight back in. The
 * returned promise is run by the engine's async mode (@dt/aio's turn runner, which the worker uses for every turn).
 */
export function adaptAsyncGeneratorWorkflow(
  workflow: (context: WorkflowContext, input: TInput) => AsyncGenerator<unknown, unknown, unknown>,
): WorkflowFunction<TInput, Promise<unknown>> {
  return (ctx: CoreWorkflowContext, input: TInput) => driveAsyncGenerator(workflow(new WorkflowContext(ctx), input));
}

export function adaptActivity(activity: TWorkflowActivity): (ctx: ActivityContext, input: TInput) => TOutput {
  return (ctx: ActivityContext, input: TInput) => activity(new WorkflowActivityContext(ctx), input);
}

/** The worker methods the runtime uses (a TaskHubGrpcWorker, or a test double). */
export type WorkflowWorker = Pick<TaskHubGrpcWorker, "addWorkflow" | "addActivity" | "start" | "stop" | "waitForReady">;

export interface WorkflowRuntimeOptions
  extends WorkflowClientOptions,
    Pick<
      WorkerOptions,
      | "maxConcurrentWorkflows"
      | "maxConcurrentActivities"
      | "statefulHistory"
      | "historyCacheSize"
      | "workflowCacheSize"
      | "shutdownTimeoutMs"
      | "reconnect"
      | "keepaliveIntervalMs"
      | "maxResponseBytes"
    > {
  /** See `AsyncWorkflowAdapter`. Default `daprContextForAsyncWorkflows`. */
  readonly asyncWorkflowAdapter?: AsyncWorkflowAdapter;
  /** Register on this worker instead of creating one (its own connection settings then apply). */
  readonly worker?: WorkflowWorker;
}

/** Versioned registration (Dapr named workflow versions). */
export interface RegisterWorkflowOptions {
  readonly version?: string;
  /** The version new instances run. */
  readonly isLatest?: boolean;
  /** Determinism checks for its turns (@dt/sandbox): `off` (default), `best_effort` or `strict`. */
  readonly sandboxMode?: SandboxMode;
}

/**
 * Hosts workflows and activities for a Dapr sidecar (or durabletask-go, or @dt/sidecar). Register, then `start()`;
 * `stop()` lets running work finish.
 */
export class WorkflowRuntime {
  readonly #worker: WorkflowWorker;
  readonly #asyncAdapter: AsyncWorkflowAdapter;

  constructor(options: WorkflowRuntimeOptions = {}) {
    this.#asyncAdapter = options.asyncWorkflowAdapter ?? daprContextForAsyncWorkflows;
    if (options.worker !== undefined) {
      this.#worker = options.worker;
      return;
    }
    const logger = toLogger(options.logger);
    this.#worker = new TaskHubGrpcWorker({
      ...resolveTransport(options),
      useEnvironment: false,
      ...(logger === undefined ? {} : { logger }),
      ...(options.converter === undefined ? {} : { converter: options.converter }),
      ...pickDefined(options, [
        "maxConcurrentWorkflows",
        "maxConcurrentActivities",
        "statefulHistory",
        "historyCacheSize",
        "workflowCacheSize",
        "shutdownTimeoutMs",
        "reconnect",
        "keepaliveIntervalMs",
        "maxResponseBytes",
      ]),
    });
  }

  /** Registers a workflow under its function's name. */
  registerWorkflow(workflow: TWorkflow | AsyncTWorkflow, options: RegisterWorkflowOptions = {}): this {
    return this.registerWorkflowWithName(getFunctionName(workflow, "workflow"), workflow, options);
  }

  /** Registers a workflow under `name` (which need not be the function's). */
  registerWorkflowWithName(
    name: string,
    workflow: TWorkflow | AsyncTWorkflow,
    options: RegisterWorkflowOptions = {},
  ): this {
    assertFunction(workflow, "workflow");
    const kind = workflowKind(workflow);
    const registered =
      kind === "async"
        ? this.#asyncAdapter(workflow as AsyncTWorkflow, name)
        : kind === "asyncGenerator"
          ? adaptAsyncGeneratorWorkflow(workflow as Parameters<typeof adaptAsyncGeneratorWorkflow>[0])
          : adaptWorkflow(workflow as TWorkflow);
    this.#worker.addWorkflow(registered as RegisteredWorkflowFunction, {
      name,
      ...(options.sandboxMode === undefined ? {} : { sandboxMode: options.sandboxMode }),
      ...(options.version === undefined ? {} : { version: options.version }),
      ...(options.isLatest === undefined ? {} : { isLatest: options.isLatest }),
    });
    return this;
  }

  /** Registers an activity under its function's name. */
  registerActivity<I = TInput, O = TOutput>(activity: TWorkflowActivity<I, O>): this {
    return this.registerActivityWithName(getFunctionName(activity, "activity"), activity);
  }

  /** Registers an activity under `name` (which need not be the function's). */
  registerActivityWithName<I = TInput, O = TOutput>(name: string, activity: TWorkflowActivity<I, O>): this {
    assertFunction(activity, "activity");
    const run = adaptActivity(activity as TWorkflowActivity) as (ctx: ActivityContext, input: never) => unknown;
    this.#worker.addActivity(run, { name });
    return this;
  }

  /**
   * Starts taking work in the background and returns (as @dapr/dapr's). A sidecar that is not up yet is retried
   * until `stop()`; `waitForReady()` waits for the connection.
   */
  async start(): Promise<void> {
    await this.#worker.start();
  }

  /** Resolves once connected to the sidecar; rejects after `timeoutMs` (default 30 s). */
  async waitForReady(timeoutMs = 30_000): Promise<void> {
    await this.#worker.waitForReady({ timeoutMs });
  }

  /** Stops taking work and waits (up to `shutdownTimeoutMs`, default 30 s) for running work to finish. */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.#worker.stop(options);
  }

  /** Alias of `stop()`. */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.stop(options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function assertFunction(value: unknown, what: "workflow" | "activity"): void {
  if (typeof value !== "function") {
    throw new InvalidArgumentError(`A ${what} must be a function; got ${value === null ? "null" : typeof value}.`);
  }
}

function pickDefined<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
