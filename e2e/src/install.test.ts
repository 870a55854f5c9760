// "Install only what you need": every public package is packed as publishing would pack it, and the tarballs are
// installed with npm into scratch projects outside the repository (third-party dependencies from the registry).
// With only @dt/client (and the @dt packages it depends on) a plain .mjs script schedules a workflow on a running
// sidecar; with only @dt/dapr a complete Dapr-style app (runtime + client) runs a generator and an async workflow.
// The packages must be built first (the root test command builds; see e2e/src/install/scratch.ts for the helpers).
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineActivity, defineWorkflow } from "@dt/core";
import { TaskHubGrpcWorker } from "@dt/worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeSidecars } from "./harness.js";
import {
  createScratchProject,
  dtClosure,
  importedPackages,
  installedPackages,
  isInside,
  type Pack,
  packAll,
  publicPackageDirs,
  REPO_ROOT,
  run,
  runOk,
  SCRIPTS_DIR,
  type ScratchProject,
} from "./install/scratch.js";

/** npm install may take a minute or two on a slow network; a test that needs a project waits for its install. */
const INSTALL_WAIT_MS = 420_000;
const SCRIPT_TIMEOUT_MS = 120_000;

const PROJECTS = {
  "client-only": ["@dt/client"],
  "dapr-app": ["@dt/dapr"],
} as const satisfies Record<string, readonly string[]>;
type ProjectName = keyof typeof PROJECTS;

/** What must never come along with a package that does not depend on it. */
const NOT_WITH_CLIENT = ["@dt/worker", "@dt/sidecar", "@dt/dapr", "@dt/cli"];
const NOT_WITH_DAPR = ["@dt/sidecar", "@dt/cli"];

// The workflow the client-only script schedules by name; a worker from the workspace runs it.
const shout = defineActivity("install-shout", (_ctx, text: string) => `${text.toUpperCase()}!`);
const greeting = defineWorkflow("install-greeting", function* (ctx, names: string[]) {
  const out: string[] = [];
  for (const name of names) out.push(yield* ctx.callActivity(shout, { input: `hello ${name}` }));
  return out;
});

/** The JSON after `RESULT ` in a script's output; fails with the whole output when there is none. */
function parseResult(output: string): Record<string, unknown> {
  const line = output.split("\n").find((candidate) => candidate.startsWith("RESULT "));
  if (line === undefined) throw new Error(`the script printed no RESULT line\n--- output ---\n${output}`);
  return JSON.parse(line.slice("RESULT ".length)) as Record<string, unknown>;
}

describe("install only what you need (packed tarballs, npm, outside the workspace)", () => {
  let work: string | undefined;
  let packs: Map<string, Pack> | undefined;
  const installs = new Map<ProjectName, Promise<ScratchProject>>();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "dt-install-"));
    if (isInside(REPO_ROOT, work)) throw new Error(`the temp dir ${work} is inside the repository ${REPO_ROOT}`);
    packs = await packAll(join(work, "packs"), {
      ...process.env,
      PATH: [dirname(process.execPath), process.env["PATH"] ?? ""].join(delimiter),
    });
    // Both installs start now and run side by side; each test awaits the project it needs.
    for (const [name, roots] of Object.entries(PROJECTS) as [ProjectName, readonly string[]][]) {
      const install = createScratchProject(join(work, name), packs, roots);
      install.catch(() => {}); // reported by the tests that await it
      installs.set(name, install);
    }
  }, 240_000);

  afterAll(async () => {
    await Promise.allSettled(installs.values());
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  }, 360_000);

  const project = (name: ProjectName): Promise<ScratchProject> => {
    const install = installs.get(name);
    if (install === undefined) throw new Error("the packages were not packed (see the beforeAll error)");
    return install;
  };
  const packed = (): Map<string, Pack> => {
    if (packs === undefined) throw new Error("the packages were not packed (see the beforeAll error)");
    return packs;
  };

  it("packs every public package, with workspace:/catalog: specifiers resolved and its dist included", () => {
    const publicNames = publicPackageDirs().map(
      (dir) => (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name: string }).name,
    );
    expect([...packed().keys()].sort()).toEqual(publicNames.sort());
    for (const [name, pack] of packed()) {
      expect(JSON.stringify(pack.manifest), name).not.toMatch(/"(workspace|catalog):/);
      expect(pack.files, name).toContain("dist/index.js");
      expect(pack.files, name).toContain("dist/index.d.ts");
      expect(
        pack.files.filter((file) => /\.test\.|^src\//.test(file)),
        name,
      ).toEqual([]);
    }
  });

  it("declares every package that a packed package's code or type declarations import", async () => {
    const missing: string[] = [];
    for (const [name, pack] of packed()) {
      const extracted = join(work as string, "extracted", name.replace("/", "__"));
      await mkdir(extracted, { recursive: true });
      await runOk("tar", ["xzf", pack.tarball, "-C", extracted, "--strip-components=1"], { timeoutMs: 60_000 });
      const declared = new Set([
        name,
        ...Object.keys(pack.manifest.dependencies ?? {}),
        ...Object.keys(pack.manifest.peerDependencies ?? {}),
        ...Object.keys(pack.manifest.optionalDependencies ?? {}),
      ]);
      for (const [imported, files] of await importedPackages(extracted, pack.files)) {
        if (!declared.has(imported)) missing.push(`${name} imports ${imported} (${files.join(", ")}) undeclared`);
      }
    }
    expect(missing).toEqual([]);
  });

  for (const [name, roots, unwanted] of [
    ["client-only", PROJECTS["client-only"], NOT_WITH_CLIENT],
    ["dapr-app", PROJECTS["dapr-app"], NOT_WITH_DAPR],
  ] as const) {
    it(
      `${roots.join(" + ")} installs with only its own @dt dependencies (${name})`,
      async () => {
        const { dir, installed } = await project(name);
        expect(installed).toEqual(dtClosure(packed(), roots));
        expect(installed).toEqual(expect.arrayContaining([...roots]));
        for (const other of unwanted) expect(installed).not.toContain(other);

        const found = await installedPackages(dir);
        const dt = [...found.entries()].filter(([key]) => key.startsWith("@dt/"));
        // Exactly the closure, each once, hoisted to node_modules/@dt, at the packed version.
        expect(dt.map(([key]) => key).sort()).toEqual(
          installed.map((pkg) => `${pkg}@${(packed().get(pkg) as Pack).manifest.version}`).sort(),
        );
        for (const [key, dirs] of dt) {
          expect(dirs, key).toEqual([join(dir, "node_modules", key.slice(0, key.lastIndexOf("@")))]);
        }
        // npm took each of them from its tarball, none from the registry.
        const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8")) as {
          packages: Record<string, { resolved?: string }>;
        };
        const fromLock = Object.entries(lock.packages)
          .filter(([path]) => /(^|\/)node_modules\/@dt\//.test(path))
          .map(([path, entry]) => [path, entry.resolved]);
        expect(fromLock.map(([path]) => path).sort()).toEqual(installed.map((pkg) => `node_modules/${pkg}`).sort());
        for (const [path, resolved] of fromLock) expect(resolved, path).toMatch(/^file:.*\.tgz$/);
        // Every third-party dependency the packed manifests declare is there.
        const names = new Set([...found.keys()].map((key) => key.slice(0, key.lastIndexOf("@"))));
        for (const pkg of installed) {
          for (const dependency of Object.keys((packed().get(pkg) as Pack).manifest.dependencies ?? {})) {
            expect(names.has(dependency), `${pkg} → ${dependency}`).toBe(true);
          }
        }
      },
      INSTALL_WAIT_MS,
    );
  }

  describeSidecars("a script with only @dt/client schedules a workflow", (sidecar) => {
    it(
      "schedules by name, waits for completion and prints the output",
      async () => {
        const { dir, env } = await project("client-only");
        await copyFile(join(SCRIPTS_DIR, "client-app.mjs"), join(dir, "client-app.mjs"));
        const worker = new TaskHubGrpcWorker({ address: sidecar().address, useEnvironment: false });
        worker.addWorkflow(greeting).addActivity(shout);
        await worker.start();
        try {
          await worker.waitForReady({ timeoutMs: 30_000 });
          const instanceId = `install-client-${randomUUID()}`;
          const args = [sidecar().address, greeting.name, instanceId, JSON.stringify(["Tokyo", "Lima"])];
          const result = await run(process.execPath, [join(dir, "client-app.mjs"), ...args], {
            cwd: dir,
            env,
            timeoutMs: SCRIPT_TIMEOUT_MS,
          });
          expect(result.code, result.output).toBe(0);
          const printed = parseResult(result.output);
          // The import came from the scratch project, not from the workspace.
          expect(fileURLToPath(String(printed["resolved"]))).toBe(
            join(dir, "node_modules", "@dt", "client", "dist", "index.js"),
          );
          expect(printed).toMatchObject({
            id: instanceId,
            name: greeting.name,
            status: "COMPLETED",
            output: ["HELLO TOKYO!", "HELLO LIMA!"],
          });
        } finally {
          await worker.stop({ timeoutMs: 5_000 });
        }
      },
      INSTALL_WAIT_MS,
    );
  });

  describeSidecars("a full app with only @dt/dapr", (sidecar) => {
    it(
      "runs a generator and an async workflow through WorkflowRuntime and DaprWorkflowClient",
      async () => {
        const { dir, env } = await project("dapr-app");
        await copyFile(join(SCRIPTS_DIR, "dapr-app.mjs"), join(dir, "dapr-app.mjs"));
        const prefix = `install-dapr-${randomUUID()}`;
        const result = await run(process.execPath, [join(dir, "dapr-app.mjs"), prefix], {
          cwd: dir,
          env: { ...env, DAPR_GRPC_ENDPOINT: sidecar().address },
          timeoutMs: SCRIPT_TIMEOUT_MS,
        });
        expect(result.code, result.output).toBe(0);
        const printed = parseResult(result.output);
        expect(fileURLToPath(String(printed["resolved"]))).toBe(
          join(dir, "node_modules", "@dt", "dapr", "dist", "index.js"),
        );
        expect(printed["generator"]).toEqual({
          id: `${prefix}-generator`,
          status: "COMPLETED",
          name: "greetCities",
          output: ["Hello Tokyo!", "Hello Seattle!"],
        });
        expect(printed["async"]).toEqual({
          id: `${prefix}-async`,
          status: "COMPLETED",
          name: "greetTwice",
          output: { instance: `${prefix}-async`, first: "Hello London!", second: "Hello Hello London!!" },
        });
      },
      INSTALL_WAIT_MS,
    );
  });
});
