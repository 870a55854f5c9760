// @dapr/dapr's workflow function types. Inputs and outputs are `any` there, and stay `any` here, so ported code
// type-checks unchanged; typed definitions from @dt/core remain available for new code.
import type { Task } from "@dt/core";
import type { WorkflowActivityContext, WorkflowContext } from "./context.js";

// biome-ignore lint/suspicious/noExplicitAny: @dapr/dapr's TInput is `any`; ported code relies on it.
export type TInput = any;
// biome-ignore lint/suspicious/noExplicitAny: @dapr/dapr's TOutput is `any`; ported code relies on it.
export type TOutput = any;

/**
 * A workflow: a generator function (`function*`) that yields tasks, or a function that returns its output.
 * (`async function*` and `async` workflows, as @dapr/dapr runs them, go through the runtime's async seam.)
 */
export type TWorkflow = (
  context: WorkflowContext,
  input: TInput,
  // biome-ignore lint/suspicious/noExplicitAny: the value of a `yield` expression is untyped, as in @dapr/dapr.
) => Generator<Task<any>, any, any> | TOutput;

/**
 * `TWorkflow` is a value too, so `import { TWorkflow } from "@dt/dapr"` (as @dapr/dapr code writes it) also works
 * where type-only imports must say `import type`: Node's type stripping, `verbatimModuleSyntax`. As a function it
 * returns the workflow it is given, checked against the type.
 */
export function TWorkflow<F extends TWorkflow>(workflow: F): F {
  return workflow;
}

/** An activity: a function of its context and input; may be async. */
export type TWorkflowActivity<I = TInput, O = TOutput> = (context: WorkflowActivityContext, input: I) => O;
