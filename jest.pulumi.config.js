/**
 * The Pulumi engine tier: the real Pulumi CLI, Node.js language host and Kubernetes provider
 * (built by scripts/setup-pulumi.sh) deploy Pulumi.yaml onto a real control plane (built by
 * scripts/setup-kubernetes.sh). One file at a time: each starts its own control plane, and
 * every `pulumi` run type-checks the program.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/pulumi-engine'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json', isolatedModules: true }] },
  testTimeout: 900000,
};
