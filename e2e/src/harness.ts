// Sidecar harness for every e2e suite: start a target on a free loopback port, wait until it answers,
// stop it, and print its logs when a test fails. Targets: "go" (durabletask-go, a child process stopped by PID),
// "embedded" (@dt/sidecar in this process) and "dapr" (daprd with placement and scheduler, see dapr.ts). Fault suites also kill a sidecar (SIGKILL, or dropping every connection
// in-process) and restart it on the same port and store; interop suites run Python peer scripts as child processes.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSidecarClient, createSidecarTransport } from "@dt/proto/transport";
import { MemoryStore, type Sidecar, SqliteStore, type Store, startSidecar as startEmbedded } from "@dt/sidecar";
import { afterAll, afterEach, beforeAll, describe, it } from "vitest";
import { type Daprd, daprUnavailableReason, restartDaprd, startDaprd } from "./dapr.ts";

export type E2ETarget = "go" | "embedded" | "dapr";
const KNOWN_TARGETS: readonly E2ETarget[] = ["go", "embedded", "dapr"];

export interface RunningSidecar {
  readonly target: E2ETarget;
  /** `127.0.0.1:<port>`, or `unix:<path>` for a sidecar started with `socketDir`. */
  readonly address: string;
  readonly port: number;
  /** The sqlite file it keeps its state in (durabletask-go `--db`); undefined for an in-memory database. */
  readonly db: string | undefined;
  /** The sidecar's process (this test process for the embedded target). */
  readonly pid: number;
  /** Everything the sidecar printed so far (the newest 256 KiB). */
  logs(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL at once (a crash: no graceful shutdown); resolves once the process has exited. */
  kill(): Promise<void>;
}

export interface SidecarOptions {
  /** Listen on this loopback port (e.g. to restart in place); default: a free one. */
  readonly port?: number;
  /** Keep state in this sqlite file (created when missing); default: an in-memory database. */
  readonly db?: string;
  readonly readyTimeoutMs?: number;
  /**
   * Serve on a Unix socket in this (short) directory instead of TCP: the embedded sidecar's `socket` option, daprd's
   * `--unix-domain-socket`. durabletask-go cannot.
   */
  readonly socketDir?: string;
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
    case "embedded":
      return undefined;
    case "dapr":
      return daprUnavailableReason(existsSync);
  }
}

const PY_PEER = "durabletask-dapr==0.17.4";
const PY_INSTALL = `python3 -m venv ~/.dt/py && ~/.dt/py/bin/pip install ${PY_PEER}, or set DT_PYTHON`;

/**
 * The Python interpreter of the durabletask-dapr peer: $DT_PYTHON, else `~/.dt/py/bin/python`, else the venv
 * `.ci/run` provisions (`~/.dt/py-durabletask-dapr-0.17.4/bin/python`).
 */
export function locatePython(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env["DT_PYTHON"];
  if (explicit !== undefined && explicit !== "") return explicit;
  const home = env["HOME"] ?? homedir();
  for (const venv of ["py", "py-durabletask-dapr-0.17.4"]) {
    const candidate = join(home, ".dt", venv, "bin", "python");
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

let pythonReason: { value: string | undefined } | undefined;

/** Why the Python peer cannot run here (no interpreter, or `import durabletask` fails), or undefined when it can. */
export function pythonUnavailableReason(): string | undefined {
  if (pythonReason !== undefined) return pythonReason.value;
  const python = locatePython();
  let value: string | undefined;
  if (python === undefined) {
    value = `no Python with ${PY_PEER} (${PY_INSTALL})`;
  } else {
    const probe = spawnSync(python, ["-c", "import durabletask"], { encoding: "utf8", timeout: 60_000 });
    if (probe.error !== undefined) value = `${python} cannot run: ${probe.error.message} (${PY_INSTALL})`;
    else if (probe.status !== 0) {
      const last = probe.stderr.trim().split("\n").at(-1) ?? "";
      value = `\`import durabletask\` fails in ${python}: ${last} (${PY_INSTALL})`;
    }
  }
  pythonReason = { value };
  return value;
}

/** e2e/python: the peer scripts the interop suites run. */
export const PYTHON_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), "..", "python");

/**
 * Runs `e2e/python/<script>` with the peer's interpreter, unbuffered, with `DAPR_GRPC_ENDPOINT` set to `address`.
 * Stop it with `stop()` (by PID).
 */
export function startPythonScript(script: string, args: readonly string[], address: string): ChildHandle {
  const python = locatePython();
  if (python === undefined) throw new Error(`Cannot run ${script}: ${pythonUnavailableReason()}.`);
  return spawnLogged(python, ["-u", join(PYTHON_SCRIPTS, script), ...args], {
    env: { ...process.env, DAPR_GRPC_ENDPOINT: address, PYTHONUNBUFFERED: "1" },
  });
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

export async function startSidecar(target: E2ETarget, options: SidecarOptions = {}): Promise<RunningSidecar> {
  const { readyTimeoutMs = 30_000 } = options;
  const reason = unavailableReason(target);
  if (reason !== undefined) throw new Error(`Cannot start the ${target} sidecar: ${reason}.`);
  if (target === "go" && options.socketDir !== undefined) throw new Error("durabletask-go cannot serve a Unix socket.");
  if (target === "embedded") return startEmbeddedSidecar(options);
  if (target === "dapr") return startDaprSidecar(options, readyTimeoutMs);
  // A free port can be taken between probe and bind; a second attempt gets a new one. A fixed port (a restart in
  // place) is retried as it is, a little later, in case the previous process still holds it.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freeLoopbackPort());
    const sidecar = spawnSidecar(target, port, options.db);
    try {
      await waitUntilReady(sidecar, readyTimeoutMs);
      return sidecar;
    } catch (error) {
      await sidecar.stop();
      const inUse = /address already in use/i.test(sidecar.logs());
      if (attempt >= (options.port === undefined ? 3 : 10) || !inUse) {
        throw new Error(
          `${target} sidecar did not become ready: ${String(error)}\n--- sidecar logs ---\n${sidecar.logs()}`,
        );
      }
      if (options.port !== undefined) await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
}

/**
 * Starts a new sidecar on the same port and sqlite file as `previous` (stopping `previous` first if it still runs),
 * so clients and workers that knew the old address reconnect to it and find the same instances.
 */
export async function restartSidecar(
  previous: RunningSidecar,
  options: Omit<SidecarOptions, "port" | "db"> = {},
): Promise<RunningSidecar> {
  await previous.stop();
  if (previous.target === "embedded") {
    const store = embeddedStores.get(previous);
    return startEmbeddedSidecar(
      { ...options, port: previous.port, ...(previous.db === undefined ? {} : { db: previous.db }) },
      store,
    );
  }
  const daprd = daprds.get(previous);
  if (daprd !== undefined) return wrapDaprd(await restartDaprd(daprd));
  return startSidecar(previous.target, {
    ...options,
    port: previous.port,
    ...(previous.db === undefined ? {} : { db: previous.db }),
  });
}

// --- the embedded target ---------------------------------------------------------------------------------------------

/** The in-memory store of each embedded sidecar without a db, so a restart (after a kill) finds the same state. */
const embeddedStores = new WeakMap<RunningSidecar, Store>();

/**
 * The embedded sidecar in this process. With a `db` it keeps state in that SQLite file (opened afresh on every start,
 * so a restart reads what the killed one committed); without, in a MemoryStore that a restart takes over.
 */
async function startEmbeddedSidecar(options: SidecarOptions, previousStore?: Store): Promise<RunningSidecar> {
  const store = options.db !== undefined ? new SqliteStore(options.db) : (previousStore ?? new MemoryStore());
  let log = "";
  const write = (level: string) => (message: string, attributes?: Record<string, unknown>) => {
    log += `${new Date().toISOString()} ${level} ${message}${attributes === undefined ? "" : ` ${JSON.stringify(attributes)}`}\n`;
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  // Per-dispatch debug lines would crowd out the rest of the kept log.
  const logger = { debug: () => {}, info: write("INFO"), warn: write("WARN"), error: write("ERROR") };
  let sidecar: Sidecar | undefined;
  // A restart on a fixed port can race the previous listener's close; try again a little later.
  for (let attempt = 1; sidecar === undefined; attempt++) {
    try {
      sidecar = await startEmbedded({
        ...(options.socketDir === undefined
          ? { port: options.port ?? 0 }
          : { socket: join(options.socketDir, "dt.sock") }),
        store,
        logger,
      });
    } catch (error) {
      const inUse = (error as { code?: unknown }).code === "EADDRINUSE";
      if (!inUse || options.port === undefined || attempt >= 10) {
        if (options.db !== undefined) store.close();
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
  const started = sidecar;
  // A file store is closed with its sidecar (what it committed is on disk); a memory store lives on for a restart.
  const closeStore = () => {
    if (options.db !== undefined) store.close();
  };
  const running: RunningSidecar = {
    target: "embedded",
    address: started.address,
    port: started.port,
    db: options.db,
    pid: process.pid,
    logs: () => log,
    stop: () => started.close().then(closeStore),
    kill: () => started.kill().then(closeStore),
  };
  if (options.db === undefined) embeddedStores.set(running, store);
  return running;
}

// --- the dapr target ----------------------------------------------------------------------------------------------

/** The daprd behind each dapr-target sidecar, so a restart reuses its app id, ports and state store. */
const daprds = new WeakMap<RunningSidecar, Daprd>();

async function startDaprSidecar(options: SidecarOptions, readyTimeoutMs: number): Promise<RunningSidecar> {
  const daprd = await startDaprd(
    {
      ...(options.port === undefined ? {} : { grpcPort: options.port }),
      ...(options.db === undefined ? {} : { db: options.db }),
      ...(options.socketDir === undefined ? {} : { unixSocketDir: options.socketDir }),
    },
    Math.max(readyTimeoutMs, 60_000),
  );
  return wrapDaprd(daprd);
}

function wrapDaprd(daprd: Daprd): RunningSidecar {
  const running: RunningSidecar = {
    target: "dapr",
    address: daprd.grpcSocket === undefined ? `127.0.0.1:${daprd.grpcPort}` : `unix:${daprd.grpcSocket}`,
    port: daprd.grpcPort,
    db: daprd.db,
    pid: daprd.process.pid,
    logs: daprd.process.logs,
    stop: () => daprd.process.stop(),
    kill: () => daprd.process.kill(),
  };
  daprds.set(running, daprd);
  return running;
}

const LOG_LIMIT = 256 * 1024;
const running = new Set<ChildProcess>();
// If the test process exits without stopping a sidecar, take it down with us (our own children only, by PID).
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function spawnSidecar(
  target: E2ETarget,
  port: number,
  db: string | undefined,
): RunningSidecar & { exited: Promise<number | null> } {
  const binary = locateDurableTaskGo() as string;
  // Without --db durabletask-go uses an in-memory sqlite database.
  const args = ["--host", "127.0.0.1", "--port", String(port), ...(db === undefined ? [] : ["--db", db])];
  const proc = spawnLogged(binary, args);
  return {
    target,
    address: `127.0.0.1:${port}`,
    port,
    db,
    pid: proc.pid,
    exited: proc.exited,
    logs: proc.logs,
    stop: proc.stop,
    kill: proc.kill,
  };
}

/** A child process this harness started: its output is kept, and it is ended by its PID only. */
export interface ChildHandle {
  readonly pid: number;
  /** Resolves with the exit code (null when a signal ended it or it never started). */
  readonly exited: Promise<number | null>;
  /** stdout and stderr so far, interleaved (the newest 256 KiB). */
  logs(): string;
  /** Resolves once the output matches `pattern`; rejects when the process exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL; resolves once the process has exited. */
  kill(): Promise<void>;
}

/** Spawns `command` with piped output, remembered so that it is killed if the test process exits first. */
export function spawnLogged(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): ChildHandle {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  running.add(child);
  let log = "";
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    log += chunk.toString("utf8");
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
    for (const listener of listeners) listener();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      running.delete(child);
      done = true;
      resolve(code);
    });
    child.once("error", (error) => {
      append(Buffer.from(`spawn error: ${error.message}\n`));
      running.delete(child);
      done = true;
      resolve(null);
    });
  });
  const alive = () => !done && child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  return {
    pid: child.pid ?? -1,
    exited,
    logs: () => log,
    waitForOutput(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = log.match(pattern);
          if (match === null) return;
          finish();
          resolve(match);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms\n--- output ---\n${log}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then((code) => {
          if (!listeners.has(check)) return;
          check();
          if (!listeners.has(check)) return;
          finish();
          reject(new Error(`exited (code ${code}) before printing ${pattern}\n--- output ---\n${log}`));
        });
        check();
      });
    },
    async stop(graceMs = 5_000) {
      if (!alive()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (!alive()) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

async function waitUntilReady(sidecar: RunningSidecar & { exited: Promise<number | null> }, timeoutMs: number) {
  // Its own connection, closed when done: it must not outlive a sidecar that is later killed and restarted.
  const transport = createSidecarTransport({ address: sidecar.address, defaultTimeoutMs: 1_000 });
  const client = createSidecarClient(transport);
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void sidecar.exited.then((code) => {
    exitCode = code;
  });
  try {
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
  } finally {
    transport.close();
  }
}

const unreachable = (): RunningSidecar => {
  throw new Error("a skipped suite has no sidecar");
};
export const isCI = () => ["true", "1"].includes((process.env["CI"] ?? "").toLowerCase());

export interface TargetRequirements {
  /** Something else the suite needs besides the sidecar: why it is missing, or undefined when it is there. */
  readonly requires?: () => string | undefined;
  /** What `requires` checks, for the CI failure's test name (e.g. "the Python peer"). Default "its prerequisites". */
  readonly requirement?: string;
}

/**
 * Declares `body` once per selected target without starting anything (for suites that manage their own sidecars,
 * e.g. to kill and restart them). Same skipping rules as `describeSidecars`: outside CI a target that cannot run
 * here, or a missing requirement, is reported as skipped with its reason in the suite name; under CI=true it is
 * one failing test instead.
 */
export function describeTargets(
  name: string,
  body: (target: E2ETarget) => void,
  requirements: TargetRequirements = {},
): void {
  for (const target of selectedTargets()) {
    if (!declareUnavailable(name, target, requirements, () => body(target))) {
      describe(`${name} [${target}]`, () => body(target));
    }
  }
}

/**
 * Declares `body` for one target only (a suite about that sidecar, e.g. daprd's scale-out), with the same skipping
 * rules as `describeTargets`; when DT_E2E_TARGET does not select it, the suite is reported as skipped with that reason.
 */
export function describeTarget(
  target: E2ETarget,
  name: string,
  body: () => void,
  requirements: TargetRequirements = {},
): void {
  if (!selectedTargets().includes(target)) {
    describe.skipIf(true)(`${name} [${target}] — skipped: DT_E2E_TARGET does not select ${target}`, body);
  } else if (!declareUnavailable(name, target, requirements, body)) {
    describe(`${name} [${target}]`, body);
  }
}

/**
 * When `target` (or a requirement) is missing, declares the suite as skipped (its tests listed, none run) or, under
 * CI=true, as one failing test; returns true when it did.
 */
function declareUnavailable(
  name: string,
  target: E2ETarget,
  requirements: TargetRequirements,
  skippedBody: () => void,
): boolean {
  const sidecarReason = unavailableReason(target);
  const reason = sidecarReason ?? requirements.requires?.();
  if (reason === undefined) return false;
  const what =
    sidecarReason !== undefined ? `the ${target} sidecar` : (requirements.requirement ?? "its prerequisites");
  // Outside CI: reported as skipped with the reason in its name. Under CI=true: one failing test saying why.
  if (isCI()) {
    describe(`${name} [${target}]`, () => {
      it(`needs ${what}`, () => {
        throw new Error(`CI=true requires ${what}: ${reason}.`);
      });
    });
  } else {
    describe.skipIf(true)(`${name} [${target}] — skipped: ${reason}`, skippedBody);
  }
  return true;
}

/** Writes a sidecar's (or peer's) logs to stderr; for afterEach hooks of failed tests. */
export function printLogs(label: string, logs: string): void {
  process.stderr.write(`\n--- ${label} ---\n${logs}\n`);
}

/**
 * Declares `body` once per selected target, each with its own sidecar. Outside CI a target that cannot run
 * here is reported as skipped with its reason in the suite name; under CI=true it fails instead.
 */
export function describeSidecars(
  name: string,
  body: (sidecar: () => RunningSidecar) => void,
  requirements: TargetRequirements = {},
): void {
  for (const target of selectedTargets()) {
    if (declareUnavailable(name, target, requirements, () => body(unreachable))) continue;
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
