// The port test: dapr/js-sdk's workflow examples, with only their import lines changed to `@dt/dapr`
// (src/dapr-port/*.ts), run as their own Node processes against each sidecar target; then the same API, written the
// @dt/dapr way (generator workflows, the management additions), against the same targets.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DaprWorkflowClient,
  InvalidArgumentError,
  RetryPolicy,
  SidecarError,
  TaskFailedError,
  type TWorkflow,
  type WorkflowActivityContext,
  WorkflowAlreadyExistsError,
  type WorkflowContext,
  type WorkflowGenerator,
  WorkflowRuntime,
  WorkflowRuntimeStatus,
  WorkflowTimeoutError,
} from "@dt/dapr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeSidecars, type RunningSidecar } from "./harness.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const PORTS = join(HERE, "dapr-port");
const E2E = join(HERE, "..");
const PORT_TIMEOUT_MS = 150_000;

interface PortRun {
  readonly exitCode: number | null;
  /** stdout and stderr, interleaved, with CRs (a terminal's line ends) removed. */
  readonly output: string;
}

/**
 * Runs `dapr-port/<example>.ts` in its own Node process (type stripping), its `@dt/dapr` pointed at `address`
 * (dapr-port/register.ts). With `terminalInput` it runs under a pseudo-terminal (util-linux `script`), because the
 * example reads its answers with readline-sync, which reads the terminal; the input is typed ahead.
 */
function runPort(example: string, address: string, terminalInput?: string): Promise<PortRun> {
  const node = [process.execPath, "--import", join(PORTS, "register.ts"), join(PORTS, `${example}.ts`), address];
  const child: ChildProcess =
    terminalInput === undefined
      ? spawn(node[0] as string, node.slice(1), { cwd: E2E, stdio: ["ignore", "pipe", "pipe"] })
      : spawn("script", ["-q", "-e", "-c", node.map(shellQuote).join(" "), "/dev/null"], {
          cwd: E2E,
          stdio: ["pipe", "pipe", "pipe"],
        });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  if (terminalInput !== undefined) child.stdin?.end(terminalInput);
  return new Promise((resolve) => {
    // A hung example is ended by its PID (script passes the signal on to the example's process).
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
    }, PORT_TIMEOUT_MS - 15_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, output: output.replaceAll("\r", "") });
    });
  });
}

function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The value printed after `label`, up to the end of its line. */
function printed(run: PortRun, label: string): string | undefined {
  for (const line of run.output.split("\n")) {
    const at = line.indexOf(label);
    if (at >= 0) return line.slice(at + label.length).trim();
  }
  return undefined;
}

function scriptUnavailable(): string | undefined {
  const probe = spawnSync("script", ["-q", "-e", "-c", "true", "/dev/null"], { stdio: "ignore", timeout: 10_000 });
  if (probe.error !== undefined)
    return `no pseudo-terminal runner: \`script\` (util-linux) cannot run (${probe.error.message})`;
  return probe.status === 0 ? undefined : `\`script -c true\` exited with ${probe.status}`;
}

describeSidecars("dapr port: dapr/js-sdk examples/workflow, imports changed only", (sidecar) => {
  it(
    "activity-sequence: the chain returns the three greetings",
    async () => {
      const run = await runPort("activity-sequence", sidecar().address);
      expect(run.exitCode, run.output).toBe(0);
      expect(run.output).toContain("Workflow runtime started successfully");
      expect(printed(run, "Orchestration completed! Result:"), run.output).toBe(
        '["Hello Tokyo!","Hello Seattle!","Hello London!"]',
      );
    },
    PORT_TIMEOUT_MS,
  );

  it(
    "fanout-fanin: the sum of every work item's result",
    async () => {
      const run = await runPort("fanout-fanin", sidecar().address);
      expect(run.exitCode, run.output).toBe(0);
      const count = Number(/generating (\d+) work items/.exec(run.output)?.[1]);
      expect(count, run.output).toBeGreaterThanOrEqual(2);
      expect(count).toBeLessThanOrEqual(10);
      const processed = run.output.match(/processing work item: work item \d+/g) ?? [];
      expect(new Set(processed).size, run.output).toBe(count);
      const sum = Number(printed(run, "Orchestration completed! Result:"));
      expect(Number.isInteger(sum), run.output).toBe(true);
      expect(sum).toBeGreaterThanOrEqual(0);
      expect(sum).toBeLessThanOrEqual(10 * count);
    },
    PORT_TIMEOUT_MS,
  );

  it(
    "comprehensive-test: all 29 of its checks pass",
    async () => {
      const run = await runPort("comprehensive-test", sidecar().address);
      expect(run.output).not.toContain("FAIL:");
      expect(run.output).not.toContain("Fatal error");
      expect(run.output).toContain("Results: 29 passed, 0 failed, 29 total");
      expect(run.exitCode, run.output).toBe(0);
    },
    PORT_TIMEOUT_MS,
  );
});

describeSidecars(
  "dapr port: human-interaction (answers typed at a terminal)",
  (sidecar) => {
    it(
      "an order of $2000, approved: the manager's name is the result",
      async () => {
        const run = await runPort("human-interaction", sidecar().address, "2000\nAlice\n60\ny\n");
        expect(run.exitCode, run.output).toBe(0);
        expect(run.output).toContain("Sending approval request for order: MyProduct");
        expect(run.output).toContain("Placing order: MyProduct");
        expect(printed(run, "Orchestration completed! Result:"), run.output).toBe('"Approved by Alice"');
      },
      PORT_TIMEOUT_MS,
    );

    it(
      "an order under $1000 is auto-approved",
      async () => {
        const run = await runPort("human-interaction", sidecar().address, "500\nBob\n30\nn\n");
        expect(run.exitCode, run.output).toBe(0);
        expect(run.output).not.toContain("Sending approval request");
        expect(printed(run, "Orchestration completed! Result:"), run.output).toBe('"Auto-approved"');
      },
      PORT_TIMEOUT_MS,
    );

    // Last in the suite: the instance it leaves behind waits 24 h for its approval.
    it(
      "not approved: waiting for the result times out after the given seconds (+2)",
      async () => {
        const run = await runPort("human-interaction", sidecar().address, "1500\nCarol\n1\nn\n");
        expect(run.exitCode, run.output).toBe(0);
        expect(run.output).toContain("Error scheduling or waiting for orchestration: WorkflowTimeoutError");
        expect(run.output).toContain("WORKFLOW_TIMEOUT");
        expect(run.output).not.toContain("Orchestration completed!");
      },
      PORT_TIMEOUT_MS,
    );
  },
  { requires: scriptUnavailable, requirement: "a pseudo-terminal (util-linux `script`)" },
);

describe("dapr port: type checking", () => {
  it("every port type-checks against @dt/dapr with the examples' own compiler settings", () => {
    // The ports carry `// @ts-nocheck` for this repository's stricter tsconfig; copies without it are checked with
    // examples/workflow/authoring/tsconfig.json's settings (strict, esModuleInterop, skipLibCheck), as ES modules.
    const require = createRequire(import.meta.url);
    const dir = mkdtempSync(join(tmpdir(), "dt-dapr-port-"));
    try {
      const files = ["activity-sequence", "fanout-fanin", "human-interaction", "comprehensive-test"].map((name) => {
        const source = readFileSync(join(PORTS, `${name}.ts`), "utf8");
        expect(source.startsWith("// @ts-nocheck")).toBe(true);
        writeFileSync(join(dir, `${name}.ts`), source.replace(/^\/\/ @ts-nocheck[^\n]*\n/, ""));
        return `${name}.ts`;
      });
      const types = join(E2E, "node_modules", "@types");
      writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "es2020",
            module: "esnext",
            moduleResolution: "bundler",
            strict: true,
            esModuleInterop: true,
            skipLibCheck: true,
            forceConsistentCasingInFileNames: true,
            noEmit: true,
            types: ["node"],
            typeRoots: [types],
            paths: {
              "@dt/dapr": [require.resolve("@dt/dapr").replace(/\.js$/, ".d.ts")],
              "readline-sync": [join(types, "readline-sync", "index.d.ts")],
            },
          },
          files,
        }),
      );
      const tsc = join(dirname(require.resolve("typescript/package.json")), "bin", "tsc");
      const result = spawnSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], {
        encoding: "utf8",
        timeout: 120_000,
      });
      expect(`${result.stdout}${result.stderr}`).toBe("");
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});

// --- The same API written the @dt/dapr way ------------------------------------------------------------------------------

const attempts = new Map<string, number>();

const greet = async (ctx: WorkflowActivityContext, name: string) =>
  `Hello ${name} from ${ctx.getWorkflowInstanceId()}#${ctx.getWorkflowActivityId()}`;

const flaky = (ctx: WorkflowActivityContext, failures: number) => {
  const key = ctx.getTaskExecutionId();
  const attempt = (attempts.get(key) ?? 0) + 1;
  attempts.set(key, attempt);
  if (attempt <= failures) throw new Error(`attempt ${attempt} failed`);
  return attempt;
};

const chain: TWorkflow = function* (ctx: WorkflowContext, names: string[]): WorkflowGenerator {
  const greetings: string[] = [];
  for (const name of names) greetings.push(yield ctx.callActivity(greet, name));
  return { instanceId: ctx.getWorkflowInstanceId(), name: ctx.getWorkflowName(), greetings };
};

const retried: TWorkflow = function* (ctx: WorkflowContext, failures: number): WorkflowGenerator {
  const retryPolicy = new RetryPolicy({ maxNumberOfAttempts: 3, firstRetryIntervalInMilliseconds: 200 });
  return yield ctx.callActivity(flaky, failures, { retryPolicy });
};

// A plain function: a workflow needs no generator when it waits for nothing.
const child: TWorkflow = (ctx: WorkflowContext, name: string) => {
  return { name, instanceId: ctx.getWorkflowInstanceId(), parent: ctx.getParentInstanceId() };
};

const parent: TWorkflow = function* (ctx: WorkflowContext): WorkflowGenerator {
  const id = ctx.getWorkflowInstanceId();
  const named = ctx.callChildWorkflow(child, "named", `${id}-child`);
  const byOptions = ctx.callChildWorkflow("child", "by-options", { instanceId: `${id}-options` });
  const generated = ctx.callChildWorkflow(child, "generated");
  return yield ctx.whenAll([named, byOptions, generated]);
};

const approval: TWorkflow = function* (ctx: WorkflowContext): WorkflowGenerator {
  ctx.setCustomStatus({ stage: "waiting" });
  try {
    const by: { by: string } = yield ctx.waitForExternalEvent("approval", 2);
    return `approved by ${by.by}`;
  } catch (error) {
    if (error instanceof WorkflowTimeoutError) return `timed out (${error.code})`;
    throw error;
  }
};

const counter: TWorkflow = (ctx: WorkflowContext, count: number) => {
  if (count >= 3) return count;
  ctx.continueAsNew(count + 1);
  return undefined;
};

const failing: TWorkflow = function* (ctx: WorkflowContext): WorkflowGenerator {
  return yield ctx.callActivity(flaky, 5, {
    retryPolicy: { maxNumberOfAttempts: 2, firstRetryInterval: { milliseconds: 100 } },
  });
};

const waiter: TWorkflow = function* (ctx: WorkflowContext): WorkflowGenerator {
  return yield ctx.waitForExternalEvent("go");
};

// An async function goes through the runtime's async seam; by default @dt/aio runs it with its own context.
// A plain async workflow gets the Dapr context (positional arguments) and awaits its tasks.
const awaited = async (ctx: { callActivity(name: string, input: string): PromiseLike<string> }) =>
  `awaited: ${await ctx.callActivity("greet", "aio")}`;

describeSidecars("dapr facade: the @dapr/dapr API written with generator workflows", (sidecar) => {
  let runtime: WorkflowRuntime | undefined;
  let client: DaprWorkflowClient | undefined;
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the suite's runtime is not running");
    return value;
  };
  const id = (prefix: string) => `dapr-${prefix}-${randomUUID()}`;
  const hostPort = (s: RunningSidecar) => ({ daprHost: "127.0.0.1", daprPort: String(s.port) });

  beforeAll(async () => {
    runtime = new WorkflowRuntime({ ...hostPort(sidecar()), shutdownTimeoutMs: 3_000 })
      .registerWorkflow(chain)
      .registerWorkflow(retried)
      .registerWorkflow(child)
      .registerWorkflow(parent)
      .registerWorkflow(approval)
      .registerWorkflow(counter)
      .registerWorkflow(failing)
      .registerWorkflow(waiter)
      .registerWorkflowWithName("awaited", awaited)
      .registerActivity(greet)
      .registerActivityWithName("flaky", flaky);
    await runtime.start();
    await runtime.waitForReady(20_000);
    client = new DaprWorkflowClient(hostPort(sidecar()));
  });

  afterAll(async () => {
    await client?.stop();
    await runtime?.shutdown();
  });

  it("a generator chain: positional input, activity context, WorkflowState getters", async () => {
    const instanceId = id("chain");
    expect(await need(client).scheduleNewWorkflow(chain, ["Tokyo", "London"], instanceId)).toBe(instanceId);
    const state = await need(client).waitForWorkflowCompletion(instanceId, undefined, 30);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
    expect(state?.name).toBe("chain");
    expect(state?.instanceId).toBe(instanceId);
    expect(state?.createdAt.getTime()).toBeGreaterThan(0);
    expect(state?.serializedInput).toBe('["Tokyo","London"]');
    expect(state?.output).toEqual({
      instanceId,
      name: "chain",
      greetings: [`Hello Tokyo from ${instanceId}#1`, `Hello London from ${instanceId}#2`],
    });
    expect(JSON.parse(state?.serializedOutput ?? "null")).toEqual(state?.output);
  });

  it("retry policy with Dapr's option names: the third attempt succeeds", async () => {
    const instanceId = await need(client).scheduleNewWorkflow("retried", 2);
    const state = await need(client).waitForWorkflowCompletion(instanceId, true, 30);
    expect(state?.runtimeStatus, state?.workflowFailureDetails?.getErrorMessage()).toBe(
      WorkflowRuntimeStatus.COMPLETED,
    );
    expect(state?.output).toBe(3);
  });

  it("an activity that fails every attempt fails the workflow with the activity's error as the cause", async () => {
    const instanceId = await need(client).scheduleNewWorkflow(failing);
    const state = await need(client).waitForWorkflowCompletion(instanceId);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.FAILED);
    const failure = state?.workflowFailureDetails;
    expect(failure?.getErrorType()).toBe(TaskFailedError.name);
    expect(failure?.getErrorMessage()).toMatch(/Activity 'flaky' \(task #\d+\) failed: attempt 2 failed/);
    expect(failure?.getInnerFailureDetails()?.getErrorMessage()).toBe("attempt 2 failed");
  });

  it("child workflows: instance id as the third argument, in options, or Dapr's default", async () => {
    const instanceId = id("parent");
    await need(client).scheduleNewWorkflow(parent, undefined, instanceId);
    const state = await need(client).waitForWorkflowCompletion(instanceId, true, 30);
    expect(state?.runtimeStatus, state?.workflowFailureDetails?.getErrorMessage()).toBe(
      WorkflowRuntimeStatus.COMPLETED,
    );
    expect(state?.output).toEqual([
      { name: "named", instanceId: `${instanceId}-child`, parent: instanceId },
      { name: "by-options", instanceId: `${instanceId}-options`, parent: instanceId },
      { name: "generated", instanceId: `${instanceId}:0003`, parent: instanceId },
    ]);
  });

  it("external events: raised in time, and a timeout caught in the workflow as WORKFLOW_TIMEOUT", async () => {
    const c = need(client);
    const approved = await c.scheduleNewWorkflow(approval);
    await c.waitForWorkflowStart(approved);
    expect((await c.getWorkflowState(approved, true))?.customStatus).toBe('{"stage":"waiting"}');
    await c.raiseWorkflowEvent(approved, "approval", { by: "Ada" });
    expect((await c.waitForWorkflowCompletion(approved))?.output).toBe("approved by Ada");
    const late = await c.scheduleNewWorkflow(approval);
    expect((await c.waitForWorkflowCompletion(late))?.output).toBe("timed out (WORKFLOW_TIMEOUT)");
  });

  it("continue-as-new from a plain (non-generator) workflow", async () => {
    const instanceId = await need(client).scheduleNewWorkflow(counter, 0);
    const state = await need(client).waitForWorkflowCompletion(instanceId);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
    expect(state?.output).toBe(3);
  });

  it("an async function gets the Dapr context and awaits its tasks", async () => {
    const instanceId = await need(client).scheduleNewWorkflow("awaited");
    const state = await need(client).waitForWorkflowCompletion(instanceId);
    expect(state?.workflowFailureDetails?.getErrorMessage()).toBeUndefined();
    expect(state?.output).toBe(`awaited: Hello aio from ${instanceId}#1`);
  });

  it("suspend, resume, terminate (recursive by default) and purge", async () => {
    const c = need(client);
    const instanceId = await c.scheduleNewWorkflow(waiter, undefined, id("lifecycle"));
    await c.waitForWorkflowStart(instanceId);
    await c.suspendWorkflow(instanceId, "maintenance");
    expect((await c.getWorkflowState(instanceId, false))?.runtimeStatus).toBe(WorkflowRuntimeStatus.SUSPENDED);
    await c.resumeWorkflow(instanceId);
    expect((await c.getWorkflowState(instanceId, false))?.runtimeStatus).toBe(WorkflowRuntimeStatus.RUNNING);
    await c.terminateWorkflow(instanceId, { reason: "test" });
    const state = await c.waitForWorkflowCompletion(instanceId);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.TERMINATED);
    expect(state?.output).toEqual({ reason: "test" });
    expect(await c.purgeWorkflow(instanceId)).toBe(true);
    expect(await c.getWorkflowState(instanceId, true)).toBeUndefined();
  });

  it("unknown instances, duplicate ids and waits that time out, as @dapr/dapr reports them", async () => {
    const c = need(client);
    const unknown = id("unknown");
    expect(await c.getWorkflowState(unknown, true)).toBeUndefined();
    // At once on every sidecar (daprd holds such a wait to its deadline; the client checks existence beside it): a
    // wait for the full 120 s would outlast the test's own timeout.
    expect(await c.waitForWorkflowStart(unknown, true, 120)).toBeUndefined();
    expect(await c.waitForWorkflowCompletion(unknown, true, 120)).toBeUndefined();
    const instanceId = await c.scheduleNewWorkflow(waiter, undefined, id("duplicate"));
    await expect(c.scheduleNewWorkflow(waiter, undefined, instanceId)).rejects.toBeInstanceOf(
      WorkflowAlreadyExistsError,
    );
    await expect(c.waitForWorkflowCompletion(instanceId, true, 1)).rejects.toMatchObject({
      name: "WorkflowTimeoutError",
      code: "WORKFLOW_TIMEOUT",
    });
    await c.raiseEvent(instanceId, "go", 1);
    expect((await c.waitForWorkflowCompletion(instanceId))?.output).toBe(1);
  });

  it("listing, history and rerun (rerun: unsupported by durabletask-go)", async () => {
    const c = need(client);
    const instanceId = await c.scheduleNewWorkflow(chain, ["Oslo"], id("history"));
    await c.waitForWorkflowCompletion(instanceId);
    expect(await c.listWorkflows()).toContain(instanceId);
    const listed: string[] = [];
    for await (const listedId of c.listInstanceIds({ pageSize: 100 })) listed.push(listedId);
    expect(listed).toContain(instanceId);
    const history = await c.getWorkflowHistory(instanceId);
    expect(history.map((e) => e.eventType.case)).toContain("executionStarted");
    expect(history.map((e) => e.eventType.case)).toContain("executionCompleted");
    if (sidecar().target === "go") {
      await expect(c.rerunWorkflowFromEvent(instanceId, 1)).rejects.toMatchObject({ code: "UNIMPLEMENTED" });
      await expect(c.rerunWorkflowFromEvent(instanceId, 1)).rejects.toBeInstanceOf(SidecarError);
      return;
    }
    const rerun = await c.rerunWorkflowFromEvent(instanceId, 1, { newInstanceId: `${instanceId}-rerun` });
    expect(rerun).toBe(`${instanceId}-rerun`);
    const state = await c.waitForWorkflowCompletion(rerun);
    expect(state?.runtimeStatus).toBe(WorkflowRuntimeStatus.COMPLETED);
    expect(state?.output).toMatchObject({ greetings: [`Hello Oslo from ${rerun}#1`] });
  });

  it("the address from DAPR_GRPC_ENDPOINT when no host or port is given; anonymous functions are refused", async () => {
    const variable = "DAPR_GRPC_ENDPOINT";
    const env = process.env;
    const previous = env[variable];
    env[variable] = `http://${sidecar().address}`;
    const fromEnv = new DaprWorkflowClient();
    if (previous === undefined) delete env[variable];
    else env[variable] = previous;
    try {
      const instanceId = await fromEnv.scheduleNewWorkflow(chain, []);
      expect((await fromEnv.waitForWorkflowCompletion(instanceId))?.runtimeStatus).toBe(
        WorkflowRuntimeStatus.COMPLETED,
      );
    } finally {
      await fromEnv.stop();
    }
    expect(() => new WorkflowRuntime({ address: sidecar().address }).registerActivity(() => 1)).toThrow(
      InvalidArgumentError,
    );
  });
});
