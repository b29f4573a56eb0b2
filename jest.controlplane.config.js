/**
 * The control-plane tier: a real etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler (built by scripts/setup-kubernetes.sh) accept and work on the synthesized
 * stacks. One file at a time: each starts its own control plane.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/controlplane'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json', isolatedModules: true }] },
  testTimeout: 300000,
};
