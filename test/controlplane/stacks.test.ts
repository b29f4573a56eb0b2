/**
 * The control-plane tier: the reference stack and a stack using every option, as `cdk8s synth`
 * writes them, applied with `kubectl apply --server-side --validate=strict` to a real
 * kube-apiserver into namespaces that enforce the restricted Pod Security profile, then left
 * to the real controllers. What this proves and what it does not: test/controlplane/cluster.ts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ControlPlane, startControlPlane, waitFor } from './cluster';
import { FULL_OPTIONS_EXTERNAL_SECRETS, FULL_OPTIONS_NAMESPACE } from './full-options-stack';
import {
  applyStrict, byKind, cdk8sSynth, createRestrictedNamespace, crossObjectProblems, expectedReplicas, installCrds, liveObjects,
  sharedOwnership, SynthesizedStack,
} from './stack-checks';

/** A Deployment's ReplicaSets are `<name>-<pod-template-hash>`; another Deployment may be named `<name>-shadow`. */
const ownReplicaSet = (deployment: string) => new RegExp(`^${deployment.replace(/[.]/g, '\\.')}-[a-z0-9]+$`);

interface StackCase {
  readonly title: string;
  readonly namespace: string;
  /** `cdk8s synth --app`; undefined runs cdk8s.yaml's app (the reference stack). */
  readonly app?: string;
  /** The Secrets the stack's documentation says a team creates. */
  readonly externalSecrets: readonly string[];
}

const CASES: StackCase[] = [
  { title: 'the reference stack', namespace: 'mlops', externalSecrets: ['mlflow-postgres', 'drift-data-s3', 'inference-log-s3', 'mlflow-webhooks', 'promotion-webhook', 'promotion-github'] },
  {
    title: 'a stack with every option',
    namespace: FULL_OPTIONS_NAMESPACE,
    app: 'npx ts-node --transpile-only test/controlplane/full-options-stack.ts',
    externalSecrets: FULL_OPTIONS_EXTERNAL_SECRETS,
  },
];

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'mlops-cp-stacks' });
  await installCrds(cp);
  console.log(`control plane ready in ${cp.startupSeconds.toFixed(1)} s (${cp.server})`);
}, 300_000);

afterAll(async () => {
  if (!cp) return;
  const mem = cp.memory();
  console.log(
    `control plane peak RSS: ${mem.map((m) => `${m.component} ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB`).join(', ')}; ` +
      `total ${(mem.reduce((n, m) => n + m.peakRssBytes, 0) / 2 ** 20).toFixed(0)} MiB`,
  );
  await cp.stop();
});

test('the library\'s Kubernetes types are what this apiserver\'s OpenAPI document generates (scripts/import-k8s.js)', async () => {
  // GIVEN the /openapi/v2 document of the pinned kube-apiserver
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-openapi-'));
  try {
    const file = path.join(dir, 'openapi-v2.json');
    fs.writeFileSync(file, await cp.kubectlOk(['get', '--raw', '/openapi/v2'], { timeoutMs: 120_000 }));

    // WHEN the types are generated from it and compared with the committed src/imports/k8s.ts
    const run = spawnSync(process.execPath, ['scripts/import-k8s.js', '--openapi', file, '--check'], { cwd: path.resolve(__dirname, '..', '..'), encoding: 'utf8', timeout: 240_000 });

    // THEN they are the same (the importer also prints the name of what it imports)
    const output = `${run.stdout}${run.stderr}`.trim();
    expect({ status: run.status, last: output.split('\n').pop() })
      .toEqual({ status: 0, last: 'import-k8s: src/imports/k8s.ts is what Kubernetes v1.37.2\'s OpenAPI document generates' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);

describe.each(CASES)('$title on a real apiserver', ({ namespace, app, externalSecrets }) => {
  let stack: SynthesizedStack;
  let manifests: any[];

  beforeAll(async () => {
    stack = await cdk8sSynth(app);
    const yaml = require('js-yaml');
    manifests = stack.files.flatMap((f) => yaml.loadAll(fs.readFileSync(f, 'utf8'))).filter(Boolean);
    await createRestrictedNamespace(cp, namespace);
  }, 300_000);

  afterAll(() => {
    if (stack) fs.rmSync(stack.dir, { recursive: true, force: true });
  });

  test('strict server-side apply accepts every object with no error and no warning', async () => {
    // GIVEN the manifests cdk8s synth wrote, all in the restricted namespace
    expect(new Set(manifests.map((m) => m.metadata.namespace))).toEqual(new Set([namespace]));

    // WHEN they are applied as a user applies them
    const result = await applyStrict(cp, stack.files);

    // THEN kubectl exits 0 with nothing on stderr (PodSecurity `warn` would print there), and
    // every object is on the server
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const live = await liveObjects(cp, namespace);
    for (const m of manifests) {
      expect(live.some((o) => o.kind === m.kind && o.metadata.name === m.metadata.name)).toBe(true);
    }
  });

  test('the controllers create every Pod the workloads promise, each admitted under the restricted profile', async () => {
    // GIVEN the applied stack
    const deployments = manifests.filter((m) => m.kind === 'Deployment');
    const statefulSets = manifests.filter((m) => m.kind === 'StatefulSet');
    const cronJobs = manifests.filter((m) => m.kind === 'CronJob');
    expect(deployments.length).toBeGreaterThan(0);

    // WHEN a Job is created from each CronJob, as the runbook's rerun does, and the controllers work
    for (const cj of cronJobs) {
      await cp.kubectlOk(['create', 'job', `${cj.metadata.name}-manual`, `--from=cronjob/${cj.metadata.name}`, '-n', namespace]);
    }

    // THEN each Deployment has a ReplicaSet with its Pods (replicas, or the HPA's minimum)
    let live: any[] = [];
    const shortfalls = () => {
      const out: string[] = [];
      for (const d of byKind(live, 'Deployment').filter((o) => deployments.some((m) => m.metadata.name === o.metadata.name))) {
        const want = expectedReplicas(d, live);
        const have = byKind(live, 'Pod').filter((p) => p.metadata.ownerReferences?.some((r: any) => r.kind === 'ReplicaSet' && ownReplicaSet(d.metadata.name).test(r.name))).length;
        if (have !== want) out.push(`Deployment ${d.metadata.name}: ${have} of ${want} Pods`);
      }
      for (const s of statefulSets) {
        const pod = byKind(live, 'Pod').find((p) => p.metadata.name === `${s.metadata.name}-0`);
        if (!pod) out.push(`StatefulSet ${s.metadata.name}: no Pod ${s.metadata.name}-0`);
        for (const t of s.spec.volumeClaimTemplates ?? []) {
          const claim = `${t.metadata.name}-${s.metadata.name}-0`;
          if (!byKind(live, 'PersistentVolumeClaim').some((c) => c.metadata.name === claim)) out.push(`StatefulSet ${s.metadata.name}: no PVC ${claim}`);
        }
      }
      for (const cj of cronJobs) {
        const jobSpec = cj.spec.jobTemplate.spec;
        const want = jobSpec.parallelism ?? 1;
        const have = byKind(live, 'Pod').filter((p) => p.metadata.labels?.['batch.kubernetes.io/job-name'] === `${cj.metadata.name}-manual`).length;
        if (have !== want) out.push(`CronJob ${cj.metadata.name}: ${have} of ${want} Pods of its Job`);
      }
      return out;
    };
    await waitFor(async () => {
      live = await liveObjects(cp, namespace);
      return shortfalls().length === 0;
    }, 90_000, `the controllers' Pods`).catch((e) => {
      throw new Error(`${e.message}\n${shortfalls().join('\n')}`);
    });

    // and no controller was refused a Pod (a pod template that failed admission shows up here as
    // FailedCreate) or failed otherwise; what a cluster without nodes and without a volume
    // provisioner must say is not counted: FailedScheduling of every Pod, FailedBinding of
    // every claim
    const events = (await cp.getJson(['events', '-n', namespace])).items;
    const expectedHere = new Set(['FailedScheduling', 'FailedBinding']);
    const failed = events.filter((e: any) => /^Failed/.test(e.reason) && !expectedHere.has(e.reason));
    expect(failed.map((e: any) => `${e.involvedObject.kind} ${e.involvedObject.name}: ${e.reason}: ${e.message}`)).toEqual([]);
    // every Pod waits for a node, nothing else (this cluster has none)
    const unscheduled = byKind(live, 'Pod').filter((p) => p.status.conditions?.some((c: any) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'));
    expect(unscheduled.length).toBe(byKind(live, 'Pod').length);
  });

  test('the objects agree with each other on the live cluster', async () => {
    // GIVEN the live objects, with the controllers' Pods (previous test)
    const live = await liveObjects(cp, namespace);

    // WHEN their selectors, ports and references are checked against what exists
    const problems = crossObjectProblems(live, externalSecrets);

    // THEN nothing is missing or mismatched
    expect(problems).toEqual([]);
    // and the controllers read them the same way: every PodDisruptionBudget counts its Pods,
    // every HPA reached its target's scale subresource
    await waitFor(async () => {
      const pdbs = byKind(await liveObjects(cp, namespace), 'PodDisruptionBudget');
      return pdbs.every((p) => (p.status?.expectedPods ?? 0) > 0);
    }, 60_000, 'every PodDisruptionBudget to count its Pods');
    await waitFor(async () => {
      const hpas = byKind(await liveObjects(cp, namespace), 'HorizontalPodAutoscaler');
      return hpas.every((h) => h.status?.conditions?.some((c: any) => c.type === 'AbleToScale' && c.status === 'True'));
    }, 60_000, 'every HPA to be AbleToScale');
  });

  test('a second apply changes nothing: no field owned twice, no drift from server defaults', async () => {
    // GIVEN the applied stack after the controllers have worked on it
    const before = await liveObjects(cp, namespace);

    // WHEN the same manifests are diffed and applied again, without --force-conflicts
    const diff = await cp.kubectl(['diff', '--server-side', '--field-manager=mlops-constructs-test', ...stack.files.flatMap((f) => ['-f', f])]);
    const again = await applyStrict(cp, stack.files);
    const after = await liveObjects(cp, namespace);

    // THEN the server sees no difference, the apply has no conflict, no object's spec moved
    // (generation), and no field the manifests set is also owned by a controller
    expect({ code: diff.code, diff: diff.stdout, stderr: diff.stderr }).toEqual({ code: 0, diff: '', stderr: '' });
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
    for (const m of manifests) {
      const find = (set: any[]) => set.find((o) => o.kind === m.kind && o.metadata.name === m.metadata.name);
      expect(`${m.kind} ${m.metadata.name} generation ${find(after).metadata.generation}`).toBe(`${m.kind} ${m.metadata.name} generation ${find(before).metadata.generation}`);
      expect(`${m.kind} ${m.metadata.name}: ${sharedOwnership(find(after)).join(', ')}`).toBe(`${m.kind} ${m.metadata.name}: `);
    }
  });
});
