import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Codec work is CPU-bound WASM; integration tests start real servers and child processes.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The failure list repeats each failed test's name after the summary (see the file).
    reporters: ['default', './test/support/failure-list-reporter.ts'],
  },
});
