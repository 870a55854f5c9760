// Where in the user's code something happened: the first stack frame outside the SDK's own modules.

/** Directories whose modules are the SDK's (tests next to them count as user code). */
const sdkDirs: string[] = [];

/**
 * Marks the directory of `moduleUrl` as SDK code, so source locations skip it. Stacks may name the built file
 * (dist/) or, with source maps applied, its source (src/): both count.
 */
export function skipFramesFrom(moduleUrl: string): void {
  const dir = new URL(".", moduleUrl).pathname;
  for (const d of [dir, dir.replace(/\/dist\/$/, "/src/"), dir.replace(/\/src\/$/, "/dist/")]) {
    if (!sdkDirs.includes(d)) sdkDirs.push(d);
  }
}
skipFramesFrom(import.meta.url);

/** The frames of `error`'s stack that name a source position (Node internals left out), outermost last. */
export function* stackFrames(error: Error): Generator<{ readonly location: string; readonly sdk: boolean }> {
  for (const line of (error.stack ?? "").split("\n").slice(1)) {
    const match = /\(?((?:file:\/\/)?[^\s()]+:\d+:\d+)\)?\s*$/.exec(line);
    const location = match?.[1]?.replace(/^file:\/\//, "");
    if (location === undefined || location.startsWith("node:")) continue;
    const file = location.replace(/:\d+:\d+$/, "");
    const sdk =
      sdkDirs.some((d) => file.startsWith(d) && !file.slice(d.length).includes("/")) && !/\.test\.[jt]s$/.test(file);
    yield { location, sdk };
  }
}

/** `file:line:column` of the first frame of `error`'s stack outside Node internals and the SDK's modules. */
export function sourceLocation(error: Error): string | undefined {
  for (const frame of stackFrames(error)) if (!frame.sdk) return frame.location;
  return undefined;
}
