/**
 * What the control-plane tier asks of a stack once the real apiserver holds it: synthesis
 * with the cdk8s CLI, strict server-side apply into a restricted namespace, and the
 * cross-object facts only a live cluster can show (which pods a selector finds, which
 * objects exist, what the controllers made of the workloads).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cachedCrdDirectory } from '../../src/testing/crd-schemas';
import { ControlPlane, waitFor } from './cluster';

const REPO = path.resolve(__dirname, '..', '..');

/** The field manager every apply of this tier uses. */
export const FIELD_MANAGER = 'mlops-constructs-test';

export interface SynthesizedStack {
  readonly dir: string;
  readonly files: string[];
}

/** Runs `cdk8s synth` (the CLI from node_modules) with `app`, or cdk8s.yaml's app, into a fresh directory. */
export async function cdk8sSynth(app?: string): Promise<SynthesizedStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-synth-'));
  const args = ['synth', '--output', dir, ...(app ? ['--app', app] : [])];
  await new Promise<void>((resolve, reject) => {
    execFile(path.join(REPO, 'node_modules', '.bin', 'cdk8s'), args, { cwd: REPO, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`cdk8s ${args.join(' ')} failed: ${error.message}\n${stderr}${stdout}`));
      else resolve();
    });
  });
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
  if (files.length === 0) throw new Error(`cdk8s synth wrote no manifest into ${dir}`);
  return { dir, files };
}

/** Applies the upstream CRDs setup fetched (prometheus-operator, KEDA) and waits until they are served. */
export async function installCrds(cp: ControlPlane): Promise<void> {
  await cp.kubectlOk(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--recursive', '-f', cachedCrdDirectory()]);
  await cp.kubectlOk(['wait', '--for=condition=Established', '--timeout=120s', 'crd', '--all']);
}

/** A namespace whose Pod Security level is `restricted` for enforce, audit and warn. */
export async function createRestrictedNamespace(cp: ControlPlane, name: string): Promise<void> {
  const ns = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/audit': 'restricted',
        'pod-security.kubernetes.io/warn': 'restricted',
      },
    },
  };
  await cp.kubectlOk(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], { input: JSON.stringify(ns) });
  await waitFor(async () => (await cp.kubectl(['get', 'serviceaccount', 'default', '-n', name])).code === 0, 60_000, `ServiceAccount ${name}/default`);
}

/** The strict server-side apply users run; returns kubectl's output untouched. */
export function applyStrict(cp: ControlPlane, files: readonly string[], extra: string[] = []) {
  return cp.kubectl(['apply', '--server-side', '--validate=strict', `--field-manager=${FIELD_MANAGER}`, ...extra, ...files.flatMap((f) => ['-f', f])]);
}

/** Every object in a namespace of the kinds the library writes (and the ones controllers make of them). */
export async function liveObjects(cp: ControlPlane, namespace: string): Promise<any[]> {
  const kinds = [
    'configmaps', 'secrets', 'serviceaccounts', 'services', 'persistentvolumeclaims', 'pods', 'deployments.apps', 'replicasets.apps',
    'statefulsets.apps', 'cronjobs.batch', 'jobs.batch', 'horizontalpodautoscalers.autoscaling', 'poddisruptionbudgets.policy',
    'networkpolicies.networking.k8s.io', 'ingresses.networking.k8s.io', 'endpointslices.discovery.k8s.io',
    'servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com', 'scaledobjects.keda.sh', 'triggerauthentications.keda.sh',
  ];
  return (await cp.getJson([kinds.join(','), '-n', namespace])).items;
}

/** Objects of one kind, by name. */
export function byKind(objects: readonly any[], kind: string): any[] {
  return objects.filter((o) => o.kind === kind);
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** matchLabels plus matchExpressions (In, NotIn, Exists, DoesNotExist), as the apiserver reads a LabelSelector. */
export function selects(selector: any, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  if (selector.matchLabels && !Object.entries(selector.matchLabels).every(([k, v]) => l[k] === v)) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in l;
    if (e.operator === 'In' && !(has && e.values.includes(l[e.key]))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(l[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function podSpecs(objects: readonly any[]): { owner: string; spec: any }[] {
  const out: { owner: string; spec: any }[] = [];
  for (const o of objects) {
    const id = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    if (o.kind === 'Pod') out.push({ owner: id, spec: o.spec });
    if (o.kind === 'CronJob') out.push({ owner: id, spec: o.spec.jobTemplate.spec.template.spec });
  }
  return out;
}

/**
 * What the live objects of a namespace say about each other; each problem is a sentence naming
 * the object. `externalSecrets` are the Secrets the stack documents as created outside it.
 */
export function crossObjectProblems(objects: readonly any[], externalSecrets: readonly string[]): string[] {
  const problems: string[] = [];
  const names = (kind: string) => new Set(byKind(objects, kind).map((o) => o.metadata.name));
  const pods = byKind(objects, 'Pod');
  const services = byKind(objects, 'Service');
  const workloads = new Map<string, Set<string>>([
    ['Deployment', names('Deployment')],
    ['StatefulSet', names('StatefulSet')],
  ]);

  for (const svc of services) {
    if (!svc.spec.selector) continue;
    if (!pods.some((p) => matches(svc.spec.selector, p.metadata.labels))) {
      problems.push(`Service ${svc.metadata.name}: selector ${JSON.stringify(svc.spec.selector)} matches no Pod`);
    }
  }
  for (const sm of byKind(objects, 'ServiceMonitor')) {
    const id = `ServiceMonitor ${sm.metadata.name}`;
    const targets = services.filter((s) => selects(sm.spec.selector, s.metadata.labels));
    if (targets.length === 0) {
      problems.push(`${id}: selector ${JSON.stringify(sm.spec.selector)} matches no Service`);
      continue;
    }
    (sm.spec.endpoints ?? []).forEach((ep: any, i: number) => {
      const portNames = targets.flatMap((s) => s.spec.ports.map((p: any) => p.name));
      if (ep.port && !portNames.includes(ep.port)) {
        problems.push(`${id}: endpoints[${i}].port "${ep.port}" is no port of Service ${targets.map((s) => s.metadata.name).join(', ')} (${portNames.join(', ')})`);
      }
    });
  }
  for (const pdb of byKind(objects, 'PodDisruptionBudget')) {
    if (!pods.some((p) => selects(pdb.spec.selector, p.metadata.labels))) {
      problems.push(`PodDisruptionBudget ${pdb.metadata.name}: selector matches no Pod`);
    }
  }
  for (const hpa of byKind(objects, 'HorizontalPodAutoscaler')) {
    const ref = hpa.spec.scaleTargetRef;
    if (!workloads.get(ref.kind)?.has(ref.name)) problems.push(`HorizontalPodAutoscaler ${hpa.metadata.name}: target ${ref.kind} ${ref.name} does not exist`);
  }
  for (const so of byKind(objects, 'ScaledObject')) {
    const ref = so.spec.scaleTargetRef;
    if (!workloads.get(ref.kind ?? 'Deployment')?.has(ref.name)) problems.push(`ScaledObject ${so.metadata.name}: target ${ref.kind ?? 'Deployment'} ${ref.name} does not exist`);
  }
  for (const np of byKind(objects, 'NetworkPolicy')) {
    if (!pods.some((p) => selects(np.spec.podSelector, p.metadata.labels))) {
      problems.push(`NetworkPolicy ${np.metadata.name}: podSelector matches no Pod`);
    }
  }
  for (const ing of byKind(objects, 'Ingress')) {
    for (const rule of ing.spec.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const svc = services.find((s) => s.metadata.name === p.backend.service?.name);
        if (!svc) problems.push(`Ingress ${ing.metadata.name}: backend Service ${p.backend.service?.name} does not exist`);
        else if (p.backend.service.port.name && !svc.spec.ports.some((sp: any) => sp.name === p.backend.service.port.name)) {
          problems.push(`Ingress ${ing.metadata.name}: backend port "${p.backend.service.port.name}" is no port of Service ${svc.metadata.name}`);
        }
      }
    }
  }

  // References from pods (and the CronJob's template) to the objects they need at start.
  const existing = {
    ConfigMap: names('ConfigMap'),
    Secret: new Set([...names('Secret'), ...externalSecrets]),
    PersistentVolumeClaim: names('PersistentVolumeClaim'),
    ServiceAccount: names('ServiceAccount'),
  };
  const need = (owner: string, kind: keyof typeof existing, name: string | undefined, optional?: boolean) => {
    if (name && !optional && !existing[kind].has(name)) problems.push(`${owner}: ${kind} ${name} does not exist and is not a documented external Secret`);
  };
  for (const { owner, spec } of podSpecs(objects)) {
    need(owner, 'ServiceAccount', spec.serviceAccountName ?? 'default');
    for (const s of spec.imagePullSecrets ?? []) need(owner, 'Secret', s.name);
    for (const v of spec.volumes ?? []) {
      need(owner, 'ConfigMap', v.configMap?.name, v.configMap?.optional);
      need(owner, 'Secret', v.secret?.secretName, v.secret?.optional);
      need(owner, 'PersistentVolumeClaim', v.persistentVolumeClaim?.claimName);
      for (const src of v.projected?.sources ?? []) {
        need(owner, 'ConfigMap', src.configMap?.name, src.configMap?.optional);
        need(owner, 'Secret', src.secret?.name, src.secret?.optional);
      }
    }
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      for (const e of c.env ?? []) {
        need(owner, 'ConfigMap', e.valueFrom?.configMapKeyRef?.name, e.valueFrom?.configMapKeyRef?.optional);
        need(owner, 'Secret', e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.optional);
      }
      for (const e of c.envFrom ?? []) {
        need(owner, 'ConfigMap', e.configMapRef?.name, e.configMapRef?.optional);
        need(owner, 'Secret', e.secretRef?.name, e.secretRef?.optional);
      }
    }
  }
  for (const sm of byKind(objects, 'ServiceMonitor')) {
    for (const ep of sm.spec.endpoints ?? []) {
      need(`ServiceMonitor ${sm.metadata.name}`, 'Secret', ep.basicAuth?.username?.name);
      need(`ServiceMonitor ${sm.metadata.name}`, 'Secret', ep.basicAuth?.password?.name);
    }
  }
  return problems;
}

/** The leaf paths of a managedFields fieldsV1 tree (`f:spec.f:replicas`, `k:{...}` keys kept verbatim). */
export function fieldPaths(fields: any, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (key === '.') continue;
    const p = prefix ? `${prefix}.${key}` : key;
    const children = Object.keys(value as object).filter((k) => k !== '.');
    if (children.length === 0) out.push(p);
    else out.push(...fieldPaths(value, p));
  }
  return out;
}

/**
 * Fields that the apply manager and some other manager both own on an object (status
 * subresources aside): a sign that a controller fights the manifest, e.g. an HPA and a
 * Deployment's `replicas`.
 */
export function sharedOwnership(obj: any, manager: string = FIELD_MANAGER): string[] {
  const entries = (obj.metadata.managedFields ?? []).filter((m: any) => !m.subresource);
  const ours = new Set(entries.filter((m: any) => m.manager === manager && m.operation === 'Apply').flatMap((m: any) => fieldPaths(m.fieldsV1)));
  const shared: string[] = [];
  for (const m of entries) {
    if (m.manager === manager && m.operation === 'Apply') continue;
    for (const p of fieldPaths(m.fieldsV1)) if (ours.has(p)) shared.push(`${p} (also ${m.manager}, ${m.operation})`);
  }
  return shared;
}

/**
 * How many Pods the controllers should make of a live Deployment: the HPA's minimum when an
 * HPA targets it (the HPA controller raises replicas to it without any metric), else its
 * replicas (for a Deployment the manifest leaves unscaled, e.g. under KEDA, whose operator
 * does not run here, the apiserver's default of 1).
 */
export function expectedReplicas(deployment: any, objects: readonly any[]): number {
  const hpa = byKind(objects, 'HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === deployment.metadata.name);
  return hpa ? (hpa.spec.minReplicas ?? 1) : deployment.spec.replicas;
}
