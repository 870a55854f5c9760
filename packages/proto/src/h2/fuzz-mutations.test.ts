// Property tests that feed mutated well-formed conversations to the HTTP/2 client, and random header blocks to the
// HPACK decoder (see fuzz.test.ts for what each case must satisfy; DT_FUZZ_RUNS scales both files).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { H2Connection } from "./connection.js";
import { encodeHeaders, HeaderListTooLarge, HpackDecoder, HpackError } from "./hpack.js";
import {
  BODIES,
  type Case,
  check,
  cuts,
  MAX_HEADER_LIST,
  Probe,
  REQUEST_BLOCK,
  run,
  runs,
  timeout,
} from "./testing/fuzz-harness.js";
import { headerBlock, mutate, mutation } from "./testing/fuzz-model.js";
import { MemorySocket } from "./testing/memory-socket.js";
import {
  data,
  END_HEADERS,
  END_STREAM,
  frame,
  GOAWAY,
  GRPC_OK,
  headers,
  OK,
  PING,
  settings,
  windowUpdate,
} from "./testing/peer.js";

describe("H2Connection under fuzzed conversations", () => {
  it(
    `survives mutated well-formed conversations, and completes them unmutated (${runs(0.3)} cases)`,
    async () => {
      const conversation = (n: number) => {
        const frames: Buffer[] = [settings([0x3, 100]), frame(PING, 0, 0, Buffer.alloc(8))];
        for (let i = 0; i < n; i++) {
          const id = 1 + 2 * i;
          const message = Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from("abc")]);
          frames.push(headers(id, OK), data(id, message), windowUpdate(0, 100), windowUpdate(id, 100));
          frames.push(headers(id, GRPC_OK, END_HEADERS | END_STREAM));
        }
        frames.push(frame(GOAWAY, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])));
        return Buffer.concat(frames);
      };
      const cases = fc.record({
        n: fc.integer({ min: 1, max: 4 }),
        mutations: fc.oneof(fc.constant([]), fc.array(mutation, { minLength: 1, maxLength: 6 })),
        cuts,
      });
      await fc.assert(
        fc.asyncProperty(cases, async ({ n, mutations, cuts }) => {
          const bytes = mutate(conversation(n), mutations);
          const c: Case = {
            reads: true,
            preface: bytes,
            requests: Array.from({ length: n }, () => 1),
            ops: [],
            cuts,
          };
          if (mutations.length > 0) return run(c);
          // Unmutated, every call must succeed however the bytes are cut: the reader and the harness are sound.
          const socket = new MemorySocket();
          const conn = new H2Connection({ host: "fuzz.invalid", port: 1, socket });
          const probes = c.requests.map(() => {
            const probe = new Probe();
            conn.request(REQUEST_BLOCK, BODIES[1] as Buffer, probe);
            return probe;
          });
          for (let offset = 0, i = 0; offset < bytes.length; i++) {
            const size = cuts.length === 0 ? bytes.length : (cuts[i % cuts.length] as number);
            socket.feed(bytes.subarray(offset, offset + size));
            offset += size;
          }
          for (const probe of probes) check(probe.closes === 1 && probe.error === undefined, "a clean call failed");
          check(
            probes.every((p) => p.received === 8 && p.blocks === 2),
            "a clean call lost data",
          );
          socket.destroy();
        }),
        { numRuns: runs(0.3) },
      );
    },
    timeout(0.3),
  );
});

describe("HpackDecoder under fuzzed header blocks", () => {
  it(
    `throws only HpackError or HeaderListTooLarge, and keeps lists within the limit (${runs(0.1)} cases)`,
    () => {
      const blocks = fc.array(fc.tuple(headerBlock, fc.array(mutation, { maxLength: 3 })), { maxLength: 6 });
      fc.assert(
        fc.property(blocks, (list) => {
          const decoder = new HpackDecoder(4096, MAX_HEADER_LIST);
          for (const [block, mutations] of list) {
            try {
              const fields = decoder.decode(mutate(block, mutations));
              let size = 0;
              for (let i = 0; i < fields.length; i += 2)
                size += (fields[i] as string).length + (fields[i + 1] as string).length + 32;
              check(size <= MAX_HEADER_LIST, `a list of ${size} bytes`);
            } catch (error) {
              if (error instanceof HeaderListTooLarge) continue;
              check(error instanceof HpackError, `threw ${String(error)}`);
              return; // the connection would end here
            }
          }
        }),
        { numRuns: runs(0.1) },
      );
    },
    timeout(0.1),
  );

  it(
    `decodes what encodeHeaders encodes (${runs(0.1)} cases)`,
    () => {
      const name = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
      const value = fc.string({ maxLength: 60 }).map((s) => Buffer.from(s, "latin1").toString("latin1"));
      const lists = fc.array(fc.tuple(fc.oneof(name, fc.constantFrom(":status", "content-type", "te")), value));
      fc.assert(
        fc.property(lists, (pairs) => {
          const list = pairs.flat();
          expect(new HpackDecoder().decode(encodeHeaders(list))).toEqual(list);
        }),
        { numRuns: runs(0.1) },
      );
    },
    timeout(0.1),
  );
});
