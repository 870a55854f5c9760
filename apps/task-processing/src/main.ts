// Task processing (the Dapr workflow reference's TaskProcessingWorkflow): validate a task, assign it with a retry
// policy — the assignment service fails the first attempt, the retry after 1 s succeeds — then wait for the
// `task_completed` event or a 24-hour durable timer, whichever comes first, and notify accordingly.
//
// The app raises `task_completed` itself once the task is assigned (COMPLETE=1, the default). With COMPLETE=0 the
// timer decides; TASK_TIMEOUT (seconds, default 24 h) shortens it.

import { defineActivity, defineWorkflow, RetryPolicy } from "@dt/core";
import { envFlag, envNumber, pause, runApp, startWorkflow } from "@dt-apps/common";

interface TaskOrder {
  readonly taskId: string;
  readonly title: string;
  readonly assignee: string;
  readonly timeoutSeconds: number;
}

interface TaskResult {
  readonly taskId: string;
  readonly status: "rejected" | "timed_out" | "completed";
  readonly completedAt: string;
}

const validateTask = defineActivity("validate_task", (_ctx, order: TaskOrder) => ({
  valid: order.title.trim() !== "",
  validatedAt: new Date().toISOString(), // activities may read the clock; workflows may not
}));

/** Attempts per call (taskExecutionId is the same for every retry of one call). */
const attempts = new Map<string, number>();

const assignTask = defineActivity("assign_task", (ctx, order: TaskOrder) => {
  const attempt = (attempts.get(ctx.taskExecutionId) ?? 0) + 1;
  attempts.set(ctx.taskExecutionId, attempt);
  if (attempt === 1) throw new Error("assignment service unavailable (attempt 1)");
  return { assigned: true, assignee: order.assignee, attempt };
});

const notifyTimeout = defineActivity("notify_timeout", (_ctx, order: TaskOrder) => `task ${order.taskId} timed out`);
const sendCompletionNotification = defineActivity(
  "send_completion_notification",
  (_ctx, order: TaskOrder) => `task ${order.taskId} completed`,
);

const taskProcessing = defineWorkflow("task_processing_workflow", function* (ctx, order: TaskOrder) {
  // Step 1: validate.
  const validation = yield* ctx.callActivity(validateTask, { input: order });
  if (!validation.valid) return { taskId: order.taskId, status: "rejected", completedAt: "" } satisfies TaskResult;

  // Step 2: assign, retried on failure: up to 3 attempts, 1 s then 2 s apart (the delays are durable timers).
  const retryPolicy = new RetryPolicy({ maxNumberOfAttempts: 3, firstRetryInterval: 1, backoffCoefficient: 2 });
  const assignment = yield* ctx.callActivity(assignTask, { input: order, retryPolicy });
  ctx.setCustomStatus(`assigned to ${assignment.assignee} (attempt ${assignment.attempt}); waiting for task_completed`);

  // Step 3: the completion event or the timeout, whichever comes first.
  const completion = ctx.waitForExternalEvent<{ completedAt: string }>("task_completed");
  const timeout = ctx.createTimer(order.timeoutSeconds);
  const winner = yield* ctx.whenAny([completion, timeout]);
  if (winner === timeout) {
    yield* ctx.callActivity(notifyTimeout, { input: order });
    return { taskId: order.taskId, status: "timed_out", completedAt: "" } satisfies TaskResult;
  }
  const { completedAt } = completion.getResult();
  yield* ctx.callActivity(sendCompletionNotification, { input: order });
  return { taskId: order.taskId, status: "completed", completedAt } satisfies TaskResult;
});

await runApp({
  name: "task-processing",
  workflows: [taskProcessing],
  activities: [validateTask, assignTask, notifyTimeout, sendCompletionNotification],
  main: async (client, log) => {
    const order: TaskOrder = {
      taskId: "task-123",
      title: "Review PR",
      assignee: "alice@example.com",
      timeoutSeconds: envNumber("TASK_TIMEOUT", 24 * 60 * 60),
    };
    const run = await startWorkflow(client, taskProcessing, { input: order });
    if (envFlag("COMPLETE", true)) {
      await run.untilCustomStatus((status) => status.includes("waiting for task_completed"));
      await pause(envNumber("COMPLETE_DELAY", 1));
      log("✋ alice marks the task done");
      await client.raiseOrchestrationEvent(run.id, "task_completed", { completedAt: new Date().toISOString() });
    } else {
      log(`… nobody completes the task; the ${order.timeoutSeconds} s timer will decide`);
    }
    const state = await run.done();
    if (state.status !== "COMPLETED") throw new Error(`task_processing_workflow ${state.status}`);
    return state.output;
  },
});
