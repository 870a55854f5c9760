// Preloaded (`node --import`) into each port's process: makes the port's `@dt/dapr` import load ./test-sidecar.ts,
// which is @dt/dapr pointed at the test's sidecar. Nothing else about the port's code or its imports changes.
import { registerHooks } from "node:module";

const here = new URL("./", import.meta.url).href;
const shim = new URL("./test-sidecar.ts", import.meta.url).href;

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL;
    if (specifier === "@dt/dapr" && parent !== undefined && parent.startsWith(here) && parent !== shim) {
      return { url: shim, shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});
