/**
 * A small NetworkPolicy evaluator over synthesized objects, as a CNI that implements
 * networking.k8s.io/v1 decides: a pod selected by no policy of a type is open in that
 * direction; a selected pod admits a connection when one of its policies' rules matches the
 * peer and the port (named ports resolved on the receiving pod's containers). Connections are
 * TCP between pods: an ipBlock peer never matches a pod (pods have no address here; the one
 * policy that uses ipBlocks, the registry's webhook egress, excludes every private range pod
 * addresses come from), and a UDP port rule never matches a TCP connection. endPort and SCTP
 * are not used by this library and are refused, so a policy that starts using them fails the
 * tests instead of being misread.
 */

/** A pod as the evaluator sees it. */
export interface PodView {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
  readonly ports: { name?: string; containerPort: number }[];
}

type LabelSelector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };

/** Whether a label selector matches labels (an empty selector matches everything). */
export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** The pods the workloads among `objects` create (one per template), with their container ports. */
export function podsOf(objects: any[]): PodView[] {
  const pods: PodView[] = [];
  for (const o of objects) {
    const template = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template
      : ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(o.kind) ? o.spec.template : undefined;
    if (template === undefined) continue;
    const containers = [...(template.spec.initContainers ?? []), ...template.spec.containers];
    pods.push({
      name: `${o.kind}/${o.metadata.name}`,
      namespace: o.metadata.namespace,
      labels: template.metadata?.labels ?? {},
      ports: containers.flatMap((c: any) => c.ports ?? []),
    });
  }
  return pods;
}

/** A pod that is not part of the stack (Prometheus, an ingress controller, anything). */
export function otherPod(name: string, namespace: string, labels: Record<string, string> = {}, ports: PodView['ports'] = []): PodView {
  return { name, namespace, labels, ports };
}

/** Decides connections under the NetworkPolicies among `objects`. */
export class NetworkPolicyEvaluator {
  private readonly policies: any[];

  constructor(objects: any[]) {
    this.policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    for (const p of this.policies) {
      for (const rule of [...(p.spec.ingress ?? []), ...(p.spec.egress ?? [])]) {
        for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])]) {
          if (peer.ipBlock !== undefined && (peer.podSelector !== undefined || peer.namespaceSelector !== undefined)) throw new Error(`NetworkPolicy ${p.metadata.name}: an ipBlock peer with selectors is invalid`);
        }
        for (const port of rule.ports ?? []) {
          if (!['TCP', 'UDP'].includes(port.protocol ?? 'TCP') || port.endPort !== undefined) throw new Error(`NetworkPolicy ${p.metadata.name}: only single TCP or UDP ports are evaluated`);
        }
      }
    }
  }

  /** Names of the policies of `type` that select `pod`. */
  public selecting(pod: PodView, type: 'Ingress' | 'Egress' = 'Ingress'): string[] {
    return this.policies
      .filter((p) => p.metadata.namespace === pod.namespace && selectorMatches(p.spec.podSelector, pod.labels) && policyTypes(p).includes(type))
      .map((p) => p.metadata.name);
  }

  /** Whether `from` may open a TCP connection to `to` on `port` (a number, or a container port name of `to`). */
  public allows(from: PodView, to: PodView, port: number | string): boolean {
    const number = typeof port === 'number' ? port : to.ports.find((p) => p.name === port)?.containerPort;
    if (number === undefined) throw new Error(`${to.name} has no container port named ${port}`);
    return this.direction(to, from, number, 'Ingress') && this.direction(from, to, number, 'Egress');
  }

  private direction(self: PodView, peer: PodView, port: number, type: 'Ingress' | 'Egress'): boolean {
    const policies = this.policies.filter((p) => p.metadata.namespace === self.namespace && selectorMatches(p.spec.podSelector, self.labels) && policyTypes(p).includes(type));
    if (policies.length === 0) return true;
    // Egress ports name the receiving pod's ports, ingress ports the selected pod's own: both are `to`.
    const receiver = type === 'Ingress' ? self : peer;
    return policies.some((p) => (type === 'Ingress' ? p.spec.ingress ?? [] : p.spec.egress ?? []).some((rule: any) => {
      const peers = type === 'Ingress' ? rule.from : rule.to;
      const peerOk = peers === undefined || peers.length === 0 || peers.some((x: any) => peerMatches(x, p.metadata.namespace, peer));
      const ports = rule.ports;
      const portOk = ports === undefined || ports.length === 0 || ports.some((x: any) => (x.protocol ?? 'TCP') === 'TCP' && (x.port === undefined || x.port === port
        || (typeof x.port === 'string' && receiver.ports.some((cp) => cp.name === x.port && cp.containerPort === port))));
      return peerOk && portOk;
    }));
  }
}

function policyTypes(p: any): string[] {
  return p.spec.policyTypes ?? (p.spec.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress']);
}

function peerMatches(peer: any, policyNamespace: string, pod: PodView): boolean {
  if (peer.ipBlock !== undefined) return false;
  const namespaceLabels = { 'kubernetes.io/metadata.name': pod.namespace };
  if (peer.namespaceSelector !== undefined) {
    return selectorMatches(peer.namespaceSelector, namespaceLabels) && selectorMatches(peer.podSelector, pod.labels);
  }
  return pod.namespace === policyNamespace && selectorMatches(peer.podSelector, pod.labels);
}
