/** Test tiers by suffix: *.unit.test.ts (pure), *.int.test.ts (real services), *.e2e.test.ts (HTTP to Kafka). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: { warnOnly: false } }] },
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['<rootDir>/test/support/quiet-logs.ts'],
  testTimeout: 120000,
  // Integration tests share the stack; running them one file at a time keeps a 2-core machine predictable.
  maxWorkers: 1,
};
