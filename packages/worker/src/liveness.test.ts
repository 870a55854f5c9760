// When a work-item stream counts as answered, the Hello deadlines, how failures are named, and that waitForReady
// reports the last one. The hostile-server suite (e2e/src/hostile.test.ts) covers the same on the wire.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { describeFailure, helloTimeoutMs, isSilence, whenAnswered } from "./liveness.js";
import { FakeSidecar } from "./testing/fake-sidecar.js";
import { TaskHubGrpcWorker } from "./worker.js";

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Settled by the test perhaps before the code under test takes it (the probe goes out a loop turn later).
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** A pending stream, its headers and a probe, each settled by the test. */
function pending() {
  return {
    first: deferred<IteratorResult<unknown>>(),
    headers: deferred<Headers>(),
    probe: deferred<void>(),
  };
}

function answered(p: ReturnType<typeof pending>): Promise<string> {
  return whenAnswered(p.first.promise, p.headers.promise, () => p.probe.promise).then(
    () => "answered",
    (error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`,
  );
}

describe("whenAnswered", () => {
  it("is answered by the response headers, the first item, or a probe answered while the stream is open", async () => {
    const byHeaders = pending();
    const a = answered(byHeaders);
    byHeaders.headers.resolve(new Headers());
    expect(await a).toBe("answered");

    const byItem = pending();
    const b = answered(byItem);
    byItem.first.resolve({ done: false, value: 1 });
    expect(await b).toBe("answered");

    const byProbe = pending();
    const c = answered(byProbe);
    byProbe.probe.resolve();
    expect(await c).toBe("answered");
  });

  it("fails with the stream's own error when the refusal settles after the probe's answer within the same turn", async () => {
    const p = pending();
    const outcome = answered(p);
    p.probe.resolve();
    // A few promise hops later, still before the next macrotask: as a refusal read just before the probe's answer.
    void Promise.resolve()
      .then(() => {})
      .then(() => p.first.reject(new ConnectError("no work for you", Code.PermissionDenied)));
    expect(await outcome).toBe("failed: [permission_denied] no work for you");
  });

  it("fails when the stream ends without a word, or with the probe's error when that fails first", async () => {
    const ended = pending();
    const a = answered(ended);
    ended.first.resolve({ done: true, value: undefined });
    expect(await a).toMatch(/ended the work-item stream without sending anything/);

    const silent = pending();
    const b = answered(silent);
    silent.probe.reject(new ConnectError("the operation timed out after 1000 ms", Code.DeadlineExceeded));
    expect(await b).toBe("failed: [deadline_exceeded] the operation timed out after 1000 ms");
  });
});

describe("deadlines and names", () => {
  it("gives Hello the keepalive interval as its deadline, within 1–10 s", () => {
    expect([30, 1_000, 4_000, 30_000].map(helloTimeoutMs)).toEqual([1_000, 1_000, 4_000, 10_000]);
  });

  it("counts only a passed deadline as silence", () => {
    expect(isSilence(new ConnectError("late", Code.DeadlineExceeded))).toBe(true);
    expect(isSilence(new ConnectError("gone", Code.Unavailable))).toBe(false);
    expect(isSilence(new Error("other"))).toBe(false);
  });

  it("names a failure by its gRPC status, with a hint where there is a usual fix", () => {
    expect(describeFailure(new ConnectError("invalid api token", Code.Unauthenticated))).toEqual({
      grpcCode: "UNAUTHENTICATED",
      text: "UNAUTHENTICATED: invalid api token (check the API token (apiToken, DAPR_API_TOKEN))",
    });
    expect(describeFailure(new ConnectError("refused", Code.FailedPrecondition)).text).toBe(
      "FAILED_PRECONDITION: refused",
    );
  });
});

describe("waitForReady", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("names the last failure when it gives up: UNAUTHENTICATED for a wrong token", async () => {
    const sidecar = await FakeSidecar.start();
    cleanups.push(() => sidecar.stop());
    sidecar.helloError = new ConnectError("invalid api token", Code.Unauthenticated);
    const worker = new TaskHubGrpcWorker({
      address: sidecar.address,
      useEnvironment: false,
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
    cleanups.push(() => worker.stop({ timeoutMs: 1_000 }));
    await worker.start();
    // A second Hello comes only after the worker took in the first one's refusal.
    await sidecar.waitFor(() => sidecar.helloCalls >= 2, "a second Hello");
    const error = await worker.waitForReady({ timeoutMs: 100 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "SIDECAR_UNAVAILABLE", grpcCode: "UNAUTHENTICATED" });
    expect((error as Error).message).toMatch(/last attempt failed with UNAUTHENTICATED: invalid api token/);
    expect((error as Error).cause).toBeInstanceOf(ConnectError);
    expect(worker.isReady).toBe(false);
  });
});
