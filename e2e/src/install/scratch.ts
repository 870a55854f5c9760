// Helpers for the "install only what you need" suite: pack the workspace's public packages as publishing would
// (`pnpm pack` resolves workspace:/catalog: specifiers), then install a chosen few of the tarballs with npm into a
// scratch project outside the repository and run plain .mjs scripts there. Every process is async (the embedded
// sidecar runs in the test process), ended by its PID, and bounded by a timeout.
import { readdirSync, readFileSync, realpathSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { isBuiltin } from "node:module";
import { delimiter, dirname, isAbsolute, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnLogged } from "../harness.js";

/** The repository root (e2e/src/install → ../../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** The .mjs scripts the suite copies into its scratch projects. */
export const SCRIPTS_DIR = dirname(fileURLToPath(import.meta.url));

export interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
}

export interface Pack {
  /** Absolute path of the .tgz. */
  readonly tarball: string;
  /** package/package.json as packed (workspace:/catalog: specifiers resolved). */
  readonly manifest: Manifest;
  /** Every file in the tarball, without the leading `package/`. */
  readonly files: readonly string[];
}

export interface RunResult {
  readonly code: number | null;
  /** stdout and stderr, interleaved. */
  readonly output: string;
}

/**
 * Runs `command` to completion (async: the embedded sidecar shares this process) and returns its exit code and
 * output. After `timeoutMs` it is stopped by its PID and the call rejects with what it printed.
 */
export async function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<RunResult> {
  const child = spawnLogged(command, args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.timeoutMs);
  });
  const outcome = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    await child.stop(2_000);
    throw new Error(
      `${command} ${args.join(" ")} did not finish within ${options.timeoutMs} ms (stopped pid ${child.pid})\n` +
        `--- output ---\n${child.logs()}`,
    );
  }
  return { code: outcome, output: child.logs() };
}

/** Like `run`, but rejects (with the output) unless the command exits with 0. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited with ${result.code}${options.cwd === undefined ? "" : ` in ${options.cwd}`}\n` +
        `--- output ---\n${result.output}`,
    );
  }
  return result.output;
}

/**
 * The environment for npm and the scratch scripts: this process's environment (so the machine's npm configuration —
 * registry, proxies, NODE_EXTRA_CA_CERTS, user/global npmrc — stays in force) with this Node's directory first on
 * PATH (npm's `#!/usr/bin/env node` then runs on the Node under test), npm's cache in `cache` (nothing is cached
 * outside the suite's temp dir), and the variables pnpm sets for the process it runs (lifecycle and package
 * details, its user agent) removed, so npm does not take them for its own.
 */
export function scratchEnv(cache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (
      /^(npm_(command|execpath|node_execpath|lifecycle_.*|package_.*|config_user_agent)|INIT_CWD|pnpm_.*|PNPM_.*)$/i.test(
        key,
      )
    )
      continue;
    env[key] = value;
  }
  // The workspace's node_modules/.bin (and relative entries) that pnpm puts on PATH must not leak into the project.
  const path = (process.env["PATH"] ?? "")
    .split(delimiter)
    .filter((part) => isAbsolute(part) && !isInside(REPO_ROOT, part));
  env["PATH"] = [dirname(process.execPath), ...path].join(delimiter);
  env["npm_config_cache"] = cache;
  env["npm_config_update_notifier"] = "false";
  return env;
}

/** True when `child` is `parent` or lies under it. */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** How to run pnpm: the pnpm that runs this test (npm_execpath), else `pnpm` on PATH. */
export function pnpmCommand(): { command: string; prefix: string[] } {
  const execpath = process.env["npm_execpath"];
  if (execpath !== undefined && /pnpm/i.test(execpath)) {
    const real = realpathSync(execpath);
    return /\.[cm]?js$/.test(real) ? { command: process.execPath, prefix: [real] } : { command: real, prefix: [] };
  }
  return { command: "pnpm", prefix: [] };
}

/** The public packages under packages/ (directories whose package.json is not private). */
export function publicPackageDirs(): string[] {
  const root = join(REPO_ROOT, "packages");
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(root, entry.name))
    .filter((dir) => {
      try {
        return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest).private !== true;
      } catch {
        return false;
      }
    });
}

/** Packs every public package into `destination` with `pnpm pack` and reads each tarball back. */
export async function packAll(destination: string, env: NodeJS.ProcessEnv): Promise<Map<string, Pack>> {
  await mkdir(destination, { recursive: true });
  const pnpm = pnpmCommand();
  for (const dir of publicPackageDirs()) {
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest;
    // A package that was not built packs without its dist; say so instead of failing later on an import.
    const hasDist = readdirSync(dir).includes("dist");
    if (!hasDist) throw new Error(`${manifest.name} has no dist/: build the packages first (pnpm build)`);
    await runOk(pnpm.command, [...pnpm.prefix, "pack", "--pack-destination", destination], {
      cwd: dir,
      env,
      timeoutMs: 120_000,
    });
  }
  const packs = new Map<string, Pack>();
  for (const file of (await readdir(destination)).filter((name) => name.endsWith(".tgz"))) {
    const tarball = join(destination, file);
    const listing = await runOk("tar", ["tzf", tarball], { timeoutMs: 60_000 });
    const files = listing
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.endsWith("/"))
      .map((line) => line.replace(/^package\//, ""));
    const manifest = JSON.parse(
      await runOk("tar", ["xzOf", tarball, "package/package.json"], { timeoutMs: 60_000 }),
    ) as Manifest;
    packs.set(manifest.name, { tarball, manifest, files });
  }
  return packs;
}

/** Names of the @dt/* packages a manifest depends on at run time (dependencies, peer and optional ones). */
export function dtDependencies(manifest: Manifest): string[] {
  const names = new Set([
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
    ...Object.keys(manifest.optionalDependencies ?? {}),
  ]);
  return [...names].filter((name) => name.startsWith("@dt/")).sort();
}

/** `roots` and, transitively, every @dt/* package they depend on (by their packed manifests), sorted. */
export function dtClosure(packs: ReadonlyMap<string, Pack>, roots: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    const pack = packs.get(name);
    if (pack === undefined) throw new Error(`${name} was not packed (is it a public package under packages/?)`);
    seen.add(name);
    for (const dependency of dtDependencies(pack.manifest)) visit(dependency);
  };
  for (const root of roots) visit(root);
  return [...seen].sort();
}

export interface ScratchProject {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** The @dt/* packages it installed (from tarballs). */
  readonly installed: readonly string[];
  /** npm's output of the install. */
  readonly log: string;
}

/**
 * A fresh npm project in `dir` ("type": "module") with the tarballs of `roots` and their @dt/* dependencies
 * installed; third-party dependencies come from the registry.
 */
export async function createScratchProject(
  dir: string,
  packs: ReadonlyMap<string, Pack>,
  roots: readonly string[],
): Promise<ScratchProject> {
  await mkdir(dir, { recursive: true });
  const env = scratchEnv(join(dir, ".npm-cache"));
  const npm = (args: readonly string[], timeoutMs: number) => runOk("npm", args, { cwd: dir, env, timeoutMs });
  // npm must run on the Node under test (its shebang resolves `node` through PATH).
  // (Output is stdout and stderr interleaved: the JSON object is what lies between the outer braces.)
  const printed = await npm(["version", "--json", "--loglevel=error"], 60_000);
  const versions = JSON.parse(printed.slice(printed.indexOf("{"), printed.lastIndexOf("}") + 1)) as Record<
    string,
    string
  >;
  if (versions["node"] !== process.versions.node) {
    throw new Error(`npm runs on Node ${versions["node"]}, not on this Node (${process.versions.node})`);
  }
  await npm(["init", "-y"], 60_000);
  const manifestPath = join(dir, "package.json");
  const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as Record<string, unknown>;
  await writeFile(manifestPath, `${JSON.stringify({ ...manifest, type: "module", private: true }, null, 2)}\n`);
  const installed = dtClosure(packs, roots);
  const tarballs = installed.map((name) => (packs.get(name) as Pack).tarball);
  // --prefix pins the project even if an npm_config_prefix from a calling npm is in the environment.
  const log = await npm(["install", "--no-audit", "--no-fund", "--prefix", dir, ...tarballs], 300_000);
  return { dir, env, installed, log };
}

/** Every package installed under `dir`/node_modules, nested ones included: `name@version` → its directories. */
export async function installedPackages(dir: string): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const visitNodeModules = async (nodeModules: string): Promise<void> => {
    let entries: string[];
    try {
      entries = await readdir(nodeModules);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.startsWith(".")) continue;
      const dirs = entry.startsWith("@")
        ? (await readdir(join(nodeModules, entry))).map((name) => join(nodeModules, entry, name))
        : [join(nodeModules, entry)];
      for (const packageDir of dirs) {
        let manifest: Manifest;
        try {
          manifest = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as Manifest;
        } catch {
          continue;
        }
        const key = `${manifest.name}@${manifest.version}`;
        found.set(key, [...(found.get(key) ?? []), packageDir]);
        await visitNodeModules(join(packageDir, "node_modules"));
      }
    }
  };
  await visitNodeModules(join(dir, "node_modules"));
  return found;
}

/**
 * The packages a packed package's JavaScript and type declarations import (statically or with a literal
 * `import()`), by name, each with the files that do; Node built-ins and relative paths excluded. Read from the
 * extracted tarball in `extracted`.
 */
export async function importedPackages(extracted: string, files: readonly string[]): Promise<Map<string, string[]>> {
  const imports = new Map<string, string[]>();
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"'\s]+)["']/g;
  for (const file of files.filter((name) => /\.(?:[cm]?js|d\.[cm]?ts)$/.test(name))) {
    // Comments may quote imports (e.g. usage examples); only code counts.
    const code = (await readFile(join(extracted, file), "utf8"))
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    for (const match of code.matchAll(pattern)) {
      const specifier = match[1] as string;
      if (specifier.startsWith(".") || specifier.startsWith("/") || isBuiltin(specifier)) continue;
      const parts = specifier.split("/");
      const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string);
      imports.set(name, [...new Set([...(imports.get(name) ?? []), file])]);
    }
  }
  return imports;
}
