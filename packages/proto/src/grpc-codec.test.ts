import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EnvelopeReader,
  encodeEnvelope,
  encodeTimeout,
  parseTimeout,
  statusTrailers,
  trailerError,
} from "./grpc-codec.js";
import { WorkItemSchema } from "./index.js";

describe("EnvelopeReader", () => {
  it("yields the same messages however the bytes are split into chunks", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (messages, cuts) => {
          const wire = Buffer.concat(messages.map(encodeEnvelope));
          const reader = new EnvelopeReader(1000, "limit");
          const seen: Buffer[] = [];
          let offset = 0;
          for (let i = 0; offset < wire.length; i++) {
            const size = cuts[i % cuts.length] as number;
            reader.push(wire.subarray(offset, offset + size), (m) => seen.push(Buffer.from(m)));
            offset += size;
          }
          expect(seen.map((m) => m.toString("hex"))).toEqual(messages.map((m) => Buffer.from(m).toString("hex")));
          expect(reader.pending).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("does not copy a message that arrives in one chunk", () => {
    const frame = encodeEnvelope(Buffer.from("hello"));
    const reader = new EnvelopeReader(100, "limit");
    let message: Buffer | undefined;
    reader.push(frame, (m) => {
      message = m;
    });
    expect(message?.buffer).toBe(frame.buffer);
  });

  it("counts an incomplete message as pending", () => {
    const reader = new EnvelopeReader(100, "limit");
    reader.push(encodeEnvelope(Buffer.from("hello")).subarray(0, 7), () => {});
    expect(reader.pending).toBe(7);
  });

  it("refuses a message over the limit from its prefix alone, naming the option", () => {
    const reader = new EnvelopeReader(1024, "maxReceiveMessageBytes");
    const prefix = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]); // a 4 GiB length, no body
    const error = catchError(() => reader.push(prefix, () => {}));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toMatch(/4294967295 exceeds the limit of 1024 bytes \(maxReceiveMessageBytes\)/);
  });

  it("refuses a compressed message", () => {
    const reader = new EnvelopeReader(1024, "limit");
    const error = catchError(() => reader.push(Buffer.from([1, 0, 0, 0, 0]), () => {}));
    expect(error.code).toBe(Code.Internal);
  });
});

describe("grpc-timeout", () => {
  it.each([
    [1, "1m"],
    [0.2, "1m"],
    [99_999_999, "99999999m"],
    [28 * 3_600_000, "100800S"],
    [30 * 86_400_000, "2592000S"],
    [99_999_999_001, "1666667M"],
    [1e14, "27777778H"],
  ])("%d ms is sent as %s (at most 8 digits)", (ms, header) => {
    expect(encodeTimeout(ms)).toBe(header);
    expect(parseTimeout(header)).toBeGreaterThanOrEqual(Math.ceil(ms));
  });

  it("never writes more than 8 digits or a deadline shorter than asked", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e18, noNaN: true }), (ms) => {
        const header = encodeTimeout(ms);
        expect(header).toMatch(/^\d{1,8}[mSMH]$/);
        expect(parseTimeout(header)).toBeGreaterThanOrEqual(Math.min(Math.ceil(ms), 99_999_999 * 3_600_000));
      }),
    );
  });

  it("parses every unit and rejects malformed values with INVALID_ARGUMENT", () => {
    expect(parseTimeout("2H")).toBe(7_200_000);
    expect(parseTimeout("3M")).toBe(180_000);
    expect(parseTimeout("4S")).toBe(4000);
    expect(parseTimeout("5000u")).toBe(5);
    expect(parseTimeout("5000000n")).toBe(5);
    expect(parseTimeout(undefined)).toBeUndefined();
    for (const bad of ["123456789m", "10", "1x", "-1S", ""]) {
      expect(catchError(() => parseTimeout(bad)).code).toBe(Code.InvalidArgument);
    }
  });
});

describe("trailerError", () => {
  it("is undefined for OK and UNKNOWN without a status", () => {
    expect(trailerError(new Headers({ "grpc-status": "0" }))).toBeUndefined();
    expect(trailerError(new Headers())?.code).toBe(Code.Unknown);
  });

  it("decodes the status, the percent-encoded message and rich details", () => {
    const sent = new ConnectError("bad input: ünïcode", Code.InvalidArgument);
    sent.details.push({ desc: WorkItemSchema, value: create(WorkItemSchema, { completionToken: "t" }) });
    const error = trailerError(setTrailerStatus(new Headers(), sent));
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toBe("bad input: ünïcode");
    expect(error?.findDetails(WorkItemSchema)[0]?.completionToken).toBe("t");
  });

  it("reads a status that is not a gRPC code as INTERNAL, never NaN", () => {
    for (const garbage of ["abc", "99", "-1", "1.5"]) {
      const error = trailerError(new Headers({ "grpc-status": garbage }));
      expect(error?.code).toBe(Code.Internal);
    }
  });

  it("reads back what statusTrailers writes (the sidecar's trailers), details included", () => {
    expect(statusTrailers(undefined)).toEqual({ "grpc-status": "0" });
    const sent = new ConnectError("100% gone", Code.NotFound);
    sent.details.push({ desc: WorkItemSchema, value: create(WorkItemSchema, { completionToken: "x" }) });
    const fields = statusTrailers(sent);
    expect(fields["grpc-message"]).toBe("100%25%20gone");
    const error = trailerError(new Headers(fields));
    expect([error?.code, error?.rawMessage]).toEqual([Code.NotFound, "100% gone"]);
    expect(error?.findDetails(WorkItemSchema)[0]?.completionToken).toBe("x");
  });

  it("keeps the status when the details header does not decode", () => {
    const error = trailerError(
      new Headers({ "grpc-status": "5", "grpc-message": "gone", "grpc-status-details-bin": "%%%not-base64" }),
    );
    expect(error?.code).toBe(Code.NotFound);
    expect(error?.rawMessage).toMatch(/gone/);
  });
});

function catchError(fn: () => unknown): ConnectError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw error;
  }
  throw new Error("expected a ConnectError");
}
