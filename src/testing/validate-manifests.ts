/**
 * Independent checks of synthesized manifests, applied by the test suite to every object the
 * constructs produce, and by users to their stacks (mlops-constructs/testing). Nothing here is
 * shared with src/constructs: the rules come from the Kubernetes API
 * (kubernetes-models' compiled OpenAPI validators for types and required fields,
 * @kubernetes/client-node's generated models for unknown fields, the upstream CRDs in the
 * shared CRD directory for custom resources) and from docs/architecture.md.
 */
import { crdRegistry, formatAjvErrors } from './crd-schemas';
import { loadK8sTypeMaps } from './k8s-type-maps';
import { unknownFields } from './unknown-fields';
import {
  apiGroup,
  containersOf,
  describeObject,
  dns1035LabelError,
  dns1123LabelError,
  dns1123SubdomainError,
  isEmptyLabelSelector,
  isPlainObject,
  joinPath,
  labelSelectorMatches,
  labelValueError,
  mapSelectorMatches,
  podLabels,
  podTemplateOf,
  portNameError,
  qualifiedNameError,
} from './k8s-objects';
import { requireValidatorPeers } from './peers';
import { checkRestrictedPodSecurity, matchesObjectName, PodSecurityOptions } from './pod-security';

export { checkRestrictedPodSecurity, PodSecurityOptions } from './pod-security';

export interface ValidateManifestsOptions extends PodSecurityOptions {
  /**
   * Folder of CustomResourceDefinition YAML files (searched recursively) that custom resources
   * are validated against. Needed as soon as the set holds a custom resource.
   * @default - $MLOPS_CRDS_DIR; in a source checkout of mlops-constructs, the CRDs its setup fetched
   */
  readonly crdsDir?: string;
  /** Secrets the pods reference that are created outside this set, by `name` or `namespace/name`. @default [] */
  readonly externalSecrets?: readonly string[];
  /** ConfigMaps the pods reference that are created outside this set. @default [] */
  readonly externalConfigMaps?: readonly string[];
  /** ServiceAccounts the pods run as that are created outside this set (`default` always exists). @default [] */
  readonly externalServiceAccounts?: readonly string[];
  /** Secrets in the set allowed to carry data (docs/architecture.md, "Secure by default": secrets are only referenced). @default [] */
  readonly allowSecretData?: readonly string[];
}

// --- Single objects --------------------------------------------------------------------------

interface BuiltInKind {
  /** kubernetes-models class, with the compiled OpenAPI validator behind validate(). */
  readonly Model: new (data: unknown) => { validate(): void };
  /** @kubernetes/client-node model name, e.g. `V1Deployment`. */
  readonly typeName: string;
}

const builtInKinds = new Map<string, BuiltInKind | null>();

/** The built-in kind for an apiVersion/kind, or undefined when neither package knows it. */
function builtInKind(apiVersion: string, kind: string): BuiltInKind | undefined {
  const key = `${apiVersion} ${kind}`;
  if (builtInKinds.has(key)) return builtInKinds.get(key) ?? undefined;
  let found: BuiltInKind | undefined;
  const m = /^(?:([a-z][a-z0-9.-]*)\/)?(v\d+(?:(?:alpha|beta)\d+)?)$/.exec(apiVersion);
  if (m && /^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    const [, group, version] = m;
    let Model: any;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      Model = require(`kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`)[kind];
    } catch {
      Model = undefined;
    }
    if (typeof Model === 'function' && Model.apiVersion === apiVersion && Model.kind === kind) {
      // client-node names a kind `V1Deployment`, or `CoreV1Event` where two groups share a kind.
      const maps = loadK8sTypeMaps();
      const v = version[0].toUpperCase() + version.slice(1);
      const groupWord = (group ? group.split('.')[0] : 'core').replace(/^./, (c) => c.toUpperCase());
      const typeName = [`${groupWord}${v}${kind}`, `${v}${kind}`].find((n) => maps.models.has(n));
      if (typeName) found = { Model, typeName };
    }
  }
  builtInKinds.set(key, found ?? null);
  return found;
}

/**
 * Schema problems of one object, like `kubectl apply --validate=strict` against a current
 * apiserver would report them (plus a few semantic checks the apiserver makes), each as
 * `<Kind> <namespace>/<name>: <field path>: <what is wrong>`. Empty when valid.
 * Throws when the CRD directory is needed and missing.
 */
export function validateSchema(obj: any, options: { readonly crdsDir?: string } = {}): string[] {
  if (!isPlainObject(obj)) return [`manifest is not an object: ${JSON.stringify(obj)}`];
  const id = describeObject(obj);
  const problems: string[] = [];
  const report = (path: string, message: string) => problems.push(`${id}: ${path || '(root)'}: ${message}`);
  if (typeof obj.apiVersion !== 'string' || obj.apiVersion === '') report('apiVersion', 'required field is missing');
  if (typeof obj.kind !== 'string' || obj.kind === '') report('kind', 'required field is missing');
  if (problems.length > 0) return problems;

  const builtIn = builtInKind(obj.apiVersion, obj.kind);
  if (builtIn) {
    try {
      new builtIn.Model(obj).validate();
    } catch (e) {
      const errors = (e as { errors?: unknown }).errors;
      if (Array.isArray(errors)) for (const p of formatAjvErrors(errors)) report(p.path, p.message);
      else report('', `invalid: ${(e as Error).message}`);
    }
    unknownFields(obj, builtIn.typeName, '', report);
    checkMetadata(obj, 'metadata', report, nameRule(obj.kind));
    checkBuiltInSemantics(obj, report);
  } else {
    const registry = crdRegistry(options.crdsDir);
    const crd = registry.find(obj.apiVersion, obj.kind);
    if (!crd) {
      const maps = loadK8sTypeMaps();
      report(
        'apiVersion',
        `unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}: not a built-in kind of kubernetes-models nor of ` +
          `@kubernetes/client-node ${maps.clientVersion} (Kubernetes ${maps.apiVersion}), nor a CRD in ${registry.dir} ` +
          `(which defines ${registry.kinds().join(', ')})`,
      );
      return problems;
    }
    for (const p of registry.validate(obj)) report(p.path, p.message);
    if (obj.metadata !== undefined) unknownFields(obj.metadata, 'V1ObjectMeta', 'metadata', report);
    checkMetadata(obj, 'metadata', report, dns1123SubdomainError);
    checkCustomResourceSemantics(obj, report);
  }
  return problems;
}

type NameRule = (name: string) => string | undefined;

/** The apiserver's name rule for a kind (most kinds: DNS-1123 subdomain). */
function nameRule(kind: string): NameRule {
  switch (kind) {
    case 'Service':
      return dns1035LabelError;
    case 'Namespace':
      return dns1123LabelError;
    case 'CronJob':
      // Jobs get an 11-character suffix and their name must stay a 63-character label value.
      return (n) => (n.length > 52 ? `must be no more than 52 characters for a CronJob (is ${n.length})` : dns1123SubdomainError(n));
    case 'Job':
      // The job-name label of its pods carries the name.
      return (n) => (n.length > 63 ? `must be no more than 63 characters for a Job (is ${n.length})` : dns1123SubdomainError(n));
    default:
      return dns1123SubdomainError;
  }
}

function checkMetadata(obj: any, path: string, report: (path: string, message: string) => void, rule: NameRule): void {
  const meta = obj.metadata;
  if (!isPlainObject(meta)) {
    report(path, 'required field is missing');
    return;
  }
  if (typeof meta.name !== 'string' || meta.name === '') {
    report(`${path}.name`, 'required field is missing');
  } else {
    const error = rule(meta.name);
    if (error) report(`${path}.name`, `${JSON.stringify(meta.name)} ${error}`);
  }
  if (meta.namespace !== undefined) {
    const error = typeof meta.namespace === 'string' ? dns1123LabelError(meta.namespace) : 'must be a string';
    if (error) report(`${path}.namespace`, `${JSON.stringify(meta.namespace)} ${error}`);
  }
  checkLabelsAndAnnotations(meta, path, report);
  const template = podTemplateOf(obj);
  if (template && template.metadataPath !== path) checkLabelsAndAnnotations(template.metadata, template.metadataPath, report);
}

function checkLabelsAndAnnotations(meta: Record<string, any>, path: string, report: (path: string, message: string) => void): void {
  for (const field of ['labels', 'annotations']) {
    const map = meta[field];
    if (map === undefined) continue;
    if (!isPlainObject(map)) {
      report(`${path}.${field}`, 'must be a map of strings');
      continue;
    }
    let size = 0;
    for (const [key, value] of Object.entries(map)) {
      const at = joinPath(`${path}.${field}`, key);
      const keyError = qualifiedNameError(key);
      if (keyError) report(at, `key ${JSON.stringify(key)} ${keyError}`);
      if (typeof value !== 'string') {
        report(at, `value must be a string, not ${JSON.stringify(value)}`);
        continue;
      }
      size += key.length + value.length;
      if (field === 'labels') {
        const valueError = labelValueError(value);
        if (valueError) report(at, `value ${JSON.stringify(value)} ${valueError}`);
      }
    }
    if (field === 'annotations' && size > 256 * 1024) report(`${path}.annotations`, `total size ${size} is above 256 KiB`);
  }
}

/** Checks the apiserver makes beyond the OpenAPI schema, for the mistakes a generator makes. */
function checkBuiltInSemantics(obj: any, report: (path: string, message: string) => void): void {
  const spec = isPlainObject(obj.spec) ? obj.spec : {};
  const template = podTemplateOf(obj);
  if (template && obj.kind !== 'Pod') {
    const labels = podLabels(obj);
    const selector = spec.selector;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(obj.kind)) {
      if (isEmptyLabelSelector(selector)) report('spec.selector', 'empty selector is invalid: it would select every pod');
      else if (isPlainObject(selector) && !labelSelectorMatches(selector, labels)) {
        report('spec.selector', `selector ${JSON.stringify(selector)} does not match template labels ${JSON.stringify(labels)}`);
      }
    }
  }
  if (template) checkPodSpec(obj, template.spec, template.specPath, report);

  if (obj.kind === 'Service') {
    const ports = Array.isArray(spec.ports) ? spec.ports : [];
    const seen = new Set<string>();
    ports.forEach((p: any, i: number) => {
      if (!isPlainObject(p)) return;
      const at = `spec.ports[${i}]`;
      if (ports.length > 1 && !p.name) report(`${at}.name`, 'required when a Service has more than one port');
      if (typeof p.name === 'string' && p.name !== '') {
        const error = dns1123LabelError(p.name);
        if (error) report(`${at}.name`, `${JSON.stringify(p.name)} ${error}`);
        if (seen.has(p.name)) report(`${at}.name`, `duplicate port name ${JSON.stringify(p.name)}`);
        seen.add(p.name);
      }
      if (typeof p.targetPort === 'string') {
        const error = portNameError(p.targetPort);
        if (error) report(`${at}.targetPort`, `${JSON.stringify(p.targetPort)} ${error}`);
      }
    });
  }
  if (obj.kind === 'HorizontalPodAutoscaler') {
    const min = spec.minReplicas ?? 1;
    if (typeof min === 'number' && min < 1) report('spec.minReplicas', `must be at least 1 (is ${min})`);
    if (typeof min === 'number' && typeof spec.maxReplicas === 'number' && min > spec.maxReplicas) {
      report('spec.minReplicas', `minReplicas (${min}) is above maxReplicas (${spec.maxReplicas})`);
    }
  }
  if (obj.kind === 'PodDisruptionBudget' && spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    report('spec', 'minAvailable and maxUnavailable cannot both be set');
  }
  if (obj.kind === 'CronJob' && typeof spec.schedule === 'string') {
    const schedule = spec.schedule.replace(/^(CRON_)?TZ=\S+\s+/, '');
    if (!/^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(schedule) && schedule.trim().split(/\s+/).length !== 5) {
      report('spec.schedule', `${JSON.stringify(spec.schedule)} is not a 5-field cron expression`);
    }
  }
}

function checkPodSpec(obj: any, spec: Record<string, any>, specPath: string, report: (path: string, message: string) => void): void {
  const containers = containersOf(spec, specPath);
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) report(`${specPath}.containers`, 'must have at least one container');
  const volumeNames = new Set<string>();
  (Array.isArray(spec.volumes) ? spec.volumes : []).forEach((v: any, i: number) => {
    if (!isPlainObject(v) || typeof v.name !== 'string') return;
    const error = dns1123LabelError(v.name);
    if (error) report(`${specPath}.volumes[${i}].name`, `${JSON.stringify(v.name)} ${error}`);
    if (volumeNames.has(v.name)) report(`${specPath}.volumes[${i}].name`, `duplicate volume name ${JSON.stringify(v.name)}`);
    volumeNames.add(v.name);
  });
  // A StatefulSet's volumeClaimTemplates become volumes of its pods.
  if (obj.kind === 'StatefulSet' && Array.isArray(obj.spec?.volumeClaimTemplates)) {
    for (const t of obj.spec.volumeClaimTemplates) {
      if (typeof t?.metadata?.name === 'string') volumeNames.add(t.metadata.name);
    }
  }
  const containerNames = new Set<string>();
  const portNames = new Set<string>();
  for (const c of containers) {
    if (typeof c.container.name === 'string') {
      const error = dns1123LabelError(c.container.name);
      if (error) report(`${c.path}.name`, `${JSON.stringify(c.container.name)} ${error}`);
      if (containerNames.has(c.container.name)) report(`${c.path}.name`, `duplicate container name ${JSON.stringify(c.container.name)}`);
      containerNames.add(c.container.name);
    }
    const mountPaths = new Set<string>();
    (Array.isArray(c.container.volumeMounts) ? c.container.volumeMounts : []).forEach((m: any, i: number) => {
      if (!isPlainObject(m)) return;
      if (typeof m.name === 'string' && !volumeNames.has(m.name)) {
        report(`${c.path}.volumeMounts[${i}].name`, `container "${c.name}" mounts volume ${JSON.stringify(m.name)}, which the pod does not define`);
      }
      if (typeof m.mountPath === 'string') {
        if (mountPaths.has(m.mountPath)) report(`${c.path}.volumeMounts[${i}].mountPath`, `container "${c.name}" mounts ${m.mountPath} twice`);
        mountPaths.add(m.mountPath);
      }
    });
    (Array.isArray(c.container.ports) ? c.container.ports : []).forEach((p: any, i: number) => {
      if (!isPlainObject(p) || typeof p.name !== 'string') return;
      const error = portNameError(p.name);
      if (error) report(`${c.path}.ports[${i}].name`, `${JSON.stringify(p.name)} ${error}`);
      if (portNames.has(p.name)) report(`${c.path}.ports[${i}].name`, `duplicate port name ${JSON.stringify(p.name)} in the pod`);
      portNames.add(p.name);
    });
  }
  const restartPolicy = spec.restartPolicy;
  if (['Job', 'CronJob'].includes(obj.kind)) {
    if (restartPolicy !== 'OnFailure' && restartPolicy !== 'Never') {
      report(`${specPath}.restartPolicy`, `must be OnFailure or Never for a ${obj.kind} (is ${JSON.stringify(restartPolicy)})`);
    }
  } else if (obj.kind !== 'Pod' && restartPolicy !== undefined && restartPolicy !== 'Always') {
    report(`${specPath}.restartPolicy`, `must be Always for a ${obj.kind} (is ${JSON.stringify(restartPolicy)})`);
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const PROM_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** What the operators' admission webhooks check beyond the CRD schema. */
function checkCustomResourceSemantics(obj: any, report: (path: string, message: string) => void): void {
  if (obj.apiVersion === 'monitoring.coreos.com/v1' && obj.kind === 'PrometheusRule') {
    // Prometheus' rulefmt, which the prometheus-operator webhook runs.
    const groups = Array.isArray(obj.spec?.groups) ? obj.spec.groups : [];
    groups.forEach((g: any, gi: number) => {
      const rules = isPlainObject(g) && Array.isArray(g.rules) ? g.rules : [];
      rules.forEach((r: any, ri: number) => {
        if (!isPlainObject(r)) return;
        const at = `spec.groups[${gi}].rules[${ri}]`;
        const hasAlert = typeof r.alert === 'string' && r.alert !== '';
        const hasRecord = typeof r.record === 'string' && r.record !== '';
        if (hasAlert === hasRecord) report(at, 'exactly one of alert and record must be set');
        if (hasRecord && !METRIC_NAME.test(r.record)) report(`${at}.record`, `${JSON.stringify(r.record)} is not a valid metric name`);
        if (hasRecord) {
          for (const field of ['for', 'keep_firing_for', 'annotations']) {
            if (r[field] !== undefined) report(`${at}.${field}`, 'only valid for alerting rules');
          }
        }
        if (typeof r.expr === 'string' && r.expr.trim() === '') report(`${at}.expr`, 'must not be empty');
        for (const field of ['labels', 'annotations']) {
          if (!isPlainObject(r[field])) continue;
          for (const key of Object.keys(r[field])) {
            if (!PROM_LABEL_NAME.test(key)) report(joinPath(`${at}.${field}`, key), `${JSON.stringify(key)} is not a valid Prometheus label name`);
          }
        }
      });
    });
  }
}

// --- Sets of objects -------------------------------------------------------------------------

const SCALABLE_KINDS = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);

/**
 * Every problem of a set of objects: validateSchema and checkRestrictedPodSecurity of each,
 * then references between them (duplicates, Service/ServiceMonitor/PodMonitor/PDB selectors,
 * HPA/ScaledObject targets, ConfigMap/Secret/ServiceAccount references of pods).
 */
export function validateManifests(objects: readonly any[], options: ValidateManifestsOptions = {}): string[] {
  requireValidatorPeers();
  const problems: string[] = [];
  for (const obj of objects) {
    problems.push(...validateSchema(obj, options));
    problems.push(...checkRestrictedPodSecurity(obj, options));
  }
  const valid = objects.filter((o) => isPlainObject(o) && typeof o.kind === 'string' && isPlainObject(o.metadata));
  problems.push(...checkDuplicates(valid));
  problems.push(...checkReferences(valid, options));
  return problems;
}

/** Throws one Error listing every problem of validateManifests, if there is any. */
export function assertValidManifests(objects: readonly any[], options: ValidateManifestsOptions = {}): void {
  const problems = validateManifests(objects, options);
  if (problems.length > 0) {
    throw new Error(`${problems.length} problem${problems.length === 1 ? '' : 's'} in ${objects.length} manifests:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function namespaceOf(obj: any): string {
  return typeof obj.metadata?.namespace === 'string' ? obj.metadata.namespace : '';
}

function checkDuplicates(objects: any[]): string[] {
  const seen = new Map<string, number>();
  const problems: string[] = [];
  objects.forEach((obj, i) => {
    // The group, not the apiVersion: apps/v1 and apps/v1beta2 name the same stored object.
    const key = [apiGroup(obj.apiVersion), obj.kind, namespaceOf(obj), obj.metadata.name].join('|');
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else problems.push(`${describeObject(obj)}: metadata.name: duplicate object: objects #${first} and #${i} are the same ${apiGroup(obj.apiVersion) || 'core'} ${obj.kind}`);
  });
  return problems;
}

function checkReferences(objects: any[], options: ValidateManifestsOptions): string[] {
  const problems: string[] = [];
  const workloads = objects.filter((o) => podTemplateOf(o) !== undefined);
  const services = objects.filter((o) => o.apiVersion === 'v1' && o.kind === 'Service');
  const inNamespace = (list: any[], ns: string) => list.filter((o) => namespaceOf(o) === ns);

  for (const svc of services) {
    const id = describeObject(svc);
    const spec = isPlainObject(svc.spec) ? svc.spec : {};
    if (spec.type === 'ExternalName' || !isPlainObject(spec.selector) || Object.keys(spec.selector).length === 0) continue;
    const matched = inNamespace(workloads, namespaceOf(svc)).filter((w) => mapSelectorMatches(spec.selector, podLabels(w)));
    if (matched.length === 0) {
      problems.push(`${id}: spec.selector: ${JSON.stringify(spec.selector)} matches the pod labels of no workload in namespace ${namespaceOf(svc) || '(none)'}`);
      continue;
    }
    (Array.isArray(spec.ports) ? spec.ports : []).forEach((p: any, i: number) => {
      if (typeof p?.targetPort !== 'string') return;
      const named = matched.some((w) => containerPortNames(w).has(p.targetPort));
      if (!named) problems.push(`${id}: spec.ports[${i}].targetPort: no container of the selected pods has a port named ${JSON.stringify(p.targetPort)}`);
    });
  }

  for (const sm of objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1' && o.kind === 'ServiceMonitor')) {
    const id = describeObject(sm);
    const spec = isPlainObject(sm.spec) ? sm.spec : {};
    const candidates = services.filter((s) => monitorNamespaceMatches(sm, namespaceOf(s)));
    const matched = candidates.filter((s) => labelSelectorMatches(spec.selector, isPlainObject(s.metadata.labels) ? s.metadata.labels : {}));
    if (matched.length === 0) {
      problems.push(`${id}: spec.selector: ${JSON.stringify(spec.selector)} matches the labels of no Service in ${monitorNamespaces(sm)}`);
      continue;
    }
    (Array.isArray(spec.endpoints) ? spec.endpoints : []).forEach((e: any, i: number) => {
      if (!isPlainObject(e) || e.port === undefined) return;
      const found = matched.some((s) => (Array.isArray(s.spec?.ports) ? s.spec.ports : []).some((p: any) => p?.name === e.port));
      if (!found) {
        const names = matched.map((s) => `${s.metadata.name} has ${JSON.stringify((s.spec?.ports ?? []).map((p: any) => p?.name))}`).join('; ');
        problems.push(`${id}: spec.endpoints[${i}].port: no selected Service has a port named ${JSON.stringify(e.port)} (${names})`);
      }
    });
  }

  for (const pm of objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1' && o.kind === 'PodMonitor')) {
    const id = describeObject(pm);
    const spec = isPlainObject(pm.spec) ? pm.spec : {};
    const matched = workloads.filter((w) => monitorNamespaceMatches(pm, namespaceOf(w)) && labelSelectorMatches(spec.selector, podLabels(w)));
    if (matched.length === 0) {
      problems.push(`${id}: spec.selector: ${JSON.stringify(spec.selector)} matches the pod labels of no workload in ${monitorNamespaces(pm)}`);
      continue;
    }
    (Array.isArray(spec.podMetricsEndpoints) ? spec.podMetricsEndpoints : []).forEach((e: any, i: number) => {
      if (!isPlainObject(e) || e.port === undefined) return;
      if (!matched.some((w) => containerPortNames(w).has(e.port))) {
        problems.push(`${id}: spec.podMetricsEndpoints[${i}].port: no container of the selected pods has a port named ${JSON.stringify(e.port)}`);
      }
    });
  }

  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget' && apiGroup(o.apiVersion) === 'policy')) {
    const selector = pdb.spec?.selector;
    if (!inNamespace(workloads, namespaceOf(pdb)).some((w) => labelSelectorMatches(selector, podLabels(w)))) {
      problems.push(`${describeObject(pdb)}: spec.selector: ${JSON.stringify(selector)} matches the pod labels of no workload in namespace ${namespaceOf(pdb) || '(none)'}`);
    }
  }

  // HPA and ScaledObject targets; KEDA refuses a workload that another HPA already scales.
  const scaledBy = new Map<string, string[]>();
  const checkTarget = (owner: any, ref: any, path: string, defaults: { apiVersion?: string; kind?: string }) => {
    const id = describeObject(owner);
    if (!isPlainObject(ref)) return;
    const kind = ref.kind ?? defaults.kind;
    const apiVersion = ref.apiVersion ?? defaults.apiVersion;
    const target = objects.find(
      (o) => o.kind === kind && o.metadata.name === ref.name && namespaceOf(o) === namespaceOf(owner) && (apiVersion === undefined || apiGroup(o.apiVersion) === apiGroup(apiVersion)),
    );
    if (!target) {
      const what = `${apiVersion ? `${apiVersion} ` : ''}${kind} ${JSON.stringify(ref.name)}`;
      problems.push(`${id}: ${path}: ${what} is not in the set (namespace ${namespaceOf(owner) || '(none)'})`);
      return;
    }
    if (!SCALABLE_KINDS.has(target.kind)) problems.push(`${id}: ${path}: ${target.kind} ${ref.name} has no scale subresource`);
    const key = `${namespaceOf(target)}/${target.kind}/${target.metadata.name}`;
    scaledBy.set(key, [...(scaledBy.get(key) ?? []), id]);
  };
  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' && apiGroup(o.apiVersion) === 'autoscaling')) {
    checkTarget(hpa, hpa.spec?.scaleTargetRef, 'spec.scaleTargetRef', {});
  }
  const triggerAuths = objects.filter((o) => o.apiVersion === 'keda.sh/v1alpha1' && o.kind === 'TriggerAuthentication');
  for (const so of objects.filter((o) => o.apiVersion === 'keda.sh/v1alpha1' && o.kind === 'ScaledObject')) {
    checkTarget(so, so.spec?.scaleTargetRef, 'spec.scaleTargetRef', { apiVersion: 'apps/v1', kind: 'Deployment' });
    (Array.isArray(so.spec?.triggers) ? so.spec.triggers : []).forEach((t: any, i: number) => {
      const ref = t?.authenticationRef;
      if (!isPlainObject(ref) || ref.kind === 'ClusterTriggerAuthentication') return;
      if (!inNamespace(triggerAuths, namespaceOf(so)).some((a) => a.metadata.name === ref.name)) {
        problems.push(`${describeObject(so)}: spec.triggers[${i}].authenticationRef: TriggerAuthentication ${JSON.stringify(ref.name)} is not in the set`);
      }
    });
  }
  for (const [target, owners] of scaledBy) {
    if (owners.length > 1) problems.push(`${owners[0]}: spec.scaleTargetRef: ${target} is also scaled by ${owners.slice(1).join(', ')}; one autoscaler per workload`);
  }

  for (const w of workloads) problems.push(...checkPodReferences(w, objects, options));
  for (const secret of objects.filter((o) => o.apiVersion === 'v1' && o.kind === 'Secret')) {
    const hasData = ['data', 'stringData'].some((f) => isPlainObject(secret[f]) && Object.keys(secret[f]).length > 0);
    if (hasData && !(options.allowSecretData ?? []).some((n) => matchesObjectName(secret, n))) {
      problems.push(`${describeObject(secret)}: data: a Secret with data in the manifests puts a secret in plain text; reference an existing Secret instead (project contract) or list it in allowSecretData`);
    }
  }
  return problems;
}

function monitorNamespaceMatches(monitor: any, ns: string): boolean {
  const selector = monitor.spec?.namespaceSelector;
  if (isPlainObject(selector) && selector.any === true) return true;
  if (isPlainObject(selector) && Array.isArray(selector.matchNames) && selector.matchNames.length > 0) return selector.matchNames.includes(ns);
  return ns === namespaceOf(monitor);
}

function monitorNamespaces(monitor: any): string {
  const selector = monitor.spec?.namespaceSelector;
  if (isPlainObject(selector) && selector.any === true) return 'any namespace';
  if (isPlainObject(selector) && Array.isArray(selector.matchNames) && selector.matchNames.length > 0) return `namespaces ${selector.matchNames.join(', ')}`;
  return `namespace ${namespaceOf(monitor) || '(none)'}`;
}

function containerPortNames(workload: any): Set<string> {
  const template = podTemplateOf(workload);
  const names = new Set<string>();
  if (!template) return names;
  for (const c of containersOf(template.spec, template.specPath)) {
    for (const p of Array.isArray(c.container.ports) ? c.container.ports : []) if (typeof p?.name === 'string') names.add(p.name);
  }
  return names;
}

/** ConfigMaps, Secrets and the ServiceAccount a pod needs: in the set, or declared external. */
function checkPodReferences(workload: any, objects: any[], options: ValidateManifestsOptions): string[] {
  const template = podTemplateOf(workload)!;
  const id = describeObject(workload);
  const ns = namespaceOf(workload);
  const problems: string[] = [];
  const find = (kind: 'ConfigMap' | 'Secret', name: string) =>
    objects.find((o) => o.apiVersion === 'v1' && o.kind === kind && o.metadata.name === name && namespaceOf(o) === ns);
  const external = (kind: 'ConfigMap' | 'Secret', name: string) =>
    ((kind === 'ConfigMap' ? options.externalConfigMaps : options.externalSecrets) ?? []).some((n) => n === name || n === `${ns}/${name}`);

  const requireRef = (kind: 'ConfigMap' | 'Secret', name: unknown, key: unknown, optional: unknown, path: string) => {
    if (typeof name !== 'string' || optional === true) return;
    const target = find(kind, name);
    if (!target) {
      if (!external(kind, name)) {
        const option = kind === 'ConfigMap' ? 'externalConfigMaps' : 'externalSecrets';
        problems.push(`${id}: ${path}: ${kind} ${JSON.stringify(name)} is not in the set (namespace ${ns || '(none)'}) nor listed in ${option}`);
      }
      return;
    }
    if (typeof key === 'string') {
      const keys = new Set(['data', 'binaryData', 'stringData'].flatMap((f) => (isPlainObject(target[f]) ? Object.keys(target[f]) : [])));
      if (!keys.has(key)) problems.push(`${id}: ${path}: ${kind} ${name} has no key ${JSON.stringify(key)} (has ${JSON.stringify([...keys])})`);
    }
  };

  const { spec, specPath } = template;
  (Array.isArray(spec.volumes) ? spec.volumes : []).forEach((v: any, i: number) => {
    if (!isPlainObject(v)) return;
    const at = `${specPath}.volumes[${i}]`;
    const items = (source: any, kind: 'ConfigMap' | 'Secret', name: unknown, path: string) => {
      const list = Array.isArray(source?.items) ? source.items : [];
      if (list.length === 0) requireRef(kind, name, undefined, source?.optional, path);
      list.forEach((item: any) => requireRef(kind, name, item?.key, source?.optional, path));
    };
    if (isPlainObject(v.configMap)) items(v.configMap, 'ConfigMap', v.configMap.name, `${at}.configMap.name`);
    if (isPlainObject(v.secret)) items(v.secret, 'Secret', v.secret.secretName, `${at}.secret.secretName`);
    (Array.isArray(v.projected?.sources) ? v.projected.sources : []).forEach((s: any, j: number) => {
      if (isPlainObject(s?.configMap)) items(s.configMap, 'ConfigMap', s.configMap.name, `${at}.projected.sources[${j}].configMap.name`);
      if (isPlainObject(s?.secret)) items(s.secret, 'Secret', s.secret.name, `${at}.projected.sources[${j}].secret.name`);
    });
  });
  for (const c of containersOf(spec, specPath)) {
    (Array.isArray(c.container.env) ? c.container.env : []).forEach((e: any, i: number) => {
      const cm = e?.valueFrom?.configMapKeyRef;
      const sec = e?.valueFrom?.secretKeyRef;
      if (isPlainObject(cm)) requireRef('ConfigMap', cm.name, cm.key, cm.optional, `${c.path}.env[${i}].valueFrom.configMapKeyRef`);
      if (isPlainObject(sec)) requireRef('Secret', sec.name, sec.key, sec.optional, `${c.path}.env[${i}].valueFrom.secretKeyRef`);
    });
    (Array.isArray(c.container.envFrom) ? c.container.envFrom : []).forEach((e: any, i: number) => {
      if (isPlainObject(e?.configMapRef)) requireRef('ConfigMap', e.configMapRef.name, undefined, e.configMapRef.optional, `${c.path}.envFrom[${i}].configMapRef`);
      if (isPlainObject(e?.secretRef)) requireRef('Secret', e.secretRef.name, undefined, e.secretRef.optional, `${c.path}.envFrom[${i}].secretRef`);
    });
  }
  const sa = spec.serviceAccountName;
  if (typeof sa === 'string' && sa !== 'default') {
    const inSet = objects.some((o) => o.apiVersion === 'v1' && o.kind === 'ServiceAccount' && o.metadata.name === sa && namespaceOf(o) === ns);
    const declared = (options.externalServiceAccounts ?? []).some((n) => n === sa || n === `${ns}/${sa}`);
    if (!inSet && !declared) {
      problems.push(`${id}: ${specPath}.serviceAccountName: ServiceAccount ${JSON.stringify(sa)} is not in the set (namespace ${ns || '(none)'}) nor listed in externalServiceAccounts`);
    }
  }
  return problems;
}
