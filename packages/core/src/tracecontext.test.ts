import { describe, expect, it } from "vitest";
import { formatTraceParent, parseTraceParent } from "./tracecontext.js";

describe("traceparent", () => {
  const valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  it("parses and formats a W3C traceparent", () => {
    const parsed = parseTraceParent(valid);
    expect(parsed).toEqual({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 });
    expect(formatTraceParent(parsed as NonNullable<typeof parsed>)).toBe(valid);
  });
  it.each([
    undefined,
    "",
    "0af7651916cd43dd8448eb211c80319c",
    "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
  ])("rejects %j", (value) => {
    expect(parseTraceParent(value)).toBeUndefined();
  });
});
