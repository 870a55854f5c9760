// Opening an HTTP/2 client's socket (TCP or a Unix socket, plain or TLS with ALPN h2), timing the way to an open
// connection, and naming what went wrong on the way.
import * as net from "node:net";
import * as tls from "node:tls";
import { H2Error, NO_ERROR, PROTOCOL_ERROR } from "./frames.js";

/** Where to connect: `host` and `port`, or `path` (a Unix socket; on Linux "\0name" is an abstract one). */
export type DialTarget =
  | { readonly host: string; readonly port: number; readonly path?: undefined }
  | { readonly path: string; readonly host?: undefined; readonly port?: undefined };

/** How errors name a target: "127.0.0.1:4001", "[::1]:4001", "unix:/run/dapr.sock", "unix-abstract:name". */
export function describeTarget(target: DialTarget): string {
  if (target.path !== undefined) {
    return target.path.startsWith("\0") ? `unix-abstract:${target.path.slice(1)}` : `unix:${target.path}`;
  }
  return net.isIPv6(target.host) ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/** Starts connecting; TLS (ALPN h2, SNI from a host name) when `tlsOptions` is set. */
export function dial(target: DialTarget, tlsOptions: tls.ConnectionOptions | undefined): net.Socket {
  const where = target.path === undefined ? { host: target.host, port: target.port } : { path: target.path };
  if (tlsOptions === undefined) return net.connect({ ...where, noDelay: true });
  const host = target.host;
  const servername = tlsOptions.servername ?? (host !== undefined && net.isIP(host) === 0 ? host : undefined);
  const socket = tls.connect({
    ...tlsOptions,
    ...where,
    ALPNProtocols: ["h2"],
    ...(servername === undefined ? {} : { servername }),
  });
  socket.setNoDelay(true);
  return socket;
}

const NO_H2 = "the server did not negotiate HTTP/2 (ALPN h2)";

// The way to an open connection, in order; a connect timeout names the phase that hung.
const CONNECTING = 0;
const HANDSHAKE = 1;
const AWAIT_SETTINGS = 2;
const OPEN = 3;
const HUNG = [
  "the connection was not established",
  "the TLS handshake did not complete",
  "the server sent no HTTP/2 SETTINGS (is this its gRPC port?)",
];
const MAX_TIMER_MS = 0x7fffffff;

/**
 * Follows a connection from connect to the server's first SETTINGS: fails it (`fail`) when that takes longer than
 * `timeoutMs` (0: no limit), or when TLS negotiates something other than h2. Without a socket, the connection is
 * already connected and only waits for SETTINGS.
 */
export class ConnectWatch {
  #phase: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    target: string,
    socket: net.Socket | undefined,
    secure: boolean,
    timeoutMs: number,
    fail: (error: H2Error) => void,
  ) {
    this.#phase = socket === undefined ? AWAIT_SETTINGS : CONNECTING;
    socket?.once("connect", () => {
      if (this.#phase === CONNECTING) this.#phase = secure ? HANDSHAKE : AWAIT_SETTINGS;
    });
    socket?.once("secureConnect", () => {
      if (this.#phase < AWAIT_SETTINGS) this.#phase = AWAIT_SETTINGS;
      if ((socket as tls.TLSSocket).alpnProtocol !== "h2") fail(new H2Error(NO_H2, PROTOCOL_ERROR));
    });
    const ms = Math.min(timeoutMs, MAX_TIMER_MS);
    if (ms > 0) {
      this.#timer = setTimeout(() => {
        const what = HUNG[this.#phase] ?? "the connection did not open";
        fail(new H2Error(`could not connect to ${target}: ${what} within ${ms} ms`, NO_ERROR));
      }, ms);
      this.#timer.unref();
    }
  }

  /** The server's first SETTINGS arrived. */
  opened(): void {
    this.#phase = OPEN;
    this.stop();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  /** The error for a socket that closed (no error of its own). */
  closed(): H2Error {
    return new H2Error(
      this.#phase === OPEN
        ? "the connection closed"
        : "the connection closed before the server spoke HTTP/2: does it need TLS (grpcs://), or is this not its gRPC port?",
      NO_ERROR,
    );
  }
}

/** The error for a socket error: the common TLS mistakes named. */
export function socketFailure(error: Error): H2Error {
  // A server without h2 may refuse the handshake itself rather than negotiate no protocol.
  if (/no application protocol/i.test(error.message))
    return new H2Error(`${NO_H2}: ${error.message}`, PROTOCOL_ERROR, false, { cause: error });
  if (/wrong version number/i.test(error.message)) {
    const hint = "the server does not speak TLS here: use a plaintext address (host:port, grpc://) or its TLS port";
    return new H2Error(`${hint} (${error.message.trim()})`, PROTOCOL_ERROR, false, { cause: error });
  }
  // An abstract Unix socket's name starts with NUL; "@" is how tools show it.
  return new H2Error(error.message.replaceAll("\0", "@"), NO_ERROR, false, { cause: error });
}
