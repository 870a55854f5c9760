// The worker on a transport passed in (connect-node's createGrpcTransport): every call goes through it, work items
// come through connect's typed stream (no streamBytes), multi-turn workflows see their past events, maxResponseBytes
// still holds, and the worker never closes what it was given.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { defineActivity, defineWorkflow, history } from "@dt/core";
import { OrchestrationStatus, TaskHubSidecarService, type WorkflowResponse } from "@dt/proto";
import { afterEach, describe, expect, it } from "vitest";
import { activityItem, FakeSidecar, workflowItem } from "./testing/fake-sidecar.js";
import { withSendLimit } from "./transport-adapters.js";
import { TaskHubGrpcWorker, type WorkerOptions } from "./worker.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startSidecar(): Promise<FakeSidecar> {
  const sidecar = await FakeSidecar.start();
  cleanups.push(() => sidecar.stop());
  return sidecar;
}

/** connect-node's gRPC transport to `sidecar`, recording the methods called through it. */
function connectNode(sidecar: FakeSidecar, seen: string[] = []): Transport {
  const record: Interceptor = (next) => (req) => {
    seen.push(req.method.name);
    return next(req);
  };
  return createGrpcTransport({ baseUrl: `http://${sidecar.address}`, interceptors: [record] });
}

async function startWorker(
  sidecar: FakeSidecar,
  options: WorkerOptions,
  register: (worker: TaskHubGrpcWorker) => void,
): Promise<TaskHubGrpcWorker> {
  const worker = new TaskHubGrpcWorker({ reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, ...options });
  register(worker);
  cleanups.push(() => worker.stop({ timeoutMs: 1_000 }));
  const streams = sidecar.streams.length;
  await worker.start();
  await worker.waitForReady({ timeoutMs: 10_000 });
  await sidecar.waitFor(() => sidecar.streams.length > streams, "the worker's work-item stream");
  return worker;
}

const T0 = new Date("2025-01-01T00:00:00Z");
const T1 = new Date("2025-01-01T00:00:01Z");
const shout = defineActivity("shout", (_ctx, input: string) => input.toUpperCase());
const shoutTwice = defineWorkflow("shoutTwice", function* (ctx, input: string) {
  const once: string = yield ctx.callActivity(shout, { input });
  return `${once}!`;
});

function completionOf(response: WorkflowResponse) {
  const action = response.actions.find((a) => a.workflowActionType.case === "completeWorkflow")?.workflowActionType;
  return action?.case === "completeWorkflow" ? action.value : undefined;
}

describe("a transport passed in (connect-node)", () => {
  it("carries every call, including the work-item stream, and a second turn sees its past events", async () => {
    const sidecar = await startSidecar();
    const seen: string[] = [];
    // The address names a port nothing listens on: only the transport may be used to connect.
    const unused = `127.0.0.1:${await FakeSidecar.freePort()}`;
    await startWorker(sidecar, { transport: connectNode(sidecar, seen), address: unused, useEnvironment: false }, (w) =>
      w.addWorkflow(shoutTwice).addActivity(shout),
    );
    const instanceId = `i-${randomUUID()}`;
    const turn1 = [history.workflowStarted(T0), history.executionStarted("shoutTwice", instanceId, '"hey"')];
    sidecar.push(workflowItem({ instanceId, newEvents: turn1, completionToken: "t1" }));
    await sidecar.waitFor(() => sidecar.workflowCompletions.length === 1, "the first turn");
    const taskId = sidecar.workflowCompletions[0]?.response.actions[0]?.id as number;
    sidecar.push(activityItem({ name: "shout", instanceId, taskId, input: '"hey"', completionToken: "a1" }));
    await sidecar.waitFor(() => sidecar.activityCompletions.length === 1, "the activity");
    expect(sidecar.activityCompletions[0]?.result).toBe('"HEY"');
    // The sidecar sends the whole history again: the typed stream decodes it whole, past events included.
    const past = [...turn1, history.taskScheduled(taskId, "shout", '"hey"')];
    const turn2 = [history.workflowStarted(T1), history.taskCompleted(taskId, '"HEY"')];
    sidecar.push(workflowItem({ instanceId, pastEvents: past, newEvents: turn2, completionToken: "t2" }));
    await sidecar.waitFor(() => sidecar.workflowCompletions.length === 2, "the second turn");
    const done = completionOf(sidecar.workflowCompletions[1]?.response as WorkflowResponse);
    expect(done?.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
    expect(done?.result).toBe('"HEY!"');
    expect(seen).toEqual(
      expect.arrayContaining(["Hello", "GetWorkItems", "CompleteWorkflowTask", "CompleteActivityTask"]),
    );
  });

  it("still replaces a result over maxResponseBytes by a failure naming the limit", async () => {
    const sidecar = await startSidecar();
    const huge = defineActivity("huge", () => "y".repeat(5_000));
    await startWorker(sidecar, { transport: connectNode(sidecar), maxResponseBytes: 1_000 }, (w) =>
      w.addActivity(huge),
    );
    sidecar.push(activityItem({ name: "huge", instanceId: "inst-huge", taskId: 4, completionToken: "tok-huge" }));
    await sidecar.waitFor(() => sidecar.activityCompletions.length === 1, "the activity completion");
    const response = sidecar.activityCompletions[0];
    expect(response?.result).toBeUndefined();
    expect(response?.failureDetails?.errorMessage).toMatch(/limit of 1000 bytes \(maxResponseBytes\)/);
  });

  it("never closes the transport it was given, and does not read the environment", async () => {
    const sidecar = await startSidecar();
    const inner = connectNode(sidecar);
    let closed = 0;
    const transport = { unary: inner.unary.bind(inner), stream: inner.stream.bind(inner), close: () => closed++ };
    const previous = process.env["DAPR_GRPC_RETRY_MAX_ATTEMPTS"];
    // A malformed variable fails a worker that reads the environment; one with a transport never looks.
    process.env["DAPR_GRPC_RETRY_ENABLED"] = "true";
    process.env["DAPR_GRPC_RETRY_MAX_ATTEMPTS"] = "not-a-number";
    let worker: TaskHubGrpcWorker;
    try {
      expect(() => new TaskHubGrpcWorker({})).toThrow(/DAPR_GRPC_RETRY_MAX_ATTEMPTS/);
      worker = await startWorker(sidecar, { transport }, (w) => w.addActivity(shout));
    } finally {
      delete process.env["DAPR_GRPC_RETRY_ENABLED"];
      if (previous === undefined) delete process.env["DAPR_GRPC_RETRY_MAX_ATTEMPTS"];
      else process.env["DAPR_GRPC_RETRY_MAX_ATTEMPTS"] = previous;
    }
    await worker.stop({ timeoutMs: 1_000 });
    expect(closed).toBe(0);
    // The same transport still works for a new worker after the first one stopped.
    await startWorker(sidecar, { transport }, (w) => w.addActivity(shout));
    await sidecar.waitFor(() => sidecar.openStreams().length === 1, "the first worker's stream to end");
    sidecar.push(activityItem({ name: "shout", instanceId: "again", taskId: 1, input: '"x"', completionToken: "t" }));
    await sidecar.waitFor(() => sidecar.activityCompletions.length === 1, "the activity on the second worker");
    expect(closed).toBe(0);
  });

  it("names the transport, not an address, when it cannot connect", async () => {
    const port = await FakeSidecar.freePort();
    const worker = new TaskHubGrpcWorker({ transport: createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }) });
    cleanups.push(() => worker.stop({ timeoutMs: 1_000 }));
    await worker.start();
    const error = await worker.waitForReady({ timeoutMs: 300 }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/did not connect to the sidecar through the transport passed in within/);
  });

  it("reconnects through the same transport after the sidecar ends the stream", async () => {
    const sidecar = await startSidecar();
    await startWorker(sidecar, { transport: connectNode(sidecar) }, (w) => w.addActivity(shout));
    sidecar.closeStreams();
    await sidecar.waitFor(() => sidecar.openStreams().length === 1 && sidecar.streams.length === 2, "a new stream");
    sidecar.push(activityItem({ name: "shout", instanceId: "later", taskId: 2, input: '"y"', completionToken: "t" }));
    await sidecar.waitFor(() => sidecar.activityCompletions.length === 1, "the activity after the reconnect");
    expect(sidecar.activityCompletions[0]?.result).toBe('"Y"');
  });
});

describe("the send limit on a transport passed in", () => {
  it("refuses an oversize unary request with RESOURCE_EXHAUSTED before it reaches the transport", async () => {
    let sent = 0;
    const inner: Transport = {
      unary: () => {
        sent++;
        return Promise.reject(new ConnectError("unexpected", Code.Internal));
      },
      stream: () => Promise.reject(new ConnectError("unexpected", Code.Internal)),
    };
    const limited = withSendLimit(inner, 10);
    const error = ConnectError.from(
      await limited
        .unary(TaskHubSidecarService.method.raiseEvent, undefined, undefined, undefined, {
          instanceId: "x".repeat(20),
          name: "e",
        })
        .catch((e: unknown) => e),
    );
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toMatch(/exceeds the limit of 10 bytes/);
    expect(sent).toBe(0);
    await limited.unary(TaskHubSidecarService.method.hello, undefined, undefined, undefined, {}).catch(() => {});
    expect(sent).toBe(1);
  });
});
