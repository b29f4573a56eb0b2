/**
 * What the one component skeleton (src/pulumi/component.ts) gives every component: typed
 * accessors for the main objects, and errors as pulumi.ResourceError naming the component.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { Cron, Size } from 'cdk8s';
import { ArtifactStore, DriftData, ModelRegistryRef, RegistryDatabase, ServingRuntime } from '../src';
import { DriftMonitor, ModelRegistry, ModelService, PrometheusAlerts } from '../src/pulumi';
import { settled, startMocks } from './pulumi-mocks';

/** Monitoring settings for a Prometheus that selects every ServiceMonitor and rule (no labels). */
const SELECT_ALL = { serviceMonitorLabels: {} };

const REGISTRY = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const runtime = () => ServingRuntime.mlflow({ model: REGISTRY.model('fraud-detector', { alias: 'champion' }) });

/** What `f` throws. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('component skeleton', () => {
  test('typed accessors return the registered Deployment, Service and CronJob resources', async () => {
    // GIVEN
    await startMocks();
    // WHEN
    const service = new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime() });
    const registry = new ModelRegistry('mlflow', { monitoring: SELECT_ALL,
      namespace: 'mlops',
      database: RegistryDatabase.fromUriSecret({ secretName: 'mlflow-db', key: 'uri' }),
      artifacts: ArtifactStore.volume({ size: Size.gibibytes(5) }),
    });
    const monitor = new DriftMonitor('fraud-detector-drift', { monitoring: SELECT_ALL,
      modelService: service, schedule: Cron.hourly(),
      reference: DriftData.uri('s3://lake/reference.parquet'), current: DriftData.uri('s3://lake/dt={{ds}}/current.parquet'),
    });
    await settled([service, registry, monitor].flatMap((c) => c.resources.map((r) => r.resource)));
    // THEN
    expect(service.deployment).toBeInstanceOf(k8s.apps.v1.Deployment);
    expect(service.deployment).toBe(service.resource('Deployment'));
    expect(service.service).toBeInstanceOf(k8s.core.v1.Service);
    expect(registry.deployment).toBe(registry.resource('Deployment', 'mlflow', 'mlops'));
    expect(registry.service).toBeInstanceOf(k8s.core.v1.Service);
    expect(monitor.cronJob).toBeInstanceOf(k8s.batch.v1.CronJob);
    expect(monitor).toMatchObject({ name: 'fraud-detector-drift', namespace: 'mlops', modelName: 'fraud-detector', pushgatewayJob: 'pushgateway' });
  });

  test('fails with a ResourceError of the component when its construct refuses a prop', async () => {
    await startMocks();
    const error = thrown(() => new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime(), replicas: 5, maxReplicas: 2 }));
    expect(pulumi.ResourceError.isInstance(error)).toBe(true);
    expect((error as pulumi.ResourceError).message).toBe('ModelService mlops/fraud-detector: replicas (5) is above maxReplicas (2); lower replicas or raise maxReplicas');
    expect((error as pulumi.ResourceError).resource).toBeInstanceOf(ModelService);
  });

  test('fails with a ResourceError of the component when two components would create the same object', async () => {
    await startMocks();
    new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime() });
    const error = thrown(() => new ModelService('fraud-detector-copy', { monitoring: SELECT_ALL, name: 'fraud-detector', namespace: 'mlops', runtime: runtime() }));
    expect(pulumi.ResourceError.isInstance(error)).toBe(true);
    expect((error as pulumi.ResourceError).message).toMatch(/would both create/);
  });

  test('fails with a ResourceError when alerts need a metric nothing exports', async () => {
    await startMocks();
    const service = new ModelService('fraud-detector', { monitoring: SELECT_ALL, namespace: 'mlops', runtime: runtime(), accuracyFloor: 0.9 });
    const error = thrown(() => new PrometheusAlerts('alerts', { monitoring: SELECT_ALL, modelServices: [service] }));
    expect(pulumi.ResourceError.isInstance(error)).toBe(true);
    expect((error as pulumi.ResourceError).resource).toBeInstanceOf(PrometheusAlerts);
  });

  test('fails with a ResourceError naming the monitoring argument when a component has no monitoring settings', async () => {
    await startMocks();
    const error = thrown(() => new ModelService('fraud-detector', { namespace: 'mlops', runtime: runtime() }));
    expect(pulumi.ResourceError.isInstance(error)).toBe(true);
    expect((error as pulumi.ResourceError).resource).toBeInstanceOf(ModelService);
    expect((error as Error).message).toMatch(/serviceMonitorLabels \(unset\) leaves the ServiceMonitor without labels .*\(a Pulumi component: pass monitoring\)/);
  });
});
