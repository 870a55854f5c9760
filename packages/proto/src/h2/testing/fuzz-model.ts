// fast-check arbitraries for fuzzing the HTTP/2 client: what a broken or hostile server may send (frames of every
// type, mostly well-formed with deliberate faults, HPACK blocks with bad indexes, oversized table updates, header-list
// bombs, floods) and what the client's caller does meanwhile. Not part of the package (excluded from the build).
import fc from "fast-check";
import { encodeHeaders } from "../hpack.js";
import {
  ACK,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  frame,
  GOAWAY,
  HEADERS,
  PADDED,
  PING,
  PRIORITY,
  PRIORITY_FLAG,
  PUSH_PROMISE,
  RST_STREAM,
  SETTINGS,
  u32s,
  WINDOW_UPDATE,
} from "./peer.js";

/** What happens next in a fuzz case. */
export type Op =
  /** Bytes from the server (one frame, or garbage), delivered with the next feed. */
  | { readonly kind: "bytes"; readonly bytes: Buffer; readonly garbage?: true }
  /** The same bytes many times (a flood), built only when the case runs. */
  | { readonly kind: "repeat"; readonly bytes: Buffer; readonly count: number }
  /** The client's caller acts on one of its streams, or opens one more. */
  | { readonly kind: "client"; readonly action: "pause" | "resume" | "cancel" | "request"; readonly stream: number }
  /** Everything so far is delivered and the event loop turns once (the client flushes what it queued). */
  | { readonly kind: "turn" };

/** HPACK integer (RFC 7541 §5.1) with a `prefixBits` prefix under `flags`. */
export function hpackInteger(flags: number, prefixBits: number, value: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** An HPACK string literal, raw, or flagged Huffman (random bytes: usually invalid Huffman). */
function hpackString(value: Buffer, huffman: boolean): Buffer {
  return Buffer.concat([hpackInteger(huffman ? 0x80 : 0, 7, value.length), value]);
}

/** Stream ids: mostly the client's open streams, sometimes ones it never opened, stream 0 or anything. */
const ids = fc.oneof(
  { arbitrary: fc.constantFrom(1, 3, 5), weight: 12 },
  { arbitrary: fc.constantFrom(0, 2, 7, 9, 0x7fffffff), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 0x7fffffff }), weight: 1 },
);
/** The client's streams (the first three it opens). */
const open = fc.constantFrom(1, 3, 5);
const u32 = fc.oneof(
  fc.constantFrom(0, 1, 4095, 4096, 16_383, 16_384, 65_535, 1 << 20, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const text = fc.string({ maxLength: 40 }).map((s) => Buffer.from(s, "latin1"));

/** One header field representation, valid or not. */
const field: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 61 }).map((i) => Buffer.from([0x80 | i])), weight: 4 }, // static
  { arbitrary: fc.integer({ min: 62, max: 72 }).map((i) => hpackInteger(0x80, 7, i)), weight: 2 }, // dynamic
  { arbitrary: fc.constant(Buffer.from([0x80])), weight: 1 }, // index 0
  {
    // literal with incremental indexing, new name
    arbitrary: fc
      .tuple(text, text, fc.boolean())
      .map(([n, v, h]) => Buffer.concat([Buffer.from([0x40]), hpackString(n, false), hpackString(v, h)])),
    weight: 3,
  },
  {
    // literal with or without indexing, indexed name (maybe out of range)
    arbitrary: fc
      .tuple(fc.constantFrom(0x40, 0x00, 0x10), fc.integer({ min: 1, max: 70 }), text)
      .map(([kind, i, v]) => Buffer.concat([hpackInteger(kind, kind === 0x40 ? 6 : 4, i), hpackString(v, false)])),
    weight: 3,
  },
  {
    // dynamic table size update: within, at and above our 4096, and absurd
    arbitrary: fc.constantFrom(0, 64, 4096, 4097, 65_536, 0x7fffffff).map((n) => hpackInteger(0x20, 5, n)),
    weight: 2,
  },
  { arbitrary: fc.constant(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), weight: 1 }, // integer overflow
  { arbitrary: fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)), weight: 1 }, // garbage
);

/** A header block: mostly a valid response, sometimes random representations, sometimes a bomb. */
export const headerBlock: fc.Arbitrary<Buffer> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.constantFrom("200", "404", "100"), fc.array(fc.tuple(fc.constantFrom("x-a", "grpc-status"), text)))
      .map(([status, pairs]) =>
        encodeHeaders([":status", status, ...pairs.flatMap(([n, v]) => [n, v.toString("latin1")])]),
      ),
    weight: 3,
  },
  { arbitrary: fc.array(field, { maxLength: 12 }).map((parts) => Buffer.concat(parts)), weight: 4 },
  {
    // A header-list bomb: one large table entry, then references to it (each 1 byte, ~4 KB decoded).
    arbitrary: fc
      .integer({ min: 1, max: 12_000 })
      .map((refs) =>
        Buffer.concat([
          Buffer.from([0x40]),
          hpackString(Buffer.from("x-bomb"), false),
          hpackString(Buffer.alloc(3_900, 0x61), false),
          Buffer.alloc(refs, 0x80 | 62),
        ]),
      ),
    weight: 1,
  },
);

const bits = (...flags: number[]) =>
  fc
    .tuple(fc.subarray(flags), fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 9 }))
    .map(([set, noise, n]) => set.reduce((a, b) => a | b, 0) | (n === 0 ? noise : 0)); // now and then stray bits

function padded(flags: number, body: Buffer, pad: number): Buffer {
  if (!(flags & PADDED)) return body;
  return Buffer.concat([Buffer.from([pad & 0xff]), body, Buffer.alloc(Math.min(pad, 255))]);
}

const dataFrame = fc
  .tuple(ids, bits(END_STREAM, PADDED), fc.oneof(fc.nat(64), fc.nat(16_384)), fc.nat(300))
  .map(([id, flags, n, pad]) => frame(DATA, flags, id, padded(flags, Buffer.alloc(n, 0x5a), pad)));

const headersFrame = fc
  .tuple(ids, bits(END_STREAM, END_HEADERS, PADDED, PRIORITY_FLAG), headerBlock, fc.nat(40))
  .map(([id, flags, block, pad]) => {
    const priority = flags & PRIORITY_FLAG ? Buffer.from([0, 0, 0, 1, 16]) : Buffer.alloc(0);
    return frame(HEADERS, flags, id, padded(flags, Buffer.concat([priority, block]), pad));
  });

const settingsFrame = fc
  .tuple(
    fc.array(fc.tuple(fc.oneof(fc.integer({ min: 1, max: 8 }), fc.nat(0xffff)), u32), { maxLength: 6 }),
    fc.nat(20),
  )
  .map(([pairs, odd]) => {
    const payload = Buffer.concat(pairs.map(([k, v]) => Buffer.concat([Buffer.from([k >> 8, k & 0xff]), u32s(v)])));
    return frame(SETTINGS, odd === 0 ? ACK : 0, odd === 1 ? 3 : 0, odd === 2 ? payload.subarray(1) : payload);
  });

/** Frames of every type, any fields: mostly malformed or out of place. */
const faultyFrame: fc.Arbitrary<Buffer> = fc.oneof(
  dataFrame,
  headersFrame,
  fc
    .tuple(ids, fc.boolean(), headerBlock)
    .map(([id, end, block]) => frame(CONTINUATION, end ? END_HEADERS : 0, id, block.subarray(0, 2000))),
  settingsFrame,
  fc.tuple(ids, u32, fc.nat(6)).map(([id, code, n]) => frame(RST_STREAM, 0, id, u32s(code).subarray(n % 5))),
  fc
    .tuple(fc.boolean(), fc.uint8Array({ minLength: 7, maxLength: 9 }), fc.constantFrom(0, 0, 0, 1))
    .map(([ack, bytes, id]) => frame(PING, ack ? ACK : 0, id, Buffer.from(bytes))),
  fc
    .tuple(ids, u32, fc.oneof(fc.constant(Buffer.from("too_many_pings")), text), fc.constantFrom(0, 0, 0, 3))
    .map(([last, code, debug, id]) => frame(GOAWAY, 0, id, Buffer.concat([u32s(last, code), debug]))),
  fc
    .tuple(fc.oneof(fc.constant(0), ids), u32, fc.nat(8))
    .map(([id, inc, n]) => frame(WINDOW_UPDATE, 0, id, n === 0 ? u32s(inc).subarray(1) : u32s(inc))),
  fc.tuple(ids, fc.nat(7)).map(([id, n]) => frame(PRIORITY, 0, id, Buffer.alloc(n === 0 ? 4 : 5))),
  fc
    .tuple(ids, headerBlock)
    .map(([id, block]) => frame(PUSH_PROMISE, END_HEADERS, id, Buffer.concat([u32s(2), block]))),
  fc
    .tuple(fc.integer({ min: 10, max: 255 }), ids, fc.uint8Array({ maxLength: 32 }))
    .map(([type, id, bytes]) => frame(type, 0, id, Buffer.from(bytes))),
);

const response = fc
  .tuple(fc.constantFrom("200", "503"), fc.array(fc.tuple(fc.constantFrom("x-a", "grpc-status", "grpc-message"), text)))
  .map(([status, pairs]) =>
    encodeHeaders([":status", status, ...pairs.flatMap(([n, v]) => [n, v.toString("latin1")])]),
  );

/** Well-formed frames on the client's streams: what a working server sends, in an order it might. */
const validFrame: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: fc.tuple(open, headerBlock).map(([id, block]) => frame(HEADERS, END_HEADERS, id, block)), weight: 1 },
  {
    arbitrary: fc
      .tuple(open, fc.boolean(), fc.oneof(fc.nat(40), fc.nat(16_384)), fc.boolean(), fc.nat(255))
      .map(([id, end, n, pad, padding]) => {
        const flags = (end ? END_STREAM : 0) | (pad ? PADDED : 0);
        return frame(DATA, flags, id, padded(flags, Buffer.alloc(n, 0x5a), padding));
      }),
    weight: 6,
  },
  {
    arbitrary: fc.tuple(open, fc.boolean(), response, fc.nat(3)).map(([id, end, block, split]) => {
      const flags = end ? END_STREAM : 0;
      if (split === 0 && block.length > 1) {
        const at = block.length >> 1;
        return Buffer.concat([
          frame(HEADERS, flags, id, block.subarray(0, at)),
          frame(CONTINUATION, END_HEADERS, id, block.subarray(at)),
        ]);
      }
      return frame(HEADERS, flags | END_HEADERS, id, block);
    }),
    weight: 6,
  },
  {
    arbitrary: fc
      .array(
        fc.tuple(
          fc.constantFrom(0x1, 0x3, 0x4, 0x5, 0x6, 0x9),
          fc.constantFrom(0, 1, 100, 4096, 16_384, 65_535, 1 << 20),
        ),
        { maxLength: 4 },
      )
      .map((pairs) =>
        frame(
          SETTINGS,
          0,
          0,
          Buffer.concat(pairs.map(([k, v]) => Buffer.concat([Buffer.from([0, k]), u32s(k === 0x5 ? 16_384 : v)]))),
        ),
      ),
    weight: 2,
  },
  {
    arbitrary: fc
      .tuple(fc.boolean(), fc.uint8Array({ minLength: 8, maxLength: 8 }))
      .map(([ack, bytes]) => frame(PING, ack ? ACK : 0, 0, Buffer.from(bytes))),
    weight: 3,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(0, 1, 3, 5), fc.integer({ min: 1, max: 1 << 20 }))
      .map(([id, inc]) => frame(WINDOW_UPDATE, 0, id, u32s(inc))),
    weight: 3,
  },
  {
    arbitrary: fc
      .tuple(open, fc.constantFrom(0, 2, 7, 8, 11))
      .map(([id, code]) => frame(RST_STREAM, 0, id, u32s(code))),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom(0x7fffffff, 0, 1, 3), fc.constantFrom(0, 2, 11), fc.constantFrom("", "too_many_pings"))
      .map(([last, code, debug]) => frame(GOAWAY, 0, 0, Buffer.concat([u32s(last, code), Buffer.from(debug)]))),
    weight: 1,
  },
  { arbitrary: open.map((id) => frame(PRIORITY, 0, id, Buffer.from([0, 0, 0, 0, 16]))), weight: 1 },
);

/** A server's frame: mostly well-formed, now and then anything. */
export const serverFrame: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: validFrame, weight: 8 },
  { arbitrary: faultyFrame, weight: 1 },
);

const BEYOND_WINDOWS = Buffer.concat(Array(1100).fill(frame(DATA, 0, 1, Buffer.alloc(16_384))));

/** Floods: one frame many times; a DATA flood beyond a paused stream's window or the connection's. */
const flood: fc.Arbitrary<Op[]> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(
        frame(PING, 0, 0, Buffer.alloc(8)),
        frame(SETTINGS, 0, 0),
        frame(SETTINGS, ACK, 0),
        frame(DATA, 0, 1), // empty DATA
        frame(CONTINUATION, 0, 1),
        frame(PRIORITY, 0, 1, Buffer.alloc(5)),
        frame(RST_STREAM, 0, 1, u32s(8)),
        frame(WINDOW_UPDATE, 0, 1, u32s(1)),
        frame(0xfa, 0, 0, Buffer.alloc(4)),
        frame(HEADERS, 0, 1, encodeHeaders([":status", "200"])), // then CONTINUATION, or an interruption
      ),
      fc.integer({ min: 1, max: 12_000 }),
    )
    .map(([bytes, count]): Op[] => [{ kind: "repeat", bytes, count }]),
  fc
    .tuple(open, fc.integer({ min: 60, max: 70 }), fc.boolean())
    .map(([id, count, pause]): Op[] => [
      ...(pause ? [{ kind: "client", action: "pause", stream: (id - 1) / 2 } as const] : []),
      { kind: "repeat", bytes: frame(DATA, 0, id, Buffer.alloc(16_384)), count },
    ]),
  // 17 MiB in one chunk: beyond the connection's 16 MiB window before the client could give any back. Rare: slow.
  fc
    .nat(15)
    .map((n): Op[] =>
      n > 0 ? [{ kind: "repeat", bytes: frame(DATA, 0, 1), count: n }] : [{ kind: "bytes", bytes: BEYOND_WINDOWS }],
    ),
);

/** The steps of a case. */
export const ops: fc.Arbitrary<Op[]> = fc
  .array(
    fc.oneof(
      { arbitrary: serverFrame.map((bytes): Op[] => [{ kind: "bytes", bytes }]), weight: 60 },
      {
        arbitrary: fc
          .uint8Array({ maxLength: 40 })
          .map((b): Op[] => [{ kind: "bytes", bytes: Buffer.from(b), garbage: true }]),
        weight: 1,
      },
      { arbitrary: flood, weight: 4 },
      {
        arbitrary: fc
          .tuple(fc.constantFrom("pause", "resume", "cancel", "request") as fc.Arbitrary<"pause">, fc.nat(5))
          .map(([action, stream]): Op[] => [{ kind: "client", action, stream }]),
        weight: 6,
      },
      { arbitrary: fc.constant<Op[]>([{ kind: "turn" }]), weight: 4 },
    ),
    { maxLength: 24 },
  )
  .map((steps) => steps.flat());

/** A byte-level mutation of a byte string. */
export const mutation = fc.tuple(fc.constantFrom("flip", "insert", "delete", "cut", "dup"), fc.nat(), fc.nat(0xff));

export function mutate(bytes: Buffer, mutations: readonly (readonly [string, number, number])[]): Buffer {
  let out = bytes;
  for (const [kind, at, value] of mutations) {
    if (out.length === 0) break;
    const i = at % out.length;
    if (kind === "flip") {
      out = Buffer.from(out);
      out[i] = (out[i] as number) ^ (1 << (value & 7));
    } else if (kind === "insert") out = Buffer.concat([out.subarray(0, i), Buffer.from([value]), out.subarray(i)]);
    else if (kind === "delete") out = Buffer.concat([out.subarray(0, i), out.subarray(i + 1)]);
    else if (kind === "cut") out = out.subarray(0, i);
    else out = Buffer.concat([out.subarray(0, i), out.subarray(i, i + 1 + value), out.subarray(i)]);
  }
  return out;
}
