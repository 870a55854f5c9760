import { PassThrough } from "node:stream";
import { stripVTControlCharacters } from "node:util";
import { describe, expect, it, vi } from "vitest";
import type { OutputStream } from "./command.js";
import {
  formatFields,
  formatJson,
  formatTable,
  formatTime,
  plain,
  type Styler,
  startSpinner,
  statusFormat,
  styler,
  truncate,
} from "./output.js";

/** A styler that always colours (as a colour terminal would), to check alignment around escape codes. */
const ansi: Styler = (_format, text) => `\x1b[31m${text}\x1b[39m`;

function recorder(isTTY: boolean): OutputStream & { text(): string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  stream.isTTY = isTTY;
  let written = "";
  // Still a stream (styleText checks that), but writes are recorded synchronously.
  stream.write = ((chunk: string) => {
    written += chunk;
    return true;
  }) as typeof stream.write;
  return Object.assign(stream, { text: () => written });
}

describe("formatTable", () => {
  it("aligns columns two spaces apart, without trailing spaces", () => {
    expect(
      formatTable(
        ["ID", "NAME", "STATUS"],
        [
          ["a", "short", "RUNNING"],
          ["long-id", "n", "COMPLETED"],
        ],
        plain,
      ),
    ).toEqual(["ID       NAME   STATUS", "a        short  RUNNING", "long-id  n      COMPLETED"]);
  });

  it("pads on the visible text, so coloured cells stay aligned", () => {
    const lines = formatTable(
      ["A", "B"],
      [
        [{ text: "x", format: "green" }, "y"],
        ["wide", "z"],
      ],
      ansi,
    );
    expect(lines.map((line) => stripVTControlCharacters(line))).toEqual(["A     B", "x     y", "wide  z"]);
    expect(lines[1]).toBe("\x1b[31mx\x1b[39m     y");
  });

  it("leaves empty cells empty", () => {
    expect(formatTable(["A", "B", "C"], [["", "b", ""]], plain)).toEqual(["A  B  C", "   b"]);
  });
});

describe("formatFields", () => {
  it("aligns values, leaves out undefined ones and indents continuation lines", () => {
    expect(
      formatFields(
        [
          ["Instance ID", "abc"],
          ["Output", undefined],
          ["Failure", "Error: x\ncaused by y"],
        ],
        plain,
      ),
    ).toEqual(["Instance ID:  abc", "Failure:      Error: x\n              caused by y"]);
  });
});

describe("values", () => {
  it("formats times to the second in UTC, '-' when absent", () => {
    expect(formatTime(new Date("2025-01-15T10:00:00.987Z"))).toBe("2025-01-15T10:00:00Z");
    expect(formatTime(undefined)).toBe("-");
    expect(formatTime(new Date(Number.NaN))).toBe("-");
  });

  it("truncates to one line", () => {
    expect(truncate("abc", 3)).toBe("abc");
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("a\n  b", 10)).toBe("a b");
  });

  it("prints indented JSON with bigints as strings", () => {
    expect(formatJson({ a: 1n, b: [true] })).toBe('{\n  "a": "1",\n  "b": [\n    true\n  ]\n}');
  });

  it("colours statuses by outcome", () => {
    expect(statusFormat("COMPLETED")).toBe("green");
    expect(statusFormat("FAILED")).toBe("red");
    expect(statusFormat("TERMINATED")).toBe("yellow");
    expect(statusFormat("RUNNING")).toBe("cyan");
    expect(statusFormat("WHATEVER")).toBeUndefined();
  });
});

describe("styler", () => {
  it("is plain without a stream and on a stream that is not a terminal", () => {
    expect(styler(undefined)("red", "x")).toBe("x");
    expect(styler(recorder(false))("red", "x")).toBe("x");
  });

  it("colours a terminal stream (through node:util styleText)", () => {
    vi.stubEnv("FORCE_COLOR", undefined);
    vi.stubEnv("NO_COLOR", undefined);
    try {
      expect(styler(recorder(true))("red", "x")).toBe("\x1b[31mx\x1b[39m");
      expect(styler(recorder(true))("red", "")).toBe("");
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("startSpinner", () => {
  it("draws nothing unless the stream is a terminal", () => {
    const stream = recorder(false);
    const spinner = startSpinner(stream, () => "waiting");
    spinner.stop();
    expect(stream.text()).toBe("");
    startSpinner(undefined, () => "waiting").stop();
  });

  it("redraws one line on a terminal and clears it when stopped", () => {
    vi.useFakeTimers();
    try {
      const stream = recorder(true);
      let n = 0;
      const spinner = startSpinner(stream, () => `waiting ${++n}`, 80);
      vi.advanceTimersByTime(170);
      spinner.stop();
      spinner.stop(); // idempotent
      vi.advanceTimersByTime(500); // no more frames after stop
      const frames = stream.text().split("\r\x1b[2K");
      expect(frames[0]).toBe("");
      expect(frames.slice(1, -1).map((frame) => stripVTControlCharacters(frame))).toEqual([
        "⠋ waiting 1",
        "⠙ waiting 2",
        "⠹ waiting 3",
      ]);
      expect(frames.at(-1)).toBe(""); // the line is cleared last
    } finally {
      vi.useRealTimers();
    }
  });
});
