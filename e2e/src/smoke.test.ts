// First contact with a sidecar through @dt/proto and the shared transport.
import { ConnectError } from "@connectrpc/connect";
import { createSidecarClient } from "@dt/proto/transport";
import { expect, it } from "vitest";
import { describeSidecars } from "./harness.js";

describeSidecars("sidecar smoke", (sidecar) => {
  const client = () => createSidecarClient({ address: sidecar().address, defaultTimeoutMs: 10_000 });

  it("answers Hello", async () => {
    await expect(client().hello({})).resolves.toBeDefined();
  });

  it("reports an unknown instance as not existing", async () => {
    const res = await client().getInstance({ instanceId: "e2e-unknown-instance", getInputsAndOutputs: true });
    expect(res.exists).toBe(false);
    expect(res.workflowState).toBeUndefined();
  });

  it("lists no instance ids on a fresh store", async () => {
    const res = await client().listInstanceIDs({ pageSize: 10 });
    expect(res.instanceIds).toEqual([]);
  });

  it("fails WaitForInstanceStart on an unknown instance with a ConnectError instead of waiting", async () => {
    // durabletask-go answers UNKNOWN "no such instance exists"; the deadline only guards against a hang.
    const err = await client()
      .waitForInstanceStart({ instanceId: "e2e-never-created" }, { timeoutMs: 5_000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).message).toMatch(/no such instance|not found/i);
  });
});
