/**
 * mlops-constructs/testing. The first part is the complete example test of docs/testing.md,
 * run here as a user would run it (the last test checks that the document shows exactly this
 * code; test/packaging.test.ts runs the document's block against the installed package); the
 * rest pins the helpers' behaviour.
 */
import { readFileSync } from 'fs';
import { findCrdDirectory } from '../src/testing/crd-schemas';
import { requireValidatorPeers } from '../src/testing/peers';
import { documentedExample } from './packaging-project';

// This checkout reads the CRDs its setup fetched (scripts/setup-kubernetes.sh); a user project sets
// MLOPS_CRDS_DIR in its test script or keeps them in test/crds (docs/testing.md, "CRD schemas").
process.env.MLOPS_CRDS_DIR ??= findCrdDirectory();

// ---- example: docs/testing.md
import * as path from 'path';
import { Chart, Duration, Testing } from 'cdk8s';
import { Construct } from 'constructs';
import { ModelRegistryRef, ModelService, Monitoring, ServingRuntime } from '../src';
import { manifestSerializer, synthObjects, validateManifests } from '../src/testing';

// Snapshots print the objects as the YAML cdk8s writes, with the bundled runtime programs
// (and the pod annotations carrying their SHA-256) replaced by placeholders.
expect.addSnapshotSerializer(manifestSerializer);

// The CRDs of the operators in your cluster: ServiceMonitor, PrometheusRule, ScaledObject.
const crdsDir = process.env.MLOPS_CRDS_DIR ?? path.join(__dirname, 'crds');

/** The stack under test; in your project, the chart your cdk8s app synthesizes. */
class FraudStack extends Chart {
  constructor(scope: Construct, id: string) {
    super(scope, id, { namespace: 'fraud', disableResourceNameHashes: true });
    Monitoring.configure(this, { serviceMonitorLabels: { release: 'kube-prometheus-stack' } });
    const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
    new ModelService(this, 'fraud-detector', {
      runtime: ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) }),
      replicas: 2,
      maxReplicas: 6,
      latencyObjective: Duration.millis(500),
    });
  }
}

describe('FraudStack', () => {
  const objects = synthObjects(new FraudStack(Testing.app(), 'fraud'));

  test('matches the reviewed manifests', () => {
    expect(objects).toMatchSnapshot();
  });

  test('serves the champion model behind the metrics proxy', () => {
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const [model, proxy] = deployment.spec.template.spec.containers;
    expect(model.args).toContain('models:/fraud-detector@champion');
    expect(proxy.name).toBe('metrics-proxy');
  });

  test('is valid Kubernetes, passes the restricted Pod Security profile, and its references resolve', () => {
    expect(validateManifests(objects, { crdsDir })).toEqual([]);
  });
});
// ---- end of example

import { App } from 'cdk8s';
import { createManifestSerializer, redactGenerated, synthYaml } from '../src/testing';

describe('synthObjects and synthYaml', () => {
  test('give what cdk8s synth gives, for a chart or a whole app', () => {
    // GIVEN an app of two charts
    const app = Testing.app();
    new FraudStack(app, 'a');
    const b = new Chart(app, 'b', { namespace: 'other' });
    new Chart(b, 'empty');
    // WHEN / THEN
    expect(synthObjects(app)).toEqual(app.charts.flatMap((c) => Testing.synth(c)));
    expect(synthYaml(app)).toBe(app.synthYaml());
    expect(synthObjects(app.charts[0])).toEqual(Testing.synth(app.charts[0]));
  });

  test('fails like cdk8s synth when a construct\'s validation fails', () => {
    const app = new App();
    const chart = new Chart(app, 'c');
    chart.node.addValidation({ validate: () => ['broken on purpose'] });
    expect(() => synthObjects(chart)).toThrow(/broken on purpose/);
  });
});

describe('redactGenerated and the snapshot serializer', () => {
  const objects = synthObjects(new FraudStack(Testing.app(), 'fraud'));

  test('replaces exactly the shipped bundle and the annotations carrying its hash', () => {
    // GIVEN the stack, plus a user ConfigMap holding a .js file of its own
    const mine = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mine', annotations: { 'example.com/sha256': 'abc' } }, data: { 'app.js': 'console.log(1)' } };
    // WHEN
    const redacted = redactGenerated<any>([...objects, mine]);
    // THEN the proxy bundle and its hash are placeholders, everything else is untouched
    const configMap = redacted.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'fraud-detector-metrics-proxy')!;
    expect(configMap.data).toEqual({ 'metrics-proxy.js': '<bundled metrics-proxy.js>' });
    const deployment = redacted.find((o) => o.kind === 'Deployment')!;
    expect(deployment.spec.template.metadata.annotations['mlops-constructs.io/metrics-proxy-sha256']).toBe('<sha256 of metrics-proxy.js>');
    expect(redacted[redacted.length - 1]).toEqual(mine);
    const untouched = (o: any) => o.kind !== 'ConfigMap' && o.kind !== 'Deployment';
    expect(redacted.filter(untouched)).toEqual(objects.filter(untouched));
    // and the input is not modified
    expect(objects.find((o) => o.kind === 'ConfigMap')!.data['metrics-proxy.js'].length).toBeGreaterThan(1000);
  });

  test('prints a YAML document per object, and only handles Kubernetes objects', () => {
    const printed = createManifestSerializer().serialize(objects, {}, '', 0);
    expect(printed.split('\n---\n')).toHaveLength(objects.length);
    expect(printed).toContain('kind: Deployment\n');
    expect(printed).toContain('metrics-proxy.js: <bundled metrics-proxy.js>');
    expect(createManifestSerializer({ redact: false }).serialize(objects, {}, '', 0)).not.toContain('<bundled');
    expect(manifestSerializer.test(objects)).toBe(true);
    expect(manifestSerializer.test(objects[0])).toBe(true);
    expect(manifestSerializer.test([])).toBe(false);
    expect(manifestSerializer.test([{ kind: 'Deployment' }])).toBe(false);
    expect(manifestSerializer.test('kind: Deployment')).toBe(false);
  });

  test('indents nested snapshots', () => {
    expect({ objects: objects.filter((o) => o.kind === 'Service') }).toMatchSnapshot();
  });
});

describe('validateManifests for users', () => {
  const objects = synthObjects(new FraudStack(Testing.app(), 'fraud'));

  test('is not blind: a broken copy of the stack fails with the field named', () => {
    const broken = JSON.parse(JSON.stringify(objects));
    broken.find((o: any) => o.kind === 'Deployment').spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    broken.find((o: any) => o.kind === 'ServiceMonitor').spec.endpointz = [];
    const problems = validateManifests(broken, { crdsDir }).join('\n');
    expect(problems).toMatch(/Deployment fraud\/fraud-detector: .*allowPrivilegeEscalation/);
    expect(problems).toMatch(/ServiceMonitor fraud\/fraud-detector: .*endpointz/);
  });

  test('fails clearly when crdsDir names no folder', () => {
    expect(() => validateManifests(objects, { crdsDir: '/nonexistent/crds' })).toThrow('crdsDir /nonexistent/crds is not a directory');
  });

  test('fails clearly, in an installed package without crdsDir, saying where CRDs come from', () => {
    const saved = process.env.MLOPS_CRDS_DIR;
    delete process.env.MLOPS_CRDS_DIR;
    try {
      expect(() => findCrdDirectory(undefined, '/home/me/project/node_modules/mlops-constructs/lib/testing'))
        .toThrow(/mlops-constructs does not ship; pass validateManifests\(objects, \{ crdsDir: .* or set MLOPS_CRDS_DIR/);
    } finally {
      process.env.MLOPS_CRDS_DIR = saved;
    }
  });

  test('validates a set without custom resources without any CRD folder', () => {
    const builtIn = objects.filter((o) => !o.apiVersion.includes('.'));
    const saved = process.env.MLOPS_CRDS_DIR;
    process.env.MLOPS_CRDS_DIR = '/nonexistent/crds';
    try {
      expect(validateManifests(builtIn)).toEqual([]);
    } finally {
      process.env.MLOPS_CRDS_DIR = saved;
    }
  });

  test('names every missing peer dependency and the command that installs them', () => {
    const without = (missing: string[]) => (request: string) => {
      if (missing.some((m) => request.startsWith(m))) throw new Error(`Cannot find module '${request}'`);
      return request;
    };
    expect(() => requireValidatorPeers(without(['ajv', '@kubernetes/client-node'])))
      .toThrow('validateManifests needs ajv, @kubernetes/client-node (optional peer dependencies of mlops-constructs); install them with: npm install --save-dev ajv@^8.20.0 @kubernetes/client-node@^1.4.0');
    expect(() => requireValidatorPeers(without([]))).not.toThrow();
  });
});

describe('docs/testing.md', () => {
  test('shows exactly the example test above, with the package\'s import paths', () => {
    // GIVEN the example region of this file and the document's example code block
    const source = readFileSync(__filename, 'utf8');
    const region = source.slice(source.indexOf('// ---- example: docs/testing.md\n') + '// ---- example: docs/testing.md\n'.length, source.indexOf('// ---- end of example'));
    // WHEN the repository's relative imports are written as a user writes them
    const asUser = region.replace(/from '\.\.\/src\/testing'/g, "from 'mlops-constructs/testing'").replace(/from '\.\.\/src'/g, "from 'mlops-constructs'");
    // THEN the block, up to the line that closes its fence, is that code and nothing else
    expect(documentedExample()).toBe(asUser);
    expect(asUser).not.toMatch(/\.\.\/src|docs\/testing\.md|```/);
  });
});
