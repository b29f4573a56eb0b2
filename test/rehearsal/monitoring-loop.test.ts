// The monitoring loop of issue 13 with real programs: a real MLflow registry and two real
// MLflow scoring servers (champion and challenger, two trained versions of fraud-detector),
// each behind the bundled metrics proxy run with the environment ModelService synthesizes
// (inferenceLog and shadow), a real S3 server (SeaweedFS), and the bundled drift checker run
// with the arguments DriftMonitor synthesizes for DriftData.inferenceLog.
//
// What differs from a cluster: the processes run on loopback in the test's network namespace
// (no pods), so the synthesized environment is taken from the manifests and only the
// addresses (upstream, challenger, S3 endpoint, tracking URI) and the Secret and downward-API
// values are filled in, as the kubelet would. The drift check runs with --now at the start of
// the next hour, so {{ds}}/{{hour}} name the hour the traffic was logged in; both phases
// (steady, then shifted) fall in that hour, so the second check reads both.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Chart, Duration, Testing } from 'cdk8s';
import { DriftData, DriftMonitor, ModelRegistryRef, ModelService, Monitoring, MultipleTestingCorrection, ServingRuntime } from '../../src';
import { startS3Server, type S3Server } from '../support/s3-server';
import { bundledProgram } from '../runtime/bundled-program';
import { runDrift } from '../runtime/drift-support';
import { send, unusedPort, waitFor } from '../runtime/http-helpers';

const REPO = path.resolve(__dirname, '..', '..');
const VENV_BIN = path.join(REPO, '.venv', 'bin');
const TRAINING_SCRIPT = path.join(REPO, 'examples', 'training', 'train_fraud_model.py');
const PROXY = bundledProgram('metrics-proxy.js', 'src/runtime/metrics-proxy');
const CHECKER = bundledProgram('mlops-drift.js', 'src/runtime/drift');
const FEATURES = ['amount', 'hour', 'merchant_risk', 'distance_km', 'transactions_24h', 'foreign'];
const BUCKET = 'mlops-inference-log';
// Every request is logged (and mirrored): the drift verdicts then depend only on the seeded
// traffic, not on which requests a random draw logged. Sampling itself is unit-tested
// (test/runtime/inference-log); here the share is checked against the counters.
const SAMPLE_RATIO = 1;

interface Program { readonly child: ChildProcess; output(): string }

function start(command: string, args: string[], env: Record<string, string>, cwd: string): Program {
  const child = spawn(command, args, { cwd, env: { PATH: `${VENV_BIN}:${process.env.PATH ?? ''}`, HOME: cwd, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-200_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => output };
}

async function stop(program: Program | undefined): Promise<void> {
  if (!program || program.child.exitCode !== null || program.child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => program.child.kill('SIGKILL'), 30_000);
    program.child.once('exit', () => { clearTimeout(timer); resolve(); });
    program.child.kill('SIGTERM');
  });
}

/** The bundled proxy with a container's synthesized environment, `fill` giving the values the kubelet and the addresses would. */
function proxyEnv(container: any, fill: (e: any) => string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env as any[]) {
    const value = fill(e) ?? e.value;
    if (value === undefined) throw new Error(`no value for ${e.name} (${JSON.stringify(e.valueFrom)})`);
    env[e.name] = value;
  }
  return env;
}

async function startProxy(env: Record<string, string>, cwd: string): Promise<Program & { port: number; metricsPort: number }> {
  const program = start(process.execPath, [PROXY], env, cwd);
  let ports: { listenPort: number; metricsPort: number } | undefined;
  await waitFor('the metrics proxy to start', () => {
    const line = program.output().split('\n').find((l) => l.includes('"event":"started"'));
    if (line) ports = JSON.parse(line);
    if (program.child.exitCode !== null) throw new Error(`metrics proxy exited ${program.child.exitCode}: ${program.output()}`);
    return ports !== undefined;
  }, 30_000);
  return { ...program, port: ports!.listenPort, metricsPort: ports!.metricsPort };
}

/** The value of one series in a Prometheus text page (0 when absent). */
function sample(page: string, series: string): number {
  const line = page.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/**
 * Production traffic: `n` rows drawn (seeded, without replacement) from the champion's own
 * training data, so steady traffic is the reference distribution; `shift` makes the amounts
 * eight times and the distances ten times larger, as a new market would.
 */
function transactions(training: number[][], n: number, seed: number, shift: boolean): number[][] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pool = [...training];
  return Array.from({ length: n }, () => {
    const [row] = pool.splice(Math.floor(rand() * pool.length), 1);
    return shift ? row.map((v, i) => (i === 0 ? Math.round(v * 800) / 100 : i === 3 ? Math.round(v * 1000) / 100 : v)) : row;
  });
}

describe('rehearsal: the monitoring loop (inference log, drift on logged traffic, shadow challenger)', () => {
  let dir: string;
  let s3: S3Server;
  let registry: Program;
  let champion: Program;
  let challenger: Program;
  let championPort: number;
  let championProxy: Program & { port: number; metricsPort: number };
  let challengerProxy: Program & { port: number; metricsPort: number };
  let trackingUri: string;
  let objects: any[];
  const answers: Array<{ rows: number[][]; predictions: unknown[] }> = [];
  /** The champion's training rows (its reference dataset), features only. */
  let training: number[][];

  const metrics = async (p: { metricsPort: number }) => (await send(p.metricsPort, '/metrics')).text;
  const predict = async (rows: number[][]) => {
    const res = await send(championProxy.port, '/invocations', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows } }),
    });
    expect({ status: res.status, body: res.status === 200 ? '' : res.text }).toEqual({ status: 200, body: '' });
    const { predictions } = JSON.parse(res.text);
    answers.push({ rows, predictions });
    return predictions as unknown[];
  };
  const loggedRecords = async () => {
    const keys = await s3.listKeys(BUCKET, 'prod/');
    const bodies = await Promise.all(keys.map((k) => s3.getObject(BUCKET, k)));
    return { keys, records: bodies.flatMap((b) => gunzipSync(b).toString().trim().split('\n')).map((l) => JSON.parse(l)) };
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-loop-'));
    s3 = await startS3Server();
    await s3.createBucket(BUCKET);

    // The registry, and two versions of fraud-detector: the champion and a challenger trained on another seed
    const registryPort = await unusedPort();
    trackingUri = `http://127.0.0.1:${registryPort}`;
    registry = start(path.join(VENV_BIN, 'mlflow'), ['server', '--backend-store-uri', `sqlite:///${dir}/mlflow.db`, '--artifacts-destination', `${dir}/artifacts`,
      '--host', '127.0.0.1', '--port', String(registryPort), '--workers', '1'], { MLFLOW_DISABLE_TELEMETRY: 'true' }, dir);
    await waitFor('the registry', async () => (await send(registryPort, '/health').then((r) => r.status, () => 0)) === 200, 120_000);
    const runIds: string[] = [];
    for (const [alias, seed] of [['champion', '42'], ['challenger', '7']]) {
      const run = start(path.join(VENV_BIN, 'python'), [TRAINING_SCRIPT, '--alias', alias, '--seed', seed], { MLFLOW_TRACKING_URI: trackingUri, MLFLOW_DISABLE_TELEMETRY: 'true' }, dir);
      const code = await new Promise<number | null>((resolve) => run.child.once('exit', resolve));
      expect({ code, output: code === 0 ? '' : run.output().slice(-3000) }).toEqual({ code: 0, output: '' });
      runIds.push(JSON.parse(run.output().trim().split('\n').filter((l) => l.startsWith('{')).pop()!).run_id);
    }
    const reference = await send(registryPort, `/get-artifact?path=reference/reference.csv&run_uuid=${runIds[0]}`);
    expect(reference.status).toBe(200);
    const [header, ...lines] = reference.text.trim().split('\n');
    const columns = header.split(',');
    training = lines.map((line) => { const v = line.split(','); return FEATURES.map((f) => Number(v[columns.indexOf(f)])); });

    // The stack: fraud-detector logging to the S3 server and shadowed by the challenger, checked hourly on its log
    const app = Testing.app();
    const chart = new Chart(app, 'loop', { namespace: 'mlops', disableResourceNameHashes: true });
    Monitoring.configure(chart, { serviceMonitorLabels: {} });
    const ref = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
    const service = new ModelService(chart, 'fraud-detector', {
      runtime: ServingRuntime.mlflow({ model: ref.model('fraud-detector', { alias: 'champion' }) }),
      inferenceLog: {
        destination: `s3://${BUCKET}/prod`, sampleRatio: SAMPLE_RATIO, s3EndpointUrl: 'http://seaweedfs.storage.svc:8333', flushInterval: Duration.seconds(5),
        s3AccessKeyId: { secretName: 'log-s3', key: 'id' }, s3SecretAccessKey: { secretName: 'log-s3', key: 'secret' },
      },
      shadow: { model: ref.model('fraud-detector', { alias: 'challenger' }) },
    });
    new DriftMonitor(chart, 'drift', { modelService: service, reference: DriftData.registryModel(ref.model('fraud-detector', { alias: 'champion' })), current: DriftData.inferenceLog(service), features: FEATURES, driftShare: 0.25, correction: MultipleTestingCorrection.BONFERRONI });
    objects = Testing.synth(chart);
    const deployment = (name: string) => objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name);
    const container = (d: any, name: string) => d.spec.template.spec.containers.find((c: any) => c.name === name);

    // The two scoring servers, as the synthesized model-server containers run them
    const serve = async (name: string) => {
      const server = container(deployment(name), 'model-server');
      const port = await unusedPort();
      const args = [...server.args];
      args[args.indexOf('--port') + 1] = String(port);
      args[args.indexOf('-h') + 1] = '127.0.0.1';
      args[args.indexOf('--workers') + 1] = '1';
      const program = start(path.join(VENV_BIN, server.command[0]), [...server.command.slice(1), ...args], { MLFLOW_TRACKING_URI: trackingUri, MLFLOW_DISABLE_TELEMETRY: 'true' }, dir);
      await waitFor(`${name}'s scoring server`, async () => (await send(port, '/ping').then((r) => r.status, () => 0)) === 200, 180_000);
      return { program, port };
    };
    const [c1, c2] = await Promise.all([serve('fraud-detector'), serve('fraud-detector-shadow')]);
    champion = c1.program;
    championPort = c1.port;
    challenger = c2.program;

    // Their proxies, with the synthesized environment and the addresses filled in
    const secrets: Record<string, string> = { id: s3.accessKeyId, secret: s3.secretAccessKey };
    challengerProxy = await startProxy(proxyEnv(container(deployment('fraud-detector-shadow'), 'metrics-proxy'), (e) => {
      if (e.name === 'MLOPS_PROXY_UPSTREAM') return `http://127.0.0.1:${c2.port}`;
      if (e.name === 'MLOPS_PROXY_LISTEN_PORT' || e.name === 'MLOPS_PROXY_METRICS_PORT') return '0';
      return undefined;
    }), dir);
    championProxy = await startProxy(proxyEnv(container(deployment('fraud-detector'), 'metrics-proxy'), (e) => {
      if (e.name === 'MLOPS_PROXY_UPSTREAM') return `http://127.0.0.1:${c1.port}`;
      if (e.name === 'MLOPS_PROXY_LISTEN_PORT' || e.name === 'MLOPS_PROXY_METRICS_PORT') return '0';
      if (e.name === 'MLOPS_SHADOW_UPSTREAM') return `http://127.0.0.1:${challengerProxy.port}`;
      if (e.name === 'MLFLOW_TRACKING_URI') return trackingUri;
      if (e.name === 'AWS_ENDPOINT_URL') return s3.endpoint;
      if (e.name === 'MLOPS_POD_NAME') return 'fraud-detector-7d9c-abcde';
      if (e.valueFrom?.secretKeyRef) return secrets[e.valueFrom.secretKeyRef.key];
      return undefined;
    }), dir);
  }, 600_000);

  afterAll(async () => {
    await Promise.all([stop(championProxy), stop(challengerProxy)]);
    await Promise.all([stop(champion), stop(challenger), stop(registry)]);
    await s3?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The synthesized check, run as its CronJob runs it, at the start of the next hour, without the Pushgateway. */
  const check = async () => {
    const cronJob = objects.find((o) => o.kind === 'CronJob');
    const args: string[] = [...cronJob.spec.jobTemplate.spec.template.spec.containers[0].args];
    args.splice(args.indexOf('--pushgateway'), 6); // --pushgateway url --namespace ns --model m
    const nextHour = new Date(Math.ceil((Date.now() + 1) / 3_600_000) * 3_600_000 + 5_000).toISOString();
    const run = await runDrift(CHECKER, [...args, '--now', nextHour], { ...s3.env, AWS_ENDPOINT_URL: s3.endpoint, MLFLOW_TRACKING_URI: trackingUri }, 120_000);
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(run.stdout) as { drifted: boolean; features: Array<{ feature: string; drifted: boolean }>; rows: { current: number } };
  };

  test('1: sampled requests land in the bucket under the documented layout, with features, predictions and the served version', async () => {
    // WHEN steady traffic goes through the champion's proxy, one row per request
    for (const rows of transactions(training, 300, 1, false).map((r) => [r])) await predict(rows);
    // THEN once flushed, the log holds every one of them (the sample ratio), all written
    await waitFor('the log to be written', async () => sample(await metrics(championProxy), 'mlops_inference_log_records_total{model="fraud-detector",outcome="written"}') > 0
      && sample(await metrics(championProxy), 'mlops_inference_log_buffered_records{model="fraud-detector"}') === 0, 60_000);
    const page = await metrics(championProxy);
    const written = sample(page, 'mlops_inference_log_records_total{model="fraud-detector",outcome="written"}');
    expect(written).toBe(300 * SAMPLE_RATIO);
    expect(page).toContain('mlops_model_info{model="fraud-detector",version="1"} 1');
    const { keys, records } = await loggedRecords();
    expect(records).toHaveLength(written);
    const hour = new Date().toISOString().slice(0, 13);
    for (const key of keys) expect(key).toMatch(new RegExp(`^prod/model=fraud-detector/version=1/dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}/fraud-detector-7d9c-abcde-\\d+-\\d+\\.jsonl\\.gz$`));
    // AND each record is a request's row as it was sent and answered
    const sent = new Map(answers.map((a) => [JSON.stringify(a.rows[0]), a.predictions[0]]));
    for (const r of records) {
      expect(r).toMatchObject({ _model: 'fraud-detector', _version: '1', _code: 200 });
      const row = FEATURES.map((f) => r[f]);
      expect(sent.has(JSON.stringify(row))).toBe(true);
      expect(r.prediction).toEqual(sent.get(JSON.stringify(row)));
    }
  }, 120_000);

  test('2: the synthesized hourly check of the log finds no drift in steady traffic, and drift once the traffic shifts', async () => {
    const steady = await check();
    expect(steady.drifted).toBe(false);
    expect(steady.features.filter((f) => f.drifted)).toEqual([]);
    expect(steady.features.map((f) => f.feature)).toEqual([...FEATURES, 'prediction']);
    // WHEN shifted traffic follows in the same hour
    for (const rows of transactions(training, 300, 2, true).map((r) => [r])) await predict(rows);
    await waitFor('the shifted records to be written', async () => (await loggedRecords()).records.length
      === sample(await metrics(championProxy), 'mlops_inference_log_records_total{model="fraud-detector",outcome="written"}')
      && sample(await metrics(championProxy), 'mlops_inference_log_buffered_records{model="fraud-detector"}') === 0, 60_000);
    const shifted = await check();
    // THEN the check of the same hour, now with the shifted half, reports drift in the shifted features
    expect(shifted.rows.current).toBe((await loggedRecords()).records.length);
    expect(shifted.drifted).toBe(true);
    const drifted = shifted.features.filter((f) => f.drifted).map((f) => f.feature);
    expect(drifted).toEqual(expect.arrayContaining(['amount', 'distance_km']));
    expect(drifted.filter((f) => !['amount', 'distance_km', 'prediction'].includes(f))).toEqual([]);
    // eslint-disable-next-line no-console
    console.log(`drift on the logged hour: steady none of ${steady.features.length}; after the shift ${drifted.join(', ')} (${shifted.rows.current} rows)`);
  }, 240_000);

  test('3: the challenger\'s agreement metric is what the logged pairs of predictions say', async () => {
    const { records } = await loggedRecords();
    const compared = records.filter((r) => r._challenger_code === 200);
    expect(compared.length).toBe(records.length);
    const agree = compared.filter((r) => r.prediction === r.challenger_prediction).length;
    const page = await metrics(championProxy);
    expect(sample(page, 'mlops_shadow_comparisons_total{model="fraud-detector",outcome="agree"}')).toBe(agree);
    expect(sample(page, 'mlops_shadow_comparisons_total{model="fraud-detector",outcome="disagree"}')).toBe(compared.length - agree);
    // the challenger's own proxy counts the mirrored requests as the challenger's
    const challengerPage = await metrics(challengerProxy);
    expect(sample(challengerPage, 'mlops_inference_requests_total{model="fraud-detector",variant="challenger",code="200"}')).toBe(compared.length);
    // eslint-disable-next-line no-console
    console.log(`shadow: ${agree} of ${compared.length} mirrored predictions agreed`);
  }, 60_000);

  test('4: with the object store down, predictions stay correct and the dropped records are counted', async () => {
    await s3.kill();
    const before = sample(await metrics(championProxy), 'mlops_inference_log_records_total{model="fraud-detector",outcome="dropped_upload_failed"}');
    const rows = transactions(training, 60, 3, false);
    const direct = await send(championPort, '/invocations', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows } }),
    });
    const through: unknown[] = [];
    for (const row of rows) through.push((await predict([row]))[0]);
    // every answer through the proxy is the model server's own
    expect(through).toEqual(JSON.parse(direct.text).predictions);
    await waitFor('dropped records to be counted', async () => sample(await metrics(championProxy),
      'mlops_inference_log_records_total{model="fraud-detector",outcome="dropped_upload_failed"}') > before, 90_000);
  }, 150_000);
});
