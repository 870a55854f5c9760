import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { history } from "@dt/core";
import type { HistoryEvent } from "@dt/proto";
import { OrchestrationStatus } from "@dt/proto";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore } from "./memory-store.js";
import { SqliteStore } from "./sqlite-store.js";
import type { InstanceRecord, Store } from "./store.js";

const dirs: string[] = [];
const opened: Store[] = [];
afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function sqlite(path = tempFile()): SqliteStore {
  const store = new SqliteStore(path);
  opened.push(store);
  return store;
}

const record = (instanceId: string, createdAt = 0, status = OrchestrationStatus.RUNNING): InstanceRecord => ({
  instanceId,
  name: "wf",
  executionId: "e",
  status,
  createdAt,
  lastUpdatedAt: createdAt,
  tags: {},
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "dt-sidecar-store-"));
  dirs.push(dir);
  return join(dir, "state.db");
}

describe("MemoryStore", () => storeContract(() => new MemoryStore()));
describe("SqliteStore", () => {
  storeContract(() => sqlite());

  it("keeps what was committed across a reopen (and nothing of a rolled-back transaction)", () => {
    const path = tempFile();
    const first = new SqliteStore(path);
    first.transaction((tx) => {
      tx.putInstance({
        instanceId: "kept",
        name: "wf",
        executionId: "e",
        status: OrchestrationStatus.FAILED,
        createdAt: 1,
        lastUpdatedAt: 2,
        failureDetails: {
          $typeName: "TaskFailureDetails",
          errorType: "Error",
          errorMessage: "boom",
          isNonRetriable: false,
        },
        tags: { a: "1" },
        input: "",
      });
      tx.appendHistory("kept", [history.eventRaised("e", '"x"')]);
      tx.addInbox("kept", history.eventRaised("later"), { visibleAt: 9 });
      tx.putActivity({ instanceId: "kept", taskId: 3, executionId: "e", event: history.taskScheduled(3, "t") });
    });
    expect(() =>
      first.transaction((tx) => {
        tx.deleteInstance("kept");
        throw new Error("crash mid-transaction");
      }),
    ).toThrow("crash");
    first.close();
    const second = new SqliteStore(path);
    expect(second.getInstance("kept")).toMatchObject({
      status: OrchestrationStatus.FAILED,
      failureDetails: { errorMessage: "boom" },
      tags: { a: "1" },
      input: "",
      version: undefined,
    });
    expect(second.getHistory("kept").map((e) => e.eventType.value)).toMatchObject([{ name: "e", input: '"x"' }]);
    expect(second.scanInbox()).toEqual([{ instanceId: "kept", visibleAt: 9 }]);
    expect(second.getActivity("kept", 3)?.event.eventId).toBe(3);
    second.close();
  });

  describe("group commit", () => {
    /** What another connection sees: what is committed, i.e. what a crash would leave. */
    function committedIds(path: string): string[] {
      const sqlite = process.getBuiltinModule("node:sqlite");
      const db: DatabaseSync = new sqlite.DatabaseSync(path, { readOnly: true });
      try {
        return db
          .prepare("SELECT instance_id FROM instances ORDER BY instance_id")
          .all()
          .map((row) => String(row["instance_id"]));
      } finally {
        db.close();
      }
    }
    const put = (store: Store, id: string) => store.transaction((tx) => tx.putInstance(record(id)));

    it("commits the transactions of one event-loop turn together; a throwing one takes back only its own writes", async () => {
      const path = tempFile();
      const store = sqlite(path);
      expect(store.whenDurable()).toBeUndefined(); // nothing pending
      put(store, "a");
      expect(() =>
        store.transaction((tx) => {
          tx.putInstance(record("b"));
          tx.appendHistory("a", [history.eventRaised("from b")]);
          throw new Error("b fails");
        }),
      ).toThrow("b fails");
      put(store, "c");
      // Visible to this store's reads at once, but not committed yet: a crash now would lose a and c.
      expect(store.listInstances().map((r) => r.instanceId)).toEqual(["a", "c"]);
      expect(store.getHistory("a")).toEqual([]);
      expect(committedIds(path)).toEqual([]);
      const durable = store.whenDurable();
      expect(durable).toBeInstanceOf(Promise);
      expect(store.whenDurable()).toBe(durable); // one promise per group
      await durable;
      expect(committedIds(path)).toEqual(["a", "c"]);
      expect(store.whenDurable()).toBeUndefined();
      // The next turn's transactions form a new group.
      put(store, "d");
      expect(committedIds(path)).toEqual(["a", "c"]);
      await store.whenDurable();
      expect(committedIds(path)).toEqual(["a", "c", "d"]);
    });

    it("commits on its own after the turn, whether or not anyone waits", async () => {
      const path = tempFile();
      const store = sqlite(path);
      put(store, "a");
      await new Promise((resolve) => setImmediate(resolve));
      expect(store.whenDurable()).toBeUndefined();
      expect(committedIds(path)).toEqual(["a"]);
    });

    it("when SQLite drops the whole group, its answers fail and the store takes no more writes", async () => {
      const path = tempFile();
      sqlite(path).close(); // the schema
      const sqliteModule = process.getBuiltinModule("node:sqlite");
      const raw = new sqliteModule.DatabaseSync(path);
      // RAISE(ROLLBACK) ends the whole SQLite transaction, as an I/O error or a full disk can.
      raw.exec(`CREATE TRIGGER poison BEFORE INSERT ON instances WHEN NEW.instance_id = 'poison'
                BEGIN SELECT RAISE(ROLLBACK, 'poisoned'); END`);
      raw.close();
      const store = sqlite(path);
      put(store, "a");
      const durable = store.whenDurable();
      const settled = durable?.then(
        () => "committed",
        (error: unknown) => String(error),
      );
      expect(() => put(store, "poison")).toThrow("poisoned");
      expect(await settled).toMatch(/poisoned/);
      expect(store.whenDurable()).toBeUndefined();
      expect(store.getInstance("a")).toBeUndefined(); // gone with the group, in the cache too
      expect(() => put(store, "b")).toThrow(/no more writes/);
      expect(committedIds(path)).toEqual([]);
    });

    it("commits the open group when closed", () => {
      const path = tempFile();
      const store = new SqliteStore(path);
      put(store, "a");
      store.close();
      expect(committedIds(path)).toEqual(["a"]);
    });

    it("a crash (kill -9) between transactions of a group loses that whole group and keeps every acknowledged one", () => {
      const path = tempFile();
      // A child process runs this very store (Node strips the types; relative ".js" imports name the ".ts" files)
      // and SIGKILLs itself mid-group.
      const storeUrl = new URL("./sqlite-store.ts", import.meta.url).href;
      const script = `
        import { registerHooks } from "node:module";
        registerHooks({
          resolve: (specifier, context, next) =>
            specifier.startsWith(".") && specifier.endsWith(".js") && context.parentURL?.endsWith(".ts") === true
              ? next(specifier.slice(0, -3) + ".ts", context)
              : next(specifier, context),
        });
        const { SqliteStore } = await import(${JSON.stringify(storeUrl)});
        const store = new SqliteStore(${JSON.stringify(path)});
        const record = (instanceId) => ({ instanceId, name: "wf", executionId: "e", status: 0, createdAt: 0,
          lastUpdatedAt: 0, tags: {} });
        store.transaction((tx) => tx.putInstance(record("acked-1")));
        store.transaction((tx) => tx.putInstance(record("acked-2")));
        await store.whenDurable();
        process.stdout.write("acknowledged\\n");
        store.transaction((tx) => tx.putInstance(record("lost-1")));
        store.transaction((tx) => tx.putInstance(record("lost-2")));
        if (store.whenDurable() === undefined) throw new Error("expected an open group");
        process.kill(process.pid, "SIGKILL");
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000); // never back to the event loop
      `;
      const child = spawnSync(process.execPath, ["--input-type=module", "--no-warnings", "-e", script], {
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(child.stderr).toBe("");
      expect(child.stdout).toBe("acknowledged\n");
      expect(child.signal).toBe("SIGKILL");
      const reopened = sqlite(path);
      expect(reopened.listInstances().map((r) => r.instanceId)).toEqual(["acked-1", "acked-2"]);
    });
  });

  it.each([1_000, 2])("reads the same with a cache of %i decoded instances as without one", (cacheSize) => {
    const stores = [new SqliteStore(tempFile(), { cacheSize }), new SqliteStore(tempFile(), { cacheSize: 0 })];
    opened.push(...stores);
    const ids = ["a", "b", "c", "d", "e"];
    const snapshot = (store: Store) =>
      ids.map((id) => ({
        record: store.getInstance(id),
        history: store.getHistory(id).map((e) => e.eventType.value),
        inbox: store.getInbox(id).map((e) => [e.seq, e.visibleAt, e.event.eventType.value]),
      }));
    for (let round = 0; round < 4; round++) {
      for (const [i, id] of ids.entries()) {
        const step = (tx: Parameters<Parameters<Store["transaction"]>[0]>[0]) => {
          tx.putInstance({ ...record(id), lastUpdatedAt: round });
          tx.appendHistory(id, [history.eventRaised(`${id}${round}`)]);
          tx.addInbox(id, history.eventRaised(`in-${id}${round}`), { first: (round + i) % 2 === 0 });
          const inbox = tx.getInbox(id);
          if (inbox.length > 2) tx.removeInbox(id, [inbox[1]?.seq ?? -1]);
          if (round === 2 && i === 1) tx.clearHistory(id);
          if (round === 3 && i === 2) tx.deleteInstance(id);
          if ((round + i) % 3 === 0) throw new Error("rolled back");
        };
        for (const store of stores) {
          try {
            store.transaction(step);
          } catch {
            // the rolled-back ones are part of the test
          }
        }
        expect(snapshot(stores[0] as Store)).toEqual(snapshot(stores[1] as Store));
      }
    }
  });

  it("runs in WAL mode with full fsync", () => {
    const store = sqlite();
    expect(store.pragma("journal_mode")).toBe("wal");
    expect(store.pragma("synchronous")).toBe(2); // FULL
  });
});

function storeContract(makeStore: () => Store) {
  it("commits a transaction's writes together", () => {
    const store = makeStore();
    store.transaction((tx) => {
      tx.putInstance(record("a"));
      tx.appendHistory("a", [history.eventRaised("x")]);
      tx.addInbox("a", history.eventRaised("y"));
      tx.putActivity({ instanceId: "a", taskId: 1, executionId: "e", event: history.taskScheduled(1, "t") });
    });
    expect(store.getInstance("a")?.name).toBe("wf");
    expect(store.getHistory("a")).toHaveLength(1);
    expect(store.getInbox("a")).toHaveLength(1);
    expect(store.listActivities()).toHaveLength(1);
    expect(store.listActivities("a")).toHaveLength(1);
    expect(store.listActivities("b")).toEqual([]);
  });

  it("rolls every write back when the transaction throws", () => {
    const store = makeStore();
    store.transaction((tx) => {
      tx.putInstance(record("a"));
      tx.appendHistory("a", [history.eventRaised("1")]);
      tx.addInbox("a", history.eventRaised("in-1"));
    });
    expect(() =>
      store.transaction((tx) => {
        tx.appendHistory("a", [history.eventRaised("2")]);
        tx.addInbox("a", history.eventRaised("in-2"));
        tx.removeInbox("a", [tx.getInbox("a")[0]?.seq ?? -1]);
        tx.putInstance({ ...record("a"), name: "changed" });
        tx.putInstance(record("b"));
        tx.deleteInstance("a");
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(store.getInstance("a")?.name).toBe("wf");
    expect(store.getInstance("b")).toBeUndefined();
    expect(store.getHistory("a").map((e) => e.eventType.value)).toMatchObject([{ name: "1" }]);
    expect(store.getInbox("a").map((e) => e.event.eventType.value)).toMatchObject([{ name: "in-1" }]);
  });

  it("puts an entry first when asked, and keeps delayed entries' visibility", () => {
    const store = makeStore();
    store.transaction((tx) => {
      tx.addInbox("a", history.eventRaised("second"));
      tx.addInbox("a", history.eventRaised("later"), { visibleAt: 5_000 });
      tx.addInbox("a", history.eventRaised("first"), { first: true });
    });
    expect(store.getInbox("a").map((e) => e.event.eventType.value)).toMatchObject([
      { name: "first" },
      { name: "second" },
      { name: "later" },
    ]);
    expect(store.scanInbox().map((e) => e.visibleAt)).toEqual([0, 0, 5_000]);
  });

  it("lists instances in id order, filtered and paged", () => {
    const store = makeStore();
    store.transaction((tx) => {
      tx.putInstance(record("c", 300, OrchestrationStatus.COMPLETED));
      tx.putInstance(record("a", 100));
      tx.putInstance(record("b", 200, OrchestrationStatus.FAILED));
    });
    const ids = (query: Parameters<Store["listInstances"]>[0]) => store.listInstances(query).map((r) => r.instanceId);
    expect(ids({})).toEqual(["a", "b", "c"]);
    expect(ids({ after: "a", limit: 1 })).toEqual(["b"]);
    expect(ids({ createdFrom: 150, createdTo: 300 })).toEqual(["b", "c"]);
    expect(ids({ statuses: [OrchestrationStatus.COMPLETED, OrchestrationStatus.FAILED] })).toEqual(["b", "c"]);
  });

  it("shows a transaction's writes to later reads, and none of one that threw, whatever was read before", () => {
    const store = makeStore();
    store.transaction((tx) => {
      tx.putInstance(record("a"));
      tx.appendHistory("a", [history.eventRaised("h1")]);
      tx.addInbox("a", history.eventRaised("i1"));
    });
    const names = (events: readonly HistoryEvent[]) => events.map((e) => (e.eventType.value as { name?: string }).name);
    // Read everything once (a store may keep what it read), then change it all in a transaction that throws.
    expect(names(store.getHistory("a"))).toEqual(["h1"]);
    expect(names(store.getInbox("a").map((e) => e.event))).toEqual(["i1"]);
    expect(() =>
      store.transaction((tx) => {
        tx.appendHistory("a", [history.eventRaised("h2")]);
        tx.addInbox("a", history.eventRaised("i0"), { first: true });
        tx.addInbox("a", history.eventRaised("i2"));
        tx.putInstance({ ...record("a"), name: "changed" });
        expect(names(tx.getHistory("a"))).toEqual(["h1", "h2"]);
        expect(names(tx.getInbox("a").map((e) => e.event))).toEqual(["i0", "i1", "i2"]);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(store.getInstance("a")?.name).toBe("wf");
    expect(names(store.getHistory("a"))).toEqual(["h1"]);
    expect(names(store.getInbox("a").map((e) => e.event))).toEqual(["i1"]);
    // And a transaction that commits is seen at once, by every read.
    store.transaction((tx) => {
      tx.appendHistory("a", [history.eventRaised("h2")]);
      tx.removeInbox("a", [tx.getInbox("a")[0]?.seq ?? -1]);
      tx.addInbox("a", history.eventRaised("i3"), { first: true });
      tx.clearHistory("b");
    });
    expect(names(store.getHistory("a"))).toEqual(["h1", "h2"]);
    expect(names(store.getInbox("a").map((e) => e.event))).toEqual(["i3"]);
    store.transaction((tx) => tx.clearHistory("a"));
    expect(store.getHistory("a")).toEqual([]);
    store.transaction((tx) => tx.deleteInstance("a"));
    expect(store.getInstance("a")).toBeUndefined();
    expect(store.getInbox("a")).toEqual([]);
  });

  it("refuses nested transactions, and transactions after close", () => {
    const store = makeStore();
    expect(() => store.transaction(() => store.transaction(() => undefined))).toThrow(/nest/);
    store.close();
    expect(() => store.transaction(() => undefined)).toThrow(/closed/);
  });
}
