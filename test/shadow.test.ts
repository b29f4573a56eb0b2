// Shadow challengers on the construct side (issue 13): the challenger's own objects, and the
// champion proxy's mirroring settings.
import { Duration } from 'cdk8s';
import { ModelRegistryRef, ModelService, ServingRuntime } from '../src';
import { container, newChart, synth } from './support/synth-helpers';
import { validateManifests } from '../src/testing';

const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const champion = () => ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) });
const challengerModel = registry.model('fraud-detector', { alias: 'challenger' });

type Env = Array<{ name: string; value?: string }>;
const envOf = (env: Env) => Object.fromEntries(env.map((e) => [e.name, e.value]));
const named = (objects: any[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

describe('ModelService shadow', () => {
  test('runs the challenger in its own Deployment and Service that only the champion\'s pods reach, and has the champion\'s proxy mirror to it', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', {
      runtime: champion(), replicas: 3, maxReplicas: 6, ingressHost: 'fraud.example.com', allowedClients: [],
      latencyObjective: Duration.millis(500),
      inferenceLog: { destination: 's3://ml-inference-log/prod', sampleRatio: 0.2 },
      shadow: { model: challengerModel },
    });
    const objects = synth(chart);
    // the challenger: one replica, no autoscaler, disruption budget or Ingress of its own
    const names = (name: string) => objects.filter((o) => o.metadata.name === name).map((o) => o.kind).sort();
    expect(names('fraud-detector-shadow')).toEqual(['Deployment', 'NetworkPolicy', 'Service', 'ServiceMonitor']);
    const deployment = named(objects, 'Deployment', 'fraud-detector-shadow');
    expect(deployment.spec.replicas).toBe(1);
    const server = container(deployment, 'model-server');
    expect(server.args.slice(0, 2)).toEqual(['--model-uri', 'models:/fraud-detector@challenger']);
    // its proxy labels its serving metrics as the challenger's, under the champion's model name
    expect(envOf(container(deployment, 'metrics-proxy').env)).toMatchObject({ MLOPS_MODEL_VARIANT: 'challenger', MLOPS_MODEL_NAME: 'fraud-detector' });
    expect(envOf(container(deployment, 'metrics-proxy').env)).not.toHaveProperty('MLOPS_INFERENCE_LOG_URI');
    // the champion's Service does not route to it
    const championService = named(objects, 'Service', 'fraud-detector');
    expect(Object.entries(championService.spec.selector).every(([k, v]) => deployment.spec.template.metadata.labels[k] === v)).toBe(false);
    // only the champion's pods (and Prometheus) may call it
    const policy = named(objects, 'NetworkPolicy', 'fraud-detector-shadow');
    const peers = policy.spec.ingress.flatMap((rule: any) => rule.from);
    expect(peers).toContainEqual({ podSelector: { matchLabels: service.selectorLabels } });
    // the champion's proxy mirrors the log's share to the challenger's Service
    const proxyEnv = envOf(container(named(objects, 'Deployment', 'fraud-detector'), 'metrics-proxy').env);
    expect(proxyEnv).toMatchObject({
      MLOPS_SHADOW_UPSTREAM: 'http://fraud-detector-shadow.mlops.svc.cluster.local:80',
      MLOPS_SHADOW_SHARE: '0.2', MLOPS_SHADOW_TIMEOUT_SECONDS: '10', MLOPS_SHADOW_MAX_IN_FLIGHT: '16', MLOPS_SHADOW_TOLERANCE: 'equal',
    });
    expect(proxyEnv).not.toHaveProperty('MLOPS_MODEL_VARIANT');
    expect(service.shadow).toEqual({ name: 'fraud-detector-shadow', agreementFloor: 0.9, regression: false });
    validateManifests(objects);
  });

  test('a custom challenger runtime, a regression tolerance and its own share', () => {
    const chart = newChart();
    const runtime = ServingRuntime.custom({ image: 'ghcr.io/acme/pricer:2.0.0', port: 8000, healthPath: '/health' });
    new ModelService(chart, 'pricer', {
      runtime: ServingRuntime.custom({ image: 'ghcr.io/acme/pricer:1.9.0', port: 8000, healthPath: '/health' }),
      shadow: { runtime, share: 0.05, tolerance: 0.5, timeout: Duration.seconds(3), replicas: 2 },
    });
    const objects = synth(chart);
    expect(container(named(objects, 'Deployment', 'pricer-shadow'), 'model-server').image).toBe('ghcr.io/acme/pricer:2.0.0');
    expect(named(objects, 'Deployment', 'pricer-shadow').spec.replicas).toBe(2);
    expect(envOf(container(named(objects, 'Deployment', 'pricer'), 'metrics-proxy').env)).toMatchObject({
      MLOPS_SHADOW_SHARE: '0.05', MLOPS_SHADOW_TOLERANCE: '0.5', MLOPS_SHADOW_TIMEOUT_SECONDS: '3',
    });
  });

  test('a custom runtime\'s shadow compares the predictions at shadow.responsePath, or at the inference log\'s path', () => {
    const pricer = (tag: string) => ServingRuntime.custom({ image: `ghcr.io/acme/pricer:${tag}`, port: 8000, healthPath: '/health' });
    const chart = newChart();
    new ModelService(chart, 'pricer', { runtime: pricer('1.9.0'), shadow: { runtime: pricer('2.0.0'), responsePath: 'result.scores' } });
    new ModelService(chart, 'logged', {
      runtime: pricer('1.9.0'),
      inferenceLog: { destination: 's3://ml-inference-log/prod', requestPath: 'data.rows', responsePath: 'result.prices' },
      shadow: { runtime: pricer('2.0.0') },
    });
    new ModelService(chart, 'plain', { runtime: pricer('1.9.0'), shadow: { runtime: pricer('2.0.0') } });
    const objects = synth(chart);
    const proxyEnv = (name: string) => envOf(container(named(objects, 'Deployment', name), 'metrics-proxy').env);
    expect(proxyEnv('pricer')).toMatchObject({ MLOPS_SHADOW_RESPONSE_PATH: 'result.scores' });
    expect(proxyEnv('pricer')).not.toHaveProperty('MLOPS_INFERENCE_LOG_RESPONSE_PATH');
    // the log's path, which the proxy falls back to for the shadow
    expect(proxyEnv('logged')).toMatchObject({ MLOPS_INFERENCE_LOG_RESPONSE_PATH: 'result.prices' });
    expect(proxyEnv('logged')).not.toHaveProperty('MLOPS_SHADOW_RESPONSE_PATH');
    // unset: MLflow's response formats
    expect(proxyEnv('plain')).not.toHaveProperty('MLOPS_SHADOW_RESPONSE_PATH');
  });

  test('fails on shadow.responsePath for an MLflow champion or challenger, a path that is not dotted keys, and one that differs from the log\'s', () => {
    const pricer = ServingRuntime.custom({ image: 'ghcr.io/acme/pricer:1.9.0', port: 8000, healthPath: '/health' });
    const chart = newChart();
    expect(() => new ModelService(chart, 'fraud-detector', { runtime: champion(), shadow: { model: challengerModel, responsePath: 'predictions' } }))
      .toThrow(/shadow\.responsePath \("predictions"\) is only for custom runtimes; leave it unset/);
    expect(() => new ModelService(chart, 'mixed', { runtime: pricer, shadow: { runtime: champion(), responsePath: 'result.scores' } }))
      .toThrow(/shadow\.responsePath \("result\.scores"\) is read from both models' answers, but the challenger \(shadow\.runtime\) is a mlflow runtime/);
    expect(() => new ModelService(chart, 'pricer', { runtime: pricer, shadow: { runtime: pricer, responsePath: 'result[0]' } }))
      .toThrow(/shadow\.responsePath \("result\[0\]"\) is not a dotted path of JSON keys; use e\.g\. "result\.scores"/);
    expect(() => new ModelService(chart, 'pricer2', {
      runtime: pricer, inferenceLog: { destination: 's3://ml-inference-log/prod', responsePath: 'result.prices' }, shadow: { runtime: pricer, responsePath: 'result.scores' },
    })).toThrow(/shadow\.responsePath \("result\.scores"\) differs from inferenceLog\.responsePath "result\.prices"; the proxy reads both models' predictions at one path/);
    expect(synth(chart)).toEqual([]);
  });

  test.each([
    ['neither model nor runtime', {}, /shadow\.model \(unset\) is missing, and so is shadow\.runtime; give exactly one/],
    ['both model and runtime', { model: challengerModel, runtime: champion() }, /shadow\.model \("models:\/fraud-detector@challenger"\) is given together with shadow\.runtime/],
    ['share 0', { model: challengerModel, share: 0 }, /shadow\.share \(0\) is not a share above 0 and at most 1/],
    ['a negative tolerance', { model: challengerModel, tolerance: -1 }, /shadow\.tolerance \(-1\) is not a non-negative number/],
    ['a 10-minute timeout', { model: challengerModel, timeout: Duration.minutes(10) }, /shadow\.timeout .* is not between 1 second and 5 minutes/],
    ['agreement floor 1', { model: challengerModel, agreementFloor: 1 }, /shadow\.agreementFloor \(1\) is not a share between 0 and 1/],
  ])('refuses a shadow with %s before writing anything', (_case, shadow, message) => {
    const chart = newChart();
    expect(() => new ModelService(chart, 'fraud-detector', { runtime: champion(), shadow: shadow as any })).toThrow(message);
    expect(synth(chart)).toEqual([]);
  });

  test('refuses a registry challenger for a runtime with a built-in model, and a name too long for the shadow', () => {
    const chart = newChart();
    expect(() => new ModelService(chart, 'baked', { runtime: ServingRuntime.mlflowImage({ image: 'ghcr.io/acme/fraud:1.0.0' }), shadow: { model: challengerModel } }))
      .toThrow(/shadow\.model \("models:\/fraud-detector@challenger"\) cannot be loaded by the champion's mlflow-image runtime, which serves one built-in model; give the challenger a runtime of its own: shadow\.runtime/);
    expect(() => new ModelService(chart, 'a'.repeat(50), { runtime: champion(), shadow: { model: challengerModel } }))
      .toThrow(/name \("a{50}"\) is too long for a shadow, whose Deployment is named a{50}-shadow \(at most 52 characters\); shorten the name to 45 characters/);
    expect(synth(chart)).toEqual([]);
  });
});
