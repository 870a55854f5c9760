import { describe, expect, it } from "vitest";
import { asUsageError } from "./command.js";
import { DEFAULT_DB, DEFAULT_HOST, DEFAULT_PORT, jsonLogger, parseSidecarArgs, readinessLine } from "./sidecar.js";

/** The UsageError message parseSidecarArgs fails with (parseArgs' own errors count as usage errors too). */
function usageError(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseSidecarArgs(args, env);
  } catch (error) {
    const usage = asUsageError(error);
    if (usage === undefined) throw error;
    return usage.message;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(args)}`);
}

describe("parseSidecarArgs", () => {
  it("has defaults: 127.0.0.1:4001, ./dt.sqlite, no token, quiet", () => {
    expect(parseSidecarArgs([])).toEqual({
      help: false,
      host: DEFAULT_HOST,
      port: DEFAULT_PORT,
      store: { kind: "sqlite", path: DEFAULT_DB },
      apiToken: undefined,
      maxMessageBytes: undefined,
      verbose: false,
    });
    expect(DEFAULT_HOST).toBe("127.0.0.1");
    expect(DEFAULT_PORT).toBe(4001);
    expect(DEFAULT_DB).toBe("./dt.sqlite");
  });

  it("reads every flag, in both --flag value and --flag=value forms", () => {
    expect(
      parseSidecarArgs([
        "--port=5005",
        "--host",
        "0.0.0.0",
        "--db",
        "/tmp/x.sqlite",
        "--api-token",
        "secret",
        "--max-message-bytes=1048576",
        "-v",
      ]),
    ).toEqual({
      help: false,
      host: "0.0.0.0",
      port: 5005,
      store: { kind: "sqlite", path: "/tmp/x.sqlite" },
      apiToken: "secret",
      maxMessageBytes: 1_048_576,
      verbose: true,
    });
    expect(parseSidecarArgs(["--memory", "--port", "0", "--verbose"])).toMatchObject({
      port: 0,
      store: { kind: "memory" },
      verbose: true,
    });
    expect(parseSidecarArgs(["-h"]).help).toBe(true);
    expect(parseSidecarArgs(["--help"]).help).toBe(true);
  });

  it("reads --socket: a Unix socket instead of host and port", () => {
    expect(parseSidecarArgs(["--socket", "/run/dt.sock", "--memory"])).toMatchObject({
      socket: "/run/dt.sock",
      store: { kind: "memory" },
    });
    expect(parseSidecarArgs([]).socket).toBeUndefined();
  });

  it("takes the API token from DAPR_API_TOKEN unless --api-token is given; an empty variable means none", () => {
    expect(parseSidecarArgs([], { DAPR_API_TOKEN: "from-env" }).apiToken).toBe("from-env");
    expect(parseSidecarArgs(["--api-token", "flag"], { DAPR_API_TOKEN: "from-env" }).apiToken).toBe("flag");
    expect(parseSidecarArgs([], { DAPR_API_TOKEN: "" }).apiToken).toBeUndefined();
  });

  it.each([
    [["--port", "abc"], /--port must be an integer/],
    [["--port", "-1"], /--port|argument/],
    [["--port", "65536"], /--port must be between 0 and 65535/],
    [["--port", "1.5"], /--port must be an integer/],
    [["--port"], /argument missing/],
    [["--db", "a.sqlite", "--memory"], /--db and --memory exclude each other/],
    [["--db="], /--db must not be empty/],
    [["--host="], /--host must not be empty/],
    [["--api-token="], /--api-token must not be empty/],
    [["--max-message-bytes", "12"], /--max-message-bytes must be between 1024/],
    [["--max-message-bytes", "4MiB"], /--max-message-bytes must be an integer/],
    [["--bogus"], /Unknown option '--bogus'/],
    [["extra"], /Unexpected argument 'extra'/],
    [["--memory=yes"], /--memory/],
    [["--socket="], /--socket must not be empty/],
    [["--socket", "/tmp/dt.sock", "--port", "0"], /--socket excludes --host and --port/],
    [["--socket", "/tmp/dt.sock", "--host", "::1"], /--socket excludes --host and --port/],
  ])("refuses %j as a usage error", (args, pattern) => {
    expect(usageError(args)).toMatch(pattern);
  });
});

describe("readinessLine", () => {
  it("names the address and the store", () => {
    expect(readinessLine("127.0.0.1:4001", { kind: "sqlite", path: "./dt.sqlite" })).toBe(
      "dt sidecar listening on 127.0.0.1:4001 (sqlite: ./dt.sqlite)",
    );
    expect(readinessLine("127.0.0.1:5000", { kind: "memory" })).toBe("dt sidecar listening on 127.0.0.1:5000 (memory)");
  });
});

describe("jsonLogger", () => {
  it("writes JSON lines; debug and info only when verbose", () => {
    const quiet: string[] = [];
    const q = jsonLogger((line) => quiet.push(line), false);
    q.debug("d");
    q.info("i", { a: 1 });
    q.warn("w", { b: 2 });
    q.error("e");
    expect(quiet.map((line) => JSON.parse(line))).toEqual([
      { time: expect.any(String), level: "warn", msg: "w", b: 2 },
      { time: expect.any(String), level: "error", msg: "e" },
    ]);
    const loud: string[] = [];
    const l = jsonLogger((line) => loud.push(line), true);
    l.debug("d");
    l.info("i", { a: 1 });
    expect(loud.map((line) => JSON.parse(line))).toEqual([
      { time: expect.any(String), level: "debug", msg: "d" },
      { time: expect.any(String), level: "info", msg: "i", a: 1 },
    ]);
  });

  it("still logs the message when attributes cannot be serialized", () => {
    const lines: string[] = [];
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    jsonLogger((line) => lines.push(line), true).warn("w", cyclic);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ level: "warn", msg: "w" });
  });
});
