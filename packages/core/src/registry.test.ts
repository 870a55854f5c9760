// The workflow/activity registry (Dapr Python tests/durabletask/test_registry.py, §4.4 and §2.9 of seed_python.md):
// names are required and unique, definitions and plain functions both register, and named versions resolve as
// "unversioned wins, else the recorded version, else the latest".
import { describe, expect, it } from "vitest";
import type { ActivityContext } from "./activity.js";
import type { WorkflowContext } from "./context.js";
import { defineActivity, defineWorkflow } from "./definitions.js";
import { InvalidArgumentError } from "./errors.js";
import { Registry } from "./registry.js";

function greet(_ctx: WorkflowContext) {
  return "hi";
}
const hello = (_ctx: ActivityContext, name: string) => `Hello ${name}!`;

/** Asserts `fn` throws an InvalidArgumentError (code INVALID_ARGUMENT) whose message contains `fragment`. */
function expectInvalid(fn: () => unknown, fragment: string | RegExp) {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidArgumentError);
  expect((thrown as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
  expect((thrown as Error).message).toMatch(fragment);
}

function named<F extends (...args: never[]) => unknown>(fn: F, name: string): F {
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}

describe("registry: workflows", () => {
  // python: test_registry_add_orchestrator
  it("registers a workflow function under its own name", () => {
    const r = new Registry().addWorkflow(greet);
    expect(r.workflowNames).toEqual(["greet"]);
    const resolved = r.resolveWorkflow("greet", undefined);
    expect(resolved.ok && resolved.workflow.run).toBe(greet);
    expect(resolved.ok && resolved.workflow.version).toBeUndefined();
  });

  it("an explicit name overrides the function's name", () => {
    const r = new Registry().addWorkflow(greet, { name: "Greeting" });
    expect(r.workflowNames).toEqual(["Greeting"]);
    expect(r.resolveWorkflow("greet", undefined)).toEqual({ ok: false, reason: "not-registered" });
  });

  // python: test_registry_add_orchestrator_none (anonymous functions have no name)
  it("rejects an anonymous workflow function", () => {
    const r = new Registry();
    expectInvalid(() => r.addWorkflow(function* () {}), /non-empty name/);
    expectInvalid(() => r.addWorkflow(() => null), /non-empty name/);
    expectInvalid(() => r.addWorkflow(named(() => null, "anonymous")), /anonymous/);
    expect(r.workflowNames).toEqual([]);
  });

  // python: test_registry_add_orchestrator_empty_name
  it("rejects empty and blank workflow names", () => {
    const r = new Registry();
    expectInvalid(() => r.addWorkflow(greet, { name: "" }), /non-empty name/);
    expectInvalid(() => r.addWorkflow(greet, { name: "   " }), /non-empty name/);
    expect(r.workflowNames).toEqual([]);
  });

  // python: test_registry_add_orchestrator_duplicate
  it("rejects a duplicate workflow name, whether function or definition", () => {
    const r = new Registry().addWorkflow(greet);
    expectInvalid(() => r.addWorkflow(greet), /'greet' is already registered/);
    expectInvalid(() => r.addWorkflow(defineWorkflow("greet", () => 1)), /'greet' is already registered/);
    expect(r.workflowNames).toEqual(["greet"]);
  });

  it("registers definitions under their defined name, or an explicit one", () => {
    const def = defineWorkflow("order", () => "ok");
    const r = new Registry().addWorkflow(def).addWorkflow(def, { name: "order-copy" });
    expect(r.workflowNames).toEqual(["order", "order-copy"]);
    const resolved = r.resolveWorkflow("order", undefined);
    expect(resolved.ok && resolved.workflow.run).toBe(def.run);
  });

  it("defineWorkflow itself rejects an empty name", () => {
    expectInvalid(() => defineWorkflow("", () => 1), /non-empty name/);
    expectInvalid(() => defineWorkflow(" ", () => 1), /non-empty name/);
  });

  // python: test_registry_get_orchestrator_missing
  it("a missing workflow resolves to not-registered", () => {
    expect(new Registry().addWorkflow(greet).resolveWorkflow("nope", undefined)).toEqual({
      ok: false,
      reason: "not-registered",
    });
  });

  // python: test_registry_add_multiple_orchestrators
  it("holds several workflows, listed in registration order", () => {
    function* b() {}
    const r = new Registry()
      .addWorkflow(greet)
      .addWorkflow(b)
      .addWorkflow(defineWorkflow("c", () => 3));
    expect(r.workflowNames).toEqual(["greet", "b", "c"]);
    for (const name of ["greet", "b", "c"]) expect(r.resolveWorkflow(name, undefined).ok).toBe(true);
  });
});

describe("registry: activities", () => {
  // python: test_registry_add_activity, test_registry_get_activity_existing
  it("registers an activity function under its own name and returns it", () => {
    const r = new Registry().addActivity(hello);
    expect(r.activityNames).toEqual(["hello"]);
    expect(r.getActivity("hello")).toBe(hello);
  });

  // python: test_registry_get_activity_missing
  it("a missing activity is undefined", () => {
    expect(new Registry().addActivity(hello).getActivity("missing")).toBeUndefined();
  });

  // python: test_registry_add_activity_none
  it("rejects an anonymous activity function", () => {
    const r = new Registry();
    expectInvalid(() => r.addActivity(() => 1), /activity needs a non-empty name/);
    expectInvalid(() => r.addActivity(() => {}), /activity needs a non-empty name/);
    expect(r.activityNames).toEqual([]);
  });

  // python: test_registry_add_activity_empty_name
  it("rejects empty and blank activity names", () => {
    const r = new Registry();
    expectInvalid(() => r.addActivity(hello, { name: "" }), /non-empty name/);
    expectInvalid(() => r.addActivity(hello, { name: "\t" }), /non-empty name/);
    expectInvalid(() => defineActivity("", () => 1), /non-empty name/);
  });

  // python: test_registry_add_activity_duplicate
  it("rejects a duplicate activity name, whether function or definition", () => {
    const r = new Registry().addActivity(hello);
    expectInvalid(() => r.addActivity(hello), /activity named 'hello' is already registered/);
    expectInvalid(() => r.addActivity(defineActivity("hello", () => 1)), /'hello' is already registered/);
    expect(r.getActivity("hello")).toBe(hello);
  });

  // python: test_registry_add_multiple_activities
  it("holds several activities, definitions and functions alike", () => {
    const def = defineActivity("charge", (_ctx, amount: number) => amount * 2);
    const r = new Registry().addActivity(hello).addActivity(def).addActivity(hello, { name: "hello2" });
    expect(r.activityNames).toEqual(["hello", "charge", "hello2"]);
    expect(r.getActivity("charge")).toBe(def.run);
    expect(r.getActivity("hello2")).toBe(hello);
  });

  it("workflows and activities have separate namespaces", () => {
    const r = new Registry().addWorkflow(greet, { name: "same" }).addActivity(hello, { name: "same" });
    expect(r.workflowNames).toEqual(["same"]);
    expect(r.activityNames).toEqual(["same"]);
  });
});

describe("registry: named versions", () => {
  const v = (version: string, isLatest = false) =>
    defineWorkflow("wf", () => version, { version, ...(isLatest ? { isLatest } : {}) });
  const versioned = () => new Registry().addWorkflow(v("v1")).addWorkflow(v("v2", true)).addWorkflow(v("v3"));
  const versionOf = (r: Registry, name: string | undefined) => {
    const resolved = r.resolveWorkflow("wf", name);
    return resolved.ok ? resolved.workflow.version : resolved.reason;
  };

  // python: test_registry_add_named_versioned_orchestrators
  it("resolves no recorded version to the latest, and explicit versions to themselves", () => {
    const r = versioned();
    expect(r.workflowNames).toEqual(["wf"]);
    expect(versionOf(r, undefined)).toBe("v2");
    expect(versionOf(r, "v1")).toBe("v1");
    expect(versionOf(r, "v2")).toBe("v2");
    expect(versionOf(r, "v3")).toBe("v3");
  });

  // python: test_registry_add_named_versioned_orchestrators (v4 → VersionNotRegisteredException)
  it("an unknown version is version-not-available", () => {
    expect(versioned().resolveWorkflow("wf", "v4")).toEqual({ ok: false, reason: "version-not-available" });
  });

  it("rejects a second latest version", () => {
    const r = versioned();
    expectInvalid(() => r.addWorkflow(v("v4", true)), /already has a latest version \(v2\)/);
    expect(versionOf(r, undefined)).toBe("v2");
    expect(versionOf(r, "v4")).toBe("version-not-available");
  });

  it("rejects a duplicate version of the same workflow", () => {
    expectInvalid(() => versioned().addWorkflow(v("v1")), /'wf@v1' is already registered/);
  });

  it("the same version name may be used by different workflows", () => {
    const r = new Registry()
      .addWorkflow(defineWorkflow("a", () => 1, { version: "v1", isLatest: true }))
      .addWorkflow(defineWorkflow("b", () => 2, { version: "v1", isLatest: true }));
    expect(r.workflowNames).toEqual(["a", "b"]);
    expect(r.resolveWorkflow("b", "v1").ok).toBe(true);
  });

  it("registration options can version a plain function", () => {
    const r = new Registry()
      .addWorkflow(greet, { name: "wf", version: "1.0" })
      .addWorkflow(greet, { name: "wf", version: "2.0", isLatest: true });
    expect(versionOf(r, undefined)).toBe("2.0");
    expect(versionOf(r, "1.0")).toBe("1.0");
  });

  it("without a latest version, an instance with no recorded version has no version to run", () => {
    // python returns "not registered" here; this engine reports the version as not available.
    const r = new Registry().addWorkflow(v("v1")).addWorkflow(v("v2"));
    expect(r.resolveWorkflow("wf", undefined)).toEqual({ ok: false, reason: "version-not-available" });
  });

  it("an unversioned registration wins over every version", () => {
    const plain = defineWorkflow("wf", () => "plain");
    const r = versioned().addWorkflow(plain);
    for (const name of [undefined, "v1", "v2", "v9"]) {
      const resolved = r.resolveWorkflow("wf", name);
      expect(resolved.ok && resolved.workflow.run).toBe(plain.run);
    }
    expectInvalid(() => r.addWorkflow(defineWorkflow("wf", () => 0)), /'wf' is already registered/);
  });
});
