// One stream of an H2Connection: its flow-control state and the handler its events go to.
import type { H2Connection } from "./connection.js";
import { CANCEL, type H2Error } from "./frames.js";

/** Receives one stream's events. Methods rather than closures: a call's state object can be its own handler. */
export interface StreamHandler {
  /** A header block: the response headers, then the trailers. `end` marks the last block of the response. */
  onHeaders(fields: string[], end: boolean): void;
  onData(data: Buffer): void;
  /** The stream is over; `error` unless the response ended normally. Called exactly once. */
  onClose(error: H2Error | undefined): void;
}

/** One request/response exchange on an H2Connection. */
export class H2Stream {
  id = 0;
  sendWindow = 0;
  /** Bytes received and not yet given back to the server: our receive window is the stream window minus this. */
  unacked = 0;
  paused = false;
  remoteEnded = false;
  /** A header block arrived: DATA may follow (before it, DATA is malformed, RFC 9113 §8.1). */
  responded = false;
  /** Request body not yet sent (flow control); the stream's request is complete once it is empty. */
  body: Buffer | undefined;

  constructor(
    readonly connection: H2Connection,
    readonly handler: StreamHandler,
    readonly headerBlock: Buffer,
    body: Buffer,
  ) {
    this.body = body;
  }

  /** Stops replenishing the stream's receive window; the server stops once it has used it. */
  pause(): void {
    this.paused = true;
  }

  /** Replenishes the window again, by what arrived while paused. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.connection.acknowledge(this);
  }

  /** Cancels the stream (RST_STREAM CANCEL); its handler is closed with a CANCEL error if it was still open. */
  cancel(): void {
    this.connection.reset(this, CANCEL);
  }
}
