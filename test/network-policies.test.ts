import { Testing } from 'cdk8s';
import { ReferenceStack } from '../examples/reference-stack';
import { fraudDetectorProps } from '../examples/reference-stack-props';
import {
  ArtifactStore, Cluster, DriftData, DriftMonitor, ModelRegistry, ModelRegistryRef, ModelService, Monitoring, NetworkPeer, RegistryDatabase, ServingRuntime,
} from '../src';
import { NetworkPolicyEvaluator, otherPod, PodView, podsOf, selectorMatches } from './support/network-policy-evaluator';
import { newChart, only, synth } from './support/synth-helpers';

// What a CNI that implements NetworkPolicy would let through, decided over the synthesized
// objects (test/support/network-policy-evaluator.ts). The control-plane tier checks the same
// policies' podSelectors against the Pods the controllers really create.

const PROMETHEUS = otherPod('prometheus', 'monitoring', { 'app.kubernetes.io/name': 'prometheus' });
const SAME_NAMESPACE = otherPod('debug', 'mlops', { app: 'debug' });
const OTHER_NAMESPACE = otherPod('debug', 'team-a', { app: 'debug' });
const INGRESS_CONTROLLER = otherPod('ingress-nginx-controller', 'ingress-nginx', { 'app.kubernetes.io/name': 'ingress-nginx' });
const TRAINING = otherPod('train', 'training', { app: 'train' });

function referenceStack(): { objects: any[]; net: NetworkPolicyEvaluator; pod: (name: string) => PodView } {
  const app = Testing.app();
  const objects = Testing.synth(new ReferenceStack(app, 'mlops'));
  const pods = podsOf(objects);
  const pod = (name: string) => {
    const found = pods.find((p) => p.name === name);
    if (!found) throw new Error(`no pod of ${name}: ${pods.map((p) => p.name).join(', ')}`);
    return found;
  };
  return { objects, net: new NetworkPolicyEvaluator(objects), pod };
}

describe('NetworkPolicies of the reference stack', () => {
  const { objects, net, pod } = referenceStack();
  const registry = pod('Deployment/mlflow');
  const postgres = pod('StatefulSet/mlflow-postgres');
  const model = pod('Deployment/fraud-detector');
  const drift = pod('CronJob/fraud-detector-drift');
  const pushgateway = pod('Deployment/pushgateway');

  test('every pod of the stack is selected by exactly the policy named after its workload', () => {
    // GIVEN the reference stack WHEN each pod is matched against the policies THEN
    for (const p of podsOf(objects)) expect([p.name, net.selecting(p)]).toEqual([p.name, [p.name.split('/')[1]]]);
    // the one Egress-only policy is the registry's webhook egress, which stands in for MLflow's SSRF check
    expect(objects.filter((o) => o.kind === 'NetworkPolicy' && !o.spec.policyTypes.includes('Ingress')).map((o) => o.metadata.name)).toEqual(['mlflow-egress']);
  });

  test('the promotion relay admits only the registry and Prometheus; the registry may call out only to it, PostgreSQL, DNS and public addresses', () => {
    const relay = pod('Deployment/promotion');
    expect(net.allows(registry, relay, 'http')).toBe(true);
    expect(net.allows(PROMETHEUS, relay, 'http')).toBe(true);
    for (const client of [model, drift, pushgateway, SAME_NAMESPACE, OTHER_NAMESPACE]) expect([client.name, net.allows(client, relay, 'http')]).toEqual([client.name, false]);
    // the relay registers its webhook and resolves aliases at the registry
    expect(net.allows(relay, registry, 'http')).toBe(true);
    expect(net.selecting(registry, 'Egress')).toEqual(['mlflow-egress']);
    expect(net.allows(registry, postgres, 'postgres')).toBe(true);
    for (const target of [model, pushgateway]) expect([target.name, net.allows(registry, target, 'http')]).toEqual([target.name, false]);
    expect(net.allows(registry, otherPod('metadata', 'kube-system', {}, [{ name: 'http', containerPort: 80 }]), 80)).toBe(false);
  });

  test('PostgreSQL admits only the registry (server and migration share the pod), and opens no connection', () => {
    expect(net.allows(registry, postgres, 'postgres')).toBe(true);
    for (const client of [model, drift, pushgateway, SAME_NAMESPACE, OTHER_NAMESPACE, PROMETHEUS]) {
      expect([client.name, net.allows(client, postgres, 5432)]).toEqual([client.name, false]);
    }
    expect(net.selecting(postgres, 'Egress')).toEqual(['mlflow-postgres']);
    expect(net.allows(postgres, registry, 'http')).toBe(false);
  });

  test('the registry admits model servers, drift checks and Prometheus; no other pod can move an alias', () => {
    for (const client of [model, drift, PROMETHEUS]) expect([client.name, net.allows(client, registry, 'http')]).toEqual([client.name, true]);
    for (const client of [SAME_NAMESPACE, OTHER_NAMESPACE, TRAINING, INGRESS_CONTROLLER, pushgateway]) {
      expect([client.name, net.allows(client, registry, 'http')]).toEqual([client.name, false]);
    }
  });

  test('the Pushgateway admits drift checks and Prometheus; no other pod can overwrite the drift metrics', () => {
    for (const client of [drift, PROMETHEUS]) expect([client.name, net.allows(client, pushgateway, 'http')]).toEqual([client.name, true]);
    for (const client of [model, registry, SAME_NAMESPACE, OTHER_NAMESPACE]) {
      expect([client.name, net.allows(client, pushgateway, 'http')]).toEqual([client.name, false]);
    }
    expect(net.selecting(pushgateway, 'Egress')).toEqual(['pushgateway']);
  });

  test('the model server, with no allowedClients, admits its own namespace on http and Prometheus on metrics only', () => {
    for (const client of [SAME_NAMESPACE, drift]) expect([client.name, net.allows(client, model, 'http')]).toEqual([client.name, true]);
    // the model server would admit the registry, but the registry's webhook egress does not let it call out to pods
    expect(net.allows(registry, model, 'http')).toBe(false);
    for (const client of [OTHER_NAMESPACE, INGRESS_CONTROLLER, PROMETHEUS]) expect([client.name, net.allows(client, model, 'http')]).toEqual([client.name, false]);
    expect(net.allows(PROMETHEUS, model, 'metrics')).toBe(true);
    expect(net.allows(SAME_NAMESPACE, model, 'metrics')).toBe(false);
    // The server behind the proxy listens on loopback; its port is not admitted from outside the pod either.
    expect(net.allows(SAME_NAMESPACE, model, 'model')).toBe(false);
  });

  test('drift check pods admit no connection at all', () => {
    for (const client of [SAME_NAMESPACE, registry, model, PROMETHEUS]) expect(net.allows(client, drift, 8080)).toBe(false);
  });

  test('Prometheus reaches every port a ServiceMonitor scrapes', () => {
    // GIVEN each ServiceMonitor endpoint, resolved through its Service to the pods' container ports
    const targets: string[] = [];
    for (const monitor of objects.filter((o) => o.kind === 'ServiceMonitor')) {
      const services = objects.filter((o) => o.kind === 'Service' && selectorMatches(monitor.spec.selector, o.metadata.labels ?? {}));
      for (const endpoint of monitor.spec.endpoints) {
        for (const service of services) {
          const servicePort = service.spec.ports.find((p: any) => p.name === endpoint.port);
          for (const p of podsOf(objects).filter((x) => selectorMatches({ matchLabels: service.spec.selector }, x.labels))) {
            // WHEN Prometheus connects THEN it gets in
            expect([p.name, endpoint.port, net.allows(PROMETHEUS, p, servicePort.targetPort)]).toEqual([p.name, endpoint.port, true]);
            targets.push(`${p.name}:${endpoint.port}`);
          }
        }
      }
    }
    expect(targets.sort()).toEqual(['Deployment/fraud-detector-shadow:metrics', 'Deployment/fraud-detector:metrics', 'Deployment/mlflow:http', 'Deployment/promotion:http', 'Deployment/pushgateway:http']);
  });
});

describe('NetworkPolicy options', () => {
  const trackingUri = 'http://mlflow.mlops.svc.cluster.local:5000';
  const champion = () => ServingRuntime.mlflow({ model: ModelRegistryRef.fromTrackingUri(trackingUri).model('fraud-detector', { alias: 'champion' }) });

  test('allowedClients replace the model server\'s own-namespace default: list the ingress controller for an Ingress', () => {
    // GIVEN
    const chart = newChart();
    new ModelService(chart, 'm', { runtime: champion(), ingressHost: 'fraud.example.com', allowedClients: [NetworkPeer.namespace('ingress-nginx'), NetworkPeer.ownNamespace()] });
    const objects = synth(chart);
    const net = new NetworkPolicyEvaluator(objects);
    const model = podsOf(objects)[0];
    // THEN
    expect(net.allows(INGRESS_CONTROLLER, model, 'http')).toBe(true);
    expect(net.allows(SAME_NAMESPACE, model, 'http')).toBe(true);
    expect(net.allows(OTHER_NAMESPACE, model, 'http')).toBe(false);
  });

  test('the registry admits the clients listed in allowedClients, e.g. training and CI', () => {
    // GIVEN
    const chart = newChart();
    new ModelRegistry(chart, 'mlflow', {
      database: RegistryDatabase.inCluster({ passwordSecret: { secretName: 'pg', key: 'password' } }),
      artifacts: ArtifactStore.s3({ bucket: 'mlflow-artifacts' }),
      allowedClients: [NetworkPeer.namespace('training'), NetworkPeer.pods({ app: 'ci-runner' }, 'ci')],
    });
    const objects = synth(chart);
    const net = new NetworkPolicyEvaluator(objects);
    const registry = podsOf(objects).find((p) => p.name === 'Deployment/mlflow')!;
    // THEN
    expect(net.allows(TRAINING, registry, 'http')).toBe(true);
    expect(net.allows(otherPod('runner', 'ci', { app: 'ci-runner' }), registry, 'http')).toBe(true);
    expect(net.allows(otherPod('other', 'ci', { app: 'other' }), registry, 'http')).toBe(false);
    expect(net.allows(OTHER_NAMESPACE, registry, 'http')).toBe(false);
  });

  test('Prometheus is the one Monitoring.configure names', () => {
    // GIVEN a Prometheus in namespace observability with its own labels
    const chart = newChart();
    Monitoring.configure(chart, { prometheusNamespace: 'observability', prometheusPodLabels: { app: 'prom' } });
    new ModelService(chart, 'm', { runtime: champion() });
    const objects = synth(chart);
    const net = new NetworkPolicyEvaluator(objects);
    const model = podsOf(objects)[0];
    // THEN
    expect(net.allows(otherPod('prom', 'observability', { app: 'prom' }), model, 'metrics')).toBe(true);
    expect(net.allows(PROMETHEUS, model, 'metrics')).toBe(false);
  });

  test('a drift check in another namespace than the chart\'s Pushgateway is admitted by it', () => {
    // GIVEN a model service in team-a whose DriftMonitor pushes to the Pushgateway of chart namespace mlops
    const chart = newChart();
    const service = new ModelService(chart, 'm', { runtime: champion(), namespace: 'team-a' });
    new DriftMonitor(chart, 'drift', { modelService: service, reference: DriftData.uri('https://data.example.com/ref.csv'), current: DriftData.uri('https://data.example.com/{{ds}}.csv') });
    const objects = synth(chart);
    const net = new NetworkPolicyEvaluator(objects);
    const pods = podsOf(objects);
    const pushgateway = pods.find((p) => p.name === 'Deployment/pushgateway')!;
    const drift = pods.find((p) => p.name === 'CronJob/m-drift')!;
    // THEN
    expect(pushgateway.namespace).toBe('mlops');
    expect(net.allows(drift, pushgateway, 'http')).toBe(true);
    expect(net.allows(OTHER_NAMESPACE, pushgateway, 'http')).toBe(false);
  });

  test('Cluster.configure({ networkPolicies: false }) declares none', () => {
    const app = Testing.app();
    Cluster.configure(app, { networkPolicies: false });
    const objects = Testing.synth(new ReferenceStack(app, 'mlops'));
    expect(objects.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });

  test('fails on an Ingress whose controller the policy would refuse (no allowedClients), unless policies are off', () => {
    // GIVEN / WHEN an ingressHost with the default clients THEN synth fails naming the fix
    expect(() => new ModelService(newChart(), 'm', { runtime: champion(), ingressHost: 'fraud.example.com' }))
      .toThrow(/^ModelService test\/m: allowedClients \(\w+\) must name the ingress controller with ingressHost \(fraud.example.com\): the NetworkPolicy would refuse it and the Ingress answer 502; add its namespace, e.g. allowedClients: \[NetworkPeer.namespace\("ingress-nginx"\), NetworkPeer.ownNamespace\(\)\]$/);
    expect(() => new ModelRegistry(newChart(), 'mlflow', {
      database: RegistryDatabase.inCluster({ passwordSecret: { secretName: 'pg', key: 'password' } }), artifacts: ArtifactStore.s3({ bucket: 'mlflow-artifacts' }), ingressHost: 'mlflow.example.com',
    })).toThrow(/ModelRegistry test\/mlflow: allowedClients \(\w+\) must name the ingress controller with ingressHost \(mlflow.example.com\)/);
    const off = newChart();
    Cluster.configure(off, { networkPolicies: false });
    expect(() => new ModelService(off, 'm', { runtime: champion(), ingressHost: 'fraud.example.com' })).not.toThrow();
  });

  test('fails on a networkPolicies setting that is not a boolean', () => {
    const app = Testing.app();
    expect(() => Cluster.configure(app, { networkPolicies: 'yes' as unknown as boolean })).toThrow('networkPolicies ("yes") is not a boolean');
  });

  test('the reference model server\'s policy is the one the props describe', () => {
    // A NetworkPolicy exists by default: without allowedClients, the model's own namespace.
    const chart = newChart();
    const registry = ModelRegistryRef.fromTrackingUri(trackingUri);
    new ModelService(chart, 'fraud-detector', fraudDetectorProps(registry.model('fraud-detector', { alias: 'champion' }), registry.model('fraud-detector', { alias: 'challenger' })));
    const policy = only(synth(chart), 'NetworkPolicy', 'fraud-detector');
    expect(policy.spec.ingress[0]).toEqual({ from: [{ podSelector: {} }], ports: [{ protocol: 'TCP', port: 'http' }] });
  });
});
