import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Lab tests build network namespaces and share the kernel's conntrack sysctls per namespace;
    // running files in parallel on a 2-core machine makes timing-based assertions flaky.
    fileParallelism: false,
    pool: 'forks',
  },
});
