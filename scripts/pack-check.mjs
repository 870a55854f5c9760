#!/usr/bin/env node
// Packaging dry run for every public package: `pnpm pack` exactly as publishing would, then check the tarball
// with publint (package.json vs files), attw (types resolve for ESM consumers) and our own content rules.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, ".packs");
rmSync(out, { recursive: true, force: true });
mkdirSync(out);

const exec = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: "pipe" });
const problems = [];
const packages = readdirSync(join(root, "packages"))
  .map((name) => join(root, "packages", name))
  .filter((dir) => !JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).private);

for (const dir of packages) {
  exec("pnpm", ["pack", "--pack-destination", out], dir);
}
for (const tarball of readdirSync(out).filter((f) => f.endsWith(".tgz"))) {
  const path = join(out, tarball);
  const files = exec("tar", ["tzf", path]).trim().split("\n");
  const manifest = exec("tar", ["xzOf", path, "package/package.json"]);
  const bad = files.filter((f) => /\.test\.|\/testdata\/|^package\/src\//.test(f));
  if (bad.length > 0) problems.push(`${tarball}: ships test or source files: ${bad.join(", ")}`);
  if (/"(workspace|catalog):/.test(manifest)) problems.push(`${tarball}: unresolved workspace:/catalog: specifier`);
  for (const [cmd, args] of [
    ["publint", ["run", path, "--strict"]],
    ["attw", [path, "--profile", "esm-only", "--format", "ascii"]],
  ]) {
    try {
      exec("pnpm", ["exec", cmd, ...args]);
    } catch (error) {
      problems.push(`${tarball}: ${cmd} failed\n${error.stdout ?? ""}${error.stderr ?? ""}`);
    }
  }
  console.log(`checked ${tarball} (${files.length} files)`);
}

if (problems.length > 0) {
  console.error(problems.join("\n\n"));
  process.exit(1);
}
console.log(`pack check: ${packages.length} package(s) pack cleanly`);
