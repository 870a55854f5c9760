// The "dapr" e2e target: a real daprd (Dapr v1.18.3) with its placement and scheduler, all from one binary that
// e2e/dapr/provision.sh builds from the Go module proxy (`daprdev daprd|placement|scheduler`). Everything binds
// 127.0.0.1 on free ports and is stopped by PID (and ends itself when the process that started it is gone). One
// control plane (placement + scheduler) serves every daprd of a test run (vitest's global setup, dapr-setup.ts, starts
// it) or of a process (the benchmark); each daprd gets its own app id, so their workflows (actor types) and jobs never
// meet. Its actor state is in memory, or in a sqlite file when the test names one (a daprd killed and restarted on the
// same ports then finds its instances again), or in a Redis that several daprds share.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { type ChildHandle, freeLoopbackPort, spawnLogged } from "./harness.ts";

/** The Dapr release the target runs; e2e/dapr/go.mod pins the same. */
export const DAPR_VERSION = "v1.18.3";
const PROVISION = "bash e2e/dapr/provision.sh";

/** Path of the daprdev binary: $DT_DAPRDEV, else where provision.sh caches it (`~/.dt/dapr-v1.18.3/daprdev`). */
export function locateDaprdev(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["DT_DAPRDEV"];
  if (explicit !== undefined && explicit !== "") return explicit;
  const tools = env["DT_TOOLS_DIR"] || join(env["HOME"] ?? homedir(), ".dt");
  return join(tools, `dapr-${DAPR_VERSION}`, "daprdev");
}

/** Why the dapr target cannot run here, or undefined when it can. */
export function daprUnavailableReason(exists: (path: string) => boolean): string | undefined {
  const binary = locateDaprdev();
  return exists(binary) ? undefined : `no daprd build at ${binary} (run \`${PROVISION}\`, or set DT_DAPRDEV)`;
}

/** Placement and scheduler, shared by the daprds of a test run. */
export interface DaprControlPlane {
  readonly placementAddress: string;
  readonly schedulerAddress: string;
}

/** A control plane this process started. */
export interface RunningControlPlane extends DaprControlPlane {
  logs(): string;
  stop(): Promise<void>;
}

/** Where vitest's global setup publishes its control plane to the test processes. */
export const CONTROL_PLANE_ENV = { placement: "DT_DAPR_PLACEMENT_ADDRESS", scheduler: "DT_DAPR_SCHEDULER_ADDRESS" };
/** Every daprdev this harness starts ends itself when the process that started it is gone (e2e/dapr/main.go). */
const DAPRDEV_ENV = { ...process.env, DAPRDEV_EXIT_WITH_PARENT: "1" };

let controlPlane: Promise<DaprControlPlane> | undefined;
const scratchDirs: string[] = [];
process.once("exit", () => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  return dir;
}

/**
 * The run's placement and scheduler: those named by DT_DAPR_PLACEMENT_ADDRESS and DT_DAPR_SCHEDULER_ADDRESS (set by
 * the global setup), else this process's own, started on first use (they end with the process).
 */
export function daprControlPlane(): Promise<DaprControlPlane> {
  const placementAddress = process.env[CONTROL_PLANE_ENV.placement];
  const schedulerAddress = process.env[CONTROL_PLANE_ENV.scheduler];
  if (placementAddress && schedulerAddress) return Promise.resolve({ placementAddress, schedulerAddress });
  controlPlane ??= startControlPlane().catch((error: unknown) => {
    controlPlane = undefined;
    throw error;
  });
  return controlPlane;
}

/** Starts placement and scheduler on free loopback ports; resolves once both listen. */
export async function startControlPlane(): Promise<RunningControlPlane> {
  const binary = locateDaprdev();
  const dir = scratchDir("dt-dapr-cp-");
  const [placementPort, raftPort, schedulerPort, etcdClientPort, etcdPeerPort] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const common = ["--log-level", "warn", "--enable-metrics=false"];
  const spawn = (args: string[]) =>
    spawnLogged(binary, [...args.slice(0, 1), ...common, ...args.slice(1)], { env: DAPRDEV_ENV });
  const placement = spawn([
    "placement",
    "--listen-address=127.0.0.1",
    `--port=${placementPort}`,
    `--initial-cluster=dapr-placement-0=127.0.0.1:${raftPort}`,
  ]);
  const scheduler = spawn([
    "scheduler",
    "--listen-address=127.0.0.1",
    `--port=${schedulerPort}`,
    `--etcd-data-dir=${join(dir, "etcd")}`,
    `--etcd-client-port=${etcdClientPort}`,
    "--etcd-client-listen-address=127.0.0.1",
    `--etcd-initial-cluster=dapr-scheduler-server-0=http://127.0.0.1:${etcdPeerPort}`,
    `--identity-directory-write=${join(dir, "identity")}`,
  ]);
  const children = [placement, scheduler];
  const running: RunningControlPlane = {
    placementAddress: `127.0.0.1:${placementPort}`,
    schedulerAddress: `127.0.0.1:${schedulerPort}`,
    logs: () =>
      `--- placement (pid ${placement.pid}) ---\n${placement.logs()}\n--- scheduler (pid ${scheduler.pid}) ---\n${scheduler.logs()}`,
    stop: async () => {
      await Promise.all(children.map((child) => child.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all([waitForPort(placementPort, placement, 30_000), waitForPort(schedulerPort, scheduler, 60_000)]);
  } catch (error) {
    await Promise.all(children.map((child) => child.kill()));
    throw new Error(`the Dapr control plane did not start: ${String(error)}\n${running.logs()}`);
  }
  return running;
}

export interface DaprdOptions {
  /** The Dapr app id; default: a fresh one, so nothing is shared with other daprds. */
  readonly appId?: string;
  /** The gRPC API port (the sidecar's address); default: a free one. */
  readonly grpcPort?: number;
  /** The HTTP API port; default: a free one. */
  readonly httpPort?: number;
  /** The internal gRPC port (daprd to daprd); default: a free one. */
  readonly internalPort?: number;
  /**
   * The sqlite file of the actor state store (created when missing); default: the in-memory store. (Dapr's sqlite
   * store answers SQLITE_BUSY under a few hundred concurrent workflow starts on 2 cores: tests that need no restart
   * use memory.)
   */
  readonly db?: string;
  /** Use this Redis (`127.0.0.1:<port>`) as the actor state store instead of sqlite (replicas share it). */
  readonly redisAddress?: string;
  /** `DAPR_API_TOKEN` for daprd: calls without this token are refused. */
  readonly apiToken?: string;
  readonly logLevel?: "debug" | "info" | "warn";
  /**
   * Serve the Dapr API on Unix sockets in this directory instead of TCP (`--unix-domain-socket`): daprd creates
   * `dapr-<appId>-grpc.socket` and `dapr-<appId>-http.socket` there. Keep it short (socket paths are < 108 bytes).
   */
  readonly unixSocketDir?: string;
}

/** A running daprd with everything needed to start it again the same way. */
export interface Daprd {
  readonly process: ChildHandle;
  readonly appId: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly internalPort: number;
  readonly db: string | undefined;
  /** The gRPC API's Unix socket, when started with `unixSocketDir` (the TCP API ports are then unused). */
  readonly grpcSocket: string | undefined;
  readonly options: DaprdOptions;
}

let appCounter = 0;

/** Starts a daprd on the control plane and waits until its healthz answers 204 (components loaded, placement on). */
export async function startDaprd(options: DaprdOptions = {}, readyTimeoutMs = 60_000): Promise<Daprd> {
  const plane = await daprControlPlane();
  const binary = locateDaprdev();
  const dir = scratchDir("dt-daprd-");
  const appId = options.appId ?? `dt-e2e-${process.pid}-${++appCounter}`;
  const [grpcPort, httpPort, internalPort] = [
    options.grpcPort ?? (await freeLoopbackPort()),
    options.httpPort ?? (await freeLoopbackPort()),
    options.internalPort ?? (await freeLoopbackPort()),
  ];
  const db = options.redisAddress === undefined ? options.db : undefined;
  const resources = join(dir, "resources");
  mkdirSync(resources);
  writeFileSync(join(resources, "statestore.yaml"), stateStoreComponent(db, options.redisAddress));
  const proc = spawnLogged(
    binary,
    [
      "daprd",
      `--app-id=${appId}`,
      "--mode=standalone",
      `--dapr-grpc-port=${grpcPort}`,
      `--dapr-http-port=${httpPort}`,
      `--dapr-internal-grpc-port=${internalPort}`,
      "--dapr-listen-addresses=127.0.0.1",
      "--dapr-internal-grpc-listen-address=127.0.0.1",
      `--placement-host-address=${plane.placementAddress}`,
      `--scheduler-host-address=${plane.schedulerAddress}`,
      `--resources-path=${resources}`,
      "--enable-metrics=false",
      "--dapr-graceful-shutdown-seconds=2",
      `--log-level=${options.logLevel ?? "info"}`,
      ...(options.unixSocketDir === undefined ? [] : [`--unix-domain-socket=${options.unixSocketDir}`]),
    ],
    {
      env: {
        ...DAPRDEV_ENV,
        // The address daprd registers with placement: actor calls between daprds stay on loopback.
        DAPR_HOST_IP: "127.0.0.1",
        ...(options.apiToken === undefined ? {} : { DAPR_API_TOKEN: options.apiToken }),
      },
    },
  );
  const socket = (api: "grpc" | "http") =>
    options.unixSocketDir === undefined ? undefined : join(options.unixSocketDir, `dapr-${appId}-${api}.socket`);
  const grpcSocket = socket("grpc");
  const daprd: Daprd = { process: proc, appId, grpcPort, httpPort, internalPort, db, grpcSocket, options };
  try {
    await waitForHealthz(socket("http") ?? httpPort, proc, readyTimeoutMs);
  } catch (error) {
    await proc.kill();
    throw new Error(`daprd did not become ready: ${String(error)}\n--- daprd logs ---\n${proc.logs()}`);
  }
  return daprd;
}

/** Starts `previous` again (stopping it first if it still runs): same app id, ports and state store. */
export async function restartDaprd(previous: Daprd): Promise<Daprd> {
  await previous.process.stop();
  return startDaprd({
    ...previous.options,
    appId: previous.appId,
    grpcPort: previous.grpcPort,
    httpPort: previous.httpPort,
    internalPort: previous.internalPort,
    ...(previous.db === undefined ? {} : { db: previous.db }),
  });
}

function stateStoreComponent(db: string | undefined, redisAddress: string | undefined): string {
  const [type, metadata] =
    redisAddress !== undefined
      ? ["redis", [["redisHost", redisAddress]]]
      : db !== undefined
        ? [
            "sqlite",
            [
              ["connectionString", `file:${db}`],
              ["busyTimeout", "30s"],
            ],
          ]
        : ["in-memory", []];
  return [
    "apiVersion: dapr.io/v1alpha1",
    "kind: Component",
    "metadata:",
    "  name: actorstore",
    "spec:",
    `  type: state.${type}`,
    "  version: v1",
    "  metadata:",
    ...[...metadata, ["actorStateStore", "true"]].flatMap(([name, value]) => [
      `    - name: ${name}`,
      `      value: ${JSON.stringify(value)}`,
    ]),
    "",
  ].join("\n");
}

async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freeLoopbackPort());
  return [...ports];
}

async function until(what: string, child: ChildHandle, timeoutMs: number, probe: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  void child.exited.then((code) => {
    exited = code;
  });
  for (;;) {
    if (exited !== undefined) throw new Error(`exited early with code ${exited} before ${what}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function waitForPort(port: number, child: ChildHandle, timeoutMs: number): Promise<void> {
  const probe = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
  return until(`listener on port ${port}`, child, timeoutMs, probe);
}

/** Waits until daprd's /v1.0/healthz answers 204, on its HTTP port or (with `--unix-domain-socket`) its HTTP socket. */
function waitForHealthz(http: number | string, child: ChildHandle, timeoutMs: number): Promise<void> {
  const probe = () =>
    new Promise<boolean>((resolve) => {
      const where = typeof http === "number" ? { host: "127.0.0.1", port: http } : { socketPath: http };
      const req = request({ ...where, path: "/v1.0/healthz", timeout: 1_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 204);
      });
      req.once("timeout", () => req.destroy());
      req.once("error", () => resolve(false));
      req.end();
    });
  return until("healthy answer from /v1.0/healthz", child, timeoutMs, probe);
}

/** Path of redis-server: $DT_REDIS_SERVER, else PATH (Debian's redis-server package). */
export function locateRedis(
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean,
): string | undefined {
  const explicit = env["DT_REDIS_SERVER"];
  if (explicit !== undefined && explicit !== "") return explicit;
  for (const dir of [...(env["PATH"] ?? "").split(":"), "/usr/bin", "/usr/local/bin"]) {
    if (dir !== "" && exists(join(dir, "redis-server"))) return join(dir, "redis-server");
  }
  return undefined;
}

/** A Redis on a free loopback port, in memory only (no snapshots, no AOF), stopped by PID. */
export async function startRedis(binary: string): Promise<{ address: string; process: ChildHandle }> {
  const port = await freeLoopbackPort();
  const proc = spawnLogged(binary, [
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--save",
    "",
    "--appendonly",
    "no",
    "--protected-mode",
    "yes",
  ]);
  try {
    await waitForPort(port, proc, 30_000);
  } catch (error) {
    await proc.kill();
    throw new Error(`redis-server did not start: ${String(error)}\n${proc.logs()}`);
  }
  return { address: `127.0.0.1:${port}`, process: proc };
}
