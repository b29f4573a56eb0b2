/**
 * The Pulumi engine tier: the root Pulumi.yaml deployed the way users run it (`pulumi preview`,
 * `pulumi up`, `refresh`, `destroy` in the project directory) by the real CLI, language host and
 * Kubernetes provider (test/pulumi-engine/engine.ts), onto the real control plane of
 * test/controlplane/cluster.ts, into a namespace that enforces the restricted Pod Security
 * profile.
 *
 * What differs from a cluster, written down rather than hidden:
 * - The node is a status-only node (status-node.ts): Pods become Running and ready the
 *   moment they are scheduled, and nothing runs their containers. The provider's waiting
 *   (Deployments and StatefulSets ready, Services with ready endpoints) is exercised against
 *   the real controllers; whether the programs themselves come up is the rehearsal tier's.
 * - Volumes are pre-provisioned PersistentVolumes bound by the real PV controller (there is
 *   no storage provisioner), one per claim, reserved for it with a claimRef.
 * - The language host is the one of sdk v3.68.0, older than the CLI; engine.ts says how
 *   Pulumi.yaml's runtime options reach the program all the same.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { typeToken } from '../../src/pulumi';
import { ControlPlane, startControlPlane, waitFor } from '../controlplane/cluster';
import { applyStrict, cdk8sSynth, createRestrictedNamespace, installCrds, liveObjects, SynthesizedStack } from '../controlplane/stack-checks';
import { KUBERNETES_PROVIDER_VERSION, PROJECT_DIR, PULUMI_VERSION, PulumiWorkspace, unexpectedStderr } from './engine';
import { StatusNode } from './status-node';

const NAMESPACE = 'mlops';
const key = (o: { kind: string; metadata: { name: string } }) => `${o.kind} ${o.metadata.name}`;

let cp: ControlPlane;
let node: StatusNode;
let ws: PulumiWorkspace;
let synth: SynthesizedStack;
let manifests: any[];
/** The Secrets a team creates before the first `pulumi up` (createExternalSecrets). */
let externalSecrets: string[] = [];
/** The stack's objects as `pulumi up` left them, comparable (see comparable()). */
let deployedByPulumi: Map<string, any>;

beforeAll(async () => {
  cp = await startControlPlane({ name: 'mlops-pulumi' });
  node = new StatusNode(cp.kubeconfig);
  await Promise.all([installCrds(cp), node.start()]);
  synth = await cdk8sSynth();
  manifests = synth.files.flatMap((f) => yaml.loadAll(fs.readFileSync(f, 'utf8')) as any[]).filter(Boolean);
  await createRestrictedNamespace(cp, NAMESPACE);
  await createExternalSecrets(cp, manifests);
  await provisionVolumes(cp, manifests);
  ws = await PulumiWorkspace.create({ kubeconfig: cp.kubeconfig });
}, 600_000);

afterAll(async () => {
  if (ws) {
    console.log(`pulumi commands (wall s): ${ws.timings.map((t) => `${t.command} ${t.seconds.toFixed(1)}`).join(', ')}`);
    ws.remove();
  }
  node?.stop();
  if (synth) fs.rmSync(synth.dir, { recursive: true, force: true });
  await cp?.stop();
});

describe('the reference stack of Pulumi.yaml, deployed by the real engine', () => {
  test('pulumi preview of a fresh stack with no config set succeeds and lists every object', async () => {
    // GIVEN a new stack with no config value set
    expect(fs.readFileSync(ws.configFile, 'utf8')).not.toMatch(/^config:/m);
    // WHEN it is previewed
    const { result, preview } = await ws.previewJson();
    // THEN the preview succeeds with one create per synthesized object, as its resource type
    expect(result.code).toBe(0);
    const creates = preview.steps.filter((s: any) => s.op === 'create' && urnType(s.urn).startsWith('kubernetes:'));
    expect(creates.map((s: any) => `${urnType(s.urn)} ${urnName(s.urn)}`).sort()).toEqual(
      manifests.map((m) => `${typeToken(m.apiVersion, m.kind)} ${m.metadata.namespace}/${m.metadata.name}`).sort(),
    );
    // and nothing reached the cluster
    expect(stackObjects(await liveObjects(cp, NAMESPACE))).toEqual([]);
  });

  test('pulumi up creates every object on the real apiserver, in the restricted namespace', async () => {
    // WHEN
    const up = await ws.run(['up', '--yes']);
    // THEN
    expect({ code: up.code, stderr: unexpectedStderr(up) }).toEqual({ code: 0, stderr: [] });
    const live = stackObjects(await liveObjects(cp, NAMESPACE));
    expect(live.map(key).sort()).toEqual(manifests.map(key).sort());
    // every workload is rolled out as the provider waited for it
    for (const d of live.filter((o) => o.kind === 'Deployment')) expect(`${key(d)} ready ${d.status.readyReplicas}`).toBe(`${key(d)} ready ${d.status.replicas}`);
    deployedByPulumi = new Map(live.map((o) => [key(o), comparable(o)]));
    // and the checkpoint holds each object once, with the provider of the program
    const checkpoint = (await ws.resources()).filter((r) => r.type.startsWith('kubernetes:') && !r.type.startsWith('pulumi:providers:'));
    expect(checkpoint).toHaveLength(manifests.length);
    for (const r of checkpoint) expect(r.provider).toMatch(/::pulumi:providers:kubernetes::cluster::/);
  });

  test('a second pulumi preview shows no changes', async () => {
    const again = await ws.run(['preview', '--expect-no-changes']);
    expect({ code: again.code, stderr: unexpectedStderr(again) }).toEqual({ code: 0, stderr: [] });
  });

  test('setting the promoted version changes exactly the model server Deployment and the drift job\'s reference, and pulumi up rolls it', async () => {
    // GIVEN the config a model promotion sets
    await ws.ok(['config', 'set', 'mlops:modelName', 'fraud-detector']);
    await ws.ok(['config', 'set', 'mlops:modelVersion', '7']);
    const before = (await cp.getJson(['deployment', 'fraud-detector', '-n', NAMESPACE])).metadata.generation;
    // WHEN it is previewed
    const { result, preview } = await ws.previewJson(['--diff']);
    // THEN exactly two objects change, in place
    expect(result.code).toBe(0);
    const changed = preview.steps.filter((s: any) => s.op !== 'same');
    expect(changed.map((s: any) => `${s.op} ${urnType(s.urn)} ${urnName(s.urn)}`).sort()).toEqual([
      'update kubernetes:apps/v1:Deployment mlops/fraud-detector',
      'update kubernetes:batch/v1:CronJob mlops/fraud-detector-drift',
    ]);
    // WHEN it is applied
    const up = await ws.run(['up', '--yes']);
    // THEN the Deployment rolled to a new ReplicaSet serving version 7, and the check reads version 7
    expect({ code: up.code, stderr: unexpectedStderr(up) }).toEqual({ code: 0, stderr: [] });
    const deployment = await cp.getJson(['deployment', 'fraud-detector', '-n', NAMESPACE]);
    expect(deployment.metadata.generation).toBe(before + 1);
    expect(JSON.stringify(deployment.spec.template.spec.containers)).toContain('models:/fraud-detector/7');
    // The provider returns once the new ReplicaSet's pods are all updated and ready; the old
    // ReplicaSet's last pod may still be scaling down then, which the Deployment controller
    // finishes on its own.
    expect(deployment.status).toMatchObject({ observedGeneration: deployment.metadata.generation, updatedReplicas: deployment.spec.replicas });
    expect(deployment.status.readyReplicas).toBeGreaterThanOrEqual(deployment.spec.replicas);
    await waitFor(async () => {
      const { status, spec } = await cp.getJson(['deployment', 'fraud-detector', '-n', NAMESPACE]);
      return status.replicas === spec.replicas && status.updatedReplicas === spec.replicas && status.readyReplicas === spec.replicas;
    }, 60_000, 'the old ReplicaSet of fraud-detector to scale down');
    const cronJob = await cp.getJson(['cronjob', 'fraud-detector-drift', '-n', NAMESPACE]);
    expect(JSON.stringify(cronJob.spec.jobTemplate.spec.template.spec)).toContain('models:/fraud-detector/7');
    // and everything else is as the first up left it
    const live = stackObjects(await liveObjects(cp, NAMESPACE));
    const moved = live.filter((o) => JSON.stringify(comparable(o)) !== JSON.stringify(deployedByPulumi.get(key(o)))).map(key);
    expect(moved.sort()).toEqual(['CronJob fraud-detector-drift', 'Deployment fraud-detector']);
  });

  test('pulumi refresh finds no drift', async () => {
    const refresh = await ws.run(['refresh', '--yes', '--expect-no-changes']);
    expect({ code: refresh.code, stderr: unexpectedStderr(refresh) }).toEqual({ code: 0, stderr: [] });
  });

  test('pulumi destroy leaves no object of the stack behind', async () => {
    // WHEN
    const destroy = await ws.run(['destroy', '--yes']);
    // THEN no object of the stack, no Pod, and an empty checkpoint
    expect({ code: destroy.code, stderr: unexpectedStderr(destroy) }).toEqual({ code: 0, stderr: [] });
    await waitFor(async () => (await cp.getJson(['pods', '-n', NAMESPACE])).items.length === 0, 60_000, 'the Pods of the stack to go');
    const left = await liveObjects(cp, NAMESPACE);
    expect(stackObjects(left)).toEqual([]);
    // What stays is what Kubernetes keeps by design: the database's claim, whose StatefulSet
    // says whenDeleted: Retain (kubectl delete of the manifests keeps it too).
    const notOfTheStack = new Set([...externalSecrets.map((n) => `Secret ${n}`), 'ServiceAccount default', 'ConfigMap kube-root-ca.crt']);
    expect(left.map(key).filter((k) => !notOfTheStack.has(k))).toEqual(['PersistentVolumeClaim data-mlflow-postgres-0']);
    expect((await ws.resources()).filter((r) => r.type.startsWith('kubernetes:'))).toEqual([]);
  });

  test('the objects pulumi up created equal what kubectl apply --server-side of cdk8s synth creates', async () => {
    // GIVEN the emptied namespace, with the volumes provisioned again
    await cp.kubectlOk(['delete', 'pvc', 'data-mlflow-postgres-0', '-n', NAMESPACE, '--wait']);
    await provisionVolumes(cp, manifests);
    // WHEN the manifests of cdk8s synth are applied as a GitOps user applies them
    const applied = await applyStrict(cp, synth.files);
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    // THEN every object equals the one pulumi up created (server-set fields aside)
    const live = stackObjects(await liveObjects(cp, NAMESPACE));
    expect(live.map(key).sort()).toEqual([...deployedByPulumi.keys()].sort());
    for (const o of live) expect(comparable(o)).toEqual(deployedByPulumi.get(key(o)));
    // cleanup for the next test, as a GitOps user removes a stack
    await cp.kubectlOk(['delete', '--wait', ...synth.files.flatMap((f) => ['-f', f])]);
    await cp.kubectlOk(['delete', 'pvc', '--all', '-n', NAMESPACE, '--wait']);
    await waitFor(async () => (await cp.getJson(['pods', '-n', NAMESPACE])).items.length === 0, 60_000, 'the Pods to go');
  });
});

describe('failures', () => {
  test('fails pulumi up when the apiserver refuses an object, with its name and the apiserver\'s message; the state stays consistent and the next up completes', async () => {
    // GIVEN an admission policy that refuses the model server's Deployment
    await provisionVolumes(cp, manifests);
    await cp.kubectlOk(['apply', '--server-side', '-f', '-'], { input: DENY_POLICY.map((o) => JSON.stringify(o)).join('\n') });
    const probe = ['create', 'deployment', 'fraud-detector', '--image=registry.invalid/probe:1', '-n', NAMESPACE, '--dry-run=server'];
    await waitFor(async () => (await cp.kubectl(probe)).stderr.includes(DENY_MESSAGE), 60_000, 'the admission policy to take effect');

    // WHEN the stack is deployed as the CI action deploys it (no preview first)
    const failed = await ws.run(['up', '--yes', '--skip-preview']);

    // THEN the update fails, naming the object and quoting the apiserver
    expect(failed.code).not.toBe(0);
    const output = failed.stdout + failed.stderr;
    expect(output).toMatch(/kubernetes:apps\/v1:Deployment.*mlops\/fraud-detector/);
    expect(output).toContain(DENY_MESSAGE);
    // and the checkpoint holds exactly the objects that exist (the refused one in neither)
    const live = stackObjects(await liveObjects(cp, NAMESPACE)).map(key).sort();
    const recorded = (await ws.resources()).filter((r) => r.type.startsWith('kubernetes:')).map((r) => `${urnType(r.urn).split(':').pop()} ${urnName(r.urn).split('/').pop()}`).sort();
    expect(recorded).toEqual(live);
    expect(live).not.toContain('Deployment fraud-detector');
    expect(live.length).toBeGreaterThan(0);

    // WHEN the policy is lifted and the same command runs again
    await cp.kubectlOk(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', DENY_POLICY[0].metadata.name, '--wait']);
    await waitFor(async () => (await cp.kubectl(probe)).code === 0, 60_000, 'the admission policy to be lifted');
    const retried = await ws.run(['up', '--yes', '--skip-preview']);

    // THEN the stack is complete and in step with its state
    expect({ code: retried.code, stderr: unexpectedStderr(retried) }).toEqual({ code: 0, stderr: [] });
    expect(stackObjects(await liveObjects(cp, NAMESPACE)).map(key).sort()).toEqual(manifests.map(key).sort());
    const settled = await ws.run(['preview', '--expect-no-changes']);
    expect({ code: settled.code, stderr: unexpectedStderr(settled) }).toEqual({ code: 0, stderr: [] });
    await destroyAndClean(ws);
  });

  test('fails when the installed provider is not the version the @pulumi/kubernetes SDK asks for, instead of fetching that one', async () => {
    // GIVEN a workspace whose only kubernetes plugin is the built provider installed as another version
    const other = await PulumiWorkspace.create({ kubeconfig: cp.kubeconfig, providerVersion: 'v4.24.0' });
    try {
      // WHEN the stack is previewed
      const preview = await other.run(['preview']);
      // THEN the engine names the version it needs, and nothing was downloaded
      expect(preview.code).not.toBe(0);
      expect(preview.stdout + preview.stderr).toContain(`no resource plugin 'pulumi-resource-kubernetes' found in the workspace at version ${KUBERNETES_PROVIDER_VERSION}`);
      const plugins = JSON.parse((await other.ok(['plugin', 'ls', '--json'])).stdout);
      expect(plugins.map((p: any) => `${p.kind} ${p.name} ${p.version}`)).toEqual(['resource kubernetes 4.24.0']);
    } finally {
      other.remove();
    }
  });

  test('fails before anything is applied when two components would create the same Kubernetes object, naming both', async () => {
    // GIVEN a project whose program declares the ModelService fraud-detector twice, under two Pulumi names
    await createRestrictedNamespace(cp, DUPLICATE_NAMESPACE);
    const dup = await PulumiWorkspace.create({ kubeconfig: cp.kubeconfig, projectDir: path.join(__dirname, 'fixtures', 'duplicate-object') });
    try {
      // WHEN it is deployed
      const up = await dup.run(['up', '--yes']);
      // THEN the program fails with both components and the object in the message
      expect(up.code).not.toBe(0);
      expect(up.stdout + up.stderr).toMatch(/mlops:index:ModelService fraud-detector-copy and mlops:index:ModelService fraud-detector would both create \w+ mlops-duplicate\/fraud-detector/);
      // and nothing was applied, nothing recorded
      const live = (await liveObjects(cp, DUPLICATE_NAMESPACE)).filter((o) => !['default', 'kube-root-ca.crt'].includes(o.metadata.name));
      expect(live.map(key)).toEqual([]);
      expect((await dup.resources()).filter((r) => r.type.startsWith('kubernetes:'))).toEqual([]);
    } finally {
      dup.remove();
    }
  });
});

describe('the Pulumi steps of the example CI workflow (examples/ci/mlops-stack.yml), without GitHub', () => {
  // What runs: each job's Kubeconfig step and the promotion's payload check, as bash scripts
  // with the runner's files (RUNNER_TEMP, GITHUB_ENV, GITHUB_OUTPUT); and for each
  // pulumi/actions step, the CLI commands the action runs for its inputs (`up` runs
  // `pulumi up --yes --skip-preview --message`, `config-map` sets the stack's config first), with
  // the workflow's env, the local backend as PULUMI_BACKEND_URL and the same CLI version.
  // What does not: GitHub itself (triggers, environments, concurrency, the PR comment), the
  // action's download of the CLI, npm ci/npm test/cdk8s synth (the unit tier and the synth above).
  const workflow = yaml.load(fs.readFileSync(path.join(PROJECT_DIR, 'examples', 'ci', 'mlops-stack.yml'), 'utf8')) as any;
  const vars = { PULUMI_STACK: 'organization/mlops/ci' };
  let ci: PulumiWorkspace;
  let runner: string;

  beforeAll(async () => {
    runner = fs.mkdtempSync(path.join(require('os').tmpdir(), 'mlops-ci-runner-'));
    await provisionVolumes(cp, manifests);
  });

  afterAll(() => {
    ci?.remove();
    if (runner) fs.rmSync(runner, { recursive: true, force: true });
  });

  /** Runs a `run:` script of the workflow as the runner does (bash -e), returning what it wrote to GITHUB_ENV and GITHUB_OUTPUT. */
  function runStep(step: any, env: Record<string, string>): { code: number; env: Record<string, string>; outputs: Record<string, string>; stdout: string } {
    const files = { GITHUB_ENV: path.join(runner, 'env'), GITHUB_OUTPUT: path.join(runner, 'output') };
    for (const f of Object.values(files)) fs.writeFileSync(f, '');
    const r = require('child_process').spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run], {
      env: { PATH: process.env.PATH, RUNNER_TEMP: runner, ...files, ...env }, encoding: 'utf8',
    });
    const read = (f: string) => Object.fromEntries(fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    return { code: r.status, env: read(files.GITHUB_ENV), outputs: read(files.GITHUB_OUTPUT), stdout: r.stdout + r.stderr };
  }

  const stepOf = (job: string, test: (s: any) => boolean) => workflow.jobs[job].steps.find(test);
  const pulumiStep = (job: string) => stepOf(job, (s) => String(s.uses ?? '').startsWith('pulumi/actions@'));

  test('the deploy job: Kubeconfig step, then pulumi up of the stack named by PULUMI_STACK', async () => {
    // GIVEN the job's steps, the repository variables and secrets of a local setup
    const kubeconfigStep = runStep(stepOf('deploy', (s) => s.name === 'Kubeconfig'), { KUBECONFIG_CONTENT: fs.readFileSync(cp.kubeconfig, 'utf8') });
    expect(kubeconfigStep.code).toBe(0);
    const action = pulumiStep('deploy').with;
    expect(action['pulumi-version']).toBe(PULUMI_VERSION.slice(1));
    expect(action['stack-name']).toBe('${{ env.PULUMI_STACK }}');
    expect(workflow.env.PULUMI_STACK).toBe('${{ vars.PULUMI_STACK }}');
    ci = await PulumiWorkspace.create({ kubeconfig: kubeconfigStep.env.KUBECONFIG, stack: vars.PULUMI_STACK });
    // WHEN the action's command runs
    expect(action.command).toBe('up');
    const up = await ci.run(['up', '--yes', '--skip-preview', '--message', 'ci-test-sha']);
    // THEN the stack is deployed
    expect({ code: up.code, stderr: unexpectedStderr(up) }).toEqual({ code: 0, stderr: [] });
    expect(stackObjects(await liveObjects(cp, NAMESPACE)).map(key).sort()).toEqual(manifests.map(key).sort());
  });

  test('the promote job: the payload check, then pulumi up with the config-map, which rolls the model server to the version', async () => {
    // GIVEN a model-promoted payload for the served model
    const read = runStep(stepOf('promote', (s) => s.id === 'promotion'), { MODEL: 'fraud-detector', VERSION: '8', ALIAS: 'champion', SERVED_MODEL: workflow.env.SERVED_MODEL });
    expect(read.outputs).toEqual({ deploy: 'true', model: 'fraud-detector', version: '8' });
    const action = pulumiStep('promote').with;
    const configMap = yaml.load(String(action['config-map'])
      .replace('${{ steps.promotion.outputs.model }}', read.outputs.model)
      .replace('${{ steps.promotion.outputs.version }}', read.outputs.version)) as Record<string, { value: string; secret: boolean }>;
    // WHEN the action sets the config and runs up
    await ci.ok(['config', 'set-all', ...Object.entries(configMap).flatMap(([k, v]) => [v.secret ? '--secret' : '--plaintext', `${k}=${v.value}`])]);
    const message = String(action.message).replace('${{ steps.promotion.outputs.model }}', read.outputs.model).replace('${{ steps.promotion.outputs.version }}', read.outputs.version);
    const up = await ci.run(['up', '--yes', '--skip-preview', '--message', message]);
    // THEN the model server serves version 8
    expect({ code: up.code, stderr: unexpectedStderr(up) }).toEqual({ code: 0, stderr: [] });
    const deployment = await cp.getJson(['deployment', 'fraud-detector', '-n', NAMESPACE]);
    expect(JSON.stringify(deployment.spec.template.spec.containers)).toContain('models:/fraud-detector/8');
    expect(deployment.status.updatedReplicas).toBe(deployment.status.replicas);
    // and the update history carries the step's message
    const history = JSON.parse((await ci.ok(['stack', 'history', '--json'])).stdout);
    expect(history[0].message).toBe('promote fraud-detector version 8');
  });

  test('a pull request\'s preview, in a fresh checkout without the promotion\'s config, shows the move back to the alias', async () => {
    // GIVEN the stack config as committed (the pin lived in the promote run's config only)
    await ci.ok(['config', 'rm', 'mlops:modelName']);
    await ci.ok(['config', 'rm', 'mlops:modelVersion']);
    expect(pulumiStep('preview').with).toMatchObject({ command: 'preview', diff: true });
    // WHEN the preview job's command runs
    const { result, preview } = await ci.previewJson(['--diff']);
    // THEN exactly the model server and its drift check go back to the champion alias
    expect(result.code).toBe(0);
    expect(preview.steps.filter((s: any) => s.op !== 'same').map((s: any) => `${s.op} ${urnName(s.urn)}`).sort()).toEqual(['update mlops/fraud-detector', 'update mlops/fraud-detector-drift']);
    await destroyAndClean(ci);
  });
});

const DUPLICATE_NAMESPACE = 'mlops-duplicate';
const DENY_MESSAGE = 'the pulumi engine test refuses Deployments named fraud-detector';
const DENY_POLICY = [
  {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: 'pulumi-engine-test-deny' },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] }] },
      validations: [{ expression: "object.metadata.name != 'fraud-detector'", message: DENY_MESSAGE }],
    },
  },
  {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: 'pulumi-engine-test-deny' },
    spec: { policyName: 'pulumi-engine-test-deny', validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } } } },
  },
];

/** `pulumi destroy`, then what Kubernetes keeps by design (the database's claim) and the Pods' final deletion. */
async function destroyAndClean(workspace: PulumiWorkspace): Promise<void> {
  const destroy = await workspace.run(['destroy', '--yes']);
  expect({ code: destroy.code, stderr: unexpectedStderr(destroy) }).toEqual({ code: 0, stderr: [] });
  await cp.kubectlOk(['delete', 'pvc', '--all', '-n', NAMESPACE, '--wait']);
  await waitFor(async () => (await cp.getJson(['pods', '-n', NAMESPACE])).items.length === 0, 60_000, 'the Pods to go');
  await provisionVolumes(cp, manifests);
}

/** The Kubernetes type of a URN (the last type of its parent chain) and its resource name. */
function urnType(urn: string): string {
  return urn.split('::')[2].split('$').pop()!;
}
function urnName(urn: string): string {
  return urn.split('::').slice(3).join('::');
}

/** The live objects that are objects of the stack (by kind and name), not what controllers made from them. */
function stackObjects(live: any[]): any[] {
  const names = new Set(manifests.map(key));
  return live.filter((o) => names.has(key(o)));
}

/**
 * An object as its author wrote it plus what the apiserver defaults: without status and the
 * fields the server or controllers set per object (uid, resourceVersion, timestamps, managed
 * fields, the allocated cluster IPs, the bound volume, the rollout revision).
 */
function comparable(o: any): any {
  const c = JSON.parse(JSON.stringify(o));
  delete c.status;
  for (const f of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields']) delete c.metadata[f];
  const annotations = c.metadata.annotations ?? {};
  for (const k of Object.keys(annotations)) {
    if (/^(deployment\.kubernetes\.io\/revision|pv\.kubernetes\.io\/|volume\.kubernetes\.io\/)/.test(k)) delete annotations[k];
  }
  if (c.metadata.annotations && Object.keys(annotations).length === 0) delete c.metadata.annotations;
  if (c.kind === 'Service') {
    delete c.spec.clusterIP;
    delete c.spec.clusterIPs;
  }
  if (c.kind === 'PersistentVolumeClaim') delete c.spec.volumeName;
  return c;
}

/** The Secrets the stack references and a team creates (DESIGN.md: referenced, never written), with the keys it reads. */
async function createExternalSecrets(cluster: ControlPlane, objects: any[]): Promise<void> {
  const keys = new Map<string, Set<string>>();
  const visit = (v: any): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      if (v.secretKeyRef?.name) {
        if (!keys.has(v.secretKeyRef.name)) keys.set(v.secretKeyRef.name, new Set());
        keys.get(v.secretKeyRef.name)!.add(v.secretKeyRef.key);
      }
      Object.values(v).forEach(visit);
    }
  };
  objects.forEach(visit);
  externalSecrets = [...keys.keys()];
  for (const [name, secretKeys] of keys) {
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NAMESPACE }, stringData: Object.fromEntries([...secretKeys].map((k) => [k, 'test'])) };
    await cluster.kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(secret) });
  }
}

/** One PersistentVolume per claim of the stack (PVCs and StatefulSet claim templates), reserved for it. */
async function provisionVolumes(cluster: ControlPlane, objects: any[]): Promise<void> {
  await cluster.kubectlOk(['delete', 'pv', '-l', 'mlops-constructs-test=pulumi-engine', '--wait', '--ignore-not-found']);
  const claims: { name: string; spec: any }[] = [
    ...objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => ({ name: o.metadata.name, spec: o.spec })),
    ...objects.filter((o) => o.kind === 'StatefulSet').flatMap((s) => Array.from({ length: s.spec.replicas ?? 1 }, (_, i) =>
      (s.spec.volumeClaimTemplates ?? []).map((t: any) => ({ name: `${t.metadata.name}-${s.metadata.name}-${i}`, spec: t.spec }))).flat()),
  ];
  for (const claim of claims) {
    const pv = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `pulumi-engine-${claim.name}`, labels: { 'mlops-constructs-test': 'pulumi-engine' } },
      spec: {
        capacity: { storage: claim.spec.resources.requests.storage },
        accessModes: claim.spec.accessModes,
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: claim.spec.storageClassName ?? '',
        claimRef: { namespace: NAMESPACE, name: claim.name },
        hostPath: { path: `/nonexistent/pulumi-engine/${claim.name}` },
      },
    };
    await cluster.kubectlOk(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(pv) });
  }
}
