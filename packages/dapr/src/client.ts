// DaprWorkflowClient: @dapr/dapr's management API (positional arguments, seconds, WorkflowState objects) over
// @dt/client, plus what other Dapr SDKs have and @dapr/dapr lacks (recursive terminate/purge, listing, history, rerun).
import { TaskHubGrpcClient } from "@dt/client";
import { type WorkflowDefinition, WorkflowNotFoundError } from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { getFunctionName } from "./names.js";
import { resolveTransport, toLogger, type WorkflowClientOptions } from "./options.js";
import { WorkflowState } from "./state.js";
import type { TInput, TWorkflow } from "./types.js";

export interface DaprWorkflowClientOptions extends WorkflowClientOptions {
  /** Use this client instead of opening a connection (its own connection settings then apply). */
  readonly client?: TaskHubGrpcClient;
}

/** Starts, inspects, signals and manages workflow instances. */
export class DaprWorkflowClient {
  readonly #client: TaskHubGrpcClient;

  constructor(options: DaprWorkflowClientOptions = {}) {
    if (options.client !== undefined) {
      this.#client = options.client;
      return;
    }
    const logger = toLogger(options.logger);
    this.#client = new TaskHubGrpcClient({
      ...resolveTransport(options),
      useEnvironment: false,
      ...(logger === undefined ? {} : { logger }),
      ...(options.converter === undefined ? {} : { converter: options.converter }),
    });
  }

  /** The @dt/client underneath, for its typed API. */
  get client(): TaskHubGrpcClient {
    return this.#client;
  }

  /**
   * Starts a new instance of `workflow` (a registered function, a @dt/core definition, or a name) and returns its
   * id. The instance id defaults to a random UUID; with `startAt` it stays PENDING until then.
   */
  async scheduleNewWorkflow(
    workflow: TWorkflow | WorkflowDefinition<never, unknown> | string,
    input?: TInput,
    instanceId?: string,
    startAt?: Date,
  ): Promise<string> {
    const name =
      typeof workflow === "string"
        ? workflow
        : typeof workflow === "function"
          ? getFunctionName(workflow, "workflow")
          : workflow.name;
    return this.#client.scheduleNewOrchestration(name, {
      ...(input === undefined ? {} : { input }),
      ...(instanceId === undefined ? {} : { instanceId }),
      ...(startAt === undefined ? {} : { startAt }),
    });
  }

  /** The instance's state, or undefined when it does not exist. */
  async getWorkflowState(workflowInstanceId: string, getInputsAndOutputs = true): Promise<WorkflowState | undefined> {
    const state = await this.#client.getOrchestrationState(workflowInstanceId, { fetchPayloads: getInputsAndOutputs });
    return state === undefined ? undefined : new WorkflowState(state);
  }

  /**
   * Waits until the instance has started; undefined when it does not exist. Throws `WorkflowTimeoutError`
   * (code WORKFLOW_TIMEOUT) after `timeoutInSeconds`.
   */
  async waitForWorkflowStart(
    workflowInstanceId: string,
    fetchPayloads = true,
    timeoutInSeconds = 60,
  ): Promise<WorkflowState | undefined> {
    return this.#wait("start", workflowInstanceId, fetchPayloads, timeoutInSeconds);
  }

  /**
   * Waits until the instance completed, failed or was terminated; undefined when it does not exist. Throws
   * `WorkflowTimeoutError` (code WORKFLOW_TIMEOUT) after `timeoutInSeconds`.
   */
  async waitForWorkflowCompletion(
    workflowInstanceId: string,
    fetchPayloads = true,
    timeoutInSeconds = 60,
  ): Promise<WorkflowState | undefined> {
    return this.#wait("completion", workflowInstanceId, fetchPayloads, timeoutInSeconds);
  }

  /** Raises an event on the instance (it waits for it with `waitForExternalEvent`). */
  async raiseEvent(workflowInstanceId: string, eventName: string, eventPayload?: unknown): Promise<void> {
    await this.#client.raiseOrchestrationEvent(workflowInstanceId, eventName, eventPayload);
  }

  /** Alias of `raiseEvent` (the name in Dapr's other SDKs). */
  async raiseWorkflowEvent(workflowInstanceId: string, eventName: string, eventPayload?: unknown): Promise<void> {
    await this.raiseEvent(workflowInstanceId, eventName, eventPayload);
  }

  /**
   * Terminates the instance; `output` becomes its output. Child workflows are terminated too unless
   * `{ recursive: false }`.
   */
  async terminateWorkflow(
    workflowInstanceId: string,
    output?: unknown,
    options: { readonly recursive?: boolean } = {},
  ): Promise<void> {
    await this.#client.terminateOrchestration(workflowInstanceId, {
      ...(output === undefined ? {} : { output }),
      ...(options.recursive === undefined ? {} : { recursive: options.recursive }),
    });
  }

  async suspendWorkflow(workflowInstanceId: string, reason?: string): Promise<void> {
    await this.#client.suspendOrchestration(workflowInstanceId, reason === undefined ? {} : { reason });
  }

  /** Alias of `suspendWorkflow` (Python's name). */
  async pauseWorkflow(workflowInstanceId: string, reason?: string): Promise<void> {
    await this.suspendWorkflow(workflowInstanceId, reason);
  }

  async resumeWorkflow(workflowInstanceId: string, reason?: string): Promise<void> {
    await this.#client.resumeOrchestration(workflowInstanceId, reason === undefined ? {} : { reason });
  }

  /**
   * Deletes a finished instance's state (and its child workflows', unless `{ recursive: false }`). True when
   * something was deleted.
   */
  async purgeWorkflow(workflowInstanceId: string, options: { readonly recursive?: boolean } = {}): Promise<boolean> {
    const deleted = await this.#client.purgeOrchestration(
      workflowInstanceId,
      options.recursive === undefined ? {} : { recursive: options.recursive },
    );
    return deleted > 0;
  }

  /** Every instance id, fetched a page at a time as you iterate. */
  listInstanceIds(options: { pageSize?: number; continuationToken?: string } = {}): AsyncGenerator<string> {
    return this.#client.listInstanceIds(options);
  }

  /** Every instance id, as one array. */
  async listWorkflows(options: { pageSize?: number } = {}): Promise<string[]> {
    const ids: string[] = [];
    for await (const id of this.#client.listInstanceIds(options)) ids.push(id);
    return ids;
  }

  /** The instance's history, oldest event first (e.g. for `replay()` from @dt/core). */
  async getWorkflowHistory(workflowInstanceId: string): Promise<HistoryEvent[]> {
    return this.#client.getOrchestrationHistory(workflowInstanceId);
  }

  /** Starts a new instance from the source's history up to `eventId`, re-running from there. Returns its id. */
  async rerunWorkflowFromEvent(
    sourceInstanceId: string,
    eventId: number,
    options: { newInstanceId?: string; input?: unknown; overwriteInput?: boolean } = {},
  ): Promise<string> {
    return this.#client.rerunWorkflowFromEvent(sourceInstanceId, eventId, options);
  }

  /** Closes the connection. */
  async stop(): Promise<void> {
    this.#client.close();
  }

  /** Alias of `stop()`. */
  async close(): Promise<void> {
    await this.stop();
  }

  [Symbol.dispose](): void {
    this.#client.close();
  }

  async #wait(
    what: "start" | "completion",
    instanceId: string,
    fetchPayloads: boolean,
    timeoutInSeconds: number,
  ): Promise<WorkflowState | undefined> {
    const options = { fetchPayloads, timeout: timeoutInSeconds };
    try {
      const state =
        what === "start"
          ? await this.#client.waitForOrchestrationStart(instanceId, options)
          : await this.#client.waitForOrchestrationCompletion(instanceId, options);
      return new WorkflowState(state);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    }
  }
}
