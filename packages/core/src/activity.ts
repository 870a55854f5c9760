import type { ActivityRequest, TaskFailureDetails } from "@dt/proto";
import {
  type DataConverter,
  decodePayloadOrThrow,
  encodePayloadOrThrow,
  jsonConverter,
  type Metadata,
  unwrapMetadata,
} from "./converter.js";
import { ActivityNotRegisteredError } from "./errors.js";
import { toFailureDetails } from "./failure.js";
import type { Registry } from "./registry.js";

/** What an activity sees about the call that started it. */
export interface ActivityContext {
  readonly name: string;
  /** The workflow instance that called it. */
  readonly instanceId: string;
  /** The call's sequence id in the workflow (differs per retry attempt). */
  readonly taskId: number;
  /** Stable across retry attempts of one call: an idempotency key. */
  readonly taskExecutionId: string;
  readonly traceParent: string | undefined;
  readonly traceState: string | undefined;
  /** Aborted when the worker shuts down; pass it on to fetch and other cancellable I/O. */
  readonly signal: AbortSignal;
  /** What the calling workflow attached to the call (`metadata` option, `ctx.setMetadata`); empty when nothing. */
  readonly metadata: Metadata;
}

const NO_METADATA: Metadata = Object.freeze({});

/** The outcome to report with CompleteActivityTask: a result or a failure, never both. */
export interface ActivityResult {
  readonly result: string | undefined;
  readonly failureDetails: TaskFailureDetails | undefined;
}

export interface ActivityOptions {
  readonly converter?: DataConverter;
  readonly signal?: AbortSignal;
}

type ActivityCall = Pick<ActivityRequest, "name" | "input" | "taskId" | "taskExecutionId"> & {
  readonly workflowInstance?: { readonly instanceId: string } | undefined;
  readonly parentTraceContext?: { readonly traceParent: string; readonly traceState?: string | undefined } | undefined;
};

/**
 * Runs the named activity (sync or async). Never throws: every failure — unregistered name, bad input, a throw,
 * an unserializable result — becomes failure details with the cause chain.
 */
export async function executeActivity(
  request: ActivityCall,
  registry: Registry,
  options: ActivityOptions = {},
): Promise<ActivityResult> {
  const converter = options.converter ?? jsonConverter;
  try {
    const run = registry.getActivity(request.name);
    if (run === undefined) throw new ActivityNotRegisteredError(request.name, registry.activityNames);
    const { value: input, metadata } = unwrapMetadata(
      decodePayloadOrThrow(converter, request.input, `the input of activity '${request.name}'`),
    );
    const ctx: ActivityContext = {
      name: request.name,
      instanceId: request.workflowInstance?.instanceId ?? "",
      taskId: request.taskId,
      taskExecutionId: request.taskExecutionId,
      traceParent: request.parentTraceContext?.traceParent || undefined,
      traceState: request.parentTraceContext?.traceState,
      signal: options.signal ?? new AbortController().signal,
      metadata: metadata ?? NO_METADATA,
    };
    const output = await run(ctx, input);
    const result = encodePayloadOrThrow(converter, output, `the result of activity '${request.name}'`);
    return { result, failureDetails: undefined };
  } catch (error) {
    return { result: undefined, failureDetails: toFailureDetails(error) };
  }
}
