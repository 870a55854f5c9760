import { describe, expect, it } from "vitest";
import { freeLoopbackPort, locateDurableTaskGo, selectedTargets } from "./harness.js";

describe("harness", () => {
  it("selects targets from DT_E2E_TARGET", () => {
    expect(selectedTargets({})).toEqual(["go", "embedded"]);
    expect(selectedTargets({ DT_E2E_TARGET: " go " })).toEqual(["go"]);
    expect(selectedTargets({ DT_E2E_TARGET: "embedded" })).toEqual(["embedded"]);
    expect(selectedTargets({ DT_E2E_TARGET: "embedded, go" })).toEqual(["embedded", "go"]);
    expect(() => selectedTargets({ DT_E2E_TARGET: "nope" })).toThrow(
      /Unknown DT_E2E_TARGET "nope". Known targets: go, embedded/,
    );
  });

  it("prefers an explicit DT_DURABLETASK_GO and finds nothing on an empty PATH", () => {
    expect(locateDurableTaskGo({ DT_DURABLETASK_GO: "/opt/dtg" })).toBe("/opt/dtg");
    expect(locateDurableTaskGo({ PATH: "/nonexistent", HOME: "/nonexistent" })).toSatisfy(
      (p: string | undefined) => p === undefined || p.endsWith("/go/bin/durabletask-go"),
    );
  });

  it("hands out loopback ports", async () => {
    const port = await freeLoopbackPort();
    expect(port).toBeGreaterThan(0);
  });
});
