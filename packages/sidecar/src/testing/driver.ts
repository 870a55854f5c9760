// Test-only: drives a Backend without gRPC. `Driver` is an in-process worker (the @dt/core engine over the backend's
// work-item stream); `Pull` takes work items by hand so a test can answer with any response it likes.
// Not part of the build (tsconfig.build.json excludes src/testing/**).
import { create } from "@bufbuild/protobuf";
import { executeActivity, executeWorkflow, type Registry } from "@dt/core";
import {
  ActivityResponseSchema,
  type HistoryEvent,
  WorkerCapability,
  type WorkflowRequest,
  WorkflowResponseSchema,
  type WorkItem,
} from "@dt/proto";
import type { Backend } from "../backend.js";

/** An in-process worker: runs every work item with the @dt/core engine and reports back. */
export class Driver {
  readonly #backend: Backend;
  readonly #registry: Registry;
  readonly #stop = new AbortController();
  readonly #cache = new Map<string, HistoryEvent[]>();
  readonly #running: Promise<void>;
  /** Every work item received, in order. */
  readonly items: WorkItem[] = [];
  readonly errors: unknown[] = [];

  constructor(backend: Backend, registry: Registry, options: { stateful?: boolean } = {}) {
    this.#backend = backend;
    this.#registry = registry;
    const capabilities = options.stateful === true ? [WorkerCapability.STATEFUL_HISTORY] : [];
    this.#running = this.#loop(capabilities);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  async #loop(capabilities: WorkerCapability[]): Promise<void> {
    for await (const item of this.#backend.workItems(capabilities, this.#stop.signal)) {
      this.items.push(item);
      void this.#handle(item).catch((error: unknown) => this.errors.push(error));
    }
  }

  async #handle(item: WorkItem): Promise<void> {
    const work = item.request;
    if (work.case === "workflowRequest") {
      const request = work.value;
      const past = this.#resolve(request);
      const result = executeWorkflow(
        { instanceId: request.instanceId, pastEvents: past, newEvents: request.newEvents },
        this.#registry,
      );
      this.#cache.set(request.instanceId, past);
      this.#backend.completeWorkflowTask(
        create(WorkflowResponseSchema, {
          instanceId: request.instanceId,
          actions: result.actions,
          completionToken: item.completionToken,
          ...(result.customStatus === undefined ? {} : { customStatus: result.customStatus }),
          ...(result.version === undefined ? {} : { version: result.version }),
        }),
      );
    } else if (work.case === "activityRequest") {
      const request = work.value;
      const outcome = await executeActivity(request, this.#registry);
      this.#backend.completeActivityTask(
        create(ActivityResponseSchema, {
          instanceId: request.workflowInstance?.instanceId ?? "",
          taskId: request.taskId,
          completionToken: item.completionToken,
          ...(outcome.result === undefined ? {} : { result: outcome.result }),
          ...(outcome.failureDetails === undefined ? {} : { failureDetails: outcome.failureDetails }),
        }),
      );
    }
  }

  #resolve(request: WorkflowRequest): HistoryEvent[] {
    const delta = request.cachedHistory;
    if (delta === undefined) return request.pastEvents;
    const cached = this.#cache.get(request.instanceId);
    if (cached?.length === delta.eventCount) return [...cached, ...request.pastEvents];
    return this.#backend.getInstanceHistory({ $typeName: "GetInstanceHistoryRequest", instanceId: request.instanceId })
      .events;
  }
}

/** A work-item stream read by hand: items are taken as they come and kept until the test asks for them. */
export class Pull {
  readonly #stop = new AbortController();
  readonly #buffer: WorkItem[] = [];
  readonly #listeners = new Set<() => void>();
  readonly #running: Promise<void>;
  #ended = false;

  constructor(backend: Backend, options: { stateful?: boolean } = {}) {
    const capabilities = options.stateful === true ? [WorkerCapability.STATEFUL_HISTORY] : [];
    this.#running = (async () => {
      for await (const item of backend.workItems(capabilities, this.#stop.signal)) {
        this.#buffer.push(item);
        for (const listener of [...this.#listeners]) listener();
      }
      this.#ended = true;
      for (const listener of [...this.#listeners]) listener();
    })();
  }

  /** The next work item; fails after `timeoutMs` without one. */
  async next(timeoutMs = 2_000): Promise<WorkItem> {
    await this.#until(() => this.#buffer.length > 0 || this.#ended, timeoutMs);
    const item = this.#buffer.shift();
    if (item === undefined)
      throw new Error(this.#ended ? "the work-item stream ended" : `no work item within ${timeoutMs} ms`);
    return item;
  }

  /** True when no work item arrives within `ms` (nothing is consumed). */
  async idle(ms = 100): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#buffer.length === 0;
  }

  /** Ends the stream (a worker disconnecting); items not yet taken by the test count as delivered to it. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  #until(condition: () => boolean, timeoutMs: number): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        done();
      };
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#listeners.add(check);
    });
  }
}

export function workflowRequest(item: WorkItem): WorkflowRequest {
  if (item.request.case !== "workflowRequest")
    throw new Error(`expected a workflow work item, got ${item.request.case}`);
  return item.request.value;
}
