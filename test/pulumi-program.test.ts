/**
 * The Pulumi program of Pulumi.yaml (examples/pulumi) against the cdk8s ReferenceStack, with
 * pulumi.runtime.setMocks. EQUALITY: the Kubernetes objects the program registers are exactly
 * the objects `cdk8s synth` writes (same kinds, names and specs, compared whole), for the
 * default config and for a changed one, so the two engines cannot drift apart. Then: each
 * object is a child of the component that synthesized it, config reaches the objects it
 * should and no others, and the project file loads the program the way the language host does.
 */
import { spawnSync } from 'child_process';
import type * as pulumi from '@pulumi/pulumi';
import { existsSync, readFileSync } from 'fs';
import * as path from 'path';
import { Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { ReferenceStack, ReferenceStackProps } from '../examples/reference-stack';
import { deployReferenceStack, ReferenceStackComponents, settingsFromConfig } from '../examples/pulumi/reference-stack';
import { typeToken } from '../src/pulumi';
import { MockedRun, settled, startMocks } from './pulumi-mocks';

const ROOT = path.join(__dirname, '..');
const key = (o: any) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function cdk8sObjects(props: ReferenceStackProps = {}): any[] {
  return Testing.synth(new ReferenceStack(Testing.app(), 'mlops', props));
}

function components(stack: ReferenceStackComponents): { resources: readonly { resource: pulumi.Resource }[]; urn: pulumi.Output<string> }[] {
  return Object.values(stack);
}

/** Runs the program as Pulumi would with this stack config, and returns its registrations. */
async function runProgram(config: Record<string, string> = {}): Promise<{ run: MockedRun; stack: ReferenceStackComponents }> {
  const run = await startMocks({ config });
  const stack = deployReferenceStack(settingsFromConfig());
  await settled(components(stack).flatMap((c) => c.resources.map((r) => r.resource)));
  return { run, stack };
}

describe('the Pulumi program registers exactly what cdk8s synth writes', () => {
  test.each([
    ['the default config', {}, {}],
    ['another namespace and monitoring release', { namespace: 'ml-prod', monitoringRelease: 'prometheus' }, { namespace: 'ml-prod', monitoringRelease: 'prometheus' }],
  ])('with %s', async (_, config, props) => {
    // GIVEN the cdk8s reference stack with the same settings
    const expected = cdk8sObjects(props);
    // WHEN the Pulumi program runs
    const { run } = await runProgram(config);
    const registered = run.kubernetes();
    // THEN the same objects, each once, whole
    expect(registered.map((r) => key(r.inputs)).sort()).toEqual(expected.map(key).sort());
    expect(new Set(registered.map((r) => key(r.inputs))).size).toBe(registered.length);
    for (const r of registered) expect(r.inputs).toEqual(expected.find((o) => key(o) === key(r.inputs)));
    // and each as the resource type of its kind, named <namespace>/<name>
    for (const r of registered) {
      expect(r.type).toBe(typeToken(r.inputs.apiVersion, r.inputs.kind));
      expect(r.name).toBe(`${r.inputs.metadata.namespace}/${r.inputs.metadata.name}`);
    }
  });

  test('every object is a child of the component that synthesized it; only components sit at the root', async () => {
    // GIVEN / WHEN
    const { run, stack } = await runProgram();
    // THEN
    const urnOf = async (output: pulumi.Output<string>) => new Promise<string>((resolve) => output.apply(resolve));
    for (const component of components(stack)) {
      const componentUrn = await urnOf(component.urn);
      expect(run.byUrn(componentUrn).type).toMatch(/^mlops:index:(ModelRegistry|ModelService|DriftMonitor|ModelPromotion|PrometheusAlerts)$/);
      for (const { resource } of component.resources) expect(run.byUrn(await urnOf(resource.urn)).parent).toBe(componentUrn);
    }
    const childCount = components(stack).reduce((n, c) => n + c.resources.length, 0);
    expect(run.kubernetes()).toHaveLength(childCount);
    for (const r of run.registrations.filter((x) => x.parent === '')) expect(r.type).toMatch(/^mlops:index:/);
  });

  test('the model server waits for the registry it loads its model from', async () => {
    const { run, stack } = await runProgram();
    const deployment = run.kubernetes().find((r) => r.inputs.kind === 'Deployment' && r.inputs.metadata.name === 'fraud-detector')!;
    const registryDeployment = run.kubernetes().find((r) => r.inputs.kind === 'Deployment' && r.inputs.metadata.name === stack.registry.name)!;
    expect(deployment.dependencies).toContain(registryDeployment.urn);
  });
});

describe('config', () => {
  test('a promoted version changes the model URI the server loads and the drift check reads, and nothing else', async () => {
    // GIVEN the objects with the champion alias
    const champion = (await runProgram()).run.kubernetes().map((r) => r.inputs);
    // WHEN the promotion pipeline pins version 7
    const pinned = (await runProgram({ modelName: 'fraud-detector', modelVersion: '7' })).run.kubernetes().map((r) => r.inputs);
    // THEN exactly two fields differ: the model server's --model-uri, and the drift check's
    // --reference (the training data of the version served)
    const differences = diff(champion.sort(byKey), pinned.sort(byKey), '');
    expect(differences.sort()).toEqual([
      'apps/v1 Deployment mlops/fraud-detector: spec.template.spec.containers[0].args[1]: "models:/fraud-detector@champion" -> "models:/fraud-detector/7"',
      // the proxy resolves the version it labels the inference log and mlops_model_info with
      'apps/v1 Deployment mlops/fraud-detector: spec.template.spec.containers[1].env[7].value: "models:/fraud-detector@champion" -> "models:/fraud-detector/7"',
      'batch/v1 CronJob mlops/fraud-detector-drift: spec.jobTemplate.spec.template.spec.containers[0].args[2]: "models:/fraud-detector@champion" -> "models:/fraud-detector/7"',
    ]);
  });

  test('image settings reach the containers they name', async () => {
    const { run } = await runProgram({
      mlflowImage: 'registry.example.com/mirror/mlflow:v3.17.2-full',
      modelServerImage: 'registry.example.com/fraud/model-server:2.0.1',
      nodeImage: 'registry.example.com/mirror/node:22.12.0-alpine3.21',
    });
    const images = Object.fromEntries(run.kubernetes().filter((r) => podSpec(r.inputs)).map((r) => [
      `${r.inputs.kind}/${r.inputs.metadata.name}`,
      [...(podSpec(r.inputs).initContainers ?? []), ...podSpec(r.inputs).containers].map((c: any) => `${c.name}=${c.image}`),
    ]));
    expect(images['Deployment/mlflow']).toEqual(['migrate=registry.example.com/mirror/mlflow:v3.17.2-full', 'mlflow=registry.example.com/mirror/mlflow:v3.17.2-full']);
    expect(images['Deployment/fraud-detector']).toEqual([
      'model-server=registry.example.com/fraud/model-server:2.0.1', 'metrics-proxy=registry.example.com/mirror/node:22.12.0-alpine3.21',
    ]);
    expect(images['CronJob/fraud-detector-drift']).toEqual(['drift-check=registry.example.com/mirror/node:22.12.0-alpine3.21']);
    expect(images['Deployment/pushgateway']).toEqual(['pushgateway=prom/pushgateway:v1.11.0']);
  });

  test.each([
    [{ modelName: 'churn', modelVersion: '3' }, 'config mlops:modelName is "churn", but this stack serves only "fraud-detector"'],
    [{ modelVersion: '3' }, 'config mlops:modelName and mlops:modelVersion come together'],
    [{ modelName: 'fraud-detector', modelVersion: '1.5' }, 'config mlops:modelVersion (1.5) is not a registry version number'],
    [{ mlflowImage: 'ghcr.io/mlflow/mlflow:latest' }, 'ModelRegistry mlops/mlflow: image ("ghcr.io/mlflow/mlflow:latest") is not pinned to a version'],
  ])('fails clearly on %j', async (config, message) => {
    await startMocks({ config });
    expect(() => deployReferenceStack(settingsFromConfig())).toThrow(message);
  });

  test('the promotion pipeline\'s config keys are the ones the program reads', async () => {
    // GIVEN the config-map the example workflow passes to `pulumi up` on a model-promoted event
    const workflow = yaml.load(readFileSync(path.join(ROOT, 'examples', 'ci', 'mlops-stack.yml'), 'utf8')) as any;
    const step = workflow.jobs.promote.steps.find((s: any) => s.with?.['config-map']);
    const configMap = yaml.load(step.with['config-map'].replace(/\$\{\{ steps\.promotion\.outputs\.model \}\}/, 'fraud-detector')
      .replace(/\$\{\{ steps\.promotion\.outputs\.version \}\}/, '7')) as Record<string, { value: string }>;
    // WHEN the program reads it
    await startMocks({ config: Object.fromEntries(Object.entries(configMap).map(([k, v]) => [k, v.value])) });
    // THEN the version is pinned, for the model the workflow says it serves
    expect(settingsFromConfig().modelVersion).toBe(7);
    expect(workflow.env.SERVED_MODEL).toBe('fraud-detector');
  });
});

describe('Pulumi.yaml', () => {
  const project = yaml.load(readFileSync(path.join(ROOT, 'Pulumi.yaml'), 'utf8')) as any;

  test('is a nodejs project whose main program and tsconfig exist', () => {
    expect(project.name).toBe('mlops');
    expect(project.runtime.name).toBe('nodejs');
    expect(existsSync(path.join(ROOT, project.main))).toBe(true);
    // the language host resolves the tsconfig option from the directory of `main`
    expect(existsSync(path.join(ROOT, path.dirname(project.main), project.runtime.options.tsconfig))).toBe(true);
  });

  test('declares only config keys with a default (the engine requires the others), and lists the optional ones the program reads', async () => {
    const program = readFileSync(path.join(ROOT, 'examples', 'pulumi', 'reference-stack.ts'), 'utf8');
    const read = [...program.matchAll(/config\.get(?:Number)?\('(\w+)'/g)].map((m) => m[1]).sort();
    for (const [k, v] of Object.entries<any>(project.config)) expect([k, v.default]).toEqual([k, expect.anything()]);
    const optional = [...readFileSync(path.join(ROOT, 'Pulumi.yaml'), 'utf8').matchAll(/^#   (\w+) /gm)].map((m) => m[1]);
    expect([...Object.keys(project.config), ...optional].sort()).toEqual(read);
    // the declared defaults change nothing
    const defaults = Object.fromEntries(Object.entries<any>(project.config).map(([k, v]) => [k, String(v.default)]));
    expect(defaults).toEqual({ namespace: 'mlops', monitoringRelease: 'kube-prometheus-stack' });
    const withDefaults = (await runProgram(defaults)).run.kubernetes().map((r) => r.inputs);
    expect(withDefaults.sort(byKey)).toEqual(cdk8sObjects().sort(byKey));
  });

  test('loads the program the way the nodejs language host does (ts-node with the project tsconfig, type-checked)', () => {
    // GIVEN a Node process that registers ts-node as `runtime.options` say, sets mocks and
    // requires `main`, like the language host's run.ts under the engine
    const loader = `
      const path = require('path');
      const [root, main, tsconfig] = process.argv.slice(1);
      require('ts-node').register({ project: path.join(root, tsconfig), transpileOnly: false });
      const pulumi = require('@pulumi/pulumi');
      (async () => {
        const types = [];
        await pulumi.runtime.setMocks({ newResource: (a) => { types.push([a.type, a.provider ?? '', a.type.startsWith('pulumi:providers:') ? a.inputs : undefined]); return { id: a.name + '-id', state: a.inputs }; }, call: () => ({}) }, 'mlops', 'loader', false);
        const exported = require(path.join(root, main));
        const outputs = {};
        for (const [k, v] of Object.entries(exported)) outputs[k] = pulumi.Output.isInstance(v) ? await new Promise((r) => v.apply(r)) : v;
        for (let seen = -1; seen !== types.length; ) { seen = types.length; await new Promise((r) => setTimeout(r, 300)); }
        console.log(JSON.stringify({ outputs, types }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    // WHEN
    const tsconfig = path.join(path.dirname(project.main), project.runtime.options.tsconfig);
    const child = spawnSync(process.execPath, ['-e', loader, ROOT, project.main, tsconfig], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    // THEN it registers every object of the reference stack, through the program's provider
    // (which updates ConfigMaps in place), and exports the stack outputs
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const { outputs, types } = JSON.parse(child.stdout.trim().split('\n').pop()!) as { outputs: unknown; types: [string, string, any][] };
    const objects = types.filter(([t]) => t.startsWith('kubernetes:'));
    expect(objects).toHaveLength(cdk8sObjects().length);
    const [[, , providerInputs]] = types.filter(([t]) => t === 'pulumi:providers:kubernetes');
    expect(providerInputs.enableConfigMapMutable).toBe('true');
    for (const [, provider] of objects) expect(provider).toMatch(/pulumi:providers:kubernetes::cluster::cluster-id$/);
    expect(outputs).toEqual({
      trackingUri: 'http://mlflow.mlops.svc.cluster.local:5000',
      namespace: 'mlops',
      modelServiceName: 'fraud-detector',
    });
  }, 120_000);
});

function byKey(a: any, b: any): number {
  return key(a).localeCompare(key(b));
}

function podSpec(o: any): any {
  return o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec?.template?.spec;
}

/** Leaf differences between two lists of objects in the same order, as `<object>: <path>: <a> -> <b>`. */
function diff(a: any[], b: any[], _where: string): string[] {
  expect(a.map(key)).toEqual(b.map(key));
  const out: string[] = [];
  const walk = (x: any, y: any, at: string, id: string) => {
    if (typeof x === 'object' && x !== null && typeof y === 'object' && y !== null) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
        walk(x[k], y[k], Array.isArray(x) ? `${at}[${k}]` : at ? `${at}.${k}` : k, id);
      }
    } else if (JSON.stringify(x) !== JSON.stringify(y)) {
      out.push(`${id}: ${at}: ${JSON.stringify(x)} -> ${JSON.stringify(y)}`);
    }
  };
  a.forEach((o, i) => walk(o, b[i], '', key(o)));
  return out;
}
