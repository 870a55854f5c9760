import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { defineActivity, defineWorkflow, history, Registry, whenAll } from "@dt/core";
import {
  CreateInstanceRequestSchema,
  type HistoryEvent,
  HistoryEventSchema,
  OrchestrationStatus,
  StalledReason,
  type WorkflowAction,
  WorkflowActionSchema,
  type WorkflowRequest,
  WorkflowRequestSchema,
  WorkflowResponseSchema,
  type WorkItem,
  WorkItemSchema,
} from "@dt/proto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Backend, type BackendOptions } from "./backend.js";
import { encodeWorkItem, workflowRequestSize } from "./encoding.js";
import { MemoryStore } from "./memory-store.js";
import { SqliteStore } from "./sqlite-store.js";
import type { Store } from "./store.js";
import { Driver, Pull, workflowRequest } from "./testing/driver.js";

// --- helpers --------------------------------------------------------------------------------------------------------

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The store the current suite runs on (see the bottom of this file). */
let makeStore: () => Store = () => new MemoryStore();

function setup(options: Partial<BackendOptions> = {}) {
  const store = options.store ?? makeStore();
  const backend = new Backend({ waitForStart: false, ...options, store });
  cleanups.push(() => backend.close());
  return { store, backend };
}

function drive(backend: Backend, registry: Registry, options: { stateful?: boolean } = {}) {
  const driver = new Driver(backend, registry, options);
  cleanups.push(() => driver.stop());
  return driver;
}

function pull(backend: Backend, options: { stateful?: boolean } = {}) {
  const stream = new Pull(backend, options);
  cleanups.push(() => stream.close());
  return stream;
}

type StartInit = Omit<MessageInitShape<typeof CreateInstanceRequestSchema>, "$typeName">;
const startReq = (instanceId: string, name: string, init: StartInit = {}) =>
  create(CreateInstanceRequestSchema, { instanceId, name, ...init });
const getReq = (instanceId: string) => ({
  $typeName: "GetInstanceRequest" as const,
  instanceId,
  getInputsAndOutputs: true,
});

async function start(backend: Backend, instanceId: string, name: string, init: StartInit = {}) {
  await backend.startInstance(startReq(instanceId, name, init));
  return instanceId;
}

async function completion(backend: Backend, instanceId: string) {
  const res = await backend.waitForInstanceCompletion(getReq(instanceId), AbortSignal.timeout(10_000));
  const state = res.workflowState;
  if (state === undefined) throw new Error("no state");
  return state;
}

async function statusOf(backend: Backend, id: string, status: OrchestrationStatus) {
  for (let i = 0; i < 200; i++) {
    if (backend.getInstance(getReq(id)).workflowState?.workflowStatus === status) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`'${id}' never reached ${OrchestrationStatus[status]}`);
}

type ActionType = NonNullable<MessageInitShape<typeof WorkflowActionSchema>["workflowActionType"]>;
const action = (id: number, workflowActionType: ActionType): WorkflowAction =>
  create(WorkflowActionSchema, { id, workflowActionType });
const act = {
  task: (id: number, name: string, input?: string) =>
    action(id, { case: "scheduleTask", value: { name, ...(input === undefined ? {} : { input }) } }),
  timer: (id: number, fireAtMs: number) =>
    action(id, {
      case: "createTimer",
      value: { fireAt: timestampFromMs(fireAtMs), origin: { case: "createTimer", value: {} } },
    }),
  child: (id: number, name: string, instanceId = "") =>
    action(id, { case: "createChildWorkflow", value: { name, instanceId } }),
  complete: (id: number, result?: string, status = OrchestrationStatus.COMPLETED) =>
    action(id, {
      case: "completeWorkflow",
      value: { workflowStatus: status, ...(result === undefined ? {} : { result }) },
    }),
  fail: (id: number, message: string) =>
    action(id, {
      case: "completeWorkflow",
      value: {
        workflowStatus: OrchestrationStatus.FAILED,
        failureDetails: { errorType: "Error", errorMessage: message },
      },
    }),
  continueAsNew: (id: number, result: string, carryoverEvents: HistoryEvent[] = []) =>
    action(id, {
      case: "completeWorkflow",
      value: { workflowStatus: OrchestrationStatus.CONTINUED_AS_NEW, result, carryoverEvents },
    }),
  sendEvent: (id: number, target: string, name: string, data?: string) =>
    action(id, {
      case: "sendEvent",
      value: { instance: { instanceId: target }, name, ...(data === undefined ? {} : { data }) },
    }),
  versionNotAvailable: (id: number) => action(id, { case: "workflowVersionNotAvailable", value: {} }),
};

function respond(
  backend: Backend,
  item: WorkItem,
  actions: WorkflowAction[],
  extra: Omit<MessageInitShape<typeof WorkflowResponseSchema>, "$typeName" | "instanceId" | "actions"> = {},
) {
  backend.completeWorkflowTask(
    create(WorkflowResponseSchema, {
      instanceId: workflowRequest(item).instanceId,
      completionToken: item.completionToken,
      actions,
      ...extra,
    }),
  );
}

const kinds = (events: readonly HistoryEvent[]) => events.map((e) => e.eventType.case);
const historyOf = (backend: Backend, id: string) =>
  backend.getInstanceHistory({ $typeName: "GetInstanceHistoryRequest", instanceId: id }).events;

function codeOf(fn: () => unknown): Code | undefined {
  try {
    fn();
  } catch (error) {
    return ConnectError.from(error).code;
  }
  return undefined;
}

async function codeOfAsync(promise: Promise<unknown>): Promise<Code | undefined> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error).code;
  }
  return undefined;
}

// --- workflows run by the in-process driver -------------------------------------------------------------------------

const double = defineActivity("double", (_ctx, n: number) => n * 2);
const chain = defineWorkflow("chain", function* (ctx) {
  let n = 1;
  for (let i = 0; i < 3; i++) n = yield* ctx.callActivity(double, { input: n });
  return n;
});
const leaf = defineWorkflow("leaf", (_ctx, n: number) => n + 1);
const failingLeaf = defineWorkflow("failingLeaf", () => {
  throw new TypeError("leaf broke");
});
const parent = defineWorkflow("parent", function* (ctx) {
  const results = yield* whenAll([
    ctx.callChildWorkflow(leaf, { input: 1 }),
    ctx.callChildWorkflow(leaf, { input: 2 }),
  ]);
  return results;
});
const waitsForever = defineWorkflow("waitsForever", function* (ctx) {
  yield ctx.waitForExternalEvent("never");
});
const parentOfWaiters = defineWorkflow("parentOfWaiters", function* (ctx) {
  yield* whenAll([
    ctx.callChildWorkflow(waitsForever, { instanceId: `${ctx.instanceId}-a` }),
    ctx.callChildWorkflow(waitsForever, { instanceId: `${ctx.instanceId}-b` }),
  ]);
});
const waitForEvent = defineWorkflow("waitForEvent", function* (ctx) {
  const value: unknown = yield ctx.waitForExternalEvent("go");
  return value;
});
const counter = defineWorkflow("counter", (ctx, n: number) => {
  if (n < 5) ctx.continueAsNew(n + 1);
  return n;
});
const sender = defineWorkflow("sender", (ctx, target: string) => {
  ctx.sendEvent(target, "go", "from sender");
  return "sent";
});
const catchesChild = defineWorkflow("catchesChild", function* (ctx) {
  try {
    yield ctx.callChildWorkflow(failingLeaf, { instanceId: `${ctx.instanceId}-child` });
    return "no error";
  } catch (error) {
    return (error as Error).message;
  }
});

const registry = () =>
  new Registry()
    .addWorkflow(chain)
    .addActivity(double)
    .addWorkflow(leaf)
    .addWorkflow(failingLeaf)
    .addWorkflow(parent)
    .addWorkflow(waitsForever)
    .addWorkflow(parentOfWaiters)
    .addWorkflow(waitForEvent)
    .addWorkflow(counter)
    .addWorkflow(sender)
    .addWorkflow(catchesChild);

// --- tests ----------------------------------------------------------------------------------------------------------

// The same suite runs on each store: the backend must not care which one it has.
const stores: [string, () => Store][] = [
  ["MemoryStore", () => new MemoryStore()],
  [
    "SqliteStore",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "dt-sidecar-test-"));
      const store = new SqliteStore(join(dir, "state.db"));
      cleanups.unshift(() => {
        store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return store;
    },
  ],
];
for (const [name, make] of stores) {
  describe(`backend on ${name}`, () => {
    beforeAll(() => {
      makeStore = make;
    });
    backendSuite();
  });
}

describe("work item encoding", () => {
  const events = [
    history.executionStarted("wf", "size", JSON.stringify("x".repeat(20_000)), { executionId: "e" }),
    history.taskScheduled(1, "t", "y".repeat(130)),
    history.taskCompleted(1, "1"),
    history.eventRaised("e"),
  ];
  const requests = [
    create(WorkflowRequestSchema, { instanceId: "size" }),
    create(WorkflowRequestSchema, {
      instanceId: "size",
      executionId: "e",
      pastEvents: events.slice(0, 2),
      newEvents: events.slice(2),
      cachedHistory: { eventCount: 7 },
      requiresHistoryStreaming: true,
    }),
    create(WorkflowRequestSchema, {
      instanceId: "i",
      pastEvents: events,
      newEvents: [history.workflowStarted(new Date())],
    }),
    create(WorkflowRequestSchema, { instanceId: "ünï-\u{1F600}", executionId: "", cachedHistory: { eventCount: 0 } }),
    create(WorkflowRequestSchema, {
      instanceId: "x".repeat(300),
      executionId: "é".repeat(100),
      newEvents: events,
      cachedHistory: { eventCount: 300 },
      router: { sourceAppID: "app" },
    }),
  ];

  it("sizes a workflow request as its encoding, event sizes measured once", () => {
    for (const request of requests) {
      expect(workflowRequestSize(request)).toBe(toBinary(WorkflowRequestSchema, request).length);
    }
  });

  it("encodes work items to the same bytes as protobuf-es", () => {
    const items = [
      ...requests.map((value) =>
        create(WorkItemSchema, { completionToken: "tok", request: { case: "workflowRequest", value } }),
      ),
      create(WorkItemSchema, { request: { case: "workflowRequest", value: requests[1] as WorkflowRequest } }),
      create(WorkItemSchema, {
        completionToken: "t".repeat(200),
        request: { case: "workflowRequest", value: requests[4] as WorkflowRequest },
      }),
      create(WorkItemSchema, {
        completionToken: "a",
        request: { case: "activityRequest", value: { name: "t", taskId: 1, input: '"x"' } },
      }),
    ];
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
    for (const item of items) expect(hex(encodeWorkItem(item))).toBe(hex(toBinary(WorkItemSchema, item)));
  });
});

describe("backend on SqliteStore: group commit and a crash", () => {
  it("work handed out before its group is durable is redone after a crash that loses the group", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-sidecar-crash-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "state.db");
    const image = join(dir, "crash.db");
    const store = new SqliteStore(path);
    cleanups.push(() => store.close());
    const { backend } = setup({ store });
    const stream = pull(backend);
    await start(backend, "lost-turn", "chain");
    await store.whenDurable(); // the start is acknowledged
    const turn = await stream.next();
    respond(backend, turn, [act.task(1, "double", "1")]);
    // The activity reaches the worker while the group holding the turn's commit is still open…
    const activity = await stream.next();
    expect(activity.request.case).toBe("activityRequest");
    expect(store.whenDurable()).toBeInstanceOf(Promise);
    // …and the process dies now: the files as they are (what the OS holds; no COMMIT for the group) are the crash.
    copyFileSync(path, image);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${image}-wal`);
    await store.whenDurable();
    await stream.close();
    backend.close();

    const recovered = new SqliteStore(image);
    cleanups.push(() => recovered.close());
    const after = setup({ store: recovered }).backend;
    expect(recovered.listActivities()).toEqual([]); // the scheduled activity went with the group
    // The late answer to the lost dispatch finds nothing to resolve, and changes nothing.
    expect(
      codeOf(() =>
        after.completeActivityTask({
          $typeName: "ActivityResponse",
          instanceId: "lost-turn",
          taskId: 1,
          result: "2",
          completionToken: activity.completionToken,
        }),
      ),
    ).toBe(Code.NotFound);
    // The turn is handed out again and the workflow runs to its end, each step once in its history.
    drive(after, registry());
    expect((await completion(after, "lost-turn")).output).toBe("8");
    const steps = kinds(historyOf(after, "lost-turn")).filter((k) => k !== "workflowStarted");
    expect(steps.filter((k) => k === "executionStarted")).toHaveLength(1);
    expect(steps.filter((k) => k === "taskScheduled")).toHaveLength(3);
    expect(steps.filter((k) => k === "taskCompleted")).toHaveLength(3);
  });
});

function backendSuite() {
  describe("turns", () => {
    it("runs a chain: WorkflowStarted first in every turn, the execution id, event ids from action ids", async () => {
      const { backend } = setup();
      const driver = drive(backend, registry());
      await start(backend, "chain-1", "chain", { executionId: "exec-1" });
      const state = await completion(backend, "chain-1");
      expect(state.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
      expect(state.output).toBe("8");
      expect(state.executionId).toBe("exec-1");
      const history = historyOf(backend, "chain-1");
      // 4 turns × 3 events, and never a WorkflowCompleted.
      expect(kinds(history)).toEqual([
        "workflowStarted",
        "executionStarted",
        "taskScheduled",
        "workflowStarted",
        "taskCompleted",
        "taskScheduled",
        "workflowStarted",
        "taskCompleted",
        "taskScheduled",
        "workflowStarted",
        "taskCompleted",
        "executionCompleted",
      ]);
      expect(history.filter((e) => e.eventType.case === "taskScheduled").map((e) => e.eventId)).toEqual([1, 2, 3]);
      expect(history.filter((e) => e.eventType.case === "workflowStarted").every((e) => e.eventId === -1)).toBe(true);
      const turns = driver.items.filter((i) => i.request.case === "workflowRequest").map(workflowRequest);
      expect(turns).toHaveLength(4);
      for (const turn of turns) {
        expect(turn.newEvents[0]?.eventType.case).toBe("workflowStarted");
        expect(turn.executionId).toBe("exec-1");
      }
      // Past events are the committed history before each turn.
      expect(turns.map((t) => t.pastEvents.length)).toEqual([0, 3, 6, 9]);
      expect(state.startedAt).toBeDefined();
      expect(state.completedTimestamp).toBeDefined();
    });

    it("hands out one turn per instance at a time; what arrives meanwhile makes the next turn", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "one", "waitForEvent");
      const first = await stream.next();
      expect(kinds(workflowRequest(first).newEvents)).toEqual(["workflowStarted", "executionStarted"]);
      backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "one", name: "a" });
      backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "one", name: "b" });
      expect(await stream.idle()).toBe(true);
      respond(backend, first, []);
      const second = workflowRequest(await stream.next());
      expect(kinds(second.newEvents)).toEqual(["workflowStarted", "eventRaised", "eventRaised"]);
      expect(kinds(second.pastEvents)).toEqual(["workflowStarted", "executionStarted"]);
    });

    it("drops results already in history (duplicates) before the turn", async () => {
      const store = makeStore();
      const { backend } = setup({ store });
      const stream = pull(backend);
      await start(backend, "dup", "x");
      respond(backend, await stream.next(), [act.task(1, "a")]);
      await stream.close();
      backend.close();
      // Two results for task 1 and one for a timer that was never created reach the inbox (e.g. redelivered).
      const completed = (result: string) =>
        create(HistoryEventSchema, {
          eventId: -1,
          eventType: { case: "taskCompleted", value: { taskScheduledId: 1, result } },
        });
      store.transaction((tx) => {
        tx.addInbox("dup", completed('"first"'));
        tx.addInbox("dup", completed('"second"'));
      });
      const { backend: restarted } = setup({ store });
      const next = workflowRequest(await pull(restarted).next());
      expect(kinds(next.newEvents)).toEqual(["workflowStarted", "taskCompleted"]);
      const result = next.newEvents[1]?.eventType;
      expect(result?.case === "taskCompleted" ? result.value.result : undefined).toBe('"first"');
      expect(store.getInbox("dup")).toHaveLength(2); // consumed only when the turn commits
    });

    it("keeps a custom status until a turn sets another", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "status", "x");
      respond(backend, await stream.next(), [], { customStatus: "first" });
      backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "status", name: "e" });
      respond(backend, await stream.next(), []);
      expect(backend.getInstance(getReq("status")).workflowState?.customStatus).toBe("first");
    });
  });

  describe("children", () => {
    it("creates children under <parent>:<4-hex action id> and reports their results to the parent", async () => {
      const { backend } = setup();
      drive(backend, registry());
      await start(backend, "p", "parent");
      const state = await completion(backend, "p");
      expect(state.output).toBe("[2,3]");
      const childIds = historyOf(backend, "p").flatMap((e) =>
        e.eventType.case === "childWorkflowInstanceCreated" ? [e.eventType.value.instanceId] : [],
      );
      expect(childIds).toEqual(["p:0001", "p:0002"]);
      const child = backend.getInstance(getReq("p:0001")).workflowState;
      expect(child?.parentInstanceId).toBe("p");
      expect(child?.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
      expect(kinds(historyOf(backend, "p"))).toContain("childWorkflowInstanceCompleted");
    });

    it("reports a failed child to its parent as ChildWorkflowInstanceFailed with the child's failure", async () => {
      const { backend } = setup();
      drive(backend, registry());
      await start(backend, "cp", "catchesChild");
      const state = await completion(backend, "cp");
      expect(state.workflowStatus).toBe(OrchestrationStatus.COMPLETED);
      expect(state.output).toContain("leaf broke");
      const failed = historyOf(backend, "cp").find(
        (e) => e.eventType.case === "childWorkflowInstanceFailed",
      )?.eventType;
      expect(failed?.case === "childWorkflowInstanceFailed" ? failed.value.failureDetails?.errorType : "").toBe(
        "TypeError",
      );
    });

    it("fails the child creation when its id belongs to a running instance", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "busy", "other");
      respond(backend, await stream.next(), []); // 'busy' is now RUNNING
      await start(backend, "owner", "x");
      respond(backend, await stream.next(), [act.child(1, "leaf", "busy")]);
      const next = workflowRequest(await stream.next());
      const failed = next.newEvents[1]?.eventType;
      expect(failed?.case).toBe("childWorkflowInstanceFailed");
      expect(failed?.case === "childWorkflowInstanceFailed" ? failed.value.failureDetails?.errorMessage : "").toMatch(
        /already exists/,
      );
    });

    it("terminates recursively through ChildWorkflowInstanceCreated, or leaves children running", async () => {
      const { backend } = setup();
      drive(backend, registry());
      for (const recursive of [true, false]) {
        const id = `tree-${recursive}`;
        await start(backend, id, "parentOfWaiters");
        await statusOf(backend, `${id}-a`, OrchestrationStatus.RUNNING);
        await statusOf(backend, `${id}-b`, OrchestrationStatus.RUNNING);
        await backend.terminateInstance(
          { $typeName: "TerminateRequest", instanceId: id, output: '"bye"', recursive },
          AbortSignal.timeout(5_000),
        );
        const root = backend.getInstance(getReq(id)).workflowState;
        expect(root?.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
        expect(root?.output).toBe('"bye"');
        if (recursive) {
          for (const child of [`${id}-a`, `${id}-b`]) {
            expect((await completion(backend, child)).workflowStatus).toBe(OrchestrationStatus.TERMINATED);
          }
        } else {
          await new Promise((resolve) => setTimeout(resolve, 50));
          expect(backend.getInstance(getReq(`${id}-a`)).workflowState?.workflowStatus).toBe(
            OrchestrationStatus.RUNNING,
          );
        }
      }
    });

    it("tells the parent of a terminated child why, in failure details", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "tp", "x");
      respond(backend, await stream.next(), [act.child(1, "leaf", "tc")]);
      respond(backend, await stream.next(), []); // the child's first turn
      const terminate = backend.terminateInstance(
        { $typeName: "TerminateRequest", instanceId: "tc", output: '"stop"', recursive: false },
        AbortSignal.timeout(5_000),
      );
      respond(backend, await stream.next(), [act.complete(2, '"stop"', OrchestrationStatus.TERMINATED)]);
      await terminate;
      const parentTurn = workflowRequest(await stream.next());
      const failed = parentTurn.newEvents[1]?.eventType;
      expect(failed?.case === "childWorkflowInstanceFailed" ? failed.value.failureDetails?.errorType : "").toBe(
        "WorkflowTerminatedError",
      );
    });
  });

  describe("lifecycle", () => {
    it("continues as new: history reset, new execution id, carryover first, old pending work dropped", async () => {
      const { backend, store } = setup();
      const stream = pull(backend);
      await start(backend, "can", "x", { input: "0" });
      const first = await stream.next();
      const firstExecution = workflowRequest(first).executionId;
      respond(backend, first, [act.task(1, "slow")]);
      expect((await stream.next()).request.case).toBe("activityRequest");
      backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "can", name: "kept" });
      const second = await stream.next();
      const carried = create(HistoryEventSchema, {
        eventId: -1,
        eventType: { case: "eventRaised", value: { name: "kept", input: '"x"' } },
      });
      respond(backend, second, [act.continueAsNew(2, '"1"', [carried])]);
      expect(historyOf(backend, "can")).toEqual([]);
      expect(store.listActivities("can")).toEqual([]);
      const thirdItem = await stream.next();
      const third = workflowRequest(thirdItem);
      expect(third.pastEvents).toEqual([]);
      expect(kinds(third.newEvents)).toEqual(["workflowStarted", "executionStarted", "eventRaised"]);
      expect(third.executionId).not.toBe(firstExecution);
      const started = third.newEvents[1]?.eventType;
      expect(started?.case === "executionStarted" ? started.value.input : undefined).toBe('"1"');
      // The old execution's activity is gone: its late result is refused (the worker just logs it).
      expect(
        codeOf(() =>
          backend.completeActivityTask({
            $typeName: "ActivityResponse",
            instanceId: "can",
            taskId: 1,
            result: "1",
            completionToken: "",
          }),
        ),
      ).toBe(Code.NotFound);
      respond(backend, thirdItem, [act.complete(1, '"done"')]);
      const state = await completion(backend, "can");
      expect(state.output).toBe('"done"');
      expect(state.input).toBe('"1"');
      expect(kinds(historyOf(backend, "can")).filter((k) => k === "executionStarted")).toHaveLength(1);
    });

    it("loops continue-as-new to completion with the engine", async () => {
      const { backend } = setup();
      drive(backend, registry());
      await start(backend, "count", "counter", { input: "0" });
      const state = await completion(backend, "count");
      expect(state.output).toBe("5");
      expect(state.input).toBe("5");
    });

    it("suspends and resumes: events still go to the worker, the status follows the turns", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "sus", "x");
      respond(backend, await stream.next(), []);
      const suspended = backend.suspendInstance(
        { $typeName: "SuspendRequest", instanceId: "sus", reason: "maintenance" },
        AbortSignal.timeout(5_000),
      );
      const turn = await stream.next();
      const suspendEvent = workflowRequest(turn).newEvents[1]?.eventType;
      expect(suspendEvent?.case === "executionSuspended" ? suspendEvent.value.input : "").toBe("maintenance");
      respond(backend, turn, []);
      await suspended;
      expect(backend.getInstance(getReq("sus")).workflowState?.workflowStatus).toBe(OrchestrationStatus.SUSPENDED);
      backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "sus", name: "while-suspended" });
      respond(backend, await stream.next(), []);
      const resumed = backend.resumeInstance(
        { $typeName: "ResumeRequest", instanceId: "sus" },
        AbortSignal.timeout(5_000),
      );
      respond(backend, await stream.next(), []);
      await resumed;
      expect(backend.getInstance(getReq("sus")).workflowState?.workflowStatus).toBe(OrchestrationStatus.RUNNING);
    });

    it("forces a terminate the worker ignores, and drops what that turn scheduled", async () => {
      const { backend, store } = setup();
      const stream = pull(backend);
      await start(backend, "ignore", "x");
      respond(backend, await stream.next(), []);
      const terminated = backend.terminateInstance(
        { $typeName: "TerminateRequest", instanceId: "ignore", output: '"forced"', recursive: true },
        AbortSignal.timeout(5_000),
      );
      respond(backend, await stream.next(), [act.task(1, "late")]);
      await terminated;
      const state = await completion(backend, "ignore");
      expect(state.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
      expect(state.output).toBe('"forced"');
      expect(store.listActivities("ignore")).toEqual([]);
      expect(await stream.idle()).toBe(true);
    });

    it("a terminate wins over continue-as-new in the same turn", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "tcan", "x");
      respond(backend, await stream.next(), []);
      const terminated = backend.terminateInstance(
        { $typeName: "TerminateRequest", instanceId: "tcan", recursive: false },
        AbortSignal.timeout(5_000),
      );
      respond(backend, await stream.next(), [act.continueAsNew(1, '"again"')]);
      await terminated;
      expect((await completion(backend, "tcan")).workflowStatus).toBe(OrchestrationStatus.TERMINATED);
    });

    it("keeps a scheduled start PENDING until its time; a terminate does not wait for it", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      const at = Date.now() + 60_000;
      await start(backend, "later", "x", { scheduledStartTimestamp: timestampFromMs(at) });
      const state = backend.getInstance(getReq("later")).workflowState;
      expect(state?.workflowStatus).toBe(OrchestrationStatus.PENDING);
      expect(Number(state?.scheduledStartTimestamp?.seconds)).toBe(Math.floor(at / 1000));
      expect(await stream.idle()).toBe(true);
      const terminated = backend.terminateInstance(
        { $typeName: "TerminateRequest", instanceId: "later", recursive: false },
        AbortSignal.timeout(5_000),
      );
      const turn = await stream.next();
      expect(kinds(workflowRequest(turn).newEvents)).toEqual([
        "workflowStarted",
        "executionStarted",
        "executionTerminated",
      ]);
      respond(backend, turn, [act.complete(1, undefined, OrchestrationStatus.TERMINATED)]);
      await terminated;
    });

    it("starts a scheduled instance when its time comes (no polling: the timer wakes it)", async () => {
      const { backend } = setup();
      drive(backend, registry());
      await start(backend, "soon", "leaf", { input: "1", scheduledStartTimestamp: timestampFromMs(Date.now() + 200) });
      expect(backend.getInstance(getReq("soon")).workflowState?.workflowStatus).toBe(OrchestrationStatus.PENDING);
      expect((await completion(backend, "soon")).output).toBe("2");
    });

    it("fires durable timers; the 9999 sentinel is stored but never fires", async () => {
      const { backend, store } = setup();
      const stream = pull(backend);
      await start(backend, "timers", "x");
      const sentinel = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
      respond(backend, await stream.next(), [act.timer(1, Date.now() + 50), act.timer(2, sentinel)]);
      const item = await stream.next();
      const event = workflowRequest(item).newEvents[1]?.eventType;
      expect(event?.case === "timerFired" ? event.value.timerId : undefined).toBe(1);
      respond(backend, item, []);
      expect(store.getInbox("timers").map((e) => e.visibleAt)).toEqual([sentinel]);
    });

    it("delivers sendEvent to the target as EventRaised", async () => {
      const { backend } = setup();
      drive(backend, registry());
      await start(backend, "receiver", "waitForEvent");
      await start(backend, "sender-1", "sender", { input: '"receiver"' });
      expect((await completion(backend, "receiver")).output).toBe('"from sender"');
      expect(kinds(historyOf(backend, "sender-1"))).toContain("eventSent");
    });

    it("StartInstance waits for the first turn by default, and gives up with the caller's deadline", async () => {
      const { backend } = setup({ waitForStart: true });
      const deadline = AbortSignal.timeout(100);
      await expect(backend.startInstance(startReq("waits", "leaf"), deadline)).rejects.toBeDefined();
      expect(backend.getInstance(getReq("waits")).workflowState?.workflowStatus).toBe(OrchestrationStatus.PENDING);
      drive(backend, registry());
      await backend.startInstance(startReq("waits-2", "leaf", { input: "1" }), AbortSignal.timeout(5_000));
      expect(backend.getInstance(getReq("waits-2")).workflowState?.workflowStatus).not.toBe(
        OrchestrationStatus.PENDING,
      );
    });
  });

  describe("client operations", () => {
    it("refuses a running id, reuses a finished one, and honours enforceUniqueInstanceId", async () => {
      const { backend } = setup();
      drive(backend, registry());
      await start(backend, "reuse", "waitForEvent");
      expect(await codeOfAsync(start(backend, "reuse", "leaf"))).toBe(Code.AlreadyExists);
      backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "reuse", name: "go", input: '"x"' });
      const first = await completion(backend, "reuse");
      await start(backend, "reuse", "leaf", { input: "41" });
      const second = await completion(backend, "reuse");
      expect(second.output).toBe("42");
      expect(second.executionId).not.toBe(first.executionId);
      // enforceUniqueInstanceId (field 10, newer than our generated proto) arrives as an unknown field.
      const unique = startReq("reuse", "leaf");
      unique.$unknown = [{ no: 10, wireType: 0, data: new Uint8Array([1]) }];
      expect(await codeOfAsync(backend.startInstance(unique))).toBe(Code.AlreadyExists);
    });

    it("validates ids and names with INVALID_ARGUMENT", async () => {
      const { backend } = setup();
      expect(await codeOfAsync(start(backend, "", "x"))).toBe(Code.InvalidArgument);
      expect(await codeOfAsync(start(backend, "a".repeat(1025), "x"))).toBe(Code.InvalidArgument);
      expect(await codeOfAsync(start(backend, "bad\nid", "x"))).toBe(Code.InvalidArgument);
      expect(await codeOfAsync(start(backend, "ok", ""))).toBe(Code.InvalidArgument);
      expect(
        await codeOfAsync(start(backend, "ok", "x", { parentTraceContext: { traceParent: "not-a-traceparent" } })),
      ).toBe(Code.InvalidArgument);
      expect(codeOf(() => backend.getInstance(getReq("")))).toBe(Code.InvalidArgument);
      await start(backend, "ok", "x");
      expect(codeOf(() => backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "ok", name: "" }))).toBe(
        Code.InvalidArgument,
      );
    });

    it("answers unknown instances: exists=false, NOT_FOUND for waits, events, terminate, history and purge", async () => {
      const { backend } = setup();
      expect(backend.getInstance(getReq("nope")).exists).toBe(false);
      expect(await codeOfAsync(backend.waitForInstanceCompletion(getReq("nope")))).toBe(Code.NotFound);
      expect(await codeOfAsync(backend.waitForInstanceStart(getReq("nope")))).toBe(Code.NotFound);
      expect(codeOf(() => backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "nope", name: "e" }))).toBe(
        Code.NotFound,
      );
      expect(
        await codeOfAsync(
          backend.terminateInstance({ $typeName: "TerminateRequest", instanceId: "nope", recursive: false }),
        ),
      ).toBe(Code.NotFound);
      expect(await codeOfAsync(backend.suspendInstance({ $typeName: "SuspendRequest", instanceId: "nope" }))).toBe(
        Code.NotFound,
      );
      expect(codeOf(() => historyOf(backend, "nope"))).toBe(Code.NotFound);
      expect(
        codeOf(() =>
          backend.purgeInstances({
            $typeName: "PurgeInstancesRequest",
            request: { case: "instanceId", value: "nope" },
            recursive: false,
          }),
        ),
      ).toBe(Code.NotFound);
    });

    it("purges: only finished instances unless forced, recursively, and by filter", async () => {
      const { backend } = setup();
      drive(backend, registry());
      const purge = (id: string, options: { recursive?: boolean; force?: boolean } = {}) =>
        backend.purgeInstances({
          $typeName: "PurgeInstancesRequest",
          request: { case: "instanceId", value: id },
          recursive: options.recursive ?? false,
          ...(options.force === undefined ? {} : { force: options.force }),
        }).deletedInstanceCount;
      await start(backend, "running", "waitForEvent");
      const refused = (() => {
        try {
          purge("running");
        } catch (error) {
          return ConnectError.from(error);
        }
        return undefined;
      })();
      expect(refused?.code).toBe(Code.FailedPrecondition);
      expect(refused?.rawMessage).toMatch(/not yet completed/);
      expect(purge("running", { force: true })).toBe(1);
      expect(backend.getInstance(getReq("running")).exists).toBe(false);

      await start(backend, "family", "parent");
      await completion(backend, "family");
      expect(purge("family", { recursive: true })).toBe(3);
      expect(backend.getInstance(getReq("family:0001")).exists).toBe(false);

      for (const id of ["f-1", "f-2"]) await start(backend, id, "leaf", { input: "1" });
      await start(backend, "f-bad", "failingLeaf");
      await start(backend, "f-run", "waitForEvent");
      for (const id of ["f-1", "f-2", "f-bad"]) await completion(backend, id);
      const byFilter = (statuses: OrchestrationStatus[]) =>
        backend.purgeInstances({
          $typeName: "PurgeInstancesRequest",
          request: {
            case: "purgeInstanceFilter",
            value: { $typeName: "PurgeInstanceFilter", runtimeStatus: statuses },
          },
          recursive: true,
        });
      expect(byFilter([OrchestrationStatus.FAILED]).deletedInstanceCount).toBe(1);
      const rest = byFilter([]);
      expect(rest.deletedInstanceCount).toBe(2);
      expect(rest.isComplete).toBe(true);
      expect(backend.getInstance(getReq("f-run")).exists).toBe(true);
    });

    it("pages instance ids in id order with continuation tokens", async () => {
      const { backend } = setup();
      for (const id of ["e", "a", "d", "c", "b"]) await start(backend, id, "x");
      const page = (token?: string) =>
        backend.listInstanceIDs({
          $typeName: "ListInstanceIDsRequest",
          pageSize: 2,
          ...(token === undefined ? {} : { continuationToken: token }),
        });
      const one = page();
      expect(one.instanceIds).toEqual(["a", "b"]);
      const two = page(one.continuationToken);
      expect(two.instanceIds).toEqual(["c", "d"]);
      const three = page(two.continuationToken);
      expect(three.instanceIds).toEqual(["e"]);
      expect(three.continuationToken).toBeUndefined();
      expect(backend.listInstanceIDs({ $typeName: "ListInstanceIDsRequest" }).instanceIds).toHaveLength(5);
      expect(codeOf(() => page("!!not a token!!"))).toBe(Code.InvalidArgument);
    });

    it("keeps tags, version and the requested execution id", async () => {
      const { backend } = setup();
      await start(backend, "tagged", "x", { tags: { a: "1" }, version: "v2", executionId: "e-1" });
      const state = backend.getInstance(getReq("tagged")).workflowState;
      expect(state?.tags).toEqual({ a: "1" });
      expect(state?.version).toBe("v2");
      expect(state?.executionId).toBe("e-1");
    });

    it("drops an event for a finished instance without an error", async () => {
      const { backend } = setup();
      drive(backend, registry());
      await start(backend, "done", "leaf", { input: "1" });
      await completion(backend, "done");
      backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "done", name: "late" });
      expect(kinds(historyOf(backend, "done"))).not.toContain("eventRaised");
    });

    it("reruns from an activity: the new instance replays up to it and runs it again", async () => {
      const { backend } = setup();
      drive(backend, registry());
      await start(backend, "src", "chain");
      await completion(backend, "src");
      const res = await backend.rerunWorkflowFromEvent(
        {
          $typeName: "RerunWorkflowFromEventRequest",
          sourceInstanceID: "src",
          eventID: 2,
          newInstanceID: "copy",
          overwriteInput: true,
          input: "10",
        },
        AbortSignal.timeout(5_000),
      );
      expect(res.newInstanceID).toBe("copy");
      const state = await completion(backend, "copy");
      expect(state.output).toBe("40"); // 1 → 2, then 10 → 20 → 40
      expect(state.executionId).not.toBe(backend.getInstance(getReq("src")).workflowState?.executionId);
      const rerunErrors = [
        { sourceInstanceID: "src", eventID: 2, newInstanceID: "src" }, // same id
        { sourceInstanceID: "missing", eventID: 2 },
        { sourceInstanceID: "src", eventID: 77 },
        { sourceInstanceID: "src", eventID: 2, newInstanceID: "copy" }, // taken
      ];
      const codes = await Promise.all(
        rerunErrors.map((r) =>
          codeOfAsync(
            backend.rerunWorkflowFromEvent({ $typeName: "RerunWorkflowFromEventRequest", overwriteInput: false, ...r }),
          ),
        ),
      );
      expect(codes).toEqual([Code.InvalidArgument, Code.NotFound, Code.NotFound, Code.AlreadyExists]);
    });
  });

  describe("stalls", () => {
    it("stalls on a patch mismatch: STALLED, nothing committed, events refused, a terminate gets through", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "patched", "x");
      respond(backend, await stream.next(), [act.timer(1, Date.now())], { version: { patches: ["p1"] } });
      const second = await stream.next();
      respond(backend, second, [act.task(2, "t")], { version: { patches: ["p2"] } });
      const state = backend.getInstance(getReq("patched")).workflowState;
      expect(state?.workflowStatus).toBe(OrchestrationStatus.STALLED);
      const last = historyOf(backend, "patched").at(-1)?.eventType;
      expect(last?.case).toBe("executionStalled");
      expect(last?.case === "executionStalled" ? last.value.reason : undefined).toBe(StalledReason.PATCH_MISMATCH);
      expect(kinds(historyOf(backend, "patched"))).not.toContain("taskScheduled");
      expect(
        codeOf(() => backend.raiseEvent({ $typeName: "RaiseEventRequest", instanceId: "patched", name: "e" })),
      ).toBe(Code.FailedPrecondition);
      expect(await stream.idle()).toBe(true);
      const terminated = backend.terminateInstance(
        { $typeName: "TerminateRequest", instanceId: "patched", recursive: false },
        AbortSignal.timeout(5_000),
      );
      const retry = await stream.next();
      // The stalled turn's events come again, with the terminate.
      expect(kinds(workflowRequest(retry).newEvents)).toEqual(["workflowStarted", "timerFired", "executionTerminated"]);
      respond(backend, retry, [act.complete(3, undefined, OrchestrationStatus.TERMINATED)], {
        version: { patches: ["p1"] },
      });
      await expect(terminated).resolves.toBeUndefined();
      expect(backend.getInstance(getReq("patched")).workflowState?.workflowStatus).toBe(OrchestrationStatus.TERMINATED);
    });

    it("stores only the new patches of a turn, and stalls on workflowVersionNotAvailable", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "versions", "x");
      respond(backend, await stream.next(), [act.timer(1, Date.now())], { version: { patches: ["a"], name: "v1" } });
      respond(backend, await stream.next(), [act.timer(2, Date.now())], {
        version: { patches: ["a", "b"], name: "v1" },
      });
      const versions = historyOf(backend, "versions").flatMap((e) =>
        e.eventType.case === "workflowStarted" ? [e.eventType.value.version?.patches ?? []] : [],
      );
      expect(versions).toEqual([["a"], ["b"]]);
      respond(backend, await stream.next(), [act.versionNotAvailable(3)]);
      const last = historyOf(backend, "versions").at(-1)?.eventType;
      expect(last?.case === "executionStalled" ? last.value : undefined).toMatchObject({
        reason: StalledReason.VERSION_NOT_AVAILABLE,
        description: "Version not available: v1",
      });
    });

    it("stalls an instance whose work item would be too large instead of sending it", async () => {
      const { backend } = setup({ maxWorkItemBytes: 1_000 });
      const stream = pull(backend);
      await start(backend, "big", "x", { input: JSON.stringify("x".repeat(2_000)) });
      expect(await stream.idle()).toBe(true);
      const state = backend.getInstance(getReq("big")).workflowState;
      expect(state?.workflowStatus).toBe(OrchestrationStatus.STALLED);
      const stalled = historyOf(backend, "big").at(-1)?.eventType;
      expect(stalled?.case === "executionStalled" ? stalled.value.reason : undefined).toBe(
        StalledReason.PAYLOAD_SIZE_EXCEEDED,
      );
    });
  });

  describe("work-item streams", () => {
    it("drops a response with a stale completion token and accepts the current one (or an empty one)", async () => {
      const { backend } = setup();
      const stream = pull(backend);
      await start(backend, "tok", "x");
      const item = await stream.next();
      respond(backend, { ...item, completionToken: "stale" } as WorkItem, [act.complete(1, '"stale"')]);
      expect(backend.getInstance(getReq("tok")).workflowState?.workflowStatus).toBe(OrchestrationStatus.PENDING);
      respond(backend, { ...item, completionToken: "" } as WorkItem, [act.complete(1, '"legacy"')]);
      expect((await completion(backend, "tok")).output).toBe('"legacy"');
      expect(codeOf(() => respond(backend, item, []))).toBe(Code.NotFound);
    });

    it("hands a closed stream's turns and activities to the next stream, with new tokens", async () => {
      const { backend } = setup();
      const a = pull(backend);
      await start(backend, "moved", "x");
      const turn = await a.next();
      respond(backend, turn, [act.task(1, "work")]);
      const activity = await a.next();
      expect(activity.request.case).toBe("activityRequest");
      await a.close();
      const b = pull(backend);
      const again = await b.next();
      expect(again.request.case).toBe("activityRequest");
      expect(again.completionToken).not.toBe(activity.completionToken);
      // The old dispatch's answer is stale now; the new one's counts.
      backend.completeActivityTask({
        $typeName: "ActivityResponse",
        instanceId: "moved",
        taskId: 1,
        result: '"old"',
        completionToken: activity.completionToken,
      });
      backend.completeActivityTask({
        $typeName: "ActivityResponse",
        instanceId: "moved",
        taskId: 1,
        result: '"new"',
        completionToken: again.completionToken,
      });
      const next = workflowRequest(await b.next());
      const result = next.newEvents[1]?.eventType;
      expect(result?.case === "taskCompleted" ? result.value.result : undefined).toBe('"new"');
    });

    it("sends history deltas to streams with stateful history, and resets them on continue-as-new", async () => {
      const { backend } = setup();
      const stateful = pull(backend, { stateful: true });
      await start(backend, "delta", "x");
      respond(backend, await stateful.next(), [act.timer(1, Date.now())]);
      const i2 = await stateful.next();
      // The first turn had no history, so there is nothing to leave out yet.
      expect(workflowRequest(i2).cachedHistory).toBeUndefined();
      expect(workflowRequest(i2).pastEvents).toHaveLength(3);
      respond(backend, i2, [act.timer(2, Date.now())]);
      const i3 = await stateful.next();
      // The worker holds the 3 events it was sent; only the 3 committed since then come.
      expect(workflowRequest(i3).cachedHistory?.eventCount).toBe(3);
      expect(kinds(workflowRequest(i3).pastEvents)).toEqual(["workflowStarted", "timerFired", "timerCreated"]);
      respond(backend, i3, [act.continueAsNew(3, '"n"')]);
      const i4 = await stateful.next();
      expect(workflowRequest(i4).cachedHistory).toBeUndefined();
      expect(workflowRequest(i4).pastEvents).toEqual([]);
      respond(backend, i4, [act.timer(1, Date.now())]);
      // A stream without the capability always gets everything.
      await stateful.close();
      const plain = pull(backend);
      const i5 = workflowRequest(await plain.next());
      expect(i5.cachedHistory).toBeUndefined();
      expect(kinds(i5.pastEvents)).toEqual(["workflowStarted", "executionStarted", "timerCreated"]);
    });

    it("runs the engine over stateful deltas to the same result", async () => {
      const { backend } = setup();
      const driver = drive(backend, registry(), { stateful: true });
      await start(backend, "stateful-chain", "chain");
      expect((await completion(backend, "stateful-chain")).output).toBe("8");
      const deltas = driver.items.flatMap((i) =>
        i.request.case === "workflowRequest" && i.request.value.cachedHistory !== undefined ? [i.request.value] : [],
      );
      expect(deltas.length).toBeGreaterThan(0);
    });

    it("rebuilds its queue from the store after a restart: pending activities and due inbox entries", async () => {
      const store = makeStore();
      const first = setup({ store }).backend;
      const stream = pull(first);
      await start(first, "crash", "chain");
      respond(first, await stream.next(), [act.task(1, "double", "1")]);
      await stream.next(); // the activity, never answered: the sidecar "crashes"
      await stream.close();
      first.close();
      const { backend } = setup({ store });
      drive(backend, registry());
      expect((await completion(backend, "crash")).output).toBe("8");
    });
  });
}
