// DaprWorkflowClient's mapping onto @dt/client, with a stand-in client.
import type { WorkflowState as ClientWorkflowState, TaskHubGrpcClient } from "@dt/client";
import { WorkflowNotFoundError, WorkflowTimeoutError } from "@dt/core";
import { describe, expect, it } from "vitest";
import { DaprWorkflowClient } from "./client.js";
import { WorkflowRuntimeStatus, WorkflowState } from "./state.js";

const state = { instanceId: "i", name: "wf", status: "RUNNING", isTerminal: false } as ClientWorkflowState;

function fakeClient(overrides: Partial<Record<keyof TaskHubGrpcClient, unknown>> = {}) {
  const calls: unknown[][] = [];
  const record =
    (name: string, result?: unknown) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
      return result;
    };
  const client = {
    scheduleNewOrchestration: record("schedule", "new-id"),
    getOrchestrationState: record("get", state),
    waitForOrchestrationStart: record("waitStart", state),
    waitForOrchestrationCompletion: record("waitCompletion", state),
    raiseOrchestrationEvent: record("raise"),
    terminateOrchestration: record("terminate"),
    suspendOrchestration: record("suspend"),
    resumeOrchestration: record("resume"),
    purgeOrchestration: record("purge", 1),
    getOrchestrationHistory: record("history", []),
    rerunWorkflowFromEvent: record("rerun", "rerun-id"),
    listInstanceIds: async function* (options: unknown) {
      calls.push(["list", options]);
      yield* ["a", "b"];
    },
    close: () => calls.push(["close"]),
    ...overrides,
  } as unknown as TaskHubGrpcClient;
  return { client: new DaprWorkflowClient({ client }), calls };
}

describe("DaprWorkflowClient", () => {
  it("schedules by function name, by name or by definition, with positional input, id and start time", async () => {
    const { client, calls } = fakeClient();
    const orderWorkflow = function* () {};
    const at = new Date(5000);
    expect(await client.scheduleNewWorkflow(orderWorkflow, { n: 1 }, "id-1", at)).toBe("new-id");
    await client.scheduleNewWorkflow("byName");
    await client.scheduleNewWorkflow({ kind: "workflow", name: "defined", run: () => 1 });
    expect(calls).toEqual([
      ["schedule", "orderWorkflow", { input: { n: 1 }, instanceId: "id-1", startAt: at }],
      ["schedule", "byName", {}],
      ["schedule", "defined", {}],
    ]);
    await expect(client.scheduleNewWorkflow(() => 1)).rejects.toThrow(/anonymous workflow/);
  });

  it("returns WorkflowState objects, and undefined for unknown instances", async () => {
    const { client, calls } = fakeClient();
    const got = await client.getWorkflowState("i", false);
    expect(got).toBeInstanceOf(WorkflowState);
    expect(got?.runtimeStatus).toBe(WorkflowRuntimeStatus.RUNNING);
    expect((await client.waitForWorkflowStart("i"))?.instanceId).toBe("i");
    await client.waitForWorkflowCompletion("i", undefined, 30);
    expect(calls).toEqual([
      ["get", "i", { fetchPayloads: false }],
      ["waitStart", "i", { fetchPayloads: true, timeout: 60 }],
      ["waitCompletion", "i", { fetchPayloads: true, timeout: 30 }],
    ]);
    const missing = fakeClient({
      getOrchestrationState: async () => undefined,
      waitForOrchestrationCompletion: async () => {
        throw new WorkflowNotFoundError("x");
      },
    }).client;
    expect(await missing.getWorkflowState("x", true)).toBeUndefined();
    expect(await missing.waitForWorkflowCompletion("x")).toBeUndefined();
  });

  it("lets a timeout through as WorkflowTimeoutError (code WORKFLOW_TIMEOUT)", async () => {
    const { client } = fakeClient({
      waitForOrchestrationStart: async () => {
        throw new WorkflowTimeoutError("late");
      },
    });
    await expect(client.waitForWorkflowStart("i", true, 1)).rejects.toMatchObject({ code: "WORKFLOW_TIMEOUT" });
  });

  it("maps events, terminate, suspend/resume and purge; purge reports whether anything went", async () => {
    const { client, calls } = fakeClient();
    await client.raiseEvent("i", "e", { a: 1 });
    await client.raiseWorkflowEvent("i", "e2");
    await client.terminateWorkflow("i", "bye");
    await client.terminateWorkflow("i", undefined, { recursive: false });
    await client.suspendWorkflow("i", "why");
    await client.pauseWorkflow("i");
    await client.resumeWorkflow("i");
    expect(await client.purgeWorkflow("i")).toBe(true);
    await client.purgeWorkflow("i", { recursive: false });
    expect(calls).toEqual([
      ["raise", "i", "e", { a: 1 }],
      ["raise", "i", "e2", undefined],
      ["terminate", "i", { output: "bye" }],
      ["terminate", "i", { recursive: false }],
      ["suspend", "i", { reason: "why" }],
      ["suspend", "i", {}],
      ["resume", "i", {}],
      ["purge", "i", {}],
      ["purge", "i", { recursive: false }],
    ]);
    expect(await fakeClient({ purgeOrchestration: async () => 0 }).client.purgeWorkflow("gone")).toBe(false);
  });

  it("lists, reads history, reruns and closes", async () => {
    const { client, calls } = fakeClient();
    expect(await client.listWorkflows({ pageSize: 2 })).toEqual(["a", "b"]);
    const ids: string[] = [];
    for await (const id of client.listInstanceIds()) ids.push(id);
    expect(ids).toEqual(["a", "b"]);
    expect(await client.getWorkflowHistory("i")).toEqual([]);
    expect(await client.rerunWorkflowFromEvent("i", 3, { newInstanceId: "n" })).toBe("rerun-id");
    await client.stop();
    await client.close();
    client[Symbol.dispose]();
    expect(calls).toEqual([
      ["list", { pageSize: 2 }],
      ["list", {}],
      ["history", "i"],
      ["rerun", "i", 3, { newInstanceId: "n" }],
      ["close"],
      ["close"],
      ["close"],
    ]);
  });
});
