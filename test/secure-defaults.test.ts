import { Testing } from 'cdk8s';
import { ReferenceStack } from '../examples/reference-stack';
import {
  ArtifactStore, Cpu, DriftData, DriftMonitor, Images, ModelRegistry, ModelRegistryRef, ModelService, Pushgateway, RegistryDatabase, ServingRuntime,
} from '../src';
import { POSTGRES_IMAGE } from '../src/constructs/registry/postgres';
import { KUBE_SCORE_REASON_PREFIX } from '../src/constructs/core/scanner-annotations';
import { container, newChart, only, synth } from './support/synth-helpers';

const PASSWORD = { secretName: 'mlflow-postgres', key: 'password' };
const registryRef = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const champion = () => ServingRuntime.mlflow({ model: registryRef.model('fraud-detector', { alias: 'champion' }) });
const digest = (image: string) => `${image}@sha256:${'a1'.repeat(32)}`;

/** The QoS class the kubelet gives a pod (https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/). */
function qosClass(spec: any): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers = [...(spec.initContainers ?? []), ...spec.containers];
  const r = containers.map((c: any) => c.resources ?? {});
  if (r.every((x: any) => !x.requests && !x.limits)) return 'BestEffort';
  const equal = r.every((x: any) => ['cpu', 'memory'].every((k) => x.limits?.[k] !== undefined && String(x.requests?.[k] ?? x.limits[k]) === String(x.limits[k])));
  return equal ? 'Guaranteed' : 'Burstable';
}

/** Seconds a container may go unanswered before a probe acts (failureThreshold checks, periodSeconds apart). */
function tolerance(probe: any): number {
  return probe.periodSeconds * probe.failureThreshold;
}

describe('in-cluster PostgreSQL', () => {
  const sts = (options: object = {}) => {
    const chart = newChart();
    new ModelRegistry(chart, 'mlflow', { database: RegistryDatabase.inCluster({ passwordSecret: PASSWORD, ...options }), artifacts: ArtifactStore.s3({ bucket: 'mlflow-artifacts' }) });
    return only(synth(chart), 'StatefulSet');
  };

  test('is in the Guaranteed QoS class by default, so node pressure evicts it last', () => {
    // GIVEN / WHEN the defaults
    const pod = sts().spec.template.spec;
    // THEN requests equal limits for cpu and memory
    expect(qosClass(pod)).toBe('Guaranteed');
    expect(pod.containers[0].resources).toEqual({ requests: { cpu: '500m', memory: '1024Mi' }, limits: { cpu: '500m', memory: '1024Mi' } });
  });

  test('stays Guaranteed when only a request or only a limit is given, and Burstable only when asked for', () => {
    expect(qosClass(sts({ cpuRequest: Cpu.cores(2) }).spec.template.spec)).toBe('Guaranteed');
    expect(qosClass(sts({ cpuLimit: Cpu.cores(2) }).spec.template.spec)).toBe('Guaranteed');
    expect(qosClass(sts({ cpuRequest: Cpu.millis(250), cpuLimit: Cpu.cores(1) }).spec.template.spec)).toBe('Burstable');
  });
});

describe('model server probes', () => {
  test('liveness tolerates far longer than readiness, so an overloaded pod leaves the Service instead of restarting', () => {
    // GIVEN the MLflow runtime, whose health and ready checks are the same endpoint
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion() });
    const server = container(only(synth(chart), 'Deployment'), 'model-server');
    const { readinessProbe: ready, livenessProbe: live } = server;
    // THEN liveness waits at least 10 times longer, and gives each check at least as long
    expect(live.httpGet).toEqual(ready.httpGet);
    expect(tolerance(live)).toBeGreaterThanOrEqual(10 * tolerance(ready));
    expect(tolerance(live)).toBeGreaterThanOrEqual(120);
    expect(live.timeoutSeconds).toBeGreaterThan(ready.timeoutSeconds);
    expect(live.failureThreshold).toBeGreaterThan(ready.failureThreshold);
  });
});

describe('scanner exceptions', () => {
  const objects = Testing.synth(new ReferenceStack(Testing.app(), 'mlops'));
  const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'CronJob'].includes(o.kind));

  test('every checkov skip and kube-score ignore of the reference stack carries a reason', () => {
    for (const w of workloads) {
      const annotations: Record<string, string> = w.metadata.annotations ?? {};
      const skips = Object.entries(annotations).filter(([k]) => k.startsWith('checkov.io/skip'));
      expect(skips.length).toBeGreaterThan(0);
      for (const [, value] of skips) expect(value).toMatch(/^CKV2?_K8S_\d+=[^=]{20,}$/);
      for (const check of (annotations['kube-score/ignore'] ?? '').split(',').filter(Boolean)) {
        expect([w.metadata.name, check, (annotations[`${KUBE_SCORE_REASON_PREFIX}${check}`] ?? '').length > 20]).toEqual([w.metadata.name, check, true]);
      }
      // On the workload, never on its pod template: a changed reason must not roll the pods.
      const template = w.kind === 'CronJob' ? w.spec.jobTemplate.spec.template : w.spec.template;
      expect(Object.keys(template.metadata.annotations ?? {}).filter((k) => k.startsWith('checkov.io') || k.startsWith('kube-score'))).toEqual([]);
    }
  });

  test('the uid skip is only where a uid is below 10000, with the reason of the image that needs it', () => {
    const postgres = only(objects, 'StatefulSet', 'mlflow-postgres');
    expect(Object.values(postgres.metadata.annotations)).toContain('CKV_K8S_40=uid 999 is the postgres user of the official image, which its entrypoint and the data directory\'s permissions expect');
    const pushgateway = only(objects, 'Deployment', 'pushgateway');
    expect(Object.values(pushgateway.metadata.annotations).some((v: any) => v.startsWith('CKV_K8S_40='))).toBe(false);
    expect(pushgateway.metadata.annotations['kube-score/ignore']).not.toContain('container-security-context-user-group-id');
  });

  test('every image can be pinned by digest, and then the digest skip disappears', () => {
    // GIVEN every image of a stack given as name:tag@sha256:...
    const chart = newChart();
    new Pushgateway(chart, 'Pushgateway', { image: digest(Images.PUSHGATEWAY) });
    const registry = new ModelRegistry(chart, 'mlflow', {
      image: digest(Images.MLFLOW),
      database: RegistryDatabase.inCluster({ passwordSecret: PASSWORD, image: digest(POSTGRES_IMAGE) }),
      artifacts: ArtifactStore.s3({ bucket: 'mlflow-artifacts' }),
    });
    const model = registry.model('fraud-detector', { alias: 'champion' });
    const service = new ModelService(chart, 'm', { runtime: ServingRuntime.mlflow({ model, image: digest(Images.MLFLOW) }), metricsProxyImage: digest(Images.NODE) });
    new DriftMonitor(chart, 'drift', { modelService: service, reference: DriftData.uri('https://d.example.com/ref.csv'), current: DriftData.uri('https://d.example.com/{{ds}}.csv'), image: digest(Images.NODE) });
    const out = synth(chart);
    // THEN each container runs its digest, and no workload skips the digest check
    const pinned = out.filter((o) => ['Deployment', 'StatefulSet', 'CronJob'].includes(o.kind));
    expect(pinned.map((o) => o.metadata.name).sort()).toEqual(['m', 'm-drift', 'mlflow', 'mlflow-postgres', 'pushgateway']);
    for (const w of pinned) {
      const spec = w.kind === 'CronJob' ? w.spec.jobTemplate.spec.template.spec : w.spec.template.spec;
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) expect(c.image).toMatch(/@sha256:[a-f0-9]{64}$/);
      expect(Object.values(w.metadata.annotations ?? {}).filter((v: any) => v.startsWith('CKV_K8S_43='))).toEqual([]);
    }
  });
});
