// @dt/client: schedule, inspect, signal and manage workflow instances through a Durable Task sidecar.
export {
  type ClientOptions,
  type InstanceId,
  type PurgeFilter,
  type ScheduleOptions,
  TaskHubGrpcClient,
  type WaitOptions,
} from "./client.js";
export { sidecarError } from "./errors.js";
export { statusName, type WorkflowState, type WorkflowStatus } from "./state.js";
