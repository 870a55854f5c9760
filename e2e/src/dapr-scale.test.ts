// Scale-out on daprd: two app replicas with one app id, each with its own daprd, sharing placement, scheduler and a
// Redis actor state store — the way users run more than one machine. 200 chains of 5 activities; mid-run one
// replica's app (or its app and its daprd together) is killed with SIGKILL and restarted, as an orchestrator would;
// or killed for good. daprd 1.18.3 can stall after such a kill (see below); the test then restarts that daprd, as an
// operator would, and reports it.
// Every instance must complete exactly once: one ExecutionCompleted per history, every activity answered once in the
// history (executed at least once). The kill point and the victim come from a seed (DT_SCALE_SEED, printed).

import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { TaskHubGrpcClient } from "@dt/client";
import { afterEach, expect, it } from "vitest";
import { type Daprd, locateRedis, restartDaprd, startDaprd, startRedis } from "./dapr.js";
import { eventKinds, sleep } from "./fixture.js";
import { type ChildHandle, describeTarget, printLogs, spawnLogged } from "./harness.js";
import { STEPS } from "./scale/replica.js";

const INSTANCES = 200;
const REPLICA = join(import.meta.dirname, "scale", "replica.ts");
const seed = Number(process.env["DT_SCALE_SEED"] ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: a small seeded generator, so a failing run can be repeated with its seed. */
function random(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function startReplica(daprd: Daprd): ChildHandle {
  return spawnLogged(process.execPath, [REPLICA], {
    env: { ...process.env, DAPR_GRPC_ENDPOINT: `127.0.0.1:${daprd.grpcPort}` },
  });
}

/** The activity executions a replica printed, as `<instance> <n>`. */
function stepsOf(logs: string): string[] {
  return [...logs.matchAll(/^step (\S+) (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

describeTarget(
  "dapr",
  "scale-out across replicas",
  () => {
    let cleanups: (() => unknown)[] = [];
    let logged: { label: string; logs: () => string }[] = [];
    afterEach(async (ctx) => {
      if (ctx.task.result?.state === "fail") for (const { label, logs } of logged) printLogs(label, logs());
      for (const cleanup of cleanups.reverse()) await cleanup();
      cleanups = [];
      logged = [];
    });

    it.each([
      ["app is killed and restarted", "app"],
      ["app and its daprd are killed and restarted", "app+daprd"],
      ["app is killed for good", "no-restart"],
    ] as const)(
      `${INSTANCES} chains of ${STEPS} complete exactly once when one replica's %s (seed ${seed})`,
      async (_what, mode) => {
        const withDaprd = mode === "app+daprd";
        const next = random(seed + ["app", "app+daprd", "no-restart"].indexOf(mode));
        const redis = await startRedis(locateRedis(process.env, existsSync) as string);
        cleanups.push(() => redis.process.stop());
        const appId = `dt-scale-${randomUUID().slice(0, 8)}`;
        const daprds = [
          await startDaprd({ appId, redisAddress: redis.address }),
          await startDaprd({ appId, redisAddress: redis.address }),
        ];
        const apps = daprds.map(startReplica);
        // Everything either replica ever printed, across restarts.
        const history: ChildHandle[] = [...apps];
        for (const [n, d] of daprds.entries()) {
          cleanups.push(() => daprds[n]?.process.stop());
          logged.push({ label: `daprd ${n + 1} (pid ${d.process.pid})`, logs: () => daprds[n]?.process.logs() ?? "" });
        }
        cleanups.push(() => Promise.all(history.map((app) => app.stop())));
        logged.push({ label: "apps", logs: () => history.map((app) => `[pid ${app.pid}]\n${app.logs()}`).join("\n") });
        await Promise.all(apps.map((app) => app.waitForOutput(/^ready$/m, 60_000)));

        const victim = next() < 0.5 ? 0 : 1;
        const survivor = 1 - victim;
        const killAt = Math.floor(INSTANCES * STEPS * (0.15 + 0.4 * next()));
        process.stdout.write(`scale-out: seed ${seed}, victim replica ${victim + 1}, kill after ${killAt} steps\n`);

        const client = new TaskHubGrpcClient({
          address: `127.0.0.1:${(daprds[survivor] as Daprd).grpcPort}`,
          useEnvironment: false,
        });
        cleanups.push(() => client.close());
        const prefix = `scale-${randomUUID().slice(0, 8)}`;
        const ids = Array.from({ length: INSTANCES }, (_, n) => `${prefix}-${n}`);
        await Promise.all(ids.map((instanceId) => client.scheduleNewOrchestration("scale.chain", { instanceId })));
        const finals = Promise.allSettled(ids.map((id) => client.waitForOrchestrationCompletion(id, { timeout: 300 })));

        const executed = () => history.flatMap((app) => stepsOf(app.logs()));
        for (const deadline = Date.now() + 120_000; executed().length < killAt; await sleep(20)) {
          if (Date.now() > deadline) throw new Error(`only ${executed().length} steps ran within 120 s`);
        }
        await (apps[victim] as ChildHandle).kill();
        if (withDaprd) await (daprds[victim] as Daprd).process.kill();
        const stepsAtKill = executed().length;
        const restartApp = async () => {
          const restarted = startReplica(daprds[victim] as Daprd);
          history.push(restarted);
          await restarted.waitForOutput(/^ready$/m, 60_000);
        };
        const restartDaprdOfVictim = async () => {
          daprds[victim] = await restartDaprd(daprds[victim] as Daprd);
        };
        const done = finals.then(() => true);
        /** Resolves true once every instance is terminal, false after 20 s without a step executed anywhere. */
        const settledOrStalled = async () => {
          let [seen, changed] = [-1, Date.now()];
          for (;;) {
            if (await Promise.race([done, sleep(500).then(() => false)])) return true;
            const count = executed().length;
            if (count !== seen) [seen, changed] = [count, Date.now()];
            else if (Date.now() - changed > 20_000) return false;
          }
        };
        // A daprd 1.18.3 defect: when its app dies with work in flight, the daprd can stop dispatching the instances
        // it holds (its reminders fail "actor type … not registered", even once a restarted app is connected). A
        // restart of that daprd (in Kubernetes: of the pod) clears it; the test applies it and says so.
        const remedies: string[] = [];
        if (mode === "no-restart") {
          if (!(await settledOrStalled())) {
            remedies.push("app restarted");
            await restartApp();
          }
        } else {
          await sleep(1_000);
          if (withDaprd) await restartDaprdOfVictim();
          await restartApp();
        }
        if (!(await settledOrStalled())) {
          remedies.push("daprd restarted");
          await (history.at(-1) as ChildHandle).kill();
          await restartDaprdOfVictim();
          await restartApp();
        }
        const stall = remedies.length === 0 ? "" : `; daprd stalled: ${remedies.join(", then ")}`;

        const settled = await finals;
        const failures = settled.flatMap((r, n) => (r.status === "rejected" ? [`${ids[n]}: ${String(r.reason)}`] : []));
        expect(failures).toEqual([]);
        const states = settled.map((r) => (r.status === "fulfilled" ? r.value : undefined));
        expect(states.filter((s) => s?.status !== "COMPLETED").map((s) => s?.status)).toEqual([]);
        expect(states.map((s) => s?.output)).toEqual(ids.map(() => (STEPS * (STEPS - 1)) / 2));

        // Exactly once in the histories; at least once in the apps.
        const ran = new Set(executed());
        for (const id of ids) {
          const kinds = eventKinds(await client.getOrchestrationHistory(id));
          const count = (kind: string) => kinds.filter((k) => k === kind).length;
          expect({
            id,
            completed: count("executionCompleted"),
            scheduled: count("taskScheduled"),
            answered: count("taskCompleted"),
          }).toEqual({ id, completed: 1, scheduled: STEPS, answered: STEPS });
          for (let n = 0; n < STEPS; n++) expect(ran.has(`${id} ${n}`), `${id} step ${n} ran`).toBe(true);
        }
        process.stdout.write(
          `scale-out (${mode}): ${INSTANCES}/${INSTANCES} completed; ${stepsAtKill} steps before the kill, ${executed().length} executions for ${INSTANCES * STEPS} steps${stall}\n`,
        );
      },
      420_000,
    );
  },
  {
    requires: () =>
      locateRedis(process.env, existsSync) === undefined
        ? "redis-server not found (apt-get install redis-server, or set DT_REDIS_SERVER)"
        : undefined,
    requirement: "redis-server",
  },
);
