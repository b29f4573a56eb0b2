/**
 * The control-plane tier can fail: broken copies of synthesized objects are rejected by the
 * real apiserver (strict field validation, PodSecurity admission) or reported by the
 * cross-object checks, with the apiserver's own words in the test.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ControlPlane, startControlPlane, waitFor } from './cluster';
import { applyStrict, byKind, cdk8sSynth, createRestrictedNamespace, crossObjectProblems, installCrds, liveObjects } from './stack-checks';

const NAMESPACE = 'mlops';
let cp: ControlPlane;
let manifests: any[];
let scratch: string;

beforeAll(async () => {
  const [plane, stack] = await Promise.all([startControlPlane({ name: 'mlops-cp-rejects' }), cdk8sSynth()]);
  cp = plane;
  const yaml = require('js-yaml');
  manifests = stack.files.flatMap((f) => yaml.loadAll(fs.readFileSync(f, 'utf8'))).filter(Boolean);
  fs.rmSync(stack.dir, { recursive: true, force: true });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-broken-'));
  await installCrds(cp);
  await createRestrictedNamespace(cp, NAMESPACE);
}, 300_000);

afterAll(async () => {
  await cp?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** A deep copy of one synthesized object, changed by `edit`, written to a file. */
function broken(kind: string, name: string, edit: (o: any) => void): string {
  const original = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!original) throw new Error(`the reference stack has no ${kind} ${name}`);
  const copy = JSON.parse(JSON.stringify(original));
  edit(copy);
  const file = path.join(scratch, `${kind}-${name}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(copy));
  return file;
}

test('fails an unknown field with the apiserver strict-validation message', async () => {
  // GIVEN the model server Deployment with a misspelt container field
  const file = broken('Deployment', 'fraud-detector', (d) => {
    d.spec.template.spec.containers[0].livenesProbe = { tcpSocket: { port: 8080 } };
  });

  // WHEN it is applied strictly
  const result = await applyStrict(cp, [file]);

  // THEN the server refuses it, naming the field (server-side apply builds a typed patch, so
  // the refusal comes from the schema, not from kubectl's client-side validation)
  expect(result.code).not.toBe(0);
  expect(result.stderr).toMatch(/mlops\/fraud-detector; apps\/v1, Kind=Deployment\): \.spec\.template\.spec\.containers\[name="model-server"\]\.livenesProbe: field not declared in schema/);
});

test('fails a privileged container: a warning on apply, and the ReplicaSet controller is refused the Pod', async () => {
  // GIVEN the Pushgateway Deployment with a privileged container
  const file = broken('Deployment', 'pushgateway', (d) => {
    d.metadata.name = 'pushgateway-privileged';
    d.spec.selector.matchLabels['test.mlops/broken'] = 'privileged';
    d.spec.template.metadata.labels['test.mlops/broken'] = 'privileged';
    d.spec.template.spec.containers[0].securityContext.privileged = true;
    d.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
  });

  // WHEN it is applied
  const result = await applyStrict(cp, [file]);

  // THEN PodSecurity warns at apply, and admission refuses every Pod the controller tries
  expect(result.code).toBe(0);
  expect(result.stderr).toMatch(/would violate PodSecurity "restricted:latest": .*privileged/);
  let events: any[] = [];
  await waitFor(async () => {
    events = (await cp.getJson(['events', '-n', NAMESPACE])).items.filter((e: any) => e.reason === 'FailedCreate' && e.involvedObject.name.startsWith('pushgateway-privileged-'));
    return events.length > 0;
  }, 60_000, 'a FailedCreate event of the privileged ReplicaSet');
  expect(events[0].message).toMatch(/forbidden: violates PodSecurity "restricted:latest": privileged/);
  expect(byKind(await liveObjects(cp, NAMESPACE), 'Pod').filter((p) => p.metadata.name.startsWith('pushgateway-privileged-'))).toEqual([]);
});

test('fails a Pod that runs as root, at admission', async () => {
  // GIVEN a bare Pod made of the registry's pod template with runAsNonRoot off
  const registry = manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === 'mlflow');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'mlflow-as-root', namespace: NAMESPACE },
    spec: { ...JSON.parse(JSON.stringify(registry.spec.template.spec)), securityContext: { runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } } },
  };
  const file = path.join(scratch, 'pod-as-root.json');
  fs.writeFileSync(file, JSON.stringify(pod));

  // WHEN it is applied
  const result = await applyStrict(cp, [file]);

  // THEN admission refuses it with the profile's reasons
  expect(result.code).not.toBe(0);
  expect(result.stderr).toMatch(/violates PodSecurity "restricted:latest": .*runAsNonRoot != true/);
});

test('reports a ServiceMonitor whose port no Service has', async () => {
  // GIVEN the whole reference stack, with the model's ServiceMonitor scraping a port name that does not exist
  const files = manifests
    .filter((m) => !(m.kind === 'ServiceMonitor' && m.metadata.name === 'fraud-detector'))
    .map((m) => {
      const file = path.join(scratch, `${m.kind}-${m.metadata.name}.json`);
      fs.writeFileSync(file, JSON.stringify(m));
      return file;
    });
  files.push(broken('ServiceMonitor', 'fraud-detector', (sm) => {
    sm.spec.endpoints[0].port = 'metricz';
  }));

  // WHEN it is applied (the schema allows any port name) and the live objects are checked
  const result = await applyStrict(cp, files);
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  // A CronJob's pods (and so its NetworkPolicy's) exist once it fires: run each once.
  for (const cj of manifests.filter((m) => m.kind === 'CronJob')) {
    await cp.kubectlOk(['create', 'job', `${cj.metadata.name}-manual`, `--from=cronjob/${cj.metadata.name}`, '-n', NAMESPACE]);
  }
  let problems: string[] = [];
  await waitFor(async () => {
    problems = crossObjectProblems(await liveObjects(cp, NAMESPACE), ['mlflow-postgres', 'drift-data-s3', 'inference-log-s3', 'mlflow-webhooks', 'promotion-webhook', 'promotion-github']);
    return !problems.some((p) => /matches no Pod/.test(p));
  }, 60_000, 'the controllers to create the Pods');

  // THEN exactly that mismatch is reported
  expect(problems).toEqual([expect.stringMatching(/^ServiceMonitor fraud-detector: endpoints\[0\]\.port "metricz" is no port of Service fraud-detector \(http, metrics\)$/)]);
});
