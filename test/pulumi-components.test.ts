/**
 * The Pulumi components' registration mechanism, with pulumi.runtime.setMocks: every object a
 * construct synthesizes becomes one resource of the right type, name, parent and provider, in
 * the order the objects need each other, with Pulumi inputs that may be unknown at preview.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { Chart, Duration, Testing } from 'cdk8s';
import {
  ModelRegistryRef, ModelService as ModelServiceConstruct, ModelServiceProps, Monitoring, NetworkPeer,
  PrometheusAlerts as PrometheusAlertsConstruct, ScalingMetric, ServingRuntime,
} from '../src';
import { ModelService, PrometheusAlerts } from '../src/pulumi';
import { dependenciesWithin, resourceKind, typeToken } from '../src/pulumi/kubernetes-objects';
import { PendingInputs } from '../src/pulumi/pending-inputs';
import { Registration, settled, startMocks, valueOf } from './pulumi-mocks';

/** Monitoring settings for a Prometheus that selects every ServiceMonitor and rule (no labels). */
const SELECT_ALL = { serviceMonitorLabels: {} };

const REGISTRY = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const MONITORING = { serviceMonitorLabels: { release: 'kube-prometheus-stack' } };

function props(extra: Partial<ModelServiceProps> = {}): ModelServiceProps {
  return { runtime: ServingRuntime.mlflow({ model: REGISTRY.model('fraud-detector', { alias: 'champion' }) }), ...extra };
}

/** The same construct synthesized by cdk8s, as the oracle of what the component must register. */
function cdk8sObjects(build: (chart: Chart) => void): any[] {
  const chart = new Chart(Testing.app(), 'mlops', { namespace: 'mlops', disableResourceNameHashes: true });
  Monitoring.configure(chart, MONITORING);
  build(chart);
  return Testing.synth(chart);
}

const key = (o: any) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
const named = (run: { kubernetes(): Registration[] }, kind: string, name: string) => {
  const found = run.kubernetes().filter((r) => r.inputs.kind === kind && r.inputs.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0];
};

class Image extends pulumi.CustomResource {
  // `declare`: a class field would overwrite the output the Resource constructor sets.
  declare public readonly imageName: pulumi.Output<string>;
  constructor(name: string) {
    super('docker:index:Image', name, { imageName: undefined });
  }
}

describe('ModelService component', () => {
  test('registers each synthesized object once, typed, named <namespace>/<name>, as a child of the component', async () => {
    // GIVEN a mocked Pulumi runtime
    const run = await startMocks();
    // WHEN
    const service = new ModelService('fraud-detector', { namespace: 'mlops', monitoring: MONITORING, ...props({ replicas: 2, maxReplicas: 6, scaleOn: [ScalingMetric.cpu(70)] }) });
    await settled(service.resources.map((r) => r.resource));
    // THEN the registrations are exactly the cdk8s synthesis of the same props
    const expected = cdk8sObjects((chart) => new ModelServiceConstruct(chart, 'fraud-detector', props({ replicas: 2, maxReplicas: 6, scaleOn: [ScalingMetric.cpu(70)] })));
    const registered = run.kubernetes();
    expect(registered.map((r) => key(r.inputs)).sort()).toEqual(expected.map(key).sort());
    for (const r of registered) {
      expect(r.inputs).toEqual(expected.find((o) => key(o) === key(r.inputs)));
      expect(r.type).toBe(typeToken(r.inputs.apiVersion, r.inputs.kind));
      expect(r.name).toBe(`mlops/${r.inputs.metadata.name}`);
      expect(r.parent).toBe(run.registrations.find((c) => c.type === 'mlops:index:ModelService')!.urn);
    }
    expect(registered.map((r) => r.type)).toEqual(expect.arrayContaining([
      'kubernetes:apps/v1:Deployment', 'kubernetes:core/v1:Service', 'kubernetes:core/v1:ConfigMap',
      'kubernetes:autoscaling/v2:HorizontalPodAutoscaler', 'kubernetes:policy/v1:PodDisruptionBudget',
      'kubernetes:monitoring.coreos.com/v1:ServiceMonitor',
    ]));
    // and the component's outputs are the construct's names
    expect(service.serviceName).toBe('fraud-detector');
    expect(service.namespace).toBe('mlops');
    expect(service.resource('Deployment')).toBe(service.resources.find((r) => r.object.kind === 'Deployment')!.resource);
  });

  test('orders objects by what they need: ConfigMaps and NetworkPolicies before the Deployment, the autoscaler after it, the ServiceMonitor and Ingress after the Service', async () => {
    // GIVEN
    const run = await startMocks();
    // WHEN a service with every optional object, scaled by KEDA on request rate
    const service = new ModelService('fraud-detector', { monitoring: SELECT_ALL,
      namespace: 'mlops',
      ...props({
        replicas: 2,
        maxReplicas: 6,
        scaleOn: [ScalingMetric.requestRate({ requestsPerSecondPerReplica: 20, prometheusServerAddress: 'http://prometheus-operated.monitoring.svc:9090' })],
        ingressHost: 'fraud.example.com',
        allowedClients: [NetworkPeer.namespace('ingress-nginx')],
      }),
    });
    await settled(service.resources.map((r) => r.resource));
    // THEN
    const urn = (kind: string, name = 'fraud-detector') => named(run, kind, name).urn;
    expect(named(run, 'Deployment', 'fraud-detector').dependencies.sort()).toEqual([urn('ConfigMap', 'fraud-detector-metrics-proxy'), urn('NetworkPolicy')].sort());
    expect(named(run, 'ScaledObject', 'fraud-detector').dependencies).toEqual([urn('Deployment')]);
    expect(named(run, 'ServiceMonitor', 'fraud-detector').dependencies).toEqual([urn('Service')]);
    expect(named(run, 'Ingress', 'fraud-detector').dependencies).toEqual([urn('Service')]);
    expect(named(run, 'Service', 'fraud-detector').dependencies).toEqual([]);
    // and every dependency registered before its dependent
    const order = run.registrations.map((r) => r.urn);
    for (const r of run.kubernetes()) for (const d of r.dependencies) expect(order.indexOf(d)).toBeLessThan(order.indexOf(r.urn));
    expect(named(run, 'ScaledObject', 'fraud-detector').type).toBe('kubernetes:keda.sh/v1alpha1:ScaledObject');
  });

  test('passes the provider down to every object, whether given as provider or in providers', async () => {
    // GIVEN
    const run = await startMocks();
    const provider = new k8s.Provider('cluster', { namespace: 'ignored-by-explicit-namespaces' });
    // WHEN
    const a = new ModelService('a', { monitoring: SELECT_ALL, namespace: 'mlops', ...props() }, { provider });
    const b = new ModelService('b', { monitoring: SELECT_ALL, namespace: 'mlops', ...props() }, { providers: [provider] });
    await settled([...a.resources, ...b.resources].map((r) => r.resource));
    // THEN
    const providerRef = `${run.registrations.find((r) => r.type === 'pulumi:providers:kubernetes')!.urn}::cluster-id`;
    expect(run.kubernetes().length).toBe(a.resources.length + b.resources.length);
    for (const r of run.kubernetes()) expect(r.provider).toBe(providerRef);
  });

  test('the component dependsOn option holds back every object, and a Pulumi registry the runtime uses too', async () => {
    // GIVEN an operator installed by the same program, and a registry that is a Pulumi resource
    const run = await startMocks();
    const operator = new k8s.core.v1.Namespace('monitoring', { metadata: { name: 'monitoring' } });
    class PulumiRegistry extends pulumi.ComponentResource {
      public readonly trackingUri = 'http://mlflow.mlops.svc.cluster.local:5000';
      constructor() {
        super('test:index:Registry', 'registry');
      }
      public model(name: string, options?: { alias?: string; version?: number }) {
        return REGISTRY.model(name, options);
      }
    }
    const registry = new PulumiRegistry();
    const registryChild = new k8s.core.v1.ConfigMap('registry-child', { metadata: { name: 'x', namespace: 'mlops' } }, { parent: registry });
    // WHEN
    const service = new ModelService('fraud-detector', { monitoring: SELECT_ALL,
      namespace: 'mlops',
      runtime: ServingRuntime.mlflow({ model: 'models:/fraud-detector@champion', registry }),
    }, { dependsOn: [operator] });
    await settled([operator, registryChild, ...service.resources.map((r) => r.resource)]);
    // THEN every object waits for the operator, and the workload for the registry's objects
    const operatorUrn = run.registrations.find((r) => r.type === 'kubernetes:core/v1:Namespace')!.urn;
    const childUrn = run.registrations.find((r) => r.name === 'registry-child')!.urn;
    for (const r of run.kubernetes().filter((x) => x.parent !== '' && x.name !== 'registry-child')) {
      expect(r.dependencies).toContain(operatorUrn);
      expect(r.dependencies).toContain(childUrn);
    }
  });

  test('a pending image (unknown at preview) leaves every object registered, with only that field unknown', async () => {
    // GIVEN a preview, where an image built by another resource has no value yet
    const run = await startMocks({ preview: true });
    const image = new Image('model-image');
    // WHEN
    const service = new ModelService('fraud-detector', { namespace: 'mlops', monitoring: MONITORING, image: image.imageName, ...props() });
    await settled(service.resources.map((r) => r.resource));
    // THEN the same objects as without the input are registered
    const expected = cdk8sObjects((chart) => new ModelServiceConstruct(chart, 'fraud-detector', props()));
    expect(run.kubernetes().map((r) => key(r.inputs)).sort()).toEqual(expected.map(key).sort());
    // and the model server's image is unknown, while the proxy's is known
    const deployment = named(run, 'Deployment', 'fraud-detector');
    const [model, proxy] = deployment.inputs.spec.template.spec.containers;
    expect(pulumi.isUnknown(model.image)).toBe(true);
    expect(proxy.image).toBe('node:22.12.0-alpine3.21');
    // and the Deployment waits for the resource that builds the image
    expect(deployment.dependencies).toContain(run.registrations.find((r) => r.type === 'docker:index:Image')!.urn);
  });

  test('a resolved image input lands in the container, everything else equal to the synthesis', async () => {
    // GIVEN
    const run = await startMocks();
    // WHEN
    const service = new ModelService('fraud-detector', {
      namespace: 'mlops',
      monitoring: MONITORING,
      image: pulumi.output('registry.example.com/fraud/model:1.4.2'),
      metricsProxyImage: Promise.resolve('node:22.12.0-alpine3.21'),
      ...props(),
    });
    await settled(service.resources.map((r) => r.resource));
    // THEN
    const expected = cdk8sObjects((chart) => new ModelServiceConstruct(chart, 'fraud-detector', props({ runtime: ServingRuntime.mlflow({
      model: REGISTRY.model('fraud-detector', { alias: 'champion' }), image: 'registry.example.com/fraud/model:1.4.2',
    }) })));
    for (const r of run.kubernetes()) expect(r.inputs).toEqual(expected.find((o) => key(o) === key(r.inputs)));
    expect(named(run, 'Deployment', 'fraud-detector').inputs.spec.template.spec.containers[0].image).toBe('registry.example.com/fraud/model:1.4.2');
  });

  test('gives a model that may load for 10 minutes more than the provider\'s 10-minute rollout wait', async () => {
    // GIVEN
    const run = await startMocks();
    // WHEN the default startup timeout (10 minutes: progress deadline 720 s)
    const service = new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', ...props() });
    await settled(service.resources.map((r) => r.resource));
    // THEN
    expect(named(run, 'Deployment', 'fraud-detector').customTimeouts).toEqual({ create: '780s', update: '780s', delete: '' });
    expect(named(run, 'Service', 'fraud-detector').customTimeouts).toEqual({ create: '', update: '', delete: '' });
  });

  test('fails at construction with the construct\'s message when a prop is invalid', async () => {
    await startMocks();
    expect(() => new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', ...props({ replicas: 5, maxReplicas: 2 }) }))
      .toThrow('ModelService mlops/fraud-detector: replicas (5) is above maxReplicas (2); lower replicas or raise maxReplicas');
  });
});

describe('PrometheusAlerts component', () => {
  test('takes Pulumi ModelService components and registers their rules and dashboards as children', async () => {
    // GIVEN
    const run = await startMocks();
    const service = new ModelService('fraud-detector', {
      namespace: 'mlops', monitoring: MONITORING, ...props({ latencyObjective: Duration.millis(500), errorRateObjective: 0.05 }),
    });
    // WHEN
    const alerts = new PrometheusAlerts('alerts', { modelServices: [service], monitoring: MONITORING });
    await settled([...service.resources, ...alerts.resources].map((r) => r.resource));
    // THEN the objects equal the cdk8s synthesis with the cdk8s service
    const expected = cdk8sObjects((chart) => {
      const cdkService = new ModelServiceConstruct(chart, 'fraud-detector', props({ latencyObjective: Duration.millis(500), errorRateObjective: 0.05 }));
      new PrometheusAlertsConstruct(chart, 'alerts', { modelServices: [cdkService] });
    });
    const alertsUrn = run.registrations.find((r) => r.type === 'mlops:index:PrometheusAlerts')!.urn;
    const children = run.kubernetes().filter((r) => r.parent === alertsUrn);
    expect(children.map((r) => r.type).sort()).toEqual(['kubernetes:core/v1:ConfigMap', 'kubernetes:monitoring.coreos.com/v1:PrometheusRule']);
    for (const r of children) expect(r.inputs).toEqual(expected.find((o) => key(o) === key(r.inputs)));
    expect(alerts.ruleNames).toEqual([{ namespace: 'mlops', name: 'fraud-detector-alerts' }]);
    expect(named(run, 'PrometheusRule', 'fraud-detector-alerts').inputs.metadata.labels.release).toBe('kube-prometheus-stack');
  });

  test('fails at construction when an alert needs a metric nothing exports, as the construct does at synth', async () => {
    await startMocks();
    const service = new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', ...props({ accuracyFloor: 0.9 }) });
    expect(() => new PrometheusAlerts('alerts', { monitoring: SELECT_ALL, modelServices: [service] })).toThrow(/accuracyFloor of model service mlops\/fraud-detector .* no drift monitor/);
  });
});

describe('registration building blocks', () => {
  test('built-in kinds map to their typed classes, CRD kinds to CustomResource', () => {
    expect(resourceKind('apps/v1', 'Deployment').token).toBe('kubernetes:apps/v1:Deployment');
    expect(resourceKind('v1', 'ConfigMap').token).toBe('kubernetes:core/v1:ConfigMap');
    expect(resourceKind('networking.k8s.io/v1', 'NetworkPolicy').token).toBe('kubernetes:networking.k8s.io/v1:NetworkPolicy');
    expect(resourceKind('monitoring.coreos.com/v1', 'PrometheusRule').token).toBe('kubernetes:monitoring.coreos.com/v1:PrometheusRule');
    // a .k8s.io group that the SDK does not ship (Gateway API) is a CRD
    expect(resourceKind('gateway.networking.k8s.io/v1', 'HTTPRoute').token).toBe('kubernetes:gateway.networking.k8s.io/v1:HTTPRoute');
  });

  test('fails for a built-in group whose kind the SDK does not have, rather than guessing', () => {
    expect(() => resourceKind('apps/v1', 'Deploymnet')).toThrow('apps/v1 Deploymnet is not a kind of @pulumi/kubernetes');
    expect(() => resourceKind('networking.k8s.io/v1', 'Ingres')).toThrow(/not a kind of @pulumi\/kubernetes/);
  });

  test('fails for a top-level field a typed class would drop', async () => {
    await startMocks();
    const parent = new pulumi.ComponentResource('test:index:Parent', 'p');
    expect(() => resourceKind('v1', 'ConfigMap').create('mlops/x', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, spec: {} }, { parent }))
      .toThrow('ConfigMap mlops/x has top-level field(s) spec that kubernetes:core/v1:ConfigMap would drop');
  });

  test('dependencies: a StatefulSet waits for its governing Service, ServiceAccount and pull Secret (not for Secrets outside the set), a RoleBinding for its Role and ServiceAccount', () => {
    const objects: any[] = [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'n' } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'r', namespace: 'n' } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'rb', namespace: 'n' }, roleRef: { kind: 'Role', name: 'r' }, subjects: [{ kind: 'ServiceAccount', name: 'sa' }] },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'n' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pull', namespace: 'n' } },
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'n' }, spec: { serviceName: 'db', template: { metadata: { labels: { a: 'b' } }, spec: { serviceAccountName: 'sa', imagePullSecrets: [{ name: 'pull' }], containers: [{ env: [{ valueFrom: { secretKeyRef: { name: 'elsewhere' } } }] }] } } } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pull', namespace: 'other' } },
    ];
    expect(dependenciesWithin(objects)).toEqual([[], [], [0, 1], [], [], [0, 3, 4], []]);
  });

  test('a pending input folded into a longer string fails instead of deploying a stand-in', async () => {
    await startMocks();
    const pending = new PendingInputs();
    const standIn = pending.image(pulumi.output('registry.example.com/model:1.0.0'), () => undefined)!;
    expect(pending.resolve({ image: standIn }, 'Deployment x')).toEqual({ image: expect.anything() });
    expect(() => pending.resolve({ metadata: { labels: { version: `${standIn}-x` } } }, 'Deployment x'))
      .toThrow('Deployment x.metadata.labels.version embeds a pending Pulumi input');
  });

  test('a pending input is checked like the construct checks a plain value, once it resolves', async () => {
    await startMocks();
    const pending = new PendingInputs();
    const checked: string[] = [];
    const standIn = pending.image(pulumi.output('registry.example.com/model:1.0.0'), (v) => checked.push(v))!;
    expect(pending.image('plain:1.0', () => checked.push('never'))).toBe('plain:1.0');
    expect(await valueOf(pending.resolve(standIn, 'x') as pulumi.Output<string>)).toBe('registry.example.com/model:1.0.0');
    expect(checked).toEqual(['registry.example.com/model:1.0.0']);
  });
});
