// Async workflows as registrations: an `async (ctx, input) => …` function becomes a workflow the @dt/core engine
// runs, with an AsyncWorkflowContext built over the engine's context on every turn.
import {
  checkName,
  DurableTaskError,
  type SandboxMode,
  type WorkflowContext,
  type WorkflowDefinition,
  type WorkflowFunction,
} from "@dt/core";
import { activeSandbox, parseSandboxMode, type SandboxHost } from "@dt/sandbox";
import { AsyncWorkflowContext } from "./context.js";

export type AsyncWorkflowFunction<I = never, O = unknown> = (ctx: AsyncWorkflowContext, input: I) => Promise<O>;

/** A workflow function or definition that cannot be registered as written. */
export class WorkflowValidationError extends DurableTaskError {
  readonly validation: "function_type" | "async_function" | "function_signature";
  constructor(validation: WorkflowValidationError["validation"], message: string) {
    super("WORKFLOW_VALIDATION_FAILED", `${validation} validation failed: ${message}`);
    this.validation = validation;
  }
}

const ADAPTED = Symbol("dt.asyncWorkflow");

/** True for `async function` / `async () =>` (what the worker registers as async workflows). */
export function isAsyncFunction(fn: unknown): fn is (...args: never[]) => Promise<unknown> {
  return typeof fn === "function" && fn.constructor?.name === "AsyncFunction";
}

/** True for `async function*` (durabletask-js / @dapr/dapr style workflows). */
export function isAsyncGeneratorFunction(
  fn: unknown,
): fn is (...args: never[]) => AsyncGenerator<unknown, unknown, unknown> {
  return typeof fn === "function" && fn.constructor?.name === "AsyncGeneratorFunction";
}

function truthy(value: string | undefined): boolean {
  return /^(1|true|yes|on)$/i.test(value ?? "");
}

/** `DAPR_WF_DEBUG` / `DT_DEBUG`: record operations (ctx.getDebugInfo) and log them at debug level. */
export function debugFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return truthy(env["DAPR_WF_DEBUG"]) || truthy(env["DT_DEBUG"]);
}

function validate(fn: unknown): asserts fn is AsyncWorkflowFunction<unknown, unknown> {
  if (typeof fn !== "function") {
    throw new WorkflowValidationError(
      "function_type",
      `a workflow must be a function; got ${fn === null ? "null" : typeof fn}.`,
    );
  }
  if (!isAsyncFunction(fn)) {
    throw new WorkflowValidationError(
      "async_function",
      `'${fn.name || "anonymous"}' must be an async function (async (ctx, input) => …); write generator workflows with defineWorkflow.`,
    );
  }
  if (fn.length > 2) {
    throw new WorkflowValidationError(
      "function_signature",
      `'${fn.name || "anonymous"}' takes ${fn.length} parameters; an async workflow takes (ctx) or (ctx, input).`,
    );
  }
}

/** The engine-side function of an async workflow: builds its context, binds an open sandbox, runs the code. */
function adapt(
  fn: AsyncWorkflowFunction<unknown, unknown>,
  debug: boolean,
): (ctx: WorkflowContext, input: unknown) => Promise<unknown> {
  const run = (base: WorkflowContext, input: unknown) => {
    const ctx = new AsyncWorkflowContext(base, { debug });
    // Rebind an open sandbox to this context's random stream, so Math.random() and ctx.random() are one stream.
    bindSandbox(base, () => ctx.random());
    return fn(ctx, input);
  };
  return Object.assign(run, { [ADAPTED]: true });
}

/**
 * What a workflow's sandbox scopes are bound to, kept on its context for the later turns of an execution kept live.
 * A property rather than a WeakMap: an entry per workflow start made every young context an ephemeron, which the
 * garbage collector promotes (best_effort turns cost ~2× until this was a plain property).
 */
const HOST = Symbol("sandboxHost");
type WithHost = WorkflowContext & { [HOST]?: SandboxHost };

/** Lets an open sandbox scope (best_effort, strict) use the workflow's deterministic time, randomness and timers. */
export function bindSandbox(base: WorkflowContext, random: () => number): void {
  const scope = activeSandbox();
  if (scope === undefined) return;
  const host: SandboxHost = {
    workflowName: base.workflowName,
    now: () => base.currentUtcDateTime.getTime(),
    random,
    timer: (ms) => base.createTimer(ms / 1000),
  };
  (base as WithHost)[HOST] = host;
  scope.bind(host);
}

/** Binds the open sandbox scope to what a live execution's earlier turns used (its random stream goes on). */
export function rebindSandbox(base: WorkflowContext): void {
  const host = (base as WithHost)[HOST];
  if (host !== undefined) activeSandbox()?.bind(host);
}

export interface AsyncWorkflowOptions {
  readonly version?: string;
  readonly isLatest?: boolean;
  /** Determinism checks for its turns: `off` (default), `best_effort` or `strict`. */
  readonly sandboxMode?: SandboxMode;
  /** Debug mode (default: `DAPR_WF_DEBUG` / `DT_DEBUG`). */
  readonly debug?: boolean;
}

/** Declares an async workflow; its input and output types follow it to every call site and to the client. */
export function defineAsyncWorkflow<I = undefined, O = unknown>(
  name: string,
  fn: AsyncWorkflowFunction<I, O>,
  options: AsyncWorkflowOptions = {},
): WorkflowDefinition<I, Awaited<O>> {
  validate(fn);
  return {
    kind: "workflow",
    name: checkName(name, "workflow"),
    run: adapt(fn as AsyncWorkflowFunction<unknown, unknown>, options.debug ?? debugFromEnv()) as WorkflowDefinition<
      I,
      O
    >["run"],
    ...(options.version === undefined ? {} : { version: options.version }),
    ...(options.isLatest === undefined ? {} : { isLatest: options.isLatest }),
    ...(options.sandboxMode === undefined ? {} : { sandboxMode: parseSandboxMode(options.sandboxMode) }),
  };
}

/**
 * What a worker registers: async functions (and definitions whose `run` is one) become async workflows and `async
 * function*` workflows are driven by awaiting each yield; generator workflows and definitions stay as they are. A
 * sandbox mode given here (validated) goes on the returned definition.
 */
export function toRegistrable(
  workflow:
    | WorkflowDefinition<never, unknown>
    | WorkflowFunction<never, unknown>
    | AsyncWorkflowFunction<never, unknown>,
  options: { readonly name?: string; readonly sandboxMode?: SandboxMode } = {},
): WorkflowDefinition<never, unknown> | WorkflowFunction<never, unknown> {
  const def = typeof workflow === "function" ? undefined : workflow;
  const run = (def?.run ?? workflow) as ((...args: never[]) => unknown) & { [ADAPTED]?: true };
  if (typeof run !== "function") {
    throw new WorkflowValidationError(
      "function_type",
      `a workflow must be a function or a definition with a run function; got ${describe(workflow)}.`,
    );
  }
  const mode = options.sandboxMode === undefined ? undefined : parseSandboxMode(options.sandboxMode);
  const as = (code: WorkflowDefinition["run"]): WorkflowDefinition<never, unknown> => ({
    ...def,
    kind: "workflow",
    name: checkName(options.name ?? def?.name ?? run.name, "workflow"),
    run: code,
    ...(mode === undefined ? {} : { sandboxMode: mode }),
  });
  if (run[ADAPTED] !== true && isAsyncFunction(run)) {
    validate(run);
    return as(adapt(run as AsyncWorkflowFunction<unknown, unknown>, debugFromEnv()));
  }
  if (isAsyncGeneratorFunction(run)) {
    // durabletask-js / @dapr/dapr style `async function*`: each `yield task` gives back the task's result.
    const generator = run as unknown as (
      ctx: WorkflowContext,
      input: never,
    ) => AsyncGenerator<unknown, unknown, unknown>;
    return as((ctx, input) => driveAsyncGenerator(generator(ctx, input as never)));
  }
  return mode === undefined && options.name === undefined
    ? (workflow as WorkflowDefinition<never, unknown>)
    : as(run as WorkflowDefinition["run"]);
}

function describe(value: unknown): string {
  return value === null ? "null" : typeof value;
}

/**
 * Runs an `async function*` workflow: an async generator awaits what it yields, so `yield task` hands out the task's
 * result (or throws its failure at the `yield`), and the driver passes it straight back in.
 */
export async function driveAsyncGenerator(generator: AsyncGenerator<unknown, unknown, unknown>): Promise<unknown> {
  let step = await generator.next();
  while (step.done !== true) step = await generator.next(step.value);
  return step.value;
}
