// How the worker tells a live work-item stream from a refused, queued or silent one: when a stream counts as answered
// (what `waitForReady` waits for), which failures mean the connection went silent and must be replaced rather than
// reused, the HTTP/2 keepalive it turns on by default, and how the last failure is told to the user.
import { Code, ConnectError } from "@connectrpc/connect";
import { SidecarError } from "@dt/core";
import { grpcCodeName, type SidecarConnectionOptions } from "@dt/proto/transport";

/**
 * HTTP/2 keepalive the worker uses unless `keepalive` is set (the client keeps it off). A PING after 5 minutes without
 * a frame from the sidecar, the connection dropped when it is not answered within 20 s, and no PINGs without an open
 * call (the worker always has its work-item stream open). That is within both policies a worker meets: grpc-go's
 * default, which durabletask-go keeps (MinTime 5 min, PermitWithoutStream false: more frequent pings on a quiet
 * stream earn GOAWAY too_many_pings), and daprd's API server (MinTime 8 s, PermitWithoutStream true).
 */
export const WORKER_KEEPALIVE: NonNullable<SidecarConnectionOptions["keepalive"]> = {
  intervalMs: 300_000,
  timeoutMs: 20_000,
  permitWithoutCalls: false,
};

/** The Hello keepalive's default interval. */
export const HELLO_INTERVAL_MS = 30_000;

/**
 * The deadline of the worker's Hello calls (the one that opens each attempt, the one that probes a new stream and the
 * keepalive ones): the keepalive interval, kept within 1–10 s, so a short interval also finds a dead path quickly.
 */
export function helloTimeoutMs(intervalMs: number): number {
  return Math.min(10_000, Math.max(1_000, intervalMs));
}

/**
 * Whether `error` means the sidecar went silent: a call's deadline passed with no answer at all. On a black-holed
 * path the connection still looks open (nothing resets it), so it must be dropped, or every retry would reuse it.
 */
export function isSilence(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.DeadlineExceeded;
}

/**
 * Resolves once the sidecar has answered the work-item stream whose first item is `first`: with its response headers,
 * with its first item, or, for sidecars that send headers only along with the first item (grpc-go servers:
 * durabletask-go and daprd), by answering `probe` — a call sent after the stream on the same connection — while the
 * stream is still open. A refused stream (a trailers-only error such as PERMISSION_DENIED) has failed by then: its
 * answer precedes the probe's on the connection, and one macrotask after the probe's answer every earlier frame's
 * consequences have run. A stream queued behind the server's MAX_CONCURRENT_STREAMS never gets there: the probe waits
 * behind it and times out. Rejects with the stream's own error when it fails first, else with the probe's.
 */
export async function whenAnswered(
  first: Promise<IteratorResult<unknown>>,
  headers: Promise<unknown>,
  probe: () => Promise<unknown>,
): Promise<void> {
  let failure: { error: unknown } | undefined;
  let ended = false;
  const settled = first.then(
    (result) => {
      ended = result.done === true;
    },
    (error: unknown) => {
      failure = { error };
      throw error;
    },
  );
  // The probe must follow the stream on the wire. Ours sends the stream at once; connect's typed path (a transport
  // passed in) reaches the socket only after its async pipeline has run, so the probe waits a turn of the loop.
  const probed = nextTurn().then(probe).then(nextTurn);
  // Whichever loses the race is still settled later; its outcome is read through `failure` / `ended` or not at all.
  settled.catch(() => {});
  probed.catch(() => {});
  await Promise.race([settled, headers, probed]);
  if (failure !== undefined) throw failure.error;
  if (ended)
    throw new ConnectError("the sidecar ended the work-item stream without sending anything", Code.Unavailable);
}

/**
 * Sends `hello` every `intervalMs` after the previous one was answered (never two at once) until `signal` aborts;
 * calls `onFailure` once, with the first failure. Returns a function that stops it.
 */
export function helloKeepalive(
  hello: () => Promise<unknown>,
  intervalMs: number,
  signal: AbortSignal,
  onFailure: (error: unknown) => void,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const beat = () => {
    timer = setTimeout(() => {
      hello().then(
        () => {
          if (!signal.aborted) beat();
        },
        (error: unknown) => {
          if (!signal.aborted) onFailure(error);
        },
      );
    }, intervalMs);
  };
  beat();
  return () => clearTimeout(timer);
}

/**
 * Whether the worker is ready, who waits for it, and why its last attempt failed: what `waitForReady` resolves on,
 * or names when it gives up.
 */
export class Readiness {
  #ready = false;
  #waiters: (() => void)[] = [];
  #lastFailure: unknown;

  /** `where`: the sidecar as errors name it ("at localhost:4001"). */
  constructor(readonly where: string) {}

  get ready(): boolean {
    return this.#ready;
  }

  /** Ready (the stream was answered: the last failure is history) or not (waiters keep waiting). */
  set(ready: boolean): void {
    this.#ready = ready;
    if (!ready) return;
    this.#lastFailure = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Notes why an attempt failed. */
  failed(error: unknown): void {
    this.#lastFailure = error;
  }

  /** Resolves once ready; rejects after `timeoutMs` (naming the last failure) or with `signal`'s reason. */
  async wait(options: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    if (this.#ready) return;
    if (options.signal?.aborted === true) throw options.signal.reason;
    const { timeoutMs, signal } = options;
    await new Promise<void>((resolve, reject) => {
      // Every way out removes the waiter, its timer and its listener: a caller polling waitForReady leaks nothing.
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const waiter = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              done();
              reject(this.#notReady(timeoutMs));
            }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #notReady(timeoutMs: number): SidecarError {
    const within = `The worker did not connect to the sidecar ${this.where} within ${timeoutMs} ms`;
    if (this.#lastFailure === undefined) {
      return new SidecarError("SIDECAR_UNAVAILABLE", "UNAVAILABLE", `${within}. Is it running?`);
    }
    const { grpcCode, text } = describeFailure(this.#lastFailure);
    return new SidecarError("SIDECAR_UNAVAILABLE", grpcCode, `${within}. The last attempt failed with ${text}.`, {
      cause: this.#lastFailure,
    });
  }
}

/** Fixes for failures that usually have one, by gRPC code. */
const HINTS: Partial<Record<Code, string>> = {
  [Code.Unauthenticated]: "check the API token (apiToken, DAPR_API_TOKEN)",
  [Code.PermissionDenied]: "check the API token and the sidecar's access policy",
};

/** A failure as the worker reports it: its gRPC status name (`PERMISSION_DENIED`) and a line naming status and message. */
export function describeFailure(error: unknown): { readonly grpcCode: string; readonly text: string } {
  const ce = ConnectError.from(error);
  const grpcCode = grpcCodeName(ce.code);
  const hint = HINTS[ce.code];
  return { grpcCode, text: `${grpcCode}: ${ce.rawMessage}${hint === undefined ? "" : ` (${hint})`}` };
}

/** Resolves after the current turn of the event loop (its I/O included). */
function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
