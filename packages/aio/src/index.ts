// @dt/aio: async/await workflows on the @dt/core engine, deterministic by construction.

export {
  AsyncWorkflowError,
  ForeignAwaitError,
  TimeoutError,
  WorkflowTimeoutError,
} from "@dt/core";
export { NonDeterminismWarning, SandboxMode, SandboxViolationError } from "@dt/sandbox";
export {
  type AsyncContextOptions,
  AsyncWorkflowContext,
  type DebugInfo,
  type DebugOperation,
  type Winner,
  type WorkflowInfo,
} from "./context.js";
export { nodeDriver } from "./driver.js";
export { replay, runWorkflowTurn, type TurnOptions } from "./turn.js";
export {
  type AsyncWorkflowFunction,
  type AsyncWorkflowOptions,
  debugFromEnv,
  defineAsyncWorkflow,
  driveAsyncGenerator,
  isAsyncFunction,
  isAsyncGeneratorFunction,
  toRegistrable,
  WorkflowValidationError,
} from "./workflow.js";
