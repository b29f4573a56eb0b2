/**
 * The synthesized objects as the harness reads them: the wire-format types of kubernetes-models,
 * narrowed to what a stack the harness runs must have (a workload has a pod template, a
 * container a name), and the lookups the other harness modules make.
 */
import type { IDeployment, IStatefulSet } from 'kubernetes-models/apps/v1';
import type {
  IConfigMap, IContainer, IPersistentVolumeClaim, IPodSpec, IProbe, IService, IServicePort, IVolume,
} from 'kubernetes-models/v1';

export type Container = IContainer;
export type Probe = IProbe;
export type Volume = IVolume;
export type ServicePort = IServicePort;

/** A pod template's spec: containers and init containers are what the harness starts. */
export type PodSpec = IPodSpec;

/** The kinds of workload whose pods the harness starts. */
export type WorkloadKind = 'Deployment' | 'StatefulSet';

/** A Deployment or StatefulSet with a pod template (synthesized ones always have one). */
export type Workload = (IDeployment | IStatefulSet) & {
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: NonNullable<(IDeployment | IStatefulSet)['spec']> & { readonly template: { readonly spec: PodSpec } };
};

/** A Service (ports are what kube-proxy forwards). */
export type Service = IService & {
  readonly metadata: { readonly name: string };
  readonly spec: NonNullable<IService['spec']> & { readonly ports: IServicePort[] };
};

/** A StatefulSet: its pods have stable names, and a headless Service resolves to them. */
export type StatefulSet = IStatefulSet & Workload & { readonly spec: NonNullable<IStatefulSet['spec']> };

/** Any synthesized object: the harness reads kind, name and namespace of each. */
interface AnyObject {
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

/** The stack the harness runs: one namespace, its ConfigMaps, Services, workloads and claims. */
export class Manifests {
  public readonly namespace: string;
  /** ConfigMap name -> data. */
  public readonly configMaps: Record<string, Record<string, string>> = {};
  public readonly services: Service[];
  public readonly statefulSets: StatefulSet[];
  private readonly objects: readonly AnyObject[];

  constructor(objects: readonly unknown[]) {
    this.objects = objects as AnyObject[];
    const namespaces = new Set(this.objects.map((o) => o.metadata?.namespace).filter((n) => n !== undefined));
    if (namespaces.size !== 1) throw new Error(`the rehearsal runs one namespace; objects are in ${[...namespaces].join(', ') || 'none'}`);
    this.namespace = [...namespaces][0]!;
    for (const cm of this.ofKind<IConfigMap & { metadata: { name: string } }>('ConfigMap')) this.configMaps[cm.metadata.name] = cm.data ?? {};
    this.services = this.ofKind<Service>('Service');
    this.statefulSets = this.ofKind<StatefulSet>('StatefulSet');
  }

  /** The Deployment or StatefulSet of this name; throws when the stack has none. */
  public workload(kind: WorkloadKind, name: string): Workload {
    const workload = this.ofKind<Workload>(kind).find((o) => o.metadata.name === name);
    if (!workload) throw new Error(`no ${kind} ${name} in the synthesized objects`);
    return workload;
  }

  /** The StatefulSet a headless Service governs (spec.serviceName), if any. */
  public statefulSetOf(serviceName: string): StatefulSet | undefined {
    return this.statefulSets.find((o) => o.spec.serviceName === serviceName);
  }

  public hasClaim(name: string): boolean {
    return this.ofKind<IPersistentVolumeClaim & { metadata: { name: string } }>('PersistentVolumeClaim').some((o) => o.metadata.name === name);
  }

  private ofKind<T>(kind: string): T[] {
    return this.objects.filter((o) => o.kind === kind) as T[];
  }
}

/** Whether a Service selects a pod with these labels (an empty selector selects nothing: no endpoints). */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** A port number, or a port name resolved through the containers' ports. */
export function resolvePort(containers: readonly Container[], port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  for (const c of containers) {
    const found = (c.ports ?? []).find((p) => p.name === port);
    if (found) return found.containerPort;
  }
  return undefined;
}
