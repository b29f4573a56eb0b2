// ModelPromotion's `rollout` and canary against the real control plane (cluster.ts): the
// synthesized relay Role, bound to the relay's ServiceAccount, is all the relay may use (its
// token comes from the TokenRequest API); the real Deployment controller turns each pinned
// pod template into a new ReplicaSet. Canary metrics come from the real metrics proxy bundle in
// front of a stub model server, scraped by a real Prometheus 2.42 under the canary pod's real
// name, and the relay's own metrics feed the synthesized ModelPromotionFailed rule to a real
// Alertmanager.
//
// What stands in for what: there is no kubelet, so the status-only node of the Pulumi tier
// (test/pulumi-engine/status-node.ts) marks every scheduled pod Running and ready; the relay and
// the proxy run on this machine, not in those pods, and Prometheus scrapes the proxy at a
// loopback address labelled with the canary pod's name (as a ServiceMonitor target would be);
// MLflow is a loopback stand-in answering the relay's webhook registration and alias lookups
// (real MLflow delivering is the rehearsal's test/rehearsal/promotion.test.ts); deliveries are
// signed here with MLflow's scheme.
import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Duration, Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import {
  ModelPromotion, ModelRegistryRef, ModelService, Monitoring, NetworkPeer, PROMOTION_ENV, PROXY_ENV, PrometheusAlerts, PromotionAction, ServingRuntime,
} from '../../src';
import { mlflowSignature } from '../../src/runtime/promotion-relay/signature';
import { newChart } from '../support/synth-helpers';
import { bundledProgram } from '../runtime/bundled-program';
import { StatusNode } from '../pulumi-engine/status-node';
import { freePort, Rehearsal } from '../rehearsal/alerting/programs';
import { scrapeJobs, startAlertSink, startMonitoring, type MonitoringStack, type ReceivedAlert } from '../rehearsal/alerting/monitoring';
import { ControlPlane, startControlPlane, waitFor } from './cluster';
import { applyStrict, createRestrictedNamespace, installCrds, selects } from './stack-checks';

const NS = 'mlops';
const HMAC = 'controlplane-hmac-0123456789abcdef';

describe('control plane: ModelPromotion rolls a ModelService, and runs a canary judged by Prometheus', () => {
  let cp: ControlPlane;
  let node: StatusNode;
  let rehearsal: Rehearsal;
  let monitoring: MonitoringStack;
  let alerts: ReceivedAlert[];
  let relay: ChildProcess;
  let relayOut = '';
  let relayPort: number;
  const aliases = new Map<string, string>([['fraud-detector', '1'], ['churn', '1']]);
  /** Share of 500s the stub model server answers with. */
  let failShare = 0;
  let targetsFile: string;
  let proxyMetricsPort: number;
  let proxyPort: number;
  let objects: any[];

  const deployment = async (name: string) => cp.getJson(['deployment', name, '-n', NS]);
  const replicaSets = async (owner: string) => ((await cp.getJson(['replicasets', '-n', NS])).items as any[])
    .filter((rs) => rs.metadata.ownerReferences?.some((o: any) => o.kind === 'Deployment' && o.name === owner));
  const deliver = async (model: string, alias: string, version: string) => {
    const body = JSON.stringify({ entity: 'model_version_alias', action: 'created', timestamp: new Date().toISOString(), data: { name: model, alias, version } });
    const id = `cp-${model}-${version}-${Date.now()}`;
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`http://127.0.0.1:${relayPort}/webhook`, {
      method: 'POST', body, headers: { 'content-type': 'application/json', 'x-mlflow-delivery-id': id, 'x-mlflow-timestamp': ts, 'x-mlflow-signature': mlflowSignature(HMAC, id, ts, body) },
    });
    expect(res.status).toBe(202);
  };
  const relayEvents = (): any[] => relayOut.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const waitEvent = (pred: (e: any) => boolean, what: string, ms = 120_000) => waitFor(() => relayEvents().some(pred), ms, `${what}; relay log:\n${relayOut.slice(-3000)}`);

  beforeAll(async () => {
    rehearsal = new Rehearsal('mlops-cp-promotion');
    cp = await startControlPlane({ name: 'mlops-cp-promotion' });
    await installCrds(cp);
    await createRestrictedNamespace(cp, NS);
    node = new StatusNode(cp.kubeconfig, 'promotion-node');
    await node.start();

    // The stub model server behind the real metrics proxy (the canary pods' serving metrics).
    const upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => {
        res.writeHead(Math.random() < failShare ? 500 : 200, { 'content-type': 'application/json' });
        res.end('{"predictions":[0]}');
      }, 5));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    rehearsal.onClose(() => new Promise<void>((r) => upstream.close(() => r())));
    [proxyPort, proxyMetricsPort] = [await freePort(), await freePort()];
    const proxy = rehearsal.start('metrics-proxy', process.execPath, [bundledProgram('metrics-proxy.js', 'src/runtime/metrics-proxy')], {
      [PROXY_ENV.upstream]: `http://127.0.0.1:${(upstream.address() as any).port}`,
      [PROXY_ENV.listenPort]: String(proxyPort), [PROXY_ENV.metricsPort]: String(proxyMetricsPort), [PROXY_ENV.modelName]: 'churn', [PROXY_ENV.bindAddress]: '127.0.0.1',
    });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${proxyMetricsPort}/healthz`).catch(() => undefined))?.ok === true, 20_000, `metrics proxy; ${proxy.output()}`);

    // Prometheus: the canary target comes and goes through a file_sd file; the relay through its ServiceMonitor.
    const sink = await startAlertSink(rehearsal);
    alerts = sink.alerts;
    targetsFile = path.join(rehearsal.dir, 'canary-targets.json');
    fs.writeFileSync(targetsFile, '[]');
    relayPort = await freePort();
    // Prometheus starts below on a port of its own; the relay's config gets its address then.
    const prometheusUrl = 'http://prometheus-operated.monitoring.svc:9090';

    // GIVEN two model services and a relay: fraud-detector rolls at once, churn through a canary
    const chart = newChart(NS);
    Monitoring.configure(chart, { serviceMonitorLabels: { release: 'kube-prometheus-stack' } });
    const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
    const fraud = new ModelService(chart, 'fraud-detector', { runtime: ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) }), replicas: 2 });
    const churn = new ModelService(chart, 'churn', {
      runtime: ServingRuntime.mlflow({ model: registry.model('churn', { alias: 'champion' }) }),
      replicas: 4, errorRateObjective: 0.05, latencyObjective: Duration.millis(500),
    });
    const promotion = new ModelPromotion(chart, 'promotion', {
      registry, webhookSecret: { secretName: 'promotion-webhook', key: 'hmac' }, registryClients: [NetworkPeer.namespace('mlflow')],
      deliveryAttempts: 3,
      models: [
        { model: registry.model('fraud-detector', { alias: 'champion' }), action: PromotionAction.rollout({ service: fraud }) },
        { model: registry.model('churn', { alias: 'champion' }), action: PromotionAction.rollout({ service: churn, canary: { prometheusUrl, trafficShare: 0.25, bakeTime: Duration.seconds(30), checkInterval: Duration.seconds(3), minRequests: 50, readyTimeout: Duration.seconds(60) } }) },
      ],
    });
    new PrometheusAlerts(chart, 'alerts', { promotions: [promotion], dashboards: false });
    objects = Testing.synth(chart);
    const file = path.join(rehearsal.dir, 'stack.yaml');
    fs.writeFileSync(file, objects.filter((o) => o.kind !== 'PrometheusRule').map((o) => yaml.dump(o)).join('---\n'));
    const applied = await applyStrict(cp, [file]);
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });

    const relayMonitor = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === 'promotion');
    monitoring = await startMonitoring(rehearsal, {
      scrapeJobs: [
        ...scrapeJobs(relayMonitor, { service: 'promotion', address: `127.0.0.1:${relayPort}`, pod: 'promotion-0', container: 'relay' }),
        { job_name: 'canary', scrape_interval: '1s', scrape_timeout: '1s', file_sd_configs: [{ files: [targetsFile], refresh_interval: '1s' }] },
      ],
      rules: objects.filter((o) => o.kind === 'PrometheusRule'),
      sinkUrl: sink.url,
    });
    const mlflow = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      req.resume();
      res.setHeader('content-type', 'application/json');
      if (url.pathname === '/api/2.0/mlflow/webhooks' && req.method === 'GET') res.end('{"webhooks":[]}');
      else if (url.pathname === '/api/2.0/mlflow/webhooks' && req.method === 'POST') res.end('{"webhook":{"webhook_id":"w1"}}');
      else if (url.pathname === '/api/2.0/mlflow/registered-models/alias') res.end(JSON.stringify({ model_version: { version: aliases.get(url.searchParams.get('name')!) } }));
      else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    await new Promise<void>((r) => mlflow.listen(0, '127.0.0.1', () => r()));
    rehearsal.onClose(() => new Promise<void>((r) => mlflow.close(() => r())));

    // The relay with the synthesized container's environment and the ServiceAccount's token
    const relayContainer = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'promotion').spec.template.spec.containers[0];
    const env: Record<string, string> = {};
    for (const e of relayContainer.env) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom.secretKeyRef) env[e.name] = HMAC;
      else if (e.valueFrom.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = NS;
    }
    const config = JSON.parse(env[PROMOTION_ENV.config]);
    expect(config.models[1].rollout.canary.prometheusUrl).toBe(prometheusUrl);
    config.models[1].rollout.canary.prometheusUrl = monitoring.prometheusUrl;
    env[PROMOTION_ENV.config] = JSON.stringify(config);
    env[PROMOTION_ENV.trackingUri] = `http://127.0.0.1:${(mlflow.address() as any).port}`;
    env[PROMOTION_ENV.listenPort] = String(relayPort);
    const account = path.join(rehearsal.dir, 'serviceaccount');
    fs.mkdirSync(account);
    fs.writeFileSync(path.join(account, 'token'), (await cp.kubectlOk(['create', 'token', 'promotion', '-n', NS, '--duration=1h'])).trim());
    fs.copyFileSync(path.join(cp.dir, 'pki', 'ca.crt'), path.join(account, 'ca.crt'));
    env[PROMOTION_ENV.serviceAccountDir] = account;
    env[PROMOTION_ENV.kubernetesApi] = cp.server;
    const program = rehearsal.start('promotion-relay', process.execPath, [bundledProgram('promotion-relay.js', 'src/runtime/promotion-relay')], env);
    relay = program.child;
    relay.stdout!.on('data', (c: Buffer) => { relayOut += c.toString(); });
    relay.stderr!.on('data', (c: Buffer) => { relayOut += c.toString(); });
    await waitEvent((e) => e.event === 'webhook_registered', 'webhook registration', 30_000);
  });

  afterAll(async () => {
    node?.stop();
    await rehearsal?.close();
    await cp?.stop();
  });

  test('rollout: a promotion pins the Deployment to the version and the controller creates the new ReplicaSet', async () => {
    // GIVEN fraud-detector running champion as synthesized (alias in the URI)
    await waitFor(async () => (await replicaSets('fraud-detector')).length === 1, 60_000, 'first ReplicaSet');
    // WHEN champion moves to 3 (the delivery says 2: the relay deploys where the alias points now)
    aliases.set('fraud-detector', '3');
    await deliver('fraud-detector', 'champion', '2');
    await waitEvent((e) => e.event === 'promoted' && e.model === 'fraud-detector', 'fraud-detector promoted');
    // THEN the pod template serves models:/fraud-detector/3 and carries the version
    const d = await deployment('fraud-detector');
    const tpl = d.spec.template;
    expect(tpl.metadata.annotations['mlops-constructs.io/model-version']).toBe('3');
    expect(tpl.spec.containers.find((c: any) => c.name === 'model-server').args).toContain('models:/fraud-detector/3');
    expect(tpl.spec.containers.find((c: any) => c.name === 'metrics-proxy').env.find((e: any) => e.name === 'MLOPS_MODEL_URI')?.value ?? 'models:/fraud-detector/3').toBe('models:/fraud-detector/3');
    // AND the real controller made a second ReplicaSet from it and rolled to it
    await waitFor(async () => {
      const sets = await replicaSets('fraud-detector');
      const current = sets.find((rs) => rs.spec.template.metadata.annotations?.['mlops-constructs.io/model-version'] === '3');
      return sets.length === 2 && current?.status?.readyReplicas === 2;
    }, 90_000, 'the new ReplicaSet of version 3 ready');
    await waitFor(async () => (await deployment('fraud-detector')).status.updatedReplicas === 2, 60_000, 'rollout complete');
    // AND the same promotion again changes nothing
    await deliver('fraud-detector', 'champion', '3');
    await waitEvent((e) => e.event === 'promoted' && e.model === 'fraud-detector' && e.outcome === 'unchanged', 'unchanged');
    expect(await replicaSets('fraud-detector')).toHaveLength(2);
  });

  test('the relay\'s token may not touch other Deployments', async () => {
    // RBAC as the apiserver evaluates it for the relay's ServiceAccount (the admin impersonates it)
    const kubectl = (args: string[]) => cp.kubectl([...args, '--as=system:serviceaccount:mlops:promotion']);
    expect((await kubectl(['auth', 'can-i', 'patch', 'deployment/fraud-detector', '-n', NS])).stdout.trim()).toBe('yes');
    expect((await kubectl(['auth', 'can-i', 'patch', 'deployment/promotion', '-n', NS])).stdout.trim()).toBe('no');
    expect((await kubectl(['auth', 'can-i', 'create', 'deployment/other-canary', '-n', NS])).stdout.trim()).toBe('no');
    expect((await kubectl(['auth', 'can-i', 'create', 'deployment/churn-canary', '-n', NS])).stdout.trim()).toBe('yes');
    expect((await kubectl(['auth', 'can-i', 'delete', 'deployment/churn', '-n', NS])).stdout.trim()).toBe('no');
    expect((await kubectl(['auth', 'can-i', 'create', 'deployments', '-n', NS])).stdout.trim()).toBe('no');
    expect((await kubectl(['auth', 'can-i', 'get', 'secrets', '-n', NS])).stdout.trim()).toBe('no');
  });

  /** Points Prometheus at the proxy as the canary pod, and sends it traffic until `stop`. */
  async function feedCanary(): Promise<{ pod: string; stop: () => void }> {
    let pod = '';
    await waitFor(async () => {
      const pods = ((await cp.getJson(['pods', '-n', NS, '-l', 'mlops-constructs.io/track=canary'])).items as any[])
        .filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      pod = pods[0]?.metadata.name ?? '';
      return pod !== '';
    }, 60_000, 'a ready canary pod');
    fs.writeFileSync(targetsFile, JSON.stringify([{ targets: [`127.0.0.1:${proxyMetricsPort}`], labels: { namespace: NS, pod, service: 'churn', job: 'churn' } }]));
    let running = true;
    (async () => {
      while (running) {
        await Promise.all(Array.from({ length: 5 }, () => fetch(`http://127.0.0.1:${proxyPort}/invocations`, { method: 'POST', body: '{"inputs":[[1]]}', headers: { 'content-type': 'application/json' } }).then((r) => r.text()).catch(() => undefined)));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return { pod, stop: () => { running = false; } };
  }

  test('canary: a healthy canary behind the same Service is promoted, and removed', async () => {
    // WHEN churn@champion moves to 5
    failShare = 0;
    aliases.set('churn', '5');
    await deliver('churn', 'champion', '5');
    await waitEvent((e) => e.event === 'canary_started' && e.model === 'churn', 'canary started');
    const canary = await deployment('churn-canary');
    // THEN the canary runs version 5 on one pod (a quarter of 4), selected by the churn Service
    expect(canary.spec.replicas).toBe(1);
    expect(canary.spec.template.spec.containers.find((c: any) => c.name === 'model-server').args).toContain('models:/churn/5');
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'churn');
    expect(selects(service.spec.selector, canary.spec.template.metadata.labels)).toBe(true);
    expect(canary.metadata.annotations['mlops-constructs.io/canary-status']).toBe('baking');
    const feed = await feedCanary();
    try {
      // AND real Prometheus sees the canary pod's requests
      await waitFor(async () => (await monitoring.query(`sum(mlops_inference_requests_total{pod="${feed.pod}"})`)).length > 0, 30_000, 'canary series in Prometheus');
      await waitEvent((e) => e.event === 'canary_promoted' && e.model === 'churn', 'canary promoted', 120_000);
    } finally {
      feed.stop();
    }
    const checks = relayEvents().filter((e) => e.event === 'canary_check' && e.version === '5');
    expect(checks.length).toBeGreaterThanOrEqual(5);
    expect(checks[checks.length - 1]).toMatchObject({ final: true, errorRatio: 0 });
    expect(checks[checks.length - 1].requests).toBeGreaterThanOrEqual(50);
    // THEN the stable Deployment serves version 5 and the canary is gone
    const stable = await deployment('churn');
    expect(stable.spec.template.metadata.annotations['mlops-constructs.io/model-version']).toBe('5');
    await waitFor(async () => (await cp.kubectl(['get', 'deployment', 'churn-canary', '-n', NS])).code !== 0, 30_000, 'canary deleted');
    await waitFor(async () => (await replicaSets('churn')).some((rs) => rs.spec.template.metadata.annotations?.['mlops-constructs.io/model-version'] === '5'), 30_000, 'stable ReplicaSet of 5');
    const events = (await cp.getJson(['events', '-n', NS, '--field-selector', 'involvedObject.name=churn'])).items.map((e: any) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['CanaryStarted', 'ModelPromoted']));
  });

  test('canary: an unhealthy canary is stopped, scaled to zero, and ModelPromotionFailed reaches Alertmanager', async () => {
    // WHEN churn@champion moves to 6, whose server fails a third of its requests
    failShare = 0.33;
    aliases.set('churn', '6');
    await deliver('churn', 'champion', '6');
    await waitEvent((e) => e.event === 'canary_started' && e.model === 'churn' && e.version === '6', 'second canary started');
    const feed = await feedCanary();
    try {
      await waitEvent((e) => e.event === 'promotion_failed' && e.model === 'churn', 'canary stopped', 120_000);
    } finally {
      feed.stop();
    }
    const failure = relayEvents().find((e) => e.event === 'promotion_failed' && e.model === 'churn');
    expect(failure.error).toMatch(/canary stopped: error ratio \d+(\.\d+)? % of \d+ requests is above the objective 5 %/);
    // THEN the canary is scaled to zero with the reason, and the stable Deployment still serves 5
    const canary = await deployment('churn-canary');
    expect(canary.spec.replicas).toBe(0);
    expect(canary.metadata.annotations['mlops-constructs.io/canary-status']).toBe('failed');
    expect(canary.metadata.annotations['mlops-constructs.io/canary-reason']).toMatch(/error ratio/);
    expect((await deployment('churn')).spec.template.metadata.annotations['mlops-constructs.io/model-version']).toBe('5');
    const warnings = (await cp.getJson(['events', '-n', NS, '--field-selector', 'involvedObject.name=churn,type=Warning'])).items;
    expect(warnings.map((e: any) => e.reason)).toContain('ModelPromotionFailed');
    // AND the synthesized alert fires in real Prometheus and reaches Alertmanager's webhook
    await waitFor(() => alerts.some((a) => a.labels.alertname === 'ModelPromotionFailed' && a.labels.model === 'churn'), 60_000, 'ModelPromotionFailed at the sink');
    const alert = alerts.find((a) => a.labels.alertname === 'ModelPromotionFailed')!;
    expect(alert.labels).toMatchObject({ severity: 'warning', namespace: NS, model: 'churn' });
    expect(alerts.filter((a) => a.labels.alertname === 'ModelPromotionFailed').map((a) => a.labels.model)).not.toContain('fraud-detector');
  });
});
