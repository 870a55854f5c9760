// The SQLite Store on node:sqlite (DatabaseSync): one file, WAL journal and synchronous=FULL, so a committed turn
// survives a crash of the process or the machine. Events and failure details are stored as protobuf bytes, as
// durabletask-go does. node:sqlite is loaded when a store is opened, so importing @dt/sidecar works on Node versions
// where it is still behind a flag.
//
// Group commit. An fsync costs far more than the writes of a turn, and node:sqlite is synchronous, so committing
// every Store transaction on its own would spend the event loop waiting for the disk (one fsync per turn and per
// activity result). Instead, the first transaction after a commit opens one SQLite transaction (BEGIN IMMEDIATE)
// and schedules its COMMIT for the next macrotask (setImmediate); every Store transaction that runs before then
// joins it. Each Store transaction is a SAVEPOINT inside the group: when its function throws, ROLLBACK TO undoes
// its own writes only, and the others in the group are kept. Reads go through the same connection, so they see
// the group's writes at once, as they saw a committed transaction's before.
//
// Durability argument. (1) All writes go through this one connection, so groups commit in order and a group's
// COMMIT (fsynced under synchronous=FULL) makes it and everything before it durable; a crash loses the open group
// as a whole, never part of it and never an earlier one. (2) `whenDurable()` is a promise for the open group's
// COMMIT (undefined when nothing is pending), and the sidecar answers no RPC — success or error, reads included —
// before it settles (service.ts, fast-path.ts), so whatever a caller was told is on disk. (3) Work items may reach
// a worker before the group that produced them is durable. That is safe: the worker's answer is a later
// transaction on this connection, so it cannot become durable without its cause; if a crash loses the group, the
// inbox entries, the turn's consumed events and the scheduled activity are back as they were at the last durable
// commit, and recovery hands the turn (or activity) out again, as after a crash that hit a turn in flight.
// Activities run at least once either way; a late answer to a lost dispatch is NOT_FOUND or a stale token.
// (4) A COMMIT that fails (disk full, I/O error) rejects the group's acknowledgments, and the store takes no more
// writes: the sidecar's memory (queue, turns in flight) assumed the group. Restart it; recovery starts from disk.
//
// Cache. The decoded records, histories and inboxes of the instances used last (`cacheSize`) stay in memory, so a
// turn does not select and decode its history again. Every write updates the database and the cache alike; a
// transaction that rolls back drops the cache entries of the instances it wrote, and a failed group drops them all.

import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type HistoryEvent, HistoryEventSchema, type OrchestrationStatus, TaskFailureDetailsSchema } from "@dt/proto";
import { encodedEvent } from "./encoding.js";
import type {
  ActivityTask,
  InboxEntry,
  InstanceQuery,
  InstanceRecord,
  Store,
  StoreReader,
  StoreWriter,
} from "./store.js";

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS instances (
  instance_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  version TEXT,
  execution_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_updated_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER,
  scheduled_start_at INTEGER,
  input TEXT,
  output TEXT,
  custom_status TEXT,
  failure_details BLOB,
  tags TEXT NOT NULL,
  parent_instance_id TEXT,
  parent_app_id TEXT
);
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (created_at);
CREATE TABLE IF NOT EXISTS history (
  instance_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event BLOB NOT NULL,
  PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id TEXT NOT NULL,
  visible_at INTEGER NOT NULL,
  event BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (instance_id, seq);
CREATE TABLE IF NOT EXISTS activities (
  instance_id TEXT NOT NULL,
  task_id INTEGER NOT NULL,
  execution_id TEXT NOT NULL,
  event BLOB NOT NULL,
  PRIMARY KEY (instance_id, task_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

type Row = Record<string, unknown>;

export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock, in ms. Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * How many instances' decoded records, histories and inboxes are kept in memory (the ones used last), so a turn
   * does not read and decode its history again. Writes go to the database and to this cache alike. Default 1000;
   * 0 turns it off.
   */
  readonly cacheSize?: number;
}

/** What is cached of one instance; a part not loaded yet is undefined (the record also when there is none). */
interface CacheEntry {
  record?: InstanceRecord | undefined;
  history?: HistoryEvent[] | undefined;
  inbox?: InboxEntry[] | undefined;
}

export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #writer: StoreWriter;
  #inTransaction = false;
  /** A group is open: BEGIN IMMEDIATE ran and its COMMIT is scheduled. */
  #grouped = false;
  /** The open group's durability promise, made when someone asks (`whenDurable`). */
  #durable: Durable | undefined;
  /** Set when a group could not be committed: the store takes no more writes. */
  #failure: Error | undefined;
  readonly #flush = () => this.#commitGroup();
  /** Recently used instances, oldest first; see `cacheSize`. */
  readonly #cache = new Map<string, CacheEntry>();
  readonly #cacheSize: number;
  /** Instances the running transaction wrote: their cache entries go when it rolls back. */
  readonly #touched = new Set<string>();

  /** Opens (creating when missing) the database at `path` (":memory:" for a throwaway one). */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    const sqlite = process.getBuiltinModule("node:sqlite");
    if (sqlite === undefined) {
      throw new Error("node:sqlite is not available in this Node.js version (use Node >= 22.13, or MemoryStore).");
    }
    this.#db = new sqlite.DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5_000 });
    this.#cacheSize = Math.max(0, Math.floor(options.cacheSize ?? 1_000));
    this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
    this.#db.exec(SCHEMA);
    const version = this.#get("SELECT value FROM meta WHERE key = 'schema'")?.["value"];
    if (version === undefined) {
      this.#run("INSERT INTO meta (key, value) VALUES ('schema', ?)", String(SCHEMA_VERSION));
    } else if (version !== String(SCHEMA_VERSION)) {
      this.#db.close();
      throw new Error(`${path} has schema version ${String(version)}; this @dt/sidecar reads ${SCHEMA_VERSION}.`);
    }
    const reader = this.#reader();
    this.#writer = {
      ...reader,
      putInstance: (r) => {
        this.#written(r.instanceId).record = r;
        this.#run(
          `INSERT OR REPLACE INTO instances (instance_id, name, version, execution_id, status, created_at, last_updated_at,
             started_at, completed_at, scheduled_start_at, input, output, custom_status, failure_details, tags,
             parent_instance_id, parent_app_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          r.instanceId,
          r.name,
          r.version ?? null,
          r.executionId,
          r.status,
          r.createdAt,
          r.lastUpdatedAt,
          r.startedAt ?? null,
          r.completedAt ?? null,
          r.scheduledStartAt ?? null,
          r.input ?? null,
          r.output ?? null,
          r.customStatus ?? null,
          r.failureDetails === undefined ? null : toBinary(TaskFailureDetailsSchema, r.failureDetails),
          JSON.stringify(r.tags),
          r.parentInstanceId ?? null,
          r.parentAppId ?? null,
        );
      },
      deleteInstance: (id) => {
        this.#touched.add(id);
        this.#cache.delete(id);
        for (const table of ["instances", "history", "inbox", "activities"]) {
          this.#run(`DELETE FROM ${table} WHERE instance_id = ?`, id);
        }
      },
      appendHistory: (id, events) => {
        if (events.length === 0) return;
        const cached = this.#written(id).history;
        const next =
          cached?.length ??
          Number(this.#get("SELECT COALESCE(MAX(seq), -1) + 1 AS n FROM history WHERE instance_id = ?", id)?.["n"]);
        events.forEach((e, i) => {
          this.#run("INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)", id, next + i, encode(e));
        });
        cached?.push(...events);
      },
      clearHistory: (id) => {
        this.#written(id).history = [];
        this.#run("DELETE FROM history WHERE instance_id = ?", id);
      },
      addInbox: (id, event, options = {}) => {
        const visibleAt = options.visibleAt ?? 0;
        const cached = this.#written(id).inbox;
        if (options.first === true) {
          // Below every seq in the table, so also first in this instance's inbox.
          const seq = Number(this.#get("SELECT COALESCE(MIN(seq), 1) - 1 AS s FROM inbox")?.["s"]);
          this.#run(
            "INSERT INTO inbox (seq, instance_id, visible_at, event) VALUES (?, ?, ?, ?)",
            seq,
            id,
            visibleAt,
            encode(event),
          );
          cached?.unshift({ seq, event, visibleAt });
          return seq;
        }
        // AUTOINCREMENT: above every seq ever used, so last in this instance's inbox.
        const result = this.#run(
          "INSERT INTO inbox (instance_id, visible_at, event) VALUES (?, ?, ?)",
          id,
          visibleAt,
          encode(event),
        );
        const seq = Number(result.lastInsertRowid);
        cached?.push({ seq, event, visibleAt });
        return seq;
      },
      removeInbox: (id, seqs) => {
        if (seqs.length === 0) return;
        const entry = this.#written(id);
        for (const seq of seqs) this.#run("DELETE FROM inbox WHERE instance_id = ? AND seq = ?", id, seq);
        if (entry.inbox !== undefined) {
          const gone = new Set(seqs);
          entry.inbox = entry.inbox.filter((e) => !gone.has(e.seq));
        }
      },
      putActivity: (task) => {
        this.#run(
          "INSERT OR REPLACE INTO activities (instance_id, task_id, execution_id, event) VALUES (?, ?, ?, ?)",
          task.instanceId,
          task.taskId,
          task.executionId,
          encode(task.event),
        );
      },
      deleteActivity: (id, taskId) => {
        this.#run("DELETE FROM activities WHERE instance_id = ? AND task_id = ?", id, taskId);
      },
    };
  }

  getInstance(instanceId: string): InstanceRecord | undefined {
    return this.#writer.getInstance(instanceId);
  }

  getHistory(instanceId: string): HistoryEvent[] {
    return this.#writer.getHistory(instanceId);
  }

  getInbox(instanceId: string): InboxEntry[] {
    return this.#writer.getInbox(instanceId);
  }

  getActivity(instanceId: string, taskId: number): ActivityTask | undefined {
    return this.#writer.getActivity(instanceId, taskId);
  }

  listActivities(instanceId?: string): ActivityTask[] {
    return this.#writer.listActivities(instanceId);
  }

  listInstances(query?: InstanceQuery): InstanceRecord[] {
    return this.#writer.listInstances(query);
  }

  scanInbox(): { instanceId: string; visibleAt: number }[] {
    return this.#all("SELECT instance_id, visible_at FROM inbox ORDER BY seq").map((r) => ({
      instanceId: String(r["instance_id"]),
      visibleAt: Number(r["visible_at"]),
    }));
  }

  transaction<T>(fn: (tx: StoreWriter) => T): T {
    if (this.#inTransaction) throw new Error("Store transactions do not nest.");
    if (!this.#db.isOpen) throw new Error("The store is closed.");
    if (this.#failure !== undefined) {
      throw new Error(`The store takes no more writes after a failed commit: ${this.#failure.message}`);
    }
    this.#inTransaction = true;
    try {
      if (!this.#grouped) {
        this.#statement("BEGIN IMMEDIATE").run();
        this.#grouped = true;
        setImmediate(this.#flush);
      }
      this.#statement("SAVEPOINT tx").run();
      this.#touched.clear();
      try {
        const result = fn(this.#writer);
        this.#statement("RELEASE tx").run();
        return result;
      } catch (error) {
        // What the cache holds of the instances it wrote may be its writes: read them again.
        for (const id of this.#touched) this.#cache.delete(id);
        if (this.#db.isTransaction) {
          this.#statement("ROLLBACK TO tx").run();
          this.#statement("RELEASE tx").run();
        } else {
          // SQLite rolled the whole group back itself (I/O error, disk full): the others' writes are gone too.
          this.#fail(error);
        }
        throw error;
      }
    } finally {
      this.#inTransaction = false;
    }
  }

  /**
   * Resolves once every transaction that has returned so far is on disk (the open group committed); undefined when
   * nothing is pending. Rejects when that commit fails.
   */
  whenDurable(): Promise<void> | undefined {
    if (!this.#grouped) return undefined;
    this.#durable ??= durable();
    return this.#durable.promise;
  }

  /** Commits the open group now (a graceful close does; a crash would lose it), then closes the database. */
  close(): void {
    if (!this.#db.isOpen) return;
    this.#commitGroup();
    this.#db.close();
  }

  /** A PRAGMA's current value (e.g. `journal_mode`), for diagnostics. */
  pragma(name: string): unknown {
    if (!/^[a-z_]+$/.test(name)) throw new TypeError(`Not a pragma name: ${JSON.stringify(name)}.`);
    return Object.values(this.#get(`PRAGMA ${name}`) ?? {})[0];
  }

  // ---------------------------------------------------------------------------------------------------------------

  /** The open group's COMMIT (scheduled with setImmediate by its first transaction). */
  #commitGroup(): void {
    if (!this.#grouped) return;
    this.#grouped = false;
    const durable = this.#durable;
    this.#durable = undefined;
    try {
      if (!this.#db.isOpen) throw new Error("The store was closed before its last writes were committed.");
      this.#statement("COMMIT").run();
    } catch (error) {
      try {
        if (this.#db.isOpen && this.#db.isTransaction) this.#statement("ROLLBACK").run();
      } catch {
        // the failure below is what counts
      }
      durable?.reject(this.#fail(error));
      return;
    }
    durable?.resolve();
  }

  /** From now on the store takes no writes; returns the error that stopped it. */
  #fail(error: unknown): Error {
    this.#failure ??= error instanceof Error ? error : new Error(String(error));
    const failure = this.#failure;
    this.#cache.clear(); // it may hold writes of the group that is gone
    if (this.#grouped && this.#db.isOpen && !this.#db.isTransaction) {
      // The group is already gone; its acknowledgments fail now instead of at the scheduled COMMIT.
      this.#grouped = false;
      this.#durable?.reject(failure);
      this.#durable = undefined;
    }
    return failure;
  }

  #reader(): StoreReader {
    return {
      getInstance: (id) => {
        const cached = this.#cache.get(id)?.record;
        if (cached !== undefined) return cached;
        const row = this.#get("SELECT * FROM instances WHERE instance_id = ?", id);
        if (row === undefined) return undefined;
        const record = toRecord(row);
        const entry = this.#entry(id);
        if (entry !== undefined) entry.record = record;
        return record;
      },
      getHistory: (id) => {
        const cached = this.#cache.get(id)?.history;
        if (cached !== undefined) return [...cached];
        const history = this.#all("SELECT event FROM history WHERE instance_id = ? ORDER BY seq", id).map((r) =>
          decode(r["event"]),
        );
        const entry = this.#entry(id);
        if (entry !== undefined) entry.history = [...history];
        return history;
      },
      getInbox: (id) => {
        const cached = this.#cache.get(id)?.inbox;
        if (cached !== undefined) return [...cached];
        const inbox = this.#all("SELECT seq, visible_at, event FROM inbox WHERE instance_id = ? ORDER BY seq", id).map(
          (r): InboxEntry => ({ seq: Number(r["seq"]), visibleAt: Number(r["visible_at"]), event: decode(r["event"]) }),
        );
        const entry = this.#entry(id);
        if (entry !== undefined) entry.inbox = [...inbox];
        return inbox;
      },
      getActivity: (id, taskId) => {
        const row = this.#get("SELECT * FROM activities WHERE instance_id = ? AND task_id = ?", id, taskId);
        return row === undefined ? undefined : toActivity(row);
      },
      listActivities: (id) =>
        (id === undefined
          ? this.#all("SELECT * FROM activities")
          : this.#all("SELECT * FROM activities WHERE instance_id = ?", id)
        ).map(toActivity),
      listInstances: (query = {}) => {
        const where: string[] = [];
        const params: SQLInputValue[] = [];
        if (query.after !== undefined) {
          where.push("instance_id > ?");
          params.push(query.after);
        }
        if (query.createdFrom !== undefined) {
          where.push("created_at >= ?");
          params.push(query.createdFrom);
        }
        if (query.createdTo !== undefined) {
          where.push("created_at <= ?");
          params.push(query.createdTo);
        }
        if (query.statuses !== undefined && query.statuses.length > 0) {
          where.push(`status IN (${query.statuses.map(() => "?").join(", ")})`);
          params.push(...query.statuses);
        }
        const sql =
          `SELECT * FROM instances${where.length === 0 ? "" : ` WHERE ${where.join(" AND ")}`} ORDER BY instance_id` +
          (query.limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`);
        return this.#all(sql, ...params).map(toRecord);
      },
    };
  }

  /** The instance's cache entry (made, and the oldest evicted, when missing); undefined with the cache off. */
  #entry(id: string): CacheEntry | undefined {
    let entry = this.#cache.get(id);
    if (entry === undefined && this.#cacheSize > 0) {
      entry = {};
      this.#cache.set(id, entry);
      if (this.#cache.size > this.#cacheSize) {
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
    }
    return entry;
  }

  /** The entry of an instance the running transaction writes (a throwaway one with the cache off). */
  #written(id: string): CacheEntry {
    this.#touched.add(id);
    return this.#entry(id) ?? {};
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #run(sql: string, ...params: SQLInputValue[]) {
    return this.#statement(sql).run(...params);
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#statement(sql).get(...params);
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#statement(sql).all(...params);
  }
}

interface Durable {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

function durable(): Durable {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Events are stored as protobuf, encoded once per event object (the work items sent reuse the same bytes). */
const encode = encodedEvent;
const decode = (bytes: unknown) => fromBinary(HistoryEventSchema, bytes as Uint8Array);

function optional<T>(value: unknown, map: (v: unknown) => T): T | undefined {
  return value === null || value === undefined ? undefined : map(value);
}

function toRecord(r: Row): InstanceRecord {
  return {
    instanceId: String(r["instance_id"]),
    name: String(r["name"]),
    version: optional(r["version"], String),
    executionId: String(r["execution_id"]),
    status: Number(r["status"]) as OrchestrationStatus,
    createdAt: Number(r["created_at"]),
    lastUpdatedAt: Number(r["last_updated_at"]),
    startedAt: optional(r["started_at"], Number),
    completedAt: optional(r["completed_at"], Number),
    scheduledStartAt: optional(r["scheduled_start_at"], Number),
    input: optional(r["input"], String),
    output: optional(r["output"], String),
    customStatus: optional(r["custom_status"], String),
    failureDetails: optional(r["failure_details"], (b) => fromBinary(TaskFailureDetailsSchema, b as Uint8Array)),
    tags: JSON.parse(String(r["tags"])) as Record<string, string>,
    parentInstanceId: optional(r["parent_instance_id"], String),
    parentAppId: optional(r["parent_app_id"], String),
  };
}

function toActivity(r: Row): ActivityTask {
  return {
    instanceId: String(r["instance_id"]),
    taskId: Number(r["task_id"]),
    executionId: String(r["execution_id"]),
    event: decode(r["event"]),
  };
}
