import { Duration } from 'cdk8s';
import {
  ArtifactStore, BUNDLES, Images, ModelPromotion, ModelPromotionProps, ModelRegistry, ModelRegistryRef, ModelService, NetworkPeer,
  PROMOTION_ENV, PromotionAction, RegistryDatabase, ServingRuntime,
} from '../src';
import { assertValidManifests } from '../src/testing';
import { checkSettings } from '../src/runtime/promotion-relay/config';
import { container, newChart, only, synth } from './support/synth-helpers';

const GH_TOKEN = { secretName: 'promotion-github', key: 'token' };
const HMAC = { secretName: 'promotion-webhook', key: 'hmac' };
const SECRETS = ['mlflow-postgres', 'mlflow-webhooks', 'promotion-webhook', 'promotion-github'];

function stack(promotion: (registry: ModelRegistry, service: ModelService) => Partial<ModelPromotionProps> = () => ({}), webhooks = true) {
  const chart = newChart();
  const registry = new ModelRegistry(chart, 'mlflow', {
    database: RegistryDatabase.inCluster({ passwordSecret: { secretName: 'mlflow-postgres', key: 'password' } }),
    artifacts: ArtifactStore.volume(),
    ...(webhooks ? { webhooks: { encryptionKey: { secretName: 'mlflow-webhooks', key: 'encryption-key' } } } : {}),
  });
  const churn = new ModelService(chart, 'churn', {
    runtime: ServingRuntime.mlflow({ model: registry.model('churn', { alias: 'champion' }) }),
    replicas: 4, errorRateObjective: 0.05, latencyObjective: Duration.millis(500),
  });
  const make = () => new ModelPromotion(chart, 'promotion', {
    registry,
    webhookSecret: HMAC,
    models: [{ model: registry.model('fraud-detector', { alias: 'champion' }), action: PromotionAction.githubDispatch({ repository: 'acme/ml-platform', token: GH_TOKEN }) }],
    ...promotion(registry, churn),
  });
  return { chart, registry, churn, make };
}

describe('ModelPromotion', () => {
  test('in mode ci: a relay Deployment, Service, ServiceMonitor and NetworkPolicy, no API access', () => {
    // GIVEN a registry with webhooks WHEN a promotion of fraud-detector to GitHub is declared
    const { chart, make } = stack();
    const promotion = make();
    const objects = synth(chart);
    const mine = objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'promotion-relay');
    // THEN
    expect(mine.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ConfigMap/promotion-relay', 'ServiceAccount/promotion', 'Deployment/promotion', 'Service/promotion', 'ServiceMonitor/promotion', 'NetworkPolicy/promotion',
    ]);
    const deployment = only(objects, 'Deployment', 'promotion');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(deployment.spec.template.spec.automountServiceAccountToken).toBe(false);
    const relay = container(deployment, 'relay');
    expect(relay.image).toBe(Images.NODE);
    expect(relay.command).toEqual(['node', `/opt/mlops/${BUNDLES.promotionRelay}`]);
    const env = Object.fromEntries(relay.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env[PROMOTION_ENV.webhookSecret]).toEqual({ secretKeyRef: { name: 'promotion-webhook', key: 'hmac' } });
    expect(env.MLOPS_PROMOTION_CI_TOKEN_0).toEqual({ secretKeyRef: { name: 'promotion-github', key: 'token' } });
    expect(env[PROMOTION_ENV.trackingUri]).toBe('http://mlflow.mlops.svc.cluster.local:5000');
    // AND the relay's settings are what the relay's own parser accepts
    const settings = JSON.parse(env[PROMOTION_ENV.config]);
    const problems: string[] = [];
    expect(checkSettings(settings, problems)).toBeDefined();
    expect(problems).toEqual([]);
    expect(settings).toEqual({
      webhookName: 'mlops-promotion-mlops-promotion',
      webhookUrl: 'http://promotion.mlops.svc.cluster.local:8080/webhook',
      toleranceSeconds: 300,
      retry: { attempts: 8, baseSeconds: 2, maxSeconds: 60 },
      models: [{ name: 'fraud-detector', aliases: ['champion'], ci: { kind: 'github', url: 'https://api.github.com/repos/acme/ml-platform/dispatches', eventType: 'model-promoted', tokenEnv: 'MLOPS_PROMOTION_CI_TOKEN_0' } }],
    });
    expect(promotion.webhookUrl).toBe(settings.webhookUrl);
    // AND only the registry's pods (and Prometheus) reach it
    expect(only(objects, 'NetworkPolicy', 'promotion').spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'mlflow', 'app.kubernetes.io/component': 'model-registry' } } }]);
    expect(objects.filter((o) => o.kind === 'Role')).toEqual([]);
    expect(() => assertValidManifests(objects, { externalSecrets: SECRETS })).not.toThrow();
  });

  test('with webhooks the registry may call private addresses, shares one encryption key, and has an egress policy in place of the SSRF check', () => {
    const { chart, make } = stack();
    make();
    const objects = synth(chart);
    const server = container(only(objects, 'Deployment', 'mlflow'), 'mlflow');
    const env = Object.fromEntries(server.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env.MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS).toBe('true');
    expect(env.MLFLOW_WEBHOOK_ALLOWED_SCHEMES).toBe('http,https');
    expect(env.MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY).toEqual({ secretKeyRef: { name: 'mlflow-webhooks', key: 'encryption-key' } });
    // the migration does not get the key
    const migrate = only(objects, 'Deployment', 'mlflow').spec.template.spec.initContainers[0];
    expect(migrate.env.map((e: any) => e.name)).not.toContain('MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY');
    const egress = only(objects, 'NetworkPolicy', 'mlflow-egress').spec;
    expect(egress.policyTypes).toEqual(['Egress']);
    expect(egress.egress[2].to[0].ipBlock.except).toEqual(expect.arrayContaining(['10.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16']));
    expect(egress.egress[1].to[0].podSelector.matchLabels['app.kubernetes.io/component']).toBe('promotion-relay');
    expect(egress.egress[3]).toEqual({ to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'mlflow-postgres', 'app.kubernetes.io/component': 'database' } } }], ports: [{ protocol: 'TCP', port: 5432 }] });
    // and the relay may call the registry
    const ingress = only(objects, 'NetworkPolicy', 'mlflow').spec.ingress[0].from;
    expect(ingress).toContainEqual({ podSelector: { matchLabels: { 'app.kubernetes.io/component': 'promotion-relay', 'app.kubernetes.io/managed-by': 'mlops-constructs' } } });
  });

  test('in mode rollout with a canary: a Role on only the rolled Deployment and its canary, and the objectives of the service', () => {
    const { chart, make } = stack((registry, churn) => ({
      models: [{ model: registry.model('churn', { alias: 'champion' }), action: PromotionAction.rollout({ service: churn, canary: { prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090', trafficShare: 0.25 } }) }],
    }));
    make();
    const objects = synth(chart);
    expect(only(objects, 'Role', 'promotion').rules).toEqual([
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['churn'], verbs: ['get', 'patch'] },
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['churn-canary'], verbs: ['get', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
    expect(only(objects, 'RoleBinding', 'promotion').subjects).toEqual([{ kind: 'ServiceAccount', name: 'promotion', namespace: 'mlops' }]);
    const deployment = only(objects, 'Deployment', 'promotion');
    expect(deployment.spec.template.spec.automountServiceAccountToken).toBe(true);
    expect(deployment.spec.template.spec.serviceAccountName).toBe('promotion');
    const settings = JSON.parse(container(deployment, 'relay').env.find((e: any) => e.name === PROMOTION_ENV.config).value);
    expect(settings.models[0].rollout).toEqual({
      deployment: 'churn', metricModel: 'churn',
      canary: { replicaShare: 0.25, bakeSeconds: 600, intervalSeconds: 30, readyTimeoutSeconds: 600, prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090', errorRateObjective: 0.05, latencyObjectiveSeconds: 0.5, minRequests: 100 },
    });
    expect(() => assertValidManifests(objects, { externalSecrets: SECRETS, allowServiceAccountToken: ['mlops/promotion'] })).not.toThrow();
  });

  test.each<[string, (r: ModelRegistry, s: ModelService) => Partial<ModelPromotionProps>, RegExp]>([
    ['fails on no models', () => ({ models: [] }), /^ModelPromotion test\/promotion: models \(\[\]\) is empty; pass at least one/],
    ['fails on a version-pinned model', (r) => ({ models: [{ model: r.model('m', { version: 3 }), action: PromotionAction.githubDispatch({ repository: 'a/b', token: GH_TOKEN }) }] }),
      /models\[0\]\.model \("models:\/m\/3"\) is pinned to a version; a promotion is an alias moving; use the alias that promotes/],
    ['fails on a model of another registry', () => ({ models: [{ model: ModelRegistryRef.fromTrackingUri('http://other:5000').model('m', { alias: 'champion' }), action: PromotionAction.githubDispatch({ repository: 'a/b', token: GH_TOKEN }) }] }),
      /models\[0\]\.model \("models:\/m@champion"\) is a model of another registry \(http:\/\/other:5000\)/],
    ['fails on a repository that is not owner/name', (r) => ({ models: [{ model: r.model('m', { alias: 'champion' }), action: PromotionAction.githubDispatch({ repository: 'acme', token: GH_TOKEN }) }] }),
      /models\[0\]\.action\.repository \("acme"\) is not an owner\/name repository; use e\.g\. "acme\/ml-platform"/],
    ['fails on a token that is not a Secret key', (r) => ({ models: [{ model: r.model('m', { alias: 'champion' }), action: PromotionAction.githubDispatch({ repository: 'a/b', token: 'ghp_plain' as any }) }] }),
      /models\[0\]\.action\.token/],
    ['fails on a CI webhook URL with a token in it', (r) => ({ models: [{ model: r.model('m', { alias: 'champion' }), action: PromotionAction.ciWebhook({ url: 'https://ci.example.com/trigger?token=abc' }) }] }),
      /models\[0\]\.action\.url \("<redacted>"\) carries a credential in plain text; put the token in a Secret/],
    ['fails on a canary without objectives', (r) => {
      const svc = new ModelService(r.node.scope!, 'plain', { runtime: ServingRuntime.mlflow({ model: r.model('plain', { alias: 'champion' }) }) });
      return { models: [{ model: r.model('plain', { alias: 'champion' }), action: PromotionAction.rollout({ service: svc, canary: { prometheusUrl: 'http://p:9090' } }) }] };
    }, /models\[0\]\.action\.canary \("canary"\) has no objective to hold the canary to: neither it nor plain sets errorRateObjective or latencyObjective/],
    ['fails on a canary latency between buckets', (r, s) => ({ models: [{ model: r.model('churn', { alias: 'champion' }), action: PromotionAction.rollout({ service: s, canary: { prometheusUrl: 'http://p:9090', latencyObjective: Duration.millis(300) } }) }] }),
      /canary\.latencyObjective \("300ms"\) is not a bucket bound of the serving latency histogram/],
    ['fails on a canary share above half', (r, s) => ({ models: [{ model: r.model('churn', { alias: 'champion' }), action: PromotionAction.rollout({ service: s, canary: { prometheusUrl: 'http://p:9090', trafficShare: 0.6 } }) }] }),
      /canary\.trafficShare \(0\.6\) is not a share above 0 and at most 0\.5/],
    ['fails on a service of another namespace', (r, s) => ({ namespace: 'other', models: [{ model: r.model('churn', { alias: 'champion' }), action: PromotionAction.rollout({ service: s }) }] }),
      /namespace \("other"\) is not among the namespaces the registry delivers to \(mlops\); add "other" to webhooks\.receiverNamespaces/],
    ['fails on one model listed twice', (r) => ({ models: [1, 2].map(() => ({ model: r.model('m', { alias: 'champion' }), action: PromotionAction.githubDispatch({ repository: 'a/b', token: GH_TOKEN }) })) }),
      /models\[1\]\.model \("models:\/m@champion"\) is already promoted by models\[0\]/],
    ['fails on a tolerance under 10 s', () => ({ timestampTolerance: Duration.seconds(5) }), /timestampTolerance/],
    ['fails on an unpinned image', () => ({ image: 'node:latest' }), /image \("node:latest"\)/],
  ])('%s', (_what, props, message) => {
    const { make } = stack(props);
    expect(make).toThrow(message);
  });

  test('fails on a registry not set up to deliver webhooks into the cluster, naming both fixes', () => {
    const { make } = stack(() => ({}), false);
    expect(make).toThrow('ModelPromotion test/promotion: registry ("http://mlflow.mlops.svc.cluster.local:5000") does not deliver webhooks into the cluster: MLflow refuses private addresses unless told otherwise; set webhooks: { encryptionKey: {...} } on its ModelRegistry, or, for a registry outside this stack, set registryClients and configure it as docs/promotion.md says');
  });

  test('takes a registry outside the stack with registryClients', () => {
    const chart = newChart();
    const external = ModelRegistryRef.fromTrackingUri('https://mlflow.example.com');
    new ModelPromotion(chart, 'promotion', {
      registry: external, webhookSecret: HMAC, registryClients: [NetworkPeer.namespace('mlflow')],
      models: [{ model: external.model('m', { alias: 'champion' }), action: PromotionAction.ciWebhook({ url: 'https://ci.example.com/hooks/deploy', token: GH_TOKEN }) }],
    });
    const objects = synth(chart);
    expect(only(objects, 'NetworkPolicy', 'promotion').spec.ingress[0].from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'mlflow' } } }]);
  });

  test('ModelRegistry fails on webhooks without an encryption key or with a bad CIDR', () => {
    const chart = newChart();
    const base = { database: RegistryDatabase.inCluster({ passwordSecret: { secretName: 'p', key: 'k' } }), artifacts: ArtifactStore.volume() };
    expect(() => new ModelRegistry(chart, 'a', { ...base, webhooks: {} as any })).toThrow(/ModelRegistry test\/a: webhooks\.encryptionKey/);
    expect(() => new ModelRegistry(chart, 'b', { ...base, webhooks: { encryptionKey: { secretName: 's', key: 'k' }, privateEgressCidrs: ['10.0.0.0'] } }))
      .toThrow('ModelRegistry test/b: webhooks.privateEgressCidrs[0] ("10.0.0.0") is not a CIDR; use e.g. "10.20.0.0/16"');
  });
});
