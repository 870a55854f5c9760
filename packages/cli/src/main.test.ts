import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSidecarClient, createSidecarTransport } from "@dt/proto/transport";
import { describe, expect, it } from "vitest";
import { type CliContext, type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from "./command.js";
import { COMMANDS, main, version } from "./main.js";

function context(signal: AbortSignal = new AbortController().signal, env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = { out: (line) => out.push(line), err: (line) => err.push(line), env, signal };
  return { ctx, out, err };
}

const echo: Command = {
  name: "echo",
  summary: "prints its arguments",
  help: "Usage: dt echo <words>",
  async run(args, ctx) {
    if (args.includes("--bad")) throw new UsageError("--bad is bad");
    if (args.includes("--boom")) throw new Error("boom");
    ctx.out(args.join(" "));
    return EXIT_OK;
  },
};
const table = [echo];

describe("main (command table)", () => {
  it("dispatches to the named command with the remaining arguments", async () => {
    const { ctx, out } = context();
    expect(await main(["echo", "a", "b"], ctx, table)).toBe(EXIT_OK);
    expect(out).toEqual(["a b"]);
  });

  it("prints help on stdout with exit 0 for --help, -h and `help`; per command with `help <name>`", async () => {
    for (const argv of [["--help"], ["-h"], ["help"]]) {
      const { ctx, out } = context();
      expect(await main(argv, ctx, table)).toBe(EXIT_OK);
      expect(out.join("\n")).toMatch(/Usage: dt <command>[\s\S]*echo\s+prints its arguments/);
    }
    const { ctx, out } = context();
    expect(await main(["help", "echo"], ctx, table)).toBe(EXIT_OK);
    expect(out).toEqual(["Usage: dt echo <words>"]);
  });

  it("exits 2 with the usage on stderr for no command, an unknown command or a usage error", async () => {
    const none = context();
    expect(await main([], none.ctx, table)).toBe(EXIT_USAGE);
    expect(none.out).toEqual([]);
    expect(none.err.join("\n")).toMatch(/Usage: dt <command>/);
    for (const argv of [["nope"], ["help", "nope"], ["--nope"]]) {
      const { ctx, err } = context();
      expect(await main(argv, ctx, table)).toBe(EXIT_USAGE);
      expect(err.join("\n")).toMatch(/nope/);
    }
    const bad = context();
    expect(await main(["echo", "--bad"], bad.ctx, table)).toBe(EXIT_USAGE);
    expect(bad.err).toEqual(["dt echo: --bad is bad", "Run `dt echo --help` for usage."]);
  });

  it("exits 1 when a command fails at run time", async () => {
    const { ctx, err } = context();
    expect(await main(["echo", "--boom"], ctx, table)).toBe(EXIT_FAILURE);
    expect(err.join("\n")).toMatch(/dt echo: Error: boom/);
  });

  it("prints the package version", async () => {
    const { ctx, out } = context();
    expect(await main(["--version"], ctx, table)).toBe(EXIT_OK);
    expect(out).toEqual([version()]);
    expect(version()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("has the sidecar and workflow commands", () => {
    expect(COMMANDS.map((command) => command.name)).toEqual(["sidecar", "workflow"]);
  });
});

describe("dt sidecar (in process)", () => {
  it("serves until the signal aborts, then closes and exits 0", async () => {
    const controller = new AbortController();
    const { ctx, out } = context(controller.signal);
    const exit = main(["sidecar", "--memory", "--port", "0"], ctx);
    const deadline = Date.now() + 20_000;
    while (out.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const address = /^dt sidecar listening on (127\.0\.0\.1:\d+) \(memory\)$/.exec(out[0] ?? "")?.[1];
    expect(address, out.join("\n")).toBeDefined();
    const transport = createSidecarTransport({ address: address as string, defaultTimeoutMs: 10_000 });
    try {
      await createSidecarClient(transport).hello({});
    } finally {
      transport.close();
    }
    controller.abort("SIGTERM");
    expect(await exit).toBe(EXIT_OK);
  });

  it("exits 1 when the port is taken", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const { ctx, err } = context();
      expect(await main(["sidecar", "--memory", "--port", String(port)], ctx)).toBe(EXIT_FAILURE);
      expect(err.join("\n")).toContain(`127.0.0.1:${port} is already in use`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("--socket: listens on a Unix socket, prints unix:<path>, and removes the socket when it exits", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-cli-"));
    try {
      const path = join(dir, "dt.sock");
      const controller = new AbortController();
      const { ctx, out } = context(controller.signal);
      const exit = main(["sidecar", "--memory", "--socket", path], ctx);
      const deadline = Date.now() + 20_000;
      while (out.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(out[0]).toBe(`dt sidecar listening on unix:${path} (memory)`);
      const transport = createSidecarTransport({ address: `unix:${path}`, defaultTimeoutMs: 10_000 });
      try {
        await createSidecarClient(transport).hello({});
      } finally {
        transport.close();
      }
      controller.abort("SIGTERM");
      expect(await exit).toBe(EXIT_OK);
      expect(existsSync(path)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("--socket: exits 1 and leaves the file alone when the path holds something that is not a socket", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dt-cli-"));
    try {
      const path = join(dir, "notes.txt");
      writeFileSync(path, "mine");
      const { ctx, err } = context();
      expect(await main(["sidecar", "--memory", "--socket", path], ctx)).toBe(EXIT_FAILURE);
      expect(err.join("\n")).toMatch(/cannot start: .*notes\.txt exists and is not a socket/);
      expect(readFileSync(path, "utf8")).toBe("mine");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exits 1 when the database cannot be opened", async () => {
    const { ctx, err } = context();
    expect(await main(["sidecar", "--db", "/nonexistent-dir/sub/dt.sqlite", "--port", "0"], ctx)).toBe(EXIT_FAILURE);
    expect(err.join("\n")).toContain("cannot open /nonexistent-dir/sub/dt.sqlite");
  });
});
