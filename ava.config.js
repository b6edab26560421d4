// AVA runs the *compiled* tests (run `tsc -b` first; `pnpm test` does).
// Package tests: packages/<pkg>/test/*.test.ts -> packages/<pkg>/dist/test/*.test.js
// Cross-package tests: test/*.test.ts -> test/dist/*.test.js
// Only *.test.js files are tests; other files in test dirs are helpers.
export default {
  files: ['packages/*/dist/test/**/*.test.js', 'test/dist/**/*.test.js'],
  timeout: '120s',
  // Tests spawn child processes and send signals: use real processes, not worker threads.
  workerThreads: false,
  concurrency: 2,
};
