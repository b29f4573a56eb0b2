import { Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { Cluster } from './cluster';
import * as k8s from './k8s';
import { Monitoring } from './monitoring';
import { invalidProp, requireDnsLabel, requireLabels } from './validation';
import type { ObjectMeta } from './workload';

// Every workload of this library gets an ingress-only NetworkPolicy (on by default; off with
// Cluster.configure(scope, { networkPolicies: false })). MLflow and the Pushgateway have no
// authentication of their own, so who can reach them is who can move the `champion` alias or
// overwrite the metrics behind the alerts. Egress stays open for pods that call out (model
// servers, the registry, drift checks): what they must reach (S3, an external PostgreSQL, DNS)
// differs per cluster, and a wrong egress rule breaks the stack silently while adding nothing
// against the threat above. Servers that never open a connection (PostgreSQL, the Pushgateway)
// get no egress at all. The policies are enforced only by a CNI that implements NetworkPolicy
// (Calico, Cilium, ...); without one they are stored and do nothing.

/** The label a namespace gets from the apiserver, which the namespace's own users cannot change. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Clients allowed to reach a workload's pods through its NetworkPolicy. */
export abstract class NetworkPeer {
  /** Every pod in a namespace, e.g. the ingress controller's. */
  public static namespace(name: string): NetworkPeer {
    return new LabelNetworkPeer(name, undefined);
  }

  /** Pods with these labels, in this namespace or another. @param namespace @default - the protected pods' namespace */
  public static pods(labels: Record<string, string>, namespace?: string): NetworkPeer {
    return new LabelNetworkPeer(namespace, labels);
  }

  /** Every pod in the namespace of the protected pods. */
  public static ownNamespace(): NetworkPeer {
    return new LabelNetworkPeer(undefined, {});
  }

  /** The NetworkPolicy peer. */
  public abstract toPeer(): k8s.NetworkPolicyPeer;

  /** Names and label maps to validate, as [field, value]. */
  public abstract parts(): { namespace?: string; labels?: Record<string, string> };
}

class LabelNetworkPeer extends NetworkPeer {
  constructor(private readonly namespaceName: string | undefined, private readonly labels: Record<string, string> | undefined) {
    super();
  }

  public toPeer(): k8s.NetworkPolicyPeer {
    return {
      ...(this.namespaceName !== undefined ? { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: this.namespaceName } } } : {}),
      // An empty map is written as `podSelector: {}`, the form the apiserver keeps (a second apply changes nothing).
      ...(this.labels !== undefined ? { podSelector: Object.keys(this.labels).length > 0 ? { matchLabels: { ...this.labels } } : {} } : {}),
    };
  }

  public parts() {
    return { namespace: this.namespaceName, labels: this.labels };
  }
}

/** Checks a list of NetworkPeers (a prop named `field`) and returns their NetworkPolicy peers. */
export function requirePeers(kind: string, scope: Construct, field: string, value: unknown): k8s.NetworkPolicyPeer[] {
  if (!Array.isArray(value)) throw invalidProp(kind, scope, field, value, 'is not a list', 'pass e.g. [NetworkPeer.namespace("ingress-nginx")]');
  return value.map((peer, i) => {
    if (!(peer instanceof NetworkPeer)) throw invalidProp(kind, scope, `${field}[${i}]`, peer, 'is not a NetworkPeer', 'use NetworkPeer.namespace(...), NetworkPeer.pods(...) or NetworkPeer.ownNamespace()');
    const parts = peer.parts();
    if (parts.namespace !== undefined) requireDnsLabel(kind, scope, `${field}[${i}] namespace`, parts.namespace);
    if (parts.labels !== undefined) requireLabels(kind, scope, `${field}[${i}] labels`, parts.labels);
    return peer.toPeer();
  });
}

/**
 * Fails when a workload with an Ingress relies on its default clients: the ingress controller
 * runs in a namespace of its own, and the policy would refuse it (502/504 from the Ingress).
 */
export function requireIngressClients(kind: string, scope: Construct, ingressHost: string | undefined, allowedClients: unknown): void {
  if (ingressHost === undefined || allowedClients !== undefined || !networkPoliciesEnabled(scope)) return;
  throw invalidProp(kind, scope, 'allowedClients', undefined, `must name the ingress controller with ingressHost (${ingressHost}): the NetworkPolicy would refuse it and the Ingress answer 502`,
    'add its namespace, e.g. allowedClients: [NetworkPeer.namespace("ingress-nginx"), NetworkPeer.ownNamespace()]');
}

/** The Prometheus server of Monitoring.configure (prometheusNamespace, prometheusPodLabels). */
export function prometheusPeer(scope: Construct): k8s.NetworkPolicyPeer {
  const monitoring = Monitoring.of(scope);
  return {
    namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: monitoring.prometheusNamespace } },
    podSelector: { matchLabels: { ...monitoring.prometheusPodLabels } },
  };
}

/**
 * Pods of this library playing `component` (e.g. 'model-server', 'drift-check'), in the
 * policy's namespace or in `namespace`.
 */
export function componentPeer(component: string, namespace?: string): k8s.NetworkPolicyPeer {
  return {
    ...(namespace !== undefined ? { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } } } : {}),
    podSelector: { matchLabels: { 'app.kubernetes.io/component': component, 'app.kubernetes.io/managed-by': 'mlops-constructs' } },
  };
}

/** One ingress rule: these peers, on these container ports (names or numbers). */
export interface IngressRule {
  readonly from: k8s.NetworkPolicyPeer[];
  readonly ports: (string | number)[];
}

/**
 * The reason kept next to kube-score's egress finding for a workload that calls out, when its
 * ingress-only policy exists (without one, the finding stays without a reason).
 */
export function openEgressReason(scope: Construct, what: string): string | undefined {
  if (!networkPoliciesEnabled(scope)) return undefined;
  return `ingress is restricted by the workload's NetworkPolicy; egress stays open because ${what} differ per cluster, and DNS is needed for all of them`;
}

/** Whether the stack declares NetworkPolicies (Cluster.configure's networkPolicies). */
export function networkPoliciesEnabled(scope: Construct): boolean {
  return Cluster.of(scope).networkPolicies;
}

/** Options of addIngressPolicy. */
export interface IngressPolicyOptions {
  /** Also refuse every connection the pods open (for servers that never call out). @default false */
  readonly denyEgress?: boolean;
}

/**
 * The NetworkPolicy (id `NetworkPolicy`, named after the workload) that admits only `rules`
 * into the pods `podSelector` selects; no rules admit nothing. `rules` is read at synthesis,
 * so clients registered later land too. Returns undefined when the stack turned policies off.
 */
export function addIngressPolicy(scope: Construct, meta: ObjectMeta, podSelector: Record<string, string>, rules: () => IngressRule[],
  options: IngressPolicyOptions = {}): k8s.KubeNetworkPolicy | undefined {
  if (!networkPoliciesEnabled(scope)) return undefined;
  // No rules is written as no `ingress` (and no `egress`) at all: the apiserver drops empty
  // lists, and the policy type alone already refuses everything.
  const ingress = Lazy.any({
    produce: () => {
      const list = rules().filter((r) => r.from.length > 0).map((r) => ({
        from: r.from,
        ports: r.ports.map((port) => ({ protocol: 'TCP', port: typeof port === 'number' ? k8s.IntOrString.fromNumber(port) : k8s.IntOrString.fromString(port) })),
      }));
      return list.length > 0 ? list : undefined;
    },
  }) as unknown as k8s.NetworkPolicyIngressRule[];
  return new k8s.KubeNetworkPolicy(scope, 'NetworkPolicy', {
    metadata: { name: meta.name, namespace: meta.namespace, labels: meta.labels },
    spec: {
      podSelector: { matchLabels: { ...podSelector } },
      policyTypes: options.denyEgress ? ['Ingress', 'Egress'] : ['Ingress'],
      ingress,
    },
  });
}
