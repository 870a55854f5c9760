// @dt/core: the Durable Task replay engine. History in, actions out; pure and synchronous.
export { type ActivityContext, type ActivityOptions, type ActivityResult, executeActivity } from "./activity.js";
export type { CallActivityOptions, CallChildWorkflowOptions, ExecutionInfo, WorkflowContext } from "./context.js";
export {
  type DataConverter,
  decodePayload,
  encodePayloadOrThrow,
  jsonConverter,
  type Metadata,
  unwrapMetadata,
  wrapMetadata,
} from "./converter.js";
export {
  type ActivityDefinition,
  type ActivityFunction,
  checkName,
  defineActivity,
  defineWorkflow,
  type InputOf,
  type OutputOf,
  parseSandboxMode,
  type SandboxMode,
  type WorkflowDefinition,
  type WorkflowFunction,
  type WorkflowGenerator,
} from "./definitions.js";
export { type Duration, durationMs } from "./duration.js";
export {
  type AsyncDriver,
  type ExecuteOptions,
  executeWorkflow,
  executeWorkflowAsync,
  type SidecarLimits,
  type WorkflowRequest,
  type WorkflowResult,
} from "./engine.js";
export {
  ActivityNotRegisteredError,
  AsyncWorkflowError,
  DurableTaskError,
  type ErrorCode,
  type FailureDetails,
  ForeignAwaitError,
  failureDetailsFromProto,
  InvalidArgumentError,
  InvalidStateError,
  NonDeterminismError,
  type NonDeterminismInfo,
  NonRetryableError,
  SerializationError,
  SidecarError,
  TaskFailedError,
  TimeoutError,
  UnsupportedBySidecarError,
  WorkflowAlreadyExistsError,
  WorkflowNotFoundError,
  WorkflowNotRegisteredError,
  WorkflowTimeoutError,
} from "./errors.js";
export { ExecutionCache } from "./execution-cache.js";
export { toFailureDetails } from "./failure.js";
export { history } from "./history.js";
export { skipFramesFrom, sourceLocation, stackFrames } from "./location.js";
export { type Logger, replaySafeLogger, silentLogger } from "./logger.js";
export { type RegisteredWorkflow, Registry, type WorkflowRegistration, type WorkflowResolution } from "./registry.js";
export { type ReplayOptions, type ReplayReport, replay, replayAsync } from "./replay.js";
export { RetryPolicy, type RetryPolicyOptions } from "./retry.js";
export { Task, type TaskResult, type TaskResults, whenAll, whenAny } from "./task.js";
export { formatTraceParent, parseTraceParent, type TraceParent } from "./tracecontext.js";
