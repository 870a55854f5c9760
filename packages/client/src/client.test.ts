// TaskHubGrpcClient against an in-process sidecar (a real HTTP/2 gRPC server on loopback, connect's node adapter):
// the requests each method sends, the typed results and state it decodes, waits, paging and connection settings.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { defineWorkflow, history } from "@dt/core";
import {
  type CreateInstanceRequest,
  type GetInstanceRequest,
  type ListInstanceIDsRequest,
  OrchestrationStatus,
  type PurgeInstancesRequest,
  type RaiseEventRequest,
  type RerunWorkflowFromEventRequest,
  type ResumeRequest,
  type SuspendRequest,
  TaskHubSidecarService,
  type TerminateRequest,
  type WorkflowState as WireState,
  WorkflowStateSchema,
} from "@dt/proto";
import { type Context, type ContextManager, context, ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { type InstanceId, TaskHubGrpcClient } from "./client.js";
import type { WorkflowState, WorkflowStatus } from "./state.js";

// --- an in-process sidecar that records every call ------------------------------------------------------------------

type Impl = Partial<ServiceImpl<typeof TaskHubSidecarService>>;
interface Call {
  readonly method: string;
  readonly request: unknown;
  readonly headers: Headers;
}

class Sidecar {
  readonly calls: Call[] = [];
  readonly #impl: Impl;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #server: http2.Http2Server | undefined;
  port = 0;

  constructor(impl: Impl) {
    this.#impl = impl;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The requests `method` received, in order. */
  requests<T>(method: keyof Impl): T[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.request as T);
  }

  async listen(port = 0): Promise<void> {
    const impl = Object.fromEntries(
      Object.entries(this.#impl).map(([method, handler]) => [
        method,
        (request: unknown, ctx: HandlerContext) => {
          this.calls.push({ method, request, headers: new Headers(ctx.requestHeader) });
          return (handler as (r: unknown, c: HandlerContext) => unknown)(request, ctx);
        },
      ]),
    ) as Impl;
    const server = http2.createServer(
      connectNodeAdapter({ routes: (router) => router.service(TaskHubSidecarService, impl) }),
    );
    server.on("session", (session) => {
      this.#sessions.add(session);
      session.on("close", () => this.#sessions.delete(session));
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    this.#server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening and drops every connection (calls in flight fail on the client). */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const session of this.#sessions) session.destroy();
    await closed;
  }
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.unstubAllEnvs();
});

async function sidecar(impl: Impl): Promise<Sidecar> {
  const s = new Sidecar(impl);
  await s.listen();
  cleanups.push(() => s.stop());
  return s;
}

function clientFor(s: Sidecar, options: ConstructorParameters<typeof TaskHubGrpcClient>[0] = {}) {
  const client = new TaskHubGrpcClient({ address: s.address, useEnvironment: false, ...options });
  cleanups.push(() => client.close());
  return client;
}

/** Polls `condition` (bounded). */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A handler that never answers: it resolves only when the call is cancelled. */
function hang(_req: unknown, ctx: HandlerContext): Promise<never> {
  return new Promise((_resolve, reject) => {
    ctx.signal.addEventListener("abort", () => reject(new ConnectError("cancelled", Code.Canceled)), { once: true });
  });
}

const id = (name: string) => `${name}-${randomUUID()}`;
const ts = (iso: string): Timestamp => timestampFromDate(new Date(iso));

function wireState(init: MessageInitShape<typeof WorkflowStateSchema> & { instanceId: string }): WireState {
  return create(WorkflowStateSchema, { name: "wf", workflowStatus: OrchestrationStatus.RUNNING, ...init });
}

const found = (state: WireState) => ({ exists: true, workflowState: state });

// --- scheduling -----------------------------------------------------------------------------------------------------

describe("scheduleNewOrchestration", () => {
  it("sends the name, instance id, JSON input, tags and start time, and returns the sidecar's id", async () => {
    const s = await sidecar({ startInstance: (req) => ({ instanceId: req.instanceId }) });
    const client = clientFor(s);
    const order = defineWorkflow("order", (_ctx, input: { sku: string; qty: number }) => input.qty);
    const startAt = new Date("2030-05-06T07:08:09.123Z");
    const instanceId = id("order");
    const returned = await client.scheduleNewOrchestration(order, {
      input: { sku: "A-1", qty: 2 },
      instanceId,
      startAt,
      tags: { team: "billing", tier: "gold" },
    });
    expect(returned).toBe(instanceId);
    const [req] = s.requests<CreateInstanceRequest>("startInstance");
    expect(req).toMatchObject({
      name: "order",
      instanceId,
      input: '{"sku":"A-1","qty":2}',
      tags: { team: "billing", tier: "gold" },
    });
    expect(timestampDate(req?.scheduledStartTimestamp as Timestamp).toISOString()).toBe(startAt.toISOString());
  });

  it("defaults to a random UUID, no input, no start time and no tags", async () => {
    const s = await sidecar({ startInstance: () => ({}) }); // answers without an id
    const client = clientFor(s);
    const returned = await client.scheduleNewOrchestration("plain");
    expect(returned).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [req] = s.requests<CreateInstanceRequest>("startInstance");
    expect(req?.instanceId).toBe(returned);
    expect(req?.name).toBe("plain");
    expect(req?.input).toBeUndefined();
    expect(req?.scheduledStartTimestamp).toBeUndefined();
    expect(req?.tags).toEqual({});
    expect(req?.parentTraceContext).toBeUndefined(); // no tracer registered: no trace context
    const again = await client.scheduleNewOrchestration("plain");
    expect(again).not.toBe(returned);
  });

  it("sends falsy inputs as JSON, distinct from no input", async () => {
    const s = await sidecar({ startInstance: (req) => ({ instanceId: req.instanceId }) });
    const client = clientFor(s);
    for (const input of [0, false, "", null]) await client.scheduleNewOrchestration("falsy", { input });
    expect(s.requests<CreateInstanceRequest>("startInstance").map((r) => r.input)).toEqual([
      "0",
      "false",
      '""',
      "null",
    ]);
  });

  it("passes the active trace on to the new instance as a W3C traceparent", async () => {
    // No OTel SDK: a minimal context manager is enough for the API to carry the active span context.
    const als = new AsyncLocalStorage<Context>();
    const manager: ContextManager = {
      active: () => als.getStore() ?? ROOT_CONTEXT,
      with: (ctx, fn, thisArg, ...args) => als.run(ctx, () => fn.call(thisArg, ...args)),
      bind: (_ctx, target) => target,
      enable: () => manager,
      disable: () => manager,
    };
    expect(context.setGlobalContextManager(manager)).toBe(true);
    cleanups.push(() => context.disable());
    const s = await sidecar({ startInstance: (req) => ({ instanceId: req.instanceId }) });
    const client = clientFor(s);
    const parent = {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.SAMPLED,
    };
    await context.with(trace.setSpanContext(context.active(), parent), () => client.scheduleNewOrchestration("traced"));
    const [req] = s.requests<CreateInstanceRequest>("startInstance");
    expect(req?.parentTraceContext?.traceParent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
  });

  it("refuses an input it cannot serialize, without calling the sidecar", async () => {
    const s = await sidecar({ startInstance: (req) => ({ instanceId: req.instanceId }) });
    const client = clientFor(s);
    const error = await client.scheduleNewOrchestration("bad", { input: { n: 1n } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "SERIALIZATION_FAILED" });
    expect(String((error as Error).message)).toMatch(/input of workflow 'bad'/);
    expect(s.calls).toEqual([]);
  });

  it("reports a duplicate id as WORKFLOW_ALREADY_EXISTS naming the instance", async () => {
    const s = await sidecar({
      startInstance: () => {
        throw new ConnectError("orchestration instance already exists", Code.Unknown);
      },
    });
    const client = clientFor(s);
    const instanceId = id("dup");
    const error = await client.scheduleNewOrchestration("wf", { instanceId }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "WORKFLOW_ALREADY_EXISTS", instanceId });
  });
});

// --- state ----------------------------------------------------------------------------------------------------------

describe("getOrchestrationState", () => {
  it("asks for payloads by default and not when fetchPayloads is false", async () => {
    const s = await sidecar({ getInstance: (req) => found(wireState({ instanceId: req.instanceId })) });
    const client = clientFor(s);
    await client.getOrchestrationState("a");
    await client.getOrchestrationState("b", { fetchPayloads: false });
    expect(s.requests<GetInstanceRequest>("getInstance")).toMatchObject([
      { instanceId: "a", getInputsAndOutputs: true },
      { instanceId: "b", getInputsAndOutputs: false },
    ]);
  });

  it("returns undefined for an instance that does not exist", async () => {
    const s = await sidecar({ getInstance: () => ({ exists: false }) });
    expect(await clientFor(s).getOrchestrationState(id("ghost"))).toBeUndefined();
  });

  it("decodes the state: status name, dates, payloads, failure details and tags", async () => {
    const instanceId = id("decoded");
    const s = await sidecar({
      getInstance: () =>
        found(
          wireState({
            instanceId,
            name: "checkout",
            workflowStatus: OrchestrationStatus.FAILED,
            createdTimestamp: ts("2025-03-01T10:00:00.000Z"),
            lastUpdatedTimestamp: ts("2025-03-01T10:00:05.250Z"),
            startedAt: ts("2025-03-01T10:00:01.000Z"),
            completedTimestamp: ts("2025-03-01T10:00:05.000Z"),
            scheduledStartTimestamp: ts("2025-03-01T09:59:59.000Z"),
            input: '{"cart":[1,2]}',
            output: '"partial"',
            customStatus: "charging",
            failureDetails: {
              errorType: "PaymentError",
              errorMessage: "card declined",
              stackTrace: "at charge()",
              isNonRetriable: true,
              innerFailure: { errorType: "HttpError", errorMessage: "402" },
            },
            parentInstanceId: "parent-1",
            executionId: "exec-9",
            tags: { region: "eu" },
          }),
        ),
    });
    const state = await clientFor(s).getOrchestrationState(instanceId);
    expect(state).toMatchObject({
      instanceId,
      name: "checkout",
      status: "FAILED",
      isTerminal: true,
      input: { cart: [1, 2] },
      output: "partial",
      serializedInput: '{"cart":[1,2]}',
      serializedOutput: '"partial"',
      customStatus: "charging",
      parentInstanceId: "parent-1",
      executionId: "exec-9",
      tags: { region: "eu" },
      failureDetails: {
        errorType: "PaymentError",
        message: "card declined",
        stackTrace: "at charge()",
        isNonRetriable: true,
        cause: { errorType: "HttpError", message: "402", cause: undefined },
      },
    });
    expect(state?.createdAt?.toISOString()).toBe("2025-03-01T10:00:00.000Z");
    expect(state?.lastUpdatedAt?.toISOString()).toBe("2025-03-01T10:00:05.250Z");
    expect(state?.startedAt?.toISOString()).toBe("2025-03-01T10:00:01.000Z");
    expect(state?.completedAt?.toISOString()).toBe("2025-03-01T10:00:05.000Z");
    expect(state?.scheduledStartAt?.toISOString()).toBe("2025-03-01T09:59:59.000Z");
  });

  it("leaves absent timestamps, payloads and failure details undefined", async () => {
    const s = await sidecar({ getInstance: (req) => found(wireState({ instanceId: req.instanceId })) });
    const state = await clientFor(s).getOrchestrationState("bare");
    expect(state).toMatchObject({
      status: "RUNNING",
      isTerminal: false,
      createdAt: undefined,
      completedAt: undefined,
      startedAt: undefined,
      input: undefined,
      output: undefined,
      failureDetails: undefined,
      customStatus: undefined,
      tags: {},
    });
  });

  it.each([
    [OrchestrationStatus.RUNNING, "RUNNING", false],
    [OrchestrationStatus.COMPLETED, "COMPLETED", true],
    [OrchestrationStatus.CONTINUED_AS_NEW, "CONTINUED_AS_NEW", false],
    [OrchestrationStatus.FAILED, "FAILED", true],
    [OrchestrationStatus.CANCELED, "CANCELED", true],
    [OrchestrationStatus.TERMINATED, "TERMINATED", true],
    [OrchestrationStatus.PENDING, "PENDING", false],
    [OrchestrationStatus.SUSPENDED, "SUSPENDED", false],
    [OrchestrationStatus.STALLED, "STALLED", false],
  ] as const)("status %i is %s (terminal: %s)", async (wire, name, terminal) => {
    const s = await sidecar({
      getInstance: (req) => found(wireState({ instanceId: req.instanceId, workflowStatus: wire })),
    });
    const state = await clientFor(s).getOrchestrationState("any");
    expect(state?.status).toBe(name);
    expect(state?.isTerminal).toBe(terminal);
  });

  it("still shows a state whose payload the converter cannot read, with the raw text kept", async () => {
    const s = await sidecar({
      getInstance: (req) =>
        found(
          wireState({ instanceId: req.instanceId, input: "{not json", workflowStatus: OrchestrationStatus.FAILED }),
        ),
    });
    const state = await clientFor(s).getOrchestrationState("broken");
    expect(state?.status).toBe("FAILED");
    expect(state?.input).toBeUndefined();
    expect(state?.serializedInput).toBe("{not json");
  });
});

// --- waiting --------------------------------------------------------------------------------------------------------

describe("waiting", () => {
  it("types the result from the workflow definition through the instance id", async () => {
    const total = defineWorkflow("total", (_ctx, items: number[]) => ({ total: items.reduce((a, b) => a + b, 0) }));
    const s = await sidecar({
      startInstance: (req) => ({ instanceId: req.instanceId }),
      waitForInstanceCompletion: (req) =>
        found(
          wireState({
            instanceId: req.instanceId,
            name: "total",
            workflowStatus: OrchestrationStatus.COMPLETED,
            output: '{"total":6}',
          }),
        ),
    });
    const client = clientFor(s);
    const instanceId = await client.scheduleNewOrchestration(total, { input: [1, 2, 3] });
    expectTypeOf(instanceId).toEqualTypeOf<InstanceId<{ total: number }>>();
    const state = await client.waitForOrchestrationCompletion(instanceId, { timeout: 10 });
    expectTypeOf(state).toEqualTypeOf<WorkflowState<{ total: number }>>();
    expectTypeOf(state.output).toEqualTypeOf<{ total: number } | undefined>();
    expectTypeOf(state.status).toEqualTypeOf<WorkflowStatus>();
    expect(state.output).toEqual({ total: 6 });
    expect(state.status).toBe("COMPLETED");
    expect(state.isTerminal).toBe(true);
    // A plain string id has an unknown output; the input type of a definition is enforced.
    expectTypeOf(await client.waitForOrchestrationCompletion("by-name")).toEqualTypeOf<WorkflowState<unknown>>();
    const wrongInput = () =>
      // @ts-expect-error the workflow takes number[], not a string
      client.scheduleNewOrchestration(total, { input: "1,2,3" });
    expect(typeof wrongInput).toBe("function");
  });

  it("waits for start with WaitForInstanceStart and for completion with WaitForInstanceCompletion", async () => {
    const s = await sidecar({
      waitForInstanceStart: (req) => found(wireState({ instanceId: req.instanceId })),
      waitForInstanceCompletion: (req) =>
        found(wireState({ instanceId: req.instanceId, workflowStatus: OrchestrationStatus.TERMINATED })),
    });
    const client = clientFor(s);
    const started = await client.waitForOrchestrationStart("w1", { fetchPayloads: false });
    const done = await client.waitForOrchestrationCompletion("w1");
    expect(started.status).toBe("RUNNING");
    expect(done).toMatchObject({ status: "TERMINATED", isTerminal: true });
    expect(s.requests<GetInstanceRequest>("waitForInstanceStart")).toMatchObject([
      { instanceId: "w1", getInputsAndOutputs: false },
    ]);
    expect(s.requests<GetInstanceRequest>("waitForInstanceCompletion")).toMatchObject([
      { instanceId: "w1", getInputsAndOutputs: true },
    ]);
  });

  it("gives up after the timeout with WorkflowTimeoutError (WORKFLOW_TIMEOUT)", async () => {
    const s = await sidecar({ waitForInstanceCompletion: hang, waitForInstanceStart: hang });
    const client = clientFor(s);
    const completion = await client
      .waitForOrchestrationCompletion("slow", { timeout: { milliseconds: 200 } })
      .catch((e: unknown) => e);
    expect(completion).toMatchObject({ code: "WORKFLOW_TIMEOUT", name: "WorkflowTimeoutError" });
    const start = await client.waitForOrchestrationStart("slow", { timeout: 0.2 }).catch((e: unknown) => e);
    expect(start).toMatchObject({ code: "WORKFLOW_TIMEOUT" });
    expect(String((start as Error).message)).toMatch(/'slow' did not reach start within 0.2 s/);
  });

  it("retries UNAVAILABLE while waiting and returns the state once the sidecar answers", async () => {
    let calls = 0;
    const s = await sidecar({
      waitForInstanceCompletion: (req) => {
        if (++calls < 3) throw new ConnectError("sidecar restarting", Code.Unavailable);
        return found(wireState({ instanceId: req.instanceId, workflowStatus: OrchestrationStatus.COMPLETED }));
      },
    });
    const state = await clientFor(s).waitForOrchestrationCompletion("flaky", { timeout: 30 });
    expect(state.status).toBe("COMPLETED");
    expect(calls).toBe(3);
  });

  it("rides out daprd's answers while a workflow actor moves between replicas, but not other UNKNOWN errors", async () => {
    let calls = 0;
    const s = await sidecar({
      waitForInstanceCompletion: (req) => {
        calls++;
        if (calls === 1) {
          throw new ConnectError(
            "failed to create actor: actor type dapr.internal.default.orders.workflow not registered",
            Code.Unknown,
          );
        }
        if (calls === 2) throw new ConnectError("did not find address for actor 'x'", Code.Unknown);
        if (req.instanceId === "broken") throw new ConnectError("something else", Code.Unknown);
        return found(wireState({ instanceId: req.instanceId, workflowStatus: OrchestrationStatus.COMPLETED }));
      },
    });
    const warnings: string[] = [];
    const log = () => {};
    const client = clientFor(s, { logger: { debug: log, info: log, error: log, warn: (m) => warnings.push(m) } });
    const state = await client.waitForOrchestrationCompletion("moving", { timeout: 30 });
    expect(state.status).toBe("COMPLETED");
    expect(calls).toBe(3);
    // Said once per wait, not silently retried.
    expect(warnings).toEqual([
      expect.stringMatching(/daprd cannot reach 'moving'.*Is a worker for this app connected\?/),
    ]);
    await expect(clientFor(s).waitForOrchestrationCompletion("broken", { timeout: 30 })).rejects.toMatchObject({
      code: "SIDECAR_ERROR",
    });
  });

  it("keeps waiting across a sidecar restart", async () => {
    let release: (() => void) | undefined;
    const s = await sidecar({
      waitForInstanceCompletion: async (req, ctx) => {
        if (release === undefined) return hang(req, ctx); // the first long poll dies with the sidecar
        return found(wireState({ instanceId: req.instanceId, workflowStatus: OrchestrationStatus.COMPLETED }));
      },
    });
    const client = clientFor(s);
    // Settled at once, so a failure surfaces as the assertion below rather than as an unhandled rejection.
    const waiting = client.waitForOrchestrationCompletion("survivor", { timeout: 30 }).then(
      (state) => ({ state }),
      (error: unknown) => ({ error }),
    );
    await until(() => s.calls.length === 1, "the first long poll");
    await s.stop();
    release = () => {};
    await s.listen(s.port);
    const outcome = await waiting;
    expect(outcome).toMatchObject({ state: { status: "COMPLETED" } });
    expect(s.requests("waitForInstanceCompletion").length).toBeGreaterThanOrEqual(2);
  });

  it("counts retries against the timeout", async () => {
    const s = await sidecar({
      waitForInstanceCompletion: () => {
        throw new ConnectError("still down", Code.Unavailable);
      },
    });
    const error = await clientFor(s)
      .waitForOrchestrationCompletion("down", { timeout: 0.5 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "WORKFLOW_TIMEOUT" });
  });

  it("stops waiting when the signal aborts, with the signal's reason", async () => {
    const s = await sidecar({ waitForInstanceCompletion: hang });
    const controller = new AbortController();
    const waiting = clientFor(s).waitForOrchestrationCompletion("abandoned", { signal: controller.signal });
    await until(() => s.calls.length === 1, "the long poll");
    const reason = new Error("user cancelled");
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
  });

  it("stops waiting with an AbortError when the signal aborts without a reason", async () => {
    const s = await sidecar({ waitForInstanceStart: hang });
    const controller = new AbortController();
    const waiting = clientFor(s).waitForOrchestrationStart("abandoned", { signal: controller.signal, timeout: 30 });
    await until(() => s.calls.length === 1, "the long poll");
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: "AbortError" });
  });

  it("reports an instance that does not exist as WORKFLOW_NOT_FOUND", async () => {
    const s = await sidecar({ waitForInstanceCompletion: () => ({ exists: false }) });
    const instanceId = id("missing");
    await expect(clientFor(s).waitForOrchestrationCompletion(instanceId)).rejects.toMatchObject({
      code: "WORKFLOW_NOT_FOUND",
      instanceId,
    });
  });
});

// --- management -----------------------------------------------------------------------------------------------------

describe("management calls", () => {
  it("raiseOrchestrationEvent sends the name and JSON data (none when omitted)", async () => {
    const s = await sidecar({ raiseEvent: () => ({}) });
    const client = clientFor(s);
    await client.raiseOrchestrationEvent("i1", "approval", { by: "ana" });
    await client.raiseOrchestrationEvent("i1", "ping");
    expect(s.requests<RaiseEventRequest>("raiseEvent")).toMatchObject([
      { instanceId: "i1", name: "approval", input: '{"by":"ana"}' },
      { instanceId: "i1", name: "ping" },
    ]);
    expect(s.requests<RaiseEventRequest>("raiseEvent")[1]?.input).toBeUndefined();
  });

  it("terminateOrchestration is recursive by default and sends the output as JSON", async () => {
    const s = await sidecar({ terminateInstance: () => ({}) });
    const client = clientFor(s);
    await client.terminateOrchestration("t1");
    await client.terminateOrchestration("t2", { output: { reason: "stop" }, recursive: false });
    const [first, second] = s.requests<TerminateRequest>("terminateInstance");
    expect(first).toMatchObject({ instanceId: "t1", recursive: true });
    expect(first?.output).toBeUndefined();
    expect(second).toMatchObject({ instanceId: "t2", recursive: false, output: '{"reason":"stop"}' });
  });

  it("suspendOrchestration and resumeOrchestration send the reason when given", async () => {
    const s = await sidecar({ suspendInstance: () => ({}), resumeInstance: () => ({}) });
    const client = clientFor(s);
    await client.suspendOrchestration("s1", { reason: "maintenance" });
    await client.suspendOrchestration("s2");
    await client.resumeOrchestration("s1", { reason: "done" });
    await client.resumeOrchestration("s2");
    const suspends = s.requests<SuspendRequest>("suspendInstance");
    const resumes = s.requests<ResumeRequest>("resumeInstance");
    expect(suspends.map((r) => [r.instanceId, r.reason])).toEqual([
      ["s1", "maintenance"],
      ["s2", undefined],
    ]);
    expect(resumes.map((r) => [r.instanceId, r.reason])).toEqual([
      ["s1", "done"],
      ["s2", undefined],
    ]);
  });

  it("purgeOrchestration purges recursively by default and returns the count", async () => {
    const s = await sidecar({ purgeInstances: () => ({ deletedInstanceCount: 3 }) });
    const client = clientFor(s);
    expect(await client.purgeOrchestration("p1")).toBe(3);
    await client.purgeOrchestration("p2", { recursive: false, force: true });
    const [first, second] = s.requests<PurgeInstancesRequest>("purgeInstances");
    expect(first?.request).toEqual({ case: "instanceId", value: "p1" });
    expect(first?.recursive).toBe(true);
    expect(first?.force).toBeUndefined();
    expect(second).toMatchObject({ request: { case: "instanceId", value: "p2" }, recursive: false, force: true });
  });

  it("purgeOrchestrations sends the filter (dates and status values) and returns the count", async () => {
    const s = await sidecar({ purgeInstances: () => ({ deletedInstanceCount: 7 }) });
    const from = new Date("2025-01-01T00:00:00Z");
    const to = new Date("2025-02-01T00:00:00Z");
    const count = await clientFor(s).purgeOrchestrations({
      createdFrom: from,
      createdTo: to,
      statuses: ["COMPLETED", "FAILED", "TERMINATED"],
    });
    expect(count).toBe(7);
    const [req] = s.requests<PurgeInstancesRequest>("purgeInstances");
    expect(req?.recursive).toBe(true);
    expect(req?.request.case).toBe("purgeInstanceFilter");
    const filter = req?.request.case === "purgeInstanceFilter" ? req.request.value : undefined;
    expect(timestampDate(filter?.createdTimeFrom as Timestamp).toISOString()).toBe(from.toISOString());
    expect(timestampDate(filter?.createdTimeTo as Timestamp).toISOString()).toBe(to.toISOString());
    expect(filter?.runtimeStatus).toEqual([
      OrchestrationStatus.COMPLETED,
      OrchestrationStatus.FAILED,
      OrchestrationStatus.TERMINATED,
    ]);
  });

  it("purging a running instance is WORKFLOW_NOT_COMPLETED", async () => {
    const s = await sidecar({
      purgeInstances: () => {
        throw new ConnectError("orchestration has not yet completed", Code.Unknown);
      },
    });
    await expect(clientFor(s).purgeOrchestration("busy")).rejects.toMatchObject({ code: "WORKFLOW_NOT_COMPLETED" });
  });

  it("listInstanceIds follows continuation tokens across pages", async () => {
    const pages: Record<string, { instanceIds: string[]; continuationToken?: string }> = {
      "": { instanceIds: ["a", "b"], continuationToken: "p2" },
      p2: { instanceIds: ["c", "d"], continuationToken: "p3" },
      p3: { instanceIds: ["e"] },
    };
    const s = await sidecar({ listInstanceIDs: (req) => pages[req.continuationToken ?? ""] ?? { instanceIds: [] } });
    const ids: string[] = [];
    for await (const instanceId of clientFor(s).listInstanceIds({ pageSize: 2 })) ids.push(instanceId);
    expect(ids).toEqual(["a", "b", "c", "d", "e"]);
    const requests = s.requests<ListInstanceIDsRequest>("listInstanceIDs");
    expect(requests.map((r) => [r.continuationToken, r.pageSize])).toEqual([
      [undefined, 2],
      ["p2", 2],
      ["p3", 2],
    ]);
  });

  it("listInstanceIds yields an id a later page repeats only once (daprd with an unordered actor store)", async () => {
    const pages: Record<string, { instanceIds: string[]; continuationToken?: string }> = {
      "": { instanceIds: ["a", "b"], continuationToken: "p2" },
      p2: { instanceIds: ["b", "c"], continuationToken: "p3" },
      p3: { instanceIds: ["a", "d"] },
    };
    const s = await sidecar({ listInstanceIDs: (req) => pages[req.continuationToken ?? ""] ?? { instanceIds: [] } });
    const ids: string[] = [];
    for await (const instanceId of clientFor(s).listInstanceIds({ pageSize: 2 })) ids.push(instanceId);
    expect(ids).toEqual(["a", "b", "c", "d"]);
  });

  it("listInstanceIds starts from a given token, stops on an empty token, and fetches pages lazily", async () => {
    const s = await sidecar({
      listInstanceIDs: (req) =>
        req.continuationToken === "start"
          ? { instanceIds: ["x", "y"], continuationToken: "next" }
          : { instanceIds: ["z"], continuationToken: "" },
    });
    const iterator = clientFor(s).listInstanceIds({ continuationToken: "start" });
    expect((await iterator.next()).value).toBe("x");
    expect(s.calls).toHaveLength(1);
    const rest: string[] = [];
    for await (const instanceId of iterator) rest.push(instanceId);
    expect(rest).toEqual(["y", "z"]);
    expect(s.requests<ListInstanceIDsRequest>("listInstanceIDs").map((r) => r.continuationToken)).toEqual([
      "start",
      "next",
    ]);
    expect(s.requests<ListInstanceIDsRequest>("listInstanceIDs")[0]?.pageSize).toBeUndefined();
  });

  it("getOrchestrationHistory returns the events, oldest first", async () => {
    const events = [
      history.workflowStarted(new Date("2025-01-01T00:00:00Z")),
      history.executionStarted("wf", "h1", '"in"'),
      history.taskScheduled(1, "step"),
    ];
    const s = await sidecar({ getInstanceHistory: () => ({ events }) });
    const got = await clientFor(s).getOrchestrationHistory("h1");
    expect(got.map((e) => e.eventType.case)).toEqual(["workflowStarted", "executionStarted", "taskScheduled"]);
    expect(s.requests("getInstanceHistory")).toMatchObject([{ instanceId: "h1" }]);
  });

  it("rerunWorkflowFromEvent sends its fields and overwrites the input only when one is given", async () => {
    const s = await sidecar({ rerunWorkflowFromEvent: (req) => ({ newInstanceID: req.newInstanceID ?? "generated" }) });
    const client = clientFor(s);
    expect(
      await client.rerunWorkflowFromEvent("src", 4, {
        newInstanceId: "copy",
        input: { retry: true },
        newChildWorkflowInstanceId: "child-copy",
      }),
    ).toBe("copy");
    expect(await client.rerunWorkflowFromEvent("src", 0)).toBe("generated");
    await client.rerunWorkflowFromEvent("src", 2, { input: null, overwriteInput: false });
    const [first, second, third] = s.requests<RerunWorkflowFromEventRequest>("rerunWorkflowFromEvent");
    expect(first).toMatchObject({
      sourceInstanceID: "src",
      eventID: 4,
      newInstanceID: "copy",
      input: '{"retry":true}',
      overwriteInput: true,
      newChildWorkflowInstanceID: "child-copy",
    });
    expect(second).toMatchObject({ sourceInstanceID: "src", eventID: 0, overwriteInput: false });
    expect(second?.input).toBeUndefined();
    expect(second?.newInstanceID).toBeUndefined();
    expect(third).toMatchObject({ input: "null", overwriteInput: false });
  });

  it("maps a sidecar without rerun support to UNIMPLEMENTED", async () => {
    const s = await sidecar({}); // connect answers every method with UNIMPLEMENTED
    await expect(clientFor(s).rerunWorkflowFromEvent("src", 1)).rejects.toMatchObject({
      code: "UNIMPLEMENTED",
      grpcCode: "UNIMPLEMENTED",
    });
  });

  it("maps an unreachable sidecar to SIDECAR_UNAVAILABLE", async () => {
    const s = await sidecar({});
    await s.stop();
    await expect(clientFor(s).getOrchestrationState("x")).rejects.toMatchObject({
      code: "SIDECAR_UNAVAILABLE",
      grpcCode: "UNAVAILABLE",
    });
  });
});

// --- connection settings --------------------------------------------------------------------------------------------

describe("connection settings", () => {
  it("sends apiToken as dapr-api-token on every call, with the metadata", async () => {
    const s = await sidecar({ getInstance: () => ({ exists: false }), raiseEvent: () => ({}) });
    const client = clientFor(s, { apiToken: "tok-123", metadata: { "x-tenant": "acme" } });
    await client.getOrchestrationState("a");
    await client.raiseOrchestrationEvent("a", "e");
    expect(s.calls.map((c) => c.headers.get("dapr-api-token"))).toEqual(["tok-123", "tok-123"]);
    expect(s.calls.map((c) => c.headers.get("x-tenant"))).toEqual(["acme", "acme"]);
  });

  it("reads DAPR_API_TOKEN from the environment by default, and ignores it with useEnvironment: false", async () => {
    vi.stubEnv("DAPR_API_TOKEN", "from-env");
    const s = await sidecar({ getInstance: () => ({ exists: false }) });
    const fromEnv = new TaskHubGrpcClient({ address: s.address });
    cleanups.push(() => fromEnv.close());
    await fromEnv.getOrchestrationState("a");
    await clientFor(s).getOrchestrationState("b"); // useEnvironment: false
    const explicit = new TaskHubGrpcClient({ address: s.address, apiToken: "explicit" });
    cleanups.push(() => explicit.close());
    await explicit.getOrchestrationState("c");
    expect(s.calls.map((c) => c.headers.get("dapr-api-token"))).toEqual(["from-env", null, "explicit"]);
  });

  it("takes the address from DAPR_GRPC_ENDPOINT when none is given", async () => {
    const s = await sidecar({ getInstance: () => ({ exists: false }) });
    vi.stubEnv("DAPR_GRPC_ENDPOINT", `http://${s.address}`);
    const client = new TaskHubGrpcClient();
    cleanups.push(() => client.close());
    expect(await client.getOrchestrationState("env")).toBeUndefined();
    expect(s.calls).toHaveLength(1);
  });

  it("fails calls after close()", async () => {
    const s = await sidecar({ getInstance: () => ({ exists: false }) });
    const client = clientFor(s);
    await client.getOrchestrationState("before");
    client.close();
    await expect(client.getOrchestrationState("after")).rejects.toBeInstanceOf(Error);
    expect(s.calls).toHaveLength(1);
  });
});
