// The worker against broken and hostile servers, all on loopback: fake HTTP/2 servers written in raw bytes (one per
// way a server can misbehave) and a TCP proxy that black-holes the path to a real sidecar. The worker runs in a
// process of its own (hostile/worker-process.ts), so its memory is measured alone. In every case it must not crash
// (no unhandled rejection or uncaught exception, in its process or this one), must not hang (every wait below is
// bounded, and the process must exit by itself once stopped), must keep its peak RSS within 64 MiB of its idle RSS,
// and must keep trying again with backoff. Per case, what the server does and what the worker must make of it.
import { create, toBinary } from "@bufbuild/protobuf";
import { TaskHubGrpcClient } from "@dt/client";
import { WorkItemSchema } from "@dt/proto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { describeTargets, printLogs, type RunningSidecar, startSidecar } from "./harness.js";
import { BlackHoleProxy } from "./hostile/black-hole.ts";
import {
  type CallInfo,
  DATA,
  defaultAnswer,
  envelope,
  FakeH2Server,
  FLOW_CONTROL_ERROR,
  frame,
  PING,
  type Script,
  SETTINGS,
  SETTINGS_MAX_CONCURRENT_STREAMS,
} from "./hostile/fake-h2.ts";
import { type Answer, WorkerProcess } from "./hostile/worker-handle.ts";

const MiB = 1024 * 1024;
/** How far the worker's peak RSS may rise above its idle RSS. */
const RSS_BUDGET = 64 * MiB;
/** What a hostile server sends at most: enough to take an unbounded client well past the budget. */
const FLOOD_CAP = 96 * MiB;

// --- bookkeeping shared by every case ---------------------------------------------------------------------------------

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
/** Where this test's entries in `unhandled` start. */
let unhandledMark = 0;
beforeEach(() => {
  unhandledMark = unhandled.length;
});
beforeAll(() => {
  process.on("unhandledRejection", onUnhandled);
  process.on("uncaughtException", onUnhandled);
});
afterAll(() => {
  process.off("unhandledRejection", onUnhandled);
  process.off("uncaughtException", onUnhandled);
  if (results.length > 0) console.table(results);
});

const results: Record<string, string | number>[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** `promise`, or a failure naming `what` after `ms`: a bound on a wait, not a measurement. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Worker options of every case: quick retries and a 1 s Hello keepalive (so a 1 s deadline on its Hellos). */
const BASE = { reconnect: { initialDelayMs: 50, maxDelayMs: 400 }, keepaliveIntervalMs: 1_000 };

async function startWorker(options: Record<string, unknown>): Promise<WorkerProcess> {
  const worker = await WorkerProcess.start({ ...BASE, ...options });
  cleanups.push(() => worker.kill());
  return worker;
}

async function startServer(script: Script): Promise<FakeH2Server> {
  const server = await FakeH2Server.start(script);
  cleanups.push(() => server.close());
  return server;
}

/**
 * Stops the worker and checks what every case must hold: it exits by itself, it never crashed, nothing went
 * unhandled here, and its peak RSS stayed within the budget. Records the numbers for the summary table.
 */
async function finish(name: string, worker: WorkerProcess, extra: Record<string, string | number> = {}) {
  const { memory, exitCode } = await worker.stop();
  const peak = Math.max(memory?.maxRss ?? 0, worker.idle.maxRss);
  const delta = peak - worker.idle.maxRss;
  results.push({
    case: name,
    "idle RSS MiB": round(worker.idle.rss / MiB),
    "peak RSS MiB": round(peak / MiB),
    "peak - idle MiB": round(delta / MiB),
    "after GC - idle MiB": round(((memory?.rss ?? 0) - worker.idle.rss) / MiB),
    ...extra,
  });
  expect(worker.crashes, "unhandled errors in the worker process").toEqual([]);
  expect(unhandled.slice(unhandledMark), "unhandled errors in the test process").toEqual([]);
  expect(exitCode, `the worker process exits by itself once stopped\n${worker.output}`).toBe(0);
  expect(memory, "the worker's final memory").toBeDefined();
  expect(delta, `peak RSS ${round(peak / MiB)} MiB, idle ${round(worker.idle.maxRss / MiB)} MiB`).toBeLessThan(
    RSS_BUDGET,
  );
}

const round = (n: number) => Math.round(n * 10) / 10;

/** The error `waitForReady` gave up with (the case fails if it resolved). */
function notReady(answer: Answer<unknown>): { message: string; code?: string; grpcCode?: string } {
  if (answer.ok) throw new Error("waitForReady resolved, but the worker must not count as ready here");
  return answer.error;
}

/** Retries seen are many fewer than a loop without backoff would make (hundreds per second). */
function expectBackoff(count: number, what: string): void {
  expect(count, `${what}: the worker tries again`).toBeGreaterThanOrEqual(2);
  expect(count, `${what}: with backoff, not in a tight loop`).toBeLessThan(60);
}

// --- fake servers, one per hostile behaviour ---------------------------------------------------------------------------

describe("hostile servers", () => {
  it("a server that accepts and never speaks: the connect timeout ends each attempt, and the worker retries", async () => {
    const server = await startServer({ silent: true });
    // A 10 s Hello deadline: only the connect timeout can end the first attempt within the wait below.
    const worker = await startWorker({ address: server.address, connectTimeoutMs: 300, keepaliveIntervalMs: 30_000 });
    const error = notReady(await worker.waitForReady(2_500));
    expect(error.message).toMatch(/last attempt failed with/);
    expectBackoff(server.connections.length, "connections");
    await finish("silent server (connect timeout)", worker, { connections: server.connections.length });
  });

  it("a TLS server that never answers the handshake: the connect timeout covers TLS too", async () => {
    const server = await startServer({ silent: true });
    const worker = await startWorker({
      address: server.address,
      tls: true,
      connectTimeoutMs: 300,
      keepaliveIntervalMs: 30_000,
    });
    const error = notReady(await worker.waitForReady(2_500));
    expect(error.message).toMatch(/last attempt failed with/);
    expectBackoff(server.connections.length, "connections");
    await finish("silent TLS server (handshake timeout)", worker, { connections: server.connections.length });
  });

  for (const [name, flood] of [
    ["PING", frame(PING, 0, 0, Buffer.alloc(8))],
    ["SETTINGS", frame(SETTINGS, 0, 0)],
  ] as const) {
    it(`a ${name} flood from a server that never reads the ACKs: the client ends the connection, memory stays bounded`, async () => {
      const batch = Buffer.concat(new Array<Buffer>(4096).fill(flood));
      const sent: Promise<number>[] = [];
      const server = await startServer({
        deaf: true,
        onConnection: (conn) => sent.push(conn.flood(() => batch, FLOOD_CAP)),
      });
      const worker = await startWorker({ address: server.address });
      await within(
        10_000,
        "a connection",
        server.until(() => server.connections.length >= 1),
      );
      const first = await within(60_000, "end of the first flood", sent[0] as Promise<number>);
      expect(first, "the client cut the flood short").toBeLessThan(FLOOD_CAP);
      await within(
        10_000,
        "a second connection",
        server.until(() => server.connections.length >= 2),
      );
      await finish(`${name} flood`, worker, {
        "flood MiB sent": round(first / MiB),
        connections: server.connections.length,
      });
    }, 90_000);
  }

  it("DATA beyond the stream's window: a FLOW_CONTROL_ERROR, not buffering", async () => {
    const item = (n: number) =>
      toBinary(
        WorkItemSchema,
        create(WorkItemSchema, {
          completionToken: `block-${n}`,
          request: {
            case: "activityRequest",
            value: { name: "hostile.block", taskId: n, workflowInstance: { instanceId: `i-${n}` } },
          },
        }),
      );
    // 24 items fill a worker that runs one activity and admits two: it stops reading, so its window stays closed.
    const items = Buffer.concat(Array.from({ length: 24 }, (_, n) => frame(DATA, 0, 0, envelope(item(n)))));
    const filler = envelope(Buffer.alloc(16_384 - 9 - 5, 0x61));
    const floods: { id: number; sent: Promise<number>; conn: (typeof server.connections)[number] }[] = [];
    const server = await startServer({
      onCall(call: CallInfo, conn) {
        if (call.method !== "GetWorkItems") return defaultAnswer(call, conn);
        conn.headers(call.id);
        conn.send(retarget(items, call.id));
        const chunk = frame(DATA, 0, call.id, filler);
        const sent = conn.flood(
          () => chunk,
          FLOOD_CAP,
          () => conn.resets.has(call.id) || conn.goaways.length > 0,
        );
        floods.push({ id: call.id, sent, conn });
      },
    });
    const worker = await startWorker({ address: server.address, maxConcurrentActivities: 1 });
    await within(
      10_000,
      "a work-item stream",
      server.until(() => floods.length >= 1),
    );
    const first = floods[0] as (typeof floods)[number];
    const sent = await within(60_000, "end of the first flood", first.sent);
    const code = first.conn.resets.get(first.id) ?? first.conn.goaways[0];
    expect(code, "the client answered with FLOW_CONTROL_ERROR (RST_STREAM or GOAWAY)").toBe(FLOW_CONTROL_ERROR);
    expect(sent).toBeLessThan(FLOOD_CAP);
    await within(
      10_000,
      "a second work-item stream",
      server.until(() => server.callsOf("GetWorkItems").length >= 2),
    );
    expectBackoff(server.callsOf("GetWorkItems").length, "work-item streams");
    await finish("DATA beyond window", worker, {
      "flood MiB sent": round(sent / MiB),
      streams: server.callsOf("GetWorkItems").length,
    });
  }, 90_000);

  it("a message declared 4 GiB long: refused at its prefix by the receive limit, with a clear error", async () => {
    const sent: { id: number; sent: Promise<number>; conn: (typeof server.connections)[number] }[] = [];
    const server = await startServer({
      onCall(call: CallInfo, conn) {
        if (call.method !== "GetWorkItems") return defaultAnswer(call, conn);
        conn.headers(call.id);
        conn.send(frame(DATA, 0, call.id, Buffer.from([0, 0xff, 0xff, 0xff, 0xff])));
        // The body follows as the client's windows allow, as a well-behaved sender of a huge message would send it.
        let total = 5;
        const chunk = Buffer.alloc(16_384, 0x62);
        const flood = async () => {
          let body = 0;
          while (body < FLOOD_CAP && !conn.destroyed && !conn.resets.has(call.id)) {
            await conn.until(() => conn.window(call.id, total) >= chunk.length || conn.resets.has(call.id));
            if (conn.resets.has(call.id)) break;
            conn.send(frame(DATA, 0, call.id, chunk));
            total += chunk.length;
            body += chunk.length;
          }
          return total;
        };
        sent.push({ id: call.id, sent: flood().catch(() => total), conn });
      },
    });
    const worker = await startWorker({ address: server.address });
    await within(
      10_000,
      "a work-item stream",
      server.until(() => sent.length >= 1),
    );
    const first = sent[0] as (typeof sent)[number];
    const total = await within(60_000, "end of the first message", first.sent);
    expect(first.conn.resets.has(first.id), "the client reset the stream").toBe(true);
    expect(total).toBeLessThan(FLOOD_CAP);
    await within(
      10_000,
      "a second work-item stream",
      server.until(() => server.callsOf("GetWorkItems").length >= 2),
    );
    const failures = worker.logs.map((l) => JSON.stringify(l.attributes ?? "")).join("\n");
    expect(failures).toMatch(/resource_exhausted[^\n]*exceeds the limit/i);
    expectBackoff(server.callsOf("GetWorkItems").length, "work-item streams");
    await finish("4 GiB length prefix", worker, {
      "MiB sent": round(total / MiB),
      streams: server.callsOf("GetWorkItems").length,
    });
  }, 90_000);

  it("a garbage grpc-status: mapped to INTERNAL or UNKNOWN, and named when waitForReady gives up", async () => {
    const server = await startServer({
      onCall(call, conn) {
        if (call.method === "Hello") conn.unary(call.id, new Uint8Array(0), "banana");
        else defaultAnswer(call, conn);
      },
    });
    const worker = await startWorker({ address: server.address });
    const error = notReady(await worker.waitForReady(1_500));
    expect(["INTERNAL", "UNKNOWN"]).toContain(error.grpcCode);
    expect(error.message).not.toMatch(/NaN|undefined/);
    expectBackoff(server.callsOf("Hello").length, "Hello calls");
    await finish("garbage grpc-status", worker, { "Hello calls": server.callsOf("Hello").length });
  });

  for (const [status, name, text] of [
    [7, "PERMISSION_DENIED", "this app may not read work items"],
    [16, "UNAUTHENTICATED", "invalid api token"],
  ] as const) {
    it(`GetWorkItems refused with ${name}: not ready, and waitForReady names the refusal`, async () => {
      const server = await startServer({
        onCall(call, conn) {
          if (call.method === "GetWorkItems") conn.refuse(call.id, status, text);
          else defaultAnswer(call, conn);
        },
      });
      const worker = await startWorker({ address: server.address });
      const error = notReady(await worker.waitForReady(1_500));
      expect(error.grpcCode).toBe(name);
      expect(error.message).toContain(name);
      expect(error.message).toContain(text);
      expect(worker.readiness).not.toContain(true);
      expectBackoff(server.callsOf("GetWorkItems").length, "work-item streams");
      await finish(`GetWorkItems ${name}`, worker, { streams: server.callsOf("GetWorkItems").length });
    });
  }

  it("MAX_CONCURRENT_STREAMS=0: the stream stays queued, so the worker is not ready and tries a new connection", async () => {
    const server = await startServer({ settings: [[SETTINGS_MAX_CONCURRENT_STREAMS, 0]] });
    const worker = await startWorker({ address: server.address });
    const error = notReady(await worker.waitForReady(3_000));
    expect(error.message).toMatch(/last attempt failed with/);
    expect(server.callsOf("GetWorkItems"), "the stream never left the client").toEqual([]);
    expect(worker.readiness).not.toContain(true);
    expectBackoff(server.connections.length, "connections");
    await finish("MAX_CONCURRENT_STREAMS=0", worker, { connections: server.connections.length });
  });
});

/** `frames` (built for stream 0) with every frame's stream id set to `id`. */
function retarget(frames: Buffer, id: number): Buffer {
  const out = Buffer.from(frames);
  for (let offset = 0; offset + 9 <= out.length; offset += 9 + out.readUIntBE(offset, 3)) {
    out.writeUInt32BE(id, offset + 5);
  }
  return out;
}

// --- a black-holed path to a real sidecar ------------------------------------------------------------------------------

describeTargets("hostile network: a black hole", (target) => {
  let sidecar: RunningSidecar | undefined;
  beforeAll(async () => {
    sidecar = await startSidecar(target);
  });
  afterAll(async () => {
    await sidecar?.stop();
  });

  it("during work: the worker notices, reconnects once the path is back, and every new workflow completes", async () => {
    const running = sidecar as RunningSidecar;
    const proxy = await BlackHoleProxy.start(running.address);
    cleanups.push(() => proxy.close());
    const client = new TaskHubGrpcClient({ address: running.address, useEnvironment: false });
    cleanups.push(async () => client.close());
    const worker = await startWorker({ address: proxy.address, reconnect: { initialDelayMs: 100, maxDelayMs: 500 } });
    try {
      const first = await worker.waitForReady(15_000);
      expect(first.ok, JSON.stringify(first)).toBe(true);
      const before = await Promise.all(
        Array.from({ length: 5 }, (_, n) => client.scheduleNewOrchestration<number>("hostile.chain", { input: n })),
      );
      await within(
        10_000,
        "an activity run",
        worker.until(() => worker.activities.length > 0, "an activity run"),
      );
      proxy.blackHole();
      const holeAt = Date.now();
      await within(
        10_000,
        "the worker noticing",
        worker.until(() => !worker.ready, "the worker noticing"),
      );
      const noticedMs = Date.now() - holeAt;
      // A connection opened in the hole is silent from its start: it must be given up on too.
      await within(
        10_000,
        "a connection in the hole",
        proxy.until(() => proxy.accepted >= 2),
      );
      proxy.restore();
      const back = await worker.waitForReady(15_000);
      expect(back.ok, JSON.stringify(back)).toBe(true);
      const after = await Promise.all(
        Array.from({ length: 5 }, (_, n) =>
          client.scheduleNewOrchestration<number>("hostile.chain", { input: 10 + n }),
        ),
      );
      const finished = await Promise.all(after.map((id) => client.waitForOrchestrationCompletion(id, { timeout: 15 })));
      expect(finished.map((s) => s.status)).toEqual(Array(5).fill("COMPLETED"));
      expect(finished.map((s) => s.output)).toEqual([13, 14, 15, 16, 17]);
      // The ones caught in the hole: the embedded sidecar hands a closed stream's turns and activities out again at
      // once. durabletask-go (and daprd on it) recovers a turn it had routed to the dying stream's affinity buffer
      // only through its turn-timeout retry (executor_stateful.go), so there they are counted, not awaited.
      let caught: string[];
      if (target === "embedded") {
        const earlier = await Promise.all(
          before.map((id) => client.waitForOrchestrationCompletion(id, { timeout: 15 })),
        );
        caught = earlier.map((s) => s.status);
        expect(caught).toEqual(Array(5).fill("COMPLETED"));
      } else {
        const states = await Promise.all(before.map((id) => client.getOrchestrationState(id)));
        caught = states.map((s) => s?.status ?? "MISSING");
      }
      expect(proxy.deadHeldOpen, "the worker let go of every connection that went through the hole").toBe(0);
      await finish(`black hole [${target}]`, worker, {
        "noticed after ms": noticedMs,
        connections: proxy.accepted,
        "caught in the hole, completed": `${caught.filter((s) => s === "COMPLETED").length}/5`,
      });
    } catch (error) {
      printLogs(`${target} sidecar`, running.logs());
      printLogs("worker", worker.logs.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.attributes)}`).join("\n"));
      throw error;
    }
  }, 75_000);
});
