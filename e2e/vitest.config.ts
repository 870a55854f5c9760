import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    // Sidecars start in beforeAll; a cold durabletask-go start is well under this on 2 cores.
    hookTimeout: 60_000,
    testTimeout: 30_000,
  },
});
