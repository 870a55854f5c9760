// Acceptance: a sandbox never leaks. While hundreds of best_effort and strict turns run through runWorkflowTurn
// (started from timer callbacks, I/O callbacks, immediates, microtasks and process.nextTick), many concurrent
// "activities" on real timers and I/O keep calling Date.now / Math.random / crypto.randomUUID / performance.now and
// check that these are the real functions, giving wall-clock values. Real activities run through @dt/core's
// executeActivity at the same time. Every turn must give exactly the result it gave when it was first simulated.
import { spawnSync } from "node:child_process";
import fs, { readFile as readFileCallback } from "node:fs";
import net from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  executeActivity,
  history as h,
  Registry,
  type WorkflowContext,
  type WorkflowGenerator,
  type WorkflowResult,
} from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { activeSandbox, enterSandbox } from "@dt/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AsyncWorkflowContext, defineAsyncWorkflow, runWorkflowTurn, toRegistrable } from "./index.js";
import { comparable, type Simulation, simulate } from "./testing/simulate.js";

/** A Date in ms (written so, not as Date.now(): these tests are about what `new Date()` gives). */
const msOf = (d: Date) => d.getTime();
const THIS_FILE = fileURLToPath(import.meta.url);

// The real functions, taken before any sandbox existed.
const REAL = {
  Date,
  dateNow: Date.now,
  random: Math.random,
  randomUUID: crypto.randomUUID,
  getRandomValues: crypto.getRandomValues,
  performanceNow: performance.now,
  setTimeout,
  clearTimeout,
  setImmediate,
  setInterval,
  queueMicrotask,
  nextTick: process.nextTick,
  fetch: globalThis.fetch,
  readFileSync: fs.readFileSync,
  readFile: fs.promises.readFile,
  readFileCallback,
  connect: net.connect,
};
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const realNow = () => REAL.dateNow.call(Date);
const realRandom = () => REAL.random.call(Math);
const sleep = (ms: number) => new Promise<void>((resolve) => REAL.setTimeout(resolve, ms));

/** Checks, from wherever it is called, that nothing is patched and that the clock and randomness are real. */
class Observer {
  checks = 0;
  readonly bySource = new Map<string, number>();
  readonly leaks: string[] = [];
  #lastPerf = 0;
  #lastUuid = "";
  readonly #started = realNow();

  check(source: string): void {
    this.checks++;
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    const problems: string[] = [];
    const g = globalThis as unknown as Record<string, unknown>;
    if (activeSandbox() !== undefined) problems.push("a sandbox scope is open");
    if (globalThis.Date !== REAL.Date) problems.push("Date is not the real Date");
    if (Date.now !== REAL.dateNow) problems.push("Date.now is not the real one");
    if (Math.random !== REAL.random) problems.push("Math.random is not the real one");
    if (crypto.randomUUID !== REAL.randomUUID) problems.push("crypto.randomUUID is not the real one");
    if (crypto.getRandomValues !== REAL.getRandomValues) problems.push("crypto.getRandomValues is not the real one");
    if (performance.now !== REAL.performanceNow) problems.push("performance.now is not the real one");
    if (g["setTimeout"] !== REAL.setTimeout) problems.push("setTimeout is not the real one");
    if (g["setImmediate"] !== REAL.setImmediate) problems.push("setImmediate is not the real one");
    if (g["setInterval"] !== REAL.setInterval) problems.push("setInterval is not the real one");
    if (g["fetch"] !== REAL.fetch) problems.push("fetch is not the real one");
    if (fs.readFileSync !== REAL.readFileSync) problems.push("fs.readFileSync is not the real one");
    if (net.connect !== REAL.connect) problems.push("net.connect is not the real one");
    // And the values: whatever is installed is called, as an activity would.
    try {
      const wall = realNow();
      const now = Date.now();
      const date = msOf(new Date());
      // Generous bounds (a loaded machine may pause anywhere); a sandbox's clock is years away (2020 in these tests).
      if (now < this.#started - 5000 || Math.abs(now - wall) > 5000) problems.push(`Date.now() gave ${now}`);
      if (date < this.#started - 5000 || Math.abs(date - wall) > 5000) problems.push(`new Date() gave ${date}`);
      const r = Math.random();
      if (!(r >= 0 && r < 1)) problems.push(`Math.random() gave ${r}`);
      const uuid = crypto.randomUUID();
      if (!UUID_V4.test(uuid) || uuid === this.#lastUuid) problems.push(`crypto.randomUUID() gave ${uuid}`);
      this.#lastUuid = uuid;
      const p = performance.now();
      if (p < this.#lastPerf || Math.abs(performance.timeOrigin + p - wall) > 5000) {
        problems.push(`performance.now() gave ${p}`);
      }
      this.#lastPerf = p;
    } catch (error) {
      problems.push(`a call threw ${String(error)}`);
    }
    if (problems.length > 0) this.leaks.push(`${source}: ${problems.join("; ")}`);
  }
}

/** An echo server on a free loopback port. */
async function echoServer(): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.on("data", (chunk) => socket.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { server, port: address.port, sockets };
}

/**
 * Observers on every kind of callback: real timers, immediates, fs.promises and fs callbacks, a loopback socket
 * ping-pong, and nextTick / microtasks queued from those. Each loop runs until `stop()`.
 */
function startObservers(observer: Observer, port: number, lanes = 6) {
  let stopped = false;
  const loops: Promise<void>[] = [];
  const each = (fn: () => Promise<void>) => {
    for (let i = 0; i < lanes; i++) loops.push(fn());
  };
  each(async () => {
    while (!stopped) {
      await new Promise<void>((resolve) =>
        REAL.setTimeout(() => {
          observer.check("timer callback");
          REAL.nextTick(() => observer.check("nextTick from a timer"));
          REAL.queueMicrotask(() => observer.check("microtask from a timer"));
          resolve();
        }, realRandom() * 3),
      );
      observer.check("after awaiting a timer");
    }
  });
  each(async () => {
    while (!stopped) {
      await new Promise<void>((resolve) =>
        REAL.setImmediate(() => {
          observer.check("immediate callback");
          resolve();
        }),
      );
      observer.check("after awaiting an immediate");
    }
  });
  each(async () => {
    while (!stopped) {
      await REAL.readFile(THIS_FILE);
      observer.check("after fs.promises.readFile");
      await new Promise<void>((resolve) =>
        REAL.readFileCallback(THIS_FILE, () => {
          observer.check("fs.readFile callback");
          REAL.queueMicrotask(() => observer.check("microtask from an fs callback"));
          resolve();
        }),
      );
    }
  });
  loops.push(
    new Promise<void>((resolve, reject) => {
      const socket = REAL.connect(port, "127.0.0.1");
      socket.on("error", reject);
      socket.on("connect", () => socket.write("ping"));
      socket.on("data", () => {
        observer.check("socket data");
        REAL.nextTick(() => observer.check("nextTick from socket data"));
        if (stopped) socket.end(resolve);
        else socket.write("ping");
      });
    }),
  );
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Workflows and the turns they take (simulated once, up front, with nothing else running)

const bestEffort = defineAsyncWorkflow(
  "leak-best-effort",
  async (ctx: AsyncWorkflowContext, n: number) => {
    const first = {
      now: Date.now(),
      date: new Date().toISOString(),
      random: Math.random(),
      uuid: crypto.randomUUID(),
      perf: performance.now(),
    };
    const a = await ctx.callActivity("step", { input: [n, first] });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const [b, c] = await ctx.whenAll([
      ctx.callActivity("step", { input: Math.random() }),
      ctx.callActivity("step", { input: Date.now() }),
    ]);
    const bytes = [...crypto.getRandomValues(new Uint8Array(4))];
    return { first, a, b, c, now: Date.now(), perf: performance.now(), bytes, random: Math.random() };
  },
  { sandboxMode: "best_effort" },
);

const strict = defineAsyncWorkflow(
  "leak-strict",
  async (ctx: AsyncWorkflowContext, n: number) => {
    const r = ctx.random();
    const a = await ctx.callActivity("step", { input: [n, r, ctx.uuid4()] });
    await ctx.sleep(2);
    let event: unknown;
    try {
      event = await ctx.waitForExternalEvent("go", { timeout: 3 });
    } catch (error) {
      event = (error as Error).name;
    }
    return { r, a, event, at: ctx.now().toISOString(), d: new Date(5).toISOString() };
  },
  { sandboxMode: "strict" },
);

const strictViolation = defineAsyncWorkflow(
  "leak-strict-violation",
  async (ctx: AsyncWorkflowContext) => {
    await ctx.callActivity("step", { input: "x" });
    return Date.now();
  },
  { sandboxMode: "strict" },
);

function* generator(ctx: WorkflowContext, n: number): WorkflowGenerator {
  const t = Date.now();
  const r = Math.random();
  const a = yield ctx.callActivity("step", { input: [n, t, r] });
  return [a, Date.now(), Math.random()];
}

const off = defineAsyncWorkflow("leak-off", async (ctx: AsyncWorkflowContext) => {
  const a = await ctx.callActivity("step", { input: ctx.random() });
  return [a, ctx.now().getTime()];
});

const workflows = new Registry()
  .addWorkflow(bestEffort)
  .addWorkflow(strict)
  .addWorkflow(strictViolation)
  .addWorkflow(off)
  .addWorkflow(toRegistrable(generator, { name: "leak-generator", sandboxMode: "best_effort" }), {
    name: "leak-generator",
    sandboxMode: "best_effort",
  });

interface Job {
  readonly name: string;
  readonly instanceId: string;
  readonly pastEvents: readonly HistoryEvent[];
  readonly newEvents: readonly HistoryEvent[];
  readonly expected: string;
  readonly failure: string | undefined;
}

async function recordJobs(): Promise<Job[]> {
  const jobs: Job[] = [];
  const names = ["leak-best-effort", "leak-strict", "leak-strict-violation", "leak-generator", "leak-off"];
  for (const name of names) {
    for (let i = 0; i < 3; i++) {
      const instanceId = `${name}-${i}`;
      const sim: Simulation = await simulate({
        registry: workflows,
        workflow: name,
        instanceId,
        input: i,
        seed: i + 1,
        activity: (call) => ({ result: JSON.stringify(`${call.name}#${call.taskId}`), after: 500 + 500 * i }),
        events: i === 1 ? [{ event: h.eventRaised("go", '"went"') }] : [],
      });
      expect(sim.state).toBe("completed");
      for (const turn of sim.turns) {
        const done = turn.result.actions.find((a) => a.workflowActionType.case === "completeWorkflow");
        const failure =
          done?.workflowActionType.case === "completeWorkflow"
            ? done.workflowActionType.value.failureDetails?.errorType
            : undefined;
        jobs.push({
          name,
          instanceId,
          pastEvents: sim.history.slice(0, turn.pastEvents),
          newEvents: turn.newEvents,
          expected: JSON.stringify(comparable(turn.result)),
          failure,
        });
      }
    }
  }
  return jobs;
}

// ---------------------------------------------------------------------------------------------------------------------

describe("leak test (acceptance): sandboxed turns never leak into concurrent activities", () => {
  let server: net.Server;
  let port: number;
  let sockets: Set<net.Socket>;
  beforeAll(async () => {
    ({ server, port, sockets } = await echoServer());
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it("hundreds of best_effort and strict turns from every event-loop phase, with activities on real timers and I/O", async () => {
    const jobs = await recordJobs();
    expect(jobs.filter((j) => j.failure === "SandboxViolationError").length).toBe(3);
    const observer = new Observer();
    const observers = startObservers(observer, port);

    // Real activities through executeActivity, concurrently, checking from inside.
    const activities = new Registry()
      .addActivity(
        async () => {
          observer.check("activity: start");
          const text = await fs.promises.readFile(THIS_FILE, "utf8");
          observer.check("activity: after reading a file");
          await sleep(1);
          observer.check("activity: after a real timer");
          return { now: Date.now(), uuid: crypto.randomUUID(), random: Math.random(), length: text.length };
        },
        { name: "io" },
      )
      .addActivity(
        async () => {
          observer.check("activity: before a socket");
          const reply = await new Promise<string>((resolve, reject) => {
            const socket = net.connect(port, "127.0.0.1", () => socket.write("hello"));
            socket.on("error", reject);
            socket.on("data", (chunk) => {
              observer.check("activity: socket data");
              socket.end();
              resolve(chunk.toString());
            });
          });
          return { reply, now: Date.now() };
        },
        { name: "net" },
      )
      .addActivity(
        () => {
          observer.check("activity: sync");
          return { now: Date.now(), random: Math.random() };
        },
        { name: "sync" },
      );
    let activityRuns = 0;
    const activityProblems: string[] = [];
    let stopActivities = false;
    const activityLoops = Array.from({ length: 8 }, async (_, lane) => {
      const names = ["io", "net", "sync"];
      for (let i = 0; !stopActivities; i++) {
        const name = names[(lane + i) % names.length] as string;
        const outcome = await executeActivity(
          {
            name,
            input: JSON.stringify(i),
            taskId: i,
            taskExecutionId: `t-${lane}-${i}`,
            workflowInstance: { instanceId: "act" },
          },
          activities,
        );
        activityRuns++;
        const value =
          outcome.result === undefined ? undefined : (JSON.parse(outcome.result) as { now?: number; uuid?: string });
        if (outcome.failureDetails !== undefined) {
          activityProblems.push(`${name}: ${outcome.failureDetails.errorType} ${outcome.failureDetails.errorMessage}`);
        } else if (value?.now === undefined || Math.abs(value.now - realNow()) > 5000) {
          activityProblems.push(`${name}: implausible time ${value?.now}`);
        } else if (value.uuid !== undefined && !UUID_V4.test(value.uuid)) {
          activityProblems.push(`${name}: uuid ${value.uuid}`);
        }
        if (i % 3 === 0) await new Promise<void>((resolve) => REAL.setImmediate(resolve));
      }
    });

    // The turns: each recorded job many times, started from every phase.
    const ROUNDS = 24;
    const phases = ["timer", "immediate", "io", "socket", "microtask", "nextTick"] as const;
    const startedFrom = new Map<string, number>();
    const mismatches: string[] = [];
    const byName = new Map<string, number>();
    let violations = 0;
    let finished = 0;
    const socketQueue: (() => void)[] = [];
    const total = jobs.length * ROUNDS;
    const pump = REAL.connect(port, "127.0.0.1");
    pump.on("error", () => {});
    pump.on("data", () => {
      for (const start of socketQueue.splice(0, 3)) start();
      if (socketQueue.length > 0 || finished < total) pump.write("go");
    });
    pump.on("connect", () => pump.write("go"));

    const runJob = (job: Job, phase: string): Promise<void> =>
      new Promise<void>((resolve) => {
        const start = () => {
          startedFrom.set(phase, (startedFrom.get(phase) ?? 0) + 1);
          observer.check(`before a turn (${phase})`);
          runWorkflowTurn(
            { instanceId: job.instanceId, pastEvents: job.pastEvents, newEvents: job.newEvents },
            workflows,
          )
            .then((result: WorkflowResult) => {
              observer.check(`after a turn (${phase})`);
              const got = JSON.stringify(comparable(result));
              if (got !== job.expected) mismatches.push(`${job.instanceId} from ${phase}: ${got} != ${job.expected}`);
              if (job.failure === "SandboxViolationError" && got.includes("SandboxViolationError")) violations++;
              byName.set(job.name, (byName.get(job.name) ?? 0) + 1);
            })
            .catch((error: unknown) => mismatches.push(`${job.instanceId} from ${phase}: threw ${String(error)}`))
            .finally(() => {
              finished++;
              resolve();
            });
        };
        switch (phase) {
          case "timer":
            REAL.setTimeout(start, realRandom() * 4);
            break;
          case "immediate":
            REAL.setImmediate(start);
            break;
          case "io":
            REAL.readFileCallback(THIS_FILE, start);
            break;
          case "socket":
            socketQueue.push(start);
            break;
          case "microtask":
            REAL.readFileCallback(THIS_FILE, () => {
              void Promise.resolve().then(() => REAL.queueMicrotask(start));
            });
            break;
          default:
            REAL.setImmediate(() => REAL.nextTick(start));
        }
      });

    const runs: Promise<void>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, job] of jobs.entries()) runs.push(runJob(job, phases[(round + i) % phases.length] as string));
      // Keep starting more while earlier ones run.
      await sleep(2);
    }
    await Promise.all(runs);
    stopActivities = true;
    await Promise.all(activityLoops);
    await observers.stop();
    pump.end();

    expect(observer.leaks.slice(0, 10)).toEqual([]);
    expect(observer.leaks.length).toBe(0);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(activityProblems.slice(0, 5)).toEqual([]);
    expect(finished).toBe(total);
    expect(total).toBeGreaterThanOrEqual(500);
    for (const name of new Set(jobs.map((j) => j.name))) {
      expect(byName.get(name), name).toBe(jobs.filter((j) => j.name === name).length * ROUNDS);
    }
    expect(jobs.filter((j) => j.name === "leak-best-effort").length).toBeGreaterThanOrEqual(12);
    expect(violations).toBe(3 * ROUNDS);
    for (const phase of phases) expect(startedFrom.get(phase) ?? 0, phase).toBeGreaterThan(0);
    expect(activityRuns).toBeGreaterThan(50);
    expect(observer.checks).toBeGreaterThan(5_000);
    for (const source of [
      "timer callback",
      "immediate callback",
      "after fs.promises.readFile",
      "fs.readFile callback",
      "socket data",
      "nextTick from a timer",
      "microtask from an fs callback",
      "activity: after reading a file",
      "activity: socket data",
      "activity: sync",
    ]) {
      expect(observer.bySource.get(source) ?? 0, source).toBeGreaterThan(0);
    }
    expect(activeSandbox()).toBeUndefined();
    // For the record (visible with --reporter=verbose): how much was checked.
    console.info(
      `leak test: ${total} turns, ${activityRuns} activities, ${observer.checks} checks, ${observer.leaks.length} leaks`,
    );
  }, 120_000);

  // The observers must be able to see a leak, or the test above proves nothing: hold a scope open across the event
  // loop (which runWorkflowTurn never does) and they notice.
  it("the observers do see a scope that is held open across the event loop", async () => {
    const observer = new Observer();
    const observers = startObservers(observer, port, 2);
    await sleep(10);
    const scope = enterSandbox("best_effort"); // unbound: calls pass through, but the functions are not the real ones
    try {
      await sleep(30);
    } finally {
      scope.exit();
    }
    await sleep(10);
    await observers.stop();
    expect(observer.leaks.length).toBeGreaterThan(0);
    expect(observer.leaks.join("\n")).toMatch(/Date is not the real Date/);
  });

  // process.emitWarning delivers through process.nextTick, which a sandboxed turn drains while it runs (the driver
  // settles with nextTick): so 'warning' listeners (loggers, APM agents) run inside the turn's sandbox. They see the
  // workflow's clock, their own calls are reported as the workflow's, and a timer they set becomes a durable timer
  // of the workflow: an action that replay (where the warning is not emitted again) does not take.
  it("process 'warning' listeners run outside the sandbox, and their timers are not the workflow's", async () => {
    const name = `leak-warning-${process.pid}-${realNow()}`;
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          const r = Math.random();
          await ctx.callActivity("step");
          return r;
        },
        { sandboxMode: "best_effort" },
      ),
    );
    const seen: { real: boolean; now: number }[] = [];
    const listener = (w: Error) => {
      if (!w.message.includes(name)) return;
      seen.push({ real: Date.now === REAL.dateNow, now: Date.now() });
      const flush = setTimeout(() => {}, 5); // e.g. a batching logger
      clearTimeout(flush);
    };
    process.on("warning", listener);
    let result: WorkflowResult;
    const before = realNow();
    try {
      result = await runWorkflowTurn(
        { instanceId: "w", pastEvents: [], newEvents: [h.workflowStarted(new Date(0)), h.executionStarted(name, "w")] },
        reg,
      );
      await sleep(5);
    } finally {
      process.off("warning", listener);
    }
    expect(seen.length).toBeGreaterThan(0);
    expect({
      listenerSawRealDateNow: seen.map((s) => s.real),
      listenerSawWallClock: seen.map((s) => s.now >= before),
      actions: result.actions.map((a) => a.workflowActionType.case),
    }).toEqual({
      listenerSawRealDateNow: seen.map(() => true),
      listenerSawWallClock: seen.map(() => true),
      actions: ["scheduleTask"],
    });
  });
  // Instrumentation hooks run synchronously inside the workflow's code (an async_hooks `init` fires for every promise
  // the workflow creates), so they run inside the sandbox: an APM agent that timestamps async resources with
  // performance.now() throws SandboxViolationError from the hook in a strict turn, which kills the process. Run in a
  // child process (against the built packages) so that the crash cannot take the test runner down.
  // The patched globals are in place while the hook runs (they must be, for the workflow), but a hook's calls get the
  // real values and never a violation.
  it("an async_hooks init hook (an APM agent) that reads the clock neither crashes the process nor gets sandbox values", () => {
    const script = `
      import { createHook } from "node:async_hooks";
      import { Registry, history as h } from "@dt/core";
      import { defineAsyncWorkflow, runWorkflowTurn } from "@dt/aio";
      const realNow = performance.now;
      let hooks = 0, patched = 0;
      createHook({ init(_id, type) { if (type === "PROMISE") { hooks++; const seen = performance.now(); if (Math.abs(seen - realNow.call(performance)) > 1000) patched++; } } }).enable();
      const wf = defineAsyncWorkflow("apm", async (ctx) => { await ctx.callActivity("a"); return 1; }, { sandboxMode: "strict" });
      const result = await runWorkflowTurn({ instanceId: "i", pastEvents: [], newEvents: [h.workflowStarted(new Date(0)), h.executionStarted("apm", "i")] }, new Registry().addWorkflow(wf));
      console.log(JSON.stringify({ hooks, patched, actions: result.actions.map((a) => a.workflowActionType.case) }));
    `;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: dirname(dirname(THIS_FILE)),
      encoding: "utf8",
      timeout: 60_000,
    });
    const firstLine = (child.stderr ?? "").split("\n").find((l) => l.includes("Error")) ?? "";
    expect({ exit: child.status, error: firstLine }).toEqual({ exit: 0, error: "" });
    const out = JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>;
    expect(out["hooks"]).toBeGreaterThan(0);
    expect(out["patched"]).toBe(0);
    expect(out["actions"]).toEqual(["scheduleTask"]);
  }, 60_000);
});
