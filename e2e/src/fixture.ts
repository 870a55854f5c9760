// Shared fixture for the scenario suites: inside describeSidecars, one worker with the suite's workflows and
// activities and one client, both against that suite's own sidecar, stopped and closed after the suite.
import { randomUUID } from "node:crypto";
import { TaskHubGrpcClient, type WorkflowState } from "@dt/client";
import type { ActivityDefinition, WorkflowDefinition } from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { TaskHubGrpcWorker, type WorkerOptions } from "@dt/worker";
import { afterAll, beforeAll } from "vitest";
import { describeSidecars, type RunningSidecar } from "./harness.js";

export interface Registrations {
  readonly workflows?: readonly WorkflowDefinition<never, unknown>[];
  readonly activities?: readonly ActivityDefinition<never, unknown>[];
  /** Extra worker options (the address and `useEnvironment: false` are set by the fixture). */
  readonly worker?: Omit<WorkerOptions, "address" | "useEnvironment">;
}

export interface Fixture {
  /** Valid inside tests and hooks (after the suite's beforeAll). */
  readonly client: TaskHubGrpcClient;
  readonly worker: TaskHubGrpcWorker;
  readonly sidecar: RunningSidecar;
}

/** Registers beforeAll/afterAll hooks that start a worker and open a client; call it inside describeSidecars. */
export function useFixture(sidecar: () => RunningSidecar, registrations: Registrations): Fixture {
  let worker: TaskHubGrpcWorker | undefined;
  let client: TaskHubGrpcClient | undefined;
  beforeAll(async () => {
    const address = sidecar().address;
    worker = new TaskHubGrpcWorker({ ...registrations.worker, address, useEnvironment: false });
    for (const workflow of registrations.workflows ?? []) worker.addWorkflow(workflow);
    for (const activity of registrations.activities ?? []) worker.addActivity(activity);
    await worker.start();
    await worker.waitForReady({ timeoutMs: 20_000 });
    client = new TaskHubGrpcClient({ address, useEnvironment: false });
  });
  // Hooks after a suite run in reverse order, so these go before the harness stops the sidecar.
  afterAll(async () => {
    client?.close();
    await worker?.stop({ timeoutMs: 3_000 });
  });
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the fixture's ${what} is not running (used outside a test?)`);
    return value;
  };
  return {
    get client() {
      return need(client, "client");
    },
    get worker() {
      return need(worker, "worker");
    },
    get sidecar() {
      return sidecar();
    },
  };
}

/** describeSidecars + useFixture: one sidecar, one worker and one client for the whole suite. */
export function describeScenarios(name: string, registrations: Registrations, body: (fx: Fixture) => void): void {
  describeSidecars(name, (sidecar) => body(useFixture(sidecar, registrations)));
}

/** A fresh instance id, readable in sidecar logs. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until `accept` holds (every 100 ms, up to `timeoutMs`) and returns the accepted value. */
export async function eventually<T>(
  probe: () => Promise<T> | T,
  accept: (value: T) => boolean,
  { timeoutMs = 20_000, what = "a condition" }: { timeoutMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (accept(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${describe(last)}`);
    }
    await sleep(100);
  }
}

/** Waits until the instance exists and has the given status. */
export function statusOf(
  client: TaskHubGrpcClient,
  instanceId: string,
  status: WorkflowState["status"],
  timeoutMs = 20_000,
): Promise<WorkflowState | undefined> {
  return eventually(
    () => client.getOrchestrationState(instanceId),
    (state) => state?.status === status,
    { timeoutMs, what: `'${instanceId}' to be ${status}` },
  );
}

/** The kinds of a history, e.g. ["workflowStarted", "executionStarted", "taskScheduled", …]. */
export function eventKinds(events: readonly HistoryEvent[]): (string | undefined)[] {
  return events.map((e) => e.eventType.case);
}

/** Per-key counters and recordings for activities and workflows (tests run concurrently: key by instance id). */
export class Recorder<T = true> {
  readonly #entries = new Map<string, T[]>();
  add(key: string, value: T): number {
    const list = this.#entries.get(key) ?? [];
    list.push(value);
    this.#entries.set(key, list);
    return list.length;
  }
  get(key: string): T[] {
    return this.#entries.get(key) ?? [];
  }
  count(key: string): number {
    return this.get(key).length;
  }
}

/** name, code and message of a thrown value: assertions on it show the message when the type is wrong. */
export function errorInfo(error: unknown): { name: string; code: unknown; message: string } {
  if (!(error instanceof Error)) return { name: typeof error, code: undefined, message: String(error) };
  return { name: error.name, code: (error as { code?: unknown }).code, message: error.message };
}

/** The error `promise` rejects with (fails when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, but the call succeeded");
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))?.slice(0, 500) ?? "";
  } catch {
    return String(value);
  }
}
