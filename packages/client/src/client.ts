import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import {
  type DataConverter,
  type Duration,
  durationMs,
  encodePayloadOrThrow,
  formatTraceParent,
  InvalidStateError,
  jsonConverter,
  type Logger,
  silentLogger,
  type WorkflowDefinition,
  WorkflowTimeoutError,
} from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import {
  connectionFromEnv,
  createSidecarClient,
  createSidecarTransport,
  daprdUpTo118,
  identifySidecar,
  type SidecarClient,
  type SidecarConnectionOptions,
  type SidecarTransport,
} from "@dt/proto/transport";
import { type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { sidecarError } from "./errors.js";
import { statusValue, toWorkflowState, type WorkflowState, type WorkflowStatus } from "./state.js";

/** An instance id that remembers its workflow's output type, so waiting on it gives a typed result. */
export type InstanceId<O = unknown> = string & { readonly __workflowOutput?: O };

export interface ClientOptions extends SidecarConnectionOptions {
  /**
   * A connect-es `Transport` to reach the sidecar through instead of the one the client would open (e.g.
   * `createGrpcTransport` from @connectrpc/connect-node, for its interceptors or node:http2). When it is set, no
   * transport is created, and the connection options (`address`, `tls`, `metadata`, `apiToken`, `keepalive`, `retry`,
   * the message limits) and the `DAPR_*` variables are not read: configure the transport itself.
   * `close()` does not close a transport the client was given.
   */
  readonly transport?: Transport;
  /**
   * Deadline of each call that waits for nothing but the sidecar's answer (start, get, raise, terminate, purge, list,
   * …), so a sidecar that never answers fails the call with DEADLINE_EXCEEDED instead of hanging it. The waits
   * (`waitForOrchestrationStart` / `Completion`) are long polls and keep their own `timeout`. 0 turns it off.
   * Default 60 s.
   */
  readonly defaultTimeoutMs?: number;
  readonly converter?: DataConverter;
  readonly logger?: Logger;
  /** Read connection settings from DAPR_* / DURABLETASK_* variables (explicit options win). Default true. */
  readonly useEnvironment?: boolean;
}

export interface ScheduleOptions<I> {
  readonly input?: I;
  /** Default: a random UUID. */
  readonly instanceId?: string;
  /** Start later: the instance stays PENDING until then. */
  readonly startAt?: Date;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface WaitOptions {
  /** Give up after this long (a number is seconds) with WorkflowTimeoutError (code WORKFLOW_TIMEOUT). */
  readonly timeout?: Duration;
  readonly signal?: AbortSignal;
  /** Include input, output and custom status. Default true. */
  readonly fetchPayloads?: boolean;
}

export interface PurgeFilter {
  readonly createdFrom?: Date;
  readonly createdTo?: Date;
  readonly statuses?: readonly WorkflowStatus[];
}

const tracer = trace.getTracer("@dt/client");

/** The deadline of ordinary calls unless `defaultTimeoutMs` says otherwise. */
const DEFAULT_TIMEOUT_MS = 60_000;

/** `transport` with `timeoutMs` as the deadline of every unary call that sets none. */
function withDefaultDeadline(transport: Transport, timeoutMs: number): Transport {
  return {
    unary: (method, signal, ownTimeoutMs, header, input, contextValues) =>
      transport.unary(method, signal, ownTimeoutMs ?? timeoutMs, header, input, contextValues),
    stream: (method, signal, ownTimeoutMs, header, input, contextValues) =>
      transport.stream(method, signal, ownTimeoutMs, header, input, contextValues),
  };
}

/** Schedules, inspects and manages workflow instances through a Durable Task sidecar. */
export class TaskHubGrpcClient {
  readonly #transport: Transport;
  /** The transport this client opened, closed by `close()`; undefined when one was passed in. */
  readonly #ownTransport: SidecarTransport | undefined;
  /** Ordinary calls, with the default deadline. */
  readonly #sidecar: SidecarClient;
  /** The long polls (waits), with only the deadline they are given. */
  readonly #polls: SidecarClient;
  readonly #converter: DataConverter;
  readonly #logger: Logger;
  #closed = false;
  /** Set once tags were checked against the sidecar (daprd up to 1.18 drops them): one warning per client at most. */
  #tagsChecked = false;

  constructor(options: ClientOptions = {}) {
    if (options.transport === undefined) {
      const connection = options.useEnvironment === false ? options : connectionFromEnv(process.env, options);
      // The default deadline is the client's, per call: a transport-wide one would cut the long polls short too.
      const { defaultTimeoutMs: _perCall, ...transportOptions } = connection;
      this.#ownTransport = createSidecarTransport(transportOptions);
    }
    this.#transport = this.#ownTransport ?? (options.transport as Transport);
    this.#polls = createSidecarClient(this.#transport);
    const timeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#sidecar = timeoutMs > 0 ? createSidecarClient(withDefaultDeadline(this.#transport, timeoutMs)) : this.#polls;
    this.#converter = options.converter ?? jsonConverter;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Starts a new instance and returns its id (once the sidecar has accepted it). */
  scheduleNewOrchestration<I, O>(
    workflow: WorkflowDefinition<I, O>,
    options?: ScheduleOptions<I>,
  ): Promise<InstanceId<O>>;
  scheduleNewOrchestration<O = unknown>(workflow: string, options?: ScheduleOptions<unknown>): Promise<InstanceId<O>>;
  async scheduleNewOrchestration(
    workflow: WorkflowDefinition<never, unknown> | string,
    options: ScheduleOptions<unknown> = {},
  ): Promise<string> {
    const name = typeof workflow === "string" ? workflow : workflow.name;
    const instanceId = options.instanceId ?? randomUUID();
    const input = this.#encode(options.input, `the input of workflow '${name}'`);
    if (options.tags !== undefined && Object.keys(options.tags).length > 0) this.#checkTags();
    return this.#call("create_workflow", { name, instanceId }, async (span) => {
      const parent = span.spanContext();
      const traced = parent.traceId !== "00000000000000000000000000000000";
      const res = await this.#sidecar.startInstance({
        instanceId,
        name,
        ...(input === undefined ? {} : { input }),
        ...(options.startAt === undefined ? {} : { scheduledStartTimestamp: timestampFromDate(options.startAt) }),
        tags: { ...options.tags },
        ...(traced
          ? {
              parentTraceContext: {
                traceParent: formatTraceParent({
                  traceId: parent.traceId,
                  spanId: parent.spanId,
                  traceFlags: parent.traceFlags,
                }),
              },
            }
          : {}),
      });
      this.#logger.debug("scheduled workflow", { name, instanceId: res.instanceId });
      return res.instanceId || instanceId;
    });
  }

  /** The instance's state, or undefined when it does not exist. */
  getOrchestrationState<O>(
    instanceId: InstanceId<O>,
    options?: { fetchPayloads?: boolean },
  ): Promise<WorkflowState<O> | undefined>;
  getOrchestrationState<O = unknown>(
    instanceId: string,
    options?: { fetchPayloads?: boolean },
  ): Promise<WorkflowState<O> | undefined>;
  async getOrchestrationState(instanceId: string, options: { fetchPayloads?: boolean } = {}) {
    return this.#call("get_workflow", { instanceId }, async () => {
      const res = await this.#sidecar.getInstance({ instanceId, getInputsAndOutputs: options.fetchPayloads ?? true });
      return res.exists && res.workflowState !== undefined
        ? toWorkflowState(res.workflowState, this.#converter)
        : undefined;
    });
  }

  /** Waits until the instance has started (left PENDING). */
  waitForOrchestrationStart<O>(instanceId: InstanceId<O>, options?: WaitOptions): Promise<WorkflowState<O>>;
  waitForOrchestrationStart<O = unknown>(instanceId: string, options?: WaitOptions): Promise<WorkflowState<O>>;
  waitForOrchestrationStart(instanceId: string, options: WaitOptions = {}) {
    return this.#wait("start", instanceId, options);
  }

  /** Waits until the instance completed, failed or was terminated, and returns its final state. */
  waitForOrchestrationCompletion<O>(instanceId: InstanceId<O>, options?: WaitOptions): Promise<WorkflowState<O>>;
  waitForOrchestrationCompletion<O = unknown>(instanceId: string, options?: WaitOptions): Promise<WorkflowState<O>>;
  waitForOrchestrationCompletion(instanceId: string, options: WaitOptions = {}) {
    return this.#wait("completion", instanceId, options);
  }

  async raiseOrchestrationEvent(instanceId: string, eventName: string, data?: unknown): Promise<void> {
    const input = this.#encode(data, `the data of event '${eventName}'`);
    await this.#call("raise_event", { instanceId, eventName }, () =>
      this.#sidecar.raiseEvent({ instanceId, name: eventName, ...(input === undefined ? {} : { input }) }),
    );
  }

  /** Terminates the instance (and, by default, its child workflows). `output` becomes its result. */
  async terminateOrchestration(instanceId: string, options: { output?: unknown; recursive?: boolean } = {}) {
    const output = this.#encode(options.output, "the terminate output");
    await this.#call("terminate_workflow", { instanceId }, () =>
      this.#sidecar.terminateInstance({
        instanceId,
        recursive: options.recursive ?? true,
        ...(output === undefined ? {} : { output }),
      }),
    );
  }

  async suspendOrchestration(instanceId: string, options: { reason?: string } = {}): Promise<void> {
    await this.#call("suspend_workflow", { instanceId }, () =>
      this.#sidecar.suspendInstance({
        instanceId,
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      }),
    );
  }

  async resumeOrchestration(instanceId: string, options: { reason?: string } = {}): Promise<void> {
    await this.#call("resume_workflow", { instanceId }, () =>
      this.#sidecar.resumeInstance({ instanceId, ...(options.reason === undefined ? {} : { reason: options.reason }) }),
    );
  }

  /** Deletes a finished instance's state (and, by default, its children's). Returns how many instances went. */
  async purgeOrchestration(
    instanceId: string,
    options: { recursive?: boolean; force?: boolean } = {},
  ): Promise<number> {
    return this.#call("purge_workflow", { instanceId }, async () => {
      const res = await this.#sidecar.purgeInstances({
        request: { case: "instanceId", value: instanceId },
        recursive: options.recursive ?? true,
        ...(options.force === undefined ? {} : { force: options.force }),
      });
      return res.deletedInstanceCount;
    });
  }

  /** Deletes every finished instance that matches the filter. Returns how many went. */
  async purgeOrchestrations(filter: PurgeFilter, options: { recursive?: boolean } = {}): Promise<number> {
    return this.#call("purge_workflows", {}, async () => {
      const res = await this.#sidecar.purgeInstances({
        request: {
          case: "purgeInstanceFilter",
          value: {
            ...(filter.createdFrom === undefined ? {} : { createdTimeFrom: timestampFromDate(filter.createdFrom) }),
            ...(filter.createdTo === undefined ? {} : { createdTimeTo: timestampFromDate(filter.createdTo) }),
            runtimeStatus: (filter.statuses ?? []).map(statusValue),
          },
        },
        recursive: options.recursive ?? true,
      });
      return res.deletedInstanceCount;
    });
  }

  /**
   * Every instance id, fetched a page at a time as you iterate, each once. (daprd pages through its actor state
   * store, and with some stores, e.g. the in-memory one, an id can come back on a later page; it is not repeated.)
   */
  async *listInstanceIds(options: { pageSize?: number; continuationToken?: string } = {}): AsyncGenerator<string> {
    let token = options.continuationToken;
    const seen = new Set<string>();
    do {
      const page = await this.#call("list_workflows", {}, () =>
        this.#sidecar.listInstanceIDs({
          ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
          ...(token === undefined ? {} : { continuationToken: token }),
        }),
      );
      for (const id of page.instanceIds) {
        if (seen.has(id)) continue;
        seen.add(id);
        yield id;
      }
      token = page.continuationToken || undefined;
    } while (token !== undefined);
  }

  /** The instance's committed history, oldest event first (e.g. for `replay()` from @dt/core). */
  async getOrchestrationHistory(instanceId: string): Promise<HistoryEvent[]> {
    return this.#call("get_workflow_history", { instanceId }, async () => {
      const res = await this.#sidecar.getInstanceHistory({ instanceId });
      return res.events;
    });
  }

  /** Starts a new instance from `sourceInstanceId`'s history up to `eventId`, re-running from there (Dapr). */
  async rerunWorkflowFromEvent(
    sourceInstanceId: string,
    eventId: number,
    options: {
      newInstanceId?: string;
      input?: unknown;
      overwriteInput?: boolean;
      newChildWorkflowInstanceId?: string;
    } = {},
  ): Promise<string> {
    const input = this.#encode(options.input, "the rerun input");
    return this.#call("rerun_workflow", { instanceId: sourceInstanceId }, async () => {
      const res = await this.#sidecar.rerunWorkflowFromEvent({
        sourceInstanceID: sourceInstanceId,
        eventID: eventId,
        overwriteInput: options.overwriteInput ?? options.input !== undefined,
        ...(options.newInstanceId === undefined ? {} : { newInstanceID: options.newInstanceId }),
        ...(input === undefined ? {} : { input }),
        ...(options.newChildWorkflowInstanceId === undefined
          ? {}
          : { newChildWorkflowInstanceID: options.newChildWorkflowInstanceId }),
      });
      return res.newInstanceID;
    });
  }

  /** Closes the connection (not a transport passed in as `transport`). Calls after this fail. */
  close(): void {
    this.#closed = true;
    this.#ownTransport?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #wait(what: "start" | "completion", instanceId: string, options: WaitOptions) {
    const timeoutMs = options.timeout === undefined ? undefined : durationMs(options.timeout);
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const request = { instanceId, getInputsAndOutputs: options.fetchPayloads ?? true };
    return this.#call(
      `wait_for_workflow_${what}`,
      { instanceId },
      async () => {
        // Long polls; a dropped connection (sidecar restart) is retried until the deadline, like the Go client.
        let warnedMoving = false;
        for (let attempt = 0; ; attempt++) {
          if (aborted(options.signal)) throw options.signal?.reason;
          const remaining = deadline === undefined ? undefined : deadline - Date.now();
          if (remaining !== undefined && remaining <= 0) throw timeout(what, instanceId, timeoutMs);
          // daprd holds a wait on an unknown instance until its deadline (durabletask-go answers NOT_FOUND at
          // once); an existence check beside the first poll makes both fail fast, without delaying a known one.
          const missing = new AbortController();
          const signal =
            options.signal === undefined ? missing.signal : AbortSignal.any([options.signal, missing.signal]);
          const callOptions = { ...(remaining === undefined ? {} : { timeoutMs: remaining }), signal };
          if (attempt === 0) {
            this.#sidecar.getInstance({ instanceId, getInputsAndOutputs: false }, { signal }).then(
              (res) => {
                if (!res.exists) missing.abort();
              },
              () => {}, // the poll itself reports a broken connection
            );
          }
          try {
            const res =
              what === "start"
                ? await this.#polls.waitForInstanceStart(request, callOptions)
                : await this.#polls.waitForInstanceCompletion(request, callOptions);
            if (!res.exists || res.workflowState === undefined)
              throw new ConnectError("no such instance exists", Code.NotFound);
            return toWorkflowState(res.workflowState, this.#converter);
          } catch (error) {
            if (missing.signal.aborted) throw new ConnectError("no such instance exists", Code.NotFound);
            const code = ConnectError.from(error).code;
            if (aborted(options.signal)) throw options.signal?.reason;
            // A sidecar may reset the long poll (CANCEL) as the deadline hits, before our own deadline fires.
            const pastDeadline = deadline !== undefined && Date.now() >= deadline;
            if (code === Code.DeadlineExceeded || (code === Code.Canceled && pastDeadline)) {
              throw timeout(what, instanceId, timeoutMs);
            }
            const moving = rebalancing(error);
            if (code !== Code.Unavailable && code !== Code.Canceled && !moving) throw error;
            // Also the answer while no worker of that app is connected at all: say so once rather than wait silently.
            if (moving && !warnedMoving) {
              warnedMoving = true;
              this.#logger.warn(
                `wait_for_workflow_${what}: daprd cannot reach '${instanceId}' (${ConnectError.from(error).rawMessage}); retrying until the deadline. Is a worker for this app connected?`,
              );
            }
            const pause = Math.min(2000, 50 * 2 ** attempt);
            await delay(pause, undefined, options.signal === undefined ? {} : { signal: options.signal }).catch(
              () => {},
            );
          }
        }
      },
      options.signal,
    );
  }
  async #call<T>(
    operation: string,
    attributes: Record<string, string>,
    run: (span: Span) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    if (this.#closed) throw new InvalidStateError("INVALID_STATE", `${operation}: the client is closed.`);
    const instanceId = attributes["instanceId"];
    return tracer.startActiveSpan(
      `${operation}`,
      { kind: SpanKind.CLIENT, attributes: prefixed(attributes) },
      async (span) => {
        try {
          return await run(span);
        } catch (error) {
          if (signal?.aborted === true && error === signal.reason) throw error; // the caller's own reason, untouched
          const typed = sidecarError(error, operation, instanceId);
          span.recordException(typed);
          span.setStatus({ code: SpanStatusCode.ERROR, message: typed.message });
          throw typed;
        } finally {
          span.end();
        }
      },
    );
  }

  /** Warns (once) when the sidecar is a daprd that drops StartInstance tags, so they are not lost silently. */
  #checkTags(): void {
    if (this.#tagsChecked) return;
    this.#tagsChecked = true;
    identifySidecar(this.#transport, { timeoutMs: 10_000 }).then(
      (sidecar) => {
        if (sidecar.kind === "daprd" && daprdUpTo118(sidecar.runtimeVersion)) {
          this.#logger.warn(
            `daprd ${sidecar.runtimeVersion || "(unknown version)"} drops the tags given at start: neither the workflow nor getOrchestrationState will see them. Put what you need in the input instead.`,
          );
        }
      },
      () => {}, // unreachable or refused: the start call reports that itself
    );
  }

  #encode(value: unknown, what: string): string | undefined {
    return encodePayloadOrThrow(this.#converter, value, what);
  }
}

/**
 * daprd answers a call for a workflow whose actor is moving between replicas (a replica died, placement has not caught
 * up) with UNKNOWN "failed to create actor: actor type … not registered" or "did not find address for actor". A long
 * poll rides that out like a broken connection; it ends when placement hands the actor to a live replica.
 */
function rebalancing(error: unknown): boolean {
  const ce = ConnectError.from(error);
  return ce.code === Code.Unknown && /actor type \S+ not registered|did not find address for actor/.test(ce.rawMessage);
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function timeout(what: string, instanceId: string, timeoutMs: number | undefined): WorkflowTimeoutError {
  const timeoutSeconds = (timeoutMs ?? 0) / 1000;
  return new WorkflowTimeoutError(`Workflow '${instanceId}' did not reach ${what} within ${timeoutSeconds} s.`, {
    timeoutSeconds,
    operation: `wait for ${what} of '${instanceId}'`,
  });
}

function prefixed(attributes: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).map(([k, v]) => [`dt.${k}`, v]));
}
