import { readFileSync } from "node:fs";
import { InvalidArgumentError, SidecarError, WorkflowNotFoundError, WorkflowTimeoutError } from "@dt/core";
import { describe, expect, it } from "vitest";
import {
  EXIT_CODES,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_NOT_FOUND,
  EXIT_TIMEOUT,
  EXIT_USAGE,
  exitCodeFor,
  exitCodesHelp,
  UsageError,
} from "./command.js";

describe("exitCodeFor", () => {
  it("maps errors to the documented exit codes", () => {
    expect(exitCodeFor(new UsageError("bad"))).toBe(EXIT_USAGE);
    expect(exitCodeFor(Object.assign(new TypeError("x"), { code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" }))).toBe(EXIT_USAGE);
    expect(exitCodeFor(new WorkflowNotFoundError("x"))).toBe(EXIT_NOT_FOUND);
    expect(exitCodeFor(new WorkflowTimeoutError("late"))).toBe(EXIT_TIMEOUT);
    expect(exitCodeFor(new DOMException("stop", "AbortError"))).toBe(EXIT_INTERRUPTED);
    expect(exitCodeFor(new SidecarError("SIDECAR_UNAVAILABLE", "UNAVAILABLE", "down"))).toBe(EXIT_FAILURE);
    expect(exitCodeFor(new SidecarError("UNIMPLEMENTED", "UNIMPLEMENTED", "no"))).toBe(EXIT_FAILURE);
    // A bad argument the sidecar refused (e.g. rerun from an event that is not there) is not a CLI usage error.
    expect(exitCodeFor(new InvalidArgumentError("no such event"))).toBe(EXIT_FAILURE);
    expect(exitCodeFor(new Error("bug"))).toBe(EXIT_FAILURE);
    expect(exitCodeFor("thrown string")).toBe(EXIT_FAILURE);
    expect(exitCodeFor(null)).toBe(EXIT_FAILURE);
  });
});

describe("EXIT_CODES", () => {
  it("are distinct, ascending, and 0-5 plus 130", () => {
    expect(EXIT_CODES.map((row) => row.code)).toEqual([0, 1, 2, 3, 4, 5, 130]);
  });

  it("render as help text, optionally a subset", () => {
    expect(exitCodesHelp().split("\n")).toHaveLength(EXIT_CODES.length + 1);
    expect(exitCodesHelp([0, 3])).toBe(
      "Exit codes:\n  0    success (run --wait: the workflow COMPLETED)\n  3    no such workflow instance (WORKFLOW_NOT_FOUND)",
    );
  });

  it("are the table in README.md, word for word", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const rows = [...readme.matchAll(/^\| `(\d+)` +\| (.+?) +\|$/gm)].map((m) => ({
      code: Number(m[1]),
      meaning: m[2],
    }));
    expect(rows).toEqual(EXIT_CODES);
  });
});
