// How the engine waits for async workflow code, on Node. Node runs process.nextTick callbacks only once V8's
// microtask queue is empty, so a tick queued from a microtask fires exactly when all code woken so far (and
// everything it awaited in turn) has run — before any timer or I/O callback. No event-loop round trip is needed.
import { promiseHooks } from "node:v8";
import { type AsyncDriver, skipFramesFrom, stackFrames } from "@dt/core";

// Taken at load: a sandboxed turn may patch globals, the driver must keep the real ones.
const nextTick = process.nextTick;
const microtask = queueMicrotask;

skipFramesFrom(import.meta.url);
skipFramesFrom(import.meta.resolve("@dt/sandbox"));

export const nodeDriver: AsyncDriver = {
  settle: (then) => microtask(() => nextTick(then)),

  async traced(turn) {
    // Each `await` creates a promise whose parent is the awaited one, at the await's source line.
    const awaits: { promise: Promise<unknown>; parent: Promise<unknown>; site: Error }[] = [];
    const settled = new WeakSet<Promise<unknown>>();
    const stop = promiseHooks.createHook({
      init(promise, parent) {
        if (parent !== undefined) awaits.push({ promise, parent, site: new Error() });
      },
      settled(promise) {
        settled.add(promise);
      },
    });
    const where = () =>
      awaits
        .filter((a) => !settled.has(a.parent) && !settled.has(a.promise))
        .map((a) => awaitSite(a.site))
        .filter((site): site is string => site !== undefined);
    try {
      return await turn(where);
    } finally {
      stop();
    }
  },
};

/**
 * Where a promise was created, if user code created it: the frame right below the hook. Promises the SDK creates
 * (the engine's own `then` on the workflow's promise) are not the workflow's awaits.
 */
function awaitSite(site: Error): string | undefined {
  const frames = stackFrames(site);
  frames.next(); // the init hook itself
  const creator = frames.next();
  return creator.done === true || creator.value.sdk ? undefined : creator.value.location;
}
