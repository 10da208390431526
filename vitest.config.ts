import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests spawn real processes and worker threads; two cores, so keep the pool small.
    maxWorkers: 2,
    // The default output, then the list of skipped tests and why (optional parts: PostgreSQL, a browser, root).
    reporters: ["default", "./test/skip-summary.ts"],
  },
});
