// How synthesized manifests become Pulumi resources: which resource class holds an object,
// what its Pulumi name is, and which objects of the same set it must wait for.
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

/** A synthesized Kubernetes object, as cdk8s writes it. */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; [key: string]: unknown };
  readonly [field: string]: unknown;
}

type ResourceClass = new (name: string, args: any, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

/**
 * `<namespace>/<name>`, or `<name>` for cluster-scoped objects: the Pulumi name of an object.
 * With the type token (which carries group, version and kind) it makes the URN, so it is
 * derived from the Kubernetes identity only, never from construct paths. The same convention
 * as `k8s.yaml.ConfigGroup`, so objects deployed through one move to the other with an alias.
 */
export function resourceName(obj: KubernetesObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

/** `<Kind> <namespace>/<name>` for messages and lookups. */
export function describeObject(obj: KubernetesObject): string {
  return `${obj.kind} ${resourceName(obj)}`;
}

/** The Pulumi type token of an object's apiVersion and kind, e.g. `kubernetes:apps/v1:Deployment`. */
export function typeToken(apiVersion: string, kind: string): string {
  const { group, version } = splitApiVersion(apiVersion);
  return `kubernetes:${group || 'core'}/${version}:${kind}`;
}

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/**
 * Top-level fields a typed class passes on besides apiVersion, kind and metadata. Typed
 * classes copy only the fields they know, so an object with any other field must fail here
 * rather than lose it silently.
 */
const TOP_LEVEL_FIELDS: Record<string, readonly string[]> = {
  ConfigMap: ['data', 'binaryData', 'immutable'],
  Secret: ['data', 'stringData', 'type', 'immutable'],
  ServiceAccount: ['automountServiceAccountToken', 'imagePullSecrets', 'secrets'],
  Role: ['rules'],
  ClusterRole: ['rules', 'aggregationRule'],
  RoleBinding: ['roleRef', 'subjects'],
  ClusterRoleBinding: ['roleRef', 'subjects'],
};

/** How an object is registered: a typed class of @pulumi/kubernetes, or a CustomResource. */
export interface ResourceKind {
  readonly token: string;
  readonly create: (name: string, obj: Record<string, unknown>, opts: pulumi.CustomResourceOptions) => pulumi.CustomResource;
}

const kinds = new Map<string, ResourceKind>();

/**
 * The resource class of an apiVersion/kind: the typed class of @pulumi/kubernetes for
 * built-in kinds (exact type token, the provider's schema-aware diff, its aliases across API
 * versions), `apiextensions.CustomResource` for kinds of CRD groups. Throws for a built-in
 * group whose kind the SDK does not have, rather than guessing.
 */
export function resourceKind(apiVersion: string, kind: string): ResourceKind {
  const key = `${apiVersion} ${kind}`;
  const cached = kinds.get(key);
  if (cached) return cached;
  const { group, version } = splitApiVersion(apiVersion);
  const token = typeToken(apiVersion, kind);
  const builtInGroup = group === '' || !group.includes('.');
  const moduleName = group === '' ? 'core' : group.split('.')[0];
  const module = (k8s as unknown as Record<string, Record<string, Record<string, unknown>> | undefined>)[moduleName];
  const candidate = module?.[version]?.[kind] as (ResourceClass & { __pulumiType?: string }) | undefined;
  let found: ResourceKind;
  if (typeof candidate === 'function' && candidate.__pulumiType === token) {
    const allowed = new Set(['apiVersion', 'kind', 'metadata', ...(TOP_LEVEL_FIELDS[kind] ?? ['spec'])]);
    found = {
      token,
      create: (name, obj, opts) => {
        const dropped = Object.keys(obj).filter((f) => !allowed.has(f));
        if (dropped.length > 0) {
          throw new Error(`mlops-constructs/pulumi: ${kind} ${name} has top-level field(s) ${dropped.join(', ')} that ${token} would drop; register this object yourself`);
        }
        return new candidate(name, obj, opts);
      },
    };
  } else if (builtInGroup || (group.endsWith('.k8s.io') && module !== undefined && isGroupOf(module, group))) {
    throw new Error(`mlops-constructs/pulumi: ${apiVersion} ${kind} is not a kind of @pulumi/kubernetes (no class with type ${token}); upgrade @pulumi/kubernetes or fix the apiVersion`);
  } else {
    found = {
      token,
      create: (name, obj, opts) => new k8s.apiextensions.CustomResource(name, obj as unknown as k8s.apiextensions.CustomResourceArgs, opts),
    };
  }
  kinds.set(key, found);
  return found;
}

/** True when a module of @pulumi/kubernetes holds the kinds of `group` (e.g. `networking` of networking.k8s.io, not of gateway.networking.k8s.io). */
function isGroupOf(module: Record<string, Record<string, unknown>>, group: string): boolean {
  for (const version of Object.values(module)) {
    if (version === null || typeof version !== 'object') continue;
    for (const cls of Object.values(version)) {
      const type = (cls as { __pulumiType?: unknown })?.__pulumiType;
      if (typeof type === 'string') return type.startsWith(`kubernetes:${group}/`);
    }
  }
  return false;
}

// ---- ordering ---------------------------------------------------------------------------

const POD_TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod']);

/** Pod template of a workload: labels and pod spec. */
function podTemplate(obj: any): { labels: Record<string, string>; spec: any } | undefined {
  if (!POD_TEMPLATE_KINDS.has(obj.kind)) return undefined;
  if (obj.kind === 'Pod') return { labels: obj.metadata?.labels ?? {}, spec: obj.spec ?? {} };
  const template = obj.kind === 'CronJob' ? obj.spec?.jobTemplate?.spec?.template : obj.spec?.template;
  return template ? { labels: template.metadata?.labels ?? {}, spec: template.spec ?? {} } : undefined;
}

function selectorMatches(selector: any, labels: Record<string, string>): boolean {
  if (selector === null || typeof selector !== 'object') return false;
  const matchLabels: Record<string, string> = selector.matchLabels ?? {};
  const expressions: any[] = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  if (Object.keys(matchLabels).length === 0 && expressions.length === 0) return true;
  const labelsMatch = Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
  return labelsMatch && expressions.every((e) => {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case 'In': return has && (e.values ?? []).includes(labels[e.key]);
      case 'NotIn': return !has || !(e.values ?? []).includes(labels[e.key]);
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
      default: return false;
    }
  });
}

/** What a pod spec refers to by name: ConfigMaps, Secrets, PVCs and its ServiceAccount. */
function podReferences(spec: any): { kind: string; name: string }[] {
  const refs: { kind: string; name: string }[] = [];
  const add = (kind: string, name: unknown) => {
    if (typeof name === 'string' && name !== '') refs.push({ kind, name });
  };
  for (const v of Array.isArray(spec.volumes) ? spec.volumes : []) {
    add('ConfigMap', v?.configMap?.name);
    add('Secret', v?.secret?.secretName);
    add('PersistentVolumeClaim', v?.persistentVolumeClaim?.claimName);
    for (const s of Array.isArray(v?.projected?.sources) ? v.projected.sources : []) {
      add('ConfigMap', s?.configMap?.name);
      add('Secret', s?.secret?.name);
    }
  }
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  for (const c of containers) {
    for (const e of Array.isArray(c?.env) ? c.env : []) {
      add('ConfigMap', e?.valueFrom?.configMapKeyRef?.name);
      add('Secret', e?.valueFrom?.secretKeyRef?.name);
    }
    for (const e of Array.isArray(c?.envFrom) ? c.envFrom : []) {
      add('ConfigMap', e?.configMapRef?.name);
      add('Secret', e?.secretRef?.name);
    }
  }
  for (const s of Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets : []) add('Secret', s?.name);
  add('ServiceAccount', spec.serviceAccountName);
  return refs;
}

/**
 * For each object, the objects of the same set it must wait for (indices into `objects`):
 * - a workload waits for the ConfigMaps, Secrets, PVCs and ServiceAccount its pods use, for
 *   the NetworkPolicies that select its pods (no pod runs unprotected) and, for a
 *   StatefulSet, for its governing Service;
 * - an autoscaler (HPA, KEDA ScaledObject) waits for the workload it scales;
 * - a ServiceMonitor waits for the Services it selects, an Ingress for its backend Services,
 *   a RoleBinding for its Role and ServiceAccounts.
 * References to objects outside the set (a Secret created by the operator) add nothing.
 */
export function dependenciesWithin(objects: readonly KubernetesObject[]): number[][] {
  const index = new Map<string, number>();
  objects.forEach((o, i) => index.set(`${o.kind}|${o.metadata.namespace ?? ''}|${o.metadata.name}`, i));
  const find = (kind: string, namespace: string | undefined, name: string) => index.get(`${kind}|${namespace ?? ''}|${name}`);

  return objects.map((obj, self) => {
    const o = obj as any;
    const ns = obj.metadata.namespace;
    const deps = new Set<number>();
    const add = (i: number | undefined) => {
      if (i !== undefined && i !== self) deps.add(i);
    };
    const template = podTemplate(o);
    if (template) {
      for (const ref of podReferences(template.spec)) add(find(ref.kind, ns, ref.name));
      objects.forEach((other, i) => {
        const p = other as any;
        if (p.kind === 'NetworkPolicy' && p.metadata.namespace === ns && selectorMatches(p.spec?.podSelector ?? {}, template.labels)) add(i);
      });
      if (o.kind === 'StatefulSet' && typeof o.spec?.serviceName === 'string') add(find('Service', ns, o.spec.serviceName));
    }
    if (o.kind === 'HorizontalPodAutoscaler' || (o.kind === 'ScaledObject' && o.apiVersion.startsWith('keda.sh/'))) {
      const ref = o.spec?.scaleTargetRef;
      if (typeof ref?.name === 'string') add(find(ref.kind ?? 'Deployment', ns, ref.name));
    }
    if (o.kind === 'ServiceMonitor' && o.apiVersion.startsWith('monitoring.coreos.com/')) {
      const namespaces: string[] | undefined = o.spec?.namespaceSelector?.any ? undefined : (o.spec?.namespaceSelector?.matchNames ?? [ns]);
      objects.forEach((other, i) => {
        const s = other as any;
        if (s.kind === 'Service' && s.apiVersion === 'v1' && (namespaces === undefined || namespaces.includes(s.metadata.namespace))
          && selectorMatches(o.spec?.selector, s.metadata.labels ?? {})) add(i);
      });
    }
    if (o.kind === 'Ingress') {
      const backends = [o.spec?.defaultBackend, ...(o.spec?.rules ?? []).flatMap((r: any) => (r?.http?.paths ?? []).map((p: any) => p?.backend))];
      for (const b of backends) if (typeof b?.service?.name === 'string') add(find('Service', ns, b.service.name));
    }
    if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
      if (typeof o.roleRef?.name === 'string') add(find(o.roleRef.kind, o.roleRef.kind === 'Role' ? ns : undefined, o.roleRef.name));
      for (const s of Array.isArray(o.subjects) ? o.subjects : []) {
        if (s?.kind === 'ServiceAccount') add(find('ServiceAccount', s.namespace ?? ns, s.name));
      }
    }
    return [...deps].sort((a, b) => a - b);
  });
}
