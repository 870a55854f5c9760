// End to end: the built binary (dist/cli.js, built by `pnpm build` / turbo before tests) as a child process.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { createSidecarClient, createSidecarTransport } from "@dt/proto/transport";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  // Anything a failed test left running, by PID.
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DAPR_API_TOKEN: "", ...env },
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** Waits for the readiness line and returns the address it names. */
async function ready(running: Run, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let done = false;
  void running.exited.then(() => {
    done = true;
  });
  for (;;) {
    const match = /^dt sidecar listening on (\S+) \((?:memory|sqlite: .+)\)$/m.exec(running.stdout());
    if (match?.[1] !== undefined) return match[1];
    if (done || Date.now() > deadline) {
      throw new Error(`no readiness line\n--- stdout ---\n${running.stdout()}\n--- stderr ---\n${running.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function hello(address: string, apiToken?: string): Promise<void> {
  const transport = createSidecarTransport({
    address,
    defaultTimeoutMs: 10_000,
    ...(apiToken === undefined ? {} : { apiToken }),
  });
  try {
    await createSidecarClient(transport).hello({});
  } finally {
    transport.close();
  }
}

describe("dt (built binary)", () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`pnpm build\` first`);
  });

  it("starts a SQLite sidecar, answers Hello, prints one readiness line and exits 0 on SIGTERM", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dt-cli-"));
    try {
      const db = join(dir, "dt.sqlite");
      const sidecar = run(["sidecar", "--port", "0", "--db", db]);
      const address = await ready(sidecar);
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(sidecar.stdout()).toBe(`dt sidecar listening on ${address} (sqlite: ${db})\n`);
      await hello(address);
      expect(existsSync(db)).toBe(true);
      sidecar.child.kill("SIGTERM");
      expect(await sidecar.exited).toEqual({ code: 0, signal: null });
      expect(sidecar.stderr()).toBe(""); // quiet without --verbose
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("exits 0 on SIGINT; --verbose writes JSON log lines on stderr", async () => {
    const sidecar = run(["sidecar", "--memory", "--port", "0", "--verbose"]);
    const address = await ready(sidecar);
    await hello(address);
    sidecar.child.kill("SIGINT");
    expect(await sidecar.exited).toEqual({ code: 0, signal: null });
    const logs = sidecar
      .stderr()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { level: string; msg: string });
    expect(logs.map((entry) => entry.msg)).toEqual(expect.arrayContaining(["sidecar listening", "sidecar stopped"]));
  }, 60_000);

  it("requires DAPR_API_TOKEN from the environment when set", async () => {
    const sidecar = run(["sidecar", "--memory", "--port", "0"], { DAPR_API_TOKEN: "s3cret" });
    const address = await ready(sidecar);
    const refused = await hello(address).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(ConnectError.from(refused).code).toBe(Code.Unauthenticated);
    await hello(address, "s3cret");
    sidecar.child.kill("SIGTERM");
    expect((await sidecar.exited).code).toBe(0);
  }, 60_000);

  it("dt workflow: exit 1 with SIDECAR_UNAVAILABLE and a hint when nothing listens at --address", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    for (const flags of [[], ["--json"]]) {
      const list = run(["workflow", "list", "--address", `127.0.0.1:${port}`, ...flags]);
      expect((await list.exited).code).toBe(1);
      expect(list.stdout()).toBe("");
      expect(list.stderr()).toMatch(
        new RegExp(
          `^dt workflow list: SIDECAR_UNAVAILABLE: list_workflows: the sidecar is unreachable \\(.*ECONNREFUSED.*\\)\\.\\n` +
            `Is a sidecar listening on 127\\.0\\.0\\.1:${port}\\? Set it with --address or DAPR_GRPC_ENDPOINT\\.\\n$`,
        ),
      );
    }
  }, 60_000);

  it("dt workflow: sends --api-token (or $DAPR_API_TOKEN) to a `dt sidecar` that requires one", async () => {
    const sidecar = run(["sidecar", "--memory", "--port", "0"], { DAPR_API_TOKEN: "s3cret" });
    const address = await ready(sidecar);
    try {
      const refused = run(["workflow", "list", "--address", address]);
      expect((await refused.exited).code).toBe(1);
      expect(refused.stderr()).toMatch(/^dt workflow list: SIDECAR_ERROR: list_workflows failed: .*\n$/);
      const flag = run(["workflow", "list", "--address", address, "--api-token", "s3cret"]);
      expect((await flag.exited).code).toBe(0);
      expect(flag.stdout()).toBe("No workflow instances found.\n");
      const env = run(["workflow", "list", "--json"], { DAPR_API_TOKEN: "s3cret", DAPR_GRPC_ENDPOINT: address });
      expect((await env.exited).code).toBe(0);
      expect(JSON.parse(env.stdout())).toEqual([]);
    } finally {
      sidecar.child.kill("SIGTERM");
      await sidecar.exited;
    }
  }, 60_000);

  it("exits 2 on a usage error and 0 for --help, without starting anything", async () => {
    const bad = run(["sidecar", "--port", "nope"]);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toMatch(/--port must be an integer/);
    expect(bad.stdout()).toBe("");
    const none = run([]);
    expect((await none.exited).code).toBe(2);
    const help = run(["sidecar", "--help"]);
    expect((await help.exited).code).toBe(0);
    expect(help.stdout()).toMatch(/^Usage: dt sidecar/);
  }, 60_000);
});
