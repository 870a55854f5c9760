// The one way worker, client and tests open a gRPC (HTTP/2) connection to a Durable Task sidecar.
import type { ConnectionOptions } from "node:tls";
import { type Client, Code, createClient, type Transport } from "@connectrpc/connect";
import { parseSidecarAddress } from "./address.js";
import { TaskHubSidecarService } from "./gen/orchestrator_service_pb.js";
import { type ClosableTransport, createHttp2Transport, type Http2TransportOptions } from "./grpc-http2.js";
import { createNodeHttp2Transport as nodeHttp2Transport } from "./node-http2.js";
import { parseProxy, proxyFromEnv } from "./proxy.js";

export {
  ADDRESS_FORMS,
  formatSidecarAddress,
  parseSidecarAddress,
  type SidecarAddress,
  type TcpSidecarAddress,
  type UnixSidecarAddress,
  unixSocketAddress,
} from "./address.js";
export { daprdUpTo118, identifySidecar, type SidecarIdentity } from "./dapr-metadata.js";
export {
  EnvelopeReader,
  encodeEnvelope,
  encodeTimeout,
  grpcCodeName,
  isGrpcProtoContentType,
  MAX_TIMER_MS,
  parseTimeout,
  statusTrailers,
  trailerError,
} from "./grpc-codec.js";
export { type ByteStream, DEFAULT_MAX_RECEIVE_MESSAGE_BYTES, type KeepaliveOptions } from "./grpc-http2.js";
export { proxyFromEnv } from "./proxy.js";

/** The Durable Task default (durabletask-go, Dapr's `--dapr-grpc-port` in tests). */
export const DEFAULT_SIDECAR_ADDRESS = "localhost:4001";

export interface TlsOptions {
  /** PEM trust anchors; the system roots when absent. */
  readonly ca?: string | Uint8Array;
  /** PEM client certificate and key, for mutual TLS. */
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
  /** SNI and certificate host name, when it differs from the address host. */
  readonly serverName?: string;
}

export interface SidecarConnectionOptions {
  /**
   * `host:port`, `[v6]:port`, `grpc://`, `grpcs://`, `http://`, `https://` or `dns:` (a `?tls=true` query also
   * selects TLS), or a Unix socket: `unix:/path`, `unix:///path`, `unix:relative/path` or (Linux) `unix-abstract:name`.
   * Default `localhost:4001`.
   */
  readonly address?: string;
  /** TLS on (system roots), off, or configured. Overrides the scheme. Not with a Unix socket address. */
  readonly tls?: boolean | TlsOptions;
  /** Headers sent with every call, e.g. `{ "dapr-api-token": token }`. A call's own header wins. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Deadline for unary calls that set none. Streams (GetWorkItems) never get a default deadline. */
  readonly defaultTimeoutMs?: number;
  /** HTTP/2 PING keepalive. Off unless set. */
  readonly keepalive?: {
    readonly intervalMs: number;
    readonly timeoutMs?: number;
    /** Ping while no call is open, too (gRPC's keepalive_permit_without_calls). */
    readonly permitWithoutCalls?: boolean;
  };
  /** Largest message accepted from the sidecar, in bytes. */
  readonly maxReceiveMessageBytes?: number;
  /** Largest message sent to the sidecar, in bytes. */
  readonly maxSendMessageBytes?: number;
  /** Sent as `dapr-api-token` on every call. */
  readonly apiToken?: string;
  /** Retry unary calls that fail with a retryable code (streams are never retried here). Off unless set. */
  readonly retry?: RetryOptions;
  /** Time allowed to connect: TCP, TLS and the server's first SETTINGS. Default 20 s. */
  readonly connectTimeoutMs?: number;
  /** A connection without calls for this long is closed; the next call opens a new one. Off unless set. */
  readonly idleTimeoutMs?: number;
  /**
   * An HTTP proxy to tunnel through (CONNECT), `http://[user:password@]host:port`; `false` for none. By default the
   * first of `grpc_proxy`, `https_proxy`, `http_proxy` applies unless `no_grpc_proxy` / `no_proxy` lists the host;
   * loopback hosts and Unix sockets are always reached directly. Calls through a proxy run on node:http2.
   */
  readonly proxy?: string | false;
}

export interface RetryOptions {
  /** Attempts in all, the first included. Default 4. */
  readonly maxAttempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly backoffMultiplier?: number;
  /** Default: UNAVAILABLE, DEADLINE_EXCEEDED. */
  readonly retryableCodes?: readonly Code[];
}

/** A connect transport that can also be closed (ends its HTTP/2 connection; a later call opens a new one). */
export type SidecarTransport = ClosableTransport;

/**
 * Opens a gRPC transport over HTTP/2: our own HTTP/2 client, or node:http2 when a proxy is in the way. Connections are
 * made lazily, on the first call.
 */
export function createSidecarTransport(options: SidecarConnectionOptions = {}): SidecarTransport {
  const settings = transportSettings(options);
  return settings.proxy === undefined ? createHttp2Transport(settings) : nodeHttp2Transport(settings);
}

/**
 * The same gRPC transport on node:http2 instead of our HTTP/2 client: the escape hatch when ours misbehaves somewhere.
 * About 3× the CPU per call (BENCHMARKS.md).
 */
export function createNodeHttp2Transport(options: SidecarConnectionOptions = {}): SidecarTransport {
  return nodeHttp2Transport(transportSettings(options));
}

/** The transport settings `options` ask for, the proxy (if any) resolved. */
function transportSettings(options: SidecarConnectionOptions): Http2TransportOptions & { readonly proxy?: URL } {
  const parsed = parseSidecarAddress(options.address ?? DEFAULT_SIDECAR_ADDRESS);
  if (parsed.kind === "unix" && options.tls !== undefined && options.tls !== false) {
    throw new TypeError(
      `TLS cannot be used with the Unix socket address "${options.address}": drop the tls option (the socket's file permissions guard it).`,
    );
  }
  const secure = options.tls === undefined ? parsed.secure : options.tls !== false;
  const retry = options.retry;
  const proxy =
    parsed.kind === "unix" || options.proxy === false
      ? undefined
      : options.proxy === undefined
        ? proxyFromEnv(parsed.host, parsed.port)
        : parseProxy(options.proxy);
  return {
    ...(proxy === undefined ? {} : { proxy }),
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    ...(parsed.kind === "unix"
      ? { baseUrl: parsed.baseUrl, path: parsed.path }
      : { baseUrl: `${secure ? "https" : "http"}://${parsed.host}:${parsed.port}` }),
    headers: { ...options.metadata, ...(options.apiToken === undefined ? {} : { "dapr-api-token": options.apiToken }) },
    defaultTimeoutMs: options.defaultTimeoutMs,
    maxReceiveMessageBytes: options.maxReceiveMessageBytes,
    maxSendMessageBytes: options.maxSendMessageBytes,
    ...(secure && typeof options.tls === "object" ? { tls: tlsNodeOptions(options.tls) } : {}),
    ...(options.keepalive === undefined ? {} : { keepalive: options.keepalive }),
    ...(retry === undefined
      ? {}
      : {
          retry: {
            maxAttempts: Math.max(1, retry.maxAttempts ?? 4),
            initialBackoffMs: retry.initialBackoffMs ?? 100,
            maxBackoffMs: retry.maxBackoffMs ?? 1000,
            backoffMultiplier: retry.backoffMultiplier ?? 2,
            retryableCodes: new Set(retry.retryableCodes ?? [Code.Unavailable, Code.DeadlineExceeded]),
          },
        }),
  };
}

export type SidecarClient = Client<typeof TaskHubSidecarService>;

/** A typed `TaskHubSidecarService` client on a new transport, or on one you already have. */
export function createSidecarClient(options: SidecarConnectionOptions | Transport = {}): SidecarClient {
  const transport = "unary" in options ? options : createSidecarTransport(options);
  return createClient(TaskHubSidecarService, transport);
}

function tlsNodeOptions(tls: TlsOptions): ConnectionOptions {
  return {
    ...(tls.ca === undefined ? {} : { ca: pem(tls.ca) }),
    ...(tls.cert === undefined ? {} : { cert: pem(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: pem(tls.key) }),
    ...(tls.serverName === undefined ? {} : { servername: tls.serverName }),
  };
}

function pem(value: string | Uint8Array): string | Buffer {
  return typeof value === "string" ? value : Buffer.from(value);
}

/**
 * Connection options from the environment, as the Dapr SDKs read it. `overrides` win. Address order:
 * `DAPR_GRPC_ENDPOINT`; `DAPR_GRPC_HOST` (or `DAPR_RUNTIME_HOST`) with `DAPR_GRPC_PORT`; `DURABLETASK_GRPC_ENDPOINT`;
 * `localhost:4001`. Also `DAPR_API_TOKEN`, `DAPR_GRPC_KEEPALIVE_*` and `DAPR_GRPC_RETRY_*` (both off by default).
 */
export function connectionFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: SidecarConnectionOptions = {},
): SidecarConnectionOptions {
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const num = (name: string, fallback: number) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0)
      throw new TypeError(`${name} must be a non-negative number; got "${raw}".`);
    return value;
  };
  const flag = (name: string) => ["true", "1", "yes", "on"].includes(get(name)?.toLowerCase() ?? "");
  const host = get("DAPR_GRPC_HOST") ?? get("DAPR_RUNTIME_HOST");
  const port = get("DAPR_GRPC_PORT");
  const address =
    get("DAPR_GRPC_ENDPOINT") ??
    (host !== undefined || port !== undefined
      ? `${host ?? "localhost"}:${port ?? "4001"}`
      : (get("DURABLETASK_GRPC_ENDPOINT") ?? DEFAULT_SIDECAR_ADDRESS));
  const fromEnv: {
    address: string;
    apiToken?: string;
    keepalive?: NonNullable<SidecarConnectionOptions["keepalive"]>;
    retry?: RetryOptions;
  } = { address };
  const token = get("DAPR_API_TOKEN");
  if (token !== undefined) fromEnv.apiToken = token;
  if (flag("DAPR_GRPC_KEEPALIVE_ENABLED")) {
    fromEnv.keepalive = {
      intervalMs: num("DAPR_GRPC_KEEPALIVE_TIME_MS", 120_000),
      timeoutMs: num("DAPR_GRPC_KEEPALIVE_TIMEOUT_MS", 20_000),
      permitWithoutCalls: flag("DAPR_GRPC_KEEPALIVE_PERMIT_WITHOUT_CALLS"),
    };
  }
  if (flag("DAPR_GRPC_RETRY_ENABLED")) {
    fromEnv.retry = {
      maxAttempts: num("DAPR_GRPC_RETRY_MAX_ATTEMPTS", 4),
      initialBackoffMs: num("DAPR_GRPC_RETRY_INITIAL_BACKOFF_MS", 100),
      maxBackoffMs: num("DAPR_GRPC_RETRY_MAX_BACKOFF_MS", 1000),
      backoffMultiplier: num("DAPR_GRPC_RETRY_BACKOFF_MULTIPLIER", 2),
      retryableCodes: (get("DAPR_GRPC_RETRY_CODES") ?? "UNAVAILABLE,DEADLINE_EXCEEDED").split(",").map(parseCode),
    };
  }
  return { ...fromEnv, ...overrides };
}

function parseCode(name: string): Code {
  const key = name
    .trim()
    .toLowerCase()
    .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
    .replace(/^[a-z]/, (c) => c.toUpperCase());
  const code = (Code as unknown as Record<string, Code | undefined>)[key];
  if (code === undefined) throw new TypeError(`Unknown gRPC status code "${name}" in DAPR_GRPC_RETRY_CODES.`);
  return code;
}
