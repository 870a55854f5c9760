// `dt workflow` in process, against a fake client: what each sub-command calls, prints and exits with.
import type { WorkflowState, WorkflowStatus } from "@dt/client";
import {
  history,
  SidecarError,
  WorkflowAlreadyExistsError,
  WorkflowNotFoundError,
  WorkflowTimeoutError,
} from "@dt/core";
import { type HistoryEvent, OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import {
  type CliContext,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_NOT_FOUND,
  EXIT_OK,
  EXIT_TIMEOUT,
  EXIT_USAGE,
  EXIT_WORKFLOW_FAILED,
} from "./command.js";
import { main } from "./main.js";
import { createWorkflowCommand, mapLimit, type WorkflowClient } from "./workflow.js";

const T0 = new Date("2025-01-15T10:00:00.000Z");

function state(instanceId: string, overrides: Partial<WorkflowState> = {}): WorkflowState {
  const status: WorkflowStatus = overrides.status ?? "RUNNING";
  return {
    instanceId,
    name: "order",
    status,
    isTerminal: ["COMPLETED", "FAILED", "TERMINATED", "CANCELED"].includes(status),
    createdAt: T0,
    lastUpdatedAt: T0,
    startedAt: T0,
    completedAt: undefined,
    scheduledStartAt: undefined,
    input: undefined,
    output: undefined,
    customStatus: undefined,
    failureDetails: undefined,
    serializedInput: undefined,
    serializedOutput: undefined,
    parentInstanceId: "",
    executionId: "",
    tags: {},
    ...overrides,
  };
}

type Call = [string, ...unknown[]];

/** Instances in a map; every call recorded; `fail` makes the next matching call throw. */
class FakeClient implements WorkflowClient {
  readonly calls: Call[] = [];
  readonly states = new Map<string, WorkflowState>();
  readonly histories = new Map<string, HistoryEvent[]>();
  fail: { method: string; error: Error } | undefined;
  /** What waitForOrchestrationCompletion resolves with (default: the stored state), or a never-settling wait. */
  waitResult: WorkflowState | "hang" | undefined;
  closed = false;

  #record(method: string, ...args: unknown[]) {
    this.calls.push([method, ...args]);
    if (this.fail?.method === method) throw this.fail.error;
  }

  async scheduleNewOrchestration(name: string, options: { input?: unknown; instanceId?: string; startAt?: Date } = {}) {
    this.#record("schedule", name, options);
    const id = options.instanceId ?? "generated-id";
    this.states.set(id, state(id, { name }));
    return id;
  }
  async getOrchestrationState(instanceId: string, options?: { fetchPayloads?: boolean }) {
    this.#record("get", instanceId, options);
    return this.states.get(instanceId);
  }
  async waitForOrchestrationCompletion(
    instanceId: string,
    options: { timeout?: { milliseconds: number }; signal?: AbortSignal } = {},
  ) {
    this.#record("wait", instanceId, options.timeout);
    const result = this.waitResult;
    if (result === "hang") {
      return new Promise<WorkflowState>((_resolve, reject) =>
        options.signal?.addEventListener("abort", () => reject(options.signal?.reason)),
      );
    }
    return result ?? (this.states.get(instanceId) as WorkflowState);
  }
  async raiseOrchestrationEvent(instanceId: string, eventName: string, ...data: unknown[]) {
    this.#record("raise", instanceId, eventName, ...data);
  }
  async terminateOrchestration(instanceId: string, options?: { output?: unknown; recursive?: boolean }) {
    this.#record("terminate", instanceId, options);
  }
  async suspendOrchestration(instanceId: string, options?: { reason?: string }) {
    this.#record("suspend", instanceId, options);
  }
  async resumeOrchestration(instanceId: string, options?: { reason?: string }) {
    this.#record("resume", instanceId, options);
  }
  async purgeOrchestration(instanceId: string, options?: { recursive?: boolean }) {
    this.#record("purge", instanceId, options);
    return this.states.delete(instanceId) ? 1 : 0;
  }
  async purgeOrchestrations(filter: object, options?: { recursive?: boolean }) {
    this.#record("purgeMany", filter, options);
    return 2;
  }
  async *listInstanceIds(options?: { pageSize?: number }) {
    this.#record("list", options);
    yield* [...this.states.keys(), "purged-meanwhile"];
  }
  async getOrchestrationHistory(instanceId: string) {
    this.#record("history", instanceId);
    return this.histories.get(instanceId) ?? [];
  }
  async rerunWorkflowFromEvent(
    sourceInstanceId: string,
    eventId: number,
    options?: { newInstanceId?: string; input?: unknown },
  ) {
    this.#record("rerun", sourceInstanceId, eventId, options);
    return options?.newInstanceId ?? "rerun-id";
  }
  close() {
    this.closed = true;
  }
}

async function dt(argv: string[], client = new FakeClient(), signal = new AbortController().signal) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { out: (line) => out.push(line), err: (line) => err.push(line), env: {}, signal };
  let connectedTo: unknown;
  const command = createWorkflowCommand({
    connect: (connection) => {
      connectedTo = connection;
      return client;
    },
  });
  const code = await main(["workflow", ...argv], ctx, [command]);
  return { code, out: out.join("\n"), err: err.join("\n"), client, connectedTo };
}

describe("dt workflow (dispatch and usage)", () => {
  it("prints help for --help, -h, `help` and `help <sub>`; usage on stderr with exit 2 otherwise", async () => {
    for (const argv of [["--help"], ["-h"], ["help"]]) {
      const r = await dt(argv);
      expect(r.code).toBe(EXIT_OK);
      expect(r.out).toMatch(/^Usage: dt workflow <command>/);
    }
    const sub = await dt(["help", "purge"]);
    expect(sub.out).toMatch(/^Usage: dt workflow purge/);
    const subFlag = await dt(["get", "x", "--help", "--bogus"]);
    expect(subFlag.code).toBe(EXIT_OK);
    expect(subFlag.out).toMatch(/^Usage: dt workflow get <instance-id>/);
    expect(subFlag.client.calls).toEqual([]);

    const none = await dt([]);
    expect(none.code).toBe(EXIT_USAGE);
    expect(none.out).toBe("");
    expect(none.err).toMatch(/^Usage: dt workflow/);
    const unknown = await dt(["launch"]);
    expect(unknown.code).toBe(EXIT_USAGE);
    expect(unknown.err).toMatch(/^dt workflow: unknown command "launch" \(commands: run, list, get/);
    expect((await dt(["help", "launch"])).code).toBe(EXIT_USAGE);
  });

  it("reports a bad flag as `dt workflow <sub>: …` with a hint, exit 2, before connecting", async () => {
    const r = await dt(["get", "x", "--bogus"]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.err).toMatch(/^dt workflow get: Unknown option '--bogus'.*\nRun `dt workflow get --help` for usage\.$/s);
    expect(r.connectedTo).toBeUndefined();
  });

  it("connects with --address and --api-token, else the environment", async () => {
    const r = await dt(["get", "x", "--address", "127.0.0.1:5000", "--api-token", "t"]);
    expect(r.connectedTo).toEqual({ address: "127.0.0.1:5000", apiToken: "t" });
    const d = await dt(["get", "x"]);
    expect(d.connectedTo).toEqual({ address: "localhost:4001" });
  });

  it("closes the client after every command, failed or not", async () => {
    const client = new FakeClient();
    client.fail = { method: "get", error: new Error("boom") };
    const r = await dt(["get", "x"], client);
    expect(r.code).toBe(EXIT_FAILURE);
    expect(client.closed).toBe(true);
  });
});

describe("dt workflow run", () => {
  it("starts an instance and prints its id", async () => {
    const r = await dt(["run", "order", "--input", '{"n":1}', "--instance-id", "o-1", "--start-at", "2030-01-01"]);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toBe("Started workflow order as instance o-1.");
    expect(r.client.calls).toEqual([
      ["schedule", "order", { input: { n: 1 }, instanceId: "o-1", startAt: new Date("2030-01-01T00:00:00Z") }],
    ]);
    const json = await dt(["run", "order", "--json"]);
    expect(JSON.parse(json.out)).toEqual({ instanceId: "generated-id", name: "order" });
    expect(json.client.calls[0]).toEqual(["schedule", "order", {}]); // no --input: no input at all
  });

  it("--wait: exit 0 and the final state when it COMPLETED", async () => {
    const client = new FakeClient();
    client.waitResult = state("o-1", { status: "COMPLETED", serializedOutput: '"done"', output: "done" });
    const r = await dt(["run", "order", "--instance-id", "o-1", "--wait", "--timeout", "30"], client);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toMatch(/^Started workflow order as instance o-1; waiting for it to finish\.\nInstance ID: +o-1\n/);
    expect(r.out).toMatch(/\nStatus: +COMPLETED\n/);
    expect(r.out).toMatch(/\nOutput: +"done"/);
    expect(client.calls[1]).toEqual(["wait", "o-1", { milliseconds: 30_000 }]);
    const json = await dt(["run", "order", "--instance-id", "o-1", "--wait", "--json"], client);
    expect(JSON.parse(json.out)).toMatchObject({ instanceId: "o-1", status: "COMPLETED", output: "done" });
  });

  it.each([
    ["FAILED", true],
    ["TERMINATED", false],
    ["CANCELED", false],
  ] as const)("--wait: exit 4 when it ended %s", async (status, withFailure) => {
    const client = new FakeClient();
    client.waitResult = state("o-1", {
      status,
      ...(withFailure
        ? {
            failureDetails: {
              errorType: "Error",
              message: "card declined",
              stackTrace: undefined,
              isNonRetriable: false,
              cause: undefined,
            },
          }
        : {}),
    });
    const r = await dt(["run", "order", "--instance-id", "o-1", "--wait", "--json"], client);
    expect(r.code).toBe(EXIT_WORKFLOW_FAILED);
    expect(JSON.parse(r.out)).toMatchObject({ status });
    expect(r.err).toBe(`dt workflow run: workflow instance o-1 ended ${status}${withFailure ? ": card declined" : ""}`);
  });

  it("--wait --timeout: exit 5, the current state on stdout and WORKFLOW_TIMEOUT on stderr", async () => {
    const client = new FakeClient();
    client.fail = {
      method: "wait",
      error: new WorkflowTimeoutError("Workflow 'o-1' did not reach completion within 1 s."),
    };
    const r = await dt(["run", "order", "--instance-id", "o-1", "--wait", "--timeout", "1", "--json"], client);
    expect(r.code).toBe(EXIT_TIMEOUT);
    expect(JSON.parse(r.out)).toMatchObject({ instanceId: "o-1", status: "RUNNING" });
    expect(r.err).toBe("dt workflow run: WORKFLOW_TIMEOUT: Workflow 'o-1' did not reach completion within 1 s.");
  });

  it("exit 130 when interrupted while waiting", async () => {
    const client = new FakeClient();
    client.waitResult = "hang";
    const controller = new AbortController();
    const running = dt(["run", "order", "--wait"], client, controller.signal);
    setTimeout(() => controller.abort("SIGINT"), 20);
    const r = await running;
    expect(r.code).toBe(EXIT_INTERRUPTED);
    expect(r.err).toBe("dt workflow run: interrupted");
    expect(client.closed).toBe(true);
  });

  it("reports typed errors as `CODE: message`, exit 1", async () => {
    const client = new FakeClient();
    client.fail = { method: "schedule", error: new WorkflowAlreadyExistsError("o-1") };
    const r = await dt(["run", "order", "--instance-id", "o-1"], client);
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.err).toMatch(/^dt workflow run: WORKFLOW_ALREADY_EXISTS: A workflow instance 'o-1' already exists/);
  });
});

describe("dt workflow list", () => {
  function seeded() {
    const client = new FakeClient();
    client.states.set("b", state("b", { status: "COMPLETED", createdAt: new Date("2025-01-15T11:00:00Z") }));
    client.states.set("a", state("a", { name: "ship", createdAt: new Date("2025-01-15T12:00:00Z") }));
    client.states.set("c", state("c", { status: "FAILED", createdAt: T0 }));
    return client;
  }

  it("prints a table, newest first, skipping instances purged while listing", async () => {
    const r = await dt(["list", "--page-size", "2"], seeded());
    expect(r.code).toBe(EXIT_OK);
    expect(r.out.split("\n")).toEqual([
      "INSTANCE ID  NAME   STATUS     CREATED               LAST UPDATED",
      "a            ship   RUNNING    2025-01-15T12:00:00Z  2025-01-15T10:00:00Z",
      "b            order  COMPLETED  2025-01-15T11:00:00Z  2025-01-15T10:00:00Z",
      "c            order  FAILED     2025-01-15T10:00:00Z  2025-01-15T10:00:00Z",
    ]);
    expect(r.client.calls[0]).toEqual(["list", { pageSize: 2 }]);
    expect(r.client.calls.filter((call) => call[0] === "get").map((call) => call[2])).toEqual(
      Array(4).fill({ fetchPayloads: false }),
    );
  });

  it("filters by status and name; --json is an array of states", async () => {
    const r = await dt(["list", "--filter-status", "RUNNING,FAILED", "--filter-name", "order", "--json"], seeded());
    const list = JSON.parse(r.out) as { instanceId: string; status: string; createdAt: string }[];
    expect(list.map((s) => [s.instanceId, s.status, s.createdAt])).toEqual([
      ["c", "FAILED", "2025-01-15T10:00:00.000Z"],
    ]);
    const empty = await dt(["list", "--filter-name", "nothing"], seeded());
    expect(empty.out).toBe("No workflow instances found.");
    expect(JSON.parse((await dt(["list", "--json"])).out)).toEqual([]);
  });
});

describe("dt workflow get", () => {
  it("prints the instance's fields; --json prints every field", async () => {
    const client = new FakeClient();
    client.states.set(
      "o-1",
      state("o-1", {
        status: "FAILED",
        completedAt: new Date("2025-01-15T10:00:05Z"),
        input: { n: 1 },
        serializedInput: '{"n":1}',
        customStatus: "step 2",
        failureDetails: {
          errorType: "TaskFailedError",
          message: "boom",
          stackTrace: "at x",
          isNonRetriable: false,
          cause: {
            errorType: "Error",
            message: "inner",
            stackTrace: undefined,
            isNonRetriable: true,
            cause: undefined,
          },
        },
        parentInstanceId: "parent-1",
        executionId: "e-1",
        tags: { team: "a" },
      }),
    );
    const r = await dt(["get", "o-1"], client);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out.split("\n")).toEqual([
      "Instance ID:    o-1",
      "Name:           order",
      "Status:         FAILED",
      "Created:        2025-01-15T10:00:00Z",
      "Last updated:   2025-01-15T10:00:00Z",
      "Started:        2025-01-15T10:00:00Z",
      "Completed:      2025-01-15T10:00:05Z",
      'Input:          {"n":1}',
      "Custom status:  step 2",
      "Failure:        TaskFailedError: boom",
      "                caused by Error: inner",
      "Parent:         parent-1",
      "Execution ID:   e-1",
      "Tags:           team=a",
    ]);
    expect(client.calls).toEqual([["get", "o-1", { fetchPayloads: true }]]);
    const json = JSON.parse((await dt(["get", "o-1", "--json"], client)).out);
    expect(json).toEqual({
      instanceId: "o-1",
      name: "order",
      status: "FAILED",
      createdAt: "2025-01-15T10:00:00.000Z",
      lastUpdatedAt: "2025-01-15T10:00:00.000Z",
      startedAt: "2025-01-15T10:00:00.000Z",
      completedAt: "2025-01-15T10:00:05.000Z",
      scheduledStartAt: null,
      input: { n: 1 },
      output: null,
      serializedInput: '{"n":1}',
      serializedOutput: null,
      customStatus: "step 2",
      failureDetails: {
        errorType: "TaskFailedError",
        message: "boom",
        stackTrace: "at x",
        isNonRetriable: false,
        cause: { errorType: "Error", message: "inner", stackTrace: null, isNonRetriable: true, cause: null },
      },
      parentInstanceId: "parent-1",
      executionId: "e-1",
      tags: { team: "a" },
    });
  });

  it("exit 3 with WORKFLOW_NOT_FOUND on stderr (nothing on stdout) for an unknown instance", async () => {
    for (const flags of [[], ["--json"]]) {
      const r = await dt(["get", "nope", ...flags]);
      expect(r.code).toBe(EXIT_NOT_FOUND);
      expect(r.out).toBe("");
      expect(r.err).toBe(
        "dt workflow get: WORKFLOW_NOT_FOUND: No workflow instance 'nope' exists (never created, or purged).",
      );
    }
  });

  it("exit 1 with a hint at the address when the sidecar is unreachable", async () => {
    const client = new FakeClient();
    client.fail = {
      method: "get",
      error: new SidecarError(
        "SIDECAR_UNAVAILABLE",
        "UNAVAILABLE",
        "get_workflow: the sidecar is unreachable (ECONNREFUSED).",
      ),
    };
    const r = await dt(["get", "x", "--address", "127.0.0.1:1"], client);
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.err.split("\n")).toEqual([
      "dt workflow get: SIDECAR_UNAVAILABLE: get_workflow: the sidecar is unreachable (ECONNREFUSED).",
      "Is a sidecar listening on 127.0.0.1:1? Set it with --address or DAPR_GRPC_ENDPOINT.",
    ]);
  });
});

describe("dt workflow history", () => {
  const events = [
    history.workflowStarted(T0),
    history.executionStarted("order", "o-1", '{"n":1}', { timestamp: T0 }),
    history.taskScheduled(1, "charge", '"card"'),
    history.taskFailed(1, { errorType: "Error", errorMessage: "declined" }),
    history.executionCompleted(2, OrchestrationStatus.FAILED),
  ];

  it("prints a table of events", async () => {
    const client = new FakeClient();
    client.histories.set("o-1", events);
    const r = await dt(["history", "o-1"], client);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out.split("\n")).toEqual([
      "EVENT ID  TYPE                TIMESTAMP             DETAILS",
      "          WorkflowStarted     2025-01-15T10:00:00Z",
      '          ExecutionStarted    2025-01-15T10:00:00Z  name=order input={"n":1}',
      '1         TaskScheduled       1970-01-01T00:00:00Z  name=charge input="card"',
      "          TaskFailed          1970-01-01T00:00:00Z  scheduledId=1 failure=Error: declined",
      "2         ExecutionCompleted  1970-01-01T00:00:00Z  status=FAILED",
    ]);
  });

  it("--json prints the events as protobuf JSON", async () => {
    const client = new FakeClient();
    client.histories.set("o-1", events);
    const json = JSON.parse((await dt(["history", "o-1", "--json"], client)).out) as Record<string, unknown>[];
    expect(json).toHaveLength(5);
    expect(json[1]).toEqual({
      eventId: -1,
      timestamp: "2025-01-15T10:00:00Z",
      executionStarted: { name: "order", input: '{"n":1}', workflowInstance: { instanceId: "o-1" } },
    });
    expect(json[2]).toMatchObject({ eventId: 1, taskScheduled: { name: "charge", input: '"card"' } });
  });

  it("an empty history: exit 3 when the instance does not exist, else an empty list", async () => {
    const missing = await dt(["history", "nope"]);
    expect(missing.code).toBe(EXIT_NOT_FOUND);
    expect(missing.err).toMatch(/^dt workflow history: WORKFLOW_NOT_FOUND: /);
    const client = new FakeClient();
    client.states.set("pending", state("pending", { status: "PENDING" }));
    expect((await dt(["history", "pending"], client)).out).toBe("No history events yet.");
    expect((await dt(["history", "pending", "--json"], client)).out).toBe("[]");
  });
});

describe("dt workflow raise-event, suspend, resume, terminate", () => {
  function withInstance() {
    const client = new FakeClient();
    client.states.set("o-1", state("o-1"));
    return client;
  }

  it("raise-event checks the instance exists, then raises with or without data", async () => {
    const r = await dt(["raise-event", "o-1/approval", "--input", '{"ok":true}'], withInstance());
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toBe('Raised event "approval" on workflow instance o-1.');
    expect(r.client.calls).toEqual([
      ["get", "o-1", { fetchPayloads: false }],
      ["raise", "o-1", "approval", { ok: true }],
    ]);
    const bare = await dt(["raise-event", "o-1", "approval", "--json"], withInstance());
    expect(bare.client.calls[1]).toEqual(["raise", "o-1", "approval"]);
    expect(JSON.parse(bare.out)).toEqual({ instanceId: "o-1", eventName: "approval", raised: true });
    const missing = await dt(["raise-event", "nope/approval"]);
    expect(missing.code).toBe(EXIT_NOT_FOUND);
    expect(missing.client.calls.map((call) => call[0])).toEqual(["get"]);
  });

  it("suspend and resume pass the reason", async () => {
    const s = await dt(["suspend", "o-1", "--reason", "hold"], withInstance());
    expect(s.out).toBe("Suspended workflow instance o-1.");
    expect(s.client.calls).toEqual([["suspend", "o-1", { reason: "hold" }]]);
    const r = await dt(["resume", "o-1", "--json"], withInstance());
    expect(JSON.parse(r.out)).toEqual({ instanceId: "o-1", resumed: true });
    expect(r.client.calls).toEqual([["resume", "o-1", {}]]);
  });

  it("terminate is recursive unless --no-recursive, with --output", async () => {
    const t = await dt(["terminate", "o-1", "--output", '"stop"'], withInstance());
    expect(t.out).toBe("Terminated workflow instance o-1.");
    expect(t.client.calls).toEqual([["terminate", "o-1", { recursive: true, output: "stop" }]]);
    const n = await dt(["terminate", "o-1", "--no-recursive", "--json"], withInstance());
    expect(n.client.calls).toEqual([["terminate", "o-1", { recursive: false }]]);
    expect(JSON.parse(n.out)).toEqual({ instanceId: "o-1", terminated: true, recursive: false });
  });

  it("maps WORKFLOW_NOT_FOUND from the sidecar to exit 3", async () => {
    for (const sub of ["suspend", "resume", "terminate"]) {
      const client = new FakeClient();
      client.fail = { method: sub, error: new WorkflowNotFoundError("nope") };
      const r = await dt([sub, "nope"], client);
      expect(r.code).toBe(EXIT_NOT_FOUND);
      expect(r.err).toBe(
        `dt workflow ${sub}: WORKFLOW_NOT_FOUND: No workflow instance 'nope' exists (never created, or purged).`,
      );
    }
  });
});

describe("dt workflow purge", () => {
  it("purges one instance; nothing deleted means not found (exit 3)", async () => {
    const client = new FakeClient();
    client.states.set("o-1", state("o-1", { status: "COMPLETED" }));
    const r = await dt(["purge", "o-1"], client);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toBe("Purged workflow instance o-1.");
    expect(client.calls).toEqual([["purge", "o-1", { recursive: true }]]);
    const again = await dt(["purge", "o-1", "--json"], client);
    expect(again.code).toBe(EXIT_NOT_FOUND);
    expect(again.out).toBe("");
  });

  it("purges by filter", async () => {
    const r = await dt(["purge", "--all-older-than", "1h", "--all-filter-status", "COMPLETED", "--json"]);
    expect(r.code).toBe(EXIT_OK);
    expect(JSON.parse(r.out)).toEqual({ deletedInstanceCount: 2 });
    const [, filter, options] = r.client.calls[0] as [string, { createdTo: Date; statuses: string[] }, unknown];
    expect(filter.statuses).toEqual(["COMPLETED"]);
    expect(Date.now() - filter.createdTo.getTime()).toBeGreaterThanOrEqual(3_600_000);
    expect(options).toEqual({ recursive: true });
    const all = await dt(["purge", "--all", "--no-recursive"]);
    expect(all.out).toBe("Purged 2 workflow instances.");
    expect(all.client.calls).toEqual([["purgeMany", {}, { recursive: false }]]);
  });

  it("reports an unsupported purge (durabletask-go) as UNIMPLEMENTED, exit 1", async () => {
    const client = new FakeClient();
    client.fail = {
      method: "purgeMany",
      error: new SidecarError(
        "UNIMPLEMENTED",
        "UNIMPLEMENTED",
        "purge_workflows is not supported by this sidecar (multi-instance purge is not implemented).",
      ),
    };
    const r = await dt(["purge", "--all"], client);
    expect(r.code).toBe(EXIT_FAILURE);
    expect(r.err).toBe(
      "dt workflow purge: UNIMPLEMENTED: purge_workflows is not supported by this sidecar (multi-instance purge is not implemented).",
    );
  });
});

describe("dt workflow rerun", () => {
  it("reruns from an event and prints the new instance id", async () => {
    const r = await dt(["rerun", "o-1", "--event-id", "1", "--new-instance-id", "o-2", "--input", "5"]);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toBe("Rerunning workflow instance o-1 from event 1 as o-2.");
    expect(r.client.calls).toEqual([["rerun", "o-1", 1, { newInstanceId: "o-2", input: 5 }]]);
    const json = await dt(["rerun", "o-1", "--event-id", "3", "--json"]);
    expect(JSON.parse(json.out)).toEqual({ sourceInstanceId: "o-1", eventId: 3, newInstanceId: "rerun-id" });
    expect(json.client.calls).toEqual([["rerun", "o-1", 3, {}]]);
  });
});

describe("mapLimit", () => {
  it("keeps the order and never runs more than the limit at once", async () => {
    let running = 0;
    let peak = 0;
    const results = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, n));
      running--;
      return n * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});
