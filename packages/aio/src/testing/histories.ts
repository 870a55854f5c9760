// Test helpers: run async workflows through the engine against hand-built histories.

import { history as h, Registry, type WorkflowResult } from "@dt/core";
import type { HistoryEvent, WorkflowAction } from "@dt/proto";
import { runWorkflowTurn } from "../turn.js";
import { toRegistrable } from "../workflow.js";

export { h };
export const INSTANCE = "abc123";
export const START = new Date("2020-01-01T12:00:00Z");
export const at = (seconds: number) => new Date(START.getTime() + seconds * 1000);

export function registry(workflows: Record<string, unknown>, activities: Record<string, unknown> = {}): Registry {
  const r = new Registry();
  for (const [name, fn] of Object.entries(workflows)) r.addWorkflow(toRegistrable(fn as never, { name }), { name });
  for (const [name, fn] of Object.entries(activities)) r.addActivity(fn as never, { name });
  return r;
}

export function started(name: string, input?: unknown, time = START): HistoryEvent[] {
  return [
    h.workflowStarted(time),
    h.executionStarted(name, INSTANCE, input === undefined ? undefined : JSON.stringify(input)),
  ];
}

export function run(reg: Registry, past: HistoryEvent[], newEvents: HistoryEvent[]): Promise<WorkflowResult> {
  return runWorkflowTurn({ instanceId: INSTANCE, pastEvents: past, newEvents }, reg);
}

export function kinds(result: WorkflowResult): (string | undefined)[] {
  return result.actions.map((a) => a.workflowActionType.case);
}

/** The completion action of a turn (throws if there is none). */
export function completion(result: WorkflowResult) {
  const action = result.actions.find((a) => a.workflowActionType.case === "completeWorkflow") as
    | WorkflowAction
    | undefined;
  if (action?.workflowActionType.case !== "completeWorkflow")
    throw new Error(`no completion: ${JSON.stringify(kinds(result))}`);
  return { id: action.id, ...action.workflowActionType.value };
}
