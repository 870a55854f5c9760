// The test's side of worker-process.ts: starts it (stopped by its PID), keeps what it reports, and sends commands.
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import type { ErrorInfo, FromWorker, Memory, ToWorker } from "./protocol.ts";

const SCRIPT = join(import.meta.dirname, "worker-process.ts");

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A reply to a command: its value, or the error it failed with. */
export type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ErrorInfo };

export class WorkerProcess {
  readonly logs: { readonly level: string; readonly message: string; readonly attributes?: unknown }[] = [];
  readonly crashes: FromWorker[] = [];
  readonly activities: string[] = [];
  /** Every readiness change the worker reported, in order. */
  readonly readiness: boolean[] = [];
  idle: Memory = { rss: 0, maxRss: 0 };
  /** What the process wrote to stdout and stderr (the newest 64 KiB). */
  output = "";
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  readonly #pending = new Map<number, (answer: Answer<unknown>) => void>();
  readonly #listeners = new Set<() => void>();
  #nextId = 1;

  private constructor(options: Record<string, unknown>) {
    this.#child = fork(SCRIPT, [JSON.stringify(options)], {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const append = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-65_536);
    };
    this.#child.stdout?.on("data", append);
    this.#child.stderr?.on("data", append);
    this.#exited = new Promise((resolve) => this.#child.once("exit", (code) => resolve(code)));
    void this.#exited.then(() => {
      for (const resolve of this.#pending.values()) {
        resolve({ ok: false, error: { name: "Exited", message: `the worker process exited\n${this.output}` } });
      }
      this.#pending.clear();
      this.#changed();
    });
    this.#child.on("message", (raw) => this.#receive(raw as FromWorker));
  }

  /** Starts a worker process with `options` (WorkerOptions as JSON); resolves once it reported its idle memory. */
  static async start(options: Record<string, unknown>): Promise<WorkerProcess> {
    const worker = new WorkerProcess(options);
    await worker.until(() => worker.idle.maxRss > 0, "the worker process to start");
    return worker;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** The worker's readiness as last reported. */
  get ready(): boolean {
    return this.readiness.at(-1) ?? false;
  }

  /** Resolves once `condition()` holds, re-checked on each report; rejects if the process exits first. */
  async until(condition: () => boolean, what: string): Promise<void> {
    let exited = false;
    void this.#exited.then(() => {
      exited = true;
    });
    while (!condition()) {
      if (exited) throw new Error(`the worker process exited before ${what}\n${this.output}`);
      await new Promise<void>((resolve) => this.#listeners.add(resolve));
    }
  }

  waitForReady(timeoutMs: number): Promise<Answer<unknown>> {
    return this.#command({ cmd: "waitForReady", timeoutMs });
  }

  async memory(): Promise<Memory> {
    const answer = await this.#command({ cmd: "memory" });
    if (!answer.ok) throw new Error(answer.error.message);
    return answer.value as Memory;
  }

  /**
   * Stops the worker and waits (up to `graceMs`) for its process to exit on its own, as it does when nothing is left
   * running; else kills it by PID. Resolves with its final memory and exit code (null when it had to be killed).
   */
  async stop(graceMs = 10_000): Promise<{ memory: Memory | undefined; exitCode: number | null }> {
    const answer = await this.#command({ cmd: "stop" });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      this.#exited,
      new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (code === "late") {
      await this.kill();
      return { memory: answer.ok ? (answer.value as Memory) : undefined, exitCode: null };
    }
    return { memory: answer.ok ? (answer.value as Memory) : undefined, exitCode: code };
  }

  /** SIGKILL by PID, if it still runs. */
  async kill(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.kill("SIGKILL");
    await this.#exited;
  }

  #command(command: DistributiveOmit<ToWorker, "id">): Promise<Answer<unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      if (!this.#child.connected) {
        resolve({ ok: false, error: { name: "Exited", message: `the worker process is gone\n${this.output}` } });
        return;
      }
      this.#pending.set(id, resolve);
      this.#child.send({ ...command, id } as ToWorker);
    });
  }

  #receive(message: FromWorker): void {
    switch (message.type) {
      case "idle":
        this.idle = message.memory;
        break;
      case "ready":
        this.readiness.push(message.ready);
        break;
      case "log":
        this.logs.push(message);
        break;
      case "activity":
        this.activities.push(message.instanceId);
        break;
      case "crash":
        this.crashes.push(message);
        break;
      case "answer": {
        const resolve = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        resolve?.(message.ok ? { ok: true, value: message.value } : { ok: false, error: message.error as ErrorInfo });
        break;
      }
    }
    this.#changed();
  }

  #changed(): void {
    for (const wake of [...this.#listeners]) {
      this.#listeners.delete(wake);
      wake();
    }
  }
}
