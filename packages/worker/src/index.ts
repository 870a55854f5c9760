// @dt/worker: runs workflows and activities for a Durable Task sidecar.
export { TaskHubGrpcWorker, type WorkerOptions } from "./worker.js";
