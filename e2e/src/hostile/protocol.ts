// What the hostile suite and its worker process (worker-process.ts) say to each other over the IPC channel, and the
// workflows the worker runs. Imported by both; plain erasable TypeScript, since the worker process runs under Node.
import { defineActivity, defineWorkflow } from "@dt/core";

/** Memory of the worker process: `rss` now (after a GC) and `maxRss`, the peak over its life (bytes). */
export interface Memory {
  readonly rss: number;
  readonly maxRss: number;
}

/** A failure as it crossed the process boundary. */
export interface ErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly grpcCode?: string;
}

export type FromWorker =
  /** The worker is built and registered but not started: the baseline memory. */
  | { readonly type: "idle"; readonly memory: Memory }
  | { readonly type: "ready"; readonly ready: boolean }
  | { readonly type: "log"; readonly level: string; readonly message: string; readonly attributes?: unknown }
  | { readonly type: "activity"; readonly name: string; readonly instanceId: string }
  | {
      readonly type: "answer";
      readonly id: number;
      readonly ok: boolean;
      readonly value?: unknown;
      readonly error?: ErrorInfo;
    }
  /** An unhandled rejection or uncaught exception: the worker process exits right after. */
  | { readonly type: "crash"; readonly kind: string; readonly error: ErrorInfo };

export type ToWorker =
  | { readonly id: number; readonly cmd: "waitForReady"; readonly timeoutMs: number }
  | { readonly id: number; readonly cmd: "memory" }
  | { readonly id: number; readonly cmd: "stop" };

export function errorInfo(error: unknown): ErrorInfo {
  const e = error instanceof Error ? (error as Error & { code?: unknown; grpcCode?: unknown }) : undefined;
  return {
    name: e?.name ?? typeof error,
    message: e?.message ?? String(error),
    ...(typeof e?.code === "string" ? { code: e.code } : {}),
    ...(typeof e?.grpcCode === "string" ? { grpcCode: e.grpcCode } : {}),
  };
}

/** Reports each run to the test through `report`, then takes a moment: long enough to be caught by a black hole. */
export const step = defineActivity("hostile.step", async (ctx, n: number) => {
  process.send?.({ type: "activity", name: ctx.name, instanceId: ctx.instanceId } satisfies FromWorker);
  await new Promise((resolve) => setTimeout(resolve, 100));
  return n + 1;
});

/** Three steps in a row: 3 for an input of 0. */
export const chain = defineWorkflow("hostile.chain", function* (ctx, start: number) {
  let n = start;
  for (let i = 0; i < 3; i++) n = yield* ctx.callActivity(step, { input: n });
  return n;
});

/** Holds its slot until the worker stops: a worker whose activity slots are full stops reading its stream. */
export const block = defineActivity("hostile.block", async (ctx) => {
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
  return null;
});
