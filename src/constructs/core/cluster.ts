import { Construct } from 'constructs';
import { invalidProp, isDnsSubdomain } from './validation';

const CONTEXT_KEY = 'mlops-constructs:cluster';

/** Facts about the cluster a stack is deployed to, shared by every construct below a scope. */
export interface ClusterSettings {
  /**
   * DNS domain of the cluster (the kubelet's `--cluster-domain`): Service names
   * `<name>.<namespace>.svc.<clusterDomain>` are built from it.
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
  /**
   * Declare a NetworkPolicy for every workload (ingress only). Enforced only by a CNI that
   * implements NetworkPolicy; turn off only where another mechanism (a service mesh's
   * authorization policies) already decides who reaches each pod.
   * @default true
   */
  readonly networkPolicies?: boolean;
}

/**
 * Stack-wide cluster settings, set once on an App or Chart and read by every construct below
 * it: the one source of the cluster domain for tracking URIs, database hosts and Pushgateway
 * URLs.
 */
export class Cluster {
  /** Sets the settings for everything that will be added below `scope`; call it before adding constructs. */
  public static configure(scope: Construct, settings: ClusterSettings): void {
    if (settings.clusterDomain !== undefined) requireClusterDomain('Cluster', scope, 'clusterDomain', settings.clusterDomain);
    if (settings.networkPolicies !== undefined && typeof settings.networkPolicies !== 'boolean') {
      throw invalidProp('Cluster', scope, 'networkPolicies', settings.networkPolicies, 'is not a boolean', 'use true (the default) or false');
    }
    if (scope.node.children.length > 0) {
      throw new Error(`Cluster ${scope.node.path || '<app>'}: configure() was called after constructs were added (${scope.node.children.map((c) => c.node.id).join(', ')}); call it first so every construct sees the same settings`);
    }
    scope.node.setContext(CONTEXT_KEY, settings);
  }

  /** The settings in force at `scope`, with defaults filled in. */
  public static of(scope: Construct): Required<ClusterSettings> {
    const settings = (scope.node.tryGetContext(CONTEXT_KEY) ?? {}) as ClusterSettings;
    return { clusterDomain: settings.clusterDomain ?? 'cluster.local', networkPolicies: settings.networkPolicies ?? true };
  }
}

/** A cluster domain, checked: a DNS subdomain such as `cluster.local`. */
export function requireClusterDomain(kind: string, scope: Construct, field: string, value: unknown): string {
  if (typeof value !== 'string' || !isDnsSubdomain(value)) {
    throw invalidProp(kind, scope, field, value, 'is not a DNS domain', 'use the kubelet\'s --cluster-domain, usually "cluster.local"');
  }
  return value;
}

/** The in-cluster DNS name of a Service: `<name>.<namespace>.svc.<clusterDomain>`. */
export function serviceHostName(name: string, namespace: string, clusterDomain: string): string {
  return `${name}.${namespace}.svc.${clusterDomain}`;
}
