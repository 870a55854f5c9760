// Name-based UUIDv5 (RFC 9562) with a self-contained SHA-1, so the engine needs no crypto API.

/** Writes `text` as UTF-8 into `out` at `at` (growing it as needed); returns the buffer and the end offset. */
function writeUtf8(text: string, out: Uint8Array<ArrayBuffer>, at: number): [Uint8Array<ArrayBuffer>, number] {
  let buf = out;
  let o = at;
  for (let i = 0; i < text.length; i++) {
    if (o + 4 > buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    let cp = text.charCodeAt(i);
    if (cp < 0x80) {
      buf[o++] = cp;
      continue;
    }
    if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo < 0xe000) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp < 0x800) {
      buf[o++] = 0xc0 | (cp >> 6);
    } else if (cp < 0x10000) {
      buf[o++] = 0xe0 | (cp >> 12);
      buf[o++] = 0x80 | ((cp >> 6) & 63);
    } else {
      buf[o++] = 0xf0 | (cp >> 18);
      buf[o++] = 0x80 | ((cp >> 12) & 63);
      buf[o++] = 0x80 | ((cp >> 6) & 63);
    }
    buf[o++] = 0x80 | (cp & 63);
  }
  return [buf, o];
}

const w = new Int32Array(80);

/**
 * SHA-1 of `msg[0, length)`; returns the first 16 bytes of the digest (all a UUID needs). `msg` is scratch space: the
 * padding is written into it, so it must have room for it (`paddedLength(length)`).
 */
function sha1Prefix(msg: Uint8Array, length: number): Uint8Array {
  const end = paddedLength(length);
  msg.fill(0, length, end);
  msg[length] = 0x80;
  const bits = length * 8;
  msg[end - 4] = bits >>> 24;
  msg[end - 3] = bits >>> 16;
  msg[end - 2] = bits >>> 8;
  msg[end - 1] = bits;
  let h0 = 0x67452301;
  let h1 = 0xefcdab89 | 0;
  let h2 = 0x98badcfe | 0;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0 | 0;
  for (let chunk = 0; chunk < end; chunk += 64) {
    for (let i = 0; i < 16; i++) {
      const o = chunk + i * 4;
      w[i] =
        ((msg[o] as number) << 24) |
        ((msg[o + 1] as number) << 16) |
        ((msg[o + 2] as number) << 8) |
        (msg[o + 3] as number);
    }
    for (let i = 16; i < 80; i++) {
      const x = (w[i - 3] as number) ^ (w[i - 8] as number) ^ (w[i - 14] as number) ^ (w[i - 16] as number);
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let i = 0; i < 80; i++) {
      let f: number;
      let k: number;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const t = (((a << 5) | (a >>> 27)) + f + e + k + (w[i] as number)) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setInt32(0, h0);
  view.setInt32(4, h1);
  view.setInt32(8, h2);
  view.setInt32(12, h3);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

const paddedLength = (length: number) => Math.ceil((length + 9) / 64) * 64;

/** A UUIDv5 generator for one namespace (its bytes are parsed once; one scratch buffer serves every call). */
export function uuidV5(namespace: string): (name: string) => string {
  const hex = namespace.replace(/-/g, "");
  let scratch = new Uint8Array(256);
  for (let i = 0; i < 16; i++) scratch[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return (name) => {
    const [buf, length] = writeUtf8(name, scratch, 16);
    if (buf.length < paddedLength(length)) {
      scratch = new Uint8Array(paddedLength(length));
      scratch.set(buf.subarray(0, length));
    } else scratch = buf;
    const b = sha1Prefix(scratch, length);
    b[6] = ((b[6] as number) & 0x0f) | 0x50;
    b[8] = ((b[8] as number) & 0x3f) | 0x80;
    let s = "";
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) s += "-";
      s += HEX[b[i] as number];
    }
    return s;
  };
}
