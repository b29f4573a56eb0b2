/**
 * Rehearsal scenarios 2 and 3 of issue 5: real metrics proxies (the bundled program from the
 * synthesized ConfigMap, run with the synthesized container's command and env) in front of
 * tiny local model servers, scraped by a real Prometheus configured from the synthesized
 * ServiceMonitors, evaluating the synthesized PrometheusRules, alerting through a real
 * Alertmanager to a webhook this test listens on.
 *
 * Three models run side by side in the same Prometheus, each with the reference stack's
 * objectives (p99 0.5 s, 5 % errors):
 * - slow-model answers after 700 ms          -> ModelHighLatency must reach the webhook;
 * - failing-model answers 500 to 1 in 4      -> ModelHighErrorRate must reach the webhook;
 * - fast-model answers at once, 500 to 1 in 100 (1 %, under the objective) -> nothing may fire.
 * Running them together means the quiet model had exactly as long to fire as the noisy ones.
 *
 * What differs from a pod, besides what monitoring.ts lists: the three "pods" share this
 * machine's loopback, so each proxy gets free ports (MLOPS_PROXY_LISTEN_PORT,
 * MLOPS_PROXY_METRICS_PORT) and an upstream URL pointing at its model server's free port
 * instead of the synthesized fixed ports, and binds 127.0.0.1 (MLOPS_PROXY_BIND_ADDRESS)
 * instead of all interfaces; `node` is the Node.js running jest, not the image's. Every other
 * env var, the command and the bundle are the synthesized ones.
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { Chart, Duration, Testing } from 'cdk8s';
import { ModelService, Monitoring, PrometheusAlerts, ServingRuntime } from '../../../src';
import { localContainer } from './containers';
import { LocalTarget, MonitoringStack, ReceivedAlert, scrapeJobs, startAlertSink, startMonitoring } from './monitoring';
import { Rehearsal, freePort, sleep, waitFor, waitReady } from './programs';

interface ModelBehaviour {
  readonly delayMs: number;
  /** Every n-th request is answered 500; 0 for never. */
  readonly errorEvery: number;
  /** Concurrent client loops. */
  readonly clients: number;
}

const MODELS: Record<string, ModelBehaviour> = {
  'slow-model': { delayMs: 700, errorEvery: 0, clients: 3 },
  'failing-model': { delayMs: 2, errorEvery: 4, clients: 2 },
  'fast-model': { delayMs: 2, errorEvery: 100, clients: 2 },
};

function synthesize(): any[] {
  const app = Testing.app();
  const chart = new Chart(app, 'rehearsal', { namespace: 'mlops', disableResourceNameHashes: true });
  Monitoring.configure(chart, { serviceMonitorLabels: { release: 'kube-prometheus-stack' } });
  const services = Object.keys(MODELS).map((name) => new ModelService(chart, name, {
    runtime: ServingRuntime.custom({ image: 'registry.example.com/ml/model-server:1.0.0', port: 8000 }),
    latencyObjective: Duration.millis(500),
    errorRateObjective: 0.05,
  }));
  new PrometheusAlerts(chart, 'alerts', { modelServices: services });
  return Testing.synth(chart);
}

/** A model server on a free loopback port with the given latency and error pattern. */
async function startModelServer(rehearsal: Rehearsal, behaviour: ModelBehaviour): Promise<number> {
  let count = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count += 1;
      const fail = behaviour.errorEvery > 0 && count % behaviour.errorEvery === 0;
      setTimeout(() => {
        res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json' });
        res.end(fail ? '{"error":"model failed"}' : '{"predictions":[0]}');
      }, behaviour.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rehearsal.onClose(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as { port: number }).port;
}

/** Starts the synthesized metrics-proxy container of `deployment` in front of `upstreamPort`. */
async function startProxy(rehearsal: Rehearsal, objects: any[], deployment: any, upstreamPort: number) {
  const name = deployment.metadata.name;
  const listenPort = await freePort();
  const metricsPort = await freePort();
  const spec = deployment.spec.template.spec;
  const proxy = localContainer(objects, spec, 'metrics-proxy', path.join(rehearsal.dir, name), {
    MLOPS_PROXY_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
    MLOPS_PROXY_LISTEN_PORT: String(listenPort),
    MLOPS_PROXY_METRICS_PORT: String(metricsPort),
    MLOPS_PROXY_BIND_ADDRESS: '127.0.0.1',
  });
  expect(proxy.command).toBe('node');
  const program = rehearsal.start(`${name}/metrics-proxy`, process.execPath, proxy.args, proxy.env);
  const probe = spec.containers.find((c: any) => c.name === 'metrics-proxy').readinessProbe.httpGet;
  await waitReady(program, `http://127.0.0.1:${metricsPort}${probe.path}`);
  const target: LocalTarget = { service: name, address: `127.0.0.1:${metricsPort}`, pod: `${name}-0`, container: 'metrics-proxy' };
  return { listenPort, target };
}

/** Client loops POSTing predictions until `stop` is set. */
function drive(port: number, clients: number, state: { stop: boolean }): Promise<void>[] {
  return Array.from({ length: clients }, async () => {
    while (!state.stop) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/invocations`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs":[[1,2,3]]}',
          signal: AbortSignal.timeout(5000),
        });
        await res.arrayBuffer();
      } catch {
        // a refused request during teardown is fine; the metrics are what the test checks
      }
      await sleep(20);
    }
  });
}

describe('alerting rehearsal: serving alerts through real Prometheus and Alertmanager', () => {
  const rehearsal = new Rehearsal('mlops-alerting-serving');
  const traffic = { stop: false };
  let clients: Promise<void>[] = [];
  let monitoring: MonitoringStack;
  let alerts: ReceivedAlert[];
  let trafficStart: number;

  beforeAll(async () => {
    const objects = synthesize();
    const sink = await startAlertSink(rehearsal);
    alerts = sink.alerts;
    const jobs: Record<string, unknown>[] = [];
    const proxies: Record<string, number> = {};
    for (const [name, behaviour] of Object.entries(MODELS)) {
      const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
      const upstream = await startModelServer(rehearsal, behaviour);
      const { listenPort, target } = await startProxy(rehearsal, objects, deployment, upstream);
      proxies[name] = listenPort;
      const serviceMonitor = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === name);
      jobs.push(...scrapeJobs(serviceMonitor, target));
    }
    monitoring = await startMonitoring(rehearsal, {
      scrapeJobs: jobs,
      rules: objects.filter((o) => o.kind === 'PrometheusRule'),
      sinkUrl: sink.url,
    });
    trafficStart = Date.now();
    for (const [name, behaviour] of Object.entries(MODELS)) clients.push(...drive(proxies[name], behaviour.clients, traffic));
  }, 60_000);

  afterAll(async () => {
    traffic.stop = true;
    await Promise.all(clients);
    clients = [];
    await rehearsal.close();
  });

  const received = (alertname: string, model: string) => alerts.find((a) => a.labels.alertname === alertname && a.labels.model === model);
  const waitForAlert = (alertname: string, model: string) => waitFor(`${alertname} for ${model} at the webhook`,
    () => received(alertname, model), 120_000, 200).catch((err: Error) => {
    throw new Error(`${err.message}\nreceived: ${JSON.stringify(alerts.map((a) => a.labels))}\n${rehearsal.logs()}`);
  });

  test('every synthesized rule loads and evaluates without error', async () => {
    // GIVEN Prometheus running the synthesized rules (for: divided by 60)
    // WHEN a few evaluations have happened
    const groups = await waitFor('rules evaluated', async () => {
      const loaded = await monitoring.rules();
      return loaded.length === 3 && loaded.every((g: any) => g.rules.every((r: any) => r.lastEvaluation !== '0001-01-01T00:00:00Z')) ? loaded : undefined;
    }, 30_000);
    // THEN
    expect(groups.map((g: any) => g.name).sort()).toEqual(['mlops/failing-model/serving', 'mlops/fast-model/serving', 'mlops/slow-model/serving']);
    for (const rule of groups.flatMap((g: any) => g.rules)) expect([rule.name, rule.health, rule.lastError ?? '']).toEqual([rule.name, 'ok', '']);
    const latency = groups.flatMap((g: any) => g.rules).find((r: any) => r.name === 'ModelHighLatency');
    expect(latency.duration).toBe(10); // 10m / 60
  });

  test('injected slowness: ModelHighLatency for slow-model reaches the webhook', async () => {
    // GIVEN slow-model answering after 700 ms against a 500 ms p99 objective
    // WHEN
    const alert = await waitForAlert('ModelHighLatency', 'slow-model');
    // THEN
    console.log(`ModelHighLatency(slow-model) reached the webhook ${((alert.receivedAt - trafficStart) / 1000).toFixed(1)} s after traffic started`);
    expect(alert.status).toBe('firing');
    expect(alert.labels).toMatchObject({ severity: 'warning', namespace: 'mlops', model: 'slow-model' });
    expect(alert.annotations.summary).toBe('Model slow-model is slower than its 500ms p99 objective');
    expect(alert.annotations.runbook_url).toMatch(/\/docs\/runbooks\.md#modelhighlatency$/);
    const [p99] = await monitoring.query('model:mlops_inference_request_duration_seconds:p99_5m{model="slow-model"}');
    expect(Number(p99.value[1])).toBeGreaterThan(0.5);
  });

  test('server errors above the objective: ModelHighErrorRate for failing-model reaches the webhook', async () => {
    // GIVEN failing-model answering 500 to one request in four, against 5 %
    // WHEN
    const alert = await waitForAlert('ModelHighErrorRate', 'failing-model');
    // THEN
    console.log(`ModelHighErrorRate(failing-model) reached the webhook ${((alert.receivedAt - trafficStart) / 1000).toFixed(1)} s after traffic started`);
    expect(alert.labels).toMatchObject({ severity: 'critical', namespace: 'mlops', model: 'failing-model' });
    expect(alert.annotations.runbook_url).toMatch(/#modelhigherrorrate$/);
    const [ratio] = await monitoring.query('model:mlops_inference_requests:error_ratio_5m{model="failing-model"}');
    expect(Number(ratio.value[1])).toBeGreaterThan(0.2);
    expect(Number(ratio.value[1])).toBeLessThan(0.3);
  });

  test('fast responses with errors under the objective: nothing fires for fast-model, and nothing else fires', async () => {
    // GIVEN the two alerts above have arrived, so the pipeline delivers alerts; then a
    // quiet window longer than the (divided) `for` of both alerts plus Alertmanager's wait
    await waitForAlert('ModelHighLatency', 'slow-model');
    await waitForAlert('ModelHighErrorRate', 'failing-model');
    await sleep(15_000);
    const now = Date.now() / 1000;
    // WHEN
    const p99 = await monitoring.queryRange('model:mlops_inference_request_duration_seconds:p99_5m{model="fast-model"}', trafficStart / 1000, now);
    const errors = await monitoring.queryRange('model:mlops_inference_requests:error_ratio_5m{model="fast-model"}', trafficStart / 1000, now);
    const pendingOrFiring = await monitoring.queryRange('ALERTS{model="fast-model"}', trafficStart / 1000, now);
    // THEN fast-model was measured all along, under both objectives, and never even pending
    const p99Values = p99[0].values.map(([, v]) => Number(v));
    const errorValues = errors[0].values.map(([, v]) => Number(v)).filter((v) => !Number.isNaN(v));
    console.log(`fast-model quiet for ${(now - trafficStart / 1000).toFixed(0)} s: p99 max ${Math.max(...p99Values).toFixed(4)} s over ${p99Values.length} samples, error ratio max ${(100 * Math.max(...errorValues)).toFixed(2)} %`);
    expect(p99Values.length).toBeGreaterThan(20);
    expect(Math.max(...p99Values)).toBeLessThan(0.5);
    expect(errorValues.length).toBeGreaterThan(20);
    expect(Math.max(...errorValues.slice(-5))).toBeGreaterThan(0);
    expect(Math.max(...errorValues)).toBeLessThan(0.05);
    expect(pendingOrFiring).toEqual([]);
    // and the webhook got exactly the two expected alerts
    expect([...new Set(alerts.map((a) => `${a.labels.alertname}/${a.labels.model}`))].sort()).toEqual([
      'ModelHighErrorRate/failing-model', 'ModelHighLatency/slow-model',
    ]);
  });
});
