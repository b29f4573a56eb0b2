/**
 * The rehearsal tier: tests that run the synthesized containers' programs for real
 * (PostgreSQL, MLflow, Prometheus, Pushgateway, Alertmanager). One at a time: they start
 * servers on fixed loopback ports inside their own network namespace.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/rehearsal'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json', isolatedModules: true }] },
  testTimeout: 600000,
};
