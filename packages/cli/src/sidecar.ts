// `dt sidecar`: the embedded sidecar (@dt/sidecar) as a long-running process, on a SQLite file (default ./dt.sqlite)
// or in memory. Prints one readiness line on stdout once it accepts connections; SIGINT/SIGTERM close it gracefully.
import { parseArgs } from "node:util";
import type { Logger } from "@dt/core";
import { MemoryStore, type Sidecar, SqliteStore, type Store, startSidecar } from "@dt/sidecar";
import { type CliContext, type Command, EXIT_FAILURE, EXIT_OK, UsageError } from "./command.js";

export const DEFAULT_PORT = 4001;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_DB = "./dt.sqlite";
/** How long a graceful close may take before connections are dropped. */
export const CLOSE_GRACE_MS = 10_000;

export interface SidecarArgs {
  readonly help: boolean;
  readonly host: string;
  readonly port: number;
  /** `--socket`: a Unix socket path to listen on instead of host and port. */
  readonly socket: string | undefined;
  /** `{ kind: "sqlite", path }` or `{ kind: "memory" }`. */
  readonly store: { readonly kind: "sqlite"; readonly path: string } | { readonly kind: "memory" };
  readonly apiToken: string | undefined;
  readonly maxMessageBytes: number | undefined;
  readonly verbose: boolean;
}

export const SIDECAR_HELP = `Usage: dt sidecar [options]

Runs the embedded Durable Task sidecar (TaskHubSidecarService over gRPC) until SIGINT or SIGTERM.
Workers and clients connect to the address it prints:
  dt sidecar listening on 127.0.0.1:4001 (sqlite: ./dt.sqlite)
  dt sidecar listening on unix:/run/dt.sock (sqlite: ./dt.sqlite)     (with --socket /run/dt.sock)

Options:
  --port <n>                 TCP port, 0 for a free one (default ${DEFAULT_PORT})
  --host <addr>              interface to listen on (default ${DEFAULT_HOST}, loopback only)
  --socket <path>            listen on this Unix socket instead of TCP (a stale socket file is replaced,
                             nothing else is; removed on exit). Clients use the address unix:<path>
  --db <file>                keep state in this SQLite file, created when missing (default ${DEFAULT_DB})
  --memory                   keep state in memory instead (lost when the process ends)
  --api-token <token>        require this dapr-api-token on every call (default: $DAPR_API_TOKEN, if set)
  --max-message-bytes <n>    largest request accepted, in bytes (default 4194304)
  -v, --verbose              structured logs (JSON lines) on stderr, debug level included
  -h, --help                 show this help

Exit codes: 0 after a clean shutdown, 1 when it cannot start or fails, 2 on a usage error.`;

function integer(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag} must be between ${min} and ${max}, got ${raw}`);
  }
  return value;
}

/** Parses `dt sidecar` arguments (after the command name). Throws UsageError (or parseArgs' TypeError) when bad. */
export function parseSidecarArgs(args: readonly string[], env: NodeJS.ProcessEnv = {}): SidecarArgs {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      socket: { type: "string" },
      db: { type: "string" },
      memory: { type: "boolean" },
      "api-token": { type: "string" },
      "max-message-bytes": { type: "string" },
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
  });
  const port = values.port === undefined ? DEFAULT_PORT : integer("port", values.port, 0, 65_535);
  const host = values.host ?? DEFAULT_HOST;
  if (host.trim() === "") throw new UsageError("--host must not be empty");
  const socket = values.socket;
  if (socket === "") throw new UsageError("--socket must not be empty");
  if (socket !== undefined && (values.host !== undefined || values.port !== undefined)) {
    throw new UsageError("--socket excludes --host and --port (it listens on the socket only)");
  }
  if (values.memory === true && values.db !== undefined) throw new UsageError("--db and --memory exclude each other");
  if (values.db !== undefined && values.db === "") throw new UsageError("--db must not be empty");
  const store: SidecarArgs["store"] =
    values.memory === true ? { kind: "memory" } : { kind: "sqlite", path: values.db ?? DEFAULT_DB };
  if (values["api-token"] === "") throw new UsageError("--api-token must not be empty");
  const envToken = env["DAPR_API_TOKEN"];
  const apiToken = values["api-token"] ?? (envToken === undefined || envToken === "" ? undefined : envToken);
  const rawMax = values["max-message-bytes"];
  // Below 1 KiB not even a small work item fits; above 2 GiB is beyond what HTTP/2 frames carry sensibly.
  const maxMessageBytes = rawMax === undefined ? undefined : integer("max-message-bytes", rawMax, 1024, 2 ** 31 - 1);
  return {
    help: values.help === true,
    host,
    port,
    socket,
    store,
    apiToken,
    maxMessageBytes,
    verbose: values.verbose === true,
  };
}

/** Structured logs as JSON lines: `{"time","level","msg",...attributes}`. Debug and info only when verbose. */
export function jsonLogger(write: (line: string) => void, verbose: boolean): Logger {
  const line = (level: string) => (message: string, attributes?: Record<string, unknown>) => {
    let text: string;
    try {
      text = JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...attributes });
    } catch {
      text = JSON.stringify({ time: new Date().toISOString(), level, msg: message });
    }
    write(text);
  };
  const off = () => {};
  return {
    debug: verbose ? line("debug") : off,
    info: verbose ? line("info") : off,
    warn: line("warn"),
    error: line("error"),
  };
}

/** The readiness line, printed once the sidecar accepts connections. */
export function readinessLine(address: string, store: SidecarArgs["store"]): string {
  return `dt sidecar listening on ${address} (${store.kind === "memory" ? "memory" : `sqlite: ${store.path}`})`;
}

async function runSidecar(args: readonly string[], ctx: CliContext): Promise<number> {
  const options = parseSidecarArgs(args, ctx.env);
  if (options.help) {
    ctx.out(SIDECAR_HELP);
    return EXIT_OK;
  }
  if (ctx.signal.aborted) return EXIT_OK;
  const logger = jsonLogger(ctx.err, options.verbose);
  let store: Store;
  try {
    store = options.store.kind === "memory" ? new MemoryStore() : new SqliteStore(options.store.path);
  } catch (error) {
    ctx.err(
      `dt sidecar: cannot open ${options.store.kind === "sqlite" ? options.store.path : "the store"}: ${message(error)}`,
    );
    return EXIT_FAILURE;
  }
  let sidecar: Sidecar;
  try {
    sidecar = await startSidecar({
      ...(options.socket === undefined ? { host: options.host, port: options.port } : { socket: options.socket }),
      store,
      logger,
      ...(options.apiToken === undefined ? {} : { apiToken: options.apiToken }),
      ...(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
    });
  } catch (error) {
    store.close();
    const code = (error as { code?: unknown } | null)?.code;
    const where = options.socket ?? `${options.host}:${options.port}`;
    const reason =
      code === "EADDRINUSE"
        ? `${where} is already in use`
        : code === "EADDRNOTAVAIL"
          ? `cannot listen on ${options.host}: address not available`
          : code === "EACCES"
            ? `cannot listen on ${where}: permission denied`
            : message(error);
    ctx.err(`dt sidecar: cannot start: ${reason}`);
    return EXIT_FAILURE;
  }
  ctx.out(readinessLine(sidecar.address, options.store));
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  logger.info("shutting down", { reason: String(ctx.signal.reason ?? "stop") });
  // A client that keeps its connection open past the grace period is dropped.
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<"forced">((resolve) => {
    timer = setTimeout(() => resolve("forced"), CLOSE_GRACE_MS);
    timer.unref();
  });
  try {
    if ((await Promise.race([sidecar.close().then(() => "closed" as const), forced])) === "forced") {
      ctx.err(`dt sidecar: connections still open after ${CLOSE_GRACE_MS} ms, dropping them`);
      await sidecar.kill();
    }
  } catch (error) {
    ctx.err(`dt sidecar: error while closing: ${message(error)}`);
    return EXIT_FAILURE;
  } finally {
    clearTimeout(timer);
    store.close();
  }
  return EXIT_OK;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

export const sidecarCommand: Command = {
  name: "sidecar",
  summary: "run the embedded Durable Task sidecar (SQLite or in-memory) until SIGINT/SIGTERM",
  help: SIDECAR_HELP,
  run: runSidecar,
};
