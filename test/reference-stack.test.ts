import { execFileSync } from 'child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { ReferenceStack } from '../examples/reference-stack';
import { checkRestrictedPodSecurity, redactGenerated, validateManifests, validateSchema } from '../src/testing';

const ROOT = path.join(__dirname, '..');

function referenceObjects(): any[] {
  const app = Testing.app();
  const stack = new ReferenceStack(app, 'mlops');
  return Testing.synth(stack);
}

describe('the reference stack', () => {
  const objects = referenceObjects();

  test('holds the contract objects in namespace mlops', () => {
    const names = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
    for (const expected of [
      'Deployment/fraud-detector', 'Service/fraud-detector', 'HorizontalPodAutoscaler/fraud-detector',
      'PodDisruptionBudget/fraud-detector', 'ServiceMonitor/fraud-detector', 'ConfigMap/fraud-detector-metrics-proxy',
      'Deployment/mlflow', 'Service/mlflow', 'ServiceMonitor/mlflow',
      'CronJob/fraud-detector-drift', 'ConfigMap/mlops-drift-checker', 'Deployment/pushgateway', 'Service/pushgateway',
    ]) {
      expect(names).toContain(expected);
    }
    expect(objects.every((o) => o.metadata.namespace === 'mlops')).toBe(true);
    const cronJob = objects.find((o) => o.kind === 'CronJob' && o.metadata.name === 'fraud-detector-drift');
    expect(cronJob.spec.schedule).toBe('0 * * * *');
    expect(redactGenerated(objects)).toMatchSnapshot();
  });

  test('every object validates against the Kubernetes and CRD schemas, unknown fields rejected', () => {
    const problems = objects.flatMap((o) => validateSchema(o));
    expect(problems).toEqual([]);
  });

  test('every pod template passes the restricted Pod Security Standard and the secure-by-default contract', () => {
    const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'CronJob', 'Job'].includes(o.kind));
    expect(workloads.length).toBeGreaterThan(0);
    expect(workloads.flatMap((o) => checkRestrictedPodSecurity(o))).toEqual([]);
  });

  test('cross-object references resolve (selectors, ServiceMonitor ports, ConfigMap volumes)', () => {
    // Secrets are referenced but never written by the stack (their values come from the operator),
    // so every referenced Secret is external; everything else must resolve inside the set.
    const externalSecrets = [...new Set(referencedSecretNames(objects))];
    expect(validateManifests(objects, { externalSecrets })).toEqual([]);
  });

  test('the validators are not blind: a broken copy of the stack is rejected', () => {
    // GIVEN the stack with an unknown field, a root container and a ServiceMonitor on a missing port
    const broken = JSON.parse(JSON.stringify(objects));
    const deployment = broken.find((o: any) => o.kind === 'Deployment');
    deployment.spec.template.spec.containers[0].resourcez = {};
    deployment.spec.template.spec.containers[0].securityContext.runAsUser = 0;
    broken.find((o: any) => o.kind === 'ServiceMonitor').spec.endpoints[0].port = 'nope';
    // WHEN / THEN
    const problems = validateManifests(broken).join('\n');
    expect(problems).toMatch(/resourcez/);
    expect(problems).toMatch(/runAsUser/);
    expect(problems).toMatch(/nope/);
  });
});

function referencedSecretNames(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(referencedSecretNames);
  if (value === null || typeof value !== 'object') return [];
  const o = value as Record<string, any>;
  const own = [o.secretKeyRef?.name, o.secret?.secretName, o.secretRef?.name].filter((n): n is string => typeof n === 'string');
  return [...own, ...Object.values(o).flatMap(referencedSecretNames)];
}

describe('cdk8s synth of the reference stack (the README main command)', () => {
  test('writes the same objects to dist/ as the in-memory synth', () => {
    // GIVEN the cdk8s CLI with the repository's cdk8s.yaml, writing to a temp dir
    const out = mkdtempSync(path.join(tmpdir(), 'mlops-synth-'));
    try {
      // WHEN
      execFileSync(path.join(ROOT, 'node_modules', '.bin', 'cdk8s'), ['synth', '--output', out], { cwd: ROOT, stdio: 'pipe' });
      // THEN
      const files = readdirSync(out).filter((f) => f.endsWith('.yaml'));
      expect(files).toEqual(['mlops.k8s.yaml']);
      const written = yaml.loadAll(readFileSync(path.join(out, files[0]), 'utf8')) as any[];
      const key = (o: any) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
      expect(written.map(key).sort()).toEqual(referenceObjects().map(key).sort());
      expect(written).toEqual(referenceObjects());
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120000);

  test('cdk8s.yaml runs the reference stack', () => {
    expect(existsSync(path.join(ROOT, 'cdk8s.yaml'))).toBe(true);
    expect(readFileSync(path.join(ROOT, 'cdk8s.yaml'), 'utf8')).toMatch(/examples\/reference-stack\.ts/);
  });
});
