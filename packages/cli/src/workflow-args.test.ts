import { describe, expect, it } from "vitest";
import { asUsageError } from "./command.js";
import {
  parseDuration,
  parseStatuses,
  parseTime,
  parseTimeout,
  parseWorkflowArgs,
  resolveConnection,
  SUBCOMMANDS,
  subcommandHelp,
  wantsHelp,
  workflowHelp,
} from "./workflow-args.js";

function usageError(sub: string, args: string[]): string {
  try {
    parseWorkflowArgs(sub, args);
  } catch (error) {
    const usage = asUsageError(error);
    if (usage !== undefined) return usage.message;
    throw error;
  }
  throw new Error(`expected a usage error for ${sub} ${JSON.stringify(args)}`);
}

describe("parseWorkflowArgs", () => {
  it("parses run with every option", () => {
    expect(
      parseWorkflowArgs("run", [
        "order",
        "--input",
        '{"id":1}',
        "--instance-id",
        "o-1",
        "--start-at",
        "2030-01-15T10:00:00Z",
        "--wait",
        "--timeout",
        "90s",
        "--json",
        "--address",
        "127.0.0.1:5000",
        "--api-token",
        "t",
      ]),
    ).toEqual({
      sub: "run",
      name: "order",
      input: { id: 1 },
      hasInput: true,
      instanceId: "o-1",
      startAt: new Date("2030-01-15T10:00:00Z"),
      wait: true,
      timeoutMs: 90_000,
      json: true,
      address: "127.0.0.1:5000",
      apiToken: "t",
    });
  });

  it("keeps JSON null and false inputs apart from no input", () => {
    expect(parseWorkflowArgs("run", ["w", "--input", "null"])).toMatchObject({ input: null, hasInput: true });
    expect(parseWorkflowArgs("run", ["w", "--input", "false"])).toMatchObject({ input: false, hasInput: true });
    expect(parseWorkflowArgs("run", ["w"])).toMatchObject({
      input: undefined,
      hasInput: false,
      wait: false,
      timeoutMs: undefined,
      json: false,
      address: undefined,
      apiToken: undefined,
    });
  });

  it("takes seconds or a duration for --timeout", () => {
    expect(parseWorkflowArgs("run", ["w", "--wait", "--timeout", "2.5"])).toMatchObject({ timeoutMs: 2500 });
    expect(parseWorkflowArgs("run", ["w", "--wait", "--timeout=1m30s"])).toMatchObject({ timeoutMs: 90_000 });
  });

  it("parses list filters", () => {
    expect(
      parseWorkflowArgs("list", ["--filter-status", "running, Completed,RUNNING", "-w", "order", "--page-size", "50"]),
    ).toEqual({
      sub: "list",
      statuses: ["RUNNING", "COMPLETED"],
      name: "order",
      pageSize: 50,
      json: false,
      address: undefined,
      apiToken: undefined,
    });
    expect(parseWorkflowArgs("list", ["-s", "FAILED"])).toMatchObject({ statuses: ["FAILED"], name: undefined });
  });

  it("parses get, history, suspend, resume", () => {
    expect(parseWorkflowArgs("get", ["abc", "--json"])).toMatchObject({ sub: "get", instanceId: "abc", json: true });
    expect(parseWorkflowArgs("history", ["abc"])).toMatchObject({ sub: "history", instanceId: "abc" });
    expect(parseWorkflowArgs("suspend", ["abc", "--reason", "maintenance"])).toMatchObject({
      sub: "suspend",
      instanceId: "abc",
      reason: "maintenance",
    });
    expect(parseWorkflowArgs("resume", ["abc"])).toMatchObject({ sub: "resume", instanceId: "abc", reason: undefined });
    // An id that looks like a flag goes after `--`.
    expect(parseWorkflowArgs("get", ["--", "-odd-id"])).toMatchObject({ instanceId: "-odd-id" });
  });

  it("splits raise-event's <id>/<event> at the last slash, or takes two arguments", () => {
    expect(parseWorkflowArgs("raise-event", ["order-1/approval", "--input", '"bob"'])).toMatchObject({
      instanceId: "order-1",
      eventName: "approval",
      input: "bob",
      hasInput: true,
    });
    expect(parseWorkflowArgs("raise-event", ["tenant/order-1/approval"])).toMatchObject({
      instanceId: "tenant/order-1",
      eventName: "approval",
      hasInput: false,
    });
    expect(parseWorkflowArgs("raise-event", ["order-1", "approval"])).toMatchObject({
      instanceId: "order-1",
      eventName: "approval",
    });
  });

  it("parses terminate: recursive unless --no-recursive", () => {
    expect(parseWorkflowArgs("terminate", ["abc"])).toMatchObject({ recursive: true, hasOutput: false });
    expect(parseWorkflowArgs("terminate", ["abc", "--recursive", "--output", '{"why":"x"}'])).toMatchObject({
      recursive: true,
      output: { why: "x" },
      hasOutput: true,
    });
    expect(parseWorkflowArgs("terminate", ["abc", "--no-recursive"])).toMatchObject({ recursive: false });
  });

  it("parses purge by id or by filter", () => {
    expect(parseWorkflowArgs("purge", ["abc"])).toMatchObject({
      target: { kind: "instance", instanceId: "abc" },
      recursive: true,
    });
    const before = Date.now();
    const byAge = parseWorkflowArgs("purge", ["--all-older-than", "720h"]);
    const after = Date.now();
    if (byAge.sub !== "purge" || byAge.target.kind !== "filter") throw new Error("expected a filter purge");
    const createdTo = byAge.target.createdTo?.getTime() ?? Number.NaN;
    expect(createdTo).toBeGreaterThanOrEqual(before - 720 * 3_600_000);
    expect(createdTo).toBeLessThanOrEqual(after - 720 * 3_600_000);
    expect(byAge.target.statuses).toBeUndefined();
    expect(parseWorkflowArgs("purge", ["--all-filter-status", "completed,failed", "--no-recursive"])).toMatchObject({
      target: { kind: "filter", createdTo: undefined, statuses: ["COMPLETED", "FAILED"] },
      recursive: false,
    });
    expect(parseWorkflowArgs("purge", ["--all"])).toMatchObject({
      target: { kind: "filter", createdTo: undefined, statuses: undefined },
    });
  });

  it("parses rerun", () => {
    expect(
      parseWorkflowArgs("rerun", ["abc", "--event-id", "3", "--new-instance-id", "abc-2", "--input", "[1]"]),
    ).toMatchObject({
      sub: "rerun",
      instanceId: "abc",
      eventId: 3,
      newInstanceId: "abc-2",
      input: [1],
      hasInput: true,
    });
    expect(parseWorkflowArgs("rerun", ["abc", "--event-id", "0"])).toMatchObject({
      eventId: 0,
      newInstanceId: undefined,
      hasInput: false,
    });
  });

  it.each([
    ["run", [], /missing the workflow name/],
    ["run", ["a", "b"], /unexpected argument "b"/],
    ["run", ["w", "--input", "{bad"], /--input must be JSON .*a string needs quotes/],
    ["run", ["w", "--timeout", "5"], /--timeout needs --wait/],
    ["run", ["w", "--wait", "--timeout", "0"], /--timeout must be more than zero/],
    ["run", ["w", "--wait", "--timeout", "soon"], /--timeout must be a duration/],
    ["run", ["w", "--start-at", "tomorrow"], /--start-at must be an ISO 8601 time/],
    ["run", ["w", "--start-at", "2030-02-30T25:00:00Z"], /--start-at must be an ISO 8601 time/],
    ["run", ["w", "--instance-id="], /--instance-id must not be empty/],
    ["run", ["w", "--reason", "x"], /Unknown option '--reason'/],
    ["get", [], /missing the instance ID/],
    ["get", ["a", "--wait"], /Unknown option '--wait'/],
    ["get", ["a", "--no-recursive"], /Unknown option '--no-recursive'/],
    ["get", ["a", "--address", "ftp://x"], /--address: Invalid sidecar address "ftp:\/\/x": the scheme "ftp"/],
    ["get", ["a", "--address", "unix://host/x.sock"], /--address: .*unix:\/\/ is followed by an absolute path/],
    ["get", ["a", "--api-token="], /--api-token must not be empty/],
    ["get", ["a", "--json=yes"], /--json/],
    ["list", ["extra"], /unexpected argument "extra"/],
    ["list", ["--filter-status", "DONE"], /unknown status "DONE"/],
    ["list", ["--filter-status", ","], /needs at least one status/],
    ["list", ["--page-size", "0"], /--page-size must be between 1/],
    ["list", ["--page-size", "ten"], /--page-size must be an integer/],
    ["raise-event", ["no-slash"], /expected <instance-id>\/<event-name>/],
    ["raise-event", ["/event"], /expected <instance-id>\/<event-name>/],
    ["raise-event", ["id/"], /expected <instance-id>\/<event-name>/],
    ["raise-event", [], /missing <instance-id>\/<event-name>/],
    ["terminate", ["a", "--output", "nope"], /--output must be JSON/],
    ["purge", [], /missing the instance ID/],
    ["purge", ["a", "--all"], /either an instance ID or --all/],
    ["purge", ["--all-older-than", "30 days"], /--all-older-than must be a duration/],
    ["purge", ["--all-filter-status", "DONE"], /unknown status/],
    ["rerun", ["a"], /missing --event-id/],
    ["rerun", ["a", "--event-id", "-1"], /--event-id/],
    ["rerun", ["a", "--event-id", "1.5"], /--event-id must be an integer/],
    ["nope", [], /unknown command "nope"/],
  ] as const)("refuses %s %j as a usage error", (sub, args, pattern) => {
    expect(usageError(sub, [...args])).toMatch(pattern);
  });
});

describe("values", () => {
  it("parses Go-style durations (and days)", () => {
    expect(parseDuration("d", "720h")).toBe(720 * 3_600_000);
    expect(parseDuration("d", "1h30m")).toBe(5_400_000);
    expect(parseDuration("d", "1.5h")).toBe(5_400_000);
    expect(parseDuration("d", "300ms")).toBe(300);
    expect(parseDuration("d", "30d")).toBe(30 * 86_400_000);
    expect(parseDuration("d", "2s500ms")).toBe(2500);
    for (const bad of ["", "10", "h", "1x", "1h 30m", "-1h", "1h-"]) expect(() => parseDuration("d", bad)).toThrow();
  });

  it("parses timeouts in seconds or as durations", () => {
    expect(parseTimeout("t", "30")).toBe(30_000);
    expect(parseTimeout("t", ".5")).toBe(500);
    expect(parseTimeout("t", "5m")).toBe(300_000);
    expect(() => parseTimeout("t", "0s")).toThrow(/more than zero/);
  });

  it("parses ISO 8601 times only", () => {
    expect(parseTime("t", "2030-01-15").toISOString()).toBe("2030-01-15T00:00:00.000Z");
    expect(parseTime("t", "2030-01-15T10:00:00+02:00").toISOString()).toBe("2030-01-15T08:00:00.000Z");
    expect(() => parseTime("t", "Jan 15 2030")).toThrow(/ISO 8601/);
  });

  it("parses statuses case-insensitively, without duplicates", () => {
    expect(parseStatuses("s", "terminated,FAILED,failed")).toEqual(["TERMINATED", "FAILED"]);
  });
});

describe("resolveConnection", () => {
  it("reads the environment the way the client does; flags win", () => {
    expect(resolveConnection({ address: undefined, apiToken: undefined }, {})).toEqual({ address: "localhost:4001" });
    expect(
      resolveConnection({ address: undefined, apiToken: undefined }, { DAPR_GRPC_PORT: "50001", DAPR_API_TOKEN: "e" }),
    ).toEqual({ address: "localhost:50001", apiToken: "e" });
    expect(
      resolveConnection(
        { address: undefined, apiToken: undefined },
        { DAPR_GRPC_ENDPOINT: "grpc://10.0.0.1:7000", DURABLETASK_GRPC_ENDPOINT: "x:1" },
      ).address,
    ).toBe("grpc://10.0.0.1:7000");
    expect(
      resolveConnection({ address: "127.0.0.1:9", apiToken: "f" }, { DAPR_GRPC_ENDPOINT: "x:1", DAPR_API_TOKEN: "e" }),
    ).toEqual({ address: "127.0.0.1:9", apiToken: "f" });
    expect(
      resolveConnection({ address: undefined, apiToken: undefined }, { DAPR_GRPC_ENDPOINT: "unix:/run/dapr.sock" })
        .address,
    ).toBe("unix:/run/dapr.sock");
    expect(resolveConnection({ address: "unix:///run/dt.sock", apiToken: undefined }, {}).address).toBe(
      "unix:///run/dt.sock",
    );
  });

  it("reports bad environment values as usage errors", () => {
    expect(() =>
      resolveConnection({ address: undefined, apiToken: undefined }, { DAPR_GRPC_ENDPOINT: "ftp://x" }),
    ).toThrow(expect.objectContaining({ name: "UsageError", message: expect.stringMatching(/ftp/) }));
    expect(() =>
      resolveConnection(
        { address: undefined, apiToken: undefined },
        { DAPR_GRPC_KEEPALIVE_ENABLED: "true", DAPR_GRPC_KEEPALIVE_TIME_MS: "soon" },
      ),
    ).toThrow(expect.objectContaining({ name: "UsageError" }));
  });
});

describe("help", () => {
  it("lists every sub-command and the exit codes", () => {
    const help = workflowHelp();
    expect(help).toMatch(/^Usage: dt workflow <command>/);
    for (const spec of SUBCOMMANDS) expect(help).toContain(`  ${spec.name} `);
    expect(help).toMatch(/Exit codes:\n {2}0 {4}success/);
    for (const code of [0, 1, 2, 3, 4, 5, 130]) expect(help).toMatch(new RegExp(`\\n  ${code} +\\S`));
  });

  it("gives every sub-command a usage line, its flags, the common flags and its exit codes", () => {
    for (const spec of SUBCOMMANDS) {
      const help = subcommandHelp(spec);
      expect(help.startsWith(`Usage: dt workflow ${spec.name}`)).toBe(true);
      for (const flag of spec.flags)
        expect(help, `${spec.name} --${flag}`).toContain(`--${flag === "recursive" ? "no-recursive" : flag}`);
      expect(help).toContain("--address <addr>");
      expect(help).toContain("--json");
      expect(help).toMatch(/\n {2}2 {4}usage error/);
    }
    const run = SUBCOMMANDS.find((spec) => spec.name === "run");
    if (run === undefined) throw new Error("no run spec");
    expect(subcommandHelp(run)).toMatch(/\n {2}4 {4}run --wait: the workflow ended FAILED/);
    expect(subcommandHelp(run)).toMatch(/\n {2}5 {4}run --wait --timeout/);
  });

  it("finds -h/--help before `--` only", () => {
    expect(wantsHelp(["a", "--help"])).toBe(true);
    expect(wantsHelp(["-h"])).toBe(true);
    expect(wantsHelp(["--", "--help"])).toBe(false);
    expect(wantsHelp(["a"])).toBe(false);
  });
});
