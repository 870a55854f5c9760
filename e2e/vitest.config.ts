import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    // One Dapr control plane (placement + scheduler) for the whole run, when the dapr target is selected.
    globalSetup: ["./src/dapr-setup.ts"],
    // Sidecars start in beforeAll; a cold durabletask-go start is well under this on 2 cores.
    hookTimeout: 60_000,
    testTimeout: 30_000,
  },
});
