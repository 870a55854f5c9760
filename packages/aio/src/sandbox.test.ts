// Sandboxed turns through runWorkflowTurn (the worker's entry point) with real histories: which registrations get a
// sandbox, what best_effort replaces (deterministically, identically on every replay), what strict refuses, and that
// every turn leaves the process's globals exactly as it found them.
import * as childProcess from "node:child_process";
import * as nodeCrypto from "node:crypto";
import * as dns from "node:dns";
import fs, { readFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import {
  defineWorkflow,
  InvalidArgumentError,
  type Logger,
  Registry,
  type WorkflowContext,
  type WorkflowGenerator,
  type WorkflowResult,
} from "@dt/core";
import { OrchestrationStatus } from "@dt/proto";
import { activeSandbox, seededRandom } from "@dt/sandbox";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type AsyncWorkflowContext,
  defineAsyncWorkflow,
  NonDeterminismWarning,
  replay,
  runWorkflowTurn,
  SandboxMode,
  type TurnOptions,
  toRegistrable,
} from "./index.js";
import { at, completion, h, INSTANCE, kinds, START } from "./testing/histories.js";
import { recordActions, simulate } from "./testing/simulate.js";

const THIS_FILE = fileURLToPath(import.meta.url);
const g = globalThis as unknown as Record<string, unknown>;

// The originals, taken before any turn ran.
const RealDate = Date;
const ORIGINALS: [string, () => unknown, unknown][] = [
  ["Date", () => globalThis.Date, Date],
  ["Date.now", () => RealDate.now, Date.now],
  ["Math.random", () => Math.random, Math.random],
  ["crypto.randomUUID", () => crypto.randomUUID, crypto.randomUUID],
  ["crypto.getRandomValues", () => crypto.getRandomValues, crypto.getRandomValues],
  ["performance.now", () => performance.now, performance.now],
  ["setTimeout", () => g["setTimeout"], g["setTimeout"]],
  ["clearTimeout", () => g["clearTimeout"], g["clearTimeout"]],
  ["setInterval", () => g["setInterval"], g["setInterval"]],
  ["setImmediate", () => g["setImmediate"], g["setImmediate"]],
  ["fetch", () => g["fetch"], g["fetch"]],
  ["fs.readFileSync", () => fs.readFileSync, fs.readFileSync],
  ["readFileSync (ESM binding)", () => readFileSync, readFileSync],
  ["fs.promises.readFile", () => fs.promises.readFile, fs.promises.readFile],
  ["net.connect", () => net.connect, net.connect],
  ["http.request", () => http.request, http.request],
  ["dns.lookup", () => dns.lookup, dns.lookup],
  ["child_process.execSync", () => childProcess.execSync, childProcess.execSync],
];
const realNow = Date.now;
const realRandom = Math.random;
const realSetImmediate = setImmediate;
const realSetTimeout = setTimeout;

/** Names of the globals that are not the originals right now. */
function notOriginal(): string[] {
  return ORIGINALS.filter(([, get, original]) => get() !== original).map(([name]) => name);
}

/** Runs one turn, then checks that it left no scope open and every global as it was. */
async function turn(
  reg: Registry,
  past: Parameters<typeof runWorkflowTurn>[0]["pastEvents"],
  newEvents: Parameters<typeof runWorkflowTurn>[0]["newEvents"],
  options?: TurnOptions,
): Promise<WorkflowResult> {
  const result = await runWorkflowTurn({ instanceId: INSTANCE, pastEvents: past, newEvents }, reg, options);
  expect(activeSandbox()).toBeUndefined();
  expect(notOriginal()).toEqual([]);
  return result;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

/** WorkflowStarted + ExecutionStarted. */
const begin = (name: string, time = START, input?: unknown) => [
  h.workflowStarted(time),
  h.executionStarted(name, INSTANCE, input === undefined ? undefined : JSON.stringify(input)),
];

const failed = (result: WorkflowResult) => {
  expect(kinds(result), "expected the workflow to fail in this turn").toContain("completeWorkflow");
  const done = completion(result);
  expect(done.workflowStatus).toBe(OrchestrationStatus.FAILED);
  return done.failureDetails;
};

const succeeded = (result: WorkflowResult): unknown => {
  const done = completion(result);
  expect(done.workflowStatus, JSON.stringify(done.failureDetails?.errorMessage)).toBe(OrchestrationStatus.COMPLETED);
  return done.result === undefined ? undefined : JSON.parse(done.result);
};

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const warnings: NonDeterminismWarning[] = [];
const onWarning = (w: Error) => {
  if (w.name === "NonDeterminismWarning") warnings.push(w as NonDeterminismWarning);
};
const flushTicks = () => new Promise<void>((resolve) => realSetImmediate(resolve));

beforeEach(async () => {
  await flushTicks();
  warnings.length = 0;
  process.on("warning", onWarning);
});

afterEach(() => {
  process.off("warning", onWarning);
  expect(activeSandbox()).toBeUndefined();
  expect(notOriginal()).toEqual([]);
});

/** What a workflow sees of the globals, as plain data. */
function probe() {
  return {
    date: globalThis.Date === RealDate,
    now: Date.now === realNow,
    random: Math.random === realRandom,
    sandbox: activeSandbox()?.mode ?? "none",
  };
}

// ---------------------------------------------------------------------------------------------------------------------

describe("which workflows are sandboxed", () => {
  const randomOnce = async (_ctx: AsyncWorkflowContext) => Math.random();

  it.each([
    ["SandboxMode.STRICT", SandboxMode.STRICT],
    ['"strict"', "strict" as const],
  ])("defineAsyncWorkflow(..., { sandboxMode: %s })", async (_label, sandboxMode) => {
    const name = unique("def-strict");
    const reg = new Registry().addWorkflow(defineAsyncWorkflow(name, randomOnce, { sandboxMode }));
    const details = failed(await turn(reg, [], begin(name)));
    expect(details?.errorType).toBe("SandboxViolationError");
  });

  it.each([
    ["SandboxMode.BEST_EFFORT", SandboxMode.BEST_EFFORT],
    ['"best_effort"', "best_effort" as const],
  ])("defineAsyncWorkflow(..., { sandboxMode: %s })", async (_label, sandboxMode) => {
    const name = unique("def-be");
    const reg = new Registry().addWorkflow(defineAsyncWorkflow(name, randomOnce, { sandboxMode }));
    expect(succeeded(await turn(reg, [], begin(name)))).toBe(seededRandom(`${INSTANCE}:`)());
  });

  it.each([
    ["SandboxMode.STRICT", SandboxMode.STRICT],
    ['"strict"', "strict" as const],
  ])("Registry.addWorkflow(def, { sandboxMode: %s }) sandboxes a definition without a mode", async (_l, mode) => {
    const name = unique("reg-strict");
    const reg = new Registry().addWorkflow(defineAsyncWorkflow(name, randomOnce), { sandboxMode: mode });
    expect(failed(await turn(reg, [], begin(name)))?.errorType).toBe("SandboxViolationError");
  });

  it("the registration's mode wins over the definition's, both ways", async () => {
    const a = unique("override-a");
    const b = unique("override-b");
    const reg = new Registry()
      .addWorkflow(defineAsyncWorkflow(a, randomOnce, { sandboxMode: "off" }), { sandboxMode: "strict" })
      .addWorkflow(defineAsyncWorkflow(b, randomOnce, { sandboxMode: "strict" }), { sandboxMode: "off" });
    expect(failed(await turn(reg, [], begin(a)))?.errorType).toBe("SandboxViolationError");
    const r = succeeded(await turn(reg, [], begin(b))) as number;
    expect(r).not.toBe(seededRandom(`${INSTANCE}:`)()); // the real Math.random
  });

  it("no mode means off: nothing is patched while the workflow runs", async () => {
    const name = unique("default");
    const reg = new Registry().addWorkflow(defineAsyncWorkflow(name, async () => probe()));
    expect(succeeded(await turn(reg, [], begin(name)))).toEqual({
      date: true,
      now: true,
      random: true,
      sandbox: "none",
    });
  });

  it("SandboxMode.OFF / 'off' explicitly: nothing patched, before or after an await", async () => {
    const name = unique("off");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          const before = probe();
          await ctx.sleep(1);
          return [before, probe()];
        },
        { sandboxMode: SandboxMode.OFF },
      ),
    );
    const t1 = await turn(reg, [], begin(name));
    expect(kinds(t1)).toEqual(["createTimer"]);
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    const out = succeeded(await turn(reg, past, [h.workflowStarted(at(1)), h.timerFired(1, at(1))]));
    const real = { date: true, now: true, random: true, sandbox: "none" };
    expect(out).toEqual([real, real]);
  });

  // The worker reads modes with parseSandboxMode (any case, best-effort); definitions and Registry registrations take
  // the string as given, and runWorkflowTurn treats any mode other than exactly "strict" as best_effort.
  it("mode names are read like parseSandboxMode everywhere: 'STRICT' on a definition is strict", async () => {
    const name = unique("upper");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(name, randomOnce, { sandboxMode: "STRICT" as unknown as SandboxMode }),
    );
    expect(failed(await turn(reg, [], begin(name)))?.errorType).toBe("SandboxViolationError");
  });

  it("an unknown mode is refused (INVALID_ARGUMENT) when the workflow is defined or registered", () => {
    const bogus = "paranoid" as unknown as SandboxMode;
    expect(() => defineAsyncWorkflow(unique("bogus"), randomOnce, { sandboxMode: bogus })).toThrow(
      InvalidArgumentError,
    );
    expect(() =>
      new Registry().addWorkflow(defineAsyncWorkflow(unique("bogus"), randomOnce), { sandboxMode: bogus }),
    ).toThrow(InvalidArgumentError);
  });
});

describe("best_effort: the workflow's own clock, randomness and timers, identical on every replay", () => {
  const values = () => ({
    now: Date.now(),
    date: new Date().toISOString(),
    random: Math.random(),
    uuid: crypto.randomUUID(),
  });

  it("Date.now / new Date() / Math.random / crypto.randomUUID are deterministic and the same across replay turns", async () => {
    const name = unique("values");
    const firsts: unknown[] = [];
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          const first = values();
          firsts.push(first);
          const echoed = await ctx.callActivity("echo", { input: first });
          const second = values();
          return { first, echoed, second };
        },
        { sandboxMode: "best_effort" },
      ),
    );

    const t1 = await turn(reg, [], begin(name));
    expect(kinds(t1)).toEqual(["scheduleTask"]);
    const scheduled = t1.actions[0]?.workflowActionType;
    const input = scheduled?.case === "scheduleTask" ? JSON.parse(scheduled.value.input ?? "null") : undefined;
    const stream = seededRandom(`${INSTANCE}:`);
    expect(input.now).toBe(START.getTime());
    expect(input.date).toBe(START.toISOString());
    expect(input.random).toBe(stream());
    expect(input.uuid).toMatch(UUID_V4);

    // Turn 2 replays turn 1 and goes on at the new turn's time.
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    const newEvents = [h.workflowStarted(at(30)), h.taskCompleted(1, JSON.stringify("echo"))];
    const out = succeeded(await turn(reg, past, newEvents)) as Record<string, Record<string, unknown>>;
    expect(out["first"]).toEqual(input);
    expect(out["second"]?.["now"]).toBe(at(30).getTime());
    expect(out["second"]?.["date"]).toBe(at(30).toISOString());
    expect(out["second"]?.["uuid"]).toMatch(UUID_V4);
    expect(out["second"]?.["uuid"]).not.toBe(input.uuid);
    expect(out["second"]?.["random"]).not.toBe(input.random);

    // The same turn again gives the same values; so does the whole history replayed in one turn.
    const again = succeeded(await turn(reg, past, newEvents));
    expect(again).toEqual(out);
    const replayed = succeeded(await turn(reg, [], [...past, ...newEvents]));
    expect(replayed).toEqual(out);
    // Every run of the code before the await saw the very same values.
    expect(firsts).toHaveLength(4);
    for (const first of firsts) expect(first).toEqual(input);
  });

  it("Math.random() draws from the same seeded stream as ctx.random()", async () => {
    const name = unique("stream");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(name, async (ctx: AsyncWorkflowContext) => [Math.random(), ctx.random(), Math.random()], {
        sandboxMode: "best_effort",
      }),
    );
    const stream = seededRandom(`${INSTANCE}:`);
    expect(succeeded(await turn(reg, [], begin(name)))).toEqual([stream(), stream(), stream()]);
  });

  it("performance.now() is deterministic (0 at the first call in a turn) and follows workflow time", async () => {
    const name = unique("perf");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          const a = performance.now();
          await ctx.sleep(5);
          const b = performance.now();
          return [a, b];
        },
        { sandboxMode: "best_effort" },
      ),
    );
    const t1 = await turn(reg, [], begin(name));
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    const out = succeeded(await turn(reg, past, [h.workflowStarted(at(5)), h.timerFired(1, at(5))]));
    expect(out).toEqual([0, 5_000]);
  });

  it.each([
    ["at the start", START],
    ["10 s later", at(10)],
  ])("await new Promise(r => setTimeout(r, 2000)) becomes a durable timer: turn time + 2 s (%s)", async (_l, time) => {
    const name = unique("settimeout");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          await new Promise((r) => setTimeout(r, 2000));
          return ctx.now().toISOString();
        },
        { sandboxMode: "best_effort" },
      ),
    );
    const t1 = await turn(reg, [], begin(name, time));
    expect(kinds(t1)).toEqual(["createTimer"]);
    const timer = t1.actions[0]?.workflowActionType;
    if (timer?.case !== "createTimer") throw new Error("no timer");
    const fireAt = Number(timer.value.fireAt?.seconds) * 1000 + Math.floor((timer.value.fireAt?.nanos ?? 0) / 1e6);
    expect(fireAt).toBe(time.getTime() + 2000);
    expect(timer.value.origin.case).toBe("createTimer");

    // Not fired yet: another turn (an unrelated event) leaves the workflow waiting, with no new action.
    const past = [...begin(name, time), ...recordActions(t1.actions, time.getTime())];
    const waiting = await turn(reg, past, [h.workflowStarted(new Date(time.getTime() + 1000)), h.eventRaised("noise")]);
    expect(kinds(waiting)).toEqual([]);

    const fired = new Date(fireAt);
    const out = succeeded(await turn(reg, past, [h.workflowStarted(fired), h.timerFired(1, fired)]));
    expect(out).toBe(fired.toISOString());
  });

  it("clearTimeout cancels the callback; the durable timer is still created and its firing ignored", async () => {
    const name = unique("cleartimeout");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          let fired = false;
          const handle = setTimeout(() => {
            fired = true;
          }, 1000);
          clearTimeout(handle);
          await ctx.sleep(3);
          return fired;
        },
        { sandboxMode: "best_effort" },
      ),
    );
    const t1 = await turn(reg, [], begin(name));
    expect(kinds(t1)).toEqual(["createTimer", "createTimer"]);
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    const out = succeeded(
      await turn(reg, past, [h.workflowStarted(at(3)), h.timerFired(1, at(1)), h.timerFired(2, at(3))]),
    );
    expect(out).toBe(false);
  });

  it("setTimeout callbacks that are not awaited run when their durable timer fires", async () => {
    const name = unique("callback");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          const log: string[] = [];
          setTimeout(() => log.push(`cb at ${new Date().toISOString()}`), 1000);
          await ctx.sleep(2);
          log.push(`slept at ${ctx.now().toISOString()}`);
          return log;
        },
        { sandboxMode: "best_effort" },
      ),
    );
    const t1 = await turn(reg, [], begin(name));
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    const out = succeeded(
      await turn(reg, past, [
        h.workflowStarted(at(1)),
        h.timerFired(1, at(1)),
        h.workflowStarted(at(2)),
        h.timerFired(2, at(2)),
      ]),
    );
    expect(out).toEqual([`cb at ${at(1).toISOString()}`, `slept at ${at(2).toISOString()}`]);
  });

  it("warns once per workflow and call, however many turns replay the call", async () => {
    const name = unique("warn-once");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          Date.now();
          Math.random();
          await ctx.sleep(1);
          return [Date.now(), Math.random()];
        },
        { sandboxMode: "best_effort" },
      ),
    );
    const t1 = await turn(reg, [], begin(name));
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    for (let i = 0; i < 3; i++) await turn(reg, past, [h.workflowStarted(at(1)), h.timerFired(1, at(1))]);
    await flushTicks();
    const mine = warnings.filter((w) => w.workflowName === name);
    expect(mine.map((w) => w.call)).toEqual(["Date.now()", "Math.random()"]);
    for (const w of mine) expect(w).toBeInstanceOf(NonDeterminismWarning);
  });

  it("a foreign await still fails the turn, and the code that resumes later runs outside the sandbox", async () => {
    const name = unique("foreign");
    let late: ReturnType<typeof probe> | undefined;
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async () => {
          await fs.promises.readFile(THIS_FILE);
          late = probe();
          return "never";
        },
        { sandboxMode: "best_effort" },
      ),
    );
    const details = failed(await turn(reg, [], begin(name)));
    expect(details?.errorType).toBe("ForeignAwaitError");
    for (let i = 0; i < 200 && late === undefined; i++) await new Promise((r) => realSetTimeout(r, 10));
    expect(late).toEqual({ date: true, now: true, random: true, sandbox: "none" });
  });
});

describe("strict: each violation fails the workflow with SandboxViolationError", () => {
  const violations: [string, () => unknown][] = [
    ["Date.now()", () => Date.now()],
    ["new Date()", () => new Date()],
    ["Math.random()", () => Math.random()],
    ["crypto.randomUUID()", () => crypto.randomUUID()],
    ["crypto.getRandomValues()", () => crypto.getRandomValues(new Uint8Array(4))],
    ["performance.now()", () => performance.now()],
    ["setTimeout()", () => setTimeout(() => {}, 10)],
    ["setInterval()", () => setInterval(() => {}, 10)],
    ["setImmediate()", () => setImmediate(() => {})],
    ["fetch()", () => fetch("http://127.0.0.1:9/").catch(() => {})],
    ["fs.readFileSync()", () => readFileSync(THIS_FILE)],
    ["fs.readFileSync()", () => fs.readFileSync(THIS_FILE)],
    ["fs/promises.readFile()", () => fs.promises.readFile(THIS_FILE).catch(() => {})],
    ["net.connect()", () => net.connect(9, "127.0.0.1").on("error", () => {})],
    ["http.request()", () => http.request("http://127.0.0.1:9/").on("error", () => {})],
    ["dns.lookup()", () => dns.lookup("localhost", () => {})],
    ["child_process.execSync()", () => childProcess.execSync("true")],
  ];

  // Node code mostly takes randomness and time from node:crypto and process, not from the web globals.
  const nodeSources: [string, () => unknown][] = [
    ["randomUUID() from node:crypto", () => nodeCrypto.randomUUID()],
    ["randomBytes() from node:crypto", () => nodeCrypto.randomBytes(8)],
    ["randomInt() from node:crypto", () => nodeCrypto.randomInt(100)],
    ["process.hrtime.bigint()", () => process.hrtime.bigint()],
  ];

  it.each(nodeSources)("%s is refused too", async (_label, violate) => {
    const name = unique("strict-node");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async () => {
          violate();
          return "done";
        },
        { sandboxMode: "strict" },
      ),
    );
    expect(failed(await turn(reg, [], begin(name)))?.errorType).toBe("SandboxViolationError");
  });

  it.each(violations)("%s (on the first turn)", async (call, violate) => {
    const name = unique("strict");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async () => {
          violate();
          return "done";
        },
        { sandboxMode: "strict" },
      ),
    );
    const details = failed(await turn(reg, [], begin(name)));
    expect(details?.errorType).toBe("SandboxViolationError");
    expect(details?.errorMessage).toContain(`${call} is not allowed in a strict-mode workflow`);
  });

  it("a violation after an await fails that later turn; the turns before it were clean", async () => {
    const name = unique("strict-later");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          const a = await ctx.callActivity<string>("a");
          return `${a}:${Math.random()}`;
        },
        { sandboxMode: "strict" },
      ),
    );
    const t1 = await turn(reg, [], begin(name));
    expect(kinds(t1)).toEqual(["scheduleTask"]);
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    const details = failed(await turn(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(1, '"A"')]));
    expect(details?.errorType).toBe("SandboxViolationError");
    expect(details?.errorMessage).toMatch(/Math\.random\(\).*ctx\.random\(\)/);
  });

  it("a workflow that keeps to the ctx API runs normally in strict, turn after turn", async () => {
    const name = unique("strict-clean");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          const r = ctx.random();
          const id = ctx.uuid4();
          const [a, b] = await ctx.whenAll([ctx.callActivity<number>("a"), ctx.callActivity<number>("b")]);
          await ctx.sleep(1);
          return { r, id, sum: a + b, at: ctx.now().toISOString(), d: new Date(0).toISOString() };
        },
        { sandboxMode: "strict" },
      ),
    );
    const t1 = await turn(reg, [], begin(name));
    expect(kinds(t1)).toEqual(["scheduleTask", "scheduleTask"]);
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    const t2 = await turn(reg, past, [h.workflowStarted(at(1)), h.taskCompleted(2, "2"), h.taskCompleted(1, "1")]);
    expect(kinds(t2)).toEqual(["createTimer"]);
    const past2 = [
      ...past,
      h.workflowStarted(at(1)),
      h.taskCompleted(2, "2"),
      h.taskCompleted(1, "1"),
      ...recordActions(t2.actions, at(1).getTime()),
    ];
    const out = succeeded(await turn(reg, past2, [h.workflowStarted(at(2)), h.timerFired(3, at(2))])) as Record<
      string,
      unknown
    >;
    expect(out["sum"]).toBe(3);
    expect(out["r"]).toBe(seededRandom(`${INSTANCE}:`)());
    expect(out["at"]).toBe(at(2).toISOString());
    expect(out["d"]).toBe(new Date(0).toISOString());
  });

  // The worker passes its logger (the user's) into runWorkflowTurn. Loggers stamp entries with the clock (pino:
  // Date.now(), winston: new Date()), and a workflow logging through ctx.logger is the documented, replay-safe way to
  // log; the logger is SDK infrastructure, not workflow code. Observed: the logger's own `new Date()` is taken for a
  // violation of the workflow, which FAILS ("new Date() is not allowed in a strict-mode workflow").
  it("a workflow that logs through ctx.logger completes even when the logger reads the clock", async () => {
    const name = unique("strict-logger");
    const lines: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: (message: string) => lines.push(`${new Date().toISOString()} ${message}`),
      warn: () => {},
      error: () => {},
    };
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          ctx.logger.info("started");
          return "ok";
        },
        { sandboxMode: "strict" },
      ),
    );
    const before = realNow();
    expect(succeeded(await turn(reg, [], begin(name), { logger }))).toBe("ok");
    expect(lines).toHaveLength(1);
    // And the logger got the wall clock, not the workflow's 2020 clock.
    expect(new RealDate((lines[0] ?? "").split(" ")[0] ?? "").getTime()).toBeGreaterThanOrEqual(before - 1000);
  });

  it("best_effort: the logger's clock is the wall clock, and the workflow is not blamed for the logger's Date", async () => {
    const name = unique("be-logger");
    const stamps: number[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => stamps.push(Date.now()),
      warn: () => {},
      error: () => {},
    };
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(
        name,
        async (ctx: AsyncWorkflowContext) => {
          ctx.logger.info("started");
          return "ok";
        },
        { sandboxMode: "best_effort" },
      ),
    );
    const before = realNow();
    expect(succeeded(await turn(reg, [], begin(name), { logger }))).toBe("ok");
    await flushTicks();
    expect(stamps[0]).toBeGreaterThanOrEqual(before);
    expect(warnings.filter((w) => w.workflowName === name).map((w) => w.call)).toEqual([]);
  });
});

describe("turning detection off", () => {
  const seeing = (name: string, sandboxMode: SandboxMode) =>
    new Registry().addWorkflow(defineAsyncWorkflow(name, async () => [probe(), Math.random()], { sandboxMode }));

  it.each(["strict", "best_effort"] as const)(
    "TurnOptions.disableDetection: a %s workflow runs unpatched",
    async (mode) => {
      const name = unique("disabled");
      const out = succeeded(await turn(seeing(name, mode), [], begin(name), { disableDetection: true })) as unknown[];
      expect(out[0]).toEqual({ date: true, now: true, random: true, sandbox: "none" });
    },
  );

  it.each(["true", "1", "yes", "ON"])("DAPR_WF_DISABLE_DETECTION=%s turns every sandbox off", async (value) => {
    const before = process.env["DAPR_WF_DISABLE_DETECTION"];
    process.env["DAPR_WF_DISABLE_DETECTION"] = value;
    try {
      const name = unique("env");
      const out = succeeded(await turn(seeing(name, "strict"), [], begin(name))) as unknown[];
      expect(out[0]).toEqual({ date: true, now: true, random: true, sandbox: "none" });
    } finally {
      if (before === undefined) delete process.env["DAPR_WF_DISABLE_DETECTION"];
      else process.env["DAPR_WF_DISABLE_DETECTION"] = before;
    }
  });

  it("DAPR_WF_DISABLE_DETECTION=false keeps the sandbox; disableDetection: false overrides the variable", async () => {
    const before = process.env["DAPR_WF_DISABLE_DETECTION"];
    try {
      process.env["DAPR_WF_DISABLE_DETECTION"] = "false";
      const a = unique("env-false");
      expect(failed(await turn(seeing(a, "strict"), [], begin(a)))?.errorType).toBe("SandboxViolationError");
      process.env["DAPR_WF_DISABLE_DETECTION"] = "true";
      const b = unique("env-override");
      const details = failed(await turn(seeing(b, "strict"), [], begin(b), { disableDetection: false }));
      expect(details?.errorType).toBe("SandboxViolationError");
    } finally {
      if (before === undefined) delete process.env["DAPR_WF_DISABLE_DETECTION"];
      else process.env["DAPR_WF_DISABLE_DETECTION"] = before;
    }
  });
});

describe("generator workflows that opt in", () => {
  function* clock(ctx: WorkflowContext): WorkflowGenerator {
    const first = [Date.now(), Math.random()];
    yield ctx.createTimer(1);
    return [first, Date.now(), new Date().toISOString()];
  }
  function* random(ctx: WorkflowContext): WorkflowGenerator {
    const r = Math.random();
    yield ctx.createTimer(1);
    return r;
  }

  it("toRegistrable(gen, { sandboxMode }) registered with that mode (the worker's path): best_effort replaces", async () => {
    const name = unique("gen-be");
    const options = { name, sandboxMode: "best_effort" as const };
    const reg = new Registry().addWorkflow(toRegistrable(clock, options), options);
    const t1 = await turn(reg, [], begin(name));
    expect(kinds(t1)).toEqual(["createTimer"]);
    const past = [...begin(name), ...recordActions(t1.actions, START.getTime())];
    const newEvents = [h.workflowStarted(at(1)), h.timerFired(1, at(1))];
    const out = succeeded(await turn(reg, past, newEvents));
    expect(out).toEqual([[START.getTime(), seededRandom(`${INSTANCE}:`)()], at(1).getTime(), at(1).toISOString()]);
    expect(succeeded(await turn(reg, [], [...past, ...newEvents]))).toEqual(out);
  });

  it("toRegistrable(gen, { sandboxMode: 'strict' }) registered with that mode: a violation fails the workflow", async () => {
    const name = unique("gen-strict");
    const options = { name, sandboxMode: "strict" as const };
    const reg = new Registry().addWorkflow(toRegistrable(random, options), options);
    const details = failed(await turn(reg, [], begin(name)));
    expect(details?.errorType).toBe("SandboxViolationError");
    expect(details?.errorMessage).toContain("Math.random()");
  });

  // The definition toRegistrable returns does not carry the mode it was given, so registering it alone (without
  // repeating the mode in the registration) runs its turns with no sandbox at all.
  it.each([
    ["a generator", random as unknown as () => unknown],
    ["an async function", (async () => Math.random()) as unknown as () => unknown],
  ])("toRegistrable(%s, { sandboxMode: 'strict' }) alone is a strict registration", async (_l, fn) => {
    const name = unique("toreg-alone");
    const reg = new Registry().addWorkflow(toRegistrable(fn as never, { name, sandboxMode: "strict" }));
    expect(failed(await turn(reg, [], begin(name)))?.errorType).toBe("SandboxViolationError");
  });

  // The Registry's documented sandboxMode option opens a scope for the turn, but only toRegistrable's wrapper binds
  // it to the workflow, so a generator registered straight on a Registry runs in an unbound scope: nothing is checked.
  it.each([
    ["a generator function", () => random],
    ["a defineWorkflow definition", () => defineWorkflow("x", random)],
  ])("Registry.addWorkflow(%s, { sandboxMode: 'strict' }) is strict", async (_l, make) => {
    const name = unique("reg-gen");
    const reg = new Registry().addWorkflow(make() as never, { name, sandboxMode: "strict" });
    expect(failed(await turn(reg, [], begin(name)))?.errorType).toBe("SandboxViolationError");
  });
});

describe("other entry points honour the sandbox", () => {
  // toRegistrable turns an `async function*` into a plain async run function, without the sandbox binding that
  // generator and async workflows get: the worker opens the registration's scope, but nothing is ever checked.
  it("an async generator workflow (async function*) registered with sandboxMode 'strict' (the worker's path)", async () => {
    const name = unique("async-gen");
    async function* flow(ctx: WorkflowContext): AsyncGenerator<unknown, unknown, unknown> {
      const r = Math.random();
      yield ctx.createTimer(1);
      return r;
    }
    const options = { name, sandboxMode: "strict" as const };
    const reg = new Registry().addWorkflow(toRegistrable(flow as never, options), options);
    expect(failed(await turn(reg, [], begin(name)))?.errorType).toBe("SandboxViolationError");
  });

  // replay() (run in CI against production histories) replays a workflow without its sandbox, so a best_effort
  // workflow's Math.random() / Date.now() are real again (the code takes another path) and its setTimeout is a real
  // timer (a foreign await): false divergences for a workflow that runs fine in production.
  it("replay() of a best_effort workflow's history reports ok with the recorded outcome", async () => {
    const name = unique("replay-be");
    const def = defineAsyncWorkflow(
      name,
      async (ctx: AsyncWorkflowContext) => {
        const pick = Math.random() < 2 ? "a" : "b";
        const a = await ctx.callActivity<string>(`${pick}-${Math.floor(Math.random() * 1000)}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        return [a, Date.now()];
      },
      { sandboxMode: "best_effort" },
    );
    const reg = new Registry().addWorkflow(def);
    const sim = await simulate({
      registry: reg,
      workflow: name,
      instanceId: INSTANCE,
      activity: (call) => ({ result: JSON.stringify(call.name) }),
    });
    expect(sim.state).toBe("completed");
    const report = await replay(sim.history, def);
    expect(notOriginal()).toEqual([]);
    expect({ ok: report.ok, divergences: report.divergences.map((d) => d.message), result: report.result }).toEqual({
      ok: true,
      divergences: [],
      result: sim.completion?.result,
    });
  });

  it("replay() of a strict workflow's history still refuses what strict refuses", async () => {
    const name = unique("replay-strict");
    const def = defineAsyncWorkflow(name, async (ctx: AsyncWorkflowContext) => ctx.now().getTime(), {
      sandboxMode: "strict",
    });
    const sim = await simulate({ registry: new Registry().addWorkflow(def), workflow: name, instanceId: INSTANCE });
    // The same code, now reading the wall clock: replay must fail it the way a strict turn would.
    const changed = defineAsyncWorkflow(name, async () => Date.now(), { sandboxMode: "strict" });
    const report = await replay(sim.history, changed);
    expect(report.ok).toBe(false);
    expect(report.status).toBe(OrchestrationStatus.FAILED);
  });
});

describe("after every turn the globals are the originals", () => {
  it("many sandboxed and unsandboxed turns at once, all modes mixed, complete correctly and leave nothing patched", async () => {
    const be = unique("mix-be");
    const st = unique("mix-strict");
    const stBad = unique("mix-strict-bad");
    const off = unique("mix-off");
    const gen = unique("mix-gen");
    const reg = new Registry()
      .addWorkflow(
        defineAsyncWorkflow(
          be,
          async (ctx: AsyncWorkflowContext) => {
            const t = Date.now();
            await new Promise((r) => setTimeout(r, 1000));
            return [t, Date.now(), Math.random() === ctx.random() ? "same" : "stream"];
          },
          { sandboxMode: "best_effort" },
        ),
      )
      .addWorkflow(
        defineAsyncWorkflow(st, async (ctx: AsyncWorkflowContext) => ctx.now().getTime(), { sandboxMode: "strict" }),
      )
      .addWorkflow(defineAsyncWorkflow(stBad, async () => Date.now(), { sandboxMode: "strict" }))
      .addWorkflow(defineAsyncWorkflow(off, async () => probe()))
      .addWorkflow(
        toRegistrable(
          function* g2(ctx: WorkflowContext): WorkflowGenerator {
            yield ctx.createTimer(1);
            return Date.now();
          },
          { name: gen, sandboxMode: "best_effort" },
        ),
        { name: gen, sandboxMode: "best_effort" },
      );

    const jobs: Promise<[string, unknown]>[] = [];
    for (let i = 0; i < 40; i++) {
      const beT1 = runWorkflowTurn({ instanceId: INSTANCE, pastEvents: [], newEvents: begin(be) }, reg);
      jobs.push(beT1.then((r) => ["be", kinds(r)]));
      const past = [...begin(be), h.timerCreated(1, at(1))];
      jobs.push(
        runWorkflowTurn(
          { instanceId: INSTANCE, pastEvents: past, newEvents: [h.workflowStarted(at(1)), h.timerFired(1, at(1))] },
          reg,
        ).then((r) => ["be2", completion(r).result]),
      );
      jobs.push(
        runWorkflowTurn({ instanceId: INSTANCE, pastEvents: [], newEvents: begin(st) }, reg).then((r) => [
          "st",
          completion(r).result,
        ]),
      );
      jobs.push(
        runWorkflowTurn({ instanceId: INSTANCE, pastEvents: [], newEvents: begin(stBad) }, reg).then((r) => [
          "stBad",
          completion(r).failureDetails?.errorType,
        ]),
      );
      jobs.push(
        runWorkflowTurn({ instanceId: INSTANCE, pastEvents: [], newEvents: begin(off) }, reg).then((r) => [
          "off",
          completion(r).result,
        ]),
      );
      const gpast = [...begin(gen), h.timerCreated(1, at(1))];
      jobs.push(
        runWorkflowTurn(
          { instanceId: INSTANCE, pastEvents: gpast, newEvents: [h.workflowStarted(at(1)), h.timerFired(1, at(1))] },
          reg,
        ).then((r) => ["gen", completion(r).result]),
      );
    }
    const results = await Promise.all(jobs);
    expect(activeSandbox()).toBeUndefined();
    expect(notOriginal()).toEqual([]);
    const distinct = (tag: string) => [
      ...new Set(results.filter(([t]) => t === tag).map(([, v]) => JSON.stringify(v))),
    ];
    expect(distinct("be")).toEqual([JSON.stringify(["createTimer"])]);
    expect(distinct("be2")).toEqual([JSON.stringify(JSON.stringify([START.getTime(), at(1).getTime(), "stream"]))]);
    expect(distinct("st")).toEqual([JSON.stringify(String(START.getTime()))]);
    expect(distinct("stBad")).toEqual([JSON.stringify("SandboxViolationError")]);
    expect(distinct("off")).toEqual([
      JSON.stringify(JSON.stringify({ date: true, now: true, random: true, sandbox: "none" })),
    ]);
    expect(distinct("gen")).toEqual([JSON.stringify(String(at(1).getTime()))]);
  });

  it("a turn that throws (a request the engine cannot read) restores too, and later sandboxed turns still run", async () => {
    const name = unique("bad-request");
    const reg = new Registry().addWorkflow(
      defineAsyncWorkflow(name, async () => Date.now(), { sandboxMode: "strict" }),
    );
    await expect(
      runWorkflowTurn(
        { instanceId: INSTANCE, pastEvents: begin(name), newEvents: [], cachedHistory: { eventCount: 2 } },
        reg,
      ),
    ).rejects.toThrow();
    expect(notOriginal()).toEqual([]);
    expect(failed(await turn(reg, [], begin(name)))?.errorType).toBe("SandboxViolationError");
  });
});
