/**
 * mlops-constructs as a user gets it: the tarball `npm pack` makes (what `npm publish` uploads),
 * installed with npm into a project of its own with a plain CommonJS tsconfig
 * (test/fixtures/user-project: the stack of issue 12 in namespace ml-prod, its jest test, an app
 * that synthesizes it), and a fresh clone of this repository running `cdk8s synth` after the
 * install. How the project is installed, and what differs from a user's machine:
 * test/packaging-project.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { createHash } from 'crypto';
import { tmpdir } from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { ALERT_NAMES } from '../src';
import { findCrdDirectory } from '../src/testing/crd-schemas';
import { cloneWorkTree, createUserProject, documentedExample, packPackage, PackedPackage, run } from './packaging-project';

/** SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the license package.json declares. */
const APACHE_2_0_SHA256 = 'cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30';

describe('the packed package, installed into a CommonJS user project', () => {
  let work: string;
  let pkg: PackedPackage;
  let project: string;
  let installed: string;
  let compile: { ok: boolean; output: string };
  const crdsDir = process.env.MLOPS_CRDS_DIR ?? findCrdDirectory();
  const userEnv = () => ({ ...process.env, MLOPS_CRDS_DIR: crdsDir });
  const npx = (args: string[]) => run('npx', args, project, userEnv());

  beforeAll(() => {
    // GIVEN the tarball, installed with npm into the fixture project, with the example test of
    // docs/testing.md saved in it as a user saves it
    work = mkdtempSync(path.join(tmpdir(), 'mlops-pack-'));
    pkg = packPackage(work);
    project = createUserProject(pkg);
    installed = path.join(project, 'node_modules', 'mlops-constructs');
    writeFileSync(path.join(project, 'fraud-stack.spec.ts'), documentedExample());
    // WHEN the project compiles with its own tsconfig ("module": "commonjs", classic node resolution)
    try {
      run(process.execPath, [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project);
      compile = { ok: true, output: '' };
    } catch (e) {
      compile = { ok: false, output: (e as Error).message };
    }
  }, 240_000);
  afterAll(() => {
    for (const dir of [work, project]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('holds lib/, the runtime bundles, the runbooks, the LICENSE and README, and nothing else of the repository', () => {
    const top = [...new Set(pkg.files.map((f) => f.split('/')[0]))].sort();
    expect(top).toEqual(['LICENSE', 'README.md', 'assets', 'docs', 'lib', 'package.json']);
    expect(pkg.files.filter((f) => f.startsWith('assets/') || f.startsWith('docs/')).sort()).toEqual(['assets/metrics-proxy.js', 'assets/mlops-drift.js', 'docs/runbooks.md']);
    expect(pkg.files).toEqual(expect.arrayContaining(['lib/index.js', 'lib/index.d.ts', 'lib/testing/index.d.ts', 'lib/pulumi/index.d.ts']));
  });

  test('declares its repository, homepage and Apache-2.0 license, and ships the license text', () => {
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
    expect(manifest.license).toBe('Apache-2.0');
    expect(manifest.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/) });
    expect(manifest.homepage).toBe(`${repositoryWebUrl(manifest)}#readme`);
    expect(createHash('sha256').update(readFileSync(path.join(installed, 'LICENSE'))).digest('hex')).toBe(APACHE_2_0_SHA256);
  });

  test('mlops-constructs/testing and mlops-constructs/pulumi type-check under "module": "commonjs" (typesVersions)', () => {
    // THEN tsc found the declarations of both subpaths (without typesVersions: TS2307)
    expect(compile.output).toBe('');
    expect(compile.ok).toBe(true);
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
    for (const [subpath, targets] of Object.entries(manifest.typesVersions['*'] as Record<string, string[]>)) {
      expect(targets).toEqual([manifest.exports[`./${subpath}`].types.replace(/^\.\//, '')]);
      expect(existsSync(path.join(installed, targets[0]))).toBe(true);
    }
  });

  test('both subpath entry points load from lib/, find the bundles beside it and, without crdsDir, say where CRDs come from', () => {
    const { MLOPS_CRDS_DIR: _unset, ...env } = userEnv();
    void _unset;
    expect(JSON.parse(run(process.execPath, ['build/entry-points.js'], project, env))).toEqual({
      pulumi: ['function', 'function', 'function', 'function'],
      redacted: true,
      builtIn: [],
      error: expect.stringContaining('mlops-constructs does not ship; pass validateManifests(objects, { crdsDir:'),
    });
  });

  test('synthesizes the ml-prod stack: external PostgreSQL and S3, KEDA, a GPU Flask server with its own metrics, two daily drift checks, alerts with an SLO', () => {
    // WHEN the compiled app runs, as `cdk8s synth` runs cdk8s.yaml's app
    rmSync(path.join(project, 'dist'), { recursive: true, force: true });
    run(process.execPath, ['build/main.js'], project, userEnv());
    // THEN
    const objects = yaml.loadAll(readFileSync(path.join(project, 'dist', 'ml-prod.k8s.yaml'), 'utf8')) as any[];
    expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set(['ml-prod']));
    const named = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name).sort();
    expect(named('CronJob')).toEqual(['churn-drift', 'ranker-drift']);
    expect(objects.filter((o) => o.kind === 'CronJob').map((o) => o.spec.schedule)).toEqual(['0 0 * * *', '0 0 * * *']);
    expect(named('ScaledObject')).toEqual(['churn']);
    expect(named('StatefulSet')).toEqual([]);
    const registry = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mlflow');
    expect(JSON.stringify(registry.spec.template.spec)).toContain('pg.databases.svc.cluster.local');
    expect(JSON.stringify(registry.spec.template.spec)).toContain('s3://ml-artifacts');
    const rules = objects.filter((o) => o.kind === 'PrometheusRule').flatMap((o) => o.spec.groups.flatMap((g: any) => g.rules));
    expect(rules.map((r) => r.alert)).toContain('ModelErrorBudgetBurn');
  });

  test('its jest snapshot test and the docs/testing.md example pass with the testing helpers, and a CI run matches the written snapshots', () => {
    // WHEN the user runs jest twice: locally (writes the snapshots), then in CI mode
    npx(['--no', 'jest', '--ci=false']);
    npx(['--no', 'jest', '--ci']);
    // THEN both snapshots exist, hold the stack with the bundles redacted, and matched in CI
    const snapshots = readdirSync(path.join(project, '__snapshots__')).sort();
    expect(snapshots).toEqual(['fraud-stack.spec.ts.snap', 'stack.spec.ts.snap']);
    const stack = readFileSync(path.join(project, '__snapshots__', 'stack.spec.ts.snap'), 'utf8');
    expect(stack).toContain('mlops-drift.js: <bundled mlops-drift.js>');
    expect(stack).toContain('name: ranker-drift');
    expect(stack).not.toContain('__defProp');
  }, 180_000);

  test('npx mlops-drift runs the bundled checker on a CSV (the package\'s bin)', () => {
    // GIVEN a reference and a shifted current dataset
    const data = path.join(project, 'data');
    mkdirSync(data, { recursive: true });
    const rows = (shift: number) => ['amount,age', ...Array.from({ length: 200 }, (_, i) => `${(i % 50) + shift},${20 + (i % 40)}`)].join('\n');
    writeFileSync(path.join(data, 'reference.csv'), `${rows(0)}\n`);
    writeFileSync(path.join(data, 'current.csv'), `${rows(30)}\n`);
    // WHEN
    const out = npx(['--no', 'mlops-drift', 'check', '--reference', 'data/reference.csv', '--current', 'data/current.csv', '--json']);
    // THEN
    const result = JSON.parse(out);
    expect(result.rows).toEqual({ reference: 200, current: 200 });
    expect(result.features.map((f: any) => [f.feature, f.drifted])).toEqual([['amount', true], ['age', false]]);
    expect(statSync(path.join(installed, 'assets', 'mlops-drift.js')).mode & 0o111).not.toBe(0);
  });

  test('source maps resolve: every compiled file names a map that exists and carries the sources it maps', () => {
    const maps = listFiles(path.join(installed, 'lib')).filter((f) => f.endsWith('.js'));
    expect(maps.length).toBeGreaterThan(20);
    const unresolved: string[] = [];
    for (const js of maps) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(js, 'utf8'))?.[1];
      if (!url) continue;
      const mapFile = path.join(path.dirname(js), url);
      if (!existsSync(mapFile)) { unresolved.push(`${js}: ${url} is missing`); continue; }
      const map = JSON.parse(readFileSync(mapFile, 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      map.sources.forEach((source, i) => {
        if (typeof map.sourcesContent?.[i] !== 'string' && !existsSync(path.join(path.dirname(mapFile), source))) unresolved.push(`${mapFile}: ${source}`);
      });
    }
    expect(unresolved).toEqual([]);
  });

  test('the default runbook_url is docs/runbooks.md of the declared repository, which the package ships with a section per alert', () => {
    // GIVEN the alerts the user's stack synthesized, and the package's repository
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
    const objects = yaml.loadAll(readFileSync(path.join(project, 'dist', 'ml-prod.k8s.yaml'), 'utf8')) as any[];
    const alerts = objects.filter((o) => o.kind === 'PrometheusRule').flatMap((o) => o.spec.groups.flatMap((g: any) => g.rules)).filter((r) => r.alert);
    // THEN every runbook_url is <repository>/blob/main/<a file of the package>#<one of its headings>
    const runbooks = readFileSync(path.join(installed, 'docs', 'runbooks.md'), 'utf8');
    const anchors = new Set([...runbooks.matchAll(/^#+ (.+)$/gm)].map((m) => githubAnchor(m[1])));
    const base = `${repositoryWebUrl(manifest)}/blob/main/`;
    const wrong = alerts.map((r) => r.annotations.runbook_url as string).filter((url) => {
      const [address, anchor] = url.split('#');
      return !address.startsWith(base) || !existsSync(path.join(installed, address.slice(base.length))) || !anchors.has(anchor);
    });
    expect(wrong).toEqual([]);
    expect(alerts.length).toBeGreaterThan(10);
    // and every alert the library can write has its section, not only those of this stack
    expect(ALERT_NAMES.filter((name) => !anchors.has(githubAnchor(name)))).toEqual([]);
  });

  // PENDING (issue 12, the drift checker's part, not yet in git when this was written): add
  // here, against the installed package, (1) `npx mlops-drift check` on a CSV with a text column
  // (categorical inferred, exit 0) and (2) the CronJob of a Cron.daily() DriftMonitor, run at
  // 00:00, reading yesterday's `{{ds}}` partition.
  test.todo('PENDING drift checker: npx mlops-drift on a CSV with a text column infers it as categorical');
  test.todo('PENDING drift checker: a daily DriftMonitor run at 00:00 reads yesterday\'s {{ds}} partition');
});

describe('a fresh clone', () => {
  test('synthesizes the reference stack with `npx cdk8s synth` once npm ci has run the root package\'s lifecycle scripts', () => {
    // GIVEN the repository's files as a clone has them (no assets/, lib/ or dist/), with this
    // checkout's node_modules standing in for the packages npm ci installs
    const clone = cloneWorkTree(mkdtempSync(path.join(tmpdir(), 'mlops-clone-')));
    try {
      expect(existsSync(path.join(clone, 'assets'))).toBe(false);
      // WHEN npm ci's lifecycle scripts of the root package run (npm ci runs these after
      // installing the dependencies), then cdk8s synth as the README and DESIGN.md write it
      for (const script of ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare']) {
        run('npm', ['run', '--if-present', '--silent', script], clone);
      }
      run(path.join(clone, 'node_modules', '.bin', 'cdk8s'), ['synth'], clone);
      // THEN
      const objects = yaml.loadAll(readFileSync(path.join(clone, 'dist', 'mlops.k8s.yaml'), 'utf8')) as any[];
      expect(objects.find((o) => o.kind === 'ConfigMap' && o.data?.['mlops-drift.js'])).toBeDefined();
      expect(objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort()).toEqual(['fraud-detector', 'mlflow', 'pushgateway']);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  }, 120_000);
});

/** https://github.com/<owner>/<name> from package.json's repository. */
function repositoryWebUrl(manifest: { repository: { url: string } }): string {
  return manifest.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
}

/** The anchor GitHub gives a Markdown heading. */
function githubAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}
