/**
 * Pulumi components taking each other where the cdk8s constructs do: a DriftMonitor takes a
 * Pulumi ModelService, PrometheusAlerts takes both, a ModelService serves a model of a Pulumi
 * ModelRegistry. With pulumi.runtime.setMocks; the oracle is the cdk8s synthesis of the same
 * constructs in one chart.
 */
import * as pulumi from '@pulumi/pulumi';
import { Chart, Cron, Size, Testing } from 'cdk8s';
import {
  ArtifactStore, DriftData, DriftMonitor as DriftMonitorConstruct, DriftMonitorProps, IModelService,
  ModelRegistry as ModelRegistryConstruct, ModelRegistryProps, ModelRegistryRef, ModelService as ModelServiceConstruct,
  Monitoring, PrometheusAlerts as PrometheusAlertsConstruct, RegistryDatabase, ServingRuntime,
} from '../src';
import { DriftMonitor, ModelRegistry, ModelService, PrometheusAlerts } from '../src/pulumi';
import { Registration, settled, startMocks } from './pulumi-mocks';

/** Monitoring settings for a Prometheus that selects every ServiceMonitor and rule (no labels). */
const SELECT_ALL = { serviceMonitorLabels: {} };

const REGISTRY = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const MONITORING = { serviceMonitorLabels: { release: 'kube-prometheus-stack' } };
const key = (o: any) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
const runtime = () => ServingRuntime.mlflow({ model: REGISTRY.model('fraud-detector', { alias: 'champion' }) });

function driftProps(modelService: IModelService): DriftMonitorProps {
  return {
    modelService,
    reference: DriftData.registryModel(REGISTRY.model('fraud-detector', { alias: 'champion' })),
    current: DriftData.uri('s3://lake/fraud/dt={{ds}}/*.parquet'),
    schedule: Cron.hourly(),
    labelColumn: 'is_fraud',
    predictionColumn: 'prediction',
  };
}

function oracle(build: (chart: Chart) => void): any[] {
  const chart = new Chart(Testing.app(), 'mlops', { namespace: 'mlops', disableResourceNameHashes: true });
  Monitoring.configure(chart, MONITORING);
  build(chart);
  return Testing.synth(chart);
}

function childrenOf(run: { registrations: Registration[]; kubernetes(): Registration[] }, type: string, name: string): Registration[] {
  const component = run.registrations.find((r) => r.type === type && r.name === name);
  if (!component) throw new Error(`no ${type} ${name}`);
  return run.kubernetes().filter((r) => r.parent === component.urn);
}

describe('DriftMonitor component', () => {
  test('takes a Pulumi ModelService and registers the CronJob, its checker and the Pushgateway as its children', async () => {
    // GIVEN
    const run = await startMocks();
    const service = new ModelService('fraud-detector', { namespace: 'mlops', monitoring: MONITORING, runtime: runtime(), accuracyFloor: 0.9 });
    // WHEN
    const monitor = new DriftMonitor('fraud-detector-drift', { monitoring: MONITORING, ...driftProps(service) });
    const alerts = new PrometheusAlerts('alerts', { monitoring: MONITORING, modelServices: [service], driftMonitors: [monitor] });
    await settled([...service.resources, ...monitor.resources, ...alerts.resources].map((r) => r.resource));
    // THEN every registered object equals the cdk8s synthesis of the same constructs
    const expected = oracle((chart) => {
      const cdkService = new ModelServiceConstruct(chart, 'fraud-detector', { runtime: runtime(), accuracyFloor: 0.9 });
      const cdkMonitor = new DriftMonitorConstruct(chart, 'drift', driftProps(cdkService));
      new PrometheusAlertsConstruct(chart, 'alerts', { modelServices: [cdkService], driftMonitors: [cdkMonitor] });
    });
    expect(run.kubernetes().map((r) => key(r.inputs)).sort()).toEqual(expected.map(key).sort());
    for (const r of run.kubernetes()) expect(r.inputs).toEqual(expected.find((o) => key(o) === key(r.inputs)));
    // and the monitor's children are its CronJob, checker ConfigMap and the Pushgateway
    expect(childrenOf(run, 'mlops:index:DriftMonitor', 'fraud-detector-drift').map((r) => `${r.inputs.kind}/${r.inputs.metadata.name}`).sort()).toEqual([
      'ConfigMap/mlops-drift-checker', 'CronJob/fraud-detector-drift', 'Deployment/pushgateway',
      'NetworkPolicy/fraud-detector-drift', 'NetworkPolicy/pushgateway', 'Service/pushgateway', 'ServiceMonitor/pushgateway',
    ]);
    // and the CronJob waits for its checker and its NetworkPolicy, the ServiceMonitor for its Service
    const urn = (kind: string, name: string) => run.kubernetes().find((r) => r.inputs.kind === kind && r.inputs.metadata.name === name)!.urn;
    expect(run.byUrn(urn('CronJob', 'fraud-detector-drift')).dependencies.sort()).toEqual([urn('ConfigMap', 'mlops-drift-checker'), urn('NetworkPolicy', 'fraud-detector-drift')].sort());
    expect(run.byUrn(urn('ServiceMonitor', 'pushgateway')).dependencies).toEqual([urn('Service', 'pushgateway')]);
    // and the component reports what alerting needs
    expect(monitor).toMatchObject({ name: 'fraud-detector-drift', namespace: 'mlops', modelName: 'fraud-detector', reportsQuality: true, pushgatewayJob: 'pushgateway' });
    expect(monitor.pushgateway.url).toBe('http://pushgateway.mlops.svc.cluster.local:9091');
  });

  test('a second monitor shares the first one\'s Pushgateway and checker ConfigMap instead of declaring others', async () => {
    // GIVEN two model services and a monitor of the first
    const run = await startMocks();
    const a = new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime() });
    const b = new ModelService('churn', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: ServingRuntime.mlflow({ model: REGISTRY.model('churn', { version: 3 }) }) });
    const first = new DriftMonitor('a', { monitoring: SELECT_ALL, ...driftProps(a) });
    // WHEN
    const second = new DriftMonitor('b', { monitoring: SELECT_ALL, ...driftProps(b), pushgateway: first.pushgateway, checkerBundle: first.checkerBundle });
    await settled([a, b, first, second].flatMap((c) => c.resources.map((r) => r.resource)));
    // THEN one Pushgateway and one checker ConfigMap, and both jobs push to it and mount that
    expect(run.kubernetes().filter((r) => r.inputs.kind === 'Deployment' && r.inputs.metadata.name === 'pushgateway')).toHaveLength(1);
    expect(run.kubernetes().filter((r) => r.inputs.kind === 'ConfigMap' && r.inputs.metadata.name === 'mlops-drift-checker')).toHaveLength(1);
    expect(childrenOf(run, 'mlops:index:DriftMonitor', 'b').map((r) => r.inputs.kind).sort()).toEqual(['CronJob', 'NetworkPolicy']);
    const volumes = (name: string) => run.kubernetes().find((r) => r.inputs.kind === 'CronJob' && r.inputs.metadata.name === name)!
      .inputs.spec.jobTemplate.spec.template.spec.volumes;
    expect(volumes('churn-drift')).toContainEqual(expect.objectContaining({ configMap: expect.objectContaining({ name: 'mlops-drift-checker' }) }));
    const args = (name: string) => run.kubernetes().find((r) => r.inputs.kind === 'CronJob' && r.inputs.metadata.name === name)!
      .inputs.spec.jobTemplate.spec.template.spec.containers[0].args;
    expect(args('churn-drift')).toContain('http://pushgateway.mlops.svc.cluster.local:9091');
    expect(args('fraud-detector-drift')).toContain('http://pushgateway.mlops.svc.cluster.local:9091');
  });

  test('a pending checker image leaves the CronJob registered with only the image unknown', async () => {
    // GIVEN a preview in which the image tag comes from another stack, not known yet
    const run = await startMocks({ preview: true });
    const service = new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime() });
    const image = new pulumi.StackReference('org/images/prod').getOutput('nodeImage') as pulumi.Output<string>;
    // WHEN
    const monitor = new DriftMonitor('drift', { monitoring: SELECT_ALL, ...driftProps(service), image });
    await settled([...service.resources, ...monitor.resources].map((r) => r.resource));
    // THEN
    const cronJob = run.kubernetes().find((r) => r.inputs.kind === 'CronJob')!;
    const container = cronJob.inputs.spec.jobTemplate.spec.template.spec.containers[0];
    expect(pulumi.isUnknown(container.image)).toBe(true);
    expect(container.args[0]).toBe('check');
  });

  test('fails at construction with the construct\'s message', async () => {
    await startMocks();
    const service = new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime() });
    expect(() => new DriftMonitor('drift', { monitoring: SELECT_ALL, ...driftProps(service), labelColumn: undefined }))
      .toThrow('DriftMonitor mlops/drift: labelColumn (unset) is required when the other quality column is set; set both labelColumn and predictionColumn, or neither');
  });
});

describe('ModelRegistry component', () => {
  const registryProps = (): ModelRegistryProps => ({
    database: RegistryDatabase.inCluster({ passwordSecret: { secretName: 'mlflow-postgres', key: 'password' }, storageSize: Size.gibibytes(20) }),
    artifacts: ArtifactStore.volume({ size: Size.gibibytes(50) }),
  });

  test('serves models to a Pulumi ModelService, which waits for the registry, and is watched by PrometheusAlerts', async () => {
    // GIVEN
    const run = await startMocks();
    const registry = new ModelRegistry('mlflow', { namespace: 'mlops', monitoring: MONITORING, ...registryProps() });
    // WHEN a model service serves the registry's champion, and alerts cover both
    const service = new ModelService('fraud-detector', {
      namespace: 'mlops', monitoring: MONITORING, runtime: ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) }),
    });
    const alerts = new PrometheusAlerts('alerts', { monitoring: MONITORING, modelServices: [service], registries: [registry] });
    await settled([registry, service, alerts].flatMap((c) => c.resources.map((r) => r.resource)));
    // THEN the objects equal the cdk8s synthesis of the same three constructs
    const expected = oracle((chart) => {
      const cdkRegistry = new ModelRegistryConstruct(chart, 'mlflow', registryProps());
      const cdkService = new ModelServiceConstruct(chart, 'fraud-detector', { runtime: ServingRuntime.mlflow({ model: cdkRegistry.model('fraud-detector', { alias: 'champion' }) }) });
      new PrometheusAlertsConstruct(chart, 'alerts', { modelServices: [cdkService], registries: [cdkRegistry] });
    });
    expect(run.kubernetes().map((r) => key(r.inputs)).sort()).toEqual(expected.map(key).sort());
    for (const r of run.kubernetes()) expect(r.inputs).toEqual(expected.find((o) => key(o) === key(r.inputs)));
    // and the registry's PostgreSQL and volume are its children
    expect(childrenOf(run, 'mlops:index:ModelRegistry', 'mlflow').map((r) => `${r.inputs.kind}/${r.inputs.metadata.name}`)).toEqual(expect.arrayContaining([
      'Deployment/mlflow', 'Service/mlflow', 'StatefulSet/mlflow-postgres', 'Service/mlflow-postgres', 'PersistentVolumeClaim/mlflow-artifacts',
    ]));
    // and the model server waits for every object of the registry, the MLflow server for its volume
    const registryUrns = childrenOf(run, 'mlops:index:ModelRegistry', 'mlflow').map((r) => r.urn);
    const modelDeployment = run.kubernetes().find((r) => r.inputs.kind === 'Deployment' && r.inputs.metadata.name === 'fraud-detector')!;
    expect(modelDeployment.dependencies).toEqual(expect.arrayContaining(registryUrns));
    const mlflowDeployment = run.kubernetes().find((r) => r.inputs.kind === 'Deployment' && r.inputs.metadata.name === 'mlflow')!;
    const pvc = run.kubernetes().find((r) => r.inputs.kind === 'PersistentVolumeClaim')!;
    expect(mlflowDeployment.dependencies).toContain(pvc.urn);
    // and the outputs users need
    expect(registry).toMatchObject({ name: 'mlflow', namespace: 'mlops', serviceName: 'mlflow', trackingUri: 'http://mlflow.mlops.svc.cluster.local:5000' });
    expect(alerts.ruleNames).toEqual(expect.arrayContaining([{ namespace: 'mlops', name: 'mlflow-alerts' }]));
  });

  test('a pending MLflow image reaches the migration and the server containers', async () => {
    const run = await startMocks();
    const registry = new ModelRegistry('mlflow', { monitoring: SELECT_ALL, namespace: 'mlops', image: pulumi.output('registry.example.com/mlflow:v3.17.2-full'), ...registryProps() });
    await settled(registry.resources.map((r) => r.resource));
    const spec = run.kubernetes().find((r) => r.inputs.kind === 'Deployment')!.inputs.spec.template.spec;
    expect([...spec.initContainers, ...spec.containers].map((c: any) => c.image)).toEqual(['registry.example.com/mlflow:v3.17.2-full', 'registry.example.com/mlflow:v3.17.2-full']);
  });

  test('model() fails with the construct\'s message', async () => {
    await startMocks();
    const registry = new ModelRegistry('mlflow', { monitoring: SELECT_ALL, namespace: 'mlops', ...registryProps() });
    expect(() => registry.model('fraud-detector', { alias: 'champion', version: 3 })).toThrow(/^ModelRegistry mlops\/mlflow: model\(\) .* set exactly one of alias or version/);
  });
});

describe('two components that would create the same Kubernetes object', () => {
  test('fails while the program runs, naming both components and the object', async () => {
    // GIVEN a stack that already has a ModelService fraud-detector in mlops
    await startMocks();
    new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime() });
    // WHEN a second component of another Pulumi name declares the same objects
    const second = () => new ModelService('fraud-detector-copy', { monitoring: SELECT_ALL, name: 'fraud-detector', namespace: 'mlops', runtime: runtime() });
    // THEN it throws before registering anything, with both component names and the object
    expect(second).toThrow(/mlops:index:ModelService fraud-detector-copy and mlops:index:ModelService fraud-detector would both create \w+ mlops\/fraud-detector/);
  });

  test('a second DriftMonitor in a namespace that does not pass the first one\'s checkerBundle fails, naming the ConfigMap', async () => {
    await startMocks();
    const a = new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime() });
    const b = new ModelService('churn', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: ServingRuntime.mlflow({ model: REGISTRY.model('churn', { version: 3 }) }) });
    const first = new DriftMonitor('a', { monitoring: SELECT_ALL, ...driftProps(a) });
    expect(() => new DriftMonitor('b', { monitoring: SELECT_ALL, ...driftProps(b), pushgateway: first.pushgateway }))
      .toThrow(/mlops:index:DriftMonitor b and mlops:index:DriftMonitor a would both create ConfigMap mlops\/mlops-drift-checker/);
  });

  test('the same names through two providers (two clusters) are not a conflict', async () => {
    await startMocks();
    const k8s = await import('@pulumi/kubernetes');
    new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime() }, { provider: new k8s.Provider('east', {}) });
    expect(() => new ModelService('fraud-detector-west', { monitoring: SELECT_ALL, name: 'fraud-detector', namespace: 'mlops', runtime: runtime() }, { provider: new k8s.Provider('west', {}) })).not.toThrow();
  });
});
