import { Construct } from 'constructs';
import * as k8s from './k8s';
import { Monitoring } from './monitoring';
import { requireCpuPair, requireMemoryPair, requireSecretRef, requireSeconds, requireStringMap } from './prop-checks';
import { Cpu } from './quantities';
import { loadRuntimeBundle } from './runtime-bundle';
import { invalidProp, isDnsSubdomain, requireDnsSubdomain, requireEnvName, requireLabels } from './validation';
import { EnvProps, IngressProps, PodProps, ScrapeProps, SecretKeySelector } from './workload-props';
import { BUNDLE_MOUNT } from '../../contract';
import { ServiceMonitor, ServiceMonitorSpecEndpoints } from '../../imports/monitoring.coreos.com';

// The parts every workload construct (ModelService, ModelRegistry, DriftMonitor, Pushgateway,
// PostgresDatabase) builds the same way: labels, resources, environment, pod-level settings,
// Service, ServiceMonitor, Ingress, PodDisruptionBudget and runtime-bundle ConfigMaps. Each
// check throws `invalidProp` (construct kind and path, field, value, fix).

/** Name and namespace of a workload's objects, and the labels every one of them carries. */
export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
}

// ---- binding ------------------------------------------------------------------------------

/**
 * What a construct hands to the union-like classes it binds (RegistryDatabase, ArtifactStore):
 * its kind for error messages, and the name, namespace and extra labels of the objects they declare.
 */
export interface WorkloadBindContext {
  /** Construct kind for error messages. */
  readonly kind: string;
  /** Kubernetes name of the owning construct; objects the binding declares are named after it. */
  readonly name: string;
  /** Namespace of the owning construct. */
  readonly namespace: string;
  /** Extra labels of every object. */
  readonly labels: Record<string, string>;
  /** DNS domain of the cluster, for the names of Services the binding declares. */
  readonly clusterDomain: string;
  /** Labels of the owning construct's pods, which a server the binding declares admits through its NetworkPolicy. */
  readonly selectorLabels: Record<string, string>;
}

// ---- labels ------------------------------------------------------------------------------

/** The selector labels of a workload's pods and the labels of all its objects. */
export interface WorkloadLabels {
  /** `app.kubernetes.io/name` and `app.kubernetes.io/component`: what Services, budgets and monitors select. */
  readonly selector: Record<string, string>;
  /** The user's extra labels, then the selector, `part-of` and `managed-by` (which win over extras). */
  readonly labels: Record<string, string>;
}

/** Labels of a workload named `name` playing `component` (e.g. 'model-server'). */
export function workloadLabels(name: string, component: string, extra: Record<string, string> = {}, partOf = 'mlops'): WorkloadLabels {
  const selector = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': component };
  return {
    selector,
    labels: { ...extra, ...selector, 'app.kubernetes.io/part-of': partOf, 'app.kubernetes.io/managed-by': 'mlops-constructs' },
  };
}

// ---- resources ---------------------------------------------------------------------------

/** Checked CPU (request not above limit) and memory in MiB (request not above limit). */
export interface Resources {
  readonly cpu: { readonly request: Cpu; readonly limit: Cpu };
  readonly memory: { readonly request: number; readonly limit: number };
}

/**
 * Checks a CPU and a memory request/limit pair, each with its defaults already applied by the
 * construct (which decides what an unset limit means). `prefix` starts every field name.
 */
export function requireResources(
  kind: string, scope: Construct, values: { cpuRequest: unknown; cpuLimit: unknown; memoryRequest: unknown; memoryLimit: unknown }, prefix = '',
  shownCpu?: (cpu: Cpu) => unknown,
): Resources {
  return {
    cpu: requireCpuPair(kind, scope, prefix, values.cpuRequest, values.cpuLimit, shownCpu),
    memory: requireMemoryPair(kind, scope, prefix, values.memoryRequest, values.memoryLimit),
  };
}

/** A fixed sizing, for containers of this library whose needs are known (proxies, the Pushgateway). */
export function fixedResources(cpuRequestMillis: number, memoryRequestMib: number, cpuLimitMillis: number, memoryLimitMib: number): Resources {
  return { cpu: { request: Cpu.millis(cpuRequestMillis), limit: Cpu.millis(cpuLimitMillis) }, memory: { request: memoryRequestMib, limit: memoryLimitMib } };
}

/** The container's `resources`; `extraLimits` adds extended resources such as GPUs. */
export function resourceRequirements(r: Resources, extraLimits: Record<string, k8s.Quantity> = {}): k8s.ResourceRequirements {
  return {
    requests: { cpu: k8s.Quantity.fromString(r.cpu.request.toQuantity()), memory: k8s.Quantity.fromString(`${r.memory.request}Mi`) },
    limits: { cpu: k8s.Quantity.fromString(r.cpu.limit.toQuantity()), memory: k8s.Quantity.fromString(`${r.memory.limit}Mi`), ...extraLimits },
  };
}

// ---- environment -------------------------------------------------------------------------

const SECRET_LOOKING_NAME = /PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY/i;
/** A URI with a password in its user info: `postgresql://user:secret@host/db`. */
const URI_WITH_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i;

/**
 * The environment of one container, in the order it is added: variables the construct sets
 * itself (`reserve`, never overridden), then the user's plain and Secret-backed ones. A name is
 * set once; a plain value whose name looks like a secret is refused.
 */
export class EnvBuilder {
  private readonly vars: k8s.EnvVar[] = [];
  private readonly owners = new Map<string, string>();

  /** @param secretFix the fix of the "looks like a secret" error, naming how this construct takes Secret values */
  constructor(private readonly kind: string, private readonly scope: Construct, private readonly secretFix = 'put it in a Secret and use secretEnv') {}

  /** The variables so far (a copy). */
  public get list(): k8s.EnvVar[] {
    return [...this.vars];
  }

  /** A variable the construct sets; `owner` is named when the user tries to set it too. */
  public reserve(e: k8s.EnvVar, owner: string, field: string = e.name): k8s.EnvVar {
    this.claim(field, e.name, owner);
    this.vars.push(e);
    return e;
  }

  /** A plain variable of the user. */
  public plain(name: string, value: unknown, field = `env.${name}`): k8s.EnvVar {
    requireEnvName(this.kind, this.scope, field, name);
    this.claim(field, name, 'env');
    if (typeof value !== 'string') {
      throw invalidProp(this.kind, this.scope, field, value, 'is not a string', 'quote numbers and booleans, e.g. "4"');
    }
    if (SECRET_LOOKING_NAME.test(name)) {
      throw invalidProp(this.kind, this.scope, field, '<redacted>', 'looks like a secret written in plain text', this.secretFix);
    }
    if (URI_WITH_PASSWORD.test(value)) {
      throw invalidProp(this.kind, this.scope, field, '<redacted>', 'holds a URI with a password (user:password@host) written in plain text',
        `${this.secretFix}, or leave the password out of the URI and pass it in its own Secret-backed variable`);
    }
    const e = { name, value };
    this.vars.push(e);
    return e;
  }

  /** A variable of the user read from an existing Secret. */
  public secret(name: string, ref: unknown, field = `secretEnv.${name}`): k8s.EnvVar {
    requireEnvName(this.kind, this.scope, field, name);
    this.claim(field, name, 'secretEnv');
    const r = requireSecretRef(this.kind, this.scope, field, ref);
    const e = { name, valueFrom: { secretKeyRef: secretKeyRef(r) } };
    this.vars.push(e);
    return e;
  }

  /** The user's `env` and `secretEnv` props. */
  public addProps(p: EnvProps): void {
    const env: Record<string, unknown> = p.env ?? {};
    if (env === null || typeof env !== 'object' || Array.isArray(env)) {
      throw invalidProp(this.kind, this.scope, 'env', env, 'is not a map of strings', 'pass an object of string values');
    }
    for (const [name, value] of Object.entries(env)) this.plain(name, value);
    for (const [name, ref] of Object.entries(p.secretEnv ?? {})) this.secret(name, ref);
  }

  private claim(field: string, name: string, owner: string): void {
    const previous = this.owners.get(name);
    if (previous !== undefined) {
      throw invalidProp(this.kind, this.scope, field, name, `is already set by ${previous}`, 'use another name or drop the duplicate');
    }
    this.owners.set(name, owner);
  }
}

/** The `secretKeyRef` of a Secret key. */
export function secretKeyRef(ref: SecretKeySelector): { name: string; key: string } {
  return { name: ref.secretName, key: ref.key };
}

// ---- pods --------------------------------------------------------------------------------

/** Checked pod-level props: the references are valid names, annotations and labels are string maps. */
export interface CheckedPodProps {
  readonly podAnnotations: Record<string, string>;
  readonly extraLabels: Record<string, string>;
}

/** Checks the props of PodProps. */
export function requirePodProps(kind: string, scope: Construct, p: PodProps): CheckedPodProps {
  const extraLabels = p.labels === undefined ? {} : requireLabels(kind, scope, 'labels', p.labels);
  if (p.serviceAccountName !== undefined) requireDnsSubdomain(kind, scope, 'serviceAccountName', p.serviceAccountName);
  (p.imagePullSecrets ?? []).forEach((s, i) => requireDnsSubdomain(kind, scope, `imagePullSecrets[${i}]`, s));
  if (p.priorityClassName !== undefined) requireDnsSubdomain(kind, scope, 'priorityClassName', p.priorityClassName);
  const podAnnotations = p.podAnnotations === undefined ? {} : requireStringMap(kind, scope, 'podAnnotations', p.podAnnotations);
  return { podAnnotations, extraLabels };
}

/**
 * The pod spec fields every workload sets, in one order: no API token unless asked for, no
 * service links (they inject `<SERVICE>_PORT=tcp://...` into programs configured by
 * environment), then the user's references, the grace period and the restricted security context.
 */
export function basePodSpec(p: Pick<PodProps, 'serviceAccountName' | 'imagePullSecrets' | 'priorityClassName'> & {
  readonly automountServiceAccountToken?: boolean;
  readonly terminationGracePeriodSeconds?: number;
  readonly securityContext: k8s.PodSecurityContext;
}): Pick<k8s.PodSpec, 'automountServiceAccountToken' | 'enableServiceLinks' | 'serviceAccountName' | 'imagePullSecrets' | 'priorityClassName' | 'terminationGracePeriodSeconds' | 'securityContext'> {
  return {
    automountServiceAccountToken: p.automountServiceAccountToken ?? false,
    enableServiceLinks: false,
    serviceAccountName: p.serviceAccountName,
    imagePullSecrets: p.imagePullSecrets?.map((name) => ({ name })),
    priorityClassName: p.priorityClassName,
    terminationGracePeriodSeconds: p.terminationGracePeriodSeconds,
    securityContext: p.securityContext,
  };
}

// ---- Service, ServiceMonitor -------------------------------------------------------------

/** A Service port that targets the container port of the same name. */
export function namedServicePort(name: string, port: number): k8s.ServicePort {
  return { name, port, targetPort: k8s.IntOrString.fromString(name), protocol: 'TCP' };
}

/** The ClusterIP Service of a workload (id `Service`). */
export function addClusterIpService(scope: Construct, meta: ObjectMeta, selector: Record<string, string>, ports: k8s.ServicePort[]): k8s.KubeService {
  return new k8s.KubeService(scope, 'Service', {
    metadata: { name: meta.name, namespace: meta.namespace, labels: meta.labels },
    spec: { type: 'ClusterIP', selector: { ...selector }, ports },
  });
}

/** Checked ScrapeProps: the ServiceMonitor's labels and the scrape interval in seconds. */
export interface Scrape {
  readonly monitorLabels: Record<string, string>;
  readonly seconds: number;
}

/** Checks ScrapeProps, with the stack's Monitoring settings as defaults. */
export function requireScrape(kind: string, scope: Construct, p: ScrapeProps): Scrape {
  const monitoring = Monitoring.of(scope);
  return {
    monitorLabels: requireLabels(kind, scope, 'serviceMonitorLabels', p.serviceMonitorLabels ?? monitoring.serviceMonitorLabels),
    seconds: requireSeconds(kind, scope, 'scrapeInterval', p.scrapeInterval ?? monitoring.scrapeInterval, 5, 600),
  };
}

/** `interval` and `scrapeTimeout` of an endpoint (a scrape never waits longer than 10 s). */
export function scrapeTiming(seconds: number): Pick<ServiceMonitorSpecEndpoints, 'interval' | 'scrapeTimeout'> {
  return { interval: `${seconds}s`, scrapeTimeout: `${Math.min(10, seconds)}s` };
}

/** The ServiceMonitor of a workload (id `ServiceMonitor`), selecting its Service. */
export function addServiceMonitor(scope: Construct, meta: ObjectMeta, monitorLabels: Record<string, string>,
  selector: Record<string, string>, endpoints: ServiceMonitorSpecEndpoints[]): ServiceMonitor {
  Monitoring.requireSelectorLabels(scope.constructor.name, scope, 'ServiceMonitor', monitorLabels);
  return new ServiceMonitor(scope, 'ServiceMonitor', {
    metadata: { name: meta.name, namespace: meta.namespace, labels: { ...meta.labels, ...monitorLabels } },
    spec: { selector: { matchLabels: { ...selector } }, endpoints },
  });
}

// ---- Ingress -----------------------------------------------------------------------------

/** Options of requireIngress. */
export interface IngressRules {
  /** Whether a `*.` wildcard host is accepted. */
  readonly wildcard: boolean;
  /** Fix of the "not a DNS host name" error. */
  readonly hostFix: string;
}

/**
 * Checks IngressProps before any object exists: the host (which may feed other settings, e.g.
 * MLflow's allowed hosts), the class, TLS Secret and annotations; without a host, none of the
 * others may be set. Returns the props when an Ingress is wanted.
 */
export function requireIngress(kind: string, scope: Construct, p: IngressProps, rules: IngressRules): (IngressProps & { ingressHost: string }) | undefined {
  if (p.ingressHost === undefined) {
    for (const field of ['ingressClassName', 'ingressTlsSecretName', 'ingressAnnotations'] as const) {
      if (p[field] !== undefined) throw invalidProp(kind, scope, field, p[field], 'is set without ingressHost', 'set ingressHost to create the Ingress, or drop the field');
    }
    return undefined;
  }
  const host = p.ingressHost;
  if (typeof host !== 'string' || !isDnsSubdomain(rules.wildcard ? host.replace(/^\*\./, '') : host)) {
    throw invalidProp(kind, scope, 'ingressHost', host, 'is not a DNS host name', rules.hostFix);
  }
  if (p.ingressClassName !== undefined) requireDnsSubdomain(kind, scope, 'ingressClassName', p.ingressClassName);
  if (p.ingressTlsSecretName !== undefined) requireDnsSubdomain(kind, scope, 'ingressTlsSecretName', p.ingressTlsSecretName);
  const annotations = p.ingressAnnotations === undefined ? undefined : requireStringMap(kind, scope, 'ingressAnnotations', p.ingressAnnotations);
  return { ingressHost: host, ingressClassName: p.ingressClassName, ingressTlsSecretName: p.ingressTlsSecretName, ingressAnnotations: annotations };
}

/** The Ingress (id `Ingress`) routing every path of the host to the Service's `http` port. */
export function addIngress(scope: Construct, meta: ObjectMeta, ingress: IngressProps & { ingressHost: string }): k8s.KubeIngress {
  return new k8s.KubeIngress(scope, 'Ingress', {
    metadata: { name: meta.name, namespace: meta.namespace, labels: meta.labels, annotations: ingress.ingressAnnotations },
    spec: {
      ingressClassName: ingress.ingressClassName,
      tls: ingress.ingressTlsSecretName ? [{ hosts: [ingress.ingressHost], secretName: ingress.ingressTlsSecretName }] : undefined,
      rules: [{
        host: ingress.ingressHost,
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: meta.name, port: { name: 'http' } } } }] },
      }],
    },
  });
}

// ---- PodDisruptionBudget -----------------------------------------------------------------

/**
 * At most one pod of the workload down for a voluntary disruption (a node drain), only with
 * more than one replica: with one, any budget would block drains. Pods that never became ready
 * do not hold a drain up.
 */
export function addDisruptionBudget(scope: Construct, meta: ObjectMeta, selector: Record<string, string>, replicas: number): k8s.KubePodDisruptionBudget | undefined {
  if (replicas <= 1) return undefined;
  return new k8s.KubePodDisruptionBudget(scope, 'DisruptionBudget', {
    metadata: { name: meta.name, namespace: meta.namespace, labels: meta.labels },
    spec: {
      maxUnavailable: k8s.IntOrString.fromNumber(1),
      selector: { matchLabels: { ...selector } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  });
}

// ---- runtime bundles ---------------------------------------------------------------------

/** What a container needs to run a bundled runtime program from its ConfigMap. */
export interface BundleMount {
  /** SHA-256 of the bundle, for a pod annotation that rolls the pods when it changes. */
  readonly sha256: string;
  /** The pod volume of the ConfigMap. */
  readonly volume: k8s.Volume;
  /** The container's read-only mount of it at BUNDLE_MOUNT. */
  readonly mount: k8s.VolumeMount;
  /** `node <mount>/<file>`. */
  readonly command: string[];
}

/**
 * The ConfigMap (id `id`) that ships a bundled runtime program (see docs/architecture.md, "Why
 * runtime programs ship in ConfigMaps"), and the volume, mount and command that run it.
 */
export function addBundleConfigMap(scope: Construct, id: string, meta: ObjectMeta, fileName: string, volumeName: string): BundleMount {
  const bundle = loadRuntimeBundle(fileName);
  new k8s.KubeConfigMap(scope, id, {
    metadata: { name: meta.name, namespace: meta.namespace, labels: meta.labels },
    data: { [fileName]: bundle.source },
  });
  return bundleMount(meta.name, fileName, volumeName);
}

/** The volume, mount and command that run the bundled program `fileName` from the ConfigMap `configMapName` (written elsewhere). */
export function bundleMount(configMapName: string, fileName: string, volumeName: string): BundleMount {
  return {
    sha256: loadRuntimeBundle(fileName).sha256,
    volume: { name: volumeName, configMap: { name: configMapName, defaultMode: 0o444 } },
    mount: { name: volumeName, mountPath: BUNDLE_MOUNT, readOnly: true },
    command: ['node', `${BUNDLE_MOUNT}/${fileName}`],
  };
}
