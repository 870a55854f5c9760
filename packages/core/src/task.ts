import { InvalidArgumentError, InvalidStateError } from "./errors.js";

// Engine-only entry points: reachable inside @dt/core, not through its public exports.
export const RESOLVE = Symbol("resolve");
export const REJECT = Symbol("reject");
export const ON_SETTLED = Symbol("onSettled");

const PENDING = 0;
const COMPLETED = 1;
const FAILED = 2;

/**
 * A durable operation's eventual result. Workflows `yield` a task to wait for it (the value is `any`), or
 * `yield*` it to get the exact type: `const total = yield* ctx.callActivity(sum, { input: [1, 2] })`.
 */
export class Task<T = unknown> {
  #state: 0 | 1 | 2 = PENDING;
  #value: T | undefined;
  #error: Error | undefined;
  #listeners: (() => void)[] | undefined;

  get isComplete(): boolean {
    return this.#state !== PENDING;
  }

  get isFailed(): boolean {
    return this.#state === FAILED;
  }

  /** The result; throws the failure if the task failed, and an INVALID_STATE error while it is pending. */
  getResult(): T {
    if (this.#state === FAILED) throw this.#error;
    if (this.#state === PENDING) throw new InvalidStateError("INVALID_STATE", "The task has not completed yet.");
    return this.#value as T;
  }

  getException(): Error | undefined {
    return this.#error;
  }

  *[Symbol.iterator](): Generator<Task<T>, T, unknown> {
    return (yield this) as T;
  }

  [RESOLVE](value: T): void {
    if (this.#state !== PENDING) return;
    this.#state = COMPLETED;
    this.#value = value;
    this.#notify();
  }

  [REJECT](error: Error): void {
    if (this.#state !== PENDING) return;
    this.#state = FAILED;
    this.#error = error;
    this.#notify();
  }

  /** Runs `listener` once when the task settles (at once if it already has). */
  [ON_SETTLED](listener: () => void): void {
    if (this.#state !== PENDING) listener();
    else if (this.#listeners === undefined) this.#listeners = [listener];
    else this.#listeners.push(listener);
  }

  #notify(): void {
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }
}

export type TaskResult<T> = T extends Task<infer R> ? R : never;
export type TaskResults<T extends readonly Task<unknown>[]> = { -readonly [K in keyof T]: TaskResult<T[K]> };

function assertTasks(tasks: readonly unknown[], fn: string): void {
  for (const [i, t] of tasks.entries()) {
    if (!(t instanceof Task)) {
      throw new InvalidArgumentError(`${fn}() takes tasks; element ${i} is ${t === null ? "null" : typeof t}.`);
    }
  }
}

/**
 * Completes when every task has settled: with all results in order, or with the first failure (in completion
 * order) once the last task has settled, so no sibling is left running unobserved. An empty list completes at once.
 */
export function whenAll<const T extends readonly Task<unknown>[]>(tasks: T): Task<TaskResults<T>> {
  assertTasks(tasks, "whenAll");
  const all = new Task<TaskResults<T>>();
  let pending = tasks.length;
  let firstError: Error | undefined;
  const settle = () => {
    if (firstError !== undefined) all[REJECT](firstError);
    else all[RESOLVE](tasks.map((t) => t.getResult()) as TaskResults<T>);
  };
  if (pending === 0) settle();
  for (const task of tasks) {
    task[ON_SETTLED](() => {
      if (task.isFailed && firstError === undefined) firstError = task.getException();
      if (--pending === 0) settle();
    });
  }
  return all;
}

/** Completes with the first task to settle (a failed task wins too; inspect it with `isFailed`). */
export function whenAny<const T extends readonly Task<unknown>[]>(tasks: T): Task<T[number]> {
  assertTasks(tasks, "whenAny");
  if (tasks.length === 0) throw new InvalidArgumentError("whenAny() needs at least one task.");
  const any = new Task<T[number]>();
  for (const task of tasks) task[ON_SETTLED](() => any[RESOLVE](task));
  return any;
}
