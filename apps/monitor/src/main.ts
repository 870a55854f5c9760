// Monitor: an "eternal" workflow that checks a job's health, alerts when it turns unhealthy, sleeps on a durable
// timer (shorter while unhealthy), and restarts itself with continue-as-new, carrying its state in the new input.
// Each execution starts with an empty history, so the loop can run forever without the history growing. This one
// stops after MONITOR_CHECKS checks (default 4), MONITOR_INTERVAL seconds apart (default 1).

import { defineActivity, defineWorkflow } from "@dt/core";
import { envNumber, runApp, runWorkflow } from "@dt-apps/common";

interface MonitorState {
  readonly jobId: string;
  /** Checks done so far. */
  readonly checks: number;
  readonly maxChecks: number;
  readonly intervalSeconds: number;
  readonly isHealthy: boolean;
  readonly statuses: readonly string[];
  readonly alerts: number;
}

/** Asks the (simulated) job for its health: it is unhealthy on the second check. */
const checkStatus = defineActivity("check_status", (_ctx, probe: { jobId: string; check: number }) =>
  probe.check === 2 ? "unhealthy" : "healthy",
);

const sendAlert = defineActivity("send_alert", (_ctx, jobId: string) => `alert sent: ${jobId} is unhealthy`);

const monitor = defineWorkflow("monitor", function* (ctx, state: MonitorState) {
  const check = state.checks + 1;
  const status = yield* ctx.callActivity(checkStatus, { input: { jobId: state.jobId, check } });
  const healthy = status === "healthy";
  let alerts = state.alerts;
  if (!healthy && state.isHealthy) {
    yield* ctx.callActivity(sendAlert, { input: state.jobId });
    alerts++;
  }
  ctx.setCustomStatus(`check ${check}/${state.maxChecks}: ${status}`);
  const next: MonitorState = {
    ...state,
    checks: check,
    isHealthy: healthy,
    statuses: [...state.statuses, status],
    alerts,
  };
  if (check >= state.maxChecks) return { jobId: next.jobId, checks: next.checks, statuses: next.statuses, alerts };

  // Check again later: sooner while the job is unhealthy.
  yield* ctx.createTimer(healthy ? state.intervalSeconds : state.intervalSeconds / 2);
  ctx.continueAsNew(next);
  return undefined;
});

await runApp({
  name: "monitor",
  workflows: [monitor],
  activities: [checkStatus, sendAlert],
  main: (client) =>
    runWorkflow(client, monitor, {
      input: {
        jobId: "nightly-backup",
        checks: 0,
        maxChecks: envNumber("MONITOR_CHECKS", 4),
        intervalSeconds: envNumber("MONITOR_INTERVAL", 1),
        isHealthy: true,
        statuses: [],
        alerts: 0,
      },
    }),
});
