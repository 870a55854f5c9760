// Fault tolerance against a real sidecar: a worker that starts before its sidecar, a sidecar crash and restart on the
// same port and sqlite file mid-run, a worker stopped in the middle of an activity, and a workflow whose input
// cannot be decoded. Each test starts its own sidecar(s) and stops everything it started. The go target crashes by
// SIGKILL; the embedded one (in this process) by dropping every connection at once and reopening its SQLite file,
// which shows the same thing from the outside: only what was committed survives.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow } from "@dt/core";
import { OrchestrationStatus } from "@dt/proto";
import { createSidecarClient, createSidecarTransport } from "@dt/proto/transport";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterEach, expect, it } from "vitest";
import {
  describeTargets,
  freeLoopbackPort,
  printLogs,
  type RunningSidecar,
  restartSidecar,
  type SidecarOptions,
  startSidecar,
} from "./harness.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 50 ms until it holds; fails with `what` after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

// --- (a) a worker that starts before its sidecar --------------------------------------------------------------------

const greet = defineActivity("faults.greet", (_ctx, name: string) => `Hello ${name}!`);
const greetTwice = defineWorkflow("faults.greetTwice", function* (ctx, name: string) {
  const first = yield* ctx.callActivity(greet, { input: name });
  const second = yield* ctx.callActivity(greet, { input: first });
  return second;
});

// --- (b) a sidecar crash mid-run ---------------------------------------------------------------------------------------

/** Steps run per crash test run (instance ids `<run>-<n>`): every target runs this file in the same process. */
const stepCounts = new Map<string, { all: number; last: number }>();
const countsOf = (run: string) => stepCounts.get(run) ?? { all: 0, last: 0 };
const LAST_STAGE = 5;
const step = defineActivity("faults.step", (ctx, input: { n: number; stage: number }) => {
  const run = ctx.instanceId.slice(0, ctx.instanceId.lastIndexOf("-"));
  const counts = countsOf(run);
  counts.all++;
  if (input.stage === LAST_STAGE) counts.last++;
  stepCounts.set(run, counts);
  return input.n * 10 + input.stage;
});
/** Three activities, a 2 s durable timer, two more activities: long enough to be caught in flight by a crash. */
const stages = defineWorkflow("faults.stages", function* (ctx, n: number) {
  const out: number[] = [];
  for (let stage = 1; stage <= 3; stage++) out.push(yield* ctx.callActivity(step, { input: { n, stage } }));
  yield* ctx.createTimer(2);
  for (let stage = 4; stage <= LAST_STAGE; stage++) out.push(yield* ctx.callActivity(step, { input: { n, stage } }));
  return out;
});
const expectedStages = (n: number) => [1, 2, 3, 4, 5].map((stage) => n * 10 + stage);

// --- (c) a worker stopped mid-activity ---------------------------------------------------------------------------------

interface PatientRecord {
  invocations: number;
  sawAbort: boolean;
}
const patientRecords = new Map<string, PatientRecord>();
/** The first attempt per instance waits (up to 120 s) for the worker's shutdown signal; later attempts finish at once. */
const patient = defineActivity("faults.patient", async (ctx) => {
  const record = patientRecords.get(ctx.instanceId) ?? { invocations: 0, sawAbort: false };
  patientRecords.set(ctx.instanceId, record);
  record.invocations++;
  if (record.invocations > 1) return `finished on attempt ${record.invocations}`;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 120_000);
    ctx.signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        record.sawAbort = true;
        resolve();
      },
      { once: true },
    );
  });
  if (ctx.signal.aborted) throw ctx.signal.reason;
  return "finished without being aborted";
});
const waitsPatiently = defineWorkflow("faults.waitsPatiently", function* (ctx) {
  return yield* ctx.callActivity(patient);
});

// --- (d) an input the worker cannot decode ---------------------------------------------------------------------------

const echo = defineWorkflow("faults.echo", (_ctx, input: { text: string }) => input.text);

describeTargets("faults", (target) => {
  let sidecars: RunningSidecar[] = [];
  let cleanups: (() => unknown)[] = [];
  const start = async (options: SidecarOptions = {}) => {
    const sidecar = await startSidecar(target, options);
    sidecars.push(sidecar);
    cleanups.push(() => sidecar.stop());
    return sidecar;
  };
  const defer = (cleanup: () => unknown) => cleanups.push(cleanup);
  const newWorker = (address: string) => {
    const worker = new TaskHubGrpcWorker({ address, useEnvironment: false });
    defer(() => worker.stop({ timeoutMs: 2_000 }));
    return worker;
  };
  const newClient = (address: string) => {
    const client = new TaskHubGrpcClient({ address, useEnvironment: false });
    defer(() => client.close());
    return client;
  };

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      for (const sidecar of sidecars) printLogs(`${target} sidecar logs (pid ${sidecar.pid})`, sidecar.logs());
    }
    // Newest first: workers and clients before the sidecars they talk to, temporary files last.
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`cleanup failed: ${String(error)}\n`);
      }
    }
    sidecars = [];
    cleanups = [];
  });

  it("a worker started before its sidecar connects when the sidecar comes up", async () => {
    const port = await freeLoopbackPort();
    const address = `127.0.0.1:${port}`;
    const worker = newWorker(address).addWorkflow(greetTwice).addActivity(greet);
    await worker.start();
    await sleep(1_000);
    expect(worker.isReady).toBe(false);

    await start({ port });
    await worker.waitForReady({ timeoutMs: 30_000 });
    const client = newClient(address);
    const id = await client.scheduleNewOrchestration(greetTwice, {
      input: "late sidecar",
      instanceId: `late-sidecar-${randomUUID()}`,
    });
    const state = await client.waitForOrchestrationCompletion(id, { timeout: 60 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toBe("Hello Hello late sidecar!!");
  });

  it("every workflow completes when the sidecar is killed and restarted on the same port and database mid-run", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dt-faults-"));
    defer(() => rm(dir, { recursive: true, force: true }));
    const first = await start({ db: join(dir, "state.sqlite") });
    const worker = newWorker(first.address).addWorkflow(stages).addActivity(step);
    await worker.start();
    await worker.waitForReady({ timeoutMs: 30_000 });
    const client = newClient(first.address);

    const count = 20;
    const prefix = `crash-${randomUUID()}`;
    const ids = await Promise.all(
      Array.from({ length: count }, (_, n) =>
        client.scheduleNewOrchestration(stages, { input: n, instanceId: `${prefix}-${n}` }),
      ),
    );
    // Waiting starts before the crash, so these long polls must ride out the outage (UNAVAILABLE is retried).
    const finals = Promise.allSettled(ids.map((id) => client.waitForOrchestrationCompletion(id, { timeout: 280 })));

    await until(() => countsOf(prefix).all >= count + 5, "the first activities to run", 60_000);
    // The crash must catch work in flight: most workflows are still before (or in) their 2 s timer.
    expect(countsOf(prefix).last).toBeLessThan(count);
    await first.kill();
    await sleep(500);
    const second = await restartSidecar(first);
    sidecars.push(second);
    defer(() => second.stop());
    expect(second.address).toBe(first.address);

    // Instances the dead sidecar had locked come back once their sqlite locks expire (durabletask-go: 2 min; the
    // embedded sidecar holds no locks in its store, so it hands them out again at once).
    const settled = await finals;
    const failures = settled.flatMap((r, n) => (r.status === "rejected" ? [`${ids[n]}: ${String(r.reason)}`] : []));
    expect(failures).toEqual([]);
    const states = settled.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    expect(states.map((s) => s?.status)).toEqual(ids.map(() => "COMPLETED"));
    expect(states.map((s) => s?.output)).toEqual(ids.map((_, n) => expectedStages(n)));
    expect(worker.isReady).toBe(true);
  }, 300_000);

  it("an activity aborted by worker.stop() is redelivered to the next worker and the workflow completes", async () => {
    const sidecar = await start();
    const first = newWorker(sidecar.address).addWorkflow(waitsPatiently).addActivity(patient);
    await first.start();
    await first.waitForReady({ timeoutMs: 30_000 });
    const client = newClient(sidecar.address);
    const id = await client.scheduleNewOrchestration(waitsPatiently, { instanceId: `stopped-${randomUUID()}` });

    await until(() => (patientRecords.get(id)?.invocations ?? 0) >= 1, "the activity to start");
    await first.stop({ timeoutMs: 200 });
    const record = patientRecords.get(id);
    expect(record?.sawAbort).toBe(true);
    expect(record?.invocations).toBe(1);

    const second = newWorker(sidecar.address).addWorkflow(waitsPatiently).addActivity(patient);
    await second.start();
    const state = await client.waitForOrchestrationCompletion(id, { timeout: 60 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toMatch(/^finished on attempt \d+$/);
    expect(record?.invocations).toBeGreaterThanOrEqual(2);
  });

  it("a workflow whose input is not JSON fails with a SerializationError and the worker keeps serving", async () => {
    const sidecar = await start();
    const worker = newWorker(sidecar.address).addWorkflow(echo);
    await worker.start();
    await worker.waitForReady({ timeoutMs: 30_000 });
    const transport = createSidecarTransport({ address: sidecar.address });
    defer(() => transport.close());
    const raw = createSidecarClient(transport);

    const badId = `bad-input-${randomUUID()}`;
    await raw.startInstance({ instanceId: badId, name: echo.name, input: "{not json" }, { timeoutMs: 30_000 });
    const bad = await raw.waitForInstanceCompletion(
      { instanceId: badId, getInputsAndOutputs: true },
      { timeoutMs: 60_000 },
    );
    expect(bad.exists).toBe(true);
    expect(bad.workflowState?.workflowStatus).toBe(OrchestrationStatus.FAILED);
    expect(bad.workflowState?.failureDetails?.errorType).toBe("SerializationError");
    expect(bad.workflowState?.failureDetails?.errorMessage).toMatch(/input of workflow 'faults\.echo'/);

    const client = newClient(sidecar.address);
    const goodId = await client.scheduleNewOrchestration(echo, {
      input: { text: "still serving" },
      instanceId: `good-input-${randomUUID()}`,
    });
    const good = await client.waitForOrchestrationCompletion(goodId, { timeout: 60 });
    expect(good.status).toBe("COMPLETED");
    expect(good.output).toBe("still serving");
    expect(worker.isReady).toBe(true);
  });
});
