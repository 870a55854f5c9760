// The one seam between the sidecar's logic and its persistence. Everything the backend must not lose lives here:
// instances, their committed histories, their inboxes of not-yet-processed events (timers and scheduled starts are
// inbox entries that become visible later), and scheduled activities. Reads are plain calls; every change goes
// through `transaction`, so a workflow turn (history, inbox, activities, messages to other instances) commits as
// one unit or not at all. The interface is synchronous: an in-memory map and SQLite's DatabaseSync both are, and a
// synchronous transaction cannot interleave with another request's. A store may make transactions durable later
// than they return (SqliteStore commits them in groups, once per event-loop turn): `whenDurable` says when, and the
// sidecar answers a call only after it settles.
import type { HistoryEvent, OrchestrationStatus, TaskFailureDetails } from "@dt/proto";

/** An instance's metadata as GetInstance reports it. Times are epoch milliseconds. */
export interface InstanceRecord {
  readonly instanceId: string;
  readonly name: string;
  readonly version?: string | undefined;
  readonly executionId: string;
  readonly status: OrchestrationStatus;
  readonly createdAt: number;
  readonly lastUpdatedAt: number;
  /** When a worker first ran the current execution (its first WorkflowStarted). */
  readonly startedAt?: number | undefined;
  readonly completedAt?: number | undefined;
  readonly scheduledStartAt?: number | undefined;
  readonly input?: string | undefined;
  readonly output?: string | undefined;
  readonly customStatus?: string | undefined;
  readonly failureDetails?: TaskFailureDetails | undefined;
  readonly tags: Readonly<Record<string, string>>;
  readonly parentInstanceId?: string | undefined;
  readonly parentAppId?: string | undefined;
}

/** An event waiting for the instance's next turn. It is not handed out before `visibleAt` (epoch ms; 0 = now). */
export interface InboxEntry {
  /** Store-assigned order within the instance's inbox. */
  readonly seq: number;
  readonly event: HistoryEvent;
  readonly visibleAt: number;
}

/** A scheduled activity: its TaskScheduled event (eventId = task id) and the execution that scheduled it. */
export interface ActivityTask {
  readonly instanceId: string;
  readonly taskId: number;
  readonly executionId: string;
  readonly event: HistoryEvent;
}

export interface InstanceQuery {
  /** Only ids greater than this (paging). */
  readonly after?: string | undefined;
  readonly limit?: number | undefined;
  /** Inclusive bounds on `createdAt`. */
  readonly createdFrom?: number | undefined;
  readonly createdTo?: number | undefined;
  /** Any of these statuses; all when absent or empty. */
  readonly statuses?: readonly OrchestrationStatus[] | undefined;
}

export interface StoreReader {
  getInstance(instanceId: string): InstanceRecord | undefined;
  /** The committed history, oldest first (empty for unknown instances). Callers must not mutate the events. */
  getHistory(instanceId: string): HistoryEvent[];
  /** Pending inbox entries in `seq` order, delayed ones included. */
  getInbox(instanceId: string): InboxEntry[];
  getActivity(instanceId: string, taskId: number): ActivityTask | undefined;
  /** Scheduled activities, of one instance or (for redelivery on start) of all. */
  listActivities(instanceId?: string): ActivityTask[];
  /** Instances matching `query`, ordered by instance id. */
  listInstances(query?: InstanceQuery): InstanceRecord[];
}

export interface StoreWriter extends StoreReader {
  putInstance(record: InstanceRecord): void;
  /** Deletes the instance with its history, inbox and activities. */
  deleteInstance(instanceId: string): void;
  appendHistory(instanceId: string, events: readonly HistoryEvent[]): void;
  clearHistory(instanceId: string): void;
  /** Adds an inbox entry and returns its seq. `first` puts it before every entry already there. */
  addInbox(instanceId: string, event: HistoryEvent, options?: { visibleAt?: number; first?: boolean }): number;
  removeInbox(instanceId: string, seqs: readonly number[]): void;
  putActivity(task: ActivityTask): void;
  deleteActivity(instanceId: string, taskId: number): void;
}

export interface Store extends StoreReader {
  /** Runs `fn` atomically: all of its writes are kept, or (when it throws) none. Not reentrant. */
  transaction<T>(fn: (tx: StoreWriter) => T): T;
  /**
   * Resolves once every transaction that has returned so far is durable; undefined (or no method at all) when they
   * already are, as with MemoryStore. Rejects when they cannot be made durable. Transactions that return before it
   * settles are visible to reads at once, but a crash may still lose them (all of them, never a part of one).
   */
  whenDurable?(): Promise<void> | undefined;
  /** Every inbox entry's instance and visibility, for rebuilding the work queue and timers on start. */
  scanInbox(): { instanceId: string; visibleAt: number }[];
  /** Makes pending transactions durable, then releases the store. */
  close(): void;
}
