#!/usr/bin/env node
// `npm start` / `npm test` (or the pnpm equivalents) on a fresh clone: check Node, install with the pinned pnpm,
// build, then run the main job or the whole test suite. Only Node built-ins here: nothing is installed yet.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const REPORT = join(root, ".reports", "vitest.json");

const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  fail(
    `Node ${process.versions.node} is too old: this project needs Node >= 22.\n` +
      "Install Node 22 or newer, or run `bash .ci/run`, which fetches Node 24 for this checkout.",
  );
}

const command = process.argv[2];
if (command !== "start" && command !== "test") fail("usage: node scripts/dev.mjs start|test");

const underPnpm = process.env.npm_config_user_agent?.startsWith("pnpm/") === true;
const pnpm = pnpmCommand();
// Under pnpm the install already happened (verifyDepsBeforeRun); under npm this is the install step.
if (!underPnpm) run(pnpm, ["install", "--frozen-lockfile"]);
run(pnpm, ["exec", "turbo", "run", "build", "--output-logs=errors-only"]);

if (command === "start") mainJob();

mkdirSync(dirname(REPORT), { recursive: true });
const status = run(
  pnpm,
  ["exec", "vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${REPORT}`],
  { allowFailure: true },
);
const summary = summarize();
console.log(summary.line);
process.exit(status === 0 && summary.failed === 0 ? 0 : 1);

/**
 * The main job: the flagship sample (the Dapr reference's task-processing workflow) end to end on the embedded sidecar,
 * its state in a SQLite file that `dt workflow list|history --db` can read afterwards.
 */
function mainJob() {
  const db = join(root, ".dt", "dt.sqlite");
  mkdirSync(dirname(db), { recursive: true });
  const app = join(root, "apps", "task-processing");
  const result = spawnSync(process.execPath, ["src/main.ts"], {
    cwd: app,
    stdio: "inherit",
    env: { ...process.env, DT_APP_DB: db },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
  console.log("\nThe workflow and its history are in .dt/dt.sqlite. Look at them with the dt CLI:");
  console.log("  npx dt workflow list --db .dt/dt.sqlite");
  console.log("  npx dt workflow history <instance id> --db .dt/dt.sqlite");
  console.log("Other samples: apps/ (README.md there). The test suite: npm test");
  process.exit(0);
}

/** Counts from vitest's own JSON report; a test file that failed outside any test counts as one failure. */
function summarize() {
  if (!existsSync(REPORT)) return { failed: 1, line: "0 passed, 1 failed, 0 skipped (no test report was written)" };
  const report = JSON.parse(readFileSync(REPORT, "utf8"));
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const skippedSuites = new Set();
  for (const file of report.testResults) {
    const results = file.assertionResults;
    for (const t of results) {
      if (t.status === "passed") passed++;
      else if (t.status === "failed") failed++;
      else {
        skipped++;
        if (t.ancestorTitles[0]?.includes("skipped:")) skippedSuites.add(t.ancestorTitles[0]);
      }
    }
    if (file.status === "failed" && !results.some((t) => t.status === "failed")) failed++;
  }
  for (const suite of skippedSuites) console.log(`skipped suite: ${suite}`);
  return { failed, line: `${passed} passed, ${failed} failed, ${skipped} skipped` };
}

function pnpmCommand() {
  const pinned = manifest.packageManager; // "pnpm@x.y.z"
  if (underPnpm && process.env.npm_execpath) return [process.env.npm_execpath];
  const found = spawnSync("pnpm", ["--version"], { encoding: "utf8", shell: process.platform === "win32" });
  // Any installed pnpm >= 9.7 switches itself to the pinned version; without one, npx fetches the pin.
  return found.status === 0 ? ["pnpm"] : ["npx", "--yes", pinned];
}

function run([cmd, ...pre], args, { allowFailure = false } = {}) {
  const result = spawnSync(cmd, [...pre, ...args], {
    cwd: root,
    stdio: "inherit",
    shell: process.platform === "win32",
  });
  if (result.error) fail(`could not run ${cmd}: ${result.error.message}`);
  if (result.status !== 0 && !allowFailure) process.exit(result.status ?? 1);
  return result.status;
}

function fail(message) {
  console.error(message);
  process.exit(1);
}
