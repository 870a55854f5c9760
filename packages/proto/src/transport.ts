// The one way worker, client and tests open a gRPC (HTTP/2) connection to a Durable Task sidecar.
import type { SecureClientSessionOptions } from "node:http2";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TaskHubSidecarService } from "./gen/orchestrator_service_pb.js";

/** The Durable Task default (durabletask-go, Dapr's `--dapr-grpc-port` in tests). */
export const DEFAULT_SIDECAR_ADDRESS = "localhost:4001";

export interface SidecarAddress {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** `http(s)://host:port`, the form connect expects. */
  readonly baseUrl: string;
}

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
   * `host:port`, `[v6]:port`, `grpc://`, `grpcs://`, `http://` or `https://` (a `?tls=true` query also selects TLS).
   * Default `localhost:4001`.
   */
  readonly address?: string;
  /** TLS on (system roots), off, or configured. Overrides the scheme. */
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
  readonly interceptors?: readonly Interceptor[];
}

const DEFAULT_PORTS: Record<string, number> = { grpc: 4001, grpcs: 443, http: 80, https: 443 };
const ADDRESS_FORMS =
  "host:port, [ipv6]:port, grpc://host:port, grpcs://host:port, http://host:port or https://host:port";

/** Parses a sidecar address. Throws a TypeError naming the accepted forms when it cannot. */
export function parseSidecarAddress(address: string): SidecarAddress {
  const trimmed = address.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme !== undefined && !(scheme in DEFAULT_PORTS)) {
    throw new TypeError(`Unsupported sidecar address scheme "${scheme}" in "${address}". Use ${ADDRESS_FORMS}.`);
  }
  let url: URL;
  try {
    url = new URL(scheme === undefined ? `grpc://${trimmed}` : trimmed);
  } catch {
    throw new TypeError(`Invalid sidecar address "${address}". Use ${ADDRESS_FORMS}.`);
  }
  if (url.hostname === "" || (url.pathname !== "" && url.pathname !== "/")) {
    throw new TypeError(`Invalid sidecar address "${address}". Use ${ADDRESS_FORMS}.`);
  }
  const kind = scheme ?? "grpc";
  const tlsParam = url.searchParams.get("tls")?.toLowerCase();
  const secure = kind === "grpcs" || kind === "https" || tlsParam === "true";
  const port = url.port === "" ? (DEFAULT_PORTS[kind] as number) : Number(url.port);
  const host = url.hostname;
  return { host, port, secure, baseUrl: `${secure ? "https" : "http"}://${host}:${port}` };
}

/** Opens a connect gRPC transport over HTTP/2. Connections are made lazily, on the first call. */
export function createSidecarTransport(options: SidecarConnectionOptions = {}): Transport {
  const parsed = parseSidecarAddress(options.address ?? DEFAULT_SIDECAR_ADDRESS);
  const secure = options.tls === undefined ? parsed.secure : options.tls !== false;
  const baseUrl = `${secure ? "https" : "http"}://${parsed.host}:${parsed.port}`;
  const interceptors = [...(options.interceptors ?? [])];
  if (options.metadata !== undefined && Object.keys(options.metadata).length > 0) {
    interceptors.unshift(metadataInterceptor(options.metadata));
  }
  const keepalive = options.keepalive;
  const transport = createGrpcTransport({
    baseUrl,
    interceptors,
    ...(secure && typeof options.tls === "object" ? { nodeOptions: tlsNodeOptions(options.tls) } : {}),
    ...(keepalive === undefined
      ? {}
      : {
          pingIntervalMs: keepalive.intervalMs,
          pingIdleConnection: keepalive.permitWithoutCalls ?? false,
          ...(keepalive.timeoutMs === undefined ? {} : { pingTimeoutMs: keepalive.timeoutMs }),
        }),
    ...(options.maxReceiveMessageBytes === undefined ? {} : { readMaxBytes: options.maxReceiveMessageBytes }),
    ...(options.maxSendMessageBytes === undefined ? {} : { writeMaxBytes: options.maxSendMessageBytes }),
  });
  const defaultTimeoutMs = options.defaultTimeoutMs;
  if (defaultTimeoutMs === undefined) return transport;
  // connect's own defaultTimeoutMs would also cut the long-lived GetWorkItems stream, so apply it to unary calls only.
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.unary(method, signal, timeoutMs ?? defaultTimeoutMs, header, input, contextValues),
    stream: transport.stream.bind(transport),
  };
}

export type SidecarClient = Client<typeof TaskHubSidecarService>;

/** A typed `TaskHubSidecarService` client on a new transport, or on one you already have. */
export function createSidecarClient(options: SidecarConnectionOptions | Transport = {}): SidecarClient {
  const transport = "unary" in options ? options : createSidecarTransport(options);
  return createClient(TaskHubSidecarService, transport);
}

function metadataInterceptor(metadata: Readonly<Record<string, string>>): Interceptor {
  const entries = Object.entries(metadata);
  return (next) => (req) => {
    for (const [key, value] of entries) {
      if (!req.header.has(key)) req.header.set(key, value);
    }
    return next(req);
  };
}

function tlsNodeOptions(tls: TlsOptions): SecureClientSessionOptions {
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
