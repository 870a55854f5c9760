// `dt workflow …` end to end: the built binary (packages/cli/dist/cli.js, `pnpm build` first) as a child process,
// against each sidecar target, with a real worker running the workflows. Every sub-command is run with text and with
// --json output and its exit code checked. Where durabletask-go cannot do something (rerun, purge by filter), the CLI
// must say so cleanly: exit 1 and the sidecar's message.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { defineActivity, defineWorkflow, replay } from "@dt/core";
import { HistoryEventSchema } from "@dt/proto";
import { afterEach, beforeAll, expect, it } from "vitest";
import { eventually, statusOf, uniqueId, useFixture } from "./fixture.js";
import { describeSidecars } from "./harness.js";

const CLI = fileURLToPath(new URL("../../packages/cli/dist/cli.js", import.meta.url));
/** A CLI call that has not exited by then is killed (by PID) and fails the test. */
const CALL_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;

const hello = defineActivity("cli.hello", (_ctx, name: string) => `Hello ${name}!`);
const greet = defineWorkflow("cli.greet", function* (ctx, names: string[]) {
  const out: string[] = [];
  for (const name of names) out.push(yield* ctx.callActivity(hello, { input: name }));
  return out;
});
const approval = defineWorkflow("cli.approval", function* (ctx) {
  const by = yield* ctx.waitForExternalEvent<string>("approve");
  return { approvedBy: by };
});
const refuse = defineActivity("cli.refuse", (): string => {
  throw new Error("card declined");
});
const failing = defineWorkflow("cli.failing", function* (ctx) {
  return yield* ctx.callActivity(refuse);
});

interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  // Whatever a failed test left running, by PID.
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
});

/** Environment without anything that would change the connection or the colours. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(DAPR_|DURABLETASK_)/.test(name) || name === "FORCE_COLOR" || name === "NO_COLOR") delete env[name];
  }
  return { ...env, ...extra };
}

interface Spawned {
  readonly child: ChildProcess;
  readonly done: Promise<Result>;
  stdout(): string;
}

function start(args: readonly string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(process.execPath, [CLI, "workflow", ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const done = new Promise<Result>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`dt workflow ${args.join(" ")} did not exit within ${CALL_TIMEOUT_MS} ms\n${stdout}\n${stderr}`),
      );
    }, CALL_TIMEOUT_MS);
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
  return { child, done, stdout: () => stdout };
}

/** `JSON.parse` of a --json result that must have succeeded (exit 0, nothing on stderr). */
function parsed<T = Record<string, unknown>>(result: Result, code = 0): T {
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code, stderr: code === 0 ? "" : expect.any(String) });
  return JSON.parse(result.stdout) as T;
}

const NOT_FOUND = (sub: string, id: string) =>
  `dt workflow ${sub}: WORKFLOW_NOT_FOUND: No workflow instance '${id}' exists (never created, or purged).\n`;

describeSidecars("dt workflow (built binary)", (sidecar) => {
  const fx = useFixture(sidecar, { workflows: [greet, approval, failing], activities: [hello, refuse] });
  const target = () => sidecar().target;

  /** Runs `dt workflow <args> --address <this suite's sidecar>`; resolves when it exits. */
  const dt = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
    start([...args, "--address", sidecar().address], cleanEnv(env)).done;

  /** Starts an approval instance (RUNNING, waiting for its event) through the client. */
  const waitingInstance = async (prefix: string) => {
    const id = await fx.client.scheduleNewOrchestration(approval, { instanceId: uniqueId(prefix) });
    await statusOf(fx.client, id, "RUNNING");
    return id;
  };

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`pnpm build\` first`);
  });

  it(
    "run: starts an instance and prints its id (text and --json)",
    async () => {
      const id = uniqueId("cli-run");
      const text = await dt(["run", greet.name, "--input", '["Ana"]', "--instance-id", id]);
      expect(text).toEqual({
        code: 0,
        signal: null,
        stdout: `Started workflow ${greet.name} as instance ${id}.\n`,
        stderr: "",
      });
      const json = parsed<{ instanceId: string; name: string }>(
        await dt(["run", greet.name, "--input", "[]", "--json"]),
      );
      expect(json.name).toBe(greet.name);
      expect(json.instanceId).toMatch(/^[0-9a-f-]{36}$/);
      for (const started of [id, json.instanceId]) {
        expect((await fx.client.waitForOrchestrationCompletion(started, { timeout: 30 })).status).toBe("COMPLETED");
      }
      expect((await fx.client.getOrchestrationState(id))?.output).toEqual(["Hello Ana!"]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "run --wait: exit 0 and the final state when the workflow COMPLETED; no spinner when stderr is not a terminal",
    async () => {
      const id = uniqueId("cli-wait");
      const text = await dt(["run", greet.name, "--input", '["Tokyo","Lima"]', "--instance-id", id, "--wait"]);
      expect(text.code).toBe(0);
      expect(text.stderr).toBe("");
      expect(text.stdout).toMatch(
        new RegExp(
          `^Started workflow ${greet.name} as instance ${id}; waiting for it to finish\\.\\nInstance ID: +${id}\\n`,
        ),
      );
      expect(text.stdout).toMatch(/\nStatus: +COMPLETED\n/);
      expect(text.stdout).toContain('Output:        ["Hello Tokyo!","Hello Lima!"]');
      const json = parsed(await dt(["run", greet.name, "--input", '["Oslo"]', "--wait", "--timeout", "60", "--json"]));
      expect(json).toMatchObject({
        name: greet.name,
        status: "COMPLETED",
        input: ["Oslo"],
        output: ["Hello Oslo!"],
        serializedOutput: '["Hello Oslo!"]',
        failureDetails: null,
      });
      expect(Date.parse(json["createdAt"] as string)).not.toBeNaN();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "run --wait: exit 4 when the workflow FAILED, with the failure",
    async () => {
      const text = await dt(["run", failing.name, "--wait"]);
      expect(text.code).toBe(4);
      expect(text.stdout).toMatch(/\nStatus: +FAILED\n/);
      expect(text.stdout).toMatch(/\nFailure: +\S*: .*card declined/);
      expect(text.stderr).toMatch(/^dt workflow run: workflow instance \S+ ended FAILED: .*card declined.*\n$/);
      const json = parsed<{ status: string; failureDetails: { message: string } }>(
        await dt(["run", failing.name, "--wait", "--json"]),
        4,
      );
      expect(json.status).toBe("FAILED");
      expect(json.failureDetails.message).toContain("card declined");
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "run --wait --timeout: exit 5 with the running state on stdout and WORKFLOW_TIMEOUT on stderr",
    async () => {
      const id = uniqueId("cli-timeout");
      const text = await dt(["run", approval.name, "--instance-id", id, "--wait", "--timeout", "1"]);
      expect(text.code).toBe(5);
      expect(text.stdout).toMatch(/\nStatus: +RUNNING\n/);
      expect(text.stderr).toMatch(
        new RegExp(`^dt workflow run: WORKFLOW_TIMEOUT: Workflow '${id}' did not reach completion within 1 s\\.\\n$`),
      );
      const timedOut = await dt(["run", approval.name, "--wait", "--timeout", "1s", "--json"]);
      const json = parsed(timedOut, 5);
      expect(json).toMatchObject({ name: approval.name, status: "RUNNING" });
      expect(timedOut.stderr).toMatch(/^dt workflow run: WORKFLOW_TIMEOUT: /);
      for (const running of [id, json["instanceId"] as string]) {
        await fx.client.terminateOrchestration(running);
        await fx.client.waitForOrchestrationCompletion(running, { timeout: 30 });
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "run --wait exits 130 on SIGINT (sent by PID), and run --start-at leaves the instance PENDING",
    async () => {
      const id = uniqueId("cli-sigint");
      const waiting = start(
        ["run", approval.name, "--instance-id", id, "--wait", "--address", sidecar().address],
        cleanEnv(),
      );
      await eventually(waiting.stdout, (out) => out.includes("waiting for it to finish"), {
        timeoutMs: 30_000,
        what: "run --wait to start waiting",
      });
      waiting.child.kill("SIGINT");
      const interrupted = await waiting.done;
      expect(interrupted.code).toBe(130);
      expect(interrupted.stderr).toBe("dt workflow run: interrupted\n");
      await fx.client.terminateOrchestration(id);

      const later = uniqueId("cli-later");
      const scheduled = parsed(
        await dt([
          "run",
          greet.name,
          "--input",
          "[]",
          "--instance-id",
          later,
          "--start-at",
          "2099-01-01T00:00:00Z",
          "--json",
        ]),
      );
      expect(scheduled).toEqual({ instanceId: later, name: greet.name });
      expect(parsed(await dt(["get", later, "--json"]))).toMatchObject({ instanceId: later, status: "PENDING" });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "list: a table and a JSON array, filtered by status and name",
    async () => {
      const done = await fx.client.scheduleNewOrchestration(greet, { instanceId: uniqueId("cli-list"), input: ["x"] });
      await fx.client.waitForOrchestrationCompletion(done, { timeout: 30 });
      const running = await waitingInstance("cli-list-running");

      const text = await dt(["list"]);
      expect(text.code).toBe(0);
      expect(text.stderr).toBe("");
      const lines = text.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^INSTANCE ID +NAME +STATUS +CREATED +LAST UPDATED$/);
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${done} +${greet.name} +COMPLETED +\\d{4}-`)));
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^${running} +${approval.name} +RUNNING +\\d{4}-`)),
      );

      const all = parsed<{ instanceId: string; status: string; name: string }[]>(
        await dt(["list", "--json", "--page-size", "1"]),
      );
      expect(all.map((s) => s.instanceId)).toEqual(expect.arrayContaining([done, running]));
      const completed = parsed<{ instanceId: string; status: string; name: string }[]>(
        await dt(["list", "--json", "--filter-status", "COMPLETED", "--filter-name", greet.name]),
      );
      expect(completed.map((s) => s.instanceId)).toContain(done);
      expect(completed.map((s) => s.instanceId)).not.toContain(running);
      for (const s of completed) expect([s.status, s.name]).toEqual(["COMPLETED", greet.name]);
      const short = await dt(["list", "-s", "running,suspended", "-w", approval.name]);
      expect(short.stdout).toContain(running);
      expect(short.stdout).not.toContain(done);
      await fx.client.terminateOrchestration(running);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "get: the instance's fields (text and --json); exit 3 for an unknown id",
    async () => {
      const id = await fx.client.scheduleNewOrchestration(greet, { instanceId: uniqueId("cli-get"), input: ["Rio"] });
      await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      const text = await dt(["get", id]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(
        new RegExp(
          `^Instance ID: +${id}\\nName: +${greet.name}\\nStatus: +COMPLETED\\nCreated: +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\n`,
        ),
      );
      expect(text.stdout).toContain('Input:         ["Rio"]\n');
      expect(text.stdout).toContain('Output:        ["Hello Rio!"]\n');
      const json = parsed(await dt(["get", id, "--json"]));
      expect(json).toMatchObject({
        instanceId: id,
        name: greet.name,
        status: "COMPLETED",
        input: ["Rio"],
        output: ["Hello Rio!"],
      });

      const missing = uniqueId("cli-missing");
      for (const flags of [[], ["--json"]]) {
        expect(await dt(["get", missing, ...flags])).toEqual({
          code: 3,
          signal: null,
          stdout: "",
          stderr: NOT_FOUND("get", missing),
        });
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "history: an event table, protobuf JSON that replay() accepts, exit 3 for an unknown id",
    async () => {
      const id = await fx.client.scheduleNewOrchestration(greet, {
        instanceId: uniqueId("cli-history"),
        input: ["A", "B"],
      });
      await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      const text = await dt(["history", id]);
      expect(text.code).toBe(0);
      const lines = text.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^EVENT ID +TYPE +TIMESTAMP +DETAILS$/);
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^ +ExecutionStarted +\\S+ +name=${greet.name} input=\\["A","B"\\]$`)),
      );
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^1 +TaskScheduled +\\S+ +name=${hello.name} input="A"$`)),
      );
      expect(lines).toContainEqual(expect.stringMatching(/^ +TaskCompleted +\S+ +scheduledId=2 result="Hello B!"$/));
      expect(lines).toContainEqual(expect.stringMatching(/^3 +ExecutionCompleted +\S+ +status=COMPLETED result=/));

      const json = parsed<JsonValue[]>(await dt(["history", id, "--json"]));
      const events = json.map((event) => fromJson(HistoryEventSchema, event));
      expect(events.filter((e) => e.eventType.case === "taskScheduled")).toHaveLength(2);
      const report = replay(events, greet);
      expect(report.divergences.map((d) => d.message)).toEqual([]);
      expect(report.result).toBe('["Hello A!","Hello B!"]');

      const missing = uniqueId("cli-missing");
      for (const flags of [[], ["--json"]]) {
        expect(await dt(["history", missing, ...flags])).toEqual({
          code: 3,
          signal: null,
          stdout: "",
          stderr: NOT_FOUND("history", missing),
        });
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "raise-event: <id>/<event> with JSON data reaches the workflow (text and --json); exit 3 for an unknown id",
    async () => {
      const first = await waitingInstance("cli-raise");
      const text = await dt(["raise-event", `${first}/approve`, "--input", '"ana"']);
      expect(text).toEqual({
        code: 0,
        signal: null,
        stdout: `Raised event "approve" on workflow instance ${first}.\n`,
        stderr: "",
      });
      expect((await fx.client.waitForOrchestrationCompletion(first, { timeout: 30 })).output).toEqual({
        approvedBy: "ana",
      });

      const second = await waitingInstance("cli-raise");
      const json = parsed(await dt(["raise-event", second, "approve", "--input", '"bo"', "--json"]));
      expect(json).toEqual({ instanceId: second, eventName: "approve", raised: true });
      expect((await fx.client.waitForOrchestrationCompletion(second, { timeout: 30 })).output).toEqual({
        approvedBy: "bo",
      });

      const missing = uniqueId("cli-missing");
      for (const flags of [[], ["--json"]]) {
        expect(await dt(["raise-event", `${missing}/approve`, ...flags])).toEqual({
          code: 3,
          signal: null,
          stdout: "",
          stderr: NOT_FOUND("raise-event", missing),
        });
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "suspend and resume (text and --json, with a reason); exit 3 for an unknown id",
    async () => {
      const id = await waitingInstance("cli-suspend");
      expect(await dt(["suspend", id, "--reason", "maintenance"])).toEqual({
        code: 0,
        signal: null,
        stdout: `Suspended workflow instance ${id}.\n`,
        stderr: "",
      });
      expect(parsed(await dt(["get", id, "--json"]))).toMatchObject({ status: "SUSPENDED" });
      expect(await dt(["resume", id])).toEqual({
        code: 0,
        signal: null,
        stdout: `Resumed workflow instance ${id}.\n`,
        stderr: "",
      });
      await statusOf(fx.client, id, "RUNNING");
      expect(parsed(await dt(["suspend", id, "--json"]))).toEqual({ instanceId: id, suspended: true });
      await statusOf(fx.client, id, "SUSPENDED");
      expect(parsed(await dt(["resume", id, "--json", "--reason", "done"]))).toEqual({ instanceId: id, resumed: true });
      await statusOf(fx.client, id, "RUNNING");
      const history = parsed<{ executionSuspended?: { input?: string } }[]>(await dt(["history", id, "--json"]));
      expect(history.filter((e) => e.executionSuspended !== undefined)[0]?.executionSuspended?.input).toBe(
        "maintenance",
      );

      const missing = uniqueId("cli-missing");
      for (const sub of ["suspend", "resume"]) {
        expect(await dt([sub, missing])).toEqual({
          code: 3,
          signal: null,
          stdout: "",
          stderr: NOT_FOUND(sub, missing),
        });
      }
      await fx.client.terminateOrchestration(id);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "terminate: TERMINATED with --output (text and --json); exit 3 for an unknown id",
    async () => {
      const id = await waitingInstance("cli-terminate");
      expect(await dt(["terminate", id, "--output", '"stopped by ops"'])).toEqual({
        code: 0,
        signal: null,
        stdout: `Terminated workflow instance ${id}.\n`,
        stderr: "",
      });
      const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      expect([state.status, state.output]).toEqual(["TERMINATED", "stopped by ops"]);

      const other = await waitingInstance("cli-terminate");
      expect(parsed(await dt(["terminate", other, "--no-recursive", "--json"]))).toEqual({
        instanceId: other,
        terminated: true,
        recursive: false,
      });
      expect((await fx.client.waitForOrchestrationCompletion(other, { timeout: 30 })).status).toBe("TERMINATED");

      const missing = uniqueId("cli-missing");
      expect(await dt(["terminate", missing, "--json"])).toEqual({
        code: 3,
        signal: null,
        stdout: "",
        stderr: NOT_FOUND("terminate", missing),
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "purge <id>: gone afterwards (text and --json); a running instance is exit 1, an unknown one exit 3",
    async () => {
      const ids = [uniqueId("cli-purge"), uniqueId("cli-purge")];
      for (const id of ids) {
        await fx.client.scheduleNewOrchestration(greet, { instanceId: id, input: [] });
        await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      }
      const [first, second] = ids as [string, string];
      expect(await dt(["purge", first])).toEqual({
        code: 0,
        signal: null,
        stdout: `Purged workflow instance ${first}.\n`,
        stderr: "",
      });
      expect(parsed(await dt(["purge", second, "--json"]))).toEqual({ instanceId: second, deletedInstanceCount: 1 });
      for (const id of ids) expect((await dt(["get", id])).code).toBe(3);

      const running = await waitingInstance("cli-purge-running");
      const refused = await dt(["purge", running]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe("");
      expect(refused.stderr).toMatch(
        new RegExp(`^dt workflow purge: WORKFLOW_NOT_COMPLETED: purge_workflow: '${running}' has not completed yet`),
      );
      await fx.client.terminateOrchestration(running);

      const missing = uniqueId("cli-missing");
      for (const flags of [[], ["--json"]]) {
        expect(await dt(["purge", missing, ...flags])).toEqual({
          code: 3,
          signal: null,
          stdout: "",
          stderr: NOT_FOUND("purge", missing),
        });
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "purge by filter: deletes on the embedded sidecar; durabletask-go's and daprd's refusal is exit 1 with its message",
    async () => {
      const id = await waitingInstance("cli-purge-filter");
      await fx.client.terminateOrchestration(id);
      await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      const running = await waitingInstance("cli-purge-filter-running");
      const filter = ["purge", "--all-older-than", "1ms", "--all-filter-status", "TERMINATED"];
      if (target() !== "embedded") {
        // daprd 1.18.3 words it "not unimplemented" (sic).
        const reason = target() === "go" ? "not implemented" : "not unimplemented";
        for (const flags of [[], ["--json"]]) {
          const result = await dt([...filter, ...flags]);
          expect(result).toEqual({
            code: 1,
            signal: null,
            stdout: "",
            stderr: `dt workflow purge: UNIMPLEMENTED: purge_workflows is not supported by this sidecar (multi-instance purge is ${reason}).\n`,
          });
        }
        expect((await dt(["purge", "--all"])).code).toBe(1);
        expect((await dt(["get", id])).code).toBe(0);
      } else {
        const json = parsed<{ deletedInstanceCount: number }>(await dt([...filter, "--json"]));
        expect(json.deletedInstanceCount).toBeGreaterThanOrEqual(1);
        expect((await dt(["get", id])).code).toBe(3);
        const text = await dt([...filter]);
        expect(text).toEqual({ code: 0, signal: null, stdout: "Purged 0 workflow instances.\n", stderr: "" });
        // Running instances are never purged.
        const all = await dt(["purge", "--all"]);
        expect(all.code).toBe(0);
        expect(all.stdout).toMatch(/^Purged \d+ workflow instances?\.\n$/);
        expect(parsed(await dt(["get", running, "--json"]))).toMatchObject({ status: "RUNNING" });
      }
      await fx.client.terminateOrchestration(running);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "rerun: a new instance from an event on the embedded sidecar; durabletask-go's UNIMPLEMENTED is exit 1",
    async () => {
      const id = await fx.client.scheduleNewOrchestration(greet, {
        instanceId: uniqueId("cli-rerun"),
        input: ["A", "B"],
      });
      await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      if (target() === "go") {
        for (const flags of [[], ["--json"]]) {
          const result = await dt(["rerun", id, "--event-id", "1", ...flags]);
          expect(result.code).toBe(1);
          expect(result.stdout).toBe("");
          expect(result.stderr).toMatch(
            /^dt workflow rerun: UNIMPLEMENTED: rerun_workflow is not supported by this sidecar \(.+\)\.\n$/,
          );
        }
        return;
      }
      const copy = uniqueId("cli-rerun-copy");
      expect(await dt(["rerun", id, "--event-id", "2", "--new-instance-id", copy])).toEqual({
        code: 0,
        signal: null,
        stdout: `Rerunning workflow instance ${id} from event 2 as ${copy}.\n`,
        stderr: "",
      });
      expect((await fx.client.waitForOrchestrationCompletion(copy, { timeout: 30 })).output).toEqual([
        "Hello A!",
        "Hello B!",
      ]);
      const json = parsed<{ sourceInstanceId: string; eventId: number; newInstanceId: string }>(
        await dt(["rerun", id, "--event-id", "1", "--input", '"Zoe"', "--json"]),
      );
      expect(json).toMatchObject({ sourceInstanceId: id, eventId: 1 });
      expect((await fx.client.waitForOrchestrationCompletion(json.newInstanceId, { timeout: 30 })).output).toEqual([
        "Hello Zoe!",
        "Hello B!",
      ]);
      const missingEvent = await dt(["rerun", id, "--event-id", "99"]);
      expect(missingEvent.code).toBe(1);
      expect(missingEvent.stderr).toMatch(/^dt workflow rerun: INVALID_ARGUMENT: /);
      const missing = uniqueId("cli-missing");
      expect(await dt(["rerun", missing, "--event-id", "1"])).toEqual({
        code: 3,
        signal: null,
        stdout: "",
        stderr: NOT_FOUND("rerun", missing),
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "reads the sidecar address from DAPR_GRPC_ENDPOINT; colours text (FORCE_COLOR) but never --json",
    async () => {
      const id = await fx.client.scheduleNewOrchestration(greet, { instanceId: uniqueId("cli-env"), input: [] });
      await fx.client.waitForOrchestrationCompletion(id, { timeout: 30 });
      const fromEnv = await start(["get", id, "--json"], cleanEnv({ DAPR_GRPC_ENDPOINT: sidecar().address })).done;
      expect(parsed(fromEnv)).toMatchObject({ instanceId: id, status: "COMPLETED" });

      const coloured = await dt(["get", id], { FORCE_COLOR: "1" });
      expect(coloured.code).toBe(0);
      expect(coloured.stdout).toContain("\x1b[32mCOMPLETED\x1b[39m");
      const json = await dt(["get", id, "--json"], { FORCE_COLOR: "1" });
      expect(json.stdout).not.toContain("\x1b[");
      expect(JSON.parse(json.stdout)).toMatchObject({ status: "COMPLETED" });
      const plain = await dt(["get", id], { NO_COLOR: "1" });
      expect(plain.stdout).not.toContain("\x1b[");
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "usage errors exit 2 and help exits 0, without calling the sidecar",
    async () => {
      const bad = await dt(["get", "x", "--bogus"]);
      expect(bad.code).toBe(2);
      expect(bad.stdout).toBe("");
      expect(bad.stderr).toMatch(
        /^dt workflow get: Unknown option '--bogus'.*\nRun `dt workflow get --help` for usage\.\n$/s,
      );
      expect((await dt(["run", "x", "--timeout", "5"])).code).toBe(2);
      const help = await dt(["run", "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Usage: dt workflow run <name>/);
      expect(help.stdout).toMatch(/Exit codes:\n {2}0 /);
    },
    TEST_TIMEOUT_MS,
  );
});
