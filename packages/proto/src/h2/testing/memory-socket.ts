// An in-memory socket for H2Connection's `socket` seam: a test hands it the server's bytes and reads what the client
// wrote, with no network and no event-loop turn in between. Not part of the package (excluded from the build).
import { Duplex } from "node:stream";
import { H2Connection, type H2ConnectionSettings } from "../connection.js";
import { encodeHeaders } from "../hpack.js";
import { type Frame, is, REQUEST, Recorder, settings } from "./peer.js";

const PREFACE_LENGTH = 24;

export class MemorySocket extends Duplex {
  /** What the client wrote, in order (nothing when the server does not read). */
  readonly written: Buffer[] = [];
  /** Bytes the client wrote that the server read. */
  writtenBytes = 0;

  /** `reads: false` is a server that never reads: writes stay pending and `writableLength` grows. */
  constructor(readonly reads = true) {
    super();
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.reads) return; // never called back: the write stays queued
    this.written.push(chunk);
    this.writtenBytes += chunk.length;
    callback();
  }

  /** The server's bytes, delivered now as a socket delivers them ('data'). */
  feed(bytes: Buffer): void {
    this.emit("data", bytes);
  }

  /** The frames the client wrote after its preface (a frame cut short at the end is left out). */
  frames(): Frame[] {
    const bytes = Buffer.concat(this.written);
    const frames: Frame[] = [];
    let offset = PREFACE_LENGTH;
    while (bytes.length - offset >= 9) {
      const length = bytes.readUIntBE(offset, 3);
      if (bytes.length - offset < 9 + length) break;
      const payload = bytes.subarray(offset + 9, offset + 9 + length);
      const id = bytes.readUInt32BE(offset + 5) & 0x7fffffff;
      frames.push({ type: bytes[offset + 3] as number, flags: bytes[offset + 4] as number, id, payload });
      offset += 9 + length;
    }
    return frames;
  }
}

const BLOCK = encodeHeaders(REQUEST);

/** A connection over an in-memory socket whose server has sent `preface` (default: empty SETTINGS). */
export function memory(options: H2ConnectionSettings = {}, reads = true, preface = settings()) {
  const socket = new MemorySocket(reads);
  const conn = new H2Connection({ host: "memory.invalid", port: 1, socket, connectTimeoutMs: 0, ...options });
  const calls: Recorder[] = [];
  const call = (body = Buffer.alloc(0)) => {
    const rec = new Recorder();
    calls.push(rec);
    return { rec, stream: conn.request(BLOCK, body, rec) };
  };
  const feed = (...frames: Buffer[]) => socket.feed(Buffer.concat(frames));
  /** The frames the client wrote so far, of `type` (and stream `id`). */
  const sent = (type: number, id?: number): Frame[] => {
    conn.flush();
    return socket.frames().filter(is(type, id));
  };
  if (preface.length > 0) feed(preface);
  return { socket, conn, call, feed, sent };
}
