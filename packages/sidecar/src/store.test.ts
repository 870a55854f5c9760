import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { history } from "@dt/core";
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

  it("runs in WAL mode with full fsync", () => {
    const store = sqlite();
    expect(store.pragma("journal_mode")).toBe("wal");
    expect(store.pragma("synchronous")).toBe(2); // FULL
  });
});

function storeContract(makeStore: () => Store) {
  const record = (instanceId: string, createdAt = 0, status = OrchestrationStatus.RUNNING): InstanceRecord => ({
    instanceId,
    name: "wf",
    executionId: "e",
    status,
    createdAt,
    lastUpdatedAt: createdAt,
    tags: {},
  });

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

  it("refuses nested transactions, and transactions after close", () => {
    const store = makeStore();
    expect(() => store.transaction(() => store.transaction(() => undefined))).toThrow(/nest/);
    store.close();
    expect(() => store.transaction(() => undefined)).toThrow(/closed/);
  });
}
