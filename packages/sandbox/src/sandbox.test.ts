// Unit tests of the sandbox scope: what it patches, what it replaces, what it refuses, and that it leaves the process
// exactly as it found it. Scopes are kept synchronous here (open, act, close) so nothing else in the test runner ever
// runs while the globals are patched; assertions run after the scope is closed.
import { randomUUID as realRandomUUIDNamed } from "node:crypto";
import * as fsNamespace from "node:fs";
import fs, { readFileSync } from "node:fs";
import { readFile as readFilePromise } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "@dt/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  activeSandbox,
  detectionDisabled,
  enterSandbox,
  NonDeterminismWarning,
  parseSandboxMode,
  type SandboxHost,
  SandboxMode,
  SandboxViolationError,
  seededRandom,
} from "./index.js";

/** A Date in ms (written so, not as Date.now(): these tests are about what `new Date()` gives). */
const msOf = (d: Date) => d.getTime();
const require = createRequire(import.meta.url);
const THIS_FILE = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------------------------------
// The originals, taken when this module loads (before any scope).

const g = globalThis as unknown as Record<string, unknown>;
const RealDate = Date;
const real = {
  Date,
  dateNow: Date.now,
  random: Math.random,
  randomUUID: crypto.randomUUID,
  getRandomValues: crypto.getRandomValues,
  performanceNow: performance.now,
  setTimeout: g["setTimeout"],
  clearTimeout: g["clearTimeout"],
  setInterval: g["setInterval"],
  clearInterval: g["clearInterval"],
  setImmediate: g["setImmediate"],
  clearImmediate: g["clearImmediate"],
  queueMicrotask: g["queueMicrotask"],
  fetch: g["fetch"],
  nextTick: process.nextTick,
  readFileSync,
  readFilePromise,
};

/** Every (object, key) a scope may patch: the globals and every function of the modules strict mode refuses. */
const STRICT_SPECIFIERS = [
  "node:fs",
  "node:fs/promises",
  "node:net",
  "node:tls",
  "node:http",
  "node:https",
  "node:http2",
  "node:dns",
  "node:dns/promises",
  "node:child_process",
  "node:worker_threads",
];
type Slot = { label: string; target: object; key: string };
const SLOTS: Slot[] = [
  { label: "globalThis.Date", target: globalThis, key: "Date" },
  { label: "Date.now", target: RealDate, key: "now" },
  { label: "Math.random", target: Math, key: "random" },
  { label: "crypto.randomUUID", target: crypto, key: "randomUUID" },
  { label: "crypto.getRandomValues", target: crypto, key: "getRandomValues" },
  { label: "performance.now", target: performance, key: "now" },
  ...["setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate"].map((key) => ({
    label: key,
    target: globalThis,
    key,
  })),
  { label: "queueMicrotask", target: globalThis, key: "queueMicrotask" },
  { label: "fetch", target: globalThis, key: "fetch" },
  ...STRICT_SPECIFIERS.flatMap((specifier) => {
    const mod = require(specifier) as Record<string, unknown>;
    return Object.keys(mod)
      .filter((key) => {
        const d = Object.getOwnPropertyDescriptor(mod, key);
        return d !== undefined && "value" in d && typeof d.value === "function";
      })
      .map((key) => ({ label: `${specifier}.${key}`, target: mod, key }));
  }),
];

interface Snapshot {
  readonly value: unknown;
  readonly descriptor: PropertyDescriptor | undefined;
}
const snapshot = (): Snapshot[] =>
  SLOTS.map(({ target, key }) => ({
    value: (target as Record<string, unknown>)[key],
    descriptor: Object.getOwnPropertyDescriptor(target, key),
  }));
const ORIGINAL = snapshot();

/** A descriptor's attributes (values are compared by identity elsewhere); inherited properties have none. */
function shape(d: PropertyDescriptor | undefined): string {
  if (d === undefined) return "inherited";
  const kind = "value" in d ? "data" : "accessor";
  return `${kind} writable=${d.writable} enumerable=${d.enumerable} configurable=${d.configurable}`;
}

/** Labels of the slots whose value is not the original (by identity). */
function changedValues(): string[] {
  const now = snapshot();
  return SLOTS.filter((_, i) => now[i]?.value !== ORIGINAL[i]?.value).map((s) => s.label);
}

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

const START = Date.UTC(2020, 0, 1, 12, 0, 0);
let names = 0;
const uniqueName = (prefix = "wf") => `${prefix}-${process.pid}-${++names}-${real.random().toString(36).slice(2)}`;

interface TestHost {
  readonly host: SandboxHost;
  readonly timers: { ms: number; fire: () => void }[];
  /** Moves the host's clock. */
  advance(ms: number): void;
}

function makeHost(workflowName = uniqueName(), seed = workflowName): TestHost {
  let now = START;
  const timers: { ms: number; fire: () => void }[] = [];
  const random = seededRandom(seed);
  return {
    host: {
      workflowName,
      now: () => now,
      random,
      timer: (ms) => new Promise<void>((resolve) => timers.push({ ms, fire: resolve })),
    },
    timers,
    advance: (ms) => {
      now += ms;
    },
  };
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Opens a scope (bound to `host` unless it is null), runs `fn`, closes the scope; never throws. */
function inScope<T>(
  mode: "best_effort" | "strict",
  fn: () => T,
  host: SandboxHost | null = makeHost().host,
): Outcome<T> {
  const scope = enterSandbox(mode);
  try {
    if (host !== null) scope.bind(host);
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  } finally {
    scope.exit();
  }
}

function thrown(outcome: Outcome<unknown>): unknown {
  if (outcome.ok) throw new Error(`expected a throw, got ${String(outcome.value)}`);
  return outcome.error;
}

function value<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/** Lets process.nextTick callbacks (process.emitWarning delivers through one) run, outside any scope. */
const ticks = () => new Promise<void>((resolve) => (real.setImmediate as (cb: () => void) => void)(resolve));

const warnings: NonDeterminismWarning[] = [];
const onWarning = (w: Error) => {
  if (w.name === "NonDeterminismWarning") warnings.push(w as NonDeterminismWarning);
};

beforeEach(async () => {
  // Warnings of earlier tests may still be queued (process.nextTick waits for an empty microtask queue).
  await ticks();
  warnings.length = 0;
  process.on("warning", onWarning);
});

afterEach(() => {
  process.off("warning", onWarning);
  // A failing test must not leave a scope open for the next one.
  const open = activeSandbox();
  open?.exit();
  expect(open).toBeUndefined();
  expect(changedValues()).toEqual([]);
});

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// ---------------------------------------------------------------------------------------------------------------------

describe("parseSandboxMode", () => {
  it("accepts the enum values", () => {
    expect(SandboxMode).toEqual({ OFF: "off", BEST_EFFORT: "best_effort", STRICT: "strict" });
    expect(parseSandboxMode(SandboxMode.OFF)).toBe("off");
    expect(parseSandboxMode(SandboxMode.BEST_EFFORT)).toBe("best_effort");
    expect(parseSandboxMode(SandboxMode.STRICT)).toBe("strict");
  });

  it.each([
    ["off", "off"],
    ["OFF", "off"],
    ["Off", "off"],
    ["best_effort", "best_effort"],
    ["best-effort", "best_effort"],
    ["BEST-EFFORT", "best_effort"],
    ["Best_Effort", "best_effort"],
    ["strict", "strict"],
    ["STRICT", "strict"],
    ["  strict\n", "strict"],
  ])("accepts %j as %s", (input, mode) => {
    expect(parseSandboxMode(input)).toBe(mode);
  });

  it.each([
    [""],
    ["none"],
    ["on"],
    ["true"],
    ["best effort"],
    ["besteffort"],
    ["bestEffort"],
    ["best--effort"],
    ["strict!"],
    [undefined],
    [null],
    [1],
    [true],
    [{}],
    [["strict"]],
  ])("refuses %j with INVALID_ARGUMENT naming the valid modes", (input) => {
    let error: unknown;
    try {
      parseSandboxMode(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
    expect((error as Error).message).toMatch(/"off".*"best_effort".*"strict"/);
  });
});

describe("detectionDisabled", () => {
  it.each(["1", "true", "TRUE", "True", "yes", "YES", "on", "On"])("is on for DAPR_WF_DISABLE_DETECTION=%s", (v) => {
    expect(detectionDisabled({ DAPR_WF_DISABLE_DETECTION: v })).toBe(true);
  });

  it.each(["", "0", "false", "FALSE", "no", "off", "2", "truthy", " ", "yes please"])("is off for %j", (v) => {
    expect(detectionDisabled({ DAPR_WF_DISABLE_DETECTION: v })).toBe(false);
  });

  it("is off when the variable is unset, and reads process.env by default", () => {
    expect(detectionDisabled({})).toBe(false);
    const before = process.env["DAPR_WF_DISABLE_DETECTION"];
    try {
      process.env["DAPR_WF_DISABLE_DETECTION"] = "true";
      expect(detectionDisabled()).toBe(true);
      process.env["DAPR_WF_DISABLE_DETECTION"] = "false";
      expect(detectionDisabled()).toBe(false);
    } finally {
      if (before === undefined) delete process.env["DAPR_WF_DISABLE_DETECTION"];
      else process.env["DAPR_WF_DISABLE_DETECTION"] = before;
    }
  });
});

describe("enterSandbox / exit", () => {
  it.each(["best_effort", "strict"] as const)(
    "%s: patches while open and restores every patched global exactly",
    (mode) => {
      const scope = enterSandbox(mode);
      let changedWhileOpen: string[];
      try {
        expect(scope.mode).toBe(mode);
        expect(activeSandbox()).toBe(scope);
        changedWhileOpen = changedValues();
      } finally {
        scope.exit();
      }
      expect(activeSandbox()).toBeUndefined();
      for (const label of [
        "globalThis.Date",
        "Math.random",
        "crypto.randomUUID",
        "crypto.getRandomValues",
        "performance.now",
        "setTimeout",
        "clearTimeout",
        "setInterval",
        "setImmediate",
        "fetch",
      ]) {
        expect(changedWhileOpen).toContain(label);
      }
      const modules = changedWhileOpen.filter((l) => l.startsWith("node:"));
      if (mode === "strict") {
        expect(modules).toContain("node:fs.readFileSync");
        expect(modules).toContain("node:fs/promises.readFile");
        expect(modules).toContain("node:net.connect");
        expect(modules).toContain("node:http.request");
        expect(modules).toContain("node:child_process.spawn");
        expect(modules).toContain("node:dns.lookup");
        expect(modules).toContain("node:worker_threads.Worker");
      } else {
        expect(modules).toEqual([]);
      }
      // Identity of every slot (globals and every function of the strict modules), after the scope.
      expect(changedValues()).toEqual([]);
      expect(globalThis.Date).toBe(real.Date);
      expect(Date.now).toBe(real.dateNow);
      expect(Math.random).toBe(real.random);
      expect(crypto.randomUUID).toBe(real.randomUUID);
      expect(crypto.getRandomValues).toBe(real.getRandomValues);
      expect(performance.now).toBe(real.performanceNow);
      expect(g["setTimeout"]).toBe(real.setTimeout);
      expect(g["clearTimeout"]).toBe(real.clearTimeout);
      expect(g["setInterval"]).toBe(real.setInterval);
      expect(g["setImmediate"]).toBe(real.setImmediate);
      expect(g["fetch"]).toBe(real.fetch);
      expect(process.nextTick).toBe(real.nextTick);
      expect(g["queueMicrotask"]).toBe(real.queueMicrotask);
    },
  );

  it("strict: restores the ESM bindings of node:fs too (named, default and namespace imports)", () => {
    value(inScope("strict", () => undefined));
    expect(readFileSync).toBe(real.readFileSync);
    expect(fs.readFileSync).toBe(real.readFileSync);
    expect(fsNamespace.readFileSync).toBe(real.readFileSync);
    expect(readFilePromise).toBe(real.readFilePromise);
    for (const [key, v] of Object.entries(fsNamespace)) {
      if (key === "default" || typeof v !== "function") continue;
      expect(v, key).toBe((fs as unknown as Record<string, unknown>)[key]);
    }
    expect(readFileSync(THIS_FILE, "utf8")).toContain("restores the ESM bindings");
  });

  // Patching a method that lives on a prototype (crypto.randomUUID is Crypto.prototype.randomUUID, performance.now is
  // Performance.prototype.now) by assignment creates an own property; restoring by assignment leaves that own property
  // behind, shadowing the prototype for good (a later `vi.spyOn(Crypto.prototype, "randomUUID")` no longer works).
  it.each(["best_effort", "strict"] as const)("%s: leaves every property descriptor as it found it", (mode) => {
    value(inScope(mode, () => undefined));
    const now = snapshot();
    const differing = SLOTS.flatMap((slot, i) => {
      const [was, is] = [shape(ORIGINAL[i]?.descriptor), shape(now[i]?.descriptor)];
      return was === is ? [] : [`${slot.label}: ${was} -> ${is}`];
    });
    expect(differing).toEqual([]);
    expect(Object.hasOwn(crypto, "randomUUID")).toBe(false);
    expect(Object.hasOwn(performance, "now")).toBe(false);
  });

  it("exit is idempotent and a stale scope's exit does not close a newer one", () => {
    const first = enterSandbox("best_effort");
    first.exit();
    first.exit();
    expect(activeSandbox()).toBeUndefined();
    expect(changedValues()).toEqual([]);
    const second = enterSandbox("strict");
    try {
      first.exit(); // stale
      expect(activeSandbox()).toBe(second);
      expect(changedValues()).toContain("Math.random");
    } finally {
      second.exit();
    }
    second.exit();
    expect(changedValues()).toEqual([]);
  });

  it("does not nest: a second enterSandbox throws INVALID_ARGUMENT and leaves the open scope as it is", () => {
    const outer = enterSandbox("best_effort");
    let error: unknown;
    let patchedMeanwhile: string[] = [];
    try {
      try {
        enterSandbox("strict");
      } catch (e) {
        error = e;
      }
      patchedMeanwhile = changedValues();
      expect(activeSandbox()).toBe(outer);
    } finally {
      outer.exit();
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
    // The refused strict scope patched nothing of its own (no module stubs).
    expect(patchedMeanwhile.filter((l) => l.startsWith("node:"))).toEqual([]);
    expect(changedValues()).toEqual([]);
    // And a new scope can open afterwards.
    value(inScope("strict", () => Math.random, null));
  });

  it("restores after many scopes in a row, alternating modes", () => {
    const name = uniqueName("many");
    for (let i = 0; i < 200; i++) {
      const outcome = inScope(
        i % 2 === 0 ? "best_effort" : "strict",
        () => {
          if (i % 2 === 1) Math.random();
          return Date.now();
        },
        makeHost(name).host,
      );
      if (i % 2 === 0) expect(value(outcome)).toBe(START);
      else expect(thrown(outcome)).toBeInstanceOf(SandboxViolationError);
    }
    expect(changedValues()).toEqual([]);
  });
});

describe("an unbound scope (engine code before the workflow starts) passes through to the real functions", () => {
  it.each(["best_effort", "strict"] as const)(
    "%s: time and randomness are the real ones, with no warning",
    async (mode) => {
      const before = real.dateNow();
      const out = value(
        inScope(
          mode,
          () => ({
            now: Date.now(),
            date: msOf(new Date()),
            randoms: [Math.random(), Math.random(), Math.random()],
            uuids: [crypto.randomUUID(), crypto.randomUUID()],
            perf: performance.now(),
            bytes: crypto.getRandomValues(new Uint8Array(32)),
          }),
          null,
        ),
      );
      const after = real.dateNow();
      expect(out.now).toBeGreaterThanOrEqual(before);
      expect(out.now).toBeLessThanOrEqual(after);
      expect(out.date).toBeGreaterThanOrEqual(before);
      expect(out.date).toBeLessThanOrEqual(after);
      expect(new Set(out.randoms).size).toBe(3);
      expect(out.uuids[0]).toMatch(UUID_V4);
      expect(out.uuids[0]).not.toBe(out.uuids[1]);
      expect(out.perf).toBeGreaterThan(0);
      expect(out.perf).toBeLessThanOrEqual(real.performanceNow.call(performance));
      expect(new Set(out.bytes).size).toBeGreaterThan(8);
      await ticks();
      expect(warnings).toEqual([]);
    },
  );

  // Whatever the sandbox captured (at load or when the scope opened) must be the real function and must run. Each
  // function is swapped for a counting wrapper before a fresh copy of the sandbox module loads, then called unbound.
  // Observed: unbound crypto.randomUUID / getRandomValues make bytes from Math.random (not the CSPRNG), setImmediate
  // still becomes a microtask, setInterval and strict's module stubs throw although no workflow code is running.
  const safeTimer =
    (set: string, clear: string, ...args: unknown[]) =>
    () =>
      (g[clear] as (h: unknown) => void)((g[set] as (...a: unknown[]) => unknown)(() => {}, ...args));
  it.each([
    ["Math.random", Math, "random", () => Math.random()],
    ["Date.now", RealDate, "now", () => Date.now()],
    ["new Date() (via Date.now)", RealDate, "now", () => msOf(new Date())],
    ["performance.now", performance, "now", () => performance.now()],
    ["crypto.randomUUID (the CSPRNG, not bytes from Math.random)", crypto, "randomUUID", () => crypto.randomUUID()],
    ["crypto.getRandomValues (the CSPRNG)", crypto, "getRandomValues", () => crypto.getRandomValues(new Uint8Array(8))],
    ["setTimeout", globalThis, "setTimeout", safeTimer("setTimeout", "clearTimeout", 1)],
    [
      "setImmediate (a real Immediate, not a microtask)",
      globalThis,
      "setImmediate",
      safeTimer("setImmediate", "clearImmediate"),
    ],
    ["setInterval", globalThis, "setInterval", safeTimer("setInterval", "clearInterval", 1_000)],
    ["fetch", globalThis, "fetch", () => (g["fetch"] as () => unknown)()],
    ["node:fs in strict (fs.existsSync)", fs, "existsSync", () => fs.existsSync(THIS_FILE)],
  ] as const)("%s", async (_label, target, key, call) => {
    const t = target as unknown as Record<string, unknown>;
    const own = Object.getOwnPropertyDescriptor(t, key);
    const original = t[key] as (...args: unknown[]) => unknown;
    let calls = 0;
    t[key] = function (this: unknown, ...args: unknown[]) {
      calls++;
      return key === "fetch" ? Promise.resolve(new Response("ok")) : original.apply(this, args);
    };
    try {
      vi.resetModules();
      const fresh = (await import("./sandbox.js")) as typeof import("./sandbox.js");
      const results: string[] = [];
      for (const mode of ["best_effort", "strict"] as const) {
        const before = calls;
        const scope = fresh.enterSandbox(mode);
        let outcome = "returned";
        try {
          call();
        } catch (error) {
          outcome = String(error);
        } finally {
          scope.exit();
        }
        results.push(`${mode}: ${outcome}, real function called ${calls - before > 0 ? "yes" : "no"}`);
      }
      expect(results).toEqual([
        "best_effort: returned, real function called yes",
        "strict: returned, real function called yes",
      ]);
    } finally {
      if (own === undefined) delete t[key];
      else Object.defineProperty(t, key, own);
    }
  });
});

describe("best_effort: deterministic replacements", () => {
  it("Date.now() and new Date() are the host's time, and follow it", () => {
    const h = makeHost();
    const out = value(
      inScope(
        "best_effort",
        () => {
          const a = [Date.now(), msOf(new Date()), new Date().toISOString()] as const;
          h.advance(2_500);
          return [...a, Date.now(), msOf(new Date())];
        },
        h.host,
      ),
    );
    expect(out).toEqual([START, START, new RealDate(START).toISOString(), START + 2_500, START + 2_500]);
  });

  it("Date with arguments, Date.UTC and Date.parse are untouched (deterministic already) and raise no warning", async () => {
    const out = value(
      inScope("best_effort", () => [
        new Date(0).getTime(),
        new Date("2021-02-03T04:05:06Z").getTime(),
        new Date(2021, 1, 3).getFullYear(),
        Date.UTC(2022, 0, 1),
        Date.parse("2023-01-01T00:00:00Z"),
      ]),
    );
    expect(out).toEqual([
      0,
      RealDate.UTC(2021, 1, 3, 4, 5, 6),
      2021,
      RealDate.UTC(2022, 0, 1),
      RealDate.UTC(2023, 0, 1),
    ]);
    await ticks();
    expect(warnings).toEqual([]);
  });

  // Date() called without `new` returns the current time as a string; the sandbox's Date is a class, so the call
  // throws "Class constructor Date cannot be invoked without 'new'" (also unbound, i.e. in engine code).
  it("Date() called as a function gives the host's time as a string, as the real one gives the wall clock", () => {
    const h = makeHost();
    const bound = inScope("best_effort", () => (Date as unknown as () => string)(), h.host);
    expect(bound).toEqual({ ok: true, value: new RealDate(START).toString() });
    const unbound = inScope("best_effort", () => (Date as unknown as () => string)(), null);
    expect(unbound.ok).toBe(true);
    expect(typeof (unbound.ok && unbound.value)).toBe("string");
  });

  it("instanceof Date keeps working: for dates made before the scope, inside it, and after it", () => {
    const before = new Date(1);
    const { inside, checks } = value(
      inScope("best_effort", () => {
        const inside = new Date();
        return {
          inside,
          checks: [
            before instanceof Date,
            inside instanceof Date,
            new Date(5) instanceof Date,
            {} instanceof Date,
            Object.prototype.toString.call(inside),
          ],
        };
      }),
    );
    expect(checks).toEqual([true, true, true, false, "[object Date]"]);
    expect(inside instanceof Date).toBe(true);
    expect(inside.getTime()).toBe(START);
    expect(inside.toISOString()).toBe(new Date(START).toISOString());
    expect(JSON.stringify(inside)).toBe(JSON.stringify(new Date(START)));
  });

  it("Math.random() is the host's seeded stream", () => {
    const h = makeHost("wf-random", "seed-1");
    const out = value(inScope("best_effort", () => [Math.random(), Math.random(), Math.random()], h.host));
    const expected = seededRandom("seed-1");
    expect(out).toEqual([expected(), expected(), expected()]);
  });

  it("crypto.randomUUID() is a v4 UUID from the host's stream: same seed same UUIDs, another seed others", () => {
    const run = (seed: string) =>
      value(
        inScope(
          "best_effort",
          () => [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()],
          makeHost(uniqueName(), seed).host,
        ),
      );
    const a = run("s1");
    for (const u of a) expect(u).toMatch(UUID_V4);
    expect(new Set(a).size).toBe(3);
    expect(run("s1")).toEqual(a);
    expect(run("s2")).not.toEqual(a);
    expect(realRandomUUIDNamed()).toMatch(UUID_V4);
  });

  it("crypto.getRandomValues() fills the given array from the host's stream and returns it", () => {
    const run = (seed: string) =>
      value(
        inScope(
          "best_effort",
          () => {
            const bytes = new Uint8Array(24);
            const words = new Uint32Array(4);
            const same = crypto.getRandomValues(bytes) === bytes && crypto.getRandomValues(words) === words;
            return { same, bytes: [...bytes], words: [...words] };
          },
          makeHost(uniqueName(), seed).host,
        ),
      );
    const a = run("g1");
    expect(a.same).toBe(true);
    expect(new Set(a.bytes).size).toBeGreaterThan(8);
    expect(a.words.some((w) => w > 0xffff)).toBe(true);
    expect(run("g1")).toEqual(a);
    expect(run("g2")).not.toEqual(a);
  });

  it("performance.now() is deterministic and monotonic: 0 at the first call, then the host's elapsed time", () => {
    const h = makeHost();
    const out = value(
      inScope(
        "best_effort",
        () => {
          const xs = [performance.now(), performance.now()];
          h.advance(1_000);
          xs.push(performance.now());
          h.advance(250);
          xs.push(performance.now(), performance.now());
          return xs;
        },
        h.host,
      ),
    );
    expect(out).toEqual([0, 0, 1_000, 1_250, 1_250]);
    for (let i = 1; i < out.length; i++) expect(out[i] as number).toBeGreaterThanOrEqual(out[i - 1] as number);
  });

  it("setTimeout(cb, ms, ...args) becomes host.timer(ms); a zero or negative delay is a microtask, no timer", async () => {
    const h = makeHost();
    const calls: unknown[][] = [];
    value(
      inScope(
        "best_effort",
        () => {
          setTimeout((...args: unknown[]) => calls.push(args), 2_000, "a", 1);
          setTimeout(() => calls.push(["no delay"]));
          setTimeout(() => calls.push(["negative"]), -5);
        },
        h.host,
      ),
    );
    expect(h.timers.map((t) => t.ms)).toEqual([2_000]);
    await ticks();
    expect(calls).toEqual([["no delay"], ["negative"]]);
    h.timers[0]?.fire();
    await ticks();
    expect(calls).toEqual([["no delay"], ["negative"], ["a", 1]]);
  });

  it("clearTimeout cancels the callback of a sandboxed setTimeout (the durable timer itself still fires)", async () => {
    const h = makeHost();
    const calls: string[] = [];
    value(
      inScope(
        "best_effort",
        () => {
          const a = setTimeout(() => calls.push("cancelled"), 1_000);
          setTimeout(() => calls.push("kept"), 1_000);
          clearTimeout(a);
          clearTimeout(undefined);
          clearTimeout(12345 as unknown as NodeJS.Timeout);
        },
        h.host,
      ),
    );
    expect(h.timers).toHaveLength(2);
    for (const t of h.timers) t.fire();
    await ticks();
    expect(calls).toEqual(["kept"]);
  });

  it("setImmediate(cb, ...args) runs the callback within the turn (a microtask), before any real macrotask", async () => {
    const order: string[] = [];
    value(
      inScope("best_effort", () => {
        setImmediate((x: string) => order.push(`immediate ${x}`), "arg");
      }),
    );
    (real.setTimeout as (cb: () => void, ms: number) => void)(() => order.push("real timeout"), 0);
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual(["immediate arg"]);
    await new Promise<void>((r) => (real.setTimeout as (cb: () => void, ms: number) => void)(() => r(), 5));
    expect(order).toEqual(["immediate arg", "real timeout"]);
  });

  it("fetch() runs unchanged (the function in place when the scope opened), with a warning", async () => {
    const calls: unknown[] = [];
    const stub = (...args: unknown[]) => {
      calls.push(args);
      return Promise.resolve(new Response("stubbed"));
    };
    g["fetch"] = stub;
    const name = uniqueName("fetcher");
    let response: unknown;
    try {
      response = value(
        inScope("best_effort", () => (g["fetch"] as typeof fetch)("http://127.0.0.1:9/x"), makeHost(name).host),
      );
    } finally {
      g["fetch"] = real.fetch;
    }
    expect(calls).toEqual([["http://127.0.0.1:9/x"]]);
    expect(await (await (response as Promise<Response>)).text()).toBe("stubbed");
    await ticks();
    expect(warnings.map((w) => [w.workflowName, w.call])).toEqual([[name, "fetch()"]]);
    expect(warnings[0]?.message).toMatch(/ran unchanged and may break replay/);
    expect(warnings[0]?.suggestion).toMatch(/activity/);
  });

  it("setInterval() is refused even in best_effort (a repeating timer cannot be replayed)", () => {
    const error = thrown(inScope("best_effort", () => setInterval(() => {}, 1_000)));
    expect(error).toBeInstanceOf(SandboxViolationError);
    expect((error as SandboxViolationError).violation).toBe("setInterval()");
    expect((error as SandboxViolationError).suggestion).toMatch(/ctx\.sleep/);
  });

  it("best_effort leaves the disk alone (node:fs is only refused in strict)", () => {
    expect(value(inScope("best_effort", () => readFileSync(THIS_FILE, "utf8").length))).toBeGreaterThan(100);
  });
});

describe("best_effort: NonDeterminismWarning", () => {
  it("warns once per workflow and call, through process 'warning' events", async () => {
    const a = uniqueName("wa");
    const b = uniqueName("wb");
    value(
      inScope(
        "best_effort",
        () => {
          for (let i = 0; i < 3; i++) {
            Date.now();
            Math.random();
          }
          new Date();
          crypto.randomUUID();
          crypto.getRandomValues(new Uint8Array(2));
          performance.now();
          setTimeout(() => {}, 10);
          setImmediate(() => {});
        },
        makeHost(a).host,
      ),
    );
    // The same workflow in a later turn: nothing new. Another workflow: warned again.
    value(
      inScope(
        "best_effort",
        () => {
          Date.now();
          Math.random();
        },
        makeHost(a).host,
      ),
    );
    value(inScope("best_effort", () => Math.random(), makeHost(b).host));
    await ticks();
    expect(warnings.map((w) => `${w.workflowName} ${w.call}`)).toEqual([
      `${a} Date.now()`,
      `${a} Math.random()`,
      `${a} new Date()`,
      `${a} crypto.randomUUID()`,
      `${a} crypto.getRandomValues()`,
      `${a} performance.now()`,
      `${a} setTimeout()`,
      `${a} setImmediate()`,
      `${b} Math.random()`,
    ]);
    for (const w of warnings) {
      expect(w).toBeInstanceOf(NonDeterminismWarning);
      expect(w).toBeInstanceOf(Error);
      expect(w.name).toBe("NonDeterminismWarning");
      expect(w.message).toContain(`Workflow '${w.workflowName}' called ${w.call}`);
      expect(w.message).toMatch(/replaced it with a deterministic equivalent/);
      expect(w.message).toContain(w.suggestion);
    }
    const suggestion = (call: string) => warnings.find((w) => w.call === call)?.suggestion;
    expect(suggestion("Date.now()")).toBe("ctx.now()");
    expect(suggestion("Math.random()")).toBe("ctx.random()");
    expect(suggestion("crypto.randomUUID()")).toBe("ctx.uuid4()");
    expect(suggestion("setTimeout()")).toMatch(/ctx\.sleep/);
  });

  it("strict never warns (it throws), and an unbound scope neither warns nor throws", async () => {
    inScope("strict", () => Math.random(), makeHost(uniqueName("strict-w")).host);
    inScope("best_effort", () => Math.random(), null);
    await ticks();
    expect(warnings).toEqual([]);
  });
});

describe("strict: SandboxViolationError", () => {
  // Should a stub be missing, the real call must not leave an unhandled error or a live handle behind.
  const quiet = (p: Promise<unknown>) => {
    p.catch(() => {});
    return p;
  };
  const closed = (handle: {
    on?: (event: string, f: () => void) => void;
    destroy?: () => void;
    close?: () => void;
    terminate?: () => unknown;
  }) => {
    handle.on?.("error", () => {});
    handle.destroy?.();
    handle.close?.();
    void handle.terminate?.();
    return handle;
  };
  const cases: [string, () => unknown, string, RegExp][] = [
    ["Date.now()", () => Date.now(), "Date.now()", /ctx\.now\(\)/],
    ["new Date()", () => new Date(), "new Date()", /ctx\.now\(\)/],
    ["Math.random()", () => Math.random(), "Math.random()", /ctx\.random\(\)/],
    ["crypto.randomUUID()", () => crypto.randomUUID(), "crypto.randomUUID()", /ctx\.uuid4\(\)/],
    [
      "crypto.getRandomValues()",
      () => crypto.getRandomValues(new Uint8Array(4)),
      "crypto.getRandomValues()",
      /ctx\.random\(\)/,
    ],
    ["performance.now()", () => performance.now(), "performance.now()", /ctx\.now\(\)/],
    ["setTimeout()", () => setTimeout(() => {}, 1_000), "setTimeout()", /ctx\.sleep/],
    ["setInterval()", () => setInterval(() => {}, 1_000), "setInterval()", /ctx\.sleep/],
    ["setImmediate()", () => setImmediate(() => {}), "setImmediate()", /after an await/],
    ["fetch()", () => quiet(fetch("http://127.0.0.1:9/")), "fetch()", /activity/],
    ["readFileSync (ESM named import)", () => readFileSync(THIS_FILE), "fs.readFileSync()", /activity/],
    ["fs.readFileSync (ESM default import)", () => fs.readFileSync(THIS_FILE), "fs.readFileSync()", /activity/],
    ["fs.readFileSync (namespace import)", () => fsNamespace.readFileSync(THIS_FILE), "fs.readFileSync()", /activity/],
    ["fs.readFileSync (require)", () => require("node:fs").readFileSync(THIS_FILE), "fs.readFileSync()", /activity/],
    ["fs.writeFileSync", () => fs.writeFileSync("/nonexistent/x", "x"), "fs.writeFileSync()", /activity/],
    ["fs.existsSync", () => fs.existsSync(THIS_FILE), "fs.existsSync()", /activity/],
    ["fs.readFile (callback)", () => fs.readFile(THIS_FILE, () => {}), "fs.readFile()", /activity/],
    ["readFile from node:fs/promises", () => quiet(readFilePromise(THIS_FILE)), "fs/promises.readFile()", /activity/],
    ["fs.promises.readFile", () => quiet(fs.promises.readFile(THIS_FILE)), "fs/promises.readFile()", /activity/],
    ["net.connect", () => closed(require("node:net").connect(9, "127.0.0.1")), "net.connect()", /activity/],
    ["net.createServer", () => require("node:net").createServer(), "net.createServer()", /activity/],
    ["tls.connect", () => closed(require("node:tls").connect(9, "127.0.0.1")), "tls.connect()", /activity/],
    ["http.request", () => closed(require("node:http").request("http://127.0.0.1:9/")), "http.request()", /activity/],
    ["http.get", () => closed(require("node:http").get("http://127.0.0.1:9/")), "http.get()", /activity/],
    [
      "https.request",
      () => closed(require("node:https").request("https://127.0.0.1:9/")),
      "https.request()",
      /activity/,
    ],
    ["http2.connect", () => closed(require("node:http2").connect("http://127.0.0.1:9")), "http2.connect()", /activity/],
    ["dns.lookup", () => require("node:dns").lookup("localhost", () => {}), "dns.lookup()", /activity/],
    [
      "dns/promises.resolve",
      () => quiet(require("node:dns/promises").resolve("localhost")),
      "dns/promises.resolve()",
      /activity/,
    ],
    ["child_process.spawn", () => require("node:child_process").spawn("true"), "child_process.spawn()", /activity/],
    [
      "child_process.execSync",
      () => require("node:child_process").execSync("true"),
      "child_process.execSync()",
      /activity/,
    ],
    // The stub is an arrow function, so `new Worker(...)` throws "Worker is not a constructor" (a TypeError).
    [
      "new Worker() from node:worker_threads",
      () => closed(new (require("node:worker_threads").Worker)("process.exit(0)", { eval: true })),
      "worker_threads.Worker()",
      /activity/,
    ],
  ];

  it.each(cases)(
    "%s throws SandboxViolationError naming the call and the alternative",
    (_label, call, violation, alt) => {
      const error = thrown(inScope("strict", call));
      expect(error).toBeInstanceOf(SandboxViolationError);
      const e = error as SandboxViolationError;
      expect(e.code).toBe("SANDBOX_VIOLATION");
      expect(e.name).toBe("SandboxViolationError");
      expect(e.violation).toBe(violation);
      expect(e.suggestion).toMatch(alt);
      expect(e.message).toContain(violation);
      expect(e.message).toContain(e.suggestion);
      expect(e.message).toMatch(/strict-mode workflow/);
    },
  );

  it("deterministic Date uses stay allowed in strict", () => {
    const out = value(
      inScope("strict", () => [new Date(7).getTime(), Date.UTC(2020, 0, 1), new Date(0) instanceof Date]),
    );
    expect(out).toEqual([7, START - 12 * 3600_000, true]);
  });

  it("a violation caught by the code leaves the scope usable, and exit restores everything", () => {
    const out = value(
      inScope("strict", () => {
        const errors: string[] = [];
        for (const f of [() => Math.random(), () => readFileSync(THIS_FILE)]) {
          try {
            f();
          } catch (e) {
            errors.push((e as SandboxViolationError).violation);
          }
        }
        return errors;
      }),
    );
    expect(out).toEqual(["Math.random()", "fs.readFileSync()"]);
    expect(readFileSync(THIS_FILE, "utf8").length).toBeGreaterThan(0);
  });
});
