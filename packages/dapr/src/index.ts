// @dt/dapr: the Dapr-flavoured workflow API. Code written for @dapr/dapr's workflow API ports by changing its imports.

// The engine's tasks and combinators, and its typed errors (`code` is stable: WORKFLOW_NOT_FOUND,
// WORKFLOW_ALREADY_EXISTS, ACTIVITY_EXECUTION_FAILED, NON_DETERMINISTIC, WORKFLOW_TIMEOUT, …).
export {
  DurableTaskError,
  type ErrorCode,
  type FailureDetails,
  InvalidArgumentError,
  NonDeterminismError,
  NonRetryableError,
  SidecarError,
  Task,
  TaskFailedError,
  WorkflowAlreadyExistsError,
  type WorkflowGenerator,
  WorkflowNotFoundError,
  WorkflowNotRegisteredError,
  WorkflowTimeoutError,
  whenAll,
  whenAny,
} from "@dt/core";
export { DaprWorkflowClient, type DaprWorkflowClientOptions } from "./client.js";
export {
  type CallActivityOptions,
  type CallChildWorkflowOptions,
  WorkflowActivityContext,
  WorkflowContext,
} from "./context.js";
export {
  type DaprLoggerOptions,
  DEFAULT_DAPR_GRPC_PORT,
  DEFAULT_DAPR_HOST,
  resolveConnection,
  type WorkflowClientOptions,
} from "./options.js";
export { type DaprRetryPolicyOptions, RetryPolicy } from "./retry.js";
export {
  type AsyncTWorkflow,
  type AsyncWorkflowAdapter,
  adaptActivity,
  adaptAsyncGeneratorWorkflow,
  adaptWorkflow,
  daprContextForAsyncWorkflows,
  passAsyncWorkflowThrough,
  type RegisteredWorkflowFunction,
  type RegisterWorkflowOptions,
  WorkflowRuntime,
  type WorkflowRuntimeOptions,
  type WorkflowWorker,
  workflowKind,
} from "./runtime.js";
export {
  fromOrchestrationStatus,
  fromStatusName,
  toOrchestrationStatus,
  WorkflowFailureDetails,
  WorkflowRuntimeStatus,
  WorkflowState,
} from "./state.js";
export { type TInput, type TOutput, TWorkflow, type TWorkflowActivity } from "./types.js";
