// One source for the cluster domain (issue 12): Cluster.configure on a scope, or the
// ModelRegistry's clusterDomain, reaches every Service name a construct writes: the tracking
// URI, the in-cluster PostgreSQL host and the Pushgateway URL the drift jobs push to.
import { Size } from 'cdk8s';
import {
  ArtifactStore, Cluster, DriftData, DriftMonitor, ModelRegistry, ModelService, RegistryDatabase, ServingRuntime,
} from '../src';
import { container, newChart, only, synth } from './support/synth-helpers';

const inCluster = () => RegistryDatabase.inCluster({ passwordSecret: { secretName: 'mlflow-postgres', key: 'password' } });
const volume = () => ArtifactStore.volume({ size: Size.gibibytes(5) });
const env = (c: any, name: string) => c.env.find((e: any) => e.name === name)?.value;

/** Everything that names a Service in the synthesized objects, as plain text. */
function serviceNames(objects: any[]): string[] {
  return [...JSON.stringify(objects).matchAll(/[a-z0-9-]+\.[a-z0-9-]+\.svc\.[a-z0-9.-]+[a-z0-9]/g)].map((m) => m[0]);
}

describe('cluster domain', () => {
  test('the registry prop reaches the in-cluster PostgreSQL host, not only the tracking URI', () => {
    // GIVEN a registry on a cluster whose domain is corp.internal
    const chart = newChart();
    new ModelRegistry(chart, 'mlflow', { database: inCluster(), artifacts: volume(), clusterDomain: 'corp.internal' });

    // WHEN it is synthesized
    const objects = synth(chart);
    const server = container(only(objects, 'Deployment', 'mlflow'), 'mlflow');

    // THEN the backend store URI names the database Service under that domain, and nothing says cluster.local
    expect(env(server, 'MLFLOW_BACKEND_STORE_URI')).toBe('postgresql+psycopg2://mlflow@mlflow-postgres.mlops.svc.corp.internal:5432/mlflow');
    expect(serviceNames(objects).filter((n) => !n.endsWith('.svc.corp.internal'))).toEqual([]);
  });

  test('Cluster.configure sets it for every construct below: registry, database and Pushgateway', () => {
    // GIVEN the domain set once on the chart
    const chart = newChart();
    Cluster.configure(chart, { clusterDomain: 'k8s.example.net' });
    const registry = new ModelRegistry(chart, 'mlflow', { database: inCluster(), artifacts: volume() });
    const champion = registry.model('fraud-detector', { alias: 'champion' });
    const service = new ModelService(chart, 'fraud-detector', { runtime: ServingRuntime.mlflow({ model: champion }) });
    new DriftMonitor(chart, 'fraud-drift', {
      modelService: service, reference: DriftData.registryModel(champion), current: DriftData.uri('https://d.example.com/c.csv'),
    });

    // WHEN the stack is synthesized
    const objects = synth(chart);
    const checker = container(only(objects, 'CronJob'), 'drift-check');

    // THEN the tracking URI, the database host and the Pushgateway URL all use it
    expect(registry.trackingUri).toBe('http://mlflow.mlops.svc.k8s.example.net:5000');
    expect(checker.args.join(' ')).toContain('--pushgateway http://pushgateway.mlops.svc.k8s.example.net:9091');
    const names = serviceNames(objects);
    expect(names).toEqual(expect.arrayContaining(['mlflow-postgres.mlops.svc.k8s.example.net', 'pushgateway.mlops.svc.k8s.example.net']));
    expect(names.filter((n) => !n.endsWith('.svc.k8s.example.net'))).toEqual([]);
  });

  test('fails on a cluster domain that is not a DNS domain, naming where it was set', () => {
    expect(() => Cluster.configure(newChart(), { clusterDomain: 'Cluster_Local' }))
      .toThrow(/^Cluster test: clusterDomain \("Cluster_Local"\) is not a DNS domain; use the kubelet's --cluster-domain, usually "cluster.local"$/);
    expect(() => new ModelRegistry(newChart(), 'mlflow', { database: inCluster(), artifacts: volume(), clusterDomain: 'a..b' }))
      .toThrow(/^ModelRegistry test\/mlflow: clusterDomain \("a\.\.b"\) is not a DNS domain/);
  });

  test('fails when configured after constructs were added', () => {
    const chart = newChart();
    new ModelRegistry(chart, 'mlflow', { database: inCluster(), artifacts: volume() });
    expect(() => Cluster.configure(chart, { clusterDomain: 'corp.internal' })).toThrow(/configure\(\) was called after constructs were added \(mlflow\)/);
  });
});
