import {
  type ActivityDefinition,
  type ActivityFunction,
  checkName,
  parseSandboxMode,
  type SandboxMode,
  type WorkflowDefinition,
  type WorkflowFunction,
} from "./definitions.js";
import { InvalidArgumentError } from "./errors.js";

export interface RegisteredWorkflow {
  readonly name: string;
  readonly run: (ctx: never, input: never) => unknown;
  /** The version name, for versioned registrations. */
  readonly version: string | undefined;
  /** How its turns are sandboxed (applied by @dt/aio's turn runner); undefined means off. */
  readonly sandboxMode: SandboxMode | undefined;
}

export interface WorkflowRegistration {
  readonly name?: string;
  readonly version?: string;
  readonly isLatest?: boolean;
  /** Determinism checks for this workflow's turns (@dt/sandbox): `off` (default), `best_effort` or `strict`. */
  readonly sandboxMode?: SandboxMode;
}

interface WorkflowVersions {
  unversioned: RegisteredWorkflow | undefined;
  readonly versions: Map<string, RegisteredWorkflow>;
  latest: RegisteredWorkflow | undefined;
}

export type WorkflowResolution =
  | { readonly ok: true; readonly workflow: RegisteredWorkflow }
  | { readonly ok: false; readonly reason: "not-registered" | "version-not-available" };

/** The workflows and activities a worker can run, by name (and version, for workflows). */
export class Registry {
  readonly #workflows = new Map<string, WorkflowVersions>();
  readonly #activities = new Map<string, ActivityFunction<unknown, unknown>>();

  addWorkflow(workflow: WorkflowDefinition | WorkflowFunction, registration: WorkflowRegistration = {}): this {
    const def = typeof workflow === "function" ? undefined : workflow;
    const run = typeof workflow === "function" ? workflow : workflow.run;
    const name = checkName(registration.name ?? def?.name ?? run.name, "workflow");
    const version = registration.version ?? def?.version;
    const isLatest = registration.isLatest ?? def?.isLatest ?? false;
    const entry = this.#workflows.get(name) ?? { unversioned: undefined, versions: new Map(), latest: undefined };
    const mode = registration.sandboxMode ?? def?.sandboxMode;
    const sandboxMode = mode === undefined ? undefined : parseSandboxMode(mode);
    const registered: RegisteredWorkflow = { name, run: run as RegisteredWorkflow["run"], version, sandboxMode };
    if (version === undefined) {
      if (entry.unversioned !== undefined) throw duplicate("workflow", name);
      entry.unversioned = registered;
    } else {
      if (entry.versions.has(version)) throw duplicate("workflow", `${name}@${version}`);
      if (isLatest && entry.latest !== undefined) {
        throw new InvalidArgumentError(
          `Workflow '${name}' already has a latest version (${entry.latest.version}); only one version can be latest.`,
        );
      }
      entry.versions.set(version, registered);
      if (isLatest) entry.latest = registered;
    }
    this.#workflows.set(name, entry);
    return this;
  }

  addActivity(activity: ActivityDefinition | ActivityFunction, registration: { readonly name?: string } = {}): this {
    const run = typeof activity === "function" ? activity : activity.run;
    const name = checkName(
      registration.name ?? (typeof activity === "function" ? run.name : activity.name),
      "activity",
    );
    if (this.#activities.has(name)) throw duplicate("activity", name);
    this.#activities.set(name, run as ActivityFunction<unknown, unknown>);
    return this;
  }

  /**
   * An unversioned registration always wins. Otherwise the version recorded in history is required; a new instance
   * (no recorded version) runs the latest.
   */
  resolveWorkflow(name: string, versionName: string | undefined): WorkflowResolution {
    const entry = this.#workflows.get(name);
    if (entry === undefined) return { ok: false, reason: "not-registered" };
    if (entry.unversioned !== undefined) return { ok: true, workflow: entry.unversioned };
    const workflow = versionName === undefined ? entry.latest : entry.versions.get(versionName);
    return workflow === undefined ? { ok: false, reason: "version-not-available" } : { ok: true, workflow };
  }

  getActivity(name: string): ActivityFunction<unknown, unknown> | undefined {
    return this.#activities.get(name);
  }

  get workflowNames(): string[] {
    return [...this.#workflows.keys()];
  }

  get activityNames(): string[] {
    return [...this.#activities.keys()];
  }
}

function duplicate(what: string, name: string): InvalidArgumentError {
  return new InvalidArgumentError(`A ${what} named '${name}' is already registered.`);
}
