// Connection options the way @dapr/dapr takes them (daprHost, daprPort, daprApiToken, DAPR_* variables), turned
// into the transport options @dt/worker and @dt/client use.
import type { ClientOptions } from "@dt/client";
import type { DataConverter, Logger } from "@dt/core";
import { connectionFromEnv, type SidecarConnectionOptions } from "@dt/proto/transport";

/** connect-es's `Transport` (typed through @dt/client, which depends on connect). */
type Transport = NonNullable<ClientOptions["transport"]>;

/** @dapr/dapr's `LoggerOptions` shape: a level (its `LogLevel`: 0 error … 4 debug) and an optional service. */
export interface DaprLoggerOptions {
  readonly level?: number;
  readonly service?: unknown;
}

/**
 * The options of `new DaprWorkflowClient(...)` and `new WorkflowRuntime(...)`: @dapr/dapr's `WorkflowClientOptions`
 * plus every @dt connection option. Precedence for the address: `address`, then `daprHost`/`daprPort` (either one
 * set; the other defaults to 127.0.0.1 / `DAPR_GRPC_PORT` / 50001, as in @dapr/dapr), then the environment
 * (`DAPR_GRPC_ENDPOINT`, `DAPR_GRPC_HOST`/`DAPR_RUNTIME_HOST` + `DAPR_GRPC_PORT`, `DURABLETASK_GRPC_ENDPOINT`), then
 * Dapr's default `127.0.0.1:50001`. TLS follows the address scheme (`https://`, `grpcs://`).
 */
export interface WorkflowClientOptions extends SidecarConnectionOptions {
  /** Host of the Dapr sidecar. Default 127.0.0.1. */
  readonly daprHost?: string;
  /** gRPC port of the Dapr sidecar. Default `DAPR_GRPC_PORT`, else 50001. */
  readonly daprPort?: string | number;
  /** Sent as `dapr-api-token`. Default `DAPR_API_TOKEN`. */
  readonly daprApiToken?: string;
  /** A @dt/core `Logger`, or @dapr/dapr's `{ level }` (then messages at or above it go to the console). */
  readonly logger?: Logger | DaprLoggerOptions;
  /**
   * grpc-js channel options, as @dapr/dapr takes them. Read: `grpc.max_receive_message_length`,
   * `grpc.max_send_message_length`, `grpc.keepalive_time_ms`, `grpc.keepalive_timeout_ms`,
   * `grpc.keepalive_permit_without_calls`; the rest are ignored (there is no grpc-js channel underneath).
   */
  readonly grpcOptions?: Readonly<Record<string, unknown>>;
  /** Read DAPR_* / DURABLETASK_* variables. Default true. */
  readonly useEnvironment?: boolean;
  /** How payloads are serialized. Default: JSON, as @dapr/dapr. */
  readonly converter?: DataConverter;
  /**
   * A connect-es `Transport` to reach the sidecar through (e.g. connect-node's `createGrpcTransport`) instead of the one
   * opened from the options above: they and the `DAPR_*` variables are then not read (`address` is only named in
   * errors). It is never closed for you. See `transport` in @dt/worker and @dt/client.
   */
  readonly transport?: Transport;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Dapr's defaults (`Settings` in @dapr/dapr): the sidecar listens on 127.0.0.1:50001 for gRPC. */
export const DEFAULT_DAPR_HOST = "127.0.0.1";
export const DEFAULT_DAPR_GRPC_PORT = "50001";

const ADDRESS_VARIABLES = [
  "DAPR_GRPC_ENDPOINT",
  "DAPR_GRPC_HOST",
  "DAPR_RUNTIME_HOST",
  "DAPR_GRPC_PORT",
  "DURABLETASK_GRPC_ENDPOINT",
];

/**
 * What @dt/worker and @dt/client are given to connect: the `transport` passed in (with `address`, for messages), or
 * the complete connection settings (`resolveConnection`).
 */
export function resolveTransport(
  options: WorkflowClientOptions,
  env: Env = process.env,
): SidecarConnectionOptions & { readonly transport?: Transport } {
  if (options.transport === undefined) return resolveConnection(options, env);
  return { transport: options.transport, ...(options.address === undefined ? {} : { address: options.address }) };
}

/** The complete connection settings for the transport (which is then told not to read the environment itself). */
export function resolveConnection(options: WorkflowClientOptions, env: Env = process.env): SidecarConnectionOptions {
  const useEnv = options.useEnvironment !== false;
  const get = (name: string) => {
    const value = useEnv ? env[name]?.trim() : undefined;
    return value === undefined || value === "" ? undefined : value;
  };
  const fromEnv = useEnv ? connectionFromEnv(env) : {};
  const { daprHost, daprPort, daprApiToken, grpcOptions } = options;
  let address: string;
  if (options.address !== undefined) address = options.address;
  else if (nonEmpty(daprHost) || nonEmpty(String(daprPort ?? ""))) {
    const host = nonEmpty(daprHost) ? daprHost : DEFAULT_DAPR_HOST;
    const port = nonEmpty(String(daprPort ?? ""))
      ? String(daprPort)
      : (get("DAPR_GRPC_PORT") ?? DEFAULT_DAPR_GRPC_PORT);
    address = `${host.replace(/\/$/, "")}:${port}`;
  } else if (ADDRESS_VARIABLES.some((name) => get(name) !== undefined) && fromEnv.address !== undefined) {
    address = fromEnv.address;
  } else address = `${DEFAULT_DAPR_HOST}:${DEFAULT_DAPR_GRPC_PORT}`;
  const apiToken = options.apiToken ?? (nonEmpty(daprApiToken) ? daprApiToken : fromEnv.apiToken);
  const fromGrpc = grpcChannelOptions(grpcOptions);
  const connection: SidecarConnectionOptions = {
    ...fromEnv,
    ...fromGrpc,
    ...withoutDaprOptions(options),
    address,
    ...(apiToken === undefined ? {} : { apiToken }),
  };
  return connection;
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== "";
}

/** The transport options in `options`, without the Dapr-only and non-connection ones. */
function withoutDaprOptions(options: WorkflowClientOptions): SidecarConnectionOptions {
  const {
    daprHost: _host,
    daprPort: _port,
    daprApiToken: _token,
    logger: _logger,
    grpcOptions: _grpc,
    useEnvironment: _env,
    converter: _converter,
    transport: _transport,
    ...rest
  } = options as WorkflowClientOptions & Record<string, unknown>;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as SidecarConnectionOptions;
}

/** The grpc-js channel options that have an equivalent on our transport. */
export function grpcChannelOptions(grpc: Readonly<Record<string, unknown>> | undefined): SidecarConnectionOptions {
  if (grpc === undefined) return {};
  const num = (key: string) => {
    const value = grpc[key];
    return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
  };
  const receive = num("grpc.max_receive_message_length");
  const send = num("grpc.max_send_message_length");
  const keepaliveTime = num("grpc.keepalive_time_ms");
  const keepaliveTimeout = num("grpc.keepalive_timeout_ms");
  const permit = grpc["grpc.keepalive_permit_without_calls"];
  return {
    ...(receive === undefined ? {} : { maxReceiveMessageBytes: receive }),
    ...(send === undefined ? {} : { maxSendMessageBytes: send }),
    ...(keepaliveTime === undefined
      ? {}
      : {
          keepalive: {
            intervalMs: keepaliveTime,
            ...(keepaliveTimeout === undefined ? {} : { timeoutMs: keepaliveTimeout }),
            permitWithoutCalls: permit === 1 || permit === true,
          },
        }),
  };
}

const LEVELS = ["error", "warn", "info", "debug", "debug"] as const;

/** A @dt Logger from the `logger` option: used as it is, or a console logger for @dapr/dapr's `{ level }`. */
export function toLogger(logger: Logger | DaprLoggerOptions | undefined): Logger | undefined {
  if (logger === undefined) return undefined;
  if (isLogger(logger)) return logger;
  const level = typeof logger.level === "number" ? Math.max(0, Math.min(4, Math.trunc(logger.level))) : 2;
  const enabled = new Set(LEVELS.slice(0, level + 1));
  const prefix = typeof logger.service === "string" ? `[${logger.service}] ` : "";
  const write =
    (name: (typeof LEVELS)[number]) =>
    (message: string, attributes?: Record<string, unknown>): void => {
      if (!enabled.has(name)) return;
      const line = `${prefix}${message}${attributes === undefined ? "" : ` ${JSON.stringify(attributes)}`}`;
      console[name](line);
    };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

function isLogger(value: object): value is Logger {
  const candidate = value as Partial<Record<keyof Logger, unknown>>;
  return ["debug", "info", "warn", "error"].every((name) => typeof candidate[name as keyof Logger] === "function");
}
