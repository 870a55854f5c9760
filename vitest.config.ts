import { defineConfig } from "vitest/config";

// One vitest run covers the workspace: each package (unit tests next to the code) and e2e/ are projects.
// A package's own `pnpm test` runs vitest in its directory with the same defaults.
export default defineConfig({
  test: {
    projects: ["packages/*", "e2e"],
  },
});
