/**
 * Rehearsal scenario 1 of issue 5: the drift job, run from the SYNTHESIZED DriftMonitor
 * CronJob (its container command, args and env, the checker bundle from its ConfigMap), reads
 * reference and current data over HTTP and pushes to a real Pushgateway started from the
 * synthesized Pushgateway Deployment; a real Prometheus scrapes it through the synthesized
 * ServiceMonitor (honorLabels kept), evaluates the synthesized PrometheusRules, and a real
 * Alertmanager delivers to a webhook this test listens on.
 *
 * Two models, each with a ModelService (accuracy floor 0.9) and an hourly DriftMonitor with
 * label and prediction columns:
 * - drifted-model: current data with `amount` shifted by two standard deviations, another
 *   merchant mix, and 70 % accuracy -> ModelDriftDetected (and ModelFeatureDrift for both
 *   features, ModelAccuracyDrop) must reach the webhook;
 * - steady-model: current data drawn from the reference distribution, 95 % accuracy ->
 *   nothing may fire.
 *
 * What differs from a cluster, besides what monitoring.ts lists:
 * - The CronJob does not schedule anything: the test runs one Job's container per model,
 *   right away, once Prometheus is up. `node` is the Node.js running jest (the image has 22).
 * - Service DNS: the checker's `--pushgateway http://pushgateway.mlops.svc.cluster.local:9091`
 *   is rewritten to the local Pushgateway's loopback address; the data URIs are loopback
 *   addresses in the synthesized stack itself (DriftData.uri), as a data lake's would be.
 * - Volumes: the checker ConfigMap and the /tmp emptyDir are local directories
 *   (containers.ts); TMPDIR points at the latter.
 * - Pushgateway: Debian's prometheus-pushgateway 1.5.1 for the image's v1.11.0, with the
 *   synthesized args except the listen address (a free loopback port instead of :9091).
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { Chart, Cron, Testing } from 'cdk8s';
import { DriftData, DriftMonitor, ModelService, Monitoring, PrometheusAlerts, ServingRuntime } from '../../../src';
import { localContainer } from './containers';
import { MonitoringStack, ReceivedAlert, scrapeJobs, startAlertSink, startMonitoring } from './monitoring';
import { Rehearsal, freePort, sleep, waitFor, waitReady } from './programs';

const ROWS = 800; // at most 1000 rows: the checker's auto choice is KS (numeric) and chi-square (categorical), which have p-values
const MERCHANTS = ['grocery', 'travel', 'online', 'fuel'];

/** Seeded uniform [0, 1) (mulberry32), so the data and the outcome are the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A CSV of transactions with the model's label and prediction. */
function transactions(seed: number, amountMean: number, merchantWeights: number[], accuracy: number): string {
  const rnd = random(seed);
  const lines = ['amount,merchant_category,label,prediction'];
  for (let i = 0; i < ROWS; i++) {
    const normal = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    const amount = (amountMean + 20 * normal).toFixed(2);
    let pick = rnd();
    const merchant = MERCHANTS[merchantWeights.findIndex((w) => (pick -= w) < 0)] ?? MERCHANTS[MERCHANTS.length - 1];
    const label = rnd() < 0.1 ? 1 : 0;
    // Exactly `accuracy` of the rows are predicted right, spread evenly.
    const right = Math.floor((i + 1) * accuracy) > Math.floor(i * accuracy);
    lines.push(`${amount},${merchant},${label},${right ? label : 1 - label}`);
  }
  return `${lines.join('\n')}\n`;
}

const DATA: Record<string, string> = {
  '/reference.csv': transactions(1, 100, [0.4, 0.2, 0.3, 0.1], 0.95),
  '/current/steady-model.csv': transactions(2, 100, [0.4, 0.2, 0.3, 0.1], 0.95),
  '/current/drifted-model.csv': transactions(3, 140, [0.1, 0.5, 0.3, 0.1], 0.7),
};

/** The data lake: serves the reference and, for any date partition, each model's current data. */
async function startDataServer(rehearsal: Rehearsal): Promise<{ base: string; requested: string[] }> {
  const requested: string[] = [];
  const server = http.createServer((req, res) => {
    requested.push(req.url ?? '');
    const match = /^\/current\/dt=\d{4}-\d{2}-\d{2}\/([a-z-]+)\.csv$/.exec(req.url ?? '');
    const body = DATA[req.url ?? ''] ?? (match ? DATA[`/current/${match[1]}.csv`] : undefined);
    if (body === undefined) {
      res.writeHead(404).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/csv' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rehearsal.onClose(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requested };
}

function synthesize(dataBase: string): any[] {
  const app = Testing.app();
  const chart = new Chart(app, 'rehearsal', { namespace: 'mlops', disableResourceNameHashes: true });
  Monitoring.configure(chart, { serviceMonitorLabels: { release: 'kube-prometheus-stack' } });
  const alerts = new PrometheusAlerts(chart, 'alerts');
  for (const name of ['drifted-model', 'steady-model']) {
    const service = new ModelService(chart, name, {
      runtime: ServingRuntime.custom({ image: 'registry.example.com/ml/model-server:1.0.0', port: 8000 }),
      accuracyFloor: 0.9,
    });
    const drift = new DriftMonitor(chart, `${name}-drift`, {
      modelService: service,
      reference: DriftData.uri(`${dataBase}/reference.csv`),
      current: DriftData.uri(`${dataBase}/current/dt={{ds}}/${name}.csv`),
      schedule: Cron.hourly(),
      features: ['amount', 'merchant_category'],
      categoricalFeatures: ['merchant_category'],
      labelColumn: 'label',
      predictionColumn: 'prediction',
    });
    alerts.addModelService(service);
    alerts.addDriftMonitor(drift);
  }
  return Testing.synth(chart);
}

describe('alerting rehearsal: drift alerts from the drift job through Pushgateway, Prometheus and Alertmanager', () => {
  const rehearsal = new Rehearsal('mlops-alerting-drift');
  let objects: any[];
  let monitoring: MonitoringStack;
  let alerts: ReceivedAlert[];
  let pushgatewayUrl: string;
  let pushgatewayServiceUrl: string;
  let dataRequests: string[];
  let jobsStarted: number;
  const results: Record<string, any> = {};

  beforeAll(async () => {
    const data = await startDataServer(rehearsal);
    dataRequests = data.requested;
    objects = synthesize(data.base);
    const sink = await startAlertSink(rehearsal);
    alerts = sink.alerts;

    // The Pushgateway from its synthesized Deployment and Service.
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'pushgateway');
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'pushgateway');
    pushgatewayServiceUrl = `http://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0].port}`;
    const port = await freePort();
    const gateway = localContainer(objects, deployment.spec.template.spec, 'pushgateway', path.join(rehearsal.dir, 'pushgateway'));
    const gatewayArgs = gateway.args.map((a) => (a.startsWith('--web.listen-address=') ? `--web.listen-address=127.0.0.1:${port}` : a));
    const pushgateway = rehearsal.start('pushgateway', gateway.command, gatewayArgs, gateway.env);
    pushgatewayUrl = `http://127.0.0.1:${port}`;
    await waitReady(pushgateway, `${pushgatewayUrl}/-/ready`);

    const serviceMonitor = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === 'pushgateway');
    monitoring = await startMonitoring(rehearsal, {
      scrapeJobs: scrapeJobs(serviceMonitor, { service: 'pushgateway', address: `127.0.0.1:${port}`, pod: 'pushgateway-0', container: 'pushgateway' }),
      rules: objects.filter((o) => o.kind === 'PrometheusRule'),
      sinkUrl: sink.url,
    });

    // One Job of each CronJob, run to completion.
    jobsStarted = Date.now();
    for (const model of ['drifted-model', 'steady-model']) {
      const cronJob = objects.find((o) => o.kind === 'CronJob' && o.metadata.name === `${model}-drift`);
      const podSpec = cronJob.spec.jobTemplate.spec.template.spec;
      const job = localContainer(objects, podSpec, 'drift-check', path.join(rehearsal.dir, model));
      expect(job.command).toBe('node');
      const args = job.args.map((a) => (a === pushgatewayServiceUrl ? pushgatewayUrl : a));
      const program = rehearsal.start(`${model}-drift`, process.execPath, args, { ...job.env, TMPDIR: job.mounts['/tmp'] });
      const code = await program.exited;
      if (code !== 0) throw new Error(`the drift job of ${model} exited ${code}:\n${program.output()}`);
      results[model] = JSON.parse(program.stdout());
    }
  }, 90_000);

  afterAll(async () => {
    await rehearsal.close();
  });

  const received = (alertname: string, model: string) => alerts.filter((a) => a.labels.alertname === alertname && a.labels.model === model);
  const waitForAlert = (alertname: string, model: string) => waitFor(`${alertname} for ${model} at the webhook`,
    () => received(alertname, model)[0], 60_000, 200).catch((err: Error) => {
    throw new Error(`${err.message}\nreceived: ${JSON.stringify(alerts.map((a) => a.labels))}\n${rehearsal.logs()}`);
  });

  test('the synthesized jobs ran the checker on the date\'s partitions and found drift only in the drifted data', () => {
    const today = new Date().toISOString().slice(0, 10);
    expect(dataRequests).toEqual(expect.arrayContaining([`/current/dt=${today}/drifted-model.csv`, `/current/dt=${today}/steady-model.csv`]));
    expect(results['drifted-model'].drifted).toBe(true);
    expect(results['drifted-model'].features.map((f: any) => [f.feature, f.method, f.drifted])).toEqual([
      ['amount', 'ks', true], ['merchant_category', 'chisquare', true],
    ]);
    expect(results['steady-model'].drifted).toBe(false);
    expect(results['steady-model'].features.map((f: any) => f.drifted)).toEqual([false, false]);
  });

  test('drifted data: ModelDriftDetected reaches the webhook, with the feature drift and the accuracy drop', async () => {
    // GIVEN the drifted model's check pushed drifted: 1 and accuracy 0.7
    // WHEN
    const detected = await waitForAlert('ModelDriftDetected', 'drifted-model');
    // THEN
    console.log(`ModelDriftDetected(drifted-model) reached the webhook ${((detected.receivedAt - jobsStarted) / 1000).toFixed(1)} s after the drift jobs started`);
    expect(detected.status).toBe('firing');
    expect(detected.labels).toMatchObject({ severity: 'warning', namespace: 'mlops', model: 'drifted-model', cronjob: 'drifted-model-drift' });
    expect(detected.annotations.runbook_url).toMatch(/#modeldriftdetected$/);
    await waitForAlert('ModelAccuracyDrop', 'drifted-model');
    await waitFor('both ModelFeatureDrift alerts', () => (received('ModelFeatureDrift', 'drifted-model').length >= 2 ? true : undefined), 30_000);
    expect(received('ModelFeatureDrift', 'drifted-model').map((a) => `${a.labels.feature}/${a.labels.method}`).sort())
      .toEqual(['amount/ks', 'merchant_category/chisquare']);
    const [accuracy] = received('ModelAccuracyDrop', 'drifted-model');
    expect(accuracy.annotations.description).toContain('measured accuracy 0.7 on labelled production data, below the floor of 0.9');
  });

  test('undrifted data: nothing fires for steady-model, though its results are in Prometheus', async () => {
    // GIVEN the drifted model's alert arrived, so pushes, scrapes, rules and delivery work;
    // then a quiet window (the drift alerts have no `for`)
    await waitForAlert('ModelDriftDetected', 'drifted-model');
    await sleep(10_000);
    const now = Date.now() / 1000;
    // WHEN
    const drifted = await monitoring.query('mlops_drift_dataset_drifted{model="steady-model"}');
    const quality = await monitoring.query('mlops_model_quality{model="steady-model",metric="accuracy"}');
    const alertSeries = await monitoring.queryRange('ALERTS{model="steady-model",alertname=~"ModelDriftDetected|ModelFeatureDrift|ModelAccuracyDrop"}', jobsStarted / 1000, now);
    const firing = await monitoring.queryRange('ALERTS{model="steady-model",alertstate="firing"}', jobsStarted / 1000, now);
    // THEN the pushed labels survived the scrape (honorLabels), the values say "no drift"
    expect(drifted).toHaveLength(1);
    expect(drifted[0].metric).toMatchObject({ job: 'mlops-drift', namespace: 'mlops', model: 'steady-model' });
    expect(drifted[0].value[1]).toBe('0');
    expect(Number(quality[0].value[1])).toBeCloseTo(0.95, 2);
    expect(alertSeries).toEqual([]);
    expect(firing).toEqual([]);
    expect(alerts.filter((a) => a.labels.model === 'steady-model')).toEqual([]);
    // and the webhook got exactly the drifted model's alerts
    expect([...new Set(alerts.map((a) => `${a.labels.alertname}/${a.labels.model}`))].sort()).toEqual([
      'ModelAccuracyDrop/drifted-model', 'ModelDriftDetected/drifted-model', 'ModelFeatureDrift/drifted-model',
    ]);
  });
});
