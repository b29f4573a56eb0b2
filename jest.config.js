/** Unit, snapshot, schema and property tiers; the rehearsal (real programs), control-plane, Pulumi engine and node tiers have their own configs. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/rehearsal/', '<rootDir>/test/controlplane/', '<rootDir>/test/pulumi-engine/', '<rootDir>/test/node/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json', isolatedModules: true }] },
  testTimeout: 60000,
};
