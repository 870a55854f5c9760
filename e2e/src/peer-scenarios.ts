// The scenarios every peer SDK's worker runs for our client: a chain, a fan-out and an external event. Each peer
// registers `<prefix>_chain`, `<prefix>_fan_out` and `<prefix>_approval` (see e2e/python and e2e/peers).
import { randomUUID } from "node:crypto";
import type { TaskHubGrpcClient } from "@dt/client";
import { expect, it } from "vitest";
import { eventually } from "./fixture.js";
import type { ChildHandle } from "./harness.js";

export interface PeerWorker {
  /** Shown in test names, e.g. "Python". */
  readonly label: string;
  /** Prefix of the peer's workflow names, e.g. "py". */
  readonly prefix: string;
  readonly approvalInput: unknown;
  readonly approvalData: unknown;
  readonly approvalOutput: (instanceId: string) => unknown;
}

export function peerWorkerScenarios(client: () => TaskHubGrpcClient, peer: PeerWorker): void {
  const id = (what: string) => `ts-to-${peer.prefix}-${what}-${randomUUID()}`;

  it(`runs a ${peer.label} activity chain scheduled by our client`, async () => {
    const instance = await client().scheduleNewOrchestration(`${peer.prefix}_chain`, {
      input: "TS",
      instanceId: id("chain"),
    });
    const state = await client().waitForOrchestrationCompletion(instance, { timeout: 90 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toEqual(["Hello TS!", "Hello Hello TS!!", "Hello Hello Hello TS!!!"]);
  });

  it(`runs a ${peer.label} fan-out/fan-in (10 activities) scheduled by our client`, async () => {
    const numbers = Array.from({ length: 10 }, (_, i) => i + 1);
    const instance = await client().scheduleNewOrchestration(`${peer.prefix}_fan_out`, {
      input: numbers,
      instanceId: id("fan-out"),
    });
    const state = await client().waitForOrchestrationCompletion(instance, { timeout: 90 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toEqual({ squares: numbers.map((n) => n * n), sum: 385 });
  });

  it(`delivers an external event raised by our client to a waiting ${peer.label} workflow`, async () => {
    const instance = await client().scheduleNewOrchestration(`${peer.prefix}_approval`, {
      input: peer.approvalInput,
      instanceId: id("approval"),
    });
    // Raise the event only once the workflow is waiting for it (its custom status says so).
    await eventually(
      () => client().getOrchestrationState(instance),
      (state) => state?.customStatus === "waiting for approval",
      { timeoutMs: 60_000, what: "the workflow to wait for approval" },
    );
    await client().raiseOrchestrationEvent(instance, "approval", peer.approvalData);
    const state = await client().waitForOrchestrationCompletion(instance, { timeout: 90 });
    expect(state.status).toBe("COMPLETED");
    expect(state.output).toEqual(peer.approvalOutput(instance));
    expect(state.customStatus).toBe("approved");
  });
}

/** Waits (up to 2 minutes) for a peer client script to exit and returns the JSON of its last `RESULT ` line. */
export async function peerResult<T>(proc: ChildHandle, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    proc.exited,
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), 120_000);
    }),
  ]);
  clearTimeout(timer);
  if (code === "timeout") await proc.stop();
  const line = proc
    .logs()
    .split("\n")
    .findLast((l) => l.startsWith("RESULT "));
  if (code !== 0 || line === undefined) {
    throw new Error(`${label} ended with ${String(code)}\n--- its output ---\n${proc.logs()}`);
  }
  return JSON.parse(line.slice("RESULT ".length)) as T;
}
