// The in-memory Store: maps per kind, and a transaction that snapshots each instance it touches so a failure
// rolls everything back. State lives as long as the object (a sidecar restarted with the same MemoryStore finds it
// all again, which is what in-process fault tests use).
import type { HistoryEvent } from "@dt/proto";
import type { ActivityTask, InboxEntry, InstanceQuery, InstanceRecord, Store, StoreWriter } from "./store.js";

interface Snapshot {
  record: InstanceRecord | undefined;
  history: HistoryEvent[] | undefined;
  historyLength: number;
  inbox: InboxEntry[] | undefined;
  activities: Map<number, ActivityTask> | undefined;
}

export class MemoryStore implements Store {
  readonly #instances = new Map<string, InstanceRecord>();
  readonly #histories = new Map<string, HistoryEvent[]>();
  readonly #inboxes = new Map<string, InboxEntry[]>();
  readonly #activities = new Map<string, Map<number, ActivityTask>>();
  #nextSeq = 1;
  #snapshots: Map<string, Snapshot> | undefined;
  #closed = false;

  getInstance(instanceId: string): InstanceRecord | undefined {
    return this.#instances.get(instanceId);
  }

  getHistory(instanceId: string): HistoryEvent[] {
    return [...(this.#histories.get(instanceId) ?? [])];
  }

  getInbox(instanceId: string): InboxEntry[] {
    return [...(this.#inboxes.get(instanceId) ?? [])];
  }

  getActivity(instanceId: string, taskId: number): ActivityTask | undefined {
    return this.#activities.get(instanceId)?.get(taskId);
  }

  listInstances(query: InstanceQuery = {}): InstanceRecord[] {
    const statuses = query.statuses !== undefined && query.statuses.length > 0 ? new Set(query.statuses) : undefined;
    const matches = [...this.#instances.values()].filter(
      (r) =>
        (query.after === undefined || r.instanceId > query.after) &&
        (query.createdFrom === undefined || r.createdAt >= query.createdFrom) &&
        (query.createdTo === undefined || r.createdAt <= query.createdTo) &&
        (statuses === undefined || statuses.has(r.status)),
    );
    matches.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
    return query.limit === undefined ? matches : matches.slice(0, query.limit);
  }

  scanInbox(): { instanceId: string; visibleAt: number }[] {
    return [...this.#inboxes].flatMap(([instanceId, entries]) =>
      entries.map((e) => ({ instanceId, visibleAt: e.visibleAt })),
    );
  }

  listActivities(instanceId?: string): ActivityTask[] {
    if (instanceId !== undefined) return [...(this.#activities.get(instanceId)?.values() ?? [])];
    return [...this.#activities.values()].flatMap((tasks) => [...tasks.values()]);
  }

  transaction<T>(fn: (tx: StoreWriter) => T): T {
    if (this.#closed) throw new Error("The store is closed.");
    if (this.#snapshots !== undefined) throw new Error("Store transactions do not nest.");
    this.#snapshots = new Map();
    try {
      const result = fn(this.#writer);
      this.#snapshots = undefined;
      return result;
    } catch (error) {
      this.#rollback();
      throw error;
    }
  }

  close(): void {
    this.#closed = true;
  }

  // ---------------------------------------------------------------------------------------------------------------

  /** Remembers how the instance looked before the transaction first touched it. */
  #touch(instanceId: string): void {
    const snapshots = this.#snapshots;
    if (snapshots === undefined) throw new Error("Store writes need a transaction.");
    if (snapshots.has(instanceId)) return;
    const history = this.#histories.get(instanceId);
    const inbox = this.#inboxes.get(instanceId);
    const activities = this.#activities.get(instanceId);
    snapshots.set(instanceId, {
      record: this.#instances.get(instanceId),
      history,
      historyLength: history?.length ?? 0,
      inbox: inbox === undefined ? undefined : [...inbox],
      activities: activities === undefined ? undefined : new Map(activities),
    });
  }

  #rollback(): void {
    const snapshots = this.#snapshots ?? new Map<string, Snapshot>();
    this.#snapshots = undefined;
    for (const [id, s] of snapshots) {
      restore(this.#instances, id, s.record);
      if (s.history !== undefined) s.history.length = s.historyLength;
      restore(this.#histories, id, s.history);
      restore(this.#inboxes, id, s.inbox);
      restore(this.#activities, id, s.activities);
    }
  }

  readonly #writer: StoreWriter = {
    getInstance: (id) => this.getInstance(id),
    getHistory: (id) => this.getHistory(id),
    getInbox: (id) => this.getInbox(id),
    getActivity: (id, taskId) => this.getActivity(id, taskId),
    listActivities: (id) => this.listActivities(id),
    listInstances: (query) => this.listInstances(query),
    putInstance: (record) => {
      this.#touch(record.instanceId);
      this.#instances.set(record.instanceId, record);
    },
    deleteInstance: (id) => {
      this.#touch(id);
      this.#instances.delete(id);
      this.#histories.delete(id);
      this.#inboxes.delete(id);
      this.#activities.delete(id);
    },
    appendHistory: (id, events) => {
      if (events.length === 0) return;
      this.#touch(id);
      const history = this.#histories.get(id);
      if (history === undefined) this.#histories.set(id, [...events]);
      else history.push(...events);
    },
    clearHistory: (id) => {
      this.#touch(id);
      this.#histories.delete(id);
    },
    addInbox: (id, event, options = {}) => {
      this.#touch(id);
      const inbox = this.#inboxes.get(id) ?? [];
      this.#inboxes.set(id, inbox);
      const visibleAt = options.visibleAt ?? 0;
      if (options.first === true) {
        const seq = Math.min(inbox[0]?.seq ?? this.#nextSeq, this.#nextSeq) - 1;
        inbox.unshift({ seq, event, visibleAt });
        return seq;
      }
      const seq = this.#nextSeq++;
      inbox.push({ seq, event, visibleAt });
      return seq;
    },
    removeInbox: (id, seqs) => {
      const inbox = this.#inboxes.get(id);
      if (inbox === undefined || seqs.length === 0) return;
      this.#touch(id);
      const gone = new Set(seqs);
      const kept = inbox.filter((e) => !gone.has(e.seq));
      if (kept.length === 0) this.#inboxes.delete(id);
      else this.#inboxes.set(id, kept);
    },
    putActivity: (task) => {
      this.#touch(task.instanceId);
      const tasks = this.#activities.get(task.instanceId) ?? new Map<number, ActivityTask>();
      tasks.set(task.taskId, task);
      this.#activities.set(task.instanceId, tasks);
    },
    deleteActivity: (id, taskId) => {
      const tasks = this.#activities.get(id);
      if (tasks === undefined || !tasks.has(taskId)) return;
      this.#touch(id);
      const rest = new Map(tasks);
      rest.delete(taskId);
      if (rest.size === 0) this.#activities.delete(id);
      else this.#activities.set(id, rest);
    },
  };
}

function restore<V>(map: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}
