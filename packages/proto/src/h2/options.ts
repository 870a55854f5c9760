// The options of an H2Connection: where it connects, and how it behaves.
import type { Duplex } from "node:stream";
import type * as tls from "node:tls";
import type { DialTarget } from "./dial.js";
import type { KeepaliveSettings } from "./keepalive.js";

/** How an H2Connection behaves, besides where it connects. */
export interface H2ConnectionSettings {
  /** TLS (ALPN h2) when set; over a Unix socket too. */
  readonly tls?: tls.ConnectionOptions | undefined;
  /** gRFC A8 keepalive: PING after `intervalMs` without receiving anything; drop the connection when none answers. */
  readonly keepalive?: KeepaliveSettings | undefined;
  /**
   * The most the connect, the TLS handshake and the server's first SETTINGS may take together, in ms; the connection
   * is destroyed with an error naming the target and the phase that hung. Default 20 000; 0 turns it off.
   */
  readonly connectTimeoutMs?: number | undefined;
  /** A connection without streams for this long is closed gracefully (GOAWAY NO_ERROR). Off unless set. */
  readonly idleTimeoutMs?: number | undefined;
  /** Told of each GOAWAY the server sends (its error code and debug data), e.g. to back off from "too_many_pings". */
  readonly onGoaway?: ((code: number, debug: string) => void) | undefined;
  /** @internal An already connected duplex to speak over instead of dialing the target (tests). */
  readonly socket?: Duplex | undefined;
  /** @internal The first stream id (odd), so that tests reach the end of the stream ids. Default 1. */
  readonly firstStreamId?: number | undefined;
}

/** Where an H2Connection connects (`host` and `port`, or a Unix socket `path`), and how it behaves. */
export type H2ConnectionOptions = DialTarget & H2ConnectionSettings;
