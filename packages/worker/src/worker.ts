import { setTimeout as delay } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { type AsyncWorkflowFunction, runWorkflowTurn, toRegistrable } from "@dt/aio";
import {
  type ActivityDefinition,
  type ActivityFunction,
  type DataConverter,
  ExecutionCache,
  executeActivity,
  jsonConverter,
  type Logger,
  parseTraceParent,
  Registry,
  SidecarError,
  type SidecarLimits,
  silentLogger,
  toFailureDetails,
  type WorkflowDefinition,
  type WorkflowFunction,
  type WorkflowRegistration,
  type WorkflowResult,
} from "@dt/core";
import {
  type ActivityRequest,
  ActivityResponseSchema,
  GetWorkItemsRequestSchema,
  type HistoryEvent,
  WorkerCapability,
  type WorkflowRequest,
  type WorkflowResponse,
  WorkflowResponseSchema,
  type WorkItem,
} from "@dt/proto";
import {
  connectionFromEnv,
  createSidecarClient,
  createSidecarTransport,
  DEFAULT_SIDECAR_ADDRESS,
  identifySidecar,
  type SidecarClient,
  type SidecarConnectionOptions,
  type SidecarTransport,
} from "@dt/proto/transport";
import { context, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { HistoryCache } from "./history-cache.js";
import {
  HELLO_INTERVAL_MS,
  helloKeepalive,
  helloTimeoutMs,
  isSilence,
  Readiness,
  WORKER_KEEPALIVE,
  whenAnswered,
} from "./liveness.js";
import { backoffMs, Slots } from "./slots.js";
import { droppable, withSendLimit, workItemStream } from "./transport-adapters.js";
import { daprdLimits, decodePast, endSpan, failedTurn, tracing } from "./turns.js";

export interface WorkerOptions extends SidecarConnectionOptions {
  /**
   * A connect-es `Transport` to reach the sidecar through instead of the one the worker would open (e.g.
   * `createGrpcTransport` from @connectrpc/connect-node, for its interceptors or node:http2). When it is set, no
   * transport is created: `address` is then only named in logs and errors; `tls`, `metadata`, `apiToken`,
   * `keepalive`, `retry`, `defaultTimeoutMs`, `maxReceiveMessageBytes` and the `DAPR_*` variables are not read
   * (configure the transport itself); `maxResponseBytes` still applies. The worker never closes a transport it was
   * given. On a transport without @dt/proto's raw-bytes stream (`streamBytes`), work items arrive through connect's
   * typed streaming call, decoded whole.
   */
  readonly transport?: Transport;
  readonly converter?: DataConverter;
  /** Structured logs (silent by default). */
  readonly logger?: Logger;
  /** Read connection settings from DAPR_* / DURABLETASK_* variables (explicit options win). Default true. */
  readonly useEnvironment?: boolean;
  /** Workflow turns processed at once. Default 32. */
  readonly maxConcurrentWorkflows?: number;
  /** Activities run at once. Default 100. */
  readonly maxConcurrentActivities?: number;
  /** Ask the sidecar for history deltas and keep instances' history between turns. Default true. */
  readonly statefulHistory?: boolean;
  /** Instances whose history is kept for stateful deltas. Default 1000. */
  readonly historyCacheSize?: number;
  /**
   * Workflow executions kept live between turns, so a turn runs only the events it has not seen instead of replaying
   * the whole history. 0 replays every turn. Default 1000.
   */
  readonly workflowCacheSize?: number;
  /** How long `stop()` waits for running work before aborting activities. Default 30 s. */
  readonly shutdownTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap, in ms. Default 250 ms and 15 s (jittered). */
  readonly reconnect?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  /**
   * A Hello to the sidecar this often while the stream is open; one not answered within the interval (kept within
   * 1–10 s) drops the connection and reconnects, so a silent or black-holed path is replaced. Default 30 s.
   */
  readonly keepaliveIntervalMs?: number;
  /**
   * HTTP/2 PING keepalive (gRFC A8). The worker turns it on by default, within the ping policies of daprd and
   * durabletask-go: `{ intervalMs: 300_000, timeoutMs: 20_000, permitWithoutCalls: false }` (`WORKER_KEEPALIVE`).
   * Set it (or `DAPR_GRPC_KEEPALIVE_*`) to use other values.
   */
  readonly keepalive?: NonNullable<SidecarConnectionOptions["keepalive"]>;
  /** Responses larger than this are replaced by a failure, so no instance is stuck on a rejected message. 4 MiB. */
  readonly maxResponseBytes?: number;
}

type WorkItemKind = "workflowRequest" | "activityRequest";

/** What a worker keeps per work-item stream: a new stream (a reconnect) starts cold. */
interface StreamCaches {
  readonly history: HistoryCache;
  readonly executions: ExecutionCache;
  /** What the sidecar at the other end cannot do, learned when the stream opened. */
  limits: SidecarLimits | undefined;
}
const tracer = trace.getTracer("@dt/worker");

/** Runs registered workflows and activities for a Durable Task sidecar (durabletask-go, Dapr). */
export class TaskHubGrpcWorker {
  readonly #registry = new Registry();
  readonly #options: WorkerOptions;
  readonly #transport: Transport;
  /** The transport this worker opened, closed by `stop()`; undefined when one was passed in. */
  readonly #ownTransport: SidecarTransport | undefined;
  /** The transport's connection can be dropped (ours, created here or passed in): a silent one is replaced. */
  readonly #droppable: Pick<SidecarTransport, "dropConnection"> | undefined;
  /** Where the sidecar is, for logs and errors. */
  readonly #where: string;
  readonly #sidecar: SidecarClient;
  readonly #logger: Logger;
  readonly #converter: DataConverter; /** Work items held per kind (running or queued); the stream is read only while the item's kind has room. */
  readonly #admitted: Record<WorkItemKind, Slots>;
  /** Work items running per kind. */
  readonly #slots: Record<WorkItemKind, Slots>;
  readonly #inFlight = new Set<Promise<void>>();
  /** Aborted when a stop's deadline passes: the signal every running activity sees. */
  #activityAbort = new AbortController();
  #activitiesRunning = 0;
  #running: Promise<void> | undefined;
  #stopping = new AbortController();
  #stream: AbortController | undefined;
  readonly #readiness: Readiness;
  /** false once the sidecar said CompleteWorkflowTask is unimplemented (Dapr < 1.18): use the older name. */
  #completeWorkflowTask = true;

  constructor(options: WorkerOptions = {}) {
    const given = options.transport;
    this.#options =
      given !== undefined || options.useEnvironment === false ? options : connectionFromEnv(process.env, options);
    // The transport refuses to send a message over the limit (RESOURCE_EXHAUSTED); results are checked that way.
    const maxSendMessageBytes = options.maxResponseBytes ?? options.maxSendMessageBytes ?? 4 * 1024 * 1024;
    this.#ownTransport =
      given === undefined
        ? createSidecarTransport({
            ...this.#options,
            keepalive: this.#options.keepalive ?? WORKER_KEEPALIVE,
            maxSendMessageBytes,
          })
        : undefined;
    this.#transport = this.#ownTransport ?? withSendLimit(given as Transport, maxSendMessageBytes);
    this.#droppable = this.#ownTransport ?? droppable(given as Transport);
    const address = this.#options.address;
    this.#where =
      given === undefined
        ? `at ${address ?? DEFAULT_SIDECAR_ADDRESS}`
        : `through the transport passed in${address === undefined ? "" : ` (${address})`}`;
    this.#readiness = new Readiness(this.#where);
    this.#sidecar = createSidecarClient(this.#transport);
    this.#logger = options.logger ?? silentLogger;
    this.#converter = options.converter ?? jsonConverter;
    const workflows = options.maxConcurrentWorkflows ?? 32;
    const activities = options.maxConcurrentActivities ?? 100;
    this.#slots = { workflowRequest: new Slots(workflows), activityRequest: new Slots(activities) };
    // Twice the running limit may be held, so a saturated kind does not stop the other kind from being read.
    this.#admitted = { workflowRequest: new Slots(2 * workflows), activityRequest: new Slots(2 * activities) };
  }

  /**
   * Registers a workflow: a typed definition, a generator function, or an async function (run as an @dt/aio async
   * workflow), named by `name`, the definition or the function. `sandboxMode` (`off`, `best_effort`, `strict`) turns
   * on determinism checks for its turns.
   */
  addWorkflow(
    workflow:
      | WorkflowDefinition<never, unknown>
      | WorkflowFunction<never, unknown>
      | AsyncWorkflowFunction<never, unknown>,
    registration: WorkflowRegistration = {},
  ): this {
    this.#assertNotRunning("workflows");
    // toRegistrable and the registry both validate the sandbox mode.
    this.#registry.addWorkflow(toRegistrable(workflow, registration), registration);
    return this;
  }

  /** Alias of `addWorkflow` (the Durable Task name). */
  addOrchestrator(
    workflow:
      | WorkflowDefinition<never, unknown>
      | WorkflowFunction<never, unknown>
      | AsyncWorkflowFunction<never, unknown>,
    registration?: WorkflowRegistration,
  ): this {
    return this.addWorkflow(workflow, registration);
  }

  addActivity(
    activity: ActivityDefinition<never, unknown> | ActivityFunction<never, unknown>,
    registration?: { readonly name?: string },
  ): this {
    this.#assertNotRunning("activities");
    this.#registry.addActivity(activity, registration);
    return this;
  }

  /**
   * Starts receiving work in the background and returns at once. Connection failures, including a sidecar that is
   * not up yet, are retried with jittered backoff until `stop()`. Use `waitForReady()` to wait for the connection.
   */
  async start(): Promise<void> {
    if (this.#running !== undefined) throw new SidecarError("SIDECAR_ERROR", "OK", "The worker is already running.");
    this.#stopping = new AbortController();
    this.#activityAbort = new AbortController();
    this.#running = this.#receiveLoop();
  }

  /**
   * Resolves once the worker's work-item stream is open and the sidecar has answered it (not refused it, nor left it
   * queued). With `timeoutMs`, rejects with SIDECAR_UNAVAILABLE after that long; its message and `grpcCode` name the
   * last failure (e.g. UNAUTHENTICATED for a wrong token) and `cause` holds it.
   */
  async waitForReady(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    await this.#readiness.wait(options);
  }

  /** Whether the work-item stream is open and answered now. */
  get isReady(): boolean {
    return this.#readiness.ready;
  }

  /** Notes why an attempt failed; a sidecar gone silent also loses its connection, so the next attempt opens one. */
  #attemptFailed(error: unknown): void {
    this.#readiness.failed(error);
    if (isSilence(error)) this.#droppable?.dropConnection(`the sidecar did not answer in time: ${String(error)}`);
  }

  /**
   * Stops taking work, lets running work finish for up to `timeoutMs` (default `shutdownTimeoutMs`), then aborts
   * the activities still running (through their AbortSignal) without reporting them: the sidecar hands them out
   * again once this worker's stream closes.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    const running = this.#running;
    if (running === undefined) return;
    this.#stopping.abort();
    const timeoutMs = options.timeoutMs ?? this.#options.shutdownTimeoutMs ?? 30_000;
    const drained = Promise.allSettled([...this.#inFlight]);
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (late) {
      this.#logger.warn("shutdown deadline reached; aborting running activities", {
        activities: this.#activitiesRunning,
      });
      this.#activityAbort.abort(new Error("The worker is shutting down."));
      // Aborted activities are never reported; one that ignores its signal must not hold the shutdown hostage.
      await Promise.race([drained, delay(1000)]);
    }
    this.#stream?.abort();
    await running;
    this.#running = undefined;
    // Past the deadline a call may still hang on a dead connection: drop it rather than keep the process alive.
    if (late) this.#ownTransport?.dropConnection("the worker stopped");
    else this.#ownTransport?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ---------------------------------------------------------------------------------------------------------------

  async #receiveLoop(): Promise<void> {
    const stopping = this.#stopping.signal;
    const { initialDelayMs = 250, maxDelayMs = 15_000 } = this.#options.reconnect ?? {};
    const stateful = this.#options.statefulHistory ?? true;
    const helloIntervalMs = this.#options.keepaliveIntervalMs ?? HELLO_INTERVAL_MS;
    const hello = (signal?: AbortSignal) =>
      this.#sidecar.hello(
        {},
        { ...(signal === undefined ? {} : { signal }), timeoutMs: helloTimeoutMs(helloIntervalMs) },
      );
    for (let attempt = 0; !stopping.aborted; attempt++) {
      const stream = new AbortController();
      this.#stream = stream;
      const cache: StreamCaches = {
        history: new HistoryCache(this.#options.historyCacheSize ?? 1000),
        executions: new ExecutionCache(this.#options.workflowCacheSize ?? 1000),
        limits: undefined,
      };
      let stopKeepalive: (() => void) | undefined;
      try {
        await hello(stream.signal);
        cache.limits = await this.#sidecarLimits(stream.signal);
        // On our transport, bytes straight from it: connect's client wraps every streamed message in extra async
        // machinery, and a workflow's past events are decoded only where the live execution has not seen them.
        const request = create(GetWorkItemsRequestSchema, {
          capabilities: stateful ? [WorkerCapability.STATEFUL_HISTORY] : [],
        });
        const items = workItemStream(this.#transport, stream.signal, request);
        const iterator = items[Symbol.asyncIterator]();
        const first = iterator.next();
        // Ready means answered: a refused stream or one queued behind MAX_CONCURRENT_STREAMS=0 is not.
        await whenAnswered(first, items.headers, () => hello(stream.signal));
        this.#readiness.set(true);
        attempt = 0;
        this.#logger.info("connected to the sidecar", { where: this.#where });
        stopKeepalive = helloKeepalive(hello, helloIntervalMs, stream.signal, (error) => {
          this.#logger.warn("keepalive failed; reconnecting", { error: String(error) });
          stream.abort();
          this.#attemptFailed(error);
        });
        // A stream that ends while every slot is taken is noticed then, not once a slot frees: the items it left
        // waiting go back to the sidecar with it, and the worker reconnects.
        const over = new AbortController();
        const abortOver = () => over.abort();
        items.done?.then(abortOver, abortOver);
        const streamOver = AbortSignal.any([stream.signal, over.signal]);
        for (let next = await first; next.done !== true; next = await iterator.next()) {
          const { item, pastEvents } = next.value;
          const kind = item.request.case;
          if (kind === undefined) {
            this.#logger.warn("ignoring a work item of a kind this worker does not know");
            continue;
          }
          // Backpressure: the next item is read only when its kind has room, so the sidecar keeps what we cannot take.
          if (!this.#admitted[kind].tryAcquire()) {
            const admitted = await this.#admitted[kind].acquire(streamOver).then(
              () => true,
              () => false,
            );
            if (!admitted) {
              await items.done; // how it ended: a failure goes to the catch below
              break;
            }
          }
          if (stopping.aborted) {
            this.#admitted[kind].release();
            break;
          }
          const tracked: Promise<void> = this.#dispatch(
            kind,
            item.request,
            pastEvents,
            item.completionToken,
            cache,
            stream,
          ).finally(() => this.#inFlight.delete(tracked));
          this.#inFlight.add(tracked);
        }
        if (!stopping.aborted) this.#logger.warn("the sidecar closed the work-item stream; reconnecting");
      } catch (error) {
        if (!stopping.aborted) {
          this.#logger.warn("work-item stream failed; reconnecting", { error: String(error), attempt });
          // A keepalive failure (noted already) ends the stream by aborting it: that is not the cause.
          if (!stream.signal.aborted) {
            stream.abort(); // before the connection may be dropped: a call still queued there must not move on
            this.#attemptFailed(error);
          }
        }
      } finally {
        stopKeepalive?.();
        stream.abort(); // a stream that was never answered is still open
        this.#readiness.set(false);
      }
      if (stopping.aborted) break;
      await delay(backoffMs(attempt, initialDelayMs, maxDelayMs), undefined, { signal: stopping }).catch(() => {});
    }
  }

  /** Runs one admitted work item once a slot of its kind is free; never rejects. */
  async #dispatch(
    kind: WorkItemKind,
    work: WorkItem["request"],
    pastEvents: readonly Uint8Array[] | undefined,
    token: string,
    cache: StreamCaches,
    stream: AbortController,
  ): Promise<void> {
    try {
      if (!this.#slots[kind].tryAcquire()) await this.#slots[kind].acquire();
      try {
        if (work.case === "workflowRequest") await this.#runWorkflow(work.value, pastEvents, token, cache, stream);
        else if (work.case === "activityRequest") await this.#runActivity(work.value, token);
      } finally {
        this.#slots[kind].release();
      }
    } catch (error) {
      this.#logger.error("work item failed unexpectedly", { error: String(error) });
    } finally {
      this.#admitted[kind].release();
    }
  }

  async #runWorkflow(
    request: WorkflowRequest,
    encodedPast: readonly Uint8Array[] | undefined,
    token: string,
    cache: StreamCaches,
    stream: AbortController,
  ) {
    const instanceId = request.instanceId;
    cache.history.noteDispatch(instanceId, token);
    let past: HistoryEvent[];
    try {
      if (encodedPast !== undefined) request.pastEvents = decodePast(request, encodedPast, cache.executions);
      past = await this.#resolveHistory(request, cache.history);
    } catch (error) {
      // There is no per-item NACK: reconnecting makes the sidecar hand the turn out again, with full history.
      this.#logger.error("could not resolve history; reconnecting", { instanceId, error: String(error) });
      stream.abort();
      return;
    }
    const span = this.#startSpan(past, request.newEvents, instanceId);
    let result: WorkflowResult;
    if (request.newEvents.length === 0) {
      this.#logger.warn("a workflow work item without new events; answering with no actions", { instanceId });
      result = { actions: [], customStatus: undefined, version: undefined };
    } else
      try {
        result = await runWorkflowTurn({ instanceId, pastEvents: past, newEvents: request.newEvents }, this.#registry, {
          converter: this.#converter,
          logger: this.#logger,
          cache: cache.executions,
          ...(cache.limits === undefined ? {} : { sidecarLimits: cache.limits }),
        });
      } catch (error) {
        result = failedTurn(error);
      }
    const ended = result.actions.some((a) => a.workflowActionType.case === "completeWorkflow");
    cache.history.update(instanceId, token, past, ended);
    const response = create(WorkflowResponseSchema, {
      instanceId,
      actions: result.actions,
      completionToken: token,
      ...(result.customStatus === undefined ? {} : { customStatus: result.customStatus }),
      ...(result.version === undefined ? {} : { version: result.version }),
    });
    endSpan(span, result);
    await this.#completeWorkflow(response);
  }

  /** What the connected sidecar cannot do: daprd is asked its version (Dapr's GetMetadata); others can do everything. */
  async #sidecarLimits(signal: AbortSignal): Promise<SidecarLimits | undefined> {
    try {
      const timeoutMs = helloTimeoutMs(this.#options.keepaliveIntervalMs ?? HELLO_INTERVAL_MS);
      const sidecar = await identifySidecar(this.#transport, { signal, timeoutMs });
      if (sidecar.kind !== "daprd") return undefined;
      const limits = daprdLimits(sidecar.runtimeVersion);
      if (limits !== undefined) this.#logger.info("connected to daprd", { version: sidecar.runtimeVersion, limits });
      return limits;
    } catch (error) {
      this.#logger.warn("could not ask the sidecar what it is; assuming it supports every operation", {
        error: String(error),
      });
      return undefined;
    }
  }

  async #resolveHistory(request: WorkflowRequest, cache: HistoryCache): Promise<HistoryEvent[]> {
    const delta = request.cachedHistory;
    if (delta === undefined) return request.pastEvents;
    const cached = cache.get(request.instanceId, delta.eventCount);
    if (cached !== undefined) return [...cached, ...request.pastEvents];
    this.#logger.debug("history cache miss; fetching the full history", { instanceId: request.instanceId });
    const res = await this.#sidecar.getInstanceHistory({ instanceId: request.instanceId }, { timeoutMs: 30_000 });
    return res.events;
  }

  /** Sends a turn's result; one too large to send is replaced by a failure, so the instance is not stuck. */
  async #completeWorkflow(response: WorkflowResponse): Promise<void> {
    try {
      await this.#sendWorkflowResponse(response);
    } catch (error) {
      const ce = ConnectError.from(error);
      if (ce.code === Code.ResourceExhausted) {
        this.#logger.error("workflow response too large; failing the workflow", { instanceId: response.instanceId });
        const failure = failedTurn(
          new Error(`The workflow's response is too large: ${ce.rawMessage}. Send smaller payloads.`),
        );
        const replacement = create(WorkflowResponseSchema, {
          instanceId: response.instanceId,
          completionToken: response.completionToken,
          actions: failure.actions,
        });
        return this.#completeWorkflow(replacement);
      }
      // The turn is redelivered when the stream reconnects; nothing is lost.
      this.#logger.warn("could not deliver a workflow result", {
        instanceId: response.instanceId,
        error: String(error),
      });
    }
  }

  async #sendWorkflowResponse(response: WorkflowResponse): Promise<void> {
    if (this.#completeWorkflowTask) {
      try {
        await this.#sidecar.completeWorkflowTask(response);
        return;
      } catch (error) {
        if (ConnectError.from(error).code !== Code.Unimplemented) throw error;
        this.#completeWorkflowTask = false;
      }
    }
    await this.#sidecar.completeOrchestratorTask(response);
  }

  async #runActivity(request: ActivityRequest, token: string): Promise<void> {
    const instanceId = request.workflowInstance?.instanceId ?? "";
    const signal = this.#activityAbort.signal;
    this.#activitiesRunning++;
    const run = () => executeActivity(request, this.#registry, { converter: this.#converter, signal });
    let span: Span | undefined;
    try {
      let outcome: Awaited<ReturnType<typeof run>>;
      if (tracing()) {
        const parent = parseTraceParent(request.parentTraceContext?.traceParent);
        const ctx =
          parent === undefined
            ? context.active()
            : trace.setSpanContext(context.active(), { ...parent, isRemote: true });
        span = tracer.startSpan(
          `activity ${request.name}`,
          { kind: SpanKind.SERVER, attributes: { "dt.instanceId": instanceId, "dt.taskId": request.taskId } },
          ctx,
        );
        outcome = await context.with(trace.setSpan(ctx, span), run);
      } else outcome = await run();
      if (signal.aborted) {
        this.#logger.info("activity aborted by shutdown; the sidecar will redeliver it", {
          instanceId,
          name: request.name,
        });
        return;
      }
      const response = create(ActivityResponseSchema, {
        instanceId,
        taskId: request.taskId,
        completionToken: token,
        ...(outcome.result === undefined ? {} : { result: outcome.result }),
        ...(outcome.failureDetails === undefined ? {} : { failureDetails: outcome.failureDetails }),
      });
      if (response.failureDetails !== undefined) {
        span?.setStatus({ code: SpanStatusCode.ERROR, message: response.failureDetails.errorMessage });
      }
      try {
        await this.#sidecar.completeActivityTask(response);
      } catch (error) {
        const ce = ConnectError.from(error);
        if (ce.code !== Code.ResourceExhausted) throw error;
        // Too large to send: report a failure instead, so the workflow is not left waiting.
        const tooLarge = new Error(`Activity '${request.name}' returned too much data: ${ce.rawMessage}.`);
        await this.#sidecar.completeActivityTask(
          create(ActivityResponseSchema, {
            instanceId,
            taskId: request.taskId,
            completionToken: token,
            failureDetails: toFailureDetails(tooLarge),
          }),
        );
      }
    } catch (error) {
      this.#logger.warn("could not deliver an activity result", {
        instanceId,
        name: request.name,
        error: String(error),
      });
    } finally {
      span?.end();
      this.#activitiesRunning--;
    }
  }

  #startSpan(past: HistoryEvent[], newEvents: readonly HistoryEvent[], instanceId: string): Span | undefined {
    if (!tracing()) return undefined;
    const isStart = (e: HistoryEvent) => e.eventType.case === "executionStarted";
    const started = (past.find(isStart) ?? newEvents.find(isStart))?.eventType;
    const es = started?.case === "executionStarted" ? started.value : undefined;
    const name = `workflow ${es?.name ?? ""}`;
    const parent = parseTraceParent(es?.parentTraceContext?.traceParent);
    const ctx =
      parent === undefined ? context.active() : trace.setSpanContext(context.active(), { ...parent, isRemote: true });
    return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: { "dt.instanceId": instanceId } }, ctx);
  }

  #assertNotRunning(what: string): void {
    if (this.#running !== undefined) {
      throw new SidecarError("SIDECAR_ERROR", "OK", `Cannot add ${what} while the worker is running; stop it first.`);
    }
  }
}
