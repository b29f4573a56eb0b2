/**
 * The validator's optional peer dependencies. They are test-time tools (a JSON-Schema compiler,
 * a YAML parser, the Kubernetes OpenAPI models), so the package does not make every cdk8s or
 * Pulumi user install them; validateManifests() loads them on first use and names what is
 * missing in one message.
 */
export const VALIDATOR_PEERS = {
  'ajv': '^8.20.0',
  'js-yaml': '^4.1.0',
  'kubernetes-models': '^4.5.1',
  '@kubernetes/client-node': '^1.4.0',
} as const;

type Peer = keyof typeof VALIDATOR_PEERS;

/** Throws, listing every missing peer and the install command, unless all resolve. */
export function requireValidatorPeers(resolve: (request: string) => string = require.resolve): void {
  const missing = (Object.keys(VALIDATOR_PEERS) as Peer[]).filter((name) => {
    try {
      // client-node has no CommonJS entry; its package.json always resolves.
      resolve(name === '@kubernetes/client-node' ? `${name}/package.json` : name);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    const install = missing.map((name) => `${name}@${VALIDATOR_PEERS[name]}`).join(' ');
    throw new Error(`validateManifests needs ${missing.join(', ')} (optional peer dependencies of mlops-constructs); install them with: npm install --save-dev ${install}`);
  }
}

/** Loads a peer, with the install hint when it is missing. */
export function loadPeer<T>(name: Peer): T {
  requireValidatorPeers();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(name) as T;
}
