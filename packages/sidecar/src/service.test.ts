// The gRPC service end to end: our worker and client (grpc over node:http2) against startSidecar().
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow } from "@dt/core";
import { TaskHubSidecarService } from "@dt/proto";
import { createSidecarClient, createSidecarTransport, type SidecarConnectionOptions } from "@dt/proto/transport";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore } from "./memory-store.js";
import { type SidecarOptions, startSidecar } from "./service.js";
import type { Store, StoreWriter } from "./store.js";

const tlsFile = (name: string) =>
  readFileSync(fileURLToPath(new URL(`./testing/tls/${name}`, import.meta.url)), "utf8");

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sidecar(options: SidecarOptions = {}) {
  const s = await startSidecar(options);
  cleanups.push(() => s.close());
  return s;
}

function raw(options: SidecarConnectionOptions) {
  const transport = createSidecarTransport({ defaultTimeoutMs: 10_000, ...options });
  cleanups.push(() => transport.close());
  return createSidecarClient(transport);
}

async function codeOf(promise: Promise<unknown>): Promise<Code | undefined> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error).code;
  }
  return undefined;
}

const greet = defineActivity("greet", (_ctx, name: string) => `Hello ${name}!`);
const greetAll = defineWorkflow("greetAll", function* (ctx, names: string[]) {
  const out: string[] = [];
  for (const name of names) out.push(yield* ctx.callActivity(greet, { input: name }));
  return out;
});

function worker(address: string, extra: SidecarConnectionOptions = {}) {
  const w = new TaskHubGrpcWorker({ address, useEnvironment: false, ...extra })
    .addWorkflow(greetAll)
    .addActivity(greet);
  cleanups.push(() => w.stop({ timeoutMs: 1_000 }));
  return w;
}

function client(address: string, extra: SidecarConnectionOptions = {}) {
  const c = new TaskHubGrpcClient({ address, useEnvironment: false, ...extra });
  cleanups.push(() => c.close());
  return c;
}

describe("startSidecar", () => {
  it("listens on loopback, serves our worker and client, and reports readiness by resolving", async () => {
    const s = await sidecar();
    expect(s.host).toBe("127.0.0.1");
    expect(s.address).toBe(`127.0.0.1:${s.port}`);
    await worker(s.address).start();
    const c = client(s.address);
    const id = await c.scheduleNewOrchestration(greetAll, { input: ["a", "b"], instanceId: "greet-1" });
    const state = await c.waitForOrchestrationCompletion(id, { timeout: 10 });
    expect(state.output).toEqual(["Hello a!", "Hello b!"]);
    expect(state.status).toBe("COMPLETED");
  });

  it("enforces an API token on every call, the work-item stream included", async () => {
    const s = await sidecar({ apiToken: "s3cret" });
    expect(await codeOf(raw({ address: s.address }).hello({}))).toBe(Code.Unauthenticated);
    expect(await codeOf(raw({ address: s.address, apiToken: "wrong" }).hello({}))).toBe(Code.Unauthenticated);
    await expect(raw({ address: s.address, apiToken: "s3cret" }).hello({})).resolves.toBeDefined();
    const w = worker(s.address, { apiToken: "s3cret" });
    await w.start();
    await w.waitForReady({ timeoutMs: 5_000 });
    const c = client(s.address, { apiToken: "s3cret" });
    const id = await c.scheduleNewOrchestration(greetAll, { input: ["token"] });
    expect((await c.waitForOrchestrationCompletion(id, { timeout: 10 })).output).toEqual(["Hello token!"]);
  });

  it("refuses a message over maxMessageBytes with RESOURCE_EXHAUSTED and stores nothing", async () => {
    const s = await sidecar({ maxMessageBytes: 10_000 });
    const c = raw({ address: s.address });
    const error = await c
      .startInstance({ instanceId: "too-big", name: "greetAll", input: JSON.stringify("x".repeat(20_000)) })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(error?.code).toBe(Code.ResourceExhausted);
    expect(error?.rawMessage).toMatch(/larger than configured readMaxBytes 10000|exceeds the limit of 10000 bytes/);
    expect((await c.getInstance({ instanceId: "too-big" })).exists).toBe(false);
  });

  it("answers invalid requests with INVALID_ARGUMENT, unknown instances with NOT_FOUND, duplicates with ALREADY_EXISTS", async () => {
    const s = await sidecar({ waitForStart: false });
    const c = raw({ address: s.address });
    expect(await codeOf(c.startInstance({ instanceId: "", name: "x" }))).toBe(Code.InvalidArgument);
    expect(await codeOf(c.raiseEvent({ instanceId: "missing", name: "e" }))).toBe(Code.NotFound);
    expect(await codeOf(c.terminateInstance({ instanceId: "missing" }))).toBe(Code.NotFound);
    expect(await codeOf(c.getInstanceHistory({ instanceId: "missing" }))).toBe(Code.NotFound);
    expect(await codeOf(c.purgeInstances({}))).toBe(Code.InvalidArgument);
    await c.startInstance({ instanceId: "dup", name: "x" });
    expect(await codeOf(c.startInstance({ instanceId: "dup", name: "x" }))).toBe(Code.AlreadyExists);
    expect(await codeOf(c.purgeInstances({ request: { case: "instanceId", value: "dup" } }))).toBe(
      Code.FailedPrecondition,
    );
    expect(await codeOf(c.completeWorkflowTask({ instanceId: "dup" }))).toBe(Code.NotFound);
    expect(await codeOf(c.completeOrchestratorTask({ instanceId: "dup" }))).toBe(Code.NotFound);
    expect(await codeOf(c.completeActivityTask({ instanceId: "dup", taskId: 9 }))).toBe(Code.NotFound);
  });

  it("serves the hot RPCs (fast path) with the same token and size rules, redelivery and shutdown", async () => {
    const s = await startSidecar({ apiToken: "t", maxMessageBytes: 10_000, waitForStart: false });
    let closed = false;
    cleanups.push(() => (closed ? undefined : s.close()));
    const anonymous = raw({ address: s.address });
    expect(await codeOf(anonymous.completeActivityTask({ instanceId: "x", taskId: 1 }))).toBe(Code.Unauthenticated);
    expect(await codeOf(anonymous.completeWorkflowTask({ instanceId: "x" }))).toBe(Code.Unauthenticated);
    expect(await codeOf(anonymous.completeOrchestratorTask({ instanceId: "x" }))).toBe(Code.Unauthenticated);
    const anonymousItems = (async () => {
      for await (const _ of anonymous.getWorkItems({})) break;
    })();
    expect(await codeOf(anonymousItems)).toBe(Code.Unauthenticated);

    const c = raw({ address: s.address, apiToken: "t" });
    const big = await c.completeActivityTask({ instanceId: "x", taskId: 1, result: "x".repeat(20_000) }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(big?.code).toBe(Code.ResourceExhausted);
    expect(big?.rawMessage).toMatch(/larger than configured readMaxBytes 10000|exceeds the limit of 10000 bytes/);
    expect(await codeOf(c.completeActivityTask({ instanceId: "x", taskId: 1 }))).toBeUndefined(); // dropped
    const notFound = await c.completeWorkflowTask({ instanceId: "x" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(notFound?.code).toBe(Code.NotFound);
    expect(notFound?.rawMessage).toBe("unknown instance ID: x");

    // A turn handed to a stream that closes without answering goes to the next stream.
    await c.startInstance({ instanceId: "redeliver", name: "greetAll", input: '["x"]' });
    const firstTurn = async () => {
      const cancel = new AbortController();
      try {
        for await (const item of c.getWorkItems({}, { signal: cancel.signal })) return item;
        return undefined;
      } finally {
        cancel.abort(); // the client closes the stream without answering
      }
    };
    const first = await firstTurn();
    expect(first?.request.case).toBe("workflowRequest");
    expect((first?.request.value as { instanceId?: string } | undefined)?.instanceId).toBe("redeliver");
    const second = await firstTurn();
    expect((second?.request.value as { instanceId?: string } | undefined)?.instanceId).toBe("redeliver");
    expect(second?.completionToken).not.toBe(first?.completionToken);

    // An idle stream ends with UNAVAILABLE when the sidecar closes.
    const idle = (async () => {
      for await (const _ of c.getWorkItems({})) {
        // the turn of "redeliver" may come first; keep reading
      }
    })().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e).code,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    closed = true;
    await s.close();
    expect(await idle).toBe(Code.Unavailable); // connect's handler ended it with OK
  });

  it("answers a long poll past its grpc-timeout with DEADLINE_EXCEEDED, and the next call as usual", async () => {
    const s = await sidecar({ waitForStart: false });
    const c = raw({ address: s.address });
    await c.startInstance({ instanceId: "never-done", name: "greetAll", input: '["x"]' });
    const error = await c.waitForInstanceCompletion({ instanceId: "never-done" }, { timeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.DeadlineExceeded);
    expect((await c.getInstance({ instanceId: "never-done" })).workflowState?.instanceId).toBe("never-done");
  });

  it("serves the Connect protocol (JSON too) through connect's adapter, over the same handlers", async () => {
    const s = await sidecar({ waitForStart: false });
    for (const useBinaryFormat of [true, false]) {
      const transport = createConnectTransport({ baseUrl: `http://${s.address}`, httpVersion: "2", useBinaryFormat });
      const c = createClient(TaskHubSidecarService, transport);
      const id = `connect-${String(useBinaryFormat)}`;
      expect((await c.startInstance({ instanceId: id, name: "greetAll", input: '["x"]' })).instanceId).toBe(id);
      expect((await c.getInstance({ instanceId: id })).exists).toBe(true);
      expect(await codeOf(c.raiseEvent({ instanceId: "missing", name: "e" }))).toBe(Code.NotFound);
      expect(await codeOf(c.completeActivityTask({ instanceId: id, taskId: 9 }))).toBe(Code.NotFound);
    }
  });

  it("serves TLS, and mutual TLS when given a CA", async () => {
    const cert = tlsFile("cert.pem");
    const key = tlsFile("key.pem");
    const s = await sidecar({ tls: { cert, key } });
    await expect(
      raw({ address: s.address, tls: { ca: cert, serverName: "localhost" } }).hello({}),
    ).resolves.toBeDefined();
    expect(await codeOf(raw({ address: s.address, tls: false, defaultTimeoutMs: 2_000 }).hello({}))).toBeDefined();

    const mutual = await sidecar({ tls: { cert, key, ca: cert } });
    const withCert = raw({ address: mutual.address, tls: { ca: cert, cert, key, serverName: "localhost" } });
    await expect(withCert.hello({})).resolves.toBeDefined();
    const anonymous = raw({
      address: mutual.address,
      tls: { ca: cert, serverName: "localhost" },
      defaultTimeoutMs: 2_000,
    });
    expect(await codeOf(anonymous.hello({}))).toBeDefined();
  });

  it("rejects when the port is taken, and leaves nothing running", async () => {
    const first = await sidecar();
    await expect(startSidecar({ port: first.port })).rejects.toMatchObject({ code: "EADDRINUSE" });
    await expect(raw({ address: first.address }).hello({})).resolves.toBeDefined();
  });

  it("ends work-item streams and long polls on close; a sidecar on the same store and port carries on", async () => {
    const store = new MemoryStore();
    const first = await startSidecar({ store, waitForStart: false });
    const c = raw({ address: first.address });
    await c.startInstance({ instanceId: "survivor", name: "greetAll", input: '["again"]' });
    const waiting = c
      .waitForInstanceCompletion({ instanceId: "survivor" }, { timeoutMs: 30_000 })
      .catch((e: unknown) => e);
    await first.close();
    expect(ConnectError.from(await waiting).code).toBe(Code.Unavailable);
    const second = await sidecar({ store, port: first.port });
    await worker(second.address).start();
    const state = await client(second.address).waitForOrchestrationCompletion("survivor", { timeout: 10 });
    expect(state.output).toEqual(["Hello again!"]);
  });
});

/** A MemoryStore whose durability a test holds back and releases (as SqliteStore's group commit does). */
class GatedStore implements Store {
  readonly inner = new MemoryStore();
  #gate: { promise: Promise<void>; open: () => void } | undefined;

  hold(): void {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.#gate = { promise, open };
  }

  release(): void {
    const gate = this.#gate;
    this.#gate = undefined;
    gate?.open();
  }

  whenDurable(): Promise<void> | undefined {
    return this.#gate?.promise;
  }

  transaction<T>(fn: (tx: StoreWriter) => T): T {
    return this.inner.transaction(fn);
  }
  getInstance: Store["getInstance"] = (id) => this.inner.getInstance(id);
  getHistory: Store["getHistory"] = (id) => this.inner.getHistory(id);
  getInbox: Store["getInbox"] = (id) => this.inner.getInbox(id);
  getActivity: Store["getActivity"] = (id, taskId) => this.inner.getActivity(id, taskId);
  listActivities: Store["listActivities"] = (id) => this.inner.listActivities(id);
  listInstances: Store["listInstances"] = (query) => this.inner.listInstances(query);
  scanInbox: Store["scanInbox"] = () => this.inner.scanInbox();
  close: Store["close"] = () => this.inner.close();
}

describe("durability of answers", () => {
  /** Tracks whether a call has been answered yet. */
  function track<T>(promise: Promise<T>) {
    const call = { answered: false, result: promise };
    promise.then(
      () => {
        call.answered = true;
      },
      () => {
        call.answered = true;
      },
    );
    return call;
  }
  const turn = async (ms = 100) => new Promise((resolve) => setTimeout(resolve, ms));

  it("answers no call before the store says its changes are durable; work items are not held back", async () => {
    const store = new GatedStore();
    const s = await sidecar({ store, waitForStart: false });
    const c = raw({ address: s.address });
    const items = c.getWorkItems({})[Symbol.asyncIterator]();
    await c.hello({}); // the connection is up

    // StartInstance (connect path): stored at once, answered only once durable.
    store.hold();
    const started = track(c.startInstance({ instanceId: "gated", name: "greetAll", input: '["x"]' }));
    await turn();
    expect(store.inner.getInstance("gated")).toBeDefined();
    expect(started.answered).toBe(false);
    // The first turn reaches the worker meanwhile (see sqlite-store.ts for why that is safe).
    const first = await items.next();
    expect(first.value?.request.case).toBe("workflowRequest");
    // Reads and errors wait too: they may rest on what is not durable yet.
    const read = track(c.getInstance({ instanceId: "gated" }));
    const refused = track(c.startInstance({ instanceId: "gated", name: "greetAll" }));
    await turn();
    expect([started.answered, read.answered, refused.answered]).toEqual([false, false, false]);
    store.release();
    await expect(started.result).resolves.toMatchObject({ instanceId: "gated" });
    expect((await read.result).exists).toBe(true);
    expect(await codeOf(refused.result)).toBe(Code.AlreadyExists);

    // CompleteOrchestratorTask (fast path): the activity it schedules is dispatched, the answer waits.
    store.hold();
    const orchestrated = track(
      c.completeOrchestratorTask({
        instanceId: "gated",
        completionToken: first.value?.completionToken ?? "",
        actions: [{ id: 0, workflowActionType: { case: "scheduleTask", value: { name: "greet", input: '"x"' } } }],
      }),
    );
    const activity = await items.next();
    expect(activity.value?.request.case).toBe("activityRequest");
    await turn();
    expect(orchestrated.answered).toBe(false);
    store.release();
    await orchestrated.result;

    // CompleteActivityTask (fast path), and an error answer of the fast path.
    store.hold();
    const completed = track(
      c.completeActivityTask({
        instanceId: "gated",
        taskId: 0,
        result: '"Hello x!"',
        completionToken: activity.value?.completionToken ?? "",
      }),
    );
    const unknown = track(c.completeWorkflowTask({ instanceId: "nobody" }));
    const next = await items.next();
    expect(next.value?.request.case).toBe("workflowRequest");
    await turn();
    expect([completed.answered, unknown.answered]).toEqual([false, false]);
    store.release();
    await completed.result;
    expect(await codeOf(unknown.result)).toBe(Code.NotFound);
    await items.return?.();

    // The Connect protocol goes through connect's adapter: the same rule.
    const connect = createClient(
      TaskHubSidecarService,
      createConnectTransport({ baseUrl: `http://${s.address}`, httpVersion: "2" }),
    );
    store.hold();
    const viaConnect = track(connect.raiseEvent({ instanceId: "gated", name: "e" }));
    const failing = track(connect.raiseEvent({ instanceId: "nobody", name: "e" }));
    await turn();
    expect([viaConnect.answered, failing.answered]).toEqual([false, false]);
    store.release();
    await viaConnect.result;
    expect(await codeOf(failing.result)).toBe(Code.NotFound);
  });
});
