// Typed definitions: declare an activity or workflow once; its input and output types follow it to every call site.
import type { ActivityContext } from "./activity.js";
import type { WorkflowContext } from "./context.js";
import { InvalidArgumentError } from "./errors.js";
import type { Task } from "./task.js";

export type ActivityFunction<I = never, O = unknown> = (ctx: ActivityContext, input: I) => O | PromiseLike<O>;

/**
 * What a workflow function may return: a generator driven by the engine, or a plain value. `yield task` evaluates
 * to `any` (TypeScript cannot type each yield); `yield* task` evaluates to the task's exact type.
 */
// biome-ignore lint/suspicious/noExplicitAny: the type of a plain `yield` expression; `unknown` would force casts on every yield.
export type WorkflowGenerator<O = unknown> = Generator<Task<unknown>, O, any>;
export type WorkflowFunction<I = never, O = unknown> = (ctx: WorkflowContext, input: I) => WorkflowGenerator<O> | O;

export interface ActivityDefinition<I = never, O = unknown> {
  readonly kind: "activity";
  readonly name: string;
  readonly run: ActivityFunction<I, O>;
}

export interface WorkflowDefinition<I = never, O = unknown> {
  readonly kind: "workflow";
  readonly name: string;
  readonly run: (ctx: WorkflowContext, input: I) => unknown;
  /** A named version of the workflow (Dapr workflow versioning). */
  readonly version?: string;
  /** The version new instances run. */
  readonly isLatest?: boolean;
  /** Determinism checks for its turns (see WorkflowRegistration.sandboxMode). */
  readonly sandboxMode?: SandboxMode;
  /** Phantom: carries the output type to call sites; never set. */
  readonly __output?: O;
}

export function defineActivity<I = undefined, O = unknown>(
  name: string,
  run: ActivityFunction<I, O>,
): ActivityDefinition<I, Awaited<O>> {
  return { kind: "activity", name: checkName(name, "activity"), run: run as ActivityFunction<I, Awaited<O>> };
}

export function defineWorkflow<I = undefined, O = unknown>(
  name: string,
  run: (ctx: WorkflowContext, input: I) => WorkflowGenerator<O> | O,
  options: { readonly version?: string; readonly isLatest?: boolean } = {},
): WorkflowDefinition<I, O> {
  return {
    kind: "workflow",
    name: checkName(name, "workflow"),
    run,
    ...(options.version === undefined ? {} : { version: options.version }),
    ...(options.isLatest === undefined ? {} : { isLatest: options.isLatest }),
  };
}

/** `off`: no checks, no cost (default). `best_effort`: non-deterministic globals replaced, with warnings. `strict`: they throw. */
export type SandboxMode = "off" | "best_effort" | "strict";

/** Accepts `off`, `best_effort` (or `best-effort`) and `strict`, in any case; anything else is INVALID_ARGUMENT. */
export function parseSandboxMode(value: unknown): SandboxMode {
  const mode = typeof value === "string" ? value.trim().toLowerCase().replace("-", "_") : value;
  if (mode === "off" || mode === "best_effort" || mode === "strict") return mode;
  throw new InvalidArgumentError(
    `Unknown sandbox mode ${JSON.stringify(value)}; use "off", "best_effort" or "strict".`,
  );
}

export type InputOf<D> =
  D extends ActivityDefinition<infer I, unknown> ? I : D extends WorkflowDefinition<infer I, unknown> ? I : unknown;
export type OutputOf<D> =
  D extends ActivityDefinition<never, infer O> ? O : D extends WorkflowDefinition<never, infer O> ? O : unknown;

/** `{ input: I }`, optional when the input type admits undefined. */
export type InputOption<I> = [undefined] extends [I] ? { readonly input?: I } : { readonly input: I };

export function checkName(name: unknown, what: string): string {
  if (typeof name !== "string" || name.trim() === "" || name === "anonymous") {
    throw new InvalidArgumentError(
      `A ${what} needs a non-empty name; got ${JSON.stringify(name)}. Pass one explicitly (anonymous functions have none).`,
    );
  }
  return name;
}
