// @dt/sandbox: determinism checks for workflow turns (modes off, best_effort, strict), scoped so they never leak.

export { seededRandom } from "./random.js";
export {
  activeSandbox,
  detectionDisabled,
  enterSandbox,
  NonDeterminismWarning,
  outsideSandbox,
  parseSandboxMode,
  type SandboxHost,
  SandboxMode,
  type SandboxScope,
  SandboxViolationError,
} from "./sandbox.js";
