// The worker's entry point for one workflow turn: generator and async workflows alike, sandboxed when their
// registration asks for it.
import {
  type ExecuteOptions,
  type ExecutionCache,
  executeWorkflowAsync,
  type Logger,
  type Registry,
  type ReplayOptions,
  type ReplayReport,
  replayAsync,
  type SandboxMode,
  type WorkflowContext,
  type WorkflowDefinition,
  type WorkflowFunction,
  type WorkflowRequest,
  type WorkflowResult,
} from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { detectionDisabled, enterSandbox, outsideSandbox, parseSandboxMode, seededRandom } from "@dt/sandbox";
import { nodeDriver } from "./driver.js";
import { type AsyncWorkflowFunction, bindSandbox, rebindSandbox, toRegistrable } from "./workflow.js";

// Taken at load, before any sandbox can patch them.
const immediate = setImmediate;

export interface TurnOptions extends ExecuteOptions {
  /** Ignore every registration's sandbox mode (default: `DAPR_WF_DISABLE_DETECTION`). */
  readonly disableDetection?: boolean;
  /** Keeps executions live between turns (the worker keeps one per work-item stream). */
  readonly cache?: ExecutionCache;
}

/**
 * Runs one turn. Sandboxed turns run each in a fresh setImmediate callback: the microtask queue is empty
 * there, so while the patches are in place only the turn's own code runs; they are removed when the turn ends, and a
 * second setImmediate queued right behind it removes them at the latest when the turn's microtask chain is done.
 */
export function runWorkflowTurn(
  request: WorkflowRequest,
  registry: Registry,
  options: TurnOptions = {},
): Promise<WorkflowResult> {
  const mode = sandboxModeOf(request, registry);
  if (mode === "off" || (options.disableDetection ?? detectionDisabled())) {
    return executeWorkflowAsync(request, registry, { ...options, driver: nodeDriver });
  }
  const logger = options.logger === undefined ? undefined : outsideSandboxLogger(options.logger);
  return inSandbox(mode, () =>
    executeWorkflowAsync(request, registry, {
      ...options,
      ...(logger === undefined ? {} : { logger }),
      onWorkflowStart: bindToSandbox,
      onWorkflowResume: rebindSandbox,
      driver: nodeDriver,
    }),
  );
}

/**
 * Runs `turn` in a sandbox scope of its own (see runWorkflowTurn). Turns cannot overlap: each runs to its end within
 * the microtask chain of its setImmediate callback (the engine never waits on the event loop), and enterSandbox
 * refuses a second open scope.
 */
function inSandbox<T>(mode: "best_effort" | "strict", turn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let scope: ReturnType<typeof enterSandbox> | undefined;
    immediate(() => {
      scope = enterSandbox(mode);
      turn().then(
        (value) => {
          scope?.exit();
          resolve(value);
        },
        (error: unknown) => {
          scope?.exit();
          reject(error);
        },
      );
    });
    immediate(() => scope?.exit());
  });
}

/** Binds the open sandbox scope to the workflow's time and a random stream seeded by the instance. */
function bindToSandbox(ctx: WorkflowContext): void {
  bindSandbox(ctx, seededRandom(`${ctx.instanceId}:${ctx.executionId ?? ""}`));
}

/** Loggers already wrapped (the worker passes the same one every turn). */
const wrappedLoggers = new WeakMap<Logger, Logger>();

/** The worker's logger, called from workflow code inside the scope, still sees the real clock. */
function outsideSandboxLogger(logger: Logger): Logger {
  const known = wrappedLoggers.get(logger);
  if (known !== undefined) return known;
  const wrap =
    (level: keyof Logger) =>
    (message: string, attributes?: Record<string, unknown>): void =>
      outsideSandbox(() => logger[level](message, attributes));
  const wrapped = { debug: wrap("debug"), info: wrap("info"), warn: wrap("warn"), error: wrap("error") };
  wrappedLoggers.set(logger, wrapped);
  return wrapped;
}

/** The sandbox mode of the workflow a request runs (from its ExecutionStarted event and recorded version). */
function sandboxModeOf(request: WorkflowRequest, registry: Registry): "off" | "best_effort" | "strict" {
  let name: string | undefined;
  let version: string | undefined;
  for (const events of [request.pastEvents, request.newEvents]) {
    for (const event of events) {
      const e = event.eventType;
      if (e.case === "workflowStarted" && e.value.version?.name !== undefined) version ??= e.value.version.name;
      if (e.case === "executionStarted") {
        name = e.value.name;
        break;
      }
    }
    if (name !== undefined) break;
  }
  if (name === undefined) return "off";
  const resolution = registry.resolveWorkflow(name, version);
  return resolution.ok ? parseSandboxMode(resolution.workflow.sandboxMode ?? "off") : "off";
}

/**
 * Re-runs a saved history against the current code of a workflow (generator or async) and reports where they
 * diverge: run it in CI against production histories before deploying a change.
 */
export function replay(
  events: readonly HistoryEvent[],
  workflow:
    | WorkflowDefinition<never, unknown>
    | WorkflowFunction<never, unknown>
    | AsyncWorkflowFunction<never, unknown>,
  options: ReplayOptions & { readonly sandboxMode?: SandboxMode } = {},
): Promise<ReplayReport> {
  const registrable = toRegistrable(
    workflow,
    options.sandboxMode === undefined ? {} : { sandboxMode: options.sandboxMode },
  );
  const run = () =>
    replayAsync(events, registrable as WorkflowDefinition, {
      ...options,
      onWorkflowStart: bindToSandbox,
      driver: nodeDriver,
    });
  const mode = typeof registrable === "function" ? "off" : (registrable.sandboxMode ?? "off");
  // Replay the way the worker runs it: under the workflow's sandbox, or best_effort code would diverge.
  return mode === "off" || detectionDisabled() ? run() : inSandbox(mode, run);
}
