// The engine must be a pure function of its input. Lint bans timers, process, crypto and I/O globals
// (biome.jsonc); this covers what a global ban cannot: reading the clock or randomness through Date and Math.
import { readdirSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";

const shipped = readdirSync(new URL(".", import.meta.url))
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
  .map((f) => ({ file: f, text: readFileSync(new URL(f, import.meta.url), "utf8") }));

it.each([
  ["Date.now()", /\bDate\.now\s*\(/],
  ["new Date() without an argument", /new Date\(\s*\)/],
  ["Math.random()", /\bMath\.random\s*\(/],
  ["performance.now()", /\bperformance\.now\s*\(/],
])("no engine source calls %s", (_what, pattern) => {
  const code = (text: string) => text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
  expect(shipped.filter(({ text }) => pattern.test(code(text))).map(({ file }) => file)).toEqual([]);
  expect(shipped.length).toBeGreaterThan(10);
});
