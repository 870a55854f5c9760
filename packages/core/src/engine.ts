import type { HistoryEvent, WorkflowAction, WorkflowVersion } from "@dt/proto";
import type { WorkflowContext } from "./context.js";
import { type DataConverter, jsonConverter } from "./converter.js";
import { ForeignAwaitError, InvalidStateError, NonDeterminismError, TaskFailedError } from "./errors.js";
import type { ExecutionCache } from "./execution-cache.js";
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

/** What the sidecar a worker is connected to cannot do: each set operation's calls throw UnsupportedBySidecarError. */
export interface SidecarLimits {
  /** Why `ctx.sendEvent` cannot work there (e.g. "daprd 1.18.3 does not deliver events between workflows"). */
  readonly sendEvent?: string;
  /** The largest activity input (encoded, in bytes) the sidecar can schedule, and why; larger ones throw at the call. */
  readonly activityInput?: { readonly maxBytes: number; readonly reason: string };
}

export interface ExecuteOptions {
  readonly converter?: DataConverter;
  /** Operations the connected sidecar cannot carry out (the worker finds out when it connects). */
  readonly sidecarLimits?: SidecarLimits;
  readonly logger?: Logger;
  /** Called with the workflow's context right before its code starts (e.g. to bind a sandbox scope to it). */
  readonly onWorkflowStart?: (ctx: WorkflowContext) => void;
  /** Called with a cached workflow's context before a later turn resumes it (to bind that turn's sandbox scope). */
  readonly onWorkflowResume?: (ctx: WorkflowContext) => void;
}

/**
 * What the engine needs from its host to run async workflows (provided by @dt/aio): awaited code resumes in
 * microtasks, so after an event settles something the code awaits, the engine lets that code run before it goes on.
 */
export interface AsyncDriver {
  /** Calls `then` once every microtask queued so far, and every microtask those queue, has run. */
  settle(then: () => void): void;
  /**
   * Runs `turn` while recording where code awaits; `where()` lists the awaits still pending, innermost first, as
   * `file:line:column`. Used only to locate a foreign await after one was found.
   */
  traced?<T>(turn: (where: () => string[]) => Promise<T>): Promise<T>;
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
  checkRequest(request);
  const runtime = runtimeOptions(registry, options);
  return result(request, runtime, runTurn(request.instanceId, request.pastEvents, request.newEvents, runtime));
}

/**
 * `executeWorkflow` for hosts that can run async workflows too: workflow code may be an async function (registered
 * through @dt/aio), driven to quiescence after every event that woke it. Generator workflows run exactly as in
 * `executeWorkflow`.
 */
export async function executeWorkflowAsync(
  request: WorkflowRequest,
  registry: Registry,
  options: ExecuteOptions & {
    readonly driver: AsyncDriver;
    /** Keeps executions live between turns, so a turn runs only the events its execution has not seen. */
    readonly cache?: ExecutionCache;
  },
): Promise<WorkflowResult> {
  checkRequest(request);
  const { instanceId, pastEvents, newEvents } = request;
  const runtime = runtimeOptions(registry, options);
  const cache = options.cache;
  const live = cache?.take(instanceId, pastEvents);
  let ctx: RuntimeContext | undefined;
  if (live !== undefined) {
    live.ctx.reopen();
    options.onWorkflowResume?.(live.ctx);
    ctx = await processEventsAsync(live.ctx, pastEvents, newEvents, options.driver, undefined, live.from);
    // A failing turn is run again from the start: that run locates the failure (call sites, a foreign await).
    if (ctx.failure !== undefined) ctx = undefined;
  }
  ctx ??= await runTurnAsync(instanceId, pastEvents, newEvents, runtime, options.driver);
  if (cache !== undefined && ctx.canContinue) cache.put(instanceId, ctx, pastEvents, newEvents);
  return result(request, runtime, ctx);
}

/** `runTurn` for async workflow code: a foreign await is located by a traced re-run, other failures as in runTurn. */
export async function runTurnAsync(
  instanceId: string,
  past: readonly HistoryEvent[],
  newEvents: readonly HistoryEvent[],
  runtime: RuntimeOptions,
  driver: AsyncDriver,
  needsSites: (ctx: RuntimeContext) => boolean = failedAtACall,
): Promise<RuntimeContext> {
  const opts = { ...runtime, async: true };
  const turn = (o: RuntimeOptions, where?: () => string[]) =>
    processEventsAsync(new RuntimeContext(instanceId, o), past, newEvents, driver, where);
  const ctx = await turn(opts);
  if (ctx.failure instanceof ForeignAwaitError && driver.traced !== undefined) {
    // Deterministic up to the foreign await, so a traced second run stops at the same await and can say where.
    return driver.traced((where) => turn(opts, where));
  }
  if (opts.captureSites === true || !needsSites(ctx)) return ctx;
  return turn({ ...opts, captureSites: true });
}

function checkRequest(request: WorkflowRequest): void {
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
}

function runtimeOptions(registry: Registry, options: ExecuteOptions): RuntimeOptions {
  return {
    registry,
    converter: options.converter ?? jsonConverter,
    logger: options.logger ?? silentLogger,
    ...(options.onWorkflowStart === undefined ? {} : { onWorkflowStart: options.onWorkflowStart }),
    ...(options.sidecarLimits === undefined ? {} : { sidecarLimits: options.sidecarLimits }),
  };
}

function result(request: WorkflowRequest, runtime: RuntimeOptions, ctx: RuntimeContext): WorkflowResult {
  const unconsumed = ctx.unconsumedResolutions;
  if (unconsumed.length > 0) {
    runtime.logger.warn("History resolves work this turn never scheduled; it stays in history and may match later.", {
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

/**
 * `processEvents` for async workflow code: after each event that woke the code, the code runs before the next.
 * `from`: the first event `ctx` has not processed yet (a cached execution's next turn).
 */
function processEventsAsync(
  ctx: RuntimeContext,
  past: readonly HistoryEvent[],
  newEvents: readonly HistoryEvent[],
  driver: AsyncDriver,
  where: (() => string[]) | undefined,
  from = 0,
): Promise<RuntimeContext> {
  const count = past.length + newEvents.length;
  const tracker = ctx.tracker;
  let i = from;
  return new Promise((resolve) => {
    // Callback-driven rather than `await` per event: a turn settles once per awaited resolution, so this is hot.
    const resume = (): void => {
      if (ctx.awaitsForeign) {
        const event = (i <= past.length ? past[i - 1] : newEvents[i - 1 - past.length]) as HistoryEvent;
        const step = `history event #${i - 1} (${event.eventType.case ?? "unknown"})`;
        ctx.fail(
          new ForeignAwaitError({ workflowName: ctx.workflowName, instanceId: ctx.instanceId, step }, where?.()[0]),
        );
        return finish();
      }
      for (; i < count && !ctx.halted; ) {
        const replaying = i < past.length;
        const event = (replaying ? past[i] : newEvents[i - past.length]) as HistoryEvent;
        ctx.beginEvent(i, count, replaying);
        i++;
        try {
          ctx.process(event);
        } catch (error) {
          ctx.fail(error);
          return finish();
        }
        if (tracker.woke) {
          tracker.woke = false;
          return driver.settle(resume);
        }
      }
      finish();
    };
    const finish = () => {
      ctx.close();
      resolve(ctx);
    };
    resume();
  });
}

function failedAtACall(ctx: RuntimeContext): boolean {
  return ctx.failure instanceof NonDeterminismError || ctx.failure instanceof TaskFailedError;
}
