// The SQLite Store on node:sqlite (DatabaseSync): one file, WAL journal and synchronous=FULL, so a committed turn
// survives a crash of the process or the machine. Every Store transaction is one SQLite transaction. Events and
// failure details are stored as protobuf bytes, as durabletask-go does. node:sqlite is loaded when a store is
// opened, so importing @dt/sidecar works on Node versions where it is still behind a flag.

import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type HistoryEvent, HistoryEventSchema, type OrchestrationStatus, TaskFailureDetailsSchema } from "@dt/proto";
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
}

export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #writer: StoreWriter;
  #inTransaction = false;

  /** Opens (creating when missing) the database at `path` (":memory:" for a throwaway one). */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    const sqlite = process.getBuiltinModule("node:sqlite");
    if (sqlite === undefined) {
      throw new Error("node:sqlite is not available in this Node.js version (use Node >= 22.13, or MemoryStore).");
    }
    this.#db = new sqlite.DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5_000 });
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
        for (const table of ["instances", "history", "inbox", "activities"]) {
          this.#run(`DELETE FROM ${table} WHERE instance_id = ?`, id);
        }
      },
      appendHistory: (id, events) => {
        if (events.length === 0) return;
        const next = Number(
          this.#get("SELECT COALESCE(MAX(seq), -1) + 1 AS n FROM history WHERE instance_id = ?", id)?.["n"],
        );
        events.forEach((e, i) => {
          this.#run("INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)", id, next + i, encode(e));
        });
      },
      clearHistory: (id) => {
        this.#run("DELETE FROM history WHERE instance_id = ?", id);
      },
      addInbox: (id, event, options = {}) => {
        const visibleAt = options.visibleAt ?? 0;
        if (options.first === true) {
          const seq = Number(this.#get("SELECT COALESCE(MIN(seq), 1) - 1 AS s FROM inbox")?.["s"]);
          this.#run(
            "INSERT INTO inbox (seq, instance_id, visible_at, event) VALUES (?, ?, ?, ?)",
            seq,
            id,
            visibleAt,
            encode(event),
          );
          return seq;
        }
        const result = this.#run(
          "INSERT INTO inbox (instance_id, visible_at, event) VALUES (?, ?, ?)",
          id,
          visibleAt,
          encode(event),
        );
        return Number(result.lastInsertRowid);
      },
      removeInbox: (id, seqs) => {
        for (const seq of seqs) this.#run("DELETE FROM inbox WHERE instance_id = ? AND seq = ?", id, seq);
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
    this.#inTransaction = true;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn(this.#writer);
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    } finally {
      this.#inTransaction = false;
    }
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** A PRAGMA's current value (e.g. `journal_mode`), for diagnostics. */
  pragma(name: string): unknown {
    if (!/^[a-z_]+$/.test(name)) throw new TypeError(`Not a pragma name: ${JSON.stringify(name)}.`);
    return Object.values(this.#get(`PRAGMA ${name}`) ?? {})[0];
  }

  // ---------------------------------------------------------------------------------------------------------------

  #reader(): StoreReader {
    return {
      getInstance: (id) => {
        const row = this.#get("SELECT * FROM instances WHERE instance_id = ?", id);
        return row === undefined ? undefined : toRecord(row);
      },
      getHistory: (id) =>
        this.#all("SELECT event FROM history WHERE instance_id = ? ORDER BY seq", id).map((r) => decode(r["event"])),
      getInbox: (id) =>
        this.#all("SELECT seq, visible_at, event FROM inbox WHERE instance_id = ? ORDER BY seq", id).map((r) => ({
          seq: Number(r["seq"]),
          visibleAt: Number(r["visible_at"]),
          event: decode(r["event"]),
        })),
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

const encode = (e: HistoryEvent) => toBinary(HistoryEventSchema, e);
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
