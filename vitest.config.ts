import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Servers and brokers the tests start are real processes: keep files apart, not threads fighting.
    pool: "forks",
    // In CI also write a machine-readable result, from which .ci/run prints its closing count line.
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".vitest-results.json" }]] : ["default"],
  },
});
