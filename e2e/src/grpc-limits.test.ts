// The gRPC layer at its edges, on real sidecars: deadlines longer than a millisecond grpc-timeout or a Node timer can
// hold, keepalive against a server's ping policy, and large messages both ways.

import * as net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { TaskHubGrpcClient } from "@dt/client";
import { defineActivity, defineWorkflow } from "@dt/core";
import { createSidecarClient } from "@dt/proto/transport";
import { expect, it } from "vitest";
import { describeScenarios, sleep, uniqueId } from "./fixture.js";

const approval = defineWorkflow("limits-approval", function* (ctx) {
  const answer: string = yield ctx.waitForExternalEvent("answer");
  return answer;
});

const echoSize = defineActivity("limits-echoSize", (_ctx, text: string) => text.length);
const bigPayload = defineWorkflow("limits-bigPayload", function* (ctx, size: number) {
  const text = "p".repeat(size);
  const echoed: number = yield* ctx.callActivity(echoSize, { input: text });
  return { echoed, text };
});

describeScenarios("gRPC limits", { workflows: [approval, bigPayload], activities: [echoSize] }, (fx) => {
  it.each([
    ["28 hours", { hours: 28 }],
    ["30 days", { days: 30 }],
  ])("accepts a client wait of %s, and waits (no 8-digit or timer overflow)", async (_label, timeout) => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      const id = await fx.client.scheduleNewOrchestration(approval, { instanceId: uniqueId("limits-wait") });
      const abort = new AbortController();
      const outcome = fx.client.waitForOrchestrationCompletion(id, { timeout, signal: abort.signal }).then(
        (state) => state.status,
        (error: unknown) => error,
      );
      // Before the fix: durabletask-go answered HTTP 400 to a 9-digit grpc-timeout at once, and a 30-day timer
      // overflowed and fired after 1 ms. Still pending after a second and a half means the wait was accepted.
      const early = await Promise.race([outcome, sleep(1500).then(() => "pending")]);
      expect(early).toBe("pending");
      abort.abort(new Error("cancelled by the test"));
      expect(String(await outcome)).toMatch(/cancelled by the test/);
      // And a wait that long does end when the workflow does.
      const done = fx.client.waitForOrchestrationCompletion(id, { timeout });
      await fx.client.raiseOrchestrationEvent(id, "answer", "yes");
      expect((await done).status).toBe("COMPLETED");
      expect(warnings).not.toContain("TimeoutOverflowWarning");
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("carries a 1.5 MiB input, activity input and output both ways", async () => {
    const size = 1.5 * 1024 * 1024;
    const id = await fx.client.scheduleNewOrchestration(bigPayload, {
      input: size,
      instanceId: uniqueId("limits-big"),
    });
    const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 60 });
    expect(state.status).toBe("COMPLETED");
    const output = state.output as { echoed: number; text: string };
    expect(output.echoed).toBe(size);
    expect(output.text.length).toBe(size);
  });

  it("a 3 MiB activity input: carried by durabletask-go and the embedded sidecar, refused at the call on daprd", async () => {
    const size = 3 * 1024 * 1024;
    const id = await fx.client.scheduleNewOrchestration(bigPayload, { input: size, instanceId: uniqueId("limits-3m") });
    const state = await fx.client.waitForOrchestrationCompletion(id, { timeout: 60 });
    if (fx.sidecar.target === "dapr") {
      // Observed on daprd 1.18.3: such an activity is never scheduled: the scheduler's gRPC limit is 2 MiB ("trying
      // to send message larger than max (3146349 vs. 2097152)") and daprd retries every second, forever. Our worker
      // knows daprd's version and fails the call instead.
      expect(state.status).toBe("FAILED");
      expect(state.failureDetails?.errorType).toBe("UnsupportedBySidecarError");
      expect(state.failureDetails?.message).toMatch(/callActivity\('limits-echoSize'\).*limited to 2 MiB/);
    } else {
      expect(state.status).toBe("COMPLETED");
      expect((state.output as { echoed: number }).echoed).toBe(size);
    }
  });

  it("a 1 s keepalive: grpc-go sidecars (durabletask-go, daprd) send GOAWAY too_many_pings, named in the error; the embedded sidecar has no ping policy", async () => {
    // durabletask-go keeps grpc-go's default policy (at most one ping per 5 min while a call is open); daprd allows
    // one per 8 s. A long poll open and no server data on it: every ping is a strike, the third over the limit.
    const client = createSidecarClient({
      address: fx.sidecar.address,
      keepalive: { intervalMs: 1000, timeoutMs: 5000 },
    });
    const id = await fx.client.scheduleNewOrchestration(approval, { instanceId: uniqueId("limits-pings") });
    const poll = client.waitForInstanceCompletion({ instanceId: id }, { timeoutMs: 60_000 }).then(
      (response) => response,
      (error: unknown) => error,
    );
    if (fx.sidecar.target === "embedded") {
      expect(await Promise.race([poll, sleep(6000).then(() => "still waiting")])).toBe("still waiting");
      await fx.client.raiseOrchestrationEvent(id, "answer", "no policy");
      expect(await poll).not.toBeInstanceOf(Error);
      return;
    }
    const first = await poll;
    expect(first).toBeInstanceOf(ConnectError);
    expect((first as ConnectError).code).toBe(Code.Unavailable);
    expect((first as ConnectError).message).toMatch(/ENHANCE_YOUR_CALM.*too_many_pings/);
    await fx.client.raiseOrchestrationEvent(id, "answer", "done");
  });

  it("a client with a 1 s keepalive backs off on too_many_pings instead of failing its calls", async () => {
    const proxy = await countingProxy(fx.sidecar.address);
    const client = new TaskHubGrpcClient({
      address: proxy.address,
      useEnvironment: false,
      keepalive: { intervalMs: 1000, timeoutMs: 5000 },
    });
    try {
      const id = await fx.client.scheduleNewOrchestration(approval, { instanceId: uniqueId("limits-backoff") });
      const wait = client.waitForOrchestrationCompletion(id, { timeout: 120 });
      await sleep(20_000);
      await fx.client.raiseOrchestrationEvent(id, "answer", "after 20 s of pings");
      expect((await wait).status).toBe("COMPLETED");
      if (fx.sidecar.target === "embedded") {
        expect(proxy.connections()).toBe(1); // no ping policy: the first connection carries it all
      } else {
        // Without backoff: a GOAWAY every ~4 s, 5 connections in 20 s. With it the interval doubles each time
        // (1, 2, 4 s: GOAWAYs after ~4 and ~12 s), so at most 3 connections, and at least 2 (the policy did bite).
        expect(proxy.connections()).toBeGreaterThanOrEqual(2);
        expect(proxy.connections()).toBeLessThanOrEqual(3);
      }
    } finally {
      client.close();
      proxy.close();
    }
  });
});

/** A TCP proxy on loopback in front of `target` (host:port) that counts the connections made through it. */
async function countingProxy(target: string): Promise<{ address: string; connections(): number; close(): void }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    count++;
    const upstream = net.connect(port, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${own}`,
    connections: () => count,
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
