// Registration: what the worker receives for each kind of workflow function, and the async seam.
import { runWorkflowTurn } from "@dt/aio";
import { type WorkflowContext as CoreWorkflowContext, history, Registry, type WorkflowRegistration } from "@dt/core";
import { OrchestrationStatus } from "@dt/proto";
import { describe, expect, it } from "vitest";
import { type WorkflowActivityContext, WorkflowContext } from "./context.js";
import {
  type AsyncWorkflowAdapter,
  daprContextForAsyncWorkflows,
  passAsyncWorkflowThrough,
  type RegisteredWorkflowFunction,
  WorkflowRuntime,
  type WorkflowWorker,
  workflowKind,
} from "./runtime.js";

interface Added {
  readonly workflow: unknown;
  readonly registration: WorkflowRegistration | undefined;
}

function fakeWorker() {
  const workflows: Added[] = [];
  const activities: { activity: unknown; name: string | undefined }[] = [];
  const calls: string[] = [];
  const worker: WorkflowWorker = {
    addWorkflow(workflow, registration) {
      workflows.push({ workflow, registration });
      return this as never;
    },
    addActivity(activity, registration) {
      activities.push({ activity, name: registration?.name });
      return this as never;
    },
    async start() {
      calls.push("start");
    },
    async stop(options) {
      calls.push(`stop:${options?.timeoutMs ?? "-"}`);
    },
    async waitForReady(options) {
      calls.push(`ready:${options?.timeoutMs}`);
    },
  };
  return { worker, workflows, activities, calls };
}

async function runAsync(run: RegisteredWorkflowFunction, newEvents = started()) {
  const registry = new Registry().addWorkflow(run as never, { name: "wf" });
  // The worker's path: every turn runs through @dt/aio's turn runner (the engine's async mode).
  const result = await runWorkflowTurn({ instanceId: "i", pastEvents: [], newEvents }, registry);
  return result.actions.map((a) => a.workflowActionType);
}

const START = new Date("2024-01-01T00:00:00Z");
function started(input?: string) {
  return [history.workflowStarted(START), history.executionStarted("wf", "i", input)];
}

describe("WorkflowRuntime registration", () => {
  it("registers under the function's name or the given one, chainably", () => {
    const { worker, workflows, activities } = fakeWorker();
    const sequence = function* () {};
    const hello = (_ctx: WorkflowActivityContext, name: string) => name;
    const runtime = new WorkflowRuntime({ worker });
    expect(
      runtime
        .registerWorkflow(sequence)
        .registerWorkflowWithName("other", sequence, { version: "v2", isLatest: true, sandboxMode: "strict" })
        .registerActivity(hello)
        .registerActivityWithName("greet", hello),
    ).toBe(runtime);
    expect(workflows.map((w) => w.registration)).toEqual([
      { name: "sequence" },
      { name: "other", version: "v2", isLatest: true, sandboxMode: "strict" },
    ]);
    expect(activities.map((a) => a.name)).toEqual(["hello", "greet"]);
  });

  it("refuses anonymous functions and non-functions with INVALID_ARGUMENT", () => {
    const { worker } = fakeWorker();
    const runtime = new WorkflowRuntime({ worker });
    expect(() => runtime.registerWorkflow((() => function* () {})())).toThrow(/anonymous workflow/);
    expect(() => runtime.registerActivity(() => 1)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => runtime.registerWorkflowWithName("x", 42 as never)).toThrow(/must be a function/);
    expect(() => runtime.registerActivityWithName("x", null as never)).toThrow(/got null/);
  });

  it("gives generator and plain workflows the Dapr context", () => {
    const { worker, workflows } = fakeWorker();
    let seen: unknown;
    const plain = (ctx: WorkflowContext, input: number) => {
      seen = ctx;
      return input + 1;
    };
    new WorkflowRuntime({ worker }).registerWorkflow(plain);
    const run = workflows[0]?.workflow as (ctx: CoreWorkflowContext, input: number) => unknown;
    const core = { instanceId: "abc" } as CoreWorkflowContext;
    expect(run(core, 1)).toBe(2);
    expect(seen).toBeInstanceOf(WorkflowContext);
    expect((seen as WorkflowContext).getWorkflowInstanceId()).toBe("abc");
    expect((seen as WorkflowContext).core).toBe(core);
  });

  it("gives activities the Dapr activity context", () => {
    const { worker, activities } = fakeWorker();
    const act = (ctx: WorkflowActivityContext) => ctx.getWorkflowActivityId();
    new WorkflowRuntime({ worker }).registerActivity(act);
    const run = activities[0]?.activity as (ctx: unknown, input: unknown) => unknown;
    expect(run({ taskId: 4 }, undefined)).toBe(4);
  });

  it("start, waitForReady, stop and shutdown go to the worker", async () => {
    const { worker, calls } = fakeWorker();
    const runtime = new WorkflowRuntime({ worker });
    await runtime.start();
    await runtime.waitForReady(1234);
    await runtime.stop({ timeoutMs: 5 });
    await runtime.shutdown();
    await runtime[Symbol.asyncDispose]();
    expect(calls).toEqual(["start", "ready:1234", "stop:5", "stop:-", "stop:-"]);
  });
});

describe("the async seam", () => {
  it("tells async functions, async generator functions and the rest apart", () => {
    expect(workflowKind(async () => 1)).toBe("async");
    expect(workflowKind(async function* () {})).toBe("asyncGenerator");
    expect(workflowKind(function* () {})).toBe("sync");
    expect(workflowKind(() => Promise.resolve(1))).toBe("sync");
    expect(workflowKind(undefined)).toBe("sync");
  });

  it("by default gives async functions the Dapr context; passAsyncWorkflowThrough hands them to @dt/aio as they are", () => {
    const { worker, workflows } = fakeWorker();
    const monitor = async (_ctx: unknown, n: number) => n;
    new WorkflowRuntime({ worker }).registerWorkflow(monitor);
    expect(workflows[0]?.workflow).not.toBe(monitor);
    new WorkflowRuntime({ worker, asyncWorkflowAdapter: passAsyncWorkflowThrough }).registerWorkflow(monitor);
    expect(workflows[1]?.workflow).toBe(monitor);
    expect(passAsyncWorkflowThrough(monitor, "monitor")).toBe(monitor);
  });

  it("calls a custom adapter with the function and its name", () => {
    const { worker, workflows } = fakeWorker();
    const seen: unknown[] = [];
    const replacement = () => 1;
    const adapter: AsyncWorkflowAdapter = (workflow, name) => {
      seen.push(workflow, name);
      return replacement;
    };
    const monitor = async () => 1;
    new WorkflowRuntime({ worker, asyncWorkflowAdapter: adapter }).registerWorkflowWithName("m", monitor);
    expect(seen).toEqual([monitor, "m"]);
    expect(workflows[0]?.workflow).toBe(replacement);
  });

  it("daprContextForAsyncWorkflows: the async function gets the Dapr context; the engine awaits it", async () => {
    const wf = async (ctx: WorkflowContext, input: string) => {
      const greeting: string = await ctx.callActivity("hello", input);
      return `${ctx.getWorkflowInstanceId()}:${greeting}`;
    };
    const first = await runAsync(daprContextForAsyncWorkflows(wf, "wf"), started('"x"'));
    expect(first.map((a) => (a.case === "scheduleTask" ? [a.value.name, a.value.input] : a.case))).toEqual([
      ["hello", '"x"'],
    ]);
  });

  it("async function* workflows (@dapr/dapr's style) get the Dapr context and `yield` gives the task's result", async () => {
    const { worker, workflows } = fakeWorker();
    const sequence = async function* (ctx: WorkflowContext, input: string) {
      const a: string = yield ctx.callActivity("hello", input);
      const b: string = yield ctx.callActivity("hello", `${a}!`);
      return [a, b, ctx.getWorkflowInstanceId()];
    };
    new WorkflowRuntime({ worker }).registerWorkflow(sequence);
    const run = workflows[0]?.workflow as RegisteredWorkflowFunction;
    expect(workflowKind(run)).toBe("sync");
    const turn1 = await runAsync(run, started('"x"'));
    expect(turn1.map((a) => a.case)).toEqual(["scheduleTask"]);

    const registry = new Registry().addWorkflow(run as never, { name: "wf" });
    const past = [...started('"x"'), history.taskScheduled(1, "hello", '"x"')];
    const turn2 = await runWorkflowTurn(
      {
        instanceId: "i",
        pastEvents: past,
        newEvents: [history.workflowStarted(START), history.taskCompleted(1, '"A"')],
      },
      registry,
    );
    const scheduled = turn2.actions.map((a) => a.workflowActionType);
    expect(scheduled.map((a) => (a.case === "scheduleTask" ? a.value.input : a.case))).toEqual(['"A!"']);
    const turn3 = await runWorkflowTurn(
      {
        instanceId: "i",
        pastEvents: [
          ...past,
          history.workflowStarted(START),
          history.taskCompleted(1, '"A"'),
          history.taskScheduled(2, "hello"),
        ],
        newEvents: [history.workflowStarted(START), history.taskCompleted(2, '"B"')],
      },
      registry,
    );
    const done = turn3.actions.map((a) => a.workflowActionType).find((a) => a.case === "completeWorkflow");
    expect(done?.case === "completeWorkflow" ? [done.value.workflowStatus, done.value.result] : done).toEqual([
      OrchestrationStatus.COMPLETED,
      '["A","B","i"]',
    ]);
  });

  it("a failed task is thrown at the async generator's yield, where it can be caught", async () => {
    const { worker, workflows } = fakeWorker();
    const guarded = async function* (ctx: WorkflowContext) {
      try {
        yield ctx.callActivity("boom");
        return "no";
      } catch (error) {
        return `caught ${(error as { code: string }).code}`;
      }
    };
    new WorkflowRuntime({ worker }).registerWorkflow(guarded);
    const registry = new Registry().addWorkflow(workflows[0]?.workflow as never, { name: "wf" });
    const result = await runWorkflowTurn(
      {
        instanceId: "i",
        pastEvents: [...started(), history.taskScheduled(1, "boom")],
        newEvents: [history.workflowStarted(START), history.taskFailed(1, new Error("bad"))],
      },
      registry,
    );
    const done = result.actions.map((a) => a.workflowActionType).find((a) => a.case === "completeWorkflow");
    expect(done?.case === "completeWorkflow" ? done.value.result : done).toBe('"caught ACTIVITY_EXECUTION_FAILED"');
  });
});
