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
  /**
   * Stateful history: set when the sidecar left out the first `eventCount` past events. The engine needs the full
   * history, so a worker resolves the delta (its cache, or GetInstanceHistory) and passes the request without this.
   */
  readonly cachedHistory?: { readonly eventCount: number } | undefined;
}

export interface ExecuteOptions {
  readonly converter?: DataConverter;
  readonly logger?: Logger;
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
  if (request.cachedHistory !== undefined) {
    throw new InvalidStateError(
      "HISTORY_UNAVAILABLE",
      `The work item for '${request.instanceId}' is a delta over ${request.cachedHistory.eventCount} cached events; resolve the full history (cache or GetInstanceHistory) first.`,
    );
  }
  const logger = options.logger ?? silentLogger;
  const runtime = { registry, converter: options.converter ?? jsonConverter, logger };
  const ctx = runTurn(request.instanceId, request.pastEvents, request.newEvents, runtime);
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
