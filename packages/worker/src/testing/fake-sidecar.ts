// Test-only: an in-process Durable Task sidecar. A real HTTP/2 gRPC server on 127.0.0.1 (connect's node adapter over
// node:http2) implementing TaskHubSidecarService with scriptable behaviour, so worker tests exercise the real wire:
// work items are pushed into the GetWorkItems stream, Complete*Task calls are recorded, Hello can be made to fail,
// streams can be closed from the server side, and the server can be stopped and restarted on the same port.
// Not part of the build (tsconfig.build.json excludes src/testing/**).
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  type ActivityResponse,
  type HistoryEvent,
  TaskHubSidecarService,
  type WorkerCapability,
  type WorkflowResponse,
  type WorkItem,
  WorkItemSchema,
} from "@dt/proto";

export type WorkItemInit = MessageInitShape<typeof WorkItemSchema>;

/** One GetWorkItems call as the sidecar saw it. */
export interface WorkItemStream {
  readonly id: number;
  readonly capabilities: readonly WorkerCapability[];
  readonly headers: Headers;
  /** `client`: the worker cancelled it; `server`: the fake ended it (closeStreams / stop). */
  readonly state: "open" | "closed-by-client" | "closed-by-server";
  /** Work items written to this stream. */
  readonly delivered: readonly WorkItem[];
}

export interface WorkflowCompletion {
  readonly method: "completeWorkflowTask" | "completeOrchestratorTask";
  readonly response: WorkflowResponse;
}

export interface RecordedCall {
  readonly method: string;
  readonly headers: Headers;
}

interface StreamRecord extends WorkItemStream {
  state: WorkItemStream["state"];
  readonly delivered: WorkItem[];
  readonly closer: AbortController;
}

/** A FIFO of work items waiting for a stream to take them (like durabletask-go's shared work-item channel). */
class WorkQueue {
  readonly #items: WorkItem[] = [];
  readonly #takers: ((item: WorkItem) => void)[] = [];

  get length(): number {
    return this.#items.length;
  }

  put(item: WorkItem): void {
    const taker = this.#takers.shift();
    if (taker !== undefined) taker(item);
    else this.#items.push(item);
  }

  /** The next item, or undefined once any of `signals` aborts first. */
  take(signals: readonly AbortSignal[]): Promise<WorkItem | undefined> {
    if (signals.some((s) => s.aborted)) return Promise.resolve(undefined);
    const ready = this.#items.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const onAbort = () => {
        const index = this.#takers.indexOf(taker);
        if (index >= 0) this.#takers.splice(index, 1);
        resolve(undefined);
      };
      const taker = (item: WorkItem) => {
        for (const s of signals) s.removeEventListener("abort", onAbort);
        resolve(item);
      };
      for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
      this.#takers.push(taker);
    });
  }
}

export class FakeSidecar {
  // --- what the sidecar saw -------------------------------------------------------------------------------------
  readonly streams: WorkItemStream[] = [];
  readonly workflowCompletions: WorkflowCompletion[] = [];
  readonly activityCompletions: ActivityResponse[] = [];
  /** Instance ids GetInstanceHistory was called for. */
  readonly historyRequests: string[] = [];
  /** Every call with its request headers, in arrival order. */
  readonly calls: RecordedCall[] = [];
  /** Hello calls, failed ones included. */
  helloCalls = 0;
  /** CompleteWorkflowTask calls, rejected ones included. */
  completeWorkflowTaskCalls = 0;

  // --- scripted behaviour ---------------------------------------------------------------------------------------
  /** When set, Hello fails with this error. */
  helloError: ConnectError | undefined;
  /** Answer CompleteWorkflowTask with UNIMPLEMENTED (a Dapr < 1.18 sidecar). */
  completeWorkflowTaskUnimplemented = false;
  /** Served by GetInstanceHistory; unknown instances get NOT_FOUND. */
  readonly histories = new Map<string, HistoryEvent[]>();
  /** When set, GetInstanceHistory fails with this error. */
  historyError: ConnectError | undefined;

  readonly #queue = new WorkQueue();
  readonly #listeners = new Set<() => void>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #server: http2.Http2Server | undefined;
  #port = 0;

  private constructor() {}

  /** Starts a fake sidecar on 127.0.0.1 (on `port`, or a free one). */
  static async start(port = 0): Promise<FakeSidecar> {
    const sidecar = new FakeSidecar();
    await sidecar.#listen(port);
    return sidecar;
  }

  /** A loopback port nothing listens on (at the time of the call). */
  static async freePort(): Promise<number> {
    const probe = http2.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    return port;
  }

  get port(): number {
    return this.#port;
  }

  /** `127.0.0.1:<port>`, for WorkerOptions.address. */
  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get isListening(): boolean {
    return this.#server !== undefined;
  }

  /** Work items not yet taken by any stream. */
  get queued(): number {
    return this.#queue.length;
  }

  openStreams(): WorkItemStream[] {
    return this.streams.filter((s) => s.state === "open");
  }

  /** Queues work items; an open (or the next) GetWorkItems stream delivers them in order. */
  push(...items: (WorkItemInit | WorkItem)[]): void {
    for (const item of items) this.#queue.put(isMessage(item) ? item : create(WorkItemSchema, item));
  }

  /** Ends every open work-item stream normally (status OK), as a sidecar does when it drops a worker. */
  closeStreams(): void {
    for (const stream of this.streams as StreamRecord[]) stream.closer.abort();
  }

  /** Resolves once `condition()` holds, re-checked on every recorded change; rejects after `timeoutMs`. */
  waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(check);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; sidecar saw ${this.describe()}`));
      }, timeoutMs);
      this.#listeners.add(check);
    });
  }

  /** A one-line summary of what the sidecar saw, for failure messages. */
  describe(): string {
    return JSON.stringify({
      streams: this.streams.map((s) => `${s.id}:${s.state}`),
      helloCalls: this.helloCalls,
      workflowCompletions: this.workflowCompletions.map((c) => `${c.method}:${c.response.completionToken}`),
      activityCompletions: this.activityCompletions.map((c) => c.completionToken),
      historyRequests: this.historyRequests,
      queued: this.queued,
    });
  }

  /** Stops listening and drops every connection (open streams end). Queued work items are kept. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const stream of this.streams as StreamRecord[]) stream.closer.abort();
    for (const session of this.#sessions) session.destroy();
    this.#sessions.clear();
    await closed;
    this.#changed();
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    if (this.#server !== undefined) return;
    await this.#listen(this.#port);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  // ---------------------------------------------------------------------------------------------------------------

  async #listen(port: number): Promise<void> {
    const server = http2.createServer(
      connectNodeAdapter({ routes: (router) => router.service(TaskHubSidecarService, this.#service()) }),
    );
    server.on("session", (session) => {
      this.#sessions.add(session);
      session.on("close", () => this.#sessions.delete(session));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  #record(method: string, ctx: HandlerContext): void {
    this.calls.push({ method, headers: new Headers(ctx.requestHeader) });
  }

  #changed(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  #service() {
    // Arrow functions keep `this`; connect calls each with (request, context).
    return {
      hello: (_req: unknown, ctx: HandlerContext) => {
        this.#record("hello", ctx);
        this.helloCalls++;
        this.#changed();
        if (this.helloError !== undefined) throw this.helloError;
        return {};
      },
      getWorkItems: (req: { capabilities: WorkerCapability[] }, ctx: HandlerContext) => this.#workItems(req, ctx),
      completeActivityTask: (res: ActivityResponse, ctx: HandlerContext) => {
        this.#record("completeActivityTask", ctx);
        this.activityCompletions.push(res);
        this.#changed();
        return {};
      },
      completeWorkflowTask: (res: WorkflowResponse, ctx: HandlerContext) => {
        this.#record("completeWorkflowTask", ctx);
        this.completeWorkflowTaskCalls++;
        if (this.completeWorkflowTaskUnimplemented) {
          this.#changed();
          throw new ConnectError("method CompleteWorkflowTask not implemented", Code.Unimplemented);
        }
        this.workflowCompletions.push({ method: "completeWorkflowTask", response: res });
        this.#changed();
        return {};
      },
      completeOrchestratorTask: (res: WorkflowResponse, ctx: HandlerContext) => {
        this.#record("completeOrchestratorTask", ctx);
        this.workflowCompletions.push({ method: "completeOrchestratorTask", response: res });
        this.#changed();
        return {};
      },
      getInstanceHistory: (req: { instanceId: string }, ctx: HandlerContext) => {
        this.#record("getInstanceHistory", ctx);
        this.historyRequests.push(req.instanceId);
        this.#changed();
        if (this.historyError !== undefined) throw this.historyError;
        const events = this.histories.get(req.instanceId);
        if (events === undefined) throw new ConnectError("no such instance exists", Code.NotFound);
        return { events };
      },
    };
  }

  async *#workItems(req: { capabilities: WorkerCapability[] }, ctx: HandlerContext): AsyncGenerator<WorkItem> {
    this.#record("getWorkItems", ctx);
    const stream: StreamRecord = {
      id: this.streams.length + 1,
      capabilities: [...req.capabilities],
      headers: new Headers(ctx.requestHeader),
      state: "open",
      delivered: [],
      closer: new AbortController(),
    };
    this.streams.push(stream);
    this.#changed();
    try {
      for (;;) {
        const item = await this.#queue.take([ctx.signal, stream.closer.signal]);
        if (item === undefined) break;
        stream.delivered.push(item);
        this.#changed();
        yield item;
      }
    } finally {
      stream.state = ctx.signal.aborted && !stream.closer.signal.aborted ? "closed-by-client" : "closed-by-server";
      this.#changed();
    }
  }
}

function isMessage(item: WorkItemInit | WorkItem): item is WorkItem {
  return "$typeName" in item && item.$typeName === "WorkItem";
}

// --- work-item builders ---------------------------------------------------------------------------------------------

export interface WorkflowItemInit {
  readonly instanceId: string;
  readonly pastEvents?: readonly HistoryEvent[];
  readonly newEvents: readonly HistoryEvent[];
  readonly completionToken?: string;
  /** Marks `pastEvents` as a delta over this many cached events (stateful history). */
  readonly cachedEventCount?: number;
}

export function workflowItem(init: WorkflowItemInit): WorkItem {
  return create(WorkItemSchema, {
    completionToken: init.completionToken ?? `wf-${init.instanceId}`,
    request: {
      case: "workflowRequest",
      value: {
        instanceId: init.instanceId,
        pastEvents: [...(init.pastEvents ?? [])],
        newEvents: [...init.newEvents],
        ...(init.cachedEventCount === undefined ? {} : { cachedHistory: { eventCount: init.cachedEventCount } }),
      },
    },
  });
}

export interface ActivityItemInit {
  readonly name: string;
  readonly input?: string;
  readonly instanceId?: string;
  readonly taskId?: number;
  readonly taskExecutionId?: string;
  readonly completionToken?: string;
  readonly traceParent?: string;
  readonly traceState?: string;
}

export function activityItem(init: ActivityItemInit): WorkItem {
  const taskId = init.taskId ?? 1;
  return create(WorkItemSchema, {
    completionToken: init.completionToken ?? `act-${init.name}-${taskId}`,
    request: {
      case: "activityRequest",
      value: {
        name: init.name,
        taskId,
        taskExecutionId: init.taskExecutionId ?? `exec-${taskId}`,
        workflowInstance: { instanceId: init.instanceId ?? "instance-1" },
        ...(init.input === undefined ? {} : { input: init.input }),
        ...(init.traceParent === undefined
          ? {}
          : {
              parentTraceContext: {
                traceParent: init.traceParent,
                ...(init.traceState === undefined ? {} : { traceState: init.traceState }),
              },
            }),
      },
    },
  });
}
