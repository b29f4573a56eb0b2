// The reference stack end to end on a real cluster: `kubectl apply` of what `cdk8s synth`
// writes to dist/, onto the real control plane (test/controlplane/cluster.ts) with the node
// agent as its node (node-agent.ts: the rehearsal harness as kubelet and kube-proxy). The real
// StatefulSet, Deployment, ReplicaSet, Job, EndpointSlice and PV controllers and the real
// scheduler decide; the node runs the real programs (PostgreSQL, MLflow, the model server, the
// metrics proxy, the Pushgateway, the drift checker) as the harness does in the rehearsal tier.
//
// What the test adds beside dist/ (as an operator would): the namespace (Pod Security
// `restricted`), the two Secrets the stack documents as external, and two PersistentVolumes
// (hostPath directories, pre-bound by claimRef to the stack's claims; this cluster has no
// provisioner); the training run that registers the model; a second model version through
// the registry's REST API. The node reports 16 CPUs: the stack requests more than this
// machine's cores (1 core per model-server replica, 2 replicas and a surge pod during a
// rollout, plus the registry), and requests count for the scheduler only (no cgroups here).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Images } from '../../src';
import { ControlPlane, startControlPlane, waitFor } from '../controlplane/cluster';
import { SynthesizedStack, applyStrict, cdk8sSynth, createRestrictedNamespace, installCrds } from '../controlplane/stack-checks';
import { NodeAgent } from './node-agent';

const NS = 'mlops';
const TRAINING_SCRIPT = path.resolve(__dirname, '..', '..', 'examples', 'training', 'train_fraud_model.py');
const TRACKING_URI = 'http://mlflow.mlops.svc.cluster.local:5000';
const INVOCATIONS = 'http://fraud-detector.mlops.svc.cluster.local/invocations';
const FEATURES = ['amount', 'hour', 'merchant_risk', 'distance_km', 'transactions_24h', 'foreign'];
const ROWS = [[12.5, 14, 0.05, 1.2, 1, 0], [950.0, 3, 0.92, 180.0, 14, 1], [40.0, 23, 0.4, 25.0, 4, 0]];
const DB_PASSWORD = `e2e:p@ss/w%rd#${process.pid}`;

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
  const timings: [string, number][] = [];
  const baselineBytes = usedMemory();

  const get = (what: string[]) => cp.getJson([...what, '-n', NS]);
  const until = (what: string, check: () => Promise<boolean>, ms: number) => waitFor(async () => {
    cp.assertRunning();
    return check();
  }, ms, `${what} (node agent errors: ${agent.errors.slice(-3).join('; ') || 'none'})`);
  const readyPods = async (selector: string) => (await get(['pods', '-l', selector])).items
    .filter((p: any) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
  // kube-proxy follows the EndpointSlices within a poll (250 ms) of the endpoint controller,
  // which follows the pod's Ready; until then a Service without endpoints closes connections.
  const answers = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => until(`${url} answering through its Service`,
    () => agent.request(url, init).then((r) => r.status === 200, () => false), 30_000);
  const predict = () => agent.request(INVOCATIONS, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: ROWS } }), timeoutMs: 60_000,
  });
  const train = async () => {
    const result = await agent.run(['python', TRAINING_SCRIPT], {
      image: Images.MLFLOW,
      env: { MLFLOW_TRACKING_URI: TRACKING_URI, PYTHONUNBUFFERED: '1', MLFLOW_DISABLE_TELEMETRY: 'true', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2' },
      timeoutMs: 300_000,
    });
    expect({ code: result.code, tail: result.code === 0 ? '' : result.output.slice(-3000) }).toEqual({ code: 0, tail: '' });
    return JSON.parse(result.output.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
  };
  const mlflowApi = async (method: string, route: string, body?: unknown) => {
    const res = await agent.request(`${TRACKING_URI}/api/2.0/mlflow/${route}`, {
      method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    expect({ route, status: res.status, body: res.status === 200 ? '' : res.body }).toEqual({ route, status: 200, body: '' });
    return JSON.parse(res.body);
  };

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
    await agent?.stop();
    await cp?.stop();
    if (synth) fs.rmSync(synth.dir, { recursive: true, force: true });
    if (volumes) fs.rmSync(volumes, { recursive: true, force: true });
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
    await cp.kubectlOk(['create', 'secret', 'generic', 'mlflow-postgres', '-n', NS, `--from-literal=password=${DB_PASSWORD}`]);
    await cp.kubectlOk(['create', 'secret', 'generic', 'drift-data-s3', '-n', NS, '--from-literal=access-key-id=AKIAE2ETEST', '--from-literal=secret-access-key=e2e-secret']);
    await cp.kubectlOk(['create', 'secret', 'generic', 'inference-log-s3', '-n', NS, '--from-literal=access-key-id=AKIAE2ELOG', '--from-literal=secret-access-key=e2e-log-secret']);
    // The promotion relay's: the registry's webhook encryption key (a Fernet key), the HMAC secret, a GitHub token (GitHub is not reached here)
    await cp.kubectlOk(['create', 'secret', 'generic', 'mlflow-webhooks', '-n', NS, `--from-literal=encryption-key=${Buffer.alloc(32, 5).toString('base64url')}=`]);
    await cp.kubectlOk(['create', 'secret', 'generic', 'promotion-webhook', '-n', NS, '--from-literal=hmac=e2e-promotion-hmac-0123456789']);
    await cp.kubectlOk(['create', 'secret', 'generic', 'promotion-github', '-n', NS, '--from-literal=token=ghp_e2e']);
    const pv = (name: string, size: string, claim: string) => {
      const dir = path.join(volumes, name);
      fs.mkdirSync(dir, { mode: 0o777 });
      fs.chmodSync(dir, 0o777);
      return {
        apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name },
        spec: {
          capacity: { storage: size }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: '',
          hostPath: { path: dir, type: 'Directory' }, claimRef: { namespace: NS, name: claim },
        },
      };
    };
    await cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pv('e2e-postgres', '20Gi', 'data-mlflow-postgres-0'), pv('e2e-artifacts', '50Gi', 'mlflow-artifacts')] }) });

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
    const v1 = (await mlflowApi('GET', 'model-versions/get?name=fraud-detector&version=1')).model_version;
    const v2 = (await mlflowApi('POST', 'model-versions/create', { name: 'fraud-detector', source: v1.source, run_id: v1.run_id, model_id: v1.model_id ?? /^models:\/(m-[0-9a-f]+)$/.exec(v1.source)?.[1] })).model_version;
    expect(v2.version).toBe('2');
    const deployment = await get(['deployment', 'fraud-detector']);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const args: string[] = deployment.spec.template.spec.containers[0].args;
    const at = args.indexOf('models:/fraud-detector@champion');
    expect(at).toBeGreaterThan(0);

    // WHEN the model-server container is changed to serve version 2, under a bounded load loop
    const load = { ok: 0, errors: [] as string[], stop: false };
    const loop = (async () => {
      const until = Date.now() + 480_000;
      while (!load.stop && Date.now() < until && load.ok + load.errors.length < 20_000) {
        try {
          const res = await predict();
          if (res.status === 200) load.ok++;
          else load.errors.push(`${res.status} ${res.body.slice(0, 200)}`);
        } catch (e) {
          load.errors.push((e as Error).message);
        }
      }
    })();
    let minAvailable = Infinity;
    const watch = setInterval(() => {
      void get(['deployment', 'fraud-detector']).then((d) => { minAvailable = Math.min(minAvailable, d.status.availableReplicas ?? 0); }, () => undefined);
    }, 1000);
    try {
      await cp.kubectlOk(['patch', 'deployment', 'fraud-detector', '-n', NS, '--type=json',
        '-p', JSON.stringify([{ op: 'replace', path: `/spec/template/spec/containers/0/args/${at}`, value: 'models:/fraud-detector/2' }])]);
      await cp.kubectlOk(['rollout', 'status', 'deployment/fraud-detector', '-n', NS, '--timeout=420s'], { timeoutMs: 450_000 });
      // Requests keep flowing while the old pods drain (preStop, proxy drain).
      await until('old pods gone', async () => (await get(['pods', '-l', 'app.kubernetes.io/name=fraud-detector'])).items.length === 2, 120_000);
    } finally {
      load.stop = true;
      clearInterval(watch);
      await loop;
    }

    // THEN not one request failed, and the Deployment never had fewer than 2 available replicas
    expect(load.errors).toEqual([]);
    expect(load.ok).toBeGreaterThan(10);
    expect(minAvailable).toBeGreaterThanOrEqual(2);
    // AND both pods now serve version 2
    const pods = await readyPods('app.kubernetes.io/name=fraud-detector');
    expect(pods.map((p: any) => p.spec.containers[0].args[at])).toEqual(['models:/fraud-detector/2', 'models:/fraud-detector/2']);
    // eslint-disable-next-line no-console
    console.log(`rolling update: ${load.ok} predictions, ${load.errors.length} errors, at least ${minAvailable} replicas available`);
  }));

  test('5: a drift Job with bad input exits 2 and the synthesized podFailurePolicy fails the Job at once', step('5 drift job, exit 2', async () => {
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

  test('6: with the registry down, the drift CronJob\'s Job exits 1 and the Job controller retries it up to backoffLimit', step('6 drift job, exit 1', async () => {
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

  test('7: teardown: kubectl delete of the stack stops every pod gracefully and the node removes their namespaces', step('7 teardown', async () => {
    const deleted = await cp.kubectl(['delete', '--wait=true', '--timeout=180s', ...synth.files.flatMap((f) => ['-f', f])], { timeoutMs: 200_000 });
    expect(deleted.code).toBe(0);
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
