// Splits the bytes a server sends into HTTP/2 frames: frame sizes checked, header blocks joined across CONTINUATION
// frames (bounded), HEADERS padding and priority fields stripped. What the frames mean is the connection's business.
import { MAX_FRAME } from "./control.js";
import {
  CONTINUATION,
  END_HEADERS,
  ENHANCE_YOUR_CALM,
  FRAME_SIZE_ERROR,
  H2Error,
  HEADERS,
  PADDED,
  PRIORITY_FLAG,
  PROTOCOL_ERROR,
} from "./frames.js";

/** Header blocks larger than this end the connection instead of growing without bound. */
const MAX_HEADER_BLOCK = 1 << 20;
/** HEADERS + CONTINUATION frames in one header block: 1 MiB in 16 KiB frames is 64. */
const MAX_HEADER_FRAMES = 256;

/** A header block waiting for its CONTINUATION frames. */
interface PendingBlock {
  readonly id: number;
  /** The HEADERS frame's flags (END_STREAM). */
  readonly flags: number;
  readonly parts: Buffer[];
  size: number;
  frames: number;
}

/**
 * A pull parser: `push` a chunk, then `next()` until false; each true leaves one frame in `type`, `flags`, `id` and
 * `payload` (a view of the chunk). A header block comes as one HEADERS frame whose payload is the whole block.
 */
export class FrameReader {
  type = 0;
  flags = 0;
  id = 0;
  payload: Buffer = EMPTY;
  #buffer: Buffer = EMPTY;
  #offset = 0;
  /** What follows #buffer: the rest of a chunk whose start completed a frame cut short. */
  #tail: Buffer | undefined;
  /**
   * The start of a frame cut short and the chunks since, and how many bytes it needs (9 while its header is cut):
   * joined once they are there, and only the frame's own bytes, so a trickled frame costs one copy of itself.
   */
  #parts: Buffer[] = [];
  #partsLength = 0;
  #need = 0;
  #started = false;
  #block: PendingBlock | undefined;

  /** Adds bytes; throws an H2Error when the server is plainly not speaking HTTP/2. */
  push(chunk: Buffer): void {
    if (this.#parts.length === 0) {
      this.#buffer = chunk;
      this.#offset = 0;
      if (!this.#started) notHttp1(chunk);
      return;
    }
    this.#parts.push(chunk);
    this.#partsLength += chunk.length;
    if (this.#need === 9 && this.#partsLength >= 9) {
      const head = Buffer.concat(this.#parts.slice(0, -1).concat(chunk.subarray(0, 9)));
      if (!this.#started) notHttp1(head);
      this.#need = 9 + frameLength(head, 0);
    }
    if (this.#partsLength < this.#need) return;
    const take = this.#need - (this.#partsLength - chunk.length);
    this.#parts[this.#parts.length - 1] = chunk.subarray(0, take);
    this.#buffer = Buffer.concat(this.#parts, this.#need);
    this.#offset = 0;
    this.#tail = take < chunk.length ? chunk.subarray(take) : undefined;
    this.#parts = [];
  }

  /** The next complete frame, or false when the bytes so far end mid-frame. Throws an H2Error on bad framing. */
  next(): boolean {
    for (;;) {
      const buffer = this.#buffer;
      const offset = this.#offset;
      if (offset === buffer.length && this.#tail !== undefined) {
        this.#buffer = this.#tail; // the frame joined from pieces is read: on with the chunk it ended in
        this.#offset = 0;
        this.#tail = undefined;
        continue;
      }
      if (buffer.length - offset < 9) return this.#wait(9);
      const length = frameLength(buffer, offset);
      if (buffer.length - offset < 9 + length) return this.#wait(9 + length);
      this.#started = true;
      const type = buffer[offset + 3] as number;
      const flags = buffer[offset + 4] as number;
      const id = buffer.readUInt32BE(offset + 5) & 0x7fffffff;
      const payload = buffer.subarray(offset + 9, offset + 9 + length);
      this.#offset = offset + 9 + length;
      if (this.#block !== undefined) {
        if (type !== CONTINUATION) throw new H2Error("a header block was interrupted", PROTOCOL_ERROR);
        if (this.#continue(flags, id, payload)) return true;
        continue;
      }
      if (type === CONTINUATION) throw new H2Error("an unexpected CONTINUATION", PROTOCOL_ERROR);
      if (type === HEADERS && !this.#headers(flags, id, payload)) continue;
      if (type !== HEADERS) this.payload = payload;
      this.type = type;
      this.flags = flags;
      this.id = id;
      return true;
    }
  }

  /** Keeps what is left of the buffer (a frame cut short) until `need` bytes are there. */
  #wait(need: number): false {
    if (this.#offset < this.#buffer.length) {
      const rest = this.#buffer.subarray(this.#offset);
      this.#parts = [rest];
      this.#partsLength = rest.length;
      this.#need = need;
    }
    this.#buffer = EMPTY;
    this.#offset = 0;
    return false;
  }

  /** A HEADERS frame: true with its block in `payload` when it is complete, else it waits for CONTINUATION. */
  #headers(flags: number, id: number, payload: Buffer): boolean {
    if (id === 0) throw new H2Error("HEADERS on stream 0", PROTOCOL_ERROR);
    let start = 0;
    let end = payload.length;
    if (flags & PADDED) {
      start = 1;
      end -= payload[0] ?? 0;
    }
    if (flags & PRIORITY_FLAG) start += 5;
    if (start > end) throw new H2Error("HEADERS padding exceeds the frame", PROTOCOL_ERROR);
    const block = payload.subarray(start, end);
    if (flags & END_HEADERS) {
      this.payload = block;
      return true;
    }
    // Copied: a block's parts must not hold on to the chunks they came in.
    this.#block = { id, flags, parts: [Buffer.from(block)], size: block.length, frames: 1 };
    return false;
  }

  /** A CONTINUATION frame: true once the block is complete (then the reader holds it as a HEADERS frame). */
  #continue(flags: number, id: number, payload: Buffer): boolean {
    const block = this.#block as PendingBlock;
    if (block.id !== id) throw new H2Error("an unexpected CONTINUATION", PROTOCOL_ERROR);
    block.size += payload.length;
    if (block.size > MAX_HEADER_BLOCK) throw new H2Error("a header block exceeds 1 MiB", PROTOCOL_ERROR);
    if (++block.frames > MAX_HEADER_FRAMES)
      throw new H2Error(`a header block in more than ${MAX_HEADER_FRAMES} frames`, ENHANCE_YOUR_CALM);
    if (payload.length > 0) block.parts.push(Buffer.from(payload));
    if (!(flags & END_HEADERS)) return false;
    this.#block = undefined;
    this.type = HEADERS;
    this.flags = block.flags;
    this.id = id;
    this.payload = Buffer.concat(block.parts);
    return true;
  }
}

const EMPTY = Buffer.alloc(0);

/** The length field of the frame header at `offset`, checked against the frame size we accept. */
function frameLength(buffer: Buffer, offset: number): number {
  const length =
    ((buffer[offset] as number) << 16) | ((buffer[offset + 1] as number) << 8) | (buffer[offset + 2] as number);
  if (length > MAX_FRAME) throw new H2Error(`a frame of ${length} bytes exceeds ${MAX_FRAME}`, FRAME_SIZE_ERROR);
  return length;
}

/** Throws when the server's first bytes are an HTTP/1.x status line. */
function notHttp1(first: Buffer): void {
  // A common mistake: the address of an HTTP/1.1 port (Dapr's 3500, a proxy) instead of the sidecar's gRPC port.
  if (first.length < 5 || first.toString("latin1", 0, 5) !== "HTTP/") return;
  const status = first.toString("latin1", 0, Math.min(first.length, 64)).split("\r\n")[0];
  throw new H2Error(
    `the server answered in HTTP/1.x ("${status}"), not HTTP/2: is this the sidecar's gRPC port?`,
    PROTOCOL_ERROR,
  );
}
