// The sample apps (apps/*) end to end: each app's `start` (`node src/main.ts` in its directory, a child process
// stopped by PID) must exit 0 with a final `RESULT <json>` line on stdout that says what the sample demonstrates.
// Four ways: the embedded sidecar the app starts itself, in memory and on a SQLite file, and each harness sidecar
// target reached through DAPR_GRPC_ENDPOINT. The apps import the built packages (`pnpm build` first).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { describeSidecars } from "./harness.js";

const APPS = fileURLToPath(new URL("../../apps/", import.meta.url));
/** An app that has not exited by then is killed (by PID) and fails its test. */
const RUN_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 180_000;

// biome-ignore lint/suspicious/noExplicitAny: RESULT is JSON; each check asserts its shape.
type Json = any;

interface AppCase {
  readonly app: string;
  /** What this run shows (the test name). */
  readonly shows: string;
  readonly env?: NodeJS.ProcessEnv;
  check(result: Json, stdout: string): void;
}

const GREETINGS = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"];
const WORDS = ["apple", "banana", "cherry", "date", "elderberry"];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const CASES: readonly AppCase[] = [
  {
    app: "activity-sequence",
    shows: "three activities in a chain",
    check: (result, stdout) => {
      expect(result).toEqual(GREETINGS);
      expect(stdout.match(/… activity hello done/g)).toHaveLength(3);
    },
  },
  {
    app: "fan-out-fan-in",
    shows: "parallel activities, results in input order",
    check: (result) => {
      expect(result).toEqual({ workItems: WORDS, results: [5, 6, 6, 4, 10], total: 31 });
    },
  },
  {
    app: "human-interaction",
    shows: "the approval event beats the timer",
    env: { APPROVAL_TIMEOUT: "60", APPROVAL_DELAY: "0.2" },
    check: (result, stdout) => {
      expect(result).toEqual({ orderId: "order-1", status: "approved", approver: "Alice" });
      expect(stdout).toContain("status: waiting for approval");
      expect(stdout).toContain("status: approved by Alice");
    },
  },
  {
    app: "human-interaction",
    shows: "the timer beats a missing approval (APPROVE=0)",
    env: { APPROVE: "0", APPROVAL_TIMEOUT: "2" },
    check: (result, stdout) => {
      expect(result).toEqual({ orderId: "order-1", status: "canceled", reason: "approval timed out" });
      expect(stdout).not.toContain("place_order done");
    },
  },
  {
    app: "monitor",
    shows: "a continue-as-new loop that alerts once and ends after N checks",
    env: { MONITOR_CHECKS: "3", MONITOR_INTERVAL: "1" },
    check: (result, stdout) => {
      expect(result).toEqual({
        jobId: "nightly-backup",
        checks: 3,
        statuses: ["healthy", "unhealthy", "healthy"],
        alerts: 1,
      });
      expect(stdout.match(/… activity check_status done/g)).toHaveLength(3);
      expect(stdout.match(/… activity send_alert done/g)).toHaveLength(1);
    },
  },
  {
    app: "saga",
    shows: "compensation in reverse order when the last step fails",
    check: (result, stdout) => {
      expect(result).toEqual({
        status: "failed",
        error: expect.stringContaining("ship_order failed: service unavailable"),
        completed: ["reserved espresso machine", "charged 499"],
        compensated: ["refund_payment", "release_inventory"],
      });
      expect(stdout.indexOf("refund_payment done")).toBeLessThan(stdout.indexOf("release_inventory done"));
      expect(stdout).not.toContain("cancel_shipment");
    },
  },
  {
    app: "saga",
    shows: "no compensation when every step succeeds (FAIL_AT=none)",
    env: { FAIL_AT: "none" },
    check: (result) => {
      expect(result).toEqual({
        status: "success",
        completed: ["reserved espresso machine", "charged 499", "shipped order-42"],
      });
    },
  },
  {
    app: "child-workflows",
    shows: "one child workflow per order, totals in the parent",
    check: (result) => {
      expect(result).toMatchObject({ processed: 3, total: 290 });
      expect(result.results.map((r: Json) => [r.orderId, r.charged])).toEqual([
        [1, 90],
        [2, 180],
        [3, 20],
      ]);
      for (const r of result.results)
        expect(r.processedBy).toMatch(new RegExp(`^process_orders-.+:order-${r.orderId}$`));
    },
  },
  {
    app: "task-processing",
    shows: "a retried assignment, then the task_completed event",
    env: { COMPLETE_DELAY: "0.2" },
    check: (result, stdout) => {
      expect(result).toEqual({ taskId: "task-123", status: "completed", completedAt: expect.stringMatching(ISO) });
      const failed = stdout.indexOf("assign_task failed: assignment service unavailable (attempt 1)");
      expect(failed).toBeGreaterThanOrEqual(0);
      expect(
        stdout.indexOf('assign_task done → {"assigned":true,"assignee":"alice@example.com","attempt":2}'),
      ).toBeGreaterThan(failed);
      expect(stdout).toContain("send_completion_notification done");
    },
  },
  {
    app: "task-processing",
    shows: "the timeout path (COMPLETE=0, short TASK_TIMEOUT)",
    env: { COMPLETE: "0", TASK_TIMEOUT: "2" },
    check: (result, stdout) => {
      expect(result).toEqual({ taskId: "task-123", status: "timed_out", completedAt: "" });
      expect(stdout).toContain("notify_timeout done");
    },
  },
  {
    app: "async-activity-sequence",
    shows: "an awaited chain with a durable sleep",
    check: (result) => {
      expect(result).toEqual(GREETINGS);
    },
  },
  {
    app: "async-fan-out-fan-in",
    shows: "whenAll and gather",
    check: (result) => {
      expect(result).toEqual({
        workItems: WORDS,
        results: [5, 6, 6, 4, 10],
        total: 31,
        shortest: "date has 4 letters",
        longest: "ELDERBERRY HAS 10 LETTERS!",
      });
    },
  },
  {
    app: "async-enhanced-features",
    shows: "withTimeout, whenAnyWithResult, deterministic helpers, metadata, gather, cleanup",
    // The slow activity works well past the 1 s timeout, so the timer wins even on a loaded machine.
    env: { TIMEOUT: "1", SLOW_SECONDS: "5" },
    check: (result) => {
      expect(result).toMatchObject({
        fast: "finished after 0.1 s",
        slow: "timed out: callActivity('slow_activity') timed out after 1s",
        gathered: ["ok", expect.stringMatching(/^error: .*flaky service is down/)],
        customStatus: "cleaned up",
      });
      const { winnerIndex, winner, quote } = result.race;
      expect(winner).toBe(["provider_a", "provider_b", "provider_c"][winnerIndex]);
      expect(quote).toBe(`${winner}: 42 EUR`);
      expect(result.deterministic.now).toMatch(ISO);
      expect(result.deterministic.random).toBeGreaterThanOrEqual(0);
      expect(result.deterministic.random).toBeLessThan(1);
      expect(result.deterministic.uuid).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(result.metadata).toEqual({ tenant: "acme", requestId: result.deterministic.uuid });
      expect(result.operations).toBeGreaterThan(0);
    },
  },
  {
    app: "async-non-determinism",
    shows: "best_effort warns and completes, strict and a foreign await fail",
    check: (result, stdout) => {
      expect(result.bestEffort).toMatchObject({
        status: "COMPLETED",
        output: { greeting: `Hello player ${result.bestEffort.output.roll}!`, rolledAtIsTurnTime: true },
        warnings: ["new Date()", "Math.random()", "crypto.randomUUID()"],
      });
      expect(result.bestEffort.output.roll).toBeGreaterThanOrEqual(1);
      expect(result.bestEffort.output.roll).toBeLessThanOrEqual(6);
      expect(result.strict).toEqual({
        status: "FAILED",
        errorType: "SandboxViolationError",
        message: expect.stringContaining("new Date() is not allowed in a strict-mode workflow"),
      });
      expect(result.foreignAwait).toEqual({
        status: "FAILED",
        errorType: "ForeignAwaitError",
        message: expect.stringMatching(/async-non-determinism\/src\/main\.ts:\d+:\d+/),
      });
      expect(stdout).toContain("⚠ Workflow 'dice_best_effort' called Math.random()");
    },
  },
];

interface AppRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const children = new Set<ChildProcess>();
afterAll(() => {
  // Whatever an aborted test left running, by PID (not afterEach: the tests of a concurrent suite overlap).
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
});

/** The environment without anything that would point the app at a sidecar or change how Node runs it. */
function appEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(DAPR_|DURABLETASK_|DT_APP_)/.test(name) || name === "NODE_OPTIONS") delete env[name];
  }
  return { ...env, ...extra };
}

/** `node src/main.ts` in apps/<app>; resolves when it exits (killed by PID after RUN_TIMEOUT_MS). */
function spawnApp(app: string, env: NodeJS.ProcessEnv): Promise<AppRun> {
  const child = spawn(process.execPath, ["src/main.ts"], {
    cwd: join(APPS, app),
    env: appEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  return new Promise<AppRun>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `${app} did not exit within ${RUN_TIMEOUT_MS} ms\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`,
        ),
      );
    }, RUN_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs the case's app and checks its exit code, its final RESULT line and its progress lines. */
async function runCase(c: AppCase, env: NodeJS.ProcessEnv): Promise<AppRun> {
  const run = await spawnApp(c.app, { ...c.env, ...env });
  const lines = run.stdout.trimEnd().split("\n");
  const last = lines.at(-1) ?? "";
  const context = `${c.app} printed:\n${run.stdout}\n--- stderr ---\n${run.stderr}`;
  expect({ code: run.code, signal: run.signal, last: last.slice(0, 7) }, context).toEqual({
    code: 0,
    signal: null,
    last: "RESULT ",
  });
  expect(
    lines.some((line) => line.startsWith("▶ scheduled ")),
    context,
  ).toBe(true);
  c.check(JSON.parse(last.slice("RESULT ".length)), run.stdout);
  return run;
}

describe.concurrent("sample apps [their own embedded sidecar, in memory]", () => {
  for (const c of CASES) {
    it(`${c.app}: ${c.shows}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const run = await runCase(c, { DT_APP_DB: ":memory:" });
      expect(run.stdout.split("\n")[0]).toMatch(/^● embedded sidecar on 127\.0\.0\.1:\d+ \(in memory\)$/);
    });
  }
});

describe.concurrent("sample apps [their own embedded sidecar, SQLite]", () => {
  const dir = mkdtempSync(join(tmpdir(), "dt-apps-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  for (const [i, c] of CASES.entries()) {
    it(`${c.app}: ${c.shows}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const db = join(dir, `${c.app}-${i}.sqlite`);
      const run = await runCase(c, { DT_APP_DB: db });
      expect(run.stdout.split("\n")[0]).toMatch(/^● embedded sidecar on 127\.0\.0\.1:\d+ \(SQLite .+\.sqlite\)$/);
      expect(existsSync(db) && statSync(db).size > 0).toBe(true);
    });
  }
});

// One app at a time: a sidecar hands any work item to any connected worker, and the apps' workers each know only
// their own app's activities.
describeSidecars("sample apps through DAPR_GRPC_ENDPOINT", (sidecar) => {
  for (const c of CASES) {
    it(`${c.app}: ${c.shows}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { address } = sidecar();
      const run = await runCase(c, { DAPR_GRPC_ENDPOINT: address });
      expect(run.stdout.split("\n")[0]).toBe(`● sidecar at ${address} (from the environment)`);
    });
  }
});
