import { ApiObject } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';

interface Claim {
  readonly kind: string;
  readonly path: string;
}

/** Per App (the construct tree's root): which construct writes each object. */
const claims = new WeakMap<IConstruct, Map<string, Claim>>();

/**
 * Registers every Kubernetes object below `owner` as written by it, and throws when another
 * construct of the same App already writes an object of the same kind, namespace and name:
 * on apply the second would silently replace the first (two DriftMonitors of one model, two
 * charts each with a `pushgateway` in one namespace). Call it when the construct has declared
 * its objects; calling it again for the same owner is harmless.
 */
export function claimObjectNames(kind: string, owner: Construct): void {
  const root = owner.node.root;
  let claimed = claims.get(root);
  if (!claimed) {
    claimed = new Map();
    claims.set(root, claimed);
  }
  for (const child of owner.node.findAll()) {
    if (!(child instanceof ApiObject)) continue;
    const namespace = child.metadata.namespace ?? '';
    const key = `${child.apiGroup}/${child.kind}/${namespace}/${child.name}`;
    const previous = claimed.get(key);
    // A construct inside the owner (a ModelService's shadow) has claimed its own objects.
    if (previous && previous.path.startsWith(`${owner.node.path}/`)) continue;
    if (previous && previous.path !== owner.node.path) {
      const what = `${child.kind} ${namespace ? `${namespace}/` : ''}${child.name}`;
      throw new Error(
        `${kind} ${owner.node.path}: writes ${what}, which ${previous.kind} ${previous.path} writes too, so one would replace the other on apply; ` +
          'give one of them another name (its name prop)',
      );
    }
    claimed.set(key, { kind, path: owner.node.path });
  }
}
