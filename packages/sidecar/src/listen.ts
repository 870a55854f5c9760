// Where the sidecar listens: a TCP host and port, or a Unix socket. A socket file left behind by a sidecar that died
// (no close() ran) would make listen() fail with EADDRINUSE forever; it is replaced, but only when it is a socket that
// nothing answers on. Any other file at that path, or a live socket, is an error: nothing else is ever deleted. Node
// removes the socket file itself when the server closes.
import { lstat, unlink } from "node:fs/promises";
import { connect, type Server } from "node:net";

/** A listen failure with Node's error code, as `listen()` itself reports (e.g. `EADDRINUSE`). */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: "EADDRINUSE" | "ENOTSOCK",
  ) {
    super(message);
    this.name = "ListenError";
  }
}

/** How long a probe connection to an existing socket may take before the socket counts as answering. */
const PROBE_TIMEOUT_MS = 1_000;

/**
 * Makes `path` free for a new socket: nothing there, or a stale socket (removed). Throws ListenError when a file that
 * is not a socket is there (ENOTSOCK) or a process answers on the socket (EADDRINUSE). Abstract names (`"\0name"`) have
 * no file and are left to listen().
 */
export async function claimSocketPath(path: string): Promise<void> {
  if (path.startsWith("\0")) return;
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!isSocket) {
    throw new ListenError(`${path} exists and is not a socket; it is left alone (choose another path)`, "ENOTSOCK");
  }
  if (await answers(path)) {
    throw new ListenError(`${path} is in use: another process is listening on it`, "EADDRINUSE");
  }
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error; // removed meanwhile by someone else: free all the same
  });
}

/** Whether something accepts connections on the socket at `path` (a refused connection means no listener). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const done = (result: boolean | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    socket.once("connect", () => done(true));
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED" || error.code === "ENOENT") done(false);
      else done(error);
    });
  });
}

/** Listens on `target` (a Unix socket path, or a TCP port and host); resolves once listening. */
export function listen(server: Server, target: { path: string } | { port: number; host: string }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const listening = () => {
      server.off("error", reject);
      resolve();
    };
    if ("path" in target) server.listen(target.path, listening);
    else server.listen(target.port, target.host, listening);
  });
}
