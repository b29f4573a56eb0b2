// The reference stack end to end on a real cluster: `kubectl apply` of what `cdk8s synth`
// writes to dist/, onto the real control plane (test/controlplane/cluster.ts) with the node
// agent as its node (node-agent.ts: the rehearsal harness as kubelet and kube-proxy). The real
// StatefulSet, Deployment, ReplicaSet, Job, CronJob, EndpointSlice and PV controllers and the
// real scheduler decide; the node runs the real programs (PostgreSQL, MLflow, the model server,
// the metrics proxy, the Pushgateway, the drift checker, SeaweedFS) as the harness does in the
// rehearsal tier. The steps: apply, everything Ready, training, a prediction, a rolling update
// without errors, drift runs against an in-cluster S3 store (no drift, then drift), Prometheus
// configured by prometheus-operator scraping the stack, ModelDriftDetected at a webhook, one
// run the CronJob controller schedules itself, the drift Job's exit 2 and exit 1, teardown.
//
// What the test adds beside dist/ (as an operator would): the namespace (Pod Security
// `restricted`), the Secrets the stack documents as external, and two PersistentVolumes
// (hostPath directories, pre-bound by claimRef to the stack's claims; this cluster has no
// provisioner); the training run that registers the model; a second model version through
// the registry's REST API; an S3-compatible store (object-store.ts: SeaweedFS as a Deployment
// and Service) with a day of Parquet rows in it (put-current-data.py), and the CronJob pointed
// at it with AWS_ENDPOINT_URL; monitoring (monitoring.ts: the operator as a process, a
// `Prometheus` resource with its ServiceAccount and Role, Prometheus and Alertmanager as
// processes in the node's network namespace, a webhook receiver in the test; the file says why
// Prometheus runs from the operator's configuration Secret rather than as its StatefulSet's
// pod). The node reports 16 CPUs: the stack requests more than this machine's cores (1 core
// per model-server replica, 2 replicas and a surge pod during a rollout, plus the registry),
// and requests count for the scheduler only (no cgroups here).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Images } from '../../src';
import { DRIFT_METRICS, DRIFT_PUSH_JOB } from '../../src/contract';
import { dataPeriod } from '../../src/runtime/drift/schedule';
import { ComponentExited, ControlPlane, startControlPlane, waitFor } from '../controlplane/cluster';
import { SynthesizedStack, applyStrict, cdk8sSynth, createRestrictedNamespace, installCrds } from '../controlplane/stack-checks';
import { type ReceivedAlert, listenAlertSink } from '../rehearsal/alerting/monitoring';
import { NodeAgent } from './node-agent';
import {
  PROMETHEUS_VERSION, type Started, configForNode, generatedConfig, prometheusBinary, runConfigFor, startInNamespace,
  startLoopbackRelay, startOperator, writeYaml,
} from './monitoring';
import { GRPC_SOCKETS, S3_PORT, seaweedfsObjects } from './object-store';
import {
  DB_PASSWORD, DRIFT_DATA_KEY, FEATURES, NS, TRACKING_URI, createExternalSecrets, createVolumes, loadLoop, mlflowApi as registryApi, predict as predictThrough,
  readyPods as readyPodsOf, registerSecondVersion, train as trainThrough,
} from './stack-fixtures';

const PUSHGATEWAY = 'http://pushgateway.mlops.svc.cluster.local:9091';
const CURRENT_DATA_SCRIPT = path.join(__dirname, 'put-current-data.py');
const S3_ENDPOINT = `http://seaweedfs.mlops.svc.cluster.local:${S3_PORT}`;
/** The node's address (the pods' gateway), where Prometheus and Alertmanager listen in the node's namespace. */
const NODE_IP = '10.244.0.1';
const PROMETHEUS = `http://${NODE_IP}:9090`;

/**
 * Sampled every second: the peak of the machine's used memory (MemTotal - MemAvailable, every
 * process of the machine), and the peak sum of the resident memory of this test's own process
 * tree (jest, the control plane, the node agent's kube-proxy and every pod process; shared
 * pages counted once per process, so an upper bound).
 */
class MemorySampler {
  public peakBytes = 0;
  public treePeakBytes = 0;
  private readonly timer = setInterval(() => this.sample(), 1000);

  constructor() {
    this.sample();
  }

  public stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const info = fs.readFileSync('/proc/meminfo', 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(info)?.[1] ?? 0);
    this.peakBytes = Math.max(this.peakBytes, (kb('MemTotal') - kb('MemAvailable')) * 1024);
    this.treePeakBytes = Math.max(this.treePeakBytes, treeRss(process.pid));
  }
}

describe('the reference stack end to end: kubectl apply -f dist/ on a real control plane, the harness as its node', () => {
  let cp: ControlPlane;
  let agent: NodeAgent;
  let synth: SynthesizedStack;
  let volumes: string;
  let memory: MemorySampler;
  let started = 0;
  let monitoringDir: string | undefined;
  /** Operator, relay, Alertmanager, Prometheus: stopped in reverse in afterAll. */
  const monitors: Started[] = [];
  let sink: { port: number; alerts: ReceivedAlert[]; close(): Promise<void> } | undefined;
  const timings: [string, number][] = [];
  const baselineBytes = usedMemory();

  const get = (what: string[]) => cp.getJson([...what, '-n', NS]);
  const until = (what: string, check: () => Promise<boolean>, ms: number) => waitFor(async () => {
    cp.assertRunning();
    return check();
  }, ms, `${what} (node agent errors: ${agent.errors.slice(-3).join('; ') || 'none'})`);
  const readyPods = (selector: string) => readyPodsOf(cp, selector);
  // kube-proxy follows the EndpointSlices within a poll (250 ms) of the endpoint controller,
  // which follows the pod's Ready; until then a Service without endpoints closes connections.
  const answers = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => until(`${url} answering through its Service`,
    () => agent.request(url, init).then((r) => r.status === 200, () => false), 30_000);
  const predict = () => predictThrough(agent);
  const train = () => trainThrough(agent);
  const mlflowApi = (method: string, route: string, body?: unknown) => registryApi(agent, method, route, body);

  /** Rows of the champion's reference data (optionally shifted) as today's Parquet file in the in-cluster store. */
  const putCurrentData = async (key: string, drifted: boolean) => {
    const result = await agent.run(['python', CURRENT_DATA_SCRIPT, '--reference', 'models:/fraud-detector@champion', '--endpoint', S3_ENDPOINT,
      '--bucket', 'mlops-data', '--key', key, ...(drifted ? ['--drifted'] : [])], {
      image: Images.MLFLOW,
      env: {
        MLFLOW_TRACKING_URI: TRACKING_URI, PYTHONUNBUFFERED: '1', MLFLOW_DISABLE_TELEMETRY: 'true',
        AWS_ACCESS_KEY_ID: DRIFT_DATA_KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: DRIFT_DATA_KEY.secretAccessKey, AWS_REGION: 'us-east-1',
      },
      timeoutMs: 180_000,
    });
    expect({ code: result.code, tail: result.code === 0 ? '' : result.output.slice(-3000) }).toEqual({ code: 0, tail: '' });
    return JSON.parse(result.output.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
  };
  /** The key the drift CronJob reads now: its URI with {{ds}} as the checker computes it from the CronJob's schedule. */
  const currentKey = async (now = new Date()) => {
    const cron = await get(['cronjob', 'fraud-detector-drift']);
    const { ds } = dataPeriod({ schedule: cron.spec.schedule, timeZone: cron.spec.timeZone, periodsBack: 1, now });
    return `fraud-detector/dt=${ds}/part-0.parquet`;
  };
  /** A Job from the drift CronJob, run to its end by the Job controller: the Job's conditions, its pods' exits, the checker's verdict. */
  const driftJob = async (name: string) => {
    await cp.kubectlOk(['create', 'job', name, '--from=cronjob/fraud-detector-drift', '-n', NS]);
    return finishedDriftJob(name);
  };
  const finishedDriftJob = async (name: string) => {
    const ended = (j: any) => j.status.conditions?.some((c: any) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    await until(`Job ${name} finished`, async () => ended(await get(['job', name])), 240_000);
    const job = await get(['job', name]);
    const pods = (await get(['pods', '-l', `job-name=${name}`])).items;
    const log: string = pods.map((p: any) => agent.log(p.metadata.name, 'drift-check')).join('');
    const verdict = log.split('\n').filter((l) => l.startsWith('{"features"')).map((l) => JSON.parse(l)).pop();
    return {
      conditions: job.status.conditions.filter((c: any) => c.status === 'True').map((c: any) => c.type).sort(),
      exits: pods.map((p: any) => [p.status.phase, p.status.containerStatuses?.[0]?.state?.terminated?.exitCode]),
      verdict,
      log,
    };
  };
  /** The drift series the Pushgateway holds for fraud-detector's group (job mlops-drift, namespace, model), label set -> value. */
  const pushed = async (metric: string) => {
    const res = await agent.request(`${PUSHGATEWAY}/metrics`);
    expect(res.status).toBe(200);
    return res.body.split('\n').flatMap((line) => {
      const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
      if (!m || m[1] !== metric) return [];
      const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      return labels.job === DRIFT_PUSH_JOB && labels.namespace === NS && labels.model === 'fraud-detector' ? [{ labels, value: Number(m[3]) }] : [];
    });
  };
  /** Prometheus's HTTP API, through the node's namespace. */
  const prometheusApi = async (route: string) => {
    const res = await agent.request(`${PROMETHEUS}/api/v1/${route}`);
    const body = JSON.parse(res.body);
    if (body.status !== 'success') throw new Error(`Prometheus ${route}: ${res.status} ${res.body.slice(0, 500)}`);
    return body.data;
  };
  const monitorLogs = () => monitors.map((m) => `--- ${m.name} (exit ${m.exitCode()}):\n${m.log().slice(-1500)}`).join('\n');

  // The steps build on each other; after a failure the rest stop at once.
  let failed: string | undefined;
  const step = (name: string, fn: () => Promise<void>) => async () => {
    if (failed !== undefined) throw new Error(`not run: step "${failed}" failed`);
    const t0 = Date.now();
    try {
      await fn();
    } catch (e) {
      failed = name;
      throw new Error(`${(e as Error).message}\nnode agent errors:\n${agent?.errors.slice(-5).join('\n') || 'none'}`);
    } finally {
      timings.push([name, Date.now() - t0]);
    }
  };

  beforeAll(async () => {
    started = Date.now();
    memory = new MemorySampler();
    cp = await startControlPlane({ name: 'mlops-e2e' });
    await installCrds(cp);
    agent = await NodeAgent.start(cp, { capacity: { cpu: '16' }, clientNamespace: NS });
    synth = await cdk8sSynth();
    volumes = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-e2e-pv-'));
    fs.chmodSync(volumes, 0o755);
    timings.push(['control plane, CRDs, node, cdk8s synth', Date.now() - started]);
  });

  afterAll(async () => {
    memory?.stop();
    const components = cp?.memory() ?? [];
    for (const m of monitors.reverse()) await m.stop();
    await sink?.close();
    if (monitoringDir) fs.rmSync(monitoringDir, { recursive: true, force: true });
    await agent?.stop();
    await cp?.stop();
    if (synth) fs.rmSync(synth.dir, { recursive: true, force: true });
    if (volumes) fs.rmSync(volumes, { recursive: true, force: true });
    for (const socket of GRPC_SOCKETS) fs.rmSync(socket, { force: true });
    timings.push(['total', Date.now() - started]);
    const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
    // For the closing note of a run: the same numbers, machine-readable.
    fs.mkdirSync(path.join(__dirname, '..', '..', '.cache'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, '..', '..', '.cache', 'node-e2e-report.json'), JSON.stringify({
      seconds: Object.fromEntries(timings.map(([what, ms]) => [what, ms / 1000])),
      machineMemoryBeforeBytes: baselineBytes,
      machineMemoryPeakBytes: memory?.peakBytes,
      processTreePeakBytes: memory?.treePeakBytes,
      controlPlanePeakRssBytes: Object.fromEntries(components.map((c) => [c.component, c.peakRssBytes])),
    }, null, 2));
    // eslint-disable-next-line no-console
    console.log([
      'reference stack end to end:',
      ...timings.map(([what, ms]) => `  ${what}: ${(ms / 1000).toFixed(1)} s`),
      `  machine memory in use: ${mib(baselineBytes)} before, peak ${mib(memory?.peakBytes ?? 0)} (all processes of the machine, other work included)`,
      `  this test's process tree (jest, control plane, node, pods): peak ${mib(memory?.treePeakBytes ?? 0)} resident`,
      ...components.map((c) => `  peak RSS ${c.component}: ${mib(c.peakRssBytes)}`),
    ].join('\n'));
  });

  test('1: kubectl apply of dist/: PostgreSQL on its volume, the MLflow migration initContainer, MLflow and the Pushgateway Ready behind their Services', step('1 apply, database, registry', async () => {
    // GIVEN the namespace, the stack's external Secrets and volumes for its two claims
    await createRestrictedNamespace(cp, NS);
    await createExternalSecrets(cp);
    await createVolumes(cp, volumes);

    // WHEN the synthesized stack is applied as users apply it
    const applied = await applyStrict(cp, synth.files);
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });

    // THEN the StatefulSet's pod runs PostgreSQL on the claim bound to the pre-created volume
    await until('mlflow-postgres-0 Ready', async () => (await readyPods('app.kubernetes.io/name=mlflow-postgres')).length === 1, 180_000);
    expect((await get(['pvc', 'data-mlflow-postgres-0'])).spec.volumeName).toBe('e2e-postgres');
    expect(fs.existsSync(path.join(volumes, 'e2e-postgres'))).toBe(true);
    expect(agent.log('mlflow-postgres-0', 'postgres')).toContain('database system is ready to accept connections');
    // AND the MLflow pod ran its migration initContainer to exit 0 before the server became Ready
    await until('mlflow Ready', async () => (await readyPods('app.kubernetes.io/name=mlflow')).length === 1, 300_000);
    const [mlflow] = await readyPods('app.kubernetes.io/name=mlflow');
    expect(mlflow.status.initContainerStatuses[0]).toMatchObject({ name: 'migrate', state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    expect(agent.log(mlflow.metadata.name, 'migrate')).toContain('migrate: schema is at head');
    expect(agent.log(mlflow.metadata.name, 'migrate')).not.toContain(DB_PASSWORD);
    // AND the registry answers through its Service, the EndpointSlice lists the pod
    await answers(`${TRACKING_URI}/health`);
    const health = await agent.request(`${TRACKING_URI}/health`);
    expect([health.status, health.body]).toEqual([200, 'OK']);
    const slices = (await get(['endpointslices', '-l', 'kubernetes.io/service-name=mlflow'])).items;
    expect(slices.flatMap((s: any) => s.endpoints ?? []).map((e: any) => [e.addresses[0], e.conditions.ready])).toEqual([[mlflow.status.podIP, true]]);
    await until('pushgateway Ready', async () => (await readyPods('app.kubernetes.io/name=pushgateway')).length === 1, 120_000);
    await answers('http://pushgateway.mlops.svc.cluster.local:9091/-/ready');
  }));

  test('2: the training pipeline registers fraud-detector@champion through the tracking URI', step('2 training', async () => {
    const training = await train();
    expect(training.model_version).toBe('1');
    expect(training.metrics.accuracy).toBeGreaterThanOrEqual(0.9);
    const alias = await mlflowApi('GET', 'registered-models/alias?name=fraud-detector&alias=champion');
    expect(alias.model_version).toMatchObject({ name: 'fraud-detector', version: '1', status: 'READY' });
    // AND the same version is the challenger the shadow Deployment serves, until a new one is trained
    await mlflowApi('POST', 'registered-models/alias', { name: 'fraud-detector', alias: 'challenger', version: '1' });
  }));

  test('3: the model server is Ready behind the metrics proxy, and a prediction comes back through the Service', step('3 model server, prediction', async () => {
    // GIVEN the champion of step 2: the pods started before it existed exited (the model
    // server cannot load a model that is not registered) and are in crash back-off
    const before = (await get(['pods', '-l', 'app.kubernetes.io/name=fraud-detector'])).items;
    const modelServer = (p: any) => p.status.containerStatuses?.find((c: any) => c.name === 'model-server');
    expect(before.map((p: any) => modelServer(p)?.ready)).toEqual([false, false]);

    // WHEN they are deleted, as an operator does after the first registration instead of
    // waiting out the back-off, and the ReplicaSet controller replaces them
    await cp.kubectlOk(['delete', 'pods', '-n', NS, '-l', 'app.kubernetes.io/name=fraud-detector', '--wait=false']);
    await cp.kubectlOk(['rollout', 'status', 'deployment/fraud-detector', '-n', NS, '--timeout=420s'], { timeoutMs: 450_000 });
    await until('two ready fraud-detector pods', async () => (await readyPods('app.kubernetes.io/name=fraud-detector')).length === 2, 420_000);

    // THEN two replicas (the HPA's minimum) are Ready, both listed in the EndpointSlice
    const pods = await readyPods('app.kubernetes.io/name=fraud-detector');
    expect(pods).toHaveLength(2);
    const slices = (await get(['endpointslices', '-l', 'kubernetes.io/service-name=fraud-detector'])).items;
    const ready = slices.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions.ready).map((e: any) => e.addresses[0]);
    expect(ready.sort()).toEqual(pods.map((p: any) => p.status.podIP).sort());
    // AND predictions come back through the Service (port 80 -> proxy 8080 -> model server 8081)
    await until('both endpoints in kube-proxy', async () => (await predict().then((r) => r.status, () => 0)) === 200, 30_000);
    for (let i = 0; i < 4; i++) {
      const res = await predict();
      expect({ status: res.status, body: res.status === 200 ? '' : res.body }).toEqual({ status: 200, body: '' });
      expect(JSON.parse(res.body).predictions.slice(0, 2)).toEqual([0, 1]);
    }
    const metrics = await agent.request(`http://${pods[0].status.podIP}:9090/metrics`);
    expect(metrics.body).toMatch(/^mlops_inference_requests_total\{[^}]*code="200"/m);
    // eslint-disable-next-line no-console
    console.log(`fraud-detector pods before the first model: ${before.map((p: any) => `${p.metadata.name} restarts=${modelServer(p)?.restartCount} last exit=${modelServer(p)?.lastState?.terminated?.exitCode}`).join(', ')}`);
  }));

  test('4: a rolling update to model version 2: the Deployment controller keeps maxUnavailable 0 and no request fails', step('4 rolling update', async () => {
    // GIVEN version 2 of fraud-detector in the registry (the same trained model, as a promotion registers it)
    expect(await registerSecondVersion(agent)).toBe('2');
    const deployment = await get(['deployment', 'fraud-detector']);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const args: string[] = deployment.spec.template.spec.containers[0].args;
    const at = args.indexOf('models:/fraud-detector@champion');
    expect(at).toBeGreaterThan(0);

    // WHEN the model-server container is changed to serve version 2, under a bounded load loop
    const loop = loadLoop(agent, 480_000);
    let load: { ok: number; errors: string[] };
    let minAvailable = Infinity;
    let samples = 0;
    const watch = setInterval(() => {
      void get(['deployment', 'fraud-detector']).then((d) => { samples++; minAvailable = Math.min(minAvailable, d.status.availableReplicas ?? 0); }, () => undefined);
    }, 1000);
    try {
      await cp.kubectlOk(['patch', 'deployment', 'fraud-detector', '-n', NS, '--type=json',
        '-p', JSON.stringify([{ op: 'replace', path: `/spec/template/spec/containers/0/args/${at}`, value: 'models:/fraud-detector/2' }])]);
      await cp.kubectlOk(['rollout', 'status', 'deployment/fraud-detector', '-n', NS, '--timeout=420s'], { timeoutMs: 450_000 });
      // Requests keep flowing while the old pods drain (preStop, proxy drain).
      await until('old pods gone', async () => (await get(['pods', '-l', 'app.kubernetes.io/name=fraud-detector'])).items.length === 2, 120_000);
    } finally {
      clearInterval(watch);
      load = await loop.stop();
    }

    // THEN not one request failed, and the Deployment never had fewer than 2 available replicas
    expect(load.errors).toEqual([]);
    expect(load.ok).toBeGreaterThan(10);
    expect(samples).toBeGreaterThan(5);
    expect(minAvailable).toBeGreaterThanOrEqual(2);
    // AND both pods now serve version 2
    const pods = await readyPods('app.kubernetes.io/name=fraud-detector');
    expect(pods.map((p: any) => p.spec.containers[0].args[at])).toEqual(['models:/fraud-detector/2', 'models:/fraud-detector/2']);
    // eslint-disable-next-line no-console
    console.log(`rolling update: ${load.ok} predictions, ${load.errors.length} errors, at least ${minAvailable} replicas available`);
  }));

  test('5: a drift run succeeds in the cluster: the CronJob\'s Job reads today\'s Parquet from an in-cluster S3 store, exits 0 and pushes "no drift"', step('5 object store, drift run without drift', async () => {
    // GIVEN an S3-compatible store in the cluster (SeaweedFS, a Deployment and Service made
    // here as a team runs its data lake's gateway), whose one identity is drift-data-s3's key
    await cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(seaweedfsObjects(NS, DRIFT_DATA_KEY)) });
    await until('seaweedfs Ready', async () => (await readyPods('app.kubernetes.io/name=seaweedfs')).length === 1, 120_000);
    // AND today's production rows where the DriftMonitor reads them: a sample of the champion's
    // own reference data, so the same distribution by construction
    const key = await currentKey();
    const upload = await putCurrentData(key, false);
    expect(upload).toMatchObject({ key, rows: 1000, columns: [...FEATURES, 'is_fraud', 'prediction'] });

    // WHEN the CronJob is pointed at that store as an operator points it at any S3-compatible
    // endpoint: the reference stack targets AWS S3 (no s3EndpointUrl), and the checker honours
    // the standard AWS_ENDPOINT_URL (the variable the DriftMonitor's s3EndpointUrl sets), so
    // `kubectl set env` on the CronJob (a kustomize patch in a GitOps repo) is the change
    await cp.kubectlOk(['set', 'env', 'cronjob/fraud-detector-drift', '-n', NS, `AWS_ENDPOINT_URL=${S3_ENDPOINT}`]);
    // AND a Job is made from it
    const run = await driftJob('drift-steady');

    // THEN the Job controller marks the Job Complete, its one pod exited 0
    expect({ conditions: run.conditions, exits: run.exits, log: run.conditions.includes('Complete') ? '' : run.log.slice(-3000) })
      .toEqual({ conditions: expect.arrayContaining(['Complete']), exits: [['Succeeded', 0]], log: '' });
    // AND the checker compared 1000 current rows with the logged reference and found no drift
    expect(run.verdict).toMatchObject({ drifted: false, driftShare: 0, rows: { current: 1000 } });
    expect(run.verdict.rows.reference).toBe(3000);
    // AND the Pushgateway holds that verdict for Prometheus to scrape
    expect((await pushed(DRIFT_METRICS.datasetDrifted)).map((s) => s.value)).toEqual([0]);
    expect((await pushed(DRIFT_METRICS.rows)).map((s) => [s.labels.dataset, s.value]).sort()).toEqual([['current', 1000], ['reference', run.verdict.rows.reference]]);
    expect((await pushed(DRIFT_METRICS.lastSuccessTimestampSeconds))[0].value).toBeGreaterThan(Date.now() / 1000 - 600);
  }));

  test('6: prometheus-operator configures Prometheus from the stack\'s ServiceMonitors and rules; it scrapes the model server, the registry and the Pushgateway, and ModelDriftDetected is inactive', step('6 prometheus', async () => {
    monitoringDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-e2e-monitoring-'));
    const dir = monitoringDir;
    // GIVEN a webhook receiver in the test, and a relay that lets the node's namespace reach it
    // and the apiserver on the machine's loopback (see monitoring.ts)
    sink = await listenAlertSink();
    const apiPort = Number(new URL(cp.server).port);
    monitors.push(await startLoopbackRelay(agent.netns, dir, [apiPort, sink.port]));
    // AND Alertmanager on the node, routing every alert to the receiver, known to the cluster
    // as Service alertmanager with Endpoints at the node's address (as an Alertmanager outside
    // the namespace is)
    fs.mkdirSync(path.join(dir, 'alertmanager'));
    writeYaml(path.join(dir, 'alertmanager', 'alertmanager.yml'), {
      route: { receiver: 'webhook', group_by: ['...'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
      receivers: [{ name: 'webhook', webhook_configs: [{ url: `http://127.0.0.1:${sink.port}/alerts`, send_resolved: false }] }],
    });
    const alertmanager = startInNamespace('alertmanager', agent.netns, ['/usr/bin/prometheus-alertmanager', `--config.file=${path.join(dir, 'alertmanager', 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'alertmanager', 'data')}`, `--web.listen-address=${NODE_IP}:9093`, '--cluster.listen-address='], dir);
    monitors.push(alertmanager);
    await until('Alertmanager ready', async () => (await agent.request(`http://${NODE_IP}:9093/-/ready`).then((r) => r.status, () => 0)) === 200, 30_000);
    const amLabels = { 'app.kubernetes.io/name': 'alertmanager' };
    await cp.kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1', kind: 'List', items: [
          { apiVersion: 'v1', kind: 'Service', metadata: { name: 'alertmanager', namespace: NS, labels: amLabels }, spec: { ports: [{ name: 'web', port: 9093, targetPort: 9093 }] } },
          { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'alertmanager', namespace: NS, labels: amLabels }, subsets: [{ addresses: [{ ip: NODE_IP }], ports: [{ name: 'web', port: 9093 }] }] },
        ],
      }),
    });
    // AND the Prometheus ServiceAccount with a Role to discover the namespace, its token in a file
    await cp.kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1', kind: 'List', items: [
          { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'prometheus-mlops', namespace: NS } },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'prometheus-mlops', namespace: NS },
            rules: [
              { apiGroups: [''], resources: ['services', 'endpoints', 'pods'], verbs: ['get', 'list', 'watch'] },
              { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
            ],
          },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'prometheus-mlops', namespace: NS },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'prometheus-mlops' },
            subjects: [{ kind: 'ServiceAccount', name: 'prometheus-mlops', namespace: NS }],
          },
        ],
      }),
    });
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, (await cp.kubectlOk(['create', 'token', 'prometheus-mlops', '-n', NS, '--duration=2h'])).trim());
    // AND a Prometheus resource selecting the stack's release label. replicas 0: its
    // StatefulSet's pod is not run (its images have no local program); the node runs its
    // prometheus container instead, so apiserverConfig replaces the in-cluster config
    const selector = { matchLabels: { release: 'kube-prometheus-stack' } };
    await cp.kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'monitoring.coreos.com/v1', kind: 'Prometheus', metadata: { name: 'mlops', namespace: NS },
        spec: {
          // The release the node runs, so the operator emits the flags and fields it knows.
          version: PROMETHEUS_VERSION, replicas: 0, serviceAccountName: 'prometheus-mlops', evaluationInterval: '5s',
          serviceMonitorSelector: selector, ruleSelector: selector,
          alerting: { alertmanagers: [{ namespace: NS, name: 'alertmanager', port: 'web', apiVersion: 'v2' }] },
          apiserverConfig: { host: cp.server, authorization: { credentialsFile: tokenFile }, tlsConfig: { caFile: path.join(cp.dir, 'pki', 'ca.crt') } },
          securityContext: { runAsNonRoot: true, runAsUser: 65534, fsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
        },
      }),
    });
    const operator = startOperator(cp, NS);
    monitors.push(operator);

    // WHEN the operator has reconciled it (a scrape job per ServiceMonitor, the rule files, the StatefulSet)
    let secret: any;
    await until('the operator\'s configuration of Prometheus mlops', async () => {
      if (operator.exitCode() !== null) throw new ComponentExited(`the operator exited ${operator.exitCode()}:\n${operator.log().slice(-3000)}`);
      const found = await cp.kubectl(['get', 'secret', 'prometheus-mlops', '-n', NS, '-o', 'json']);
      secret = found.code === 0 ? JSON.parse(found.stdout) : undefined;
      const generated = secret ? generatedConfig(secret) : undefined;
      return (generated?.scrape_configs ?? []).length >= 5 && generated.alerting !== undefined
        && (await cp.kubectl(['get', 'statefulset', 'prometheus-mlops', '-n', NS])).code === 0;
    }, 120_000);
    const sts = await get(['statefulset', 'prometheus-mlops']);
    const secrets = new Map<string, any>((await get(['secrets'])).items.map((o: any) => [o.metadata.name, o]));
    const configMaps = new Map<string, any>((await get(['configmaps'])).items.map((o: any) => [o.metadata.name, o]));
    // AND Prometheus runs on the node as the StatefulSet's container would, with the
    // configuration the config-reloader would write (the one change is listed in monitoring.ts)
    const run = runConfigFor(sts, dir, { secret: (n) => secrets.get(n), configMap: (n) => configMaps.get(n) });
    const configFile = run.argv.find((a) => a.startsWith('--config.file='))!.slice('--config.file='.length);
    const config = configForNode(secret, sts, run.mappings);
    expect(config.scrape_configs.flatMap((j: any) => j.kubernetes_sd_configs.map((c: any) => c.api_server))).toEqual(Array(config.scrape_configs.length).fill(cp.server));
    expect(JSON.stringify(config)).not.toMatch(/\$\([A-Z_]+\)/);
    writeYaml(configFile, config);
    expect(run.argv.some((a) => a.startsWith('--web.listen-address'))).toBe(false);
    const prometheus = startInNamespace('prometheus', agent.netns, [prometheusBinary(), ...run.argv, `--web.listen-address=${NODE_IP}:9090`], dir);
    monitors.push(prometheus);

    // THEN it discovers the stack's endpoints through the apiserver and scrapes them: the
    // model server's two pods (the proxy's metrics port), the registry and the Pushgateway are up
    const pools = ['serviceMonitor/mlops/fraud-detector/0', 'serviceMonitor/mlops/mlflow/0', 'serviceMonitor/mlops/pushgateway/0'];
    let targets: any[] = [];
    const health = () => Object.fromEntries(pools.map((p) => [p, targets.filter((t) => t.scrapePool === p).map((t) => t.health)]));
    try {
      await until('the fraud-detector, mlflow and pushgateway targets up', async () => {
        if (prometheus.exitCode() !== null) throw new ComponentExited(`prometheus exited ${prometheus.exitCode()}`);
        targets = (await prometheusApi('targets?state=active').catch(() => ({ activeTargets: [] }))).activeTargets;
        return JSON.stringify(health()) === JSON.stringify(Object.fromEntries(pools.map((p) => [p, p.includes('fraud-detector') ? ['up', 'up'] : ['up']])));
      }, 150_000);
    } catch (e) {
      // Everything needed to see why, in one file: discovery's view, the objects, the configuration.
      const all = await agent.request(`${PROMETHEUS}/api/v1/targets`).then((r) => r.body, (err) => String(err));
      const sd = await agent.request(`${PROMETHEUS}/metrics`).then((r) => r.body.split('\n').filter((l) => /^prometheus_sd_/.test(l)).join('\n'), (err) => String(err));
      const debug = path.join(__dirname, '..', '..', '.cache', 'node-e2e-prometheus-debug.json');
      fs.writeFileSync(debug, JSON.stringify({
        targets: all, sd, endpoints: await get(['endpoints']).catch(String), config: fs.readFileSync(configFile, 'utf8'), prometheusLog: prometheus.log(),
      }, null, 2));
      throw new Error(`${(e as Error).message}\ntargets: ${JSON.stringify(targets.map((t) => [t.scrapePool, t.scrapeUrl, t.health, t.lastError]))} (details in ${debug})\n${monitorLogs()}`);
    }
    expect(health()).toEqual({ [pools[0]]: ['up', 'up'], [pools[1]]: ['up'], [pools[2]]: ['up'] });
    const fraudPods = (await readyPods('app.kubernetes.io/name=fraud-detector')).map((p: any) => p.metadata.name).sort();
    expect(targets.filter((t) => t.scrapePool === pools[0]).map((t) => t.labels.pod).sort()).toEqual(fraudPods);
    // AND the Pushgateway's verdict of step 5 is in Prometheus under the drift group's labels
    await until('the drift verdict scraped', async () => (await prometheusApi(`query?query=${encodeURIComponent(`${DRIFT_METRICS.datasetDrifted}{job="${DRIFT_PUSH_JOB}"}`)}`)).result.length === 1, 60_000);
    const verdict = (await prometheusApi(`query?query=${encodeURIComponent(`${DRIFT_METRICS.datasetDrifted}{job="${DRIFT_PUSH_JOB}"}`)}`)).result;
    expect(verdict.map((r: any) => [r.metric.namespace, r.metric.model, r.value[1]])).toEqual([[NS, 'fraud-detector', '0']]);
    // AND it evaluates the synthesized rules: ModelDriftDetected is loaded, healthy, not firing
    const rules = (await prometheusApi('rules')).groups.flatMap((g: any) => g.rules);
    const drift = rules.filter((r: any) => r.name === 'ModelDriftDetected');
    await until('ModelDriftDetected evaluated', async () => {
      const now = (await prometheusApi('rules')).groups.flatMap((g: any) => g.rules).filter((r: any) => r.name === 'ModelDriftDetected');
      return now.length === 1 && now[0].lastEvaluation !== '0001-01-01T00:00:00Z';
    }, 60_000);
    expect(drift.map((r: any) => [r.type, r.health === 'err' ? r.lastError : 'ok'])).toEqual([['alerting', 'ok']]);
    const evaluated = (await prometheusApi('rules')).groups.flatMap((g: any) => g.rules).find((r: any) => r.name === 'ModelDriftDetected');
    expect([evaluated.state, evaluated.health]).toEqual(['inactive', 'ok']);
    expect(sink.alerts.filter((a) => a.labels.alertname === 'ModelDriftDetected')).toEqual([]);
    // AND Prometheus found Alertmanager through the Service the operator's configuration names
    await until('Alertmanager discovered', async () => (await prometheusApi('alertmanagers')).activeAlertmanagers.length === 1, 60_000);
    // eslint-disable-next-line no-console
    console.log(`Prometheus targets: ${targets.map((t) => `${t.scrapePool} ${t.labels.pod ?? t.labels.instance} ${t.health}`).join('; ')}`);
  }));

  test('7: drifted rows in the store: the next drift Job completes with dataset drift, and the Pushgateway holds it', step('7 drift run with drift, alert', async () => {
    // GIVEN today's file replaced by rows whose amount, merchant risk, distance and card activity moved
    const key = await currentKey();
    expect(await putCurrentData(key, true)).toMatchObject({ key, rows: 1000 });

    // WHEN the CronJob's Job runs again
    const run = await driftJob('drift-drifted');

    // THEN it completes (drift is a verdict, not a failure) with 4 of the 6 features drifted
    expect({ conditions: run.conditions, exits: run.exits, log: run.conditions.includes('Complete') ? '' : run.log.slice(-3000) })
      .toEqual({ conditions: expect.arrayContaining(['Complete']), exits: [['Succeeded', 0]], log: '' });
    expect(run.verdict).toMatchObject({ drifted: true, rows: { current: 1000 } });
    expect(run.verdict.features.filter((f: any) => f.drifted).map((f: any) => f.feature).sort()).toEqual(['amount', 'distance_km', 'merchant_risk', 'transactions_24h']);
    // AND the Pushgateway's verdict is now "drifted"
    expect((await pushed(DRIFT_METRICS.datasetDrifted)).map((s) => s.value)).toEqual([1]);
    // AND once Prometheus has scraped it, ModelDriftDetected (no `for:`) fires and Alertmanager
    // delivers it to the webhook
    const pushedAt = Date.now();
    const driftAlerts = () => sink!.alerts.filter((a) => a.labels.alertname === 'ModelDriftDetected');
    try {
      await until('ModelDriftDetected at the webhook', async () => driftAlerts().length > 0, 150_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nreceived: ${JSON.stringify(sink!.alerts.map((a) => a.labels))}\n${monitorLogs()}`);
    }
    const [alert] = driftAlerts();
    expect(alert.status).toBe('firing');
    expect(alert.labels).toEqual(expect.objectContaining({ alertname: 'ModelDriftDetected', model: 'fraud-detector', namespace: NS, cronjob: 'fraud-detector-drift', severity: 'warning' }));
    expect(alert.annotations.summary).toBe('Data drift detected for model fraud-detector');
    // eslint-disable-next-line no-console
    console.log(`ModelDriftDetected at the webhook ${((alert.receivedAt - pushedAt) / 1000).toFixed(1)} s after the drifted verdict was pushed; alerts received: ${[...new Set(sink!.alerts.map((a) => a.labels.alertname))].join(', ')}`);
  }));

  test('8: one scheduled run: with the CronJob\'s schedule moved to the next minute, the CronJob controller creates the Job itself and it completes', step('8 scheduled drift run', async () => {
    // GIVEN the CronJob scheduled for a minute that is at least 20 s away (its timeZone is Etc/UTC)
    const cron = await get(['cronjob', 'fraud-detector-drift']);
    expect(cron.spec.timeZone).toBe('Etc/UTC');
    const at = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000);
    const schedule = `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
    // The patch moves only the trigger: the checker computes {{ds}} from the synthesized
    // --schedule at the time it runs, so the drifted rows go where it will look then (step 7's
    // key, unless the day of the data period changes before `at`).
    const key = await currentKey(at);
    expect(await putCurrentData(key, true)).toMatchObject({ key, rows: 1000 });
    await cp.kubectlOk(['patch', 'cronjob', 'fraud-detector-drift', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { schedule } })]);

    // WHEN that minute has come: the controller names the Job after the scheduled time (minutes since the epoch)
    const name = `fraud-detector-drift-${at.getTime() / 60_000}`;
    await until(`the CronJob controller's Job ${name}`, async () => (await cp.kubectl(['get', 'job', name, '-n', NS])).code === 0, at.getTime() - Date.now() + 90_000);
    const run = await finishedDriftJob(name);

    // THEN the Job is the CronJob's, it completed with its pod exiting 0, and the CronJob recorded the success
    const job = await get(['job', name]);
    expect(job.metadata.ownerReferences.map((o: any) => [o.kind, o.name])).toEqual([['CronJob', 'fraud-detector-drift']]);
    expect(job.metadata.annotations['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe(at.toISOString().replace('.000Z', 'Z'));
    expect({ conditions: run.conditions, exits: run.exits, log: run.conditions.includes('Complete') ? '' : run.log.slice(-3000) })
      .toEqual({ conditions: expect.arrayContaining(['Complete']), exits: [['Succeeded', 0]], log: '' });
    expect(run.verdict).toMatchObject({ drifted: true, rows: { current: 1000 } });
    await until('the CronJob\'s lastSuccessfulTime', async () => (await get(['cronjob', 'fraud-detector-drift'])).status.lastSuccessfulTime !== undefined, 30_000);
    // AND the synthesized schedule is back, so no second run comes
    await cp.kubectlOk(['patch', 'cronjob', 'fraud-detector-drift', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { schedule: cron.spec.schedule } })]);
  }));

  test('9: a drift Job with bad input exits 2 and the synthesized podFailurePolicy fails the Job at once', step('9 drift job, exit 2', async () => {
    // GIVEN the CronJob's Job with an unknown drift method
    const job = JSON.parse(await cp.kubectlOk(['create', 'job', 'drift-bad-input', '--from=cronjob/fraud-detector-drift', '-n', NS, '--dry-run=client', '-o', 'json']));
    const args: string[] = job.spec.template.spec.containers[0].args;
    args[args.indexOf('--method') + 1] = 'no-such-method';
    await cp.kubectlOk(['create', '-f', '-'], { input: JSON.stringify(job) });

    // WHEN the node ran its pod
    await until('Job drift-bad-input failed', async () => (await get(['job', 'drift-bad-input'])).status.conditions?.some((c: any) => c.type === 'Failed' && c.status === 'True'), 120_000);

    // THEN one pod, exit 2, and the Job failed by the pod failure policy (no retry)
    const failedJob = await get(['job', 'drift-bad-input']);
    expect(failedJob.status.conditions.find((c: any) => c.type === 'Failed').reason).toBe('PodFailurePolicy');
    const pods = (await get(['pods', '-l', 'job-name=drift-bad-input'])).items;
    expect(pods).toHaveLength(1);
    expect(pods[0].status.containerStatuses[0].state.terminated.exitCode).toBe(2);
  }));

  test('10: with the registry down, the drift CronJob\'s Job exits 1 and the Job controller retries it up to backoffLimit', step('10 drift job, exit 1', async () => {
    // GIVEN the registry scaled to zero, so the reference data (models:/fraud-detector@champion) cannot be read
    await cp.kubectlOk(['scale', 'deployment', 'mlflow', '-n', NS, '--replicas=0']);
    await until('mlflow pod gone', async () => (await get(['pods', '-l', 'app.kubernetes.io/name=mlflow'])).items.length === 0, 120_000);

    // WHEN the synthesized CronJob (backoffLimit 2) makes a Job
    await cp.kubectlOk(['create', 'job', 'drift-now', '--from=cronjob/fraud-detector-drift', '-n', NS]);

    // AND the node has run its pods
    await until('Job drift-now failed', async () => (await get(['job', 'drift-now'])).status.conditions?.some((c: any) => c.type === 'Failed' && c.status === 'True'), 240_000);

    // THEN the real Job controller ran it 1 + backoffLimit times, each pod exiting 1
    const job = await get(['job', 'drift-now']);
    expect(job.status.conditions.find((c: any) => c.type === 'Failed').reason).toBe('BackoffLimitExceeded');
    const pods = (await get(['pods', '-l', 'job-name=drift-now'])).items;
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.status.phase).toBe('Failed');
      expect(p.status.containerStatuses[0].state.terminated.exitCode).toBe(1);
    }
    expect(agent.log(pods[0].metadata.name, 'drift-check')).toContain('"exitCode":1');
  }));

  test('11: teardown: kubectl delete of the stack stops every pod gracefully and the node removes their namespaces', step('11 teardown', async () => {
    const deleted = await cp.kubectl(['delete', '--wait=true', '--timeout=180s', ...synth.files.flatMap((f) => ['-f', f])], { timeoutMs: 200_000 });
    expect(deleted.code).toBe(0);
    // AND what the test added beside the stack: the object store, the Prometheus resource
    await cp.kubectlOk(['delete', '--wait=true', '-f', '-'], { input: JSON.stringify(seaweedfsObjects(NS, DRIFT_DATA_KEY)) });
    await cp.kubectlOk(['delete', 'prometheus', 'mlops', '-n', NS, '--wait=true']);
    await cp.kubectlOk(['delete', 'jobs', '--all', '-n', NS, '--wait=true']);
    await until('no pods left', async () => (await get(['pods'])).items.length === 0, 180_000);
    await cp.kubectlOk(['delete', 'namespace', NS, '--wait=true', '--timeout=120s'], { timeoutMs: 150_000 });
    const { execFileSync } = await import('child_process');
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`${agent.netns}-p`);
  }));
});

/** Sum of VmRSS of `root` and all its descendants. */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      rss.set(Number(entry), Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Exited meanwhile.
    }
  }
  let total = 0;
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    total += rss.get(pid) ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}

function usedMemory(): number {
  const info = fs.readFileSync('/proc/meminfo', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(info)?.[1] ?? 0);
  return (kb('MemTotal') - kb('MemAvailable')) * 1024;
}
