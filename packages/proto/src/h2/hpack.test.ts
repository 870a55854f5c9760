import { describe, expect, it } from "vitest";
import { encodeHeaders, HpackDecoder, HpackError } from "./hpack.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** Checks the dynamic table through the public API: indexes 62.. give `entries` (newest first), the next is out. */
function expectTable(decoder: HpackDecoder, entries: string[][]) {
  const block = Buffer.from(entries.map((_, i) => 0x80 | (62 + i)));
  expect(decoder.decode(block)).toEqual(entries.flat());
  expect(() => decoder.decode(Buffer.from([0x80 | (62 + entries.length)]))).toThrow(HpackError);
}

/** A literal field without indexing named "x" whose value is `octets`, Huffman-flagged or not. */
function literal(octets: Uint8Array, huffman: boolean): Buffer {
  const head = [0x00, 0x01, 0x78];
  let n = octets.length;
  if (n < 127) head.push((huffman ? 0x80 : 0) | n);
  else {
    head.push((huffman ? 0x80 : 0) | 127);
    for (n -= 127; n >= 128; n = Math.floor(n / 128)) head.push((n & 0x7f) | 0x80);
    head.push(n);
  }
  return Buffer.concat([Buffer.from(head), octets]);
}

// RFC 7541 Appendix B code lengths of symbols 0..256 (EOS), one base-32 digit each.
const LENGTHS = [
  ..."dnsssssssoussussssssssusssssssss6aacd68baa8b8666555666666678f6cad67777777777777777777777878djde6f56565666577666",
  ..."567655677777fbedskmkkmmmnmnnnnnonoomnonnnnlmnmnnomlkmmnnlnmmolmnnllmlnmnnkmmmnmmnqqkjmnmpqqqrrqopjlqrrqrollqqsr",
  ..."rrkoklmllnmmppooqnqrqqrrrrrsrrrrrqu",
].map((d) => Number.parseInt(d, 32));

// The RFC's code is canonical: ordered by (length, symbol), each code is the previous + 1, shifted to its length.
const CODES: string[] = [];
{
  let code = 0n;
  let previous = 0;
  const order = LENGTHS.map((_, s) => s).sort((a, b) => (LENGTHS[a] as number) - (LENGTHS[b] as number) || a - b);
  for (const [i, symbol] of order.entries()) {
    const length = LENGTHS[symbol] as number;
    if (i > 0) code = (code + 1n) << BigInt(length - previous);
    previous = length;
    CODES[symbol] = code.toString(2).padStart(length, "0");
  }
}

/** Huffman-encodes octets with CODES, padding with the most significant bits of EOS (ones). */
function huffman(octets: Iterable<number>, codes: readonly string[] = CODES): Buffer {
  let bits = "";
  for (const o of octets) bits += codes[o];
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, "1");
  return Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => Number.parseInt(b, 2)));
}

describe("HpackDecoder: RFC 7541 Appendix C", () => {
  it("C.1 integers: 10 and 1337 in a 5-bit prefix (size updates), 42 in a 7-bit one", () => {
    expect(new HpackDecoder(10).decode(hex("2a"))).toEqual([]);
    expect(() => new HpackDecoder(9).decode(hex("2a"))).toThrow(HpackError);
    expect(new HpackDecoder(1337).decode(hex("3f 9a 0a"))).toEqual([]);
    expect(() => new HpackDecoder(1336).decode(hex("3f 9a 0a"))).toThrow(/1337/);
    expect(new HpackDecoder().decode(hex("aa"))).toEqual(["if-range", ""]);
    // Multi-byte string lengths: 300 = 127 + 173 → 7f ad 01.
    const long = Buffer.alloc(300, 0x61);
    expect(literal(long, false).subarray(3, 6)).toEqual(hex("7f ad 01"));
    expect(new HpackDecoder().decode(literal(long, false))).toEqual(["x", "a".repeat(300)]);
  });

  it("static table (Appendix A): indexes 1..61 in one block", () => {
    const entries = (
      ":authority :method=GET :method=POST :path=/ :path=/index.html :scheme=http :scheme=https :status=200 " +
      ":status=204 :status=206 :status=304 :status=400 :status=404 :status=500 accept-charset " +
      "accept-encoding=gzip,_deflate accept-language accept-ranges accept access-control-allow-origin age " +
      "allow authorization cache-control content-disposition content-encoding content-language " +
      "content-length content-location content-range content-type cookie date etag expect expires from host " +
      "if-match if-modified-since if-none-match if-range if-unmodified-since last-modified link location " +
      "max-forwards proxy-authenticate proxy-authorization range referer refresh retry-after server " +
      "set-cookie strict-transport-security transfer-encoding user-agent vary via www-authenticate"
    )
      .split(" ")
      .flatMap((e) => [...e.replace("_", " ").split("="), ""].slice(0, 2));
    const block = Buffer.from(Array.from({ length: 61 }, (_, i) => 0x81 + i));
    expect(new HpackDecoder().decode(block)).toEqual(entries);
  });

  it("C.2.1 literal with indexing", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))).toEqual([
      "custom-key",
      "custom-header",
    ]);
    expectTable(d, [["custom-key", "custom-header"]]);
  });

  it("C.2.2 literal without indexing, C.2.3 never indexed, C.2.4 indexed: table untouched", () => {
    const d = new HpackDecoder();
    expect(d.decode(hex("040c 2f73 616d 706c 652f 7061 7468"))).toEqual([":path", "/sample/path"]);
    expect(d.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74"))).toEqual(["password", "secret"]);
    expect(d.decode(new Uint8Array([0x82]))).toEqual([":method", "GET"]);
    expectTable(d, []);
  });

  /** Decodes `blocks` in order on one decoder; after each, checks the fields and the dynamic table (newest first). */
  function series(tableSize: number, blocks: string[], expected: [fields: string[], table: string[][]][]) {
    const d = new HpackDecoder(tableSize);
    for (const [i, block] of blocks.entries()) {
      const [fields, table] = expected[i] ?? [[], []];
      expect(d.decode(hex(block))).toEqual(fields);
      expectTable(d, table);
    }
  }

  const authority = [":authority", "www.example.com"];
  const cacheControl = ["cache-control", "no-cache"];
  const custom = ["custom-key", "custom-value"];
  const requests: [string[], string[][]][] = [
    [[":method", "GET", ":scheme", "http", ":path", "/", ...authority], [authority]],
    [
      [":method", "GET", ":scheme", "http", ":path", "/", ...authority, ...cacheControl],
      [cacheControl, authority],
    ],
    [
      [":method", "GET", ":scheme", "https", ":path", "/index.html", ...authority, ...custom],
      [custom, cacheControl, authority],
    ],
  ];
  it("C.3 requests share one dynamic table", () => {
    const blocks = [
      "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "8286 84be 5808 6e6f 2d63 6163 6865",
      "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ];
    series(4096, blocks, requests);
  });
  it("C.4 requests with Huffman share one dynamic table", () => {
    const blocks = [
      "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
      "8286 84be 5886 a8eb 1064 9cbf",
      "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ];
    series(4096, blocks, requests);
  });

  const date1 = ["date", "Mon, 21 Oct 2013 20:13:21 GMT"];
  const date2 = ["date", "Mon, 21 Oct 2013 20:13:22 GMT"];
  const location = ["location", "https://www.example.com"];
  const privateCc = ["cache-control", "private"];
  const gzip = ["content-encoding", "gzip"];
  const cookie = ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"];
  const responses: [string[], string[][]][] = [
    [
      [":status", "302", ...privateCc, ...date1, ...location],
      [location, date1, privateCc, [":status", "302"]],
    ],
    [
      [":status", "307", ...privateCc, ...date1, ...location],
      [[":status", "307"], location, date1, privateCc],
    ],
    [
      [":status", "200", ...privateCc, ...date2, ...location, ...gzip, ...cookie],
      [cookie, gzip, date2],
    ],
  ];
  it("C.5 responses with a 256-octet table evict the oldest entries", () => {
    const blocks = [
      "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120" +
        "474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "4803 3330 37c1 c0bf",
      "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738" +
        "666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33" +
        "3630 303b 2076 6572 7369 6f6e 3d31",
    ];
    series(256, blocks, responses);
  });
  it("C.6 responses with Huffman and a 256-octet table evict the oldest entries", () => {
    const blocks = [
      "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718" +
        "63c7 8f0b 97c8 e9ae 82ae 43d3",
      "4883 640e ffc1 c0bf",
      "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7" +
        "b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ];
    series(256, blocks, responses);
  });
});

describe("HpackDecoder: malformed blocks throw HpackError", () => {
  it.each([
    ["index 0", "80"],
    ["indexed field beyond the static table, empty dynamic table", "be"],
    ["literal name index out of range", "0f 2f 01 61"],
    ["string length beyond the block", "00 05 61 62"],
    ["missing name", "00"],
    ["missing value", "40 01 61"],
    ["integer cut before its continuation", "ff"],
    ["integer cut inside its continuation", "ff 80"],
    ["more than 5 continuation bytes (size update 31, zero-padded)", "3f 80 80 80 80 80 00"],
    ["size update after a field", "82 20"],
    ["size update above SETTINGS_HEADER_TABLE_SIZE (4097)", "3f e2 1f"],
    ["Huffman: EOS inside the string", "00 01 78 85 ff ff ff ff fc"],
    ["Huffman: EOS ending in a high nibble", "00 01 78 85 1f ff ff ff f7"],
    ["Huffman: a whole byte of padding", "00 01 78 81 ff"],
    ["Huffman: 'a' then 11 bits of padding", "00 01 78 82 1f ff"],
    ["Huffman: 'a' then 29 bits of padding", "00 01 78 85 ff 9f ff ff ff"],
    ["Huffman: padding that is not ones", "00 01 78 81 18"],
  ])("%s", (_, block) => {
    expect(() => new HpackDecoder().decode(hex(block))).toThrow(HpackError);
  });

  it("caps integers at 2^31 - 1", () => {
    expect(() => new HpackDecoder().decode(hex("ff ff ff ff ff 0f"))).toThrow(/too large/);
    expect(() => new HpackDecoder().decode(hex("ff 80 ff ff ff 07"))).toThrow(/out of range/); // 2^31 - 1
  });

  it("accepts two size updates at the start of a block (4096 = 3f e1 1f) and evicts on shrink", () => {
    const d = new HpackDecoder();
    d.decode(hex("40 01 61 01 62"));
    expectTable(d, [["a", "b"]]);
    expect(d.decode(hex("20 3f e1 1f 82"))).toEqual([":method", "GET"]);
    expectTable(d, []);
  });

  it("an entry larger than the table empties it instead of being added", () => {
    const d = new HpackDecoder(40);
    d.decode(hex("40 01 61 01 62"));
    expectTable(d, [["a", "b"]]);
    expect(d.decode(hex("40 01 61 08 3031323334353637"))).toEqual(["a", "01234567"]);
    expectTable(d, []);
  });
});

describe("Huffman decoding", () => {
  // Spot checks against RFC 7541 Appendix B: symbol:code in hex:bit length.
  const spots = (
    "0:1ff8:13 1:7fffd8:23 9:ffffea:24 10:3ffffffc:30 13:3ffffffd:30 22:3ffffffe:30 32:14:6 34:3f9:10 " +
    "48:0:5 49:1:5 50:2:5 97:3:5 99:4:5 101:5:5 105:6:5 111:7:5 115:8:5 116:9:5 58:5c:7 60:7ffc:15 " +
    "92:7fff0:19 123:7ffe:15 127:ffffffc:28 128:fffe6:20 200:3ffffe2:26 249:ffffffe:28 254:7fffff0:27 " +
    "255:3ffffee:26"
  )
    .split(" ")
    .map((spot) => spot.split(":").map((n, i) => Number.parseInt(n, i === 1 ? 16 : 10)) as [number, number, number]);
  const fromRfc: string[] = [];
  for (const [symbol, code, length] of spots) fromRfc[symbol] = code.toString(2).padStart(length, "0");

  it.each(spots)("symbol %i: code %s / %i bits decodes", (symbol, _, length) => {
    expect(CODES[symbol]).toBe(fromRfc[symbol]);
    expect(CODES[symbol]).toHaveLength(length);
    const block = literal(huffman([symbol, symbol], fromRfc), true);
    expect(new HpackDecoder().decode(block)).toEqual(["x", String.fromCharCode(symbol, symbol)]);
  });

  it("every octet 0..255 decodes from the canonical code built from the lengths", () => {
    const all = Array.from({ length: 256 }, (_, i) => i);
    const expected = String.fromCharCode(...all);
    const d = new HpackDecoder();
    expect(d.decode(literal(huffman(all), true))).toEqual(["x", expected]);
    expect(d.decode(literal(huffman(all.reverse()), true))).toEqual(["x", [...expected].reverse().join("")]);
    for (const octet of all)
      expect(d.decode(literal(huffman([octet]), true))).toEqual(["x", String.fromCharCode(octet)]);
    expect(d.decode(literal(huffman([]), true))).toEqual(["x", ""]);
  });
});

describe("encodeHeaders", () => {
  it.each([
    [[":method", "POST", ":scheme", "http"], "83 86"],
    [[":path", "/sample/path"], "04 0c 2f73616d706c652f70617468"],
    [[":status", "200", ":authority", "a"], "88 01 01 61"],
    [["content-type", "application/grpc"], "0f 10 10 6170706c69636174696f6e2f67727063"],
    [["te", "trailers"], "00 02 7465 08 747261696c657273"],
    [["accept-encoding", ""], "0f 01 00"],
    [[], ""],
  ])("%j → %s", (list, bytes) => {
    expect(encodeHeaders(list).toString("hex")).toBe(bytes.replace(/ /g, ""));
  });

  it("round-trips 600 random lists through one decoder without touching its table", () => {
    let seed = 0x2545f491;
    const random = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const staticNames = [":method", ":path", ":status", "content-type", "accept-encoding", "www-authenticate", "age"];
    const staticValues = ["GET", "POST", "/", "200", "gzip, deflate", ""];
    const d = new HpackDecoder();
    for (let list = 0; list < 600; list++) {
      const headers: string[] = [];
      for (let n = random(12); n > 0; n--) {
        const name =
          random(2) === 0
            ? (staticNames[random(staticNames.length)] as string)
            : Array.from({ length: 1 + random(20) }, () => "abcdefghijklmnopqrstuvwxyz0123456789-_"[random(38)]).join(
                "",
              );
        const long = random(50) === 0 ? 70_000 : 300;
        const value =
          random(4) === 0
            ? (staticValues[random(staticValues.length)] as string)
            : String.fromCharCode(...Array.from({ length: random(long + 1) }, () => random(256)));
        headers.push(name, value);
      }
      expect(d.decode(encodeHeaders(headers))).toEqual(headers);
    }
    expectTable(d, []);
  });
});
