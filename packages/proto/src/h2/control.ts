// Control frames: the SETTINGS we send first, the server's SETTINGS, and the bounded queue of our answers to the
// server's PING and SETTINGS frames.
import {
  ACK,
  ENHANCE_YOUR_CALM,
  FLOW_CONTROL_ERROR,
  FRAME_SIZE_ERROR,
  frameHeader,
  H2Error,
  PROTOCOL_ERROR,
  SETTINGS,
  windowUpdateFrame,
} from "./frames.js";

/** The initial flow-control window of streams and of the connection (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65_535;
/** The largest flow-control window (RFC 9113 §6.9.1). */
export const MAX_WINDOW = 0x7fffffff;
/** The frame size we accept, and the least a server may accept (the protocol's default). */
export const MAX_FRAME = 16_384;
/** SETTINGS with ACK: the same bytes every time, so one shared buffer (never written to). */
export const SETTINGS_ACK: Buffer = Buffer.from([0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0]);
/** Answers to PING / SETTINGS we have queued and the socket has not yet taken: more is a server not reading them. */
const MAX_PENDING_ACKS = 1000;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * What a client sends first: the preface, SETTINGS (no push, `streamWindow` per stream, at most `maxHeaderList` bytes
 * of decoded headers) and a WINDOW_UPDATE raising the connection window to `connectionWindow`.
 */
export function clientPreface(streamWindow: number, maxHeaderList: number, connectionWindow: number): Buffer {
  const frames = Buffer.allocUnsafe(9 + 18 + 13);
  frameHeader(frames, 0, 18, SETTINGS, 0, 0);
  frames.writeUInt16BE(0x2, 9); // ENABLE_PUSH
  frames.writeUInt32BE(0, 11);
  frames.writeUInt16BE(0x4, 15); // INITIAL_WINDOW_SIZE
  frames.writeUInt32BE(streamWindow, 17);
  frames.writeUInt16BE(0x6, 21); // MAX_HEADER_LIST_SIZE
  frames.writeUInt32BE(maxHeaderList, 23);
  windowUpdateFrame(0, connectionWindow - DEFAULT_WINDOW).copy(frames, 27);
  return Buffer.concat([PREFACE, frames]);
}

/** The server's settings that shape what we send. */
export class PeerSettings {
  maxFrame = MAX_FRAME;
  maxStreams = Number.POSITIVE_INFINITY;
  initialWindow = DEFAULT_WINDOW;
  /** The server's header table is smaller than HPACK's default: our next header block must say ours is empty. */
  tableSizeUpdate = false;

  /** Applies a SETTINGS payload (not an ACK); returns how much INITIAL_WINDOW_SIZE grew, for the open streams. */
  apply(payload: Buffer): number {
    if (payload.length % 6 !== 0) throw new H2Error("SETTINGS must be a multiple of 6 bytes", FRAME_SIZE_ERROR);
    const before = this.initialWindow;
    for (let offset = 0; offset < payload.length; offset += 6) {
      const key = payload.readUInt16BE(offset);
      const value = payload.readUInt32BE(offset + 2);
      if (key === 0x1 && value < 4096) this.tableSizeUpdate = true;
      else if (key === 0x2 && value !== 0) throw new H2Error(`ENABLE_PUSH ${value} from a server`, PROTOCOL_ERROR);
      else if (key === 0x3) this.maxStreams = value;
      else if (key === 0x4) {
        if (value > MAX_WINDOW) throw new H2Error("INITIAL_WINDOW_SIZE above 2^31-1", FLOW_CONTROL_ERROR);
        this.initialWindow = value;
      } else if (key === 0x5) {
        if (value < MAX_FRAME || value > 0xffffff)
          throw new H2Error(`MAX_FRAME_SIZE ${value} is out of range`, PROTOCOL_ERROR);
        this.maxFrame = value;
      }
    }
    return this.initialWindow - before;
  }
}

/**
 * Our answers to the server's PING and SETTINGS that the socket has not taken yet. A server that keeps asking without
 * reading the answers (they pile up in our socket's buffer) is flooding us: past MAX_PENDING_ACKS the connection ends.
 */
export class AckQueue {
  /** For each answer not yet taken: the output offset by which the socket has taken it. */
  readonly #ends: number[] = [];

  /**
   * Counts one more answer, to be flushed after `written` bytes; the socket has taken `taken` bytes so far.
   * Throws ENHANCE_YOUR_CALM when too many are pending.
   */
  add(written: number, taken: number): void {
    const ends = this.#ends;
    let done = 0;
    while (done < ends.length && (ends[done] as number) <= taken) done++;
    if (done > 0) ends.splice(0, done);
    if (ends.length >= MAX_PENDING_ACKS) {
      const what = `${MAX_PENDING_ACKS} PING / SETTINGS frames without reading our answers`;
      throw new H2Error(`the server sent more than ${what} (a flood)`, ENHANCE_YOUR_CALM);
    }
    ends.push(written + 1); // taken once the socket has taken the first byte of the next flush
  }
}
