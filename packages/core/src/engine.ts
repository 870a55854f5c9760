import type { HistoryEvent, WorkflowAction, WorkflowVersion } from "@dt/proto";
import { type DataConverter, jsonConverter } from "./converter.js";
import { InvalidStateError, NonDeterminismError, TaskFailedError } from "./errors.js";
import { type Logger, silentLogger } from "./logger.js";
import type { Registry } from "./registry.js";
import { RuntimeContext, type RuntimeOptions } from "./runtime.js";

/** The parts of the wire's WorkflowRequest the engine reads (a `WorkflowRequest` message fits). */
export interface WorkflowRequest {
  readonly instanceId: string;
  readonly pastEvents: readonly HistoryEvent[];
  readonly newEvents: readonly HistoryEvent[];
  /** Stateful history: the sidecar left out the first `eventCount` past events, which the worker has cached. */
  readonly cachedHistory?: { readonly eventCount: number } | undefined;
}

export interface ExecuteOptions {
  readonly converter?: DataConverter;
  readonly logger?: Logger;
  /** With stateful history: the cached events the sidecar left out of `pastEvents`. */
  readonly cachedEvents?: readonly HistoryEvent[];
}

/** What a turn produces; the worker adds the completion token and sends it as a WorkflowResponse. */
export interface WorkflowResult {
  readonly actions: WorkflowAction[];
  readonly customStatus: string | undefined;
  readonly version: WorkflowVersion | undefined;
}

/**
 * Runs one workflow turn: replays `pastEvents`, processes `newEvents`, and returns the actions the workflow took.
 * Pure and synchronous. Failures of the workflow (its code, non-determinism, bad payloads) come back as a FAILED
 * completion action; only a request the engine cannot even read throws.
 */
export function executeWorkflow(
  request: WorkflowRequest,
  registry: Registry,
  options: ExecuteOptions = {},
): WorkflowResult {
  if (request.newEvents.length === 0) {
    throw new InvalidStateError(
      "INVALID_STATE",
      `The work item for '${request.instanceId}' has no new events to process.`,
    );
  }
  const past = withCachedHistory(request, options.cachedEvents);
  const logger = options.logger ?? silentLogger;
  const runtime = { registry, converter: options.converter ?? jsonConverter, logger };
  const ctx = runTurn(request.instanceId, past, request.newEvents, runtime);
  const unconsumed = ctx.unconsumedResolutions;
  if (unconsumed.length > 0) {
    logger.warn("History resolves work this turn never scheduled; it stays in history and may match later.", {
      instanceId: request.instanceId,
      resolutions: unconsumed,
    });
  }
  return { actions: ctx.actions(), customStatus: ctx.customStatus, version: ctx.version };
}

/**
 * Processes `past` (replaying) then `newEvents`. When the turn fails in a way that should point at a workflow source
 * line, it runs again with call sites captured: the turn is deterministic, so the second run takes the same path.
 */
export function runTurn(
  instanceId: string,
  past: readonly HistoryEvent[],
  newEvents: readonly HistoryEvent[],
  runtime: RuntimeOptions,
  needsSites: (ctx: RuntimeContext) => boolean = failedAtACall,
): RuntimeContext {
  const ctx = processEvents(new RuntimeContext(instanceId, runtime), past, newEvents);
  if (runtime.captureSites === true || !needsSites(ctx)) return ctx;
  return processEvents(new RuntimeContext(instanceId, { ...runtime, captureSites: true }), past, newEvents);
}

function processEvents(ctx: RuntimeContext, past: readonly HistoryEvent[], newEvents: readonly HistoryEvent[]) {
  const count = past.length + newEvents.length;
  for (let i = 0; i < count && !ctx.halted; i++) {
    const replaying = i < past.length;
    const event = (replaying ? past[i] : newEvents[i - past.length]) as HistoryEvent;
    ctx.beginEvent(i, count, replaying);
    try {
      ctx.process(event);
    } catch (error) {
      // Engine-detected (non-determinism, unknown events): the workflow fails and later events are not applied.
      ctx.fail(error);
      break;
    }
  }
  return ctx;
}

function failedAtACall(ctx: RuntimeContext): boolean {
  return ctx.failure instanceof NonDeterminismError || ctx.failure instanceof TaskFailedError;
}

function withCachedHistory(
  request: WorkflowRequest,
  cached: readonly HistoryEvent[] | undefined,
): readonly HistoryEvent[] {
  const expected = request.cachedHistory?.eventCount;
  if (expected === undefined) return request.pastEvents;
  if (cached === undefined || cached.length !== expected) {
    throw new InvalidStateError(
      "HISTORY_UNAVAILABLE",
      `The sidecar sent '${request.instanceId}' as a delta over ${expected} cached events, but ${cached?.length ?? 0} are cached here; fetch the full history (GetInstanceHistory).`,
    );
  }
  return [...cached, ...request.pastEvents];
}
