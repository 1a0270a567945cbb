import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // two files at a time even on two cores (vitest's default is cores − 1): the real-process tests spend most of
    // their time waiting on paced sockets, not on the CPU
    maxWorkers: 2,
  },
});
