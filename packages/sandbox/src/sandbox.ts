// A sandbox scope patches the process's non-deterministic globals for the duration of one workflow turn, then puts
// the originals back. Patching is process-wide, so the caller must guarantee that nothing but the turn runs while a
// scope is open: @dt/aio opens it inside a fresh setImmediate callback (the microtask queue is empty there) and closes
// it before that callback's microtask chain ends, so activities and other I/O callbacks never see the patches.
import { createRequire, syncBuiltinESMExports } from "node:module";
import { DurableTaskError, InvalidArgumentError, type SandboxMode as Mode } from "@dt/core";

export { parseSandboxMode } from "@dt/core";

export type SandboxMode = Mode;

/** The modes by name, for code that prefers an enum: `SandboxMode.STRICT`. Strings work everywhere too. */
export const SandboxMode = { OFF: "off", BEST_EFFORT: "best_effort", STRICT: "strict" } as const;

/** `DAPR_WF_DISABLE_DETECTION=true` turns every sandbox off, whatever the registrations say. */
export function detectionDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes|on)$/i.test(env["DAPR_WF_DISABLE_DETECTION"] ?? "");
}

/** A strict-mode workflow called something that is not deterministic, or reached for the network or the disk. */
export class SandboxViolationError extends DurableTaskError {
  /** What was called, e.g. `Math.random()`. */
  readonly violation: string;
  /** The deterministic alternative, e.g. `ctx.random()`. */
  readonly suggestion: string;
  constructor(violation: string, suggestion: string) {
    super(
      "SANDBOX_VIOLATION",
      `${violation} is not allowed in a strict-mode workflow: it is not deterministic, so replay could diverge. Use ${suggestion} instead.`,
    );
    this.violation = violation;
    this.suggestion = suggestion;
  }
}

/** Emitted (process.emitWarning) once per workflow and call when best_effort replaced or let through such a call. */
export class NonDeterminismWarning extends Error {
  override readonly name = "NonDeterminismWarning";
  readonly call: string;
  readonly suggestion: string;
  readonly workflowName: string;
  constructor(workflowName: string, call: string, suggestion: string, replaced: boolean) {
    super(
      `Workflow '${workflowName}' called ${call}, which is not deterministic; ${replaced ? "the sandbox replaced it with a deterministic equivalent" : "it ran unchanged and may break replay"}. Use ${suggestion} instead.`,
    );
    this.workflowName = workflowName;
    this.call = call;
    this.suggestion = suggestion;
  }
}

/** The deterministic sources a sandboxed turn uses in place of the real ones (provided by the workflow context). */
export interface SandboxHost {
  readonly workflowName: string;
  /** The turn's deterministic time, in ms since the epoch. */
  now(): number;
  /** The workflow's seeded random stream, in [0, 1). */
  random(): number;
  /** A durable timer of `ms` milliseconds. */
  timer(ms: number): PromiseLike<void>;
}

export interface SandboxScope {
  readonly mode: "best_effort" | "strict";
  /** Called when the workflow's code starts: from then on patched calls use the host. */
  bind(host: SandboxHost): void;
  /** Restores every original. Idempotent. */
  exit(): void;
}

const realDate = globalThis.Date;
const realRandom = Math.random;
const g = globalThis as unknown as Record<string, unknown>;
const perf = globalThis.performance as unknown as Record<string, unknown>;

let active: Scope | undefined;
const warned = new Set<string>();

/**
 * One replaced property. Patched where it is defined (an inherited `crypto.randomUUID` on Crypto.prototype), so entering
 * and leaving a scope only swaps values: no property is added or deleted, and object shapes stay stable.
 */
interface Patch {
  readonly target: Record<string, unknown>;
  readonly key: string;
  /** What was in place when the scope opened (read again each time: tests and tools may have swapped it). */
  original: unknown;
  readonly replacement: unknown;
  readonly access: Access;
}

/**
 * Reads and writes one property. The globals' patches each get their own pair, written out below: a shared
 * `target[key]` sees every object and key and goes megamorphic, which made a scope's enter and exit ~5× slower.
 */
interface Access {
  get(target: Record<string, unknown>): unknown;
  set(target: Record<string, unknown>, value: unknown): void;
}

const keyed = (key: string): Access => ({
  get: (t) => t[key],
  set: (t, v) => {
    t[key] = v;
  },
});

function patchOf(
  object: object,
  key: string,
  replacement: (original: () => unknown) => unknown,
  access: Access = keyed(key),
): Patch {
  let target = object;
  while (!Object.hasOwn(target, key)) target = Object.getPrototypeOf(target) as object;
  const patch = {
    target: target as Record<string, unknown>,
    key,
    original: undefined as unknown,
    replacement: undefined,
    access,
  };
  return Object.assign(patch, { replacement: replacement(() => patch.original) });
}

/** Built on first use: reading `globalThis.fetch` loads Node's fetch, which is not free. */
let globalsPlan: readonly Patch[] | undefined;

function planGlobals(): readonly Patch[] {
  /* biome-ignore format: one accessor pair per patch, one per line */
  const plan = [
    patchOf(globalThis, "Date", () => SandboxDate, { get: (t) => t["Date"], set: (t, v) => { t["Date"] = v; } }),
    patchOf(Math, "random", () => sandboxRandom, { get: (t) => t["random"], set: (t, v) => { t["random"] = v; } }),
    patchOf(globalThis.crypto, "randomUUID", () => sandboxRandomUUID, { get: (t) => t["randomUUID"], set: (t, v) => { t["randomUUID"] = v; } }),
    patchOf(globalThis.crypto, "getRandomValues", () => sandboxGetRandomValues, { get: (t) => t["getRandomValues"], set: (t, v) => { t["getRandomValues"] = v; } }),
    patchOf(globalThis.performance, "now", () => sandboxPerformanceNow, { get: (t) => t["now"], set: (t, v) => { t["now"] = v; } }),
    patchOf(globalThis, "setTimeout", () => sandboxSetTimeout, { get: (t) => t["setTimeout"], set: (t, v) => { t["setTimeout"] = v; } }),
    patchOf(globalThis, "clearTimeout", () => sandboxClearTimeout, { get: (t) => t["clearTimeout"], set: (t, v) => { t["clearTimeout"] = v; } }),
    patchOf(globalThis, "setInterval", () => sandboxSetInterval, { get: (t) => t["setInterval"], set: (t, v) => { t["setInterval"] = v; } }),
    patchOf(globalThis, "setImmediate", () => sandboxSetImmediate, { get: (t) => t["setImmediate"], set: (t, v) => { t["setImmediate"] = v; } }),
    patchOf(process, "hrtime", () => sandboxHrtime, { get: (t) => t["hrtime"], set: (t, v) => { t["hrtime"] = v; } }),
    ...(typeof g["fetch"] === "function" ? [patchOf(globalThis, "fetch", (f) => guard(f, "fetch()", ACTIVITY), { get: (t) => t["fetch"], set: (t, v) => { t["fetch"] = v; } })] : []),
  ];
  return plan;
}

class Scope implements SandboxScope {
  readonly mode: "best_effort" | "strict";
  host: SandboxHost | undefined;
  /** Warnings are emitted after exit: their listeners must not run inside the patch window. */
  readonly warnings: NonDeterminismWarning[] = [];
  constructor(mode: "best_effort" | "strict") {
    this.mode = mode;
  }

  bind(host: SandboxHost): void {
    this.host = host;
  }

  exit(): void {
    if (active !== this) return;
    active = undefined;
    restore(globalsPlan ?? []);
    if (this.mode === "strict") {
      restore(strictPlan ?? []);
      syncBuiltinESMExports();
    }
    for (const warning of this.warnings.splice(0)) process.emitWarning(warning);
  }
}

function apply(plan: readonly Patch[]): void {
  for (const p of plan) {
    p.original = p.access.get(p.target);
    p.access.set(p.target, p.replacement);
  }
}

function restore(plan: readonly Patch[]): void {
  for (let i = plan.length - 1; i >= 0; i--) {
    const p = plan[i] as Patch;
    p.access.set(p.target, p.original);
  }
}

/** The scope currently open, if any. */
export function activeSandbox(): SandboxScope | undefined {
  return active;
}

/**
 * Patches the globals for one turn. Scopes do not nest: the caller runs sandboxed turns one at a time.
 * Call `exit()` when the turn ends.
 */
export function enterSandbox(mode: "best_effort" | "strict"): SandboxScope {
  if (active !== undefined) throw new InvalidArgumentError("A sandbox scope is already open; turns must not overlap.");
  const scope = new Scope(mode);
  active = scope;
  globalsPlan ??= planGlobals();
  apply(globalsPlan);
  if (mode === "strict") {
    strictPlan ??= planStrict();
    apply(strictPlan);
    syncBuiltinESMExports();
  }
  return scope;
}

type AnyFn = (...args: unknown[]) => unknown;
const ACTIVITY = "an activity (ctx.callActivity)";

/**
 * A call made inside the sandbox: strict throws; best_effort warns once per workflow and call and returns true when
 * the caller should use the deterministic replacement. Without a bound host (engine code before the workflow starts)
 * nothing is checked.
 */
function intercept(call: string, suggestion: string, replaced = true): SandboxHost | undefined {
  const scope = active;
  const host = scope?.host;
  if (scope === undefined || host === undefined || bypass > 0) return undefined;
  if (scope.mode === "strict") {
    if (fromInstrumentation()) return undefined;
    throw new SandboxViolationError(call, suggestion);
  }
  const key = `${host.workflowName}\u0000${call}`;
  if (!warned.has(key) && !fromInstrumentation()) {
    warned.add(key);
    scope.warnings.push(new NonDeterminismWarning(host.workflowName, call, suggestion, replaced));
  }
  return host;
}

/**
 * Async hooks (APM agents, diagnostics) run synchronously when workflow code creates a promise: what they call is
 * theirs, not the workflow's. Only checked where it matters (a violation, a first warning), since it takes a stack.
 */
function fromInstrumentation(): boolean {
  return /node:internal\/async_hooks|node:internal\/process\/promises/.test(new Error().stack ?? "");
}

/** Runs `fn` with the real globals even inside a scope (loggers and other SDK callbacks called from workflow code). */
export function outsideSandbox<T>(fn: () => T): T {
  bypass++;
  try {
    return fn();
  } finally {
    bypass--;
  }
}

/** Calls inside a let-through function (fetch's own timers and clocks) are the library's, not the workflow's. */
let bypass = 0;

/** A function that only strict mode refuses (best_effort lets it run, with a warning, and unpatched). */
function guard(original: () => unknown, call: string, suggestion: string): AnyFn {
  return function (this: unknown, ...args: unknown[]) {
    intercept(call, suggestion, false);
    bypass++;
    try {
      return (original() as AnyFn).apply(this, args);
    } finally {
      bypass--;
    }
  };
}

/** `Date` with the workflow's clock: `new Date()`, `Date()` and `Date.now()`; every other form is the real one. */
function SandboxDate(this: unknown, ...args: unknown[]): unknown {
  if (new.target === undefined) return new realDate(sandboxNow("Date()")).toString();
  return Reflect.construct(realDate, args.length === 0 ? [sandboxNow("new Date()")] : args, new.target);
}
// Instances are real Dates (same prototype), so `instanceof Date` holds on both sides of a scope.
SandboxDate.prototype = realDate.prototype;
SandboxDate.now = () => sandboxNow("Date.now()");
SandboxDate.parse = realDate.parse;
SandboxDate.UTC = realDate.UTC;

function sandboxNow(call: string): number {
  return intercept(call, "ctx.now()")?.now() ?? realDate.now();
}

function sandboxRandom(): number {
  return intercept("Math.random()", "ctx.random()")?.random() ?? realRandom();
}

const realRandomUUID = globalThis.crypto.randomUUID.bind(globalThis.crypto);
const realGetRandomValues = globalThis.crypto.getRandomValues.bind(globalThis.crypto);

function randomBytes(host: SandboxHost, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(host.random() * 256);
}

function sandboxRandomUUID(): string {
  const host = intercept("crypto.randomUUID()", "ctx.uuid4()");
  if (host === undefined) return realRandomUUID();
  const b = new Uint8Array(16);
  randomBytes(host, b);
  b[6] = ((b[6] as number) & 0x0f) | 0x40;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function sandboxGetRandomValues<T extends ArrayBufferView | null>(array: T): T {
  const host = intercept("crypto.getRandomValues()", "ctx.random()");
  if (host === undefined) return realGetRandomValues(array as unknown as Uint8Array) as unknown as T;
  if (array !== null) randomBytes(host, new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  return array;
}

const turnStart = new WeakMap<SandboxHost, number>();
function sandboxPerformanceNow(): number {
  const host = intercept("performance.now()", "ctx.now()");
  if (host === undefined) return (realPerformanceNow as () => number).call(globalThis.performance);
  // Milliseconds of workflow time since the turn first asked: deterministic, and monotonic like the real one.
  const now = host.now();
  if (!turnStart.has(host)) turnStart.set(host, now);
  return now - (turnStart.get(host) as number);
}
const realPerformanceNow = perf["now"];

/** Durable-timer handles of sandboxed setTimeout calls; clearTimeout stops the callback (the timer still fires). */
const cancelled = new WeakSet<object>();
/** What a sandboxed setTimeout returns: the surface of Node's Timeout, so libraries that ref/unref it keep working. */
class DurableTimeout {
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return false;
  }
  refresh(): this {
    return this;
  }
}

function sandboxSetTimeout(callback: unknown, ms?: unknown, ...args: unknown[]): object {
  const host = intercept("setTimeout()", "await ctx.sleep(seconds)");
  const handle = new DurableTimeout();
  if (typeof callback !== "function") throw new InvalidArgumentError("setTimeout() needs a callback function.");
  const delay = Math.max(0, Number(ms) || 0);
  const fire = () => {
    if (!cancelled.has(handle)) (callback as AnyFn)(...args);
  };
  if (host === undefined) return (realSetTimeout as AnyFn)(fire, delay) as object;
  // A zero delay only means "after the current code": a microtask, with no durable timer and no sidecar round trip.
  void (delay === 0 ? Promise.resolve() : host.timer(delay)).then(fire);
  return handle;
}
const realSetTimeout = g["setTimeout"];
const realClearTimeout = g["clearTimeout"] as AnyFn;
function sandboxClearTimeout(handle: unknown): void {
  if (typeof handle === "object" && handle !== null) cancelled.add(handle);
  realClearTimeout(handle);
}

function sandboxSetInterval(...args: unknown[]): unknown {
  if (active?.host === undefined || bypass > 0) return (realSetInterval as AnyFn)(...args);
  throw new SandboxViolationError("setInterval()", "a loop of `await ctx.sleep(seconds)` (or continueAsNew)");
}
const realSetInterval = g["setInterval"];

function sandboxSetImmediate(callback: unknown, ...args: unknown[]): unknown {
  if (intercept("setImmediate()", "plain code after an await") === undefined) {
    return (realSetImmediate as AnyFn)(callback, ...args);
  }
  if (typeof callback !== "function") throw new InvalidArgumentError("setImmediate() needs a callback function.");
  // Runs within the turn (a microtask), the only place workflow code may run.
  const handle = {};
  void Promise.resolve().then(() => {
    if (!cancelled.has(handle)) (callback as AnyFn)(...args);
  });
  return handle;
}
const realSetImmediate = g["setImmediate"];

/** process.hrtime (and .bigint) is a clock: strict refuses it; best_effort derives it from the workflow's time. */
const realHrtime = process.hrtime;
function sandboxHrtime(previous?: [number, number]): [number, number] {
  const host = intercept("process.hrtime()", "ctx.now()");
  if (host === undefined) return realHrtime(previous);
  const ns = BigInt(host.now()) * 1_000_000n;
  if (previous === undefined) return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
  const diff = ns - (BigInt(previous[0]) * 1_000_000_000n + BigInt(previous[1]));
  return [Number(diff / 1_000_000_000n), Number(diff % 1_000_000_000n)];
}
sandboxHrtime.bigint = (): bigint => {
  const host = intercept("process.hrtime.bigint()", "ctx.now()");
  return host === undefined ? realHrtime.bigint() : BigInt(host.now()) * 1_000_000n;
};

/** Strict mode also refuses the disk, the network and processes: the modules' functions throw while it is open. */
const STRICT_MODULES: Readonly<Record<string, readonly string[] | "all">> = {
  "node:fs": "all",
  "node:fs/promises": "all",
  "node:net": ["connect", "createConnection", "createServer"],
  "node:tls": ["connect", "createServer"],
  "node:http": ["request", "get", "createServer"],
  "node:https": ["request", "get", "createServer"],
  "node:http2": ["connect", "createServer", "createSecureServer"],
  "node:dns": "all",
  "node:dns/promises": "all",
  "node:child_process": "all",
  "node:worker_threads": ["Worker"],
  "node:crypto": ["randomUUID", "randomBytes", "randomInt", "randomFill", "randomFillSync", "getRandomValues"],
};
const require = createRequire(import.meta.url);

/** What strict mode replaces: own data properties only, found once without running any lazy getter. */
let strictPlan: readonly Patch[] | undefined;

function planStrict(): readonly Patch[] {
  const plan: Patch[] = [];
  for (const [specifier, names] of Object.entries(STRICT_MODULES)) {
    const mod = require(specifier) as Record<string, unknown>;
    // Reading a getter could load an internal module that captures a stub for good, so only data properties count.
    const keys = names === "all" ? Object.keys(mod).filter((k) => !/^[A-Z]/.test(k)) : names;
    for (const key of keys) {
      const d = Object.getOwnPropertyDescriptor(mod, key);
      if (d === undefined || !("value" in d) || typeof d.value !== "function") continue;
      plan.push(patchOf(mod, key, (original) => refuse(original, `${specifier.slice(5)}.${key}()`)));
    }
  }
  return plan;
}

/** A plain function, so `new Worker(...)` reaches it too; engine code before the workflow starts passes through. */
function refuse(original: () => unknown, call: string): AnyFn {
  return function (this: unknown, ...args: unknown[]) {
    if (active?.host === undefined || bypass > 0 || fromInstrumentation()) {
      const fn = original() as AnyFn;
      return new.target === undefined ? fn.apply(this, args) : Reflect.construct(fn, args, new.target);
    }
    throw new SandboxViolationError(call, ACTIVITY);
  };
}
