/**
 * HPACK (RFC 7541) for our HTTP/2 client: a decoder with the per-connection dynamic table, and a stateless encoder
 * (static-table indexes and literals without indexing only, so the peer's decoder state never depends on ours).
 */

/** A malformed header block: the HTTP/2 connection must end with COMPRESSION_ERROR. */
export class HpackError extends Error {
  override name = "HpackError";
}

/**
 * A well-formed header block whose decoded list is larger than the decoder's limit. The block was decoded to its end,
 * so the dynamic table is in step and the connection can go on: only the stream is lost.
 */
export class HeaderListTooLarge extends Error {
  override name = "HeaderListTooLarge";
  constructor(readonly limit: number) {
    super(`a header list larger than ${limit} bytes (SETTINGS_MAX_HEADER_LIST_SIZE, decoded, 32 bytes a field)`);
  }
}

// RFC 7541 Appendix A, indexes 1..61; "name value" split at the first space (names never contain one).
const STATIC_NAMES: string[] = [];
const STATIC_VALUES: string[] = [];
/** name → its lowest static index, and the static indexes of its exact (name, value) entries. */
const STATIC_BY_NAME = new Map<string, { index: number; values: Map<string, number> }>();
for (const entry of [
  ":authority",
  ":method GET",
  ":method POST",
  ":path /",
  ":path /index.html",
  ":scheme http",
  ":scheme https",
  ":status 200",
  ":status 204",
  ":status 206",
  ":status 304",
  ":status 400",
  ":status 404",
  ":status 500",
  "accept-charset",
  "accept-encoding gzip, deflate",
  "accept-language",
  "accept-ranges",
  "accept",
  "access-control-allow-origin",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-range",
  "content-type",
  "cookie",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "link",
  "location",
  "max-forwards",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "refresh",
  "retry-after",
  "server",
  "set-cookie",
  "strict-transport-security",
  "transfer-encoding",
  "user-agent",
  "vary",
  "via",
  "www-authenticate",
]) {
  const space = entry.indexOf(" ");
  const name = space < 0 ? entry : entry.slice(0, space);
  const value = space < 0 ? "" : entry.slice(space + 1);
  STATIC_NAMES.push(name);
  STATIC_VALUES.push(value);
  const index = STATIC_NAMES.length;
  const byName = STATIC_BY_NAME.get(name);
  if (byName === undefined) STATIC_BY_NAME.set(name, { index, values: new Map([[value, index]]) });
  else byName.values.set(value, index);
}
const STATIC_COUNT = STATIC_NAMES.length; // 61: dynamic indexes start after it

// RFC 7541 Appendix B: Huffman code of each symbol 0..255 and EOS (256), and its bit length.
const HUFFMAN_CODES = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8, 0xffffea, 0x3ffffffc,
  0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1,
  0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa,
  0xffffffb, 0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc, 0x1ffa, 0x21, 0x5d,
  0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70,
  0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22, 0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7ffe,
  0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf, 0xffffec, 0xffffed, 0x3fffd7,
  0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3, 0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6,
  0x7fffe7, 0xffffef, 0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde, 0x7fffea, 0x3fffdd,
  0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec, 0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed,
  0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec, 0x3ffffe2, 0x3ffffe3, 0x3ffffe4,
  0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7,
  0x7ffffe2, 0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5, 0xfffec,
  0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3, 0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef,
  0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4, 0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9,
  0x7ffffea, 0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee, 0x3fffffff,
];
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28,
  28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6,
  5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23,
  22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22,
  23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26,
  20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27,
  27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27,
  27, 27, 27, 26, 30,
];

/*
 * Huffman decoding consumes 4 bits at a time through a state table built once from the code tree. A state is an
 * internal node of the tree (256 of them for 257 leaves; 0 is the root). Since the shortest code has 5 bits, one
 * nibble completes at most one symbol. Entry for (state, nibble): next state | symbol << 8 | EMIT | FAIL.
 */
const EMIT = 1 << 16;
const FAIL = 1 << 17; // reached EOS, which must never appear inside a string
const HUFFMAN_STEP = new Uint32Array(256 * 16);
/** 1 when a string may end in this state: at a symbol boundary, or within <= 7 bits of padding that prefix EOS. */
const HUFFMAN_ACCEPT = new Uint8Array(256);
{
  // Children of internal node n at [2n] (bit 0) and [2n + 1] (bit 1): >= 0 is an internal node, -1 - symbol a leaf.
  const children = new Int32Array(512);
  const depth = new Uint8Array(256);
  const allOnes = new Uint8Array(256).fill(1);
  let nodes = 1;
  for (let symbol = 0; symbol < 257; symbol++) {
    const code = HUFFMAN_CODES[symbol] as number;
    const length = HUFFMAN_LENGTHS[symbol] as number;
    let node = 0;
    for (let bit = length - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (children[slot] === 0) {
        children[slot] = nodes;
        depth[nodes] = length - bit;
        allOnes[nodes] = allOnes[node] === 1 && (code >>> bit) & 1 ? 1 : 0;
        nodes++;
      }
      node = children[slot] as number;
    }
    children[2 * node + (code & 1)] = -1 - symbol;
  }
  for (let state = 0; state < 256; state++) {
    HUFFMAN_ACCEPT[state] = state === 0 || (allOnes[state] === 1 && (depth[state] as number) <= 7) ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let out = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const child = children[2 * node + ((nibble >> bit) & 1)] as number;
        if (child >= 0) {
          node = child;
        } else if (child === -257) {
          out = FAIL;
          break;
        } else {
          out = EMIT | ((-1 - child) << 8);
          node = 0;
        }
      }
      HUFFMAN_STEP[state * 16 + nibble] = out | node;
    }
  }
}

/** Output scratch for Huffman decoding, shared by all decoders (decoding is synchronous), grown on demand. */
let huffmanOut = Buffer.allocUnsafe(1024);

function huffmanDecode(buf: Buffer, start: number, end: number): string {
  // Each symbol takes >= 5 bits.
  const most = Math.floor(((end - start) * 8) / 5);
  if (huffmanOut.length < most) huffmanOut = Buffer.allocUnsafe(Math.max(most, huffmanOut.length * 2));
  const out = huffmanOut;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i] as number;
    const high = HUFFMAN_STEP[(state << 4) | (byte >> 4)] as number;
    if (high & EMIT) out[n++] = high >> 8;
    const low = HUFFMAN_STEP[((high & 0xff) << 4) | (byte & 0xf)] as number;
    if (low & EMIT) out[n++] = low >> 8;
    if ((high | low) & FAIL) throw new HpackError("Huffman string contains EOS");
    state = low & 0xff;
  }
  if (HUFFMAN_ACCEPT[state] === 0) throw new HpackError("invalid Huffman padding");
  return out.toString("latin1", 0, n);
}

const EMPTY: string[] = [];

/** Decoding state of one HTTP/2 connection (its dynamic table). */
export class HpackDecoder {
  /** The SETTINGS_HEADER_TABLE_SIZE we advertised: the most a dynamic table size update may ask for. */
  readonly #maxTableSize: number;
  /** The table size the peer's encoder last chose (starts at the advertised size). */
  #limit: number;
  /** Octets in the table, counted as RFC 7541 §4.1 says: name + value + 32 per entry. */
  #size = 0;
  // Ring of entries, newest first: entry i (0 = index 62) lives at slot (#start + i) & (capacity - 1).
  #names = EMPTY;
  #values = EMPTY;
  #start = 0;
  #count = 0;
  /** Read position in the block being decoded. */
  #pos = 0;
  /** The largest decoded header list accepted, counted as SETTINGS_MAX_HEADER_LIST_SIZE is (RFC 9113 §6.5.2). */
  readonly #maxListSize: number;

  /**
   * `maxTableSize`: the SETTINGS_HEADER_TABLE_SIZE we advertised (default 4096). `maxListSize`: the largest decoded
   * header list (name + value + 32 octets per field) `decode` returns; larger ones throw HeaderListTooLarge.
   */
  constructor(maxTableSize = 4096, maxListSize = Number.POSITIVE_INFINITY) {
    this.#maxTableSize = maxTableSize;
    this.#limit = maxTableSize;
    this.#maxListSize = maxListSize;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads already joined) into a flat list
   * [name0, value0, name1, value1, ...]. Strings are decoded as latin1 (octets; so length === octet count for table
   * size accounting). Throws HpackError on anything malformed, HeaderListTooLarge (after decoding the whole block, so
   * the table stays in step) when the list exceeds the limit: nothing past the limit is kept meanwhile.
   */
  decode(block: Uint8Array): string[] {
    const buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    const end = buf.length;
    const out: string[] = [];
    let listSize = 0;
    this.#pos = 0;
    // RFC 7541 §4.2: size updates may only open a block (two when the size dipped and came back between blocks).
    let fieldSeen = false;
    while (this.#pos < end) {
      const first = buf[this.#pos] as number;
      if (first & 0x80) {
        // Indexed field (§6.1).
        const index = this.#integer(buf, 7);
        if (index <= STATIC_COUNT) {
          if (index === 0) throw new HpackError("index 0 is not a header field");
          out.push(STATIC_NAMES[index - 1] as string, STATIC_VALUES[index - 1] as string);
        } else {
          const slot = this.#slot(index);
          out.push(this.#names[slot] as string, this.#values[slot] as string);
        }
      } else if (first & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const name = this.#name(buf, 6);
        const value = this.#string(buf);
        out.push(name, value);
        this.#add(name, value);
      } else if (first & 0x20) {
        // Dynamic table size update (§6.3).
        if (fieldSeen) throw new HpackError("dynamic table size update after a header field");
        const size = this.#integer(buf, 5);
        if (size > this.#maxTableSize) {
          throw new HpackError(`dynamic table size ${size} exceeds SETTINGS_HEADER_TABLE_SIZE ${this.#maxTableSize}`);
        }
        this.#limit = size;
        this.#evict(size);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001): same shape, neither touches the table (§6.2.2-3).
        const name = this.#name(buf, 4);
        out.push(name, this.#string(buf));
      }
      fieldSeen = true;
      listSize += (out[out.length - 2] as string).length + (out[out.length - 1] as string).length + 32;
      if (listSize > this.#maxListSize) out.length = 0; // keep decoding for the table's sake; keep nothing
    }
    if (listSize > this.#maxListSize) throw new HeaderListTooLarge(this.#maxListSize);
    return out;
  }

  /** Reads an integer with an N-bit prefix (§5.1), at most 2^31 - 1; #pos must be inside the block. */
  #integer(buf: Buffer, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let pos = this.#pos;
    let value = (buf[pos++] as number) & mask;
    if (value === mask) {
      let shift = 0;
      let byte: number;
      do {
        if (pos >= buf.length) throw new HpackError("truncated integer");
        // 5 continuation bytes carry 35 bits; a 6th can only mean overflow (or pointless zero padding).
        if (shift > 28) throw new HpackError("integer too large");
        byte = buf[pos++] as number;
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      if (value > 0x7fffffff) throw new HpackError("integer too large");
    }
    this.#pos = pos;
    return value;
  }

  /** Reads a string literal (§5.2): H bit, 7-bit-prefix length, octets (raw or Huffman-coded). */
  #string(buf: Buffer): string {
    if (this.#pos >= buf.length) throw new HpackError("truncated header field");
    const huffman = (buf[this.#pos] as number) & 0x80;
    const length = this.#integer(buf, 7);
    const start = this.#pos;
    const end = start + length;
    if (end > buf.length) throw new HpackError("string length beyond the header block");
    this.#pos = end;
    return huffman ? huffmanDecode(buf, start, end) : buf.toString("latin1", start, end);
  }

  /** Reads a literal field's name: by index (prefix value > 0) or as a string literal. */
  #name(buf: Buffer, prefixBits: number): string {
    const index = this.#integer(buf, prefixBits);
    if (index === 0) return this.#string(buf);
    if (index <= STATIC_COUNT) return STATIC_NAMES[index - 1] as string;
    return this.#names[this.#slot(index)] as string;
  }

  #slot(index: number): number {
    const i = index - STATIC_COUNT - 1;
    if (i >= this.#count) throw new HpackError(`header index ${index} out of range`);
    return (this.#start + i) & (this.#names.length - 1);
  }

  /** Adds an entry (§4.4): evicts to make room; an entry larger than the table just empties it. */
  #add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    if (size > this.#limit) return this.#evict(0);
    this.#evict(this.#limit - size);
    let capacity = this.#names.length;
    if (this.#count === capacity) {
      // Grow (power of two, for the mask): copy entries in order to slots 0..count-1.
      capacity = Math.max(16, capacity * 2);
      const names = new Array<string>(capacity).fill("");
      const values = new Array<string>(capacity).fill("");
      for (let i = 0; i < this.#count; i++) {
        const slot = (this.#start + i) & (this.#names.length - 1);
        names[i] = this.#names[slot] as string;
        values[i] = this.#values[slot] as string;
      }
      this.#names = names;
      this.#values = values;
      this.#start = 0;
    }
    this.#start = (this.#start - 1) & (capacity - 1);
    this.#names[this.#start] = name;
    this.#values[this.#start] = value;
    this.#count++;
    this.#size += size;
  }

  /** Evicts oldest entries until the table holds at most `target` octets. */
  #evict(target: number): void {
    const mask = this.#names.length - 1;
    while (this.#size > target) {
      const slot = (this.#start + --this.#count) & mask;
      this.#size -= (this.#names[slot] as string).length + (this.#values[slot] as string).length + 32;
      this.#names[slot] = "";
      this.#values[slot] = "";
    }
  }
}

/**
 * Encodes a flat [name, value, ...] list as one header block, statelessly: an exact static-table match is an indexed
 * field (e.g. ":method: POST" → 0x83, ":scheme: http" → 0x86); otherwise a literal WITHOUT indexing (never touches
 * the peer's dynamic table), with the static table's name index when the name is there (lowest index), else a literal
 * name; no Huffman. Names must already be lowercase (caller's job). Values as latin1.
 */
export function encodeHeaders(list: readonly string[]): Buffer {
  if (list.length % 2 !== 0) throw new RangeError("header list must alternate names and values");
  // Upper bound, so one allocation: per pair 1 + (name + 6) + (value + 6) octets at most.
  let bound = 0;
  for (const s of list) bound += s.length + 7;
  const out = Buffer.allocUnsafe(bound);
  let pos = 0;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1] as string;
    const byName = STATIC_BY_NAME.get(name);
    const exact = byName?.values.get(value);
    if (exact !== undefined) {
      out[pos++] = 0x80 | exact; // every static index < 127 fits the 7-bit prefix
      continue;
    }
    if (byName === undefined) {
      out[pos++] = 0;
      pos = writeString(out, pos, name);
    } else {
      pos = writeInteger(out, pos, 0, 4, byName.index);
    }
    pos = writeString(out, pos, value);
  }
  return out.subarray(0, pos);
}

function writeInteger(out: Buffer, pos: number, flags: number, prefixBits: number, value: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | mask;
  let rest = value - mask;
  while (rest >= 0x80) {
    out[pos++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[pos++] = rest;
  return pos;
}

function writeString(out: Buffer, pos: number, s: string): number {
  const start = writeInteger(out, pos, 0, 7, s.length);
  return start + out.write(s, start, "latin1");
}
