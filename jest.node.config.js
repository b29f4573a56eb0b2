/**
 * The node tier: the rehearsal harness as the node (kubelet, kube-proxy, DNS) of a real control
 * plane (test/node/node-agent.ts), and the reference stack run end to end on it. Needs root,
 * like the rehearsal tier; one file at a time: each starts its own control plane and node.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/node'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json', isolatedModules: true }] },
  testTimeout: 600000,
};
