/**
 * Rehearsal of the DriftMonitor: the synthesized CronJob's container (command, args, env,
 * the checker bundle from its ConfigMap) runs as a local process, reading its datasets over
 * HTTP from a local server and pushing to a real Pushgateway (Debian's prometheus-pushgateway)
 * started with the synthesized Pushgateway Deployment's own arguments.
 *
 * What differs from a cluster, and only this:
 * - ConfigMap volumes are temp directories; the mount path /opt/mlops in the command is
 *   rewritten to that directory. The /tmp emptyDir is a temp directory.
 * - The Pushgateway listens on a free loopback port instead of :9091 on a pod IP, and its
 *   /data emptyDir is a temp directory; the checker's --pushgateway URL (the in-cluster
 *   Service name) is rewritten to that loopback address.
 * - The datasets are served by this test on loopback (the DriftMonitor is given those URLs).
 * - Debian's Pushgateway is 1.5.1; the manifest pins the upstream image v1.11.0. The push
 *   API (PUT /metrics/job/...) and exposition are the same in both.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { Testing } from 'cdk8s';
import { DriftData, DriftMonitor, ModelRegistryRef, ModelService, ServingRuntime } from '../../src';
import { container, newChart, only } from '../support/synth-helpers';
import { parseExposition } from '../runtime/prometheus-text';
import { type Pushgateway, startPushgateway } from '../runtime/pushgateway';

const ROOT = path.join(__dirname, '..', '..');
const E2E = path.join(ROOT, 'test', 'fixtures', 'drift', 'e2e');
const e2e = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'drift', 'e2e.json'), 'utf8'));

interface Running { readonly port: number; stop(): Promise<void> }

function get(port: number, pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: pathname }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** Serves the e2e datasets: the reference, and the current data under today's dt= partition. */
async function startDataServer(today: string): Promise<Running & { requests: string[] }> {
  const requests: string[] = [];
  const routes: Record<string, string> = {
    '/fraud/reference.csv': path.join(E2E, 'reference.csv'),
    [`/fraud/dt=${today}/current.csv`]: path.join(E2E, 'current.csv'),
  };
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const file = routes[req.url ?? ''];
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/csv' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { port, requests, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Runs the synthesized Pushgateway container's arguments with the Debian binary. */
function startSynthesizedPushgateway(args: string[], dataDir: string): Promise<Pushgateway> {
  return startPushgateway((port) => args.map((a) => a
    .replace(/^--web\.listen-address=:(\d+)$/, `--web.listen-address=127.0.0.1:${port}`)
    .replace(/=\/data\//, `=${dataDir}/`)));
}

/**
 * Runs the CronJob's container like the kubelet would, with the ConfigMap mounted from a temp
 * dir. Asynchronous: the data server runs in this same process.
 */
async function runCronJobContainer(objects: any[], cronJobName: string, mountDir: string, pushgatewayPort: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const cronJob = only(objects, 'CronJob', cronJobName);
  const pod = cronJob.spec.jobTemplate.spec.template.spec;
  const checker = container(cronJob, 'drift-check');
  for (const mount of checker.volumeMounts) {
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    if (volume.configMap) {
      const configMap = only(objects, 'ConfigMap', volume.configMap.name);
      for (const [key, value] of Object.entries<string>(configMap.data)) fs.writeFileSync(path.join(mountDir, key), value);
    }
  }
  const rewrite = (arg: string) => arg
    .replace(/^\/opt\/mlops\//, `${mountDir}/`)
    .replace(/^http:\/\/pushgateway\.mlops\.svc\.cluster\.local:9091$/, `http://127.0.0.1:${pushgatewayPort}`);
  const [program, ...commandArgs] = [...checker.command, ...checker.args].map(rewrite);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-drift-tmp-')) };
  for (const e of checker.env) {
    if (e.value === undefined) throw new Error(`env ${e.name} is not a plain value; this rehearsal has no Secrets to resolve it`);
    env[e.name] = e.value;
  }
  expect(program).toBe('node');
  const child = spawn(process.execPath, commandArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  clearTimeout(timer);
  fs.rmSync(env.TMPDIR, { recursive: true, force: true });
  return { status, stdout, stderr };
}

describe('DriftMonitor rehearsal: the synthesized CronJob runs the real checker and pushes to a real Pushgateway', () => {
  // The hourly CronJob reads the hour that has just ended ({{ds}} is its date, as Airflow's ds).
  const today = new Date(Date.now() - 3600_000).toISOString().slice(0, 10);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-drift-rehearsal-'));
  let data: Running & { requests: string[] };
  let pushgateway: Pushgateway | undefined;
  let objects: any[];

  beforeAll(async () => {
    spawnSync('node', [path.join(ROOT, 'scripts', 'bundle-runtime.js')], { stdio: 'inherit' });
    data = await startDataServer(today);
    // GIVEN the fraud-detector service and its drift check, as a user would declare them
    const chart = newChart();
    const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
    const service = new ModelService(chart, 'fraud-detector', { runtime: ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) }) });
    new DriftMonitor(chart, 'drift', {
      modelService: service,
      reference: DriftData.uri(`http://127.0.0.1:${data.port}/fraud/reference.csv`),
      current: DriftData.uri(`http://127.0.0.1:${data.port}/fraud/dt={{ds}}/current.csv`),
      categoricalFeatures: e2e.categorical,
      features: e2e.features,
      labelColumn: e2e.label,
      predictionColumn: e2e.prediction,
    });
    objects = Testing.synth(chart);
    const pushgatewayContainer = container(only(objects, 'Deployment', 'pushgateway'), 'pushgateway');
    fs.mkdirSync(path.join(work, 'pushgateway-data'));
    pushgateway = await startSynthesizedPushgateway(pushgatewayContainer.args, path.join(work, 'pushgateway-data'));
  });

  afterAll(async () => {
    await pushgateway?.stop();
    await data?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('a run pushes the contract metrics with the values it printed', async () => {
    // WHEN the CronJob's container runs
    const mount = fs.mkdtempSync(path.join(work, 'opt-mlops-'));
    const run = await runCronJobContainer(objects, 'fraud-detector-drift', mount, pushgateway!.port);
    // THEN it ran, read today's partition, and printed the contract JSON
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(data.requests).toEqual(expect.arrayContaining(['/fraud/reference.csv', `/fraud/dt=${today}/current.csv`]));
    const result = JSON.parse(run.stdout);
    expect(result.rows).toEqual({ reference: 400, current: 300 });
    expect(result.features.map((f: any) => [f.feature, f.method, f.drifted]))
      .toEqual(e2e.expected.features.map((f: any) => [f.feature, f.method, f.drifted]));
    // AND the Pushgateway holds the same numbers under the contract names and grouping key
    const text = (await get(pushgateway!.port, '/metrics')).body;
    const ours = parseExposition(`${text.split('\n').filter((l) => /^(# (HELP|TYPE) )?mlops_/.test(l)).join('\n')}\n`);
    const group = { instance: '', job: 'mlops-drift', namespace: 'mlops', model: 'fraud-detector' };
    expect(ours.value('mlops_drift_dataset_drifted', group)).toBe(result.drifted ? 1 : 0);
    expect(ours.value('mlops_drift_share', group)).toBeCloseTo(result.driftShare, 12);
    expect(ours.value('mlops_drift_rows', { ...group, dataset: 'reference' })).toBe(400);
    expect(ours.value('mlops_drift_rows', { ...group, dataset: 'current' })).toBe(300);
    for (const f of result.features) {
      const labels = { ...group, feature: f.feature, method: f.method };
      // JSON has no infinity: the checker prints an infinite statistic as the largest double.
      const statistic = f.statistic === Number.MAX_VALUE ? Infinity : f.statistic;
      if (Number.isFinite(statistic)) expect(ours.value('mlops_drift_statistic', labels)).toBeCloseTo(statistic, 12);
      else expect(ours.value('mlops_drift_statistic', labels)).toBe(statistic);
      expect(ours.value('mlops_drift_detected', labels)).toBe(f.drifted ? 1 : 0);
      if (f.pValue !== null) expect(ours.value('mlops_drift_p_value', labels)).toBeCloseTo(f.pValue, 12);
    }
    expect(ours.value('mlops_model_quality', { ...group, metric: 'accuracy' })).toBeCloseTo(e2e.expected.quality.accuracy, 12);
    expect(ours.value('mlops_drift_last_success_timestamp_seconds', group)).toBeGreaterThan(Date.now() / 1000 - 300);
  });

  test('fails the run, exit 1 and no verdict printed, when the Pushgateway is down', async () => {
    // GIVEN the Pushgateway stopped
    await pushgateway!.stop();
    const port = pushgateway!.port;
    pushgateway = undefined;
    // WHEN
    const mount = fs.mkdtempSync(path.join(work, 'opt-mlops-'));
    const run = await runCronJobContainer(objects, 'fraud-detector-drift', mount, port);
    // THEN
    expect(run.status).toBe(1);
    expect(run.stdout).not.toMatch(/"drifted"/);
    expect(run.stderr).toMatch(/pushgateway|ECONNREFUSED/i);
  });
});
