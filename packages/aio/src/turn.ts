// The worker's entry point for one workflow turn: generator and async workflows alike, sandboxed when their
// registration asks for it.
import {
  type ExecuteOptions,
  executeWorkflowAsync,
  type Registry,
  type ReplayOptions,
  type ReplayReport,
  replayAsync,
  type WorkflowDefinition,
  type WorkflowFunction,
  type WorkflowRequest,
  type WorkflowResult,
} from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { detectionDisabled, enterSandbox } from "@dt/sandbox";
import { nodeDriver } from "./driver.js";
import { type AsyncWorkflowFunction, toRegistrable } from "./workflow.js";

// Taken at load, before any sandbox can patch them.
const immediate = setImmediate;

export interface TurnOptions extends ExecuteOptions {
  /** Ignore every registration's sandbox mode (default: `DAPR_WF_DISABLE_DETECTION`). */
  readonly disableDetection?: boolean;
}

let lane: Promise<unknown> = Promise.resolve();

/**
 * Runs one turn. Sandboxed turns run one at a time, each in a fresh setImmediate callback: the microtask queue is empty
 * there, so while the patches are in place only the turn's own code runs; they are removed when the turn ends, and a
 * second setImmediate queued right behind it removes them at the latest when the turn's microtask chain is done.
 */
export function runWorkflowTurn(
  request: WorkflowRequest,
  registry: Registry,
  options: TurnOptions = {},
): Promise<WorkflowResult> {
  const run = () => executeWorkflowAsync(request, registry, { ...options, driver: nodeDriver });
  const mode = sandboxModeOf(request, registry);
  if (mode === "off" || (options.disableDetection ?? detectionDisabled())) return run();
  const turn = lane.then(
    () =>
      new Promise<WorkflowResult>((resolve, reject) => {
        let scope: ReturnType<typeof enterSandbox> | undefined;
        immediate(() => {
          scope = enterSandbox(mode);
          run()
            .then(resolve, reject)
            .finally(() => scope?.exit());
        });
        immediate(() => scope?.exit());
      }),
  );
  lane = turn.catch(() => undefined);
  return turn;
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
  return resolution.ok ? (resolution.workflow.sandboxMode ?? "off") : "off";
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
  options: ReplayOptions = {},
): Promise<ReplayReport> {
  return replayAsync(events, toRegistrable(workflow) as WorkflowDefinition, { ...options, driver: nodeDriver });
}
