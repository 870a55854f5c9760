import { InvalidArgumentError, InvalidStateError } from "./errors.js";

// Engine-only entry points: reachable inside @dt/core, not through its public exports.
export const RESOLVE = Symbol("resolve");
export const REJECT = Symbol("reject");
export const ON_SETTLED = Symbol("onSettled");

const PENDING = 0;
const COMPLETED = 1;
const FAILED = 2;

/**
 * How one turn of an async workflow tracks its awaits: `waiting` counts callbacks registered on tasks that are still
 * pending (zero while the code has not settled means it awaits something that is not a task), and `woke` is set when
 * a task's settlement queued code to run, so the engine lets that code run before it processes the next event.
 */
export interface AwaitTracker {
  waiting: number;
  woke: boolean;
  /** The turn is over (set by the engine): code that runs now (after a foreign await) can no longer act. */
  closed?: boolean;
  /** Code awaited a task between turns: the execution is no longer the one a replay would rebuild. */
  late?: boolean;
}

/** The whenAny winner being handed to an await: its `then` reads as absent so the task itself is the result. */
let handingOver: Task<unknown> | undefined;

/**
 * A durable operation's eventual result. Generator workflows `yield` a task to wait for it (the value is `any`), or
 * `yield*` it to get the exact type: `const total = yield* ctx.callActivity(sum, { input: [1, 2] })`. Async
 * workflows (@dt/aio) `await` it: a task is a PromiseLike that settles when history resolves it.
 */
export class Task<T = unknown> implements PromiseLike<T> {
  #state: 0 | 1 | 2 = PENDING;
  #value: T | undefined;
  #error: Error | undefined;
  #listeners: (() => void)[] | undefined;
  /** @internal The turn that created the task (absent for tasks no async workflow can await). */
  readonly tracker: AwaitTracker | undefined;

  constructor(tracker?: AwaitTracker) {
    this.tracker = tracker;
  }

  /**
   * Awaiting a task waits for history to settle it. A getter, so that a whenAny winner handed to an await is taken
   * as the value itself (`winner === approval`), not unwrapped to its result.
   */
  // biome-ignore lint/suspicious/noThenProperty: a task is deliberately PromiseLike, so async workflows can await it.
  get then(): PromiseLike<T>["then"] {
    return (handingOver === this ? undefined : taskThen) as PromiseLike<T>["then"];
  }

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

function taskThen<T, R1 = T, R2 = never>(
  this: Task<T>,
  onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
  onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
): Promise<R1 | R2> {
  return new Promise<R1 | R2>((resolve, reject) => {
    const settle = () => {
      const failed = this.isFailed;
      const handler = failed ? onRejected : onFulfilled;
      const arg = failed ? this.getException() : this.getResult();
      if (typeof handler !== "function") return failed ? reject(arg) : handOver(arg, resolve as (v: unknown) => void);
      try {
        handOver(arg, (v) => resolve((handler as (v: unknown) => R1 | R2)(v)));
      } catch (error) {
        reject(error);
      }
    };
    const tracker = this.tracker;
    if (this.isComplete) {
      // Promise semantics: callbacks never run inside `then` itself.
      void Promise.resolve().then(settle);
    } else {
      if (tracker !== undefined) {
        tracker.waiting++;
        if (tracker.closed === true) tracker.late = true;
      }
      this[ON_SETTLED](() => {
        if (tracker !== undefined) {
          tracker.waiting--;
          tracker.woke = true;
        }
        settle();
      });
    }
  });
}

/** Calls `fn(value)`; a task value (a whenAny winner) is passed as itself, not adopted as a thenable. */
function handOver(value: unknown, fn: (value: unknown) => void): void {
  if (!(value instanceof Task)) return fn(value);
  handingOver = value;
  try {
    fn(value);
  } finally {
    handingOver = undefined;
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
  const all = new Task<TaskResults<T>>((tasks[0] as Task<unknown> | undefined)?.tracker);
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
  const any = new Task<T[number]>((tasks[0] as Task<unknown>).tracker);
  for (const task of tasks) task[ON_SETTLED](() => any[RESOLVE](task));
  return any;
}
