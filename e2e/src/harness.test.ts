import { describe, expect, it } from "vitest";
import { DAPR_VERSION, locateDaprdev } from "./dapr.js";
import { freeLoopbackPort, locateDurableTaskGo, selectedTargets } from "./harness.js";

describe("harness", () => {
  it("selects targets from DT_E2E_TARGET", () => {
    expect(selectedTargets({})).toEqual(["go", "embedded", "dapr"]);
    expect(selectedTargets({ DT_E2E_TARGET: " go " })).toEqual(["go"]);
    expect(selectedTargets({ DT_E2E_TARGET: "embedded" })).toEqual(["embedded"]);
    expect(selectedTargets({ DT_E2E_TARGET: "embedded, go" })).toEqual(["embedded", "go"]);
    expect(() => selectedTargets({ DT_E2E_TARGET: "nope" })).toThrow(
      /Unknown DT_E2E_TARGET "nope". Known targets: go, embedded, dapr/,
    );
  });

  it("prefers an explicit DT_DURABLETASK_GO and finds nothing on an empty PATH", () => {
    expect(locateDurableTaskGo({ DT_DURABLETASK_GO: "/opt/dtg" })).toBe("/opt/dtg");
    expect(locateDurableTaskGo({ PATH: "/nonexistent", HOME: "/nonexistent" })).toSatisfy(
      (p: string | undefined) => p === undefined || p.endsWith("/go/bin/durabletask-go"),
    );
  });

  it("finds the daprd build through DT_DAPRDEV, else under DT_TOOLS_DIR or ~/.dt, keyed by the Dapr version", () => {
    expect(locateDaprdev({ DT_DAPRDEV: "/opt/daprdev" })).toBe("/opt/daprdev");
    expect(locateDaprdev({ DT_TOOLS_DIR: "/tools" })).toBe(`/tools/dapr-${DAPR_VERSION}/daprdev`);
    expect(locateDaprdev({ HOME: "/home/u" })).toBe(`/home/u/.dt/dapr-${DAPR_VERSION}/daprdev`);
  });

  it("hands out loopback ports", async () => {
    const port = await freeLoopbackPort();
    expect(port).toBeGreaterThan(0);
  });
});
