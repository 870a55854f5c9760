// vitest global setup: one Dapr control plane (placement + scheduler) for every test file of the run, when the dapr
// target is selected and its build is there (otherwise the suites report why they cannot run). Test processes find
// it through DT_DAPR_PLACEMENT_ADDRESS / DT_DAPR_SCHEDULER_ADDRESS; it is stopped by PID when the run ends.
import { existsSync } from "node:fs";
import { CONTROL_PLANE_ENV, daprUnavailableReason, startControlPlane } from "./dapr.ts";
import { selectedTargets } from "./harness.ts";

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (!selectedTargets().includes("dapr") || daprUnavailableReason(existsSync) !== undefined) return undefined;
  if (process.env[CONTROL_PLANE_ENV.placement] && process.env[CONTROL_PLANE_ENV.scheduler]) return undefined;
  const plane = await startControlPlane();
  process.env[CONTROL_PLANE_ENV.placement] = plane.placementAddress;
  process.env[CONTROL_PLANE_ENV.scheduler] = plane.schedulerAddress;
  return async () => {
    await plane.stop();
    delete process.env[CONTROL_PLANE_ENV.placement];
    delete process.env[CONTROL_PLANE_ENV.scheduler];
  };
}
