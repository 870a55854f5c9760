// OpenTelemetry spans of the worker, with a minimal recording tracer provider registered (its own file: the global
// provider and context manager stay out of the other tests).
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { defineActivity, defineWorkflow, history } from "@dt/core";
import {
  type Attributes,
  type Context,
  type ContextManager,
  context,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type TimeInput,
  TraceFlags,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activityItem, FakeSidecar, workflowItem } from "./testing/fake-sidecar.js";
import { TaskHubGrpcWorker } from "./worker.js";

interface Recorded {
  readonly name: string;
  readonly kind: SpanKind | undefined;
  readonly attributes: Attributes;
  readonly parent: SpanContext | undefined;
  readonly context: SpanContext;
  status: SpanStatus | undefined;
  ended: boolean;
}

const spans: Recorded[] = [];

class RecordingSpan implements Span {
  constructor(readonly record: Recorded) {}
  spanContext = () => this.record.context;
  setAttribute = () => this;
  setAttributes = () => this;
  addEvent = () => this;
  addLink = () => this;
  addLinks = () => this;
  setStatus = (status: SpanStatus) => {
    this.record.status = status;
    return this;
  };
  updateName = () => this;
  end = (_time?: TimeInput) => {
    this.record.ended = true;
  };
  isRecording = () => !this.record.ended;
  recordException = () => {};
}

const tracer: Tracer = {
  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = trace.getSpanContext(ctx);
    const record: Recorded = {
      name,
      kind: options.kind,
      attributes: options.attributes ?? {},
      parent,
      context: {
        traceId: parent?.traceId ?? randomBytes(16).toString("hex"),
        spanId: randomBytes(8).toString("hex"),
        traceFlags: TraceFlags.SAMPLED,
      },
      status: undefined,
      ended: false,
    };
    spans.push(record);
    return new RecordingSpan(record);
  },
  startActiveSpan: (() => {
    throw new Error("not used by the worker");
  }) as Tracer["startActiveSpan"],
};
const provider: TracerProvider = { getTracer: () => tracer };

const als = new AsyncLocalStorage<Context>();
const manager: ContextManager = {
  active: () => als.getStore() ?? ROOT_CONTEXT,
  with: (ctx, fn, thisArg, ...args) => als.run(ctx, () => fn.call(thisArg, ...args)),
  bind: (_ctx, target) => target,
  enable: () => manager,
  disable: () => manager,
};

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN = "b7ad6b7169203331";
const TRACE_PARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;

/** Polls (spans end after the sidecar answered, so its own change notifications come too early). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !condition(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let sidecar: FakeSidecar;
let worker: TaskHubGrpcWorker;
let activeInActivity: SpanContext | undefined;

const probe = defineActivity("probe", (_ctx, fail: boolean) => {
  activeInActivity = trace.getActiveSpan()?.spanContext();
  if (fail) throw new Error("probe failed");
  return "ok";
});
const traced = defineWorkflow("traced", function* (ctx) {
  return yield* ctx.callActivity(probe, { input: false });
});

beforeAll(async () => {
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  expect(context.setGlobalContextManager(manager)).toBe(true);
  sidecar = await FakeSidecar.start(0);
  worker = new TaskHubGrpcWorker({ address: sidecar.address, useEnvironment: false })
    .addWorkflow(traced)
    .addActivity(probe);
  await worker.start();
  await worker.waitForReady({ timeoutMs: 10_000 });
  await sidecar.waitFor(() => sidecar.streams.length > 0, "the worker's work-item stream");
});

afterAll(async () => {
  await worker.stop({ timeoutMs: 1_000 });
  await sidecar.stop();
  trace.disable();
  context.disable();
});

describe("OpenTelemetry spans (an SDK registered)", () => {
  it("a workflow turn is a SERVER span under the trace the workflow was started in", async () => {
    sidecar.push(
      workflowItem({
        instanceId: "inst-traced",
        newEvents: [
          history.workflowStarted(new Date()),
          history.executionStarted("traced", "inst-traced", undefined, { traceParent: TRACE_PARENT }),
        ],
        completionToken: "tok-wf",
      }),
    );
    await until(() => spans.some((s) => s.name === "workflow traced" && s.ended), "the workflow span");
    const span = spans.find((s) => s.name === "workflow traced");
    expect(span?.parent).toMatchObject({ traceId: TRACE_ID, spanId: PARENT_SPAN, isRemote: true });
    expect(span?.attributes).toEqual({ "dt.instanceId": "inst-traced" });
    expect(span?.kind).toBe(1); // SpanKind.SERVER
    expect(span?.status).toBeUndefined();
  });

  it("an activity is a SERVER span under the request's trace, active while the activity runs; a failure marks it", async () => {
    for (const [token, fail] of [
      ["tok-ok", false],
      ["tok-fail", true],
    ] as const) {
      const before = spans.length;
      sidecar.push(
        activityItem({
          name: "probe",
          input: JSON.stringify(fail),
          instanceId: "inst-act",
          taskId: 4,
          traceParent: TRACE_PARENT,
          completionToken: token,
        }),
      );
      await until(() => spans.slice(before).some((s) => s.ended), `the activity span (${token})`);
      const span = spans.slice(before).find((s) => s.name === "activity probe");
      expect(span?.parent).toMatchObject({ traceId: TRACE_ID, spanId: PARENT_SPAN });
      expect(span?.attributes).toEqual({ "dt.instanceId": "inst-act", "dt.taskId": 4 });
      expect(activeInActivity).toEqual(span?.context);
      if (fail) expect(span?.status).toMatchObject({ code: SpanStatusCode.ERROR, message: "probe failed" });
      else expect(span?.status).toBeUndefined();
    }
  });
});
