// Helpers for golden history tests (test-only; not part of the package).
import type { HistoryEvent, WorkflowAction } from "@dt/proto";
import { expect } from "vitest";
import { type ExecuteOptions, executeWorkflow, type WorkflowResult } from "../engine.js";
import { history } from "../history.js";
import { Registry } from "../registry.js";

export const INSTANCE = "abc123";
export const START = new Date("2020-01-01T12:00:00Z");
export const at = (seconds: number) => new Date(START.getTime() + seconds * 1000);
export { history as h };

/** A registry holding the given workflows and activities (functions or definitions). */
export function registry(workflows: Record<string, unknown>, activities: Record<string, unknown> = {}): Registry {
  const r = new Registry();
  for (const [name, fn] of Object.entries(workflows)) r.addWorkflow(fn as never, { name });
  for (const [name, fn] of Object.entries(activities)) r.addActivity(fn as never, { name });
  return r;
}

/** The opening of every history: WorkflowStarted at START, then ExecutionStarted. */
export function started(name: string, input?: unknown, time = START): HistoryEvent[] {
  return [
    history.workflowStarted(time),
    history.executionStarted(name, INSTANCE, input === undefined ? undefined : JSON.stringify(input)),
  ];
}

export function run(
  reg: Registry,
  past: HistoryEvent[],
  newEvents: HistoryEvent[],
  options: ExecuteOptions = {},
): WorkflowResult {
  return executeWorkflow({ instanceId: INSTANCE, pastEvents: past, newEvents }, reg, options);
}

/** Asserts the turn produced exactly one action, a completion, and returns it. */
export function onlyCompletion(result: WorkflowResult) {
  expect(result.actions.map((a) => a.workflowActionType.case)).toEqual(["completeWorkflow"]);
  const action = result.actions[0] as WorkflowAction;
  if (action.workflowActionType.case !== "completeWorkflow") throw new Error("unreachable");
  return { id: action.id, ...action.workflowActionType.value };
}

export function kinds(result: WorkflowResult): (string | undefined)[] {
  return result.actions.map((a) => a.workflowActionType.case);
}

/** The action at `index`, asserted to be of `kind`, flattened to its id, router and fields. */
export function action<C extends NonNullable<WorkflowAction["workflowActionType"]["case"]>>(
  result: WorkflowResult,
  index: number,
  kind: C,
) {
  const a = result.actions[index];
  if (a === undefined) throw new Error(`no action #${index}: ${JSON.stringify(kinds(result))}`);
  if (a.workflowActionType.case !== kind) throw new Error(`action #${index} is ${a.workflowActionType.case}`);
  return {
    id: a.id,
    router: a.router,
    ...(a.workflowActionType.value as Extract<WorkflowAction["workflowActionType"], { case: C }>["value"]),
  };
}
