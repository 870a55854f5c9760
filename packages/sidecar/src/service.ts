// TaskHubSidecarService over gRPC on node:http2 (plaintext h2c or TLS), so grpc-js, grpcio, Go and connect clients
// all speak to it. Every RPC of the dapr proto is served; the work is done by the Backend. gRPC calls (binary,
// uncompressed: what every SDK sends) are served by the lean path in fast-path.ts; everything else (gRPC-web, the
// Connect protocol, compressed or JSON messages) by connect's node adapter, over the same handlers.
import { timingSafeEqual } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type Logger, silentLogger } from "@dt/core";
import { type GetWorkItemsRequest, TaskHubSidecarService } from "@dt/proto";
import { formatSidecarAddress, unixSocketAddress } from "@dt/proto/transport";
import { Backend, describeError, storeFailure } from "./backend.js";
import { createFastPath, type UnaryHandlers } from "./fast-path.js";
import { claimSocketPath, listen } from "./listen.js";
import { MemoryStore } from "./memory-store.js";
import type { Store } from "./store.js";

export interface TlsOptions {
  /** PEM certificate chain and private key of the server. */
  readonly cert: string | Uint8Array;
  readonly key: string | Uint8Array;
  /** PEM CA to verify client certificates with; with it, clients must present one (mutual TLS). */
  readonly ca?: string | Uint8Array;
}

export interface SidecarOptions {
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  readonly host?: string;
  /** TCP port; 0 (the default) picks a free one. */
  readonly port?: number;
  /**
   * Listen on this Unix socket instead of TCP (`host` and `port` are then not used); on Linux `"\0name"` is a name in
   * the abstract namespace. A socket file left by a sidecar that died is replaced when nothing answers on it; any other
   * file there, or a live socket, fails the start (`code` ENOTSOCK or EADDRINUSE). The file is removed on close.
   * Clients connect to `unix:<path>` (`sidecar.address`).
   */
  readonly socket?: string;
  /** Where state lives. Default: a new MemoryStore. A store you pass stays open when the sidecar closes. */
  readonly store?: Store;
  /** When set, every call must carry this value in the `dapr-api-token` header (as daprd with DAPR_API_TOKEN). */
  readonly apiToken?: string;
  readonly tls?: TlsOptions;
  /**
   * Largest message accepted, in bytes (default 4 MiB, gRPC's usual limit). Bigger requests fail with
   * RESOURCE_EXHAUSTED before anything is stored; a workflow whose next work item would exceed 95% of it stalls
   * (PAYLOAD_SIZE_EXCEEDED) instead of being sent.
   */
  readonly maxMessageBytes?: number;
  /** Structured logs (silent by default). */
  readonly logger?: Logger;
  /** StartInstance returns once the first turn ran (Dapr and durabletask-go do). Default true. */
  readonly waitForStart?: boolean;
}

export interface Sidecar {
  /**
   * As clients and workers take it: `host:port` (`127.0.0.1:50123`), or `unix:<path>` (`unix-abstract:<name>`) on a
   * socket.
   */
  readonly address: string;
  /** The TCP interface; `localhost` (the authority clients send) on a socket. */
  readonly host: string;
  /** The TCP port; 0 on a socket. */
  readonly port: number;
  /** The Unix socket it listens on (`"\0name"`: abstract), or undefined on TCP. */
  readonly socket: string | undefined;
  readonly store: Store;
  /** Stops listening, ends streams and long polls, and waits for connections to close. Idempotent. */
  close(): Promise<void>;
  /** Drops every connection at once, without a graceful goodbye (for crash tests). */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Starts a sidecar and resolves once it accepts connections. */
export async function startSidecar(options: SidecarOptions = {}): Promise<Sidecar> {
  const socket = options.socket;
  // Checked before anything starts: a path too long for the platform, or an abstract name off Linux, is a TypeError.
  const socketAddress = socket === undefined ? undefined : unixSocketAddress(socket);
  if (socket !== undefined && options.tls !== undefined) {
    throw new TypeError(
      "startSidecar: `socket` and `tls` exclude each other (clients do not speak TLS over a Unix socket).",
    );
  }
  const host = socket === undefined ? (options.host ?? "127.0.0.1") : "localhost";
  const logger = options.logger ?? silentLogger;
  const ownStore = options.store === undefined;
  const store = options.store ?? new MemoryStore();
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const backend = new Backend({
    store,
    logger,
    ...(options.waitForStart === undefined ? {} : { waitForStart: options.waitForStart }),
    maxWorkItemBytes: Math.floor(maxMessageBytes * 0.95),
  });
  const shutdown = new AbortController();
  const handlers = unaryHandlers(backend);
  const handler = connectNodeAdapter({
    routes: routes(backend, handlers),
    readMaxBytes: maxMessageBytes,
    shutdownSignal: shutdown.signal,
    ...(options.apiToken === undefined ? {} : { requestGate: tokenGate(options.apiToken) }),
    interceptors: [
      (next) => async (req) => {
        let res: Awaited<ReturnType<typeof next>>;
        try {
          res = await next(req);
        } catch (error) {
          logger.debug("call failed", { method: req.method.name, error: describeError(error) });
          // An error can rest on what the call read, too (ALREADY_EXISTS, NOT_FOUND): answered once that is durable.
          await backend.whenDurable()?.catch(() => {});
          throw error;
        }
        // Nothing is acknowledged before it is durable (group commit, see sqlite-store.ts). A streamed response
        // (GetWorkItems) hands out work, which needs no wait.
        if (!res.stream) await durable(backend);
        return res;
      },
    ],
  });
  const server =
    options.tls === undefined
      ? http2.createServer(handler)
      : http2.createSecureServer(
          {
            cert: pem(options.tls.cert),
            key: pem(options.tls.key),
            ...(options.tls.ca === undefined
              ? {}
              : { ca: pem(options.tls.ca), requestCert: true, rejectUnauthorized: true }),
            allowHTTP1: false,
          },
          handler,
        );
  // The hot RPCs skip connect (see fast-path.ts). Node's compat layer (which feeds `handler`) is itself a 'stream'
  // listener; it is taken off and only called for the streams the fast path leaves alone.
  const fastPath = createFastPath({
    backend,
    handlers,
    maxMessageBytes,
    apiToken: options.apiToken,
    shutdown: shutdown.signal,
    logger,
  });
  const compat = server.listeners("stream") as ((...args: unknown[]) => void)[];
  if (compat.length === 0) {
    throw new Error(
      "This Node.js version wires its HTTP/2 compatibility layer differently; @dt/sidecar needs an update.",
    );
  }
  server.removeAllListeners("stream");
  server.on("stream", (stream, headers, ...rest) => {
    if (fastPath(stream, headers)) return;
    for (const listener of compat) listener.call(server, stream, headers, ...rest);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  try {
    if (socket === undefined) await listen(server, { port: options.port ?? 0, host });
    else {
      await claimSocketPath(socket);
      await listen(server, { path: socket });
    }
  } catch (error) {
    backend.close();
    if (ownStore) store.close();
    throw error;
  }
  server.on("error", (error) => logger.error("server error", { error: String(error) }));
  const port = socket === undefined ? (server.address() as AddressInfo).port : 0;
  const address =
    socketAddress === undefined
      ? `${host.includes(":") ? `[${host}]` : host}:${port}`
      : formatSidecarAddress(socketAddress);
  logger.info("sidecar listening", { address, tls: options.tls !== undefined, auth: options.apiToken !== undefined });

  let closed: Promise<void> | undefined;
  const stop = (graceful: boolean) => {
    closed ??= (async () => {
      backend.close();
      shutdown.abort(new ConnectError("The sidecar is shutting down.", Code.Unavailable));
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) {
        if (graceful) session.close();
        else session.destroy();
      }
      const grace = setTimeout(() => {
        for (const session of sessions) session.destroy();
      }, 2_000);
      await serverClosed;
      clearTimeout(grace);
      if (ownStore) store.close();
      logger.info("sidecar stopped", { address });
    })();
    return closed;
  };
  return {
    address,
    host,
    port,
    socket,
    store,
    close: () => stop(true),
    kill: () => stop(false),
    [Symbol.asyncDispose]: () => stop(true),
  };
}

/** Waits until the backend's changes are durable; a failed commit fails the call (INTERNAL). */
async function durable(backend: Backend): Promise<void> {
  try {
    await backend.whenDurable();
  } catch (error) {
    throw storeFailure(error);
  }
}

const pem = (value: string | Uint8Array) => (typeof value === "string" ? value : Buffer.from(value));

/** The API token check, before the request body is read (daprd's `dapr-api-token`). */
function tokenGate(token: string): (ctx: HandlerContext) => void {
  const expected = Buffer.from(token, "utf8");
  return (ctx) => {
    const given = Buffer.from(ctx.requestHeader.get("dapr-api-token") ?? "", "utf8");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ConnectError("missing or invalid dapr-api-token metadata", Code.Unauthenticated);
    }
  };
}

/** Every unary RPC, once: the fast path serves them, and connect's routes wrap the same functions. */
function unaryHandlers(backend: Backend): UnaryHandlers {
  return {
    hello: () => ({}),
    startInstance: (req, signal) => backend.startInstance(req, signal),
    getInstance: (req) => backend.getInstance(req),
    waitForInstanceStart: (req, signal) => backend.waitForInstanceStart(req, signal),
    waitForInstanceCompletion: (req, signal) => backend.waitForInstanceCompletion(req, signal),
    raiseEvent: (req) => {
      backend.raiseEvent(req);
      return {};
    },
    terminateInstance: async (req, signal) => {
      await backend.terminateInstance(req, signal);
      return {};
    },
    suspendInstance: async (req, signal) => {
      await backend.suspendInstance(req, signal);
      return {};
    },
    resumeInstance: async (req, signal) => {
      await backend.resumeInstance(req, signal);
      return {};
    },
    purgeInstances: (req) => backend.purgeInstances(req),
    completeActivityTask: (req) => {
      backend.completeActivityTask(req);
      return {};
    },
    completeWorkflowTask: (req) => {
      backend.completeWorkflowTask(req);
      return {};
    },
    completeOrchestratorTask: (req) => {
      backend.completeWorkflowTask(req);
      return {};
    },
    rerunWorkflowFromEvent: (req, signal) => backend.rerunWorkflowFromEvent(req, signal),
    listInstanceIDs: (req) => backend.listInstanceIDs(req),
    getInstanceHistory: (req) => backend.getInstanceHistory(req),
  };
}

function routes(backend: Backend, handlers: UnaryHandlers): (router: ConnectRouter) => void {
  const impl: Record<string, unknown> = {
    getWorkItems: (req: GetWorkItemsRequest, ctx: HandlerContext) => backend.workItems(req.capabilities, ctx.signal),
  };
  for (const [name, handle] of Object.entries(handlers) as [string, (req: unknown, signal: AbortSignal) => unknown][]) {
    impl[name] = (req: unknown, ctx: HandlerContext) => handle(req, ctx.signal);
  }
  return (router) => router.service(TaskHubSidecarService, impl as Partial<ServiceImpl<typeof TaskHubSidecarService>>);
}
