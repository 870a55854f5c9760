// @dt/sidecar: an embedded, wire-compatible Durable Task sidecar. `startSidecar()` serves TaskHubSidecarService
// over gRPC on a loopback port; state lives in a Store (MemoryStore by default, or SqliteStore for a file).
export { Backend, type BackendOptions } from "./backend.js";
export { ListenError } from "./listen.js";
export { MemoryStore } from "./memory-store.js";
export { type Sidecar, type SidecarOptions, startSidecar, type TlsOptions } from "./service.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
export type {
  ActivityTask,
  InboxEntry,
  InstanceQuery,
  InstanceRecord,
  Store,
  StoreReader,
  StoreWriter,
} from "./store.js";
export { MAX_TIMER_DELAY_MS, NEVER_MS } from "./timers.js";
export { MAX_INSTANCE_ID_BYTES, MAX_NAME_BYTES } from "./validate.js";
