// Sidecar harness for every e2e suite: start a target on a free loopback port, wait until it answers,
// stop it by PID, and print its logs when a test fails.
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { createSidecarClient } from "@dt/proto/transport";
import { afterAll, afterEach, beforeAll, describe, it } from "vitest";

export type E2ETarget = "go";
const KNOWN_TARGETS: readonly E2ETarget[] = ["go"];

export interface RunningSidecar {
  readonly target: E2ETarget;
  /** `127.0.0.1:<port>` */
  readonly address: string;
  readonly pid: number;
  /** Everything the sidecar printed so far (the newest 256 KiB). */
  logs(): string;
  stop(): Promise<void>;
}

/** The targets selected by `DT_E2E_TARGET` (comma-separated); all known targets when unset. */
export function selectedTargets(env: NodeJS.ProcessEnv = process.env): E2ETarget[] {
  const raw = env["DT_E2E_TARGET"]?.trim();
  if (raw === undefined || raw === "") return [...KNOWN_TARGETS];
  return raw.split(",").map((name) => {
    const target = name.trim() as E2ETarget;
    if (!KNOWN_TARGETS.includes(target)) {
      throw new Error(`Unknown DT_E2E_TARGET "${name}". Known targets: ${KNOWN_TARGETS.join(", ")}.`);
    }
    return target;
  });
}

const GO_INSTALL = "go install github.com/dapr/durabletask-go@v0.14.0";

/** Path of the durabletask-go binary: $DT_DURABLETASK_GO, then PATH, then Go's install directories. */
export function locateDurableTaskGo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env["DT_DURABLETASK_GO"];
  if (explicit !== undefined && explicit !== "") return explicit;
  const dirs = [
    ...(env["PATH"] ?? "").split(delimiter),
    env["GOBIN"],
    env["GOPATH"] === undefined ? undefined : join(env["GOPATH"], "bin"),
    join(homedir(), "go", "bin"),
  ];
  for (const dir of dirs) {
    if (dir === undefined || dir === "") continue;
    const candidate = join(dir, "durabletask-go");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** Why a target cannot run here, or undefined when it can. */
export function unavailableReason(target: E2ETarget): string | undefined {
  switch (target) {
    case "go":
      return locateDurableTaskGo() === undefined
        ? `durabletask-go not found on PATH or in Go's bin directories (${GO_INSTALL}, or set DT_DURABLETASK_GO)`
        : undefined;
  }
}

export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("could not read a free port");
  return address.port;
}

export async function startSidecar(target: E2ETarget, { readyTimeoutMs = 30_000 } = {}): Promise<RunningSidecar> {
  const reason = unavailableReason(target);
  if (reason !== undefined) throw new Error(`Cannot start the ${target} sidecar: ${reason}.`);
  // A free port can be taken between probe and bind; a second attempt gets a new one.
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    const sidecar = spawnSidecar(target, port);
    try {
      await waitUntilReady(sidecar, readyTimeoutMs);
      return sidecar;
    } catch (error) {
      await sidecar.stop();
      if (attempt >= 3 || !/address already in use/i.test(sidecar.logs())) {
        throw new Error(
          `${target} sidecar did not become ready: ${String(error)}\n--- sidecar logs ---\n${sidecar.logs()}`,
        );
      }
    }
  }
}

const LOG_LIMIT = 256 * 1024;
const running = new Set<ChildProcess>();
// If the test process exits without stopping a sidecar, take it down with us (our own children only, by PID).
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function spawnSidecar(target: E2ETarget, port: number): RunningSidecar & { exited: Promise<number | null> } {
  const binary = locateDurableTaskGo() as string;
  // No --db: durabletask-go then uses an in-memory sqlite database.
  const child = spawn(binary, ["--host", "127.0.0.1", "--port", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let log = "";
  const append = (chunk: Buffer) => {
    log += chunk.toString("utf8");
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    });
    child.once("error", (error) => {
      append(Buffer.from(`spawn error: ${error.message}\n`));
      running.delete(child);
      resolve(null);
    });
  });
  return {
    target,
    address: `127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    exited,
    logs: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitUntilReady(sidecar: RunningSidecar & { exited: Promise<number | null> }, timeoutMs: number) {
  const client = createSidecarClient({ address: sidecar.address, defaultTimeoutMs: 1_000 });
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void sidecar.exited.then((code) => {
    exitCode = code;
  });
  for (;;) {
    if (exitCode !== undefined) throw new Error(`exited early with code ${exitCode}`);
    try {
      await client.hello({});
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`no answer to Hello within ${timeoutMs} ms: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const unreachable = (): RunningSidecar => {
  throw new Error("a skipped suite has no sidecar");
};
const isCI = () => ["true", "1"].includes((process.env["CI"] ?? "").toLowerCase());

/**
 * Declares `body` once per selected target, each with its own sidecar. Outside CI a target that cannot run
 * here is reported as skipped with its reason in the suite name; under CI=true it fails instead.
 */
export function describeSidecars(name: string, body: (sidecar: () => RunningSidecar) => void): void {
  for (const target of selectedTargets()) {
    const reason = unavailableReason(target);
    if (reason !== undefined) {
      // Outside CI: reported as skipped with the reason in its name. Under CI=true: one failing test saying why.
      if (isCI()) {
        describe(`${name} [${target}]`, () => {
          it(`needs the ${target} sidecar`, () => {
            throw new Error(`CI=true requires the ${target} target: ${reason}.`);
          });
        });
      } else {
        describe.skipIf(true)(`${name} [${target}] — skipped: ${reason}`, () => body(unreachable));
      }
      continue;
    }
    describe(`${name} [${target}]`, () => {
      let sidecar: RunningSidecar | undefined;
      beforeAll(async () => {
        sidecar = await startSidecar(target);
      });
      afterEach((ctx) => {
        if (ctx.task.result?.state === "fail" && sidecar !== undefined) {
          process.stderr.write(`\n--- ${target} sidecar logs (pid ${sidecar.pid}) ---\n${sidecar.logs()}\n`);
        }
      });
      afterAll(async () => {
        await sidecar?.stop();
      });
      body(() => {
        if (sidecar === undefined) throw new Error(`the ${target} sidecar is not running`);
        return sidecar;
      });
    });
  }
}
