// `pulumi up` of the root Pulumi.yaml onto the node tier's cluster: the real Pulumi engine
// (CLI, language host, Kubernetes provider: test/pulumi-engine/engine.ts) deploys the reference
// stack onto the real control plane whose node is the node agent, so the pods the provider
// waits for really run (PostgreSQL, MLflow, the model server behind the metrics proxy, the
// shadow challenger, the Pushgateway, the promotion relay). The Pulumi engine tier
// (test/pulumi-engine/) runs the same program against a status-only node, where nothing runs.
//
// A team's first deployment: `pulumi up` is started on an empty registry, so the model-server
// pods cannot load fraud-detector@champion and crash; while the provider waits for them, the
// training pipeline registers the model, the crashing pods are deleted (as an operator does
// instead of waiting out the back-off), and `pulumi up` completes when the ReplicaSet's new pods
// are Ready. Then a promotion as the CI workflow runs it (`pulumi config set mlops:modelVersion`
// and `pulumi up`) rolls the model server with no failed request, and `pulumi destroy` stops
// every pod. What the test adds beside the program is in stack-fixtures.ts.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ComponentExited, ControlPlane, startControlPlane, waitFor } from '../controlplane/cluster';
import { createRestrictedNamespace, installCrds } from '../controlplane/stack-checks';
import { PulumiResult, PulumiWorkspace, unexpectedStderr } from '../pulumi-engine/engine';
import { NodeAgent } from './node-agent';
import {
  NS, TRACKING_URI, createExternalSecrets, createVolumes, loadLoop, mlflowApi, predict, readyPods, registerSecondVersion, train,
} from './stack-fixtures';

describe('pulumi up of Pulumi.yaml onto a real control plane whose node runs the pods', () => {
  let cp: ControlPlane;
  let agent: NodeAgent;
  let ws: PulumiWorkspace;
  let volumes: string;
  const timings: [string, number][] = [];

  const until = (what: string, check: () => Promise<boolean>, ms: number) => waitFor(async () => {
    cp.assertRunning();
    return check();
  }, ms, `${what} (node agent errors: ${agent.errors.slice(-3).join('; ') || 'none'})`);
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      timings.push([what, Date.now() - t0]);
    }
  };

  beforeAll(async () => {
    const t0 = Date.now();
    cp = await startControlPlane({ name: 'mlops-pulumi-node' });
    await installCrds(cp);
    // 16 CPUs, as in reference-stack.test.ts: the stack requests more cores than this machine has.
    agent = await NodeAgent.start(cp, { capacity: { cpu: '16' }, clientNamespace: NS });
    await createRestrictedNamespace(cp, NS);
    await createExternalSecrets(cp);
    volumes = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-pulumi-pv-'));
    fs.chmodSync(volumes, 0o755);
    await createVolumes(cp, volumes);
    ws = await PulumiWorkspace.create({ kubeconfig: cp.kubeconfig });
    timings.push(['control plane, node, workspace', Date.now() - t0]);
  }, 600_000);

  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(['pulumi up onto the node agent:', ...timings.map(([what, ms]) => `  ${what}: ${(ms / 1000).toFixed(1)} s`)].join('\n'));
    ws?.remove();
    await agent?.stop();
    await cp?.stop();
    if (volumes) fs.rmSync(volumes, { recursive: true, force: true });
  });

  test('the first pulumi up waits for the real pods; it completes once the model is trained and a prediction comes back', async () => {
    // GIVEN pulumi up running on the empty namespace
    const up = ws.run(['up', '--yes'], { timeoutMs: 900_000 });
    let upDone = false;
    void up.finally(() => { upDone = true; });

    // WHEN the registry it deployed is Ready (PostgreSQL on its claim, the migration, the server)
    await timed('registry Ready during pulumi up', () => until('mlflow Ready', async () => {
      if (upDone) throw new ComponentExited(`pulumi up ended before the registry was Ready:\n${(await up).stdout.slice(-3000)}\n${(await up).stderr.slice(-2000)}`);
      return (await readyPods(cp, 'app.kubernetes.io/name=mlflow')).length === 1;
    }, 420_000));
    // AND the training pipeline registers fraud-detector@champion, which is also the challenger
    const training = await timed('training', () => train(agent));
    expect(training.model_version).toBe('1');
    await mlflowApi(agent, 'POST', 'registered-models/alias', { name: 'fraud-detector', alias: 'challenger', version: '1' });
    // AND the model-server pods that crashed on the empty registry are replaced
    expect(upDone).toBe(false);
    await cp.kubectlOk(['delete', 'pods', '-n', NS, '-l', 'app.kubernetes.io/name in (fraud-detector, fraud-detector-shadow)', '--wait=false']);

    // THEN pulumi up completes, with every Deployment of the stack Ready as the provider waited for it
    const result = await timed('pulumi up (first)', () => up);
    expect({ code: result.code, stderr: unexpectedStderr(result), tail: result.code === 0 ? '' : result.stdout.slice(-3000) }).toEqual({ code: 0, stderr: [], tail: '' });
    const deployments = (await cp.getJson(['deployments', '-n', NS])).items;
    expect(deployments.map((d: any) => d.metadata.name).sort()).toEqual(['fraud-detector', 'fraud-detector-shadow', 'mlflow', 'promotion', 'pushgateway']);
    for (const d of deployments) expect(`${d.metadata.name} ready ${d.status.readyReplicas}`).toBe(`${d.metadata.name} ready ${d.spec.replicas}`);
    const postgres = await cp.getJson(['statefulset', 'mlflow-postgres', '-n', NS]);
    expect(postgres.status.readyReplicas).toBe(1);
    // AND the pods' containers really run: the model server answers through the Service and the proxy counts it
    await until('a prediction through the fraud-detector Service', async () => (await predict(agent).then((r) => r.status, () => 0)) === 200, 60_000);
    const res = await predict(agent);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).predictions.slice(0, 2)).toEqual([0, 1]);
    const [pod] = await readyPods(cp, 'app.kubernetes.io/name=fraud-detector');
    expect((await agent.request(`http://${pod.status.podIP}:9090/metrics`)).body).toMatch(/^mlops_inference_requests_total\{[^}]*code="200"/m);
    expect((await agent.request(`${TRACKING_URI}/health`)).body).toBe('OK');
  });

  test('a promotion as the CI workflow runs it (config set modelVersion, pulumi up) rolls the real pods with no failed request', async () => {
    // GIVEN version 2 in the registry and the config the promote job sets
    expect(await registerSecondVersion(agent)).toBe('2');
    await ws.ok(['config', 'set', 'mlops:modelName', 'fraud-detector']);
    await ws.ok(['config', 'set', 'mlops:modelVersion', '2']);
    const before = await readyPods(cp, 'app.kubernetes.io/name=fraud-detector');

    // WHEN pulumi up runs under a load loop of predictions
    const load = loadLoop(agent, 600_000);
    let result: PulumiResult;
    let seen: { ok: number; errors: string[] };
    try {
      result = await timed('pulumi up (promotion)', () => ws.run(['up', '--yes'], { timeoutMs: 900_000 }));
      // Requests keep flowing while the old pods drain (preStop, proxy drain).
      await until('the old pods gone', async () => (await cp.getJson(['pods', '-n', NS, '-l', 'app.kubernetes.io/name=fraud-detector'])).items.length === 2, 120_000);
    } finally {
      seen = await load.stop();
    }

    // THEN it succeeded, both pods are new and serve version 2, and no request failed
    expect({ code: result.code, stderr: unexpectedStderr(result) }).toEqual({ code: 0, stderr: [] });
    const after = await readyPods(cp, 'app.kubernetes.io/name=fraud-detector');
    expect(after).toHaveLength(2);
    expect(after.map((p: any) => p.metadata.name).filter((n: string) => before.some((b: any) => b.metadata.name === n))).toEqual([]);
    for (const p of after) expect(p.spec.containers[0].args).toContain('models:/fraud-detector/2');
    expect(seen.errors).toEqual([]);
    expect(seen.ok).toBeGreaterThan(10);
    // eslint-disable-next-line no-console
    console.log(`promotion rollout: ${seen.ok} predictions, ${seen.errors.length} errors`);
  });

  test('pulumi destroy stops every pod of the stack and the node removes their namespaces', async () => {
    const destroy = await timed('pulumi destroy', () => ws.run(['destroy', '--yes'], { timeoutMs: 600_000 }));
    expect({ code: destroy.code, stderr: unexpectedStderr(destroy) }).toEqual({ code: 0, stderr: [] });
    await until('no pods left', async () => (await cp.getJson(['pods', '-n', NS])).items.length === 0, 180_000);
    expect((await ws.resources()).filter((r) => r.type.startsWith('kubernetes:'))).toEqual([]);
    const { execFileSync } = await import('child_process');
    await until('pod namespaces removed', async () => !execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`${agent.netns}-p`), 30_000);
  });
});
