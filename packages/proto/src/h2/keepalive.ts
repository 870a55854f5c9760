// The client side of gRPC keepalive (gRFC A8): PING only after `intervalMs` without reading anything from the server,
// and give up on the connection when nothing at all arrives within `timeoutMs` of a PING.

/** HTTP/2 keepalive settings (gRFC A8). */
export interface KeepaliveSettings {
  /** PING after this long without receiving anything on the connection. */
  readonly intervalMs: number;
  /** The connection is dropped when nothing arrives within this long after a PING. Default 20 s. */
  readonly timeoutMs?: number | undefined;
  /** Ping while no stream is open, too (gRPC's keepalive_permit_without_calls). Default false. */
  readonly permitWithoutCalls?: boolean | undefined;
}

/** What a Keepalive needs of its connection. */
export interface KeepaliveHost {
  /** Sends a PING unless there is no reason to (no stream open and `withoutCalls` false); true when it did. */
  keepalivePing(withoutCalls: boolean): boolean;
  /** Nothing arrived within `timeoutMs` of a PING: the connection is dead. */
  keepaliveFailed(timeoutMs: number): void;
}

const DEFAULT_TIMEOUT_MS = 20_000;

/** One connection's keepalive timer. `read()` on every chunk received; `stop()` when the connection ends. */
export class Keepalive {
  readonly #host: KeepaliveHost;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #withoutCalls: boolean;
  /** When the last bytes arrived (performance.now()). */
  #lastRead: number;
  /** When the PING we wait on was sent, or -1 when none is outstanding. */
  #pingAt = -1;
  #timer: NodeJS.Timeout | undefined;

  constructor(settings: KeepaliveSettings, host: KeepaliveHost) {
    this.#host = host;
    this.#intervalMs = Math.max(1, settings.intervalMs);
    this.#timeoutMs = Math.max(1, settings.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    this.#withoutCalls = settings.permitWithoutCalls === true;
    this.#lastRead = performance.now();
    this.#arm(this.#intervalMs);
  }

  /** Something arrived from the server: the connection is alive, and the next PING is due an interval from now. */
  read(): void {
    this.#lastRead = performance.now();
  }

  /** The server answered our PING. */
  acknowledged(): void {
    if (this.#pingAt < 0 || this.#timer === undefined) return;
    this.#pingAt = -1;
    this.#arm(this.#intervalMs);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #tick = (): void => {
    if (this.#timer === undefined) return;
    const now = performance.now();
    if (this.#pingAt >= 0) {
      // As grpc-go: anything read since the PING proves the connection alive, an ACK or not.
      if (this.#lastRead <= this.#pingAt) return this.#host.keepaliveFailed(this.#timeoutMs);
      this.#pingAt = -1;
    }
    const quiet = now - this.#lastRead;
    if (quiet < this.#intervalMs) return this.#arm(this.#intervalMs - quiet);
    if (!this.#host.keepalivePing(this.#withoutCalls)) return this.#arm(this.#intervalMs);
    this.#pingAt = now;
    this.#arm(this.#timeoutMs);
  };

  #arm(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#tick, Math.min(Math.ceil(ms), 0x7fffffff));
    this.#timer.unref();
  }
}

/** Calls `onIdle` once the connection has had no stream for `ms`; `idle()` when its last stream closes. */
export class IdleTimer {
  readonly #ms: number;
  readonly #busy: () => boolean;
  readonly #onIdle: () => void;
  /** When the last stream closed (performance.now()). */
  #since = performance.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number, busy: () => boolean, onIdle: () => void) {
    this.#ms = Math.max(1, ms);
    this.#busy = busy;
    this.#onIdle = onIdle;
    this.#arm(this.#ms);
  }

  /** The connection's last stream closed. */
  idle(): void {
    this.#since = performance.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #tick = (): void => {
    if (this.#timer === undefined) return;
    if (this.#busy()) return this.#arm(this.#ms);
    const quiet = performance.now() - this.#since;
    if (quiet < this.#ms) return this.#arm(this.#ms - quiet);
    this.#timer = undefined;
    this.#onIdle();
  };

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#tick, Math.min(Math.ceil(ms), 0x7fffffff));
    this.#timer.unref();
  }
}
