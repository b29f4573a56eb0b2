// Rehearsal of the reference stack's MLflow registry and fraud-detector model server: the
// synthesized PostgreSQL, migration, MLflow server, model server and metrics proxy containers
// run as real programs (see harness/cluster.ts for how, and for every difference from a cluster).
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { ReferenceStack } from '../../examples/reference-stack';
import { ArtifactStore, Cpu, Images, ModelRegistry, Monitoring, RegistryDatabase } from '../../src';
import { RehearsalCluster } from './harness/cluster';
import { PodStartError } from './harness/pod';

const TRAINING_SCRIPT = path.resolve(__dirname, '..', '..', 'examples', 'training', 'train_fraud_model.py');
// Characters that would break a password spliced into a URI: it reaches libpq as PGPASSWORD.
const DB_PASSWORD = `rh:p@ss/w%rd#${process.pid}`;
const FEATURES = ['amount', 'hour', 'merchant_risk', 'distance_km', 'transactions_24h', 'foreign'];
const ADMIN_PASSWORD = `rehearsal-admin-${process.pid}-pw`;

describe('rehearsal: ModelRegistry mlflow and ModelService fraud-detector of the reference stack', () => {
  let cluster: RehearsalCluster;
  let stack: ReferenceStack;
  let objects: any[];
  const timings: [string, number][] = [];
  let started = 0;
  let training: { run_id: string; experiment_id: string; model_version: string; reference_artifact: string; metrics: Record<string, number> };

  /** In-cluster URL of a Service port, from the synthesized Service. */
  const serviceUrl = (name: string, portName: string): string => {
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === name);
    const port = svc.spec.ports.find((p: any) => p.name === portName).port;
    return `http://${name}.${svc.metadata.namespace}.svc.cluster.local${port === 80 ? '' : `:${port}`}`;
  };
  const getJson = async (url: string): Promise<any> => {
    const res = await cluster.request(url);
    expect({ url, status: res.status, body: res.status === 200 ? '' : res.body }).toEqual({ url, status: 200, body: '' });
    return JSON.parse(res.body);
  };

  beforeAll(async () => {
    started = Date.now();
    const app = Testing.app();
    stack = new ReferenceStack(app, 'mlops');
    // Next to the reference stack: a registry with basic auth on the same PostgreSQL (as an
    // existing database), through a Secret of its own that scenario 5 leaves alone.
    const variants = new Chart(app, 'variants', { namespace: 'mlops', disableResourceNameHashes: true });
    Monitoring.configure(variants, { serviceMonitorLabels: { release: 'kube-prometheus-stack' } });
    new ModelRegistry(variants, 'mlflow-auth', {
      database: RegistryDatabase.postgres({ host: 'mlflow-postgres.mlops.svc.cluster.local', passwordSecret: { secretName: 'mlflow-auth-db', key: 'password' } }),
      artifacts: ArtifactStore.volume(),
      cpuLimit: Cpu.cores(1),
      basicAuth: true,
      authSecretKey: { secretName: 'mlflow-auth', key: 'flask-secret-key' },
      adminPassword: { secretName: 'mlflow-auth', key: 'admin-password' },
      metricsBasicAuthSecretName: 'mlflow-metrics',
    });
    objects = [...Testing.synth(stack), ...Testing.synth(variants)];
    cluster = await RehearsalCluster.start({
      objects,
      secrets: {
        'mlflow-postgres': { password: DB_PASSWORD },
        'mlflow-auth-db': { password: DB_PASSWORD },
        'mlflow-auth': { 'flask-secret-key': `flask-${process.pid}-${Date.now()}`, 'admin-password': ADMIN_PASSWORD },
        'mlflow-metrics': { username: 'admin', password: ADMIN_PASSWORD },
        // The proxy's inference log (no S3 in this rehearsal: its uploads fail and are counted, predictions unaffected)
        'inference-log-s3': { 'access-key-id': 'AKIAREHEARSAL', 'secret-access-key': 'rehearsal-log-secret' },
        // The registry delivers webhooks (the promotion relay): its webhook-secret encryption key, a Fernet key
        'mlflow-webhooks': { 'encryption-key': Buffer.alloc(32, 3).toString('base64') },
      },
    });
    timings.push(['network, DNS, kube-proxy', Date.now() - started]);
  });

  afterAll(async () => {
    await cluster?.teardown();
    timings.push(['total', Date.now() - started]);
    // eslint-disable-next-line no-console
    console.log(`rehearsal timings:\n${timings.map(([what, ms]) => `  ${what}: ${(ms / 1000).toFixed(1)} s`).join('\n')}`);
  });

  // The scenarios build on each other; after a failure the rest stop at once instead of
  // waiting out client retries against a registry that is not there.
  let failed: string | undefined;
  const timed = (name: string, fn: () => Promise<void>) => async () => {
    if (failed !== undefined) throw new Error(`not run: scenario "${failed}" failed`);
    const t0 = Date.now();
    try {
      await fn();
    } catch (e) {
      failed = name;
      throw e;
    } finally {
      timings.push([name, Date.now() - t0]);
    }
  };

  test('1: PostgreSQL starts, the migration initContainer and the server start MLflow, /health answers through the Service', timed('1 postgres + migrate + server', async () => {
    // GIVEN the synthesized StatefulSet mlflow-postgres and Deployment mlflow
    // WHEN their pods start
    const postgres = await cluster.startPod('StatefulSet', 'mlflow-postgres');
    const mlflow = await cluster.startPod('Deployment', 'mlflow');

    // THEN the database came up from the Secret's password, the migration ran under its lock
    expect(postgres.log('postgres')).toContain('database system is ready to accept connections');
    const migrate = mlflow.log('migrate');
    expect(migrate).toContain('migrate: waiting for the migration lock on postgresql+psycopg2://mlflow@mlflow-postgres.mlops.svc.cluster.local:5432/mlflow');
    expect(migrate).toContain('Creating initial MLflow database tables');
    expect(migrate).toContain('migrate: schema is at head');
    expect(migrate).not.toContain(DB_PASSWORD);
    // AND the server answers through the Service at the tracking URI the construct exposes
    expect(stack.registry.trackingUri).toBe('http://mlflow.mlops.svc.cluster.local:5000');
    const health = await cluster.request(`${stack.registry.trackingUri}/health`);
    expect([health.status, health.body]).toEqual([200, 'OK']);
    const version = await cluster.request(`${serviceUrl('mlflow', 'http')}/version`);
    expect(version.body).toBe('3.17.2');
    // AND every in-cluster spelling of the Service is an allowed Host, others get 403
    for (const host of ['mlflow:5000', 'mlflow.mlops:5000', 'mlflow.mlops.svc:5000', 'mlflow.mlops.svc.cluster.local:5000']) {
      const res = await cluster.request(`${stack.registry.trackingUri}/api/2.0/mlflow/experiments/search?max_results=1`, { headers: { host } });
      expect([host, res.status]).toEqual([host, 200]);
    }
    const rebound = await cluster.request(`${stack.registry.trackingUri}/api/2.0/mlflow/experiments/search?max_results=1`, { headers: { host: 'mlflow.attacker.example' } });
    expect(rebound.status).toBe(403);
    // AND /metrics (the ServiceMonitor's path) answers with a pod-IP Host, as Prometheus sends it
    const metrics = await cluster.request(`http://${mlflow.ip}:5000/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^mlflow_http_request_total\{/m);
  }));

  test('2: the training pipeline logs and registers fraud-detector@champion through the tracking URI, with no 403', timed('2 training + registration', async () => {
    // GIVEN the registry of step 1
    // WHEN the example training script runs against the construct's tracking URI
    const result = await cluster.run(['python', TRAINING_SCRIPT], {
      image: Images.MLFLOW,
      env: { MLFLOW_TRACKING_URI: stack.registry.trackingUri, PYTHONUNBUFFERED: '1', MLFLOW_DISABLE_TELEMETRY: 'true', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2' },
      timeoutMs: 240_000,
    });

    // THEN it succeeded without a Host-header rejection
    expect({ code: result.code, tail: result.code === 0 ? '' : result.output.slice(-3000) }).toEqual({ code: 0, tail: '' });
    expect(result.output).not.toMatch(/\b403\b|Invalid Host header/);
    training = JSON.parse(result.output.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
    expect(training.model_version).toBe('1');
    expect(training.metrics.accuracy).toBeGreaterThanOrEqual(0.9);
    // AND the registry holds the run, the model version behind the alias and the reference data
    const base = `${stack.registry.trackingUri}/api/2.0/mlflow`;
    const alias = await getJson(`${base}/registered-models/alias?name=fraud-detector&alias=champion`);
    expect(alias.model_version).toMatchObject({ name: 'fraud-detector', version: '1', aliases: ['champion'], status: 'READY' });
    const run = await getJson(`${base}/runs/get?run_id=${training.run_id}`);
    expect(run.run.data.params).toEqual(expect.arrayContaining([{ key: 'n_estimators', value: '100' }]));
    expect(run.run.data.metrics.find((m: any) => m.key === 'accuracy').value).toBeCloseTo(training.metrics.accuracy, 10);
    const listed = await getJson(`${base}/artifacts/list?run_id=${training.run_id}&path=reference`);
    expect(listed.files.map((f: any) => f.path)).toEqual(['reference/reference.csv']);
    // AND the server proxies the file back from the artifacts volume
    const csv = await cluster.request(`${stack.registry.trackingUri}/get-artifact?path=reference/reference.csv&run_uuid=${training.run_id}`);
    expect(csv.status).toBe(200);
    expect(csv.body.split('\n')[0]).toBe([...FEATURES, 'is_fraud', 'prediction'].join(','));
  }));

  test('3: fraud-detector serves models:/fraud-detector@champion, POST /invocations predicts, the metrics proxy counts it', timed('3 model server + proxy', async () => {
    // GIVEN the champion registered in step 2
    // WHEN the fraud-detector pod starts (model server loads the model from the registry)
    const pod = await cluster.startPod('Deployment', 'fraud-detector');
    expect(pod.log('model-server')).not.toMatch(/\b403\b|Invalid Host header/);

    // THEN predictions come back through the Service (port 80 -> proxy 8080 -> model server 8081)
    const rows = [
      [12.5, 14, 0.05, 1.2, 1, 0],
      [950.0, 3, 0.92, 180.0, 14, 1],
      [40.0, 23, 0.4, 25.0, 4, 0],
    ];
    const body = JSON.stringify({ dataframe_split: { columns: FEATURES, data: rows } });
    const invocations = `${serviceUrl('fraud-detector', 'http')}/invocations`;
    const requests = 5;
    for (let i = 0; i < requests; i++) {
      const res = await cluster.request(invocations, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect({ status: res.status, body: res.status === 200 ? '' : res.body }).toEqual({ status: 200, body: '' });
      const predictions = JSON.parse(res.body).predictions;
      expect(predictions).toHaveLength(3);
      for (const p of predictions) expect([0, 1]).toContain(p);
      expect(predictions[0]).toBe(0);
      expect(predictions[1]).toBe(1);
    }
    // AND the proxy's /metrics (Service port 9090) counts them under the contract names
    const metrics = await cluster.request(`${serviceUrl('fraud-detector', 'metrics')}/metrics`);
    expect(metrics.status).toBe(200);
    expect(sample(metrics.body, 'mlops_inference_requests_total', { model: 'fraud-detector', code: '200' })).toBe(requests);
    expect(sample(metrics.body, 'mlops_inference_request_duration_seconds_count', { model: 'fraud-detector' })).toBe(requests);
  }));

  test('4: after an MLflow restart the runs, the registered model and its alias are still there', timed('4 restart', async () => {
    // GIVEN the registry with the run and model of step 2
    // WHEN the MLflow pod is stopped (SIGTERM) and started again
    await cluster.stopPod('mlflow');
    const mlflow = await cluster.startPod('Deployment', 'mlflow');

    // THEN the migration found the schema at head and created nothing
    expect(mlflow.log('migrate')).toContain('migrate: schema is at head');
    expect(mlflow.log('migrate')).not.toContain('Creating initial MLflow database tables');
    // AND nothing was lost
    const base = `${stack.registry.trackingUri}/api/2.0/mlflow`;
    const alias = await getJson(`${base}/registered-models/alias?name=fraud-detector&alias=champion`);
    expect(alias.model_version).toMatchObject({ name: 'fraud-detector', version: '1', run_id: training.run_id });
    const run = await getJson(`${base}/runs/get?run_id=${training.run_id}`);
    expect(run.run.info.status).toBe('FINISHED');
    expect(run.run.data.metrics.find((m: any) => m.key === 'accuracy').value).toBeCloseTo(training.metrics.accuracy, 10);
    const listed = await getJson(`${base}/artifacts/list?run_id=${training.run_id}&path=reference`);
    expect(listed.files.map((f: any) => f.path)).toEqual(['reference/reference.csv']);
  }));

  test('basic auth variant: the auth store migrates under the lock, the API and /metrics need credentials, /health does not', timed('basic auth variant', async () => {
    // GIVEN ModelRegistry mlflow-auth with basicAuth on the running PostgreSQL
    // WHEN its pod starts (the startup probe on /health must pass without credentials)
    const pod = await cluster.startPod('Deployment', 'mlflow-auth');

    // THEN the migration also upgraded the basic-auth store
    expect(pod.log('migrate')).toContain('migrate: basic-auth store upgrade');
    expect(pod.log('migrate')).toContain('migrate: schema is at head');
    // AND the API needs the admin created from the Secret's password
    const url = `${serviceUrl('mlflow-auth', 'http')}/api/2.0/mlflow/experiments/search?max_results=1`;
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    expect((await cluster.request(url)).status).toBe(401);
    expect((await cluster.request(url, { headers: basic('admin', 'wrong-password-123') })).status).toBe(401);
    expect((await cluster.request(url, { headers: basic('admin', ADMIN_PASSWORD) })).status).toBe(200);
    // AND /metrics answers the ServiceMonitor's basic-auth credentials only
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === 'mlflow-auth');
    expect(monitor.spec.endpoints[0].basicAuth).toEqual({ username: { name: 'mlflow-metrics', key: 'username' }, password: { name: 'mlflow-metrics', key: 'password' } });
    const metrics = `http://${pod.ip}:5000/metrics`;
    expect((await cluster.request(metrics)).status).toBe(401);
    const scraped = await cluster.request(metrics, { headers: basic('admin', ADMIN_PASSWORD) });
    expect(scraped.status).toBe(200);
    expect(scraped.body).toMatch(/^mlflow_http_request_total\{/m);
    // AND no password is in any synthesized object
    expect(JSON.stringify(objects)).not.toContain(ADMIN_PASSWORD);
    expect(JSON.stringify(objects)).not.toContain(DB_PASSWORD);
    await cluster.stopPod('mlflow-auth');
  }));

  test('5: fails loudly: with a wrong database password the migration initContainer exits non-zero with the cause', timed('5 wrong password', async () => {
    // GIVEN the Secret changed after PostgreSQL was initialized with the old password
    await cluster.stopPod('mlflow');
    cluster.setSecret('mlflow-postgres', 'password', 'not-the-password');

    // WHEN the MLflow pod starts
    const error = await cluster.startPod('Deployment', 'mlflow').then(() => undefined, (e) => e);

    // THEN the harness reports the failed initContainer, its exit code and the cause
    expect(error).toBeInstanceOf(PodStartError);
    expect(error.container).toBe('migrate');
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/init container "migrate" exited with code 1/);
    expect(error.message).toMatch(/migrate: cannot connect to the backend store postgresql\+psycopg2:\/\/mlflow@mlflow-postgres\.mlops\.svc\.cluster\.local:5432\/mlflow: .*password authentication failed for user "mlflow"/);
    expect(cluster.pod('mlflow-postgres').log('postgres')).toMatch(/FATAL: {2}password authentication failed for user "mlflow"/);
    // AND the server never started, so the Service has no endpoint
    await expect(cluster.request(`${stack.registry.trackingUri}/health`, { timeoutMs: 5000 })).rejects.toThrow();
  }));
});

/** The value of one sample of a Prometheus text exposition, by name and label subset. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}
