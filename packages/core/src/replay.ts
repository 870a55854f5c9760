import type { HistoryEvent } from "@dt/proto";
import { OrchestrationStatus } from "@dt/proto";
import type { WorkflowContext } from "./context.js";
import { type DataConverter, jsonConverter } from "./converter.js";
import type { WorkflowDefinition, WorkflowFunction } from "./definitions.js";
import { type AsyncDriver, runTurn, runTurnAsync } from "./engine.js";
import { NonDeterminismError } from "./errors.js";
import { silentLogger } from "./logger.js";
import { Registry } from "./registry.js";
import type { RuntimeContext } from "./runtime.js";

export interface ReplayReport {
  /** True when the code reproduces the history exactly. */
  readonly ok: boolean;
  /** Each place where code and history disagree, first one first. */
  readonly divergences: readonly NonDeterminismError[];
  /** The outcome the code reaches on this history, when it reaches one. */
  readonly status: OrchestrationStatus | undefined;
  readonly result: string | undefined;
}

/**
 * Re-runs a saved history (e.g. from GetInstanceHistory or `dt workflow history --json`) against the current code
 * and reports where they diverge. Run it in CI against production histories before deploying a workflow change.
 */
export function replay(
  events: readonly HistoryEvent[],
  workflow: WorkflowDefinition | WorkflowFunction,
  options: ReplayOptions = {},
): ReplayReport {
  const { instanceId, runtime } = setUp(events, workflow, options);
  return report(events, runTurn(instanceId, events, [], runtime, divergedOrFailed));
}

/** `replay` for async workflows (pass @dt/aio's driver; @dt/aio's own `replay` does). */
export async function replayAsync(
  events: readonly HistoryEvent[],
  workflow: WorkflowDefinition | WorkflowFunction,
  options: ReplayOptions & { readonly driver: AsyncDriver },
): Promise<ReplayReport> {
  const { instanceId, runtime } = setUp(events, workflow, options);
  return report(events, await runTurnAsync(instanceId, events, [], runtime, options.driver, divergedOrFailed));
}

export interface ReplayOptions {
  readonly converter?: DataConverter;
  readonly registry?: Registry;
  /** See ExecuteOptions.onWorkflowStart. */
  readonly onWorkflowStart?: (ctx: WorkflowContext) => void;
}

function setUp(
  events: readonly HistoryEvent[],
  workflow: WorkflowDefinition | WorkflowFunction,
  options: ReplayOptions,
) {
  const started = events.find((e) => e.eventType.case === "executionStarted");
  const name = started?.eventType.case === "executionStarted" ? started.eventType.value.name : undefined;
  const instanceId =
    started?.eventType.case === "executionStarted" ? (started.eventType.value.workflowInstance?.instanceId ?? "") : "";
  const registry = options.registry ?? new Registry().addWorkflow(workflow, name === undefined ? {} : { name });
  const runtime = { registry, logger: silentLogger, converter: options.converter ?? jsonConverter };
  return {
    instanceId,
    runtime: options.onWorkflowStart === undefined ? runtime : { ...runtime, onWorkflowStart: options.onWorkflowStart },
  };
}

// Everything is replayed history; divergences are reported with the workflow's source lines.
function divergedOrFailed(c: RuntimeContext): boolean {
  return c.failure !== undefined || c.unconfirmedActions(0).length > 0;
}

function report(events: readonly HistoryEvent[], ctx: RuntimeContext): ReplayReport {
  const divergences: NonDeterminismError[] = [];
  if (ctx.failure instanceof NonDeterminismError) divergences.push(ctx.failure);
  else divergences.push(...ctx.unconfirmedActions(events.length));
  const recorded = events.findLast((e) => e.eventType.case === "executionCompleted");
  const completion = ctx.completion;
  if (divergences.length === 0 && recorded?.eventType.case === "executionCompleted") {
    const want = recorded.eventType.value;
    if (completion === undefined || completion.status !== want.workflowStatus || completion.result !== want.result) {
      divergences.push(
        new NonDeterminismError({
          expected: `completion ${OrchestrationStatus[want.workflowStatus]} with ${want.result ?? "no result"}`,
          actual:
            completion === undefined
              ? "nothing"
              : `completion ${OrchestrationStatus[completion.status]} with ${completion.result ?? "no result"}`,
          sequenceId: recorded.eventId,
          historyIndex: events.indexOf(recorded),
          location: undefined,
        }),
      );
    }
  }
  return { ok: divergences.length === 0, divergences, status: completion?.status, result: completion?.result };
}
