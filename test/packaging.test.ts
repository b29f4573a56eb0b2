/**
 * mlops-constructs as a user gets it: the tarball `npm pack` makes (what `npm publish` uploads),
 * installed with npm into a project of its own with a plain CommonJS tsconfig
 * (test/fixtures/user-project: the stack of issue 12 in namespace ml-prod, its jest test, an app
 * that synthesizes it), and a fresh clone of this repository running `cdk8s synth` after the
 * install. How the project is installed, and what differs from a user's machine:
 * test/packaging-project.ts.
 */
import { execFile } from 'child_process';
import { createHash } from 'crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { AddressInfo } from 'net';
import { createServer } from 'http';
import { tmpdir } from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { ALERT_NAMES } from '../src';
import { findCrdDirectory } from '../src/testing/crd-schemas';
import { cloneWorkTree, createUserProject, documentedExample, packPackage, PackedPackage, readmeInstallBlocks, run } from './packaging-project';

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
    // docs/testing.md and the main.ts of the README's install section saved in it as a user saves them
    work = mkdtempSync(path.join(tmpdir(), 'mlops-pack-'));
    pkg = packPackage(work);
    project = createUserProject(pkg);
    installed = path.join(project, 'node_modules', 'mlops-constructs');
    writeFileSync(path.join(project, 'fraud-stack.spec.ts'), documentedExample());
    writeFileSync(path.join(project, 'main.ts'), readmeInstallBlocks().ts);
    // WHEN the project compiles with its own tsconfig ("module": "commonjs", classic node resolution)
    try {
      run(process.execPath, [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project);
      compile = { ok: true, output: '' };
    } catch (e) {
      compile = { ok: false, output: (e as Error).message };
    }
  }, 420_000); // npm pack (bundle, tsc) and npm ci: about a minute alone, far more on a loaded machine
  afterAll(() => {
    for (const dir of [work, project]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('holds lib/, the runtime bundles, the runbooks, the LICENSE and README, and nothing else of the repository', () => {
    const top = [...new Set(pkg.files.map((f) => f.split('/')[0]))].sort();
    expect(top).toEqual(['LICENSE', 'README.md', 'assets', 'docs', 'lib', 'package.json']);
    expect(pkg.files.filter((f) => f.startsWith('assets/') || f.startsWith('docs/')).sort()).toEqual(['assets/metrics-proxy.js', 'assets/mlops-drift.js', 'assets/promotion-relay.js', 'docs/runbooks.md']);
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

  test('has no dependency with an install script (npm 11 would ask before running it)', () => {
    const lock = JSON.parse(readFileSync(path.join(project, 'package-lock.json'), 'utf8'));
    expect(Object.entries(lock.packages).filter(([, e]) => (e as { hasInstallScript?: boolean }).hasInstallScript).map(([p]) => p)).toEqual([]);
  });

  test('both subpath entry points resolve through "exports", find the bundles beside lib/ and, without crdsDir, say where CRDs come from', () => {
    const { MLOPS_CRDS_DIR: _unset, ...env } = userEnv();
    void _unset;
    expect(JSON.parse(run(process.execPath, ['build/entry-points.js'], project, env))).toEqual({
      // a cdk8s project without the Pulumi peers: the entry point is found and names what is missing
      pulumi: { resolved: path.join(installed, 'lib', 'pulumi', 'index.js'), error: expect.stringContaining("Cannot find module '@pulumi/pulumi'") },
      redacted: true,
      builtIn: [],
      error: expect.stringContaining('mlops-constructs does not ship; pass validateManifests(objects, { crdsDir:'),
    });
  });

  test('the README\'s install section works as written: its packages, cdk8s.yaml and main.ts, then npx cdk8s synth', () => {
    // GIVEN the section's blocks: the project installed what its npm install lines name, and its
    // cdk8s.yaml is the project's
    const blocks = readmeInstallBlocks();
    const named = [...blocks.sh.matchAll(/^npm install (?:--save-dev )?(.+)$/gm)].flatMap((m) => m[1].split(' '));
    expect(named).toEqual(expect.arrayContaining(['mlops-constructs', 'cdk8s', 'constructs', 'cdk8s-cli', 'ts-node', 'typescript']));
    expect(named.filter((name) => !existsSync(path.join(project, 'node_modules', name, 'package.json')))).toEqual([]);
    expect(blocks.yaml).toBe(readFileSync(path.join(project, 'cdk8s.yaml'), 'utf8'));
    // WHEN the user runs cdk8s synth
    npx(['--no', 'cdk8s', 'synth']);
    // THEN the first chart is in dist/
    const objects = yaml.loadAll(readFileSync(path.join(project, 'dist', 'ml-prod.k8s.yaml'), 'utf8')) as any[];
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual(expect.arrayContaining([
      'Deployment ml-prod/churn', 'Service ml-prod/churn', 'ServiceMonitor ml-prod/churn', 'ConfigMap ml-prod/churn-metrics-proxy',
    ]));
  });

  test('synthesizes the ml-prod stack: external PostgreSQL and S3, KEDA, a GPU Flask server with its own metrics, two daily drift checks, alerts with an SLO', () => {
    // WHEN the user synthesizes their stack's app with cdk8s synth
    npx(['--no', 'cdk8s', 'synth', '--app', 'npx ts-node ml-prod.ts', '--output', 'dist-ml-prod']);
    // THEN
    const objects = yaml.loadAll(readFileSync(path.join(project, 'dist-ml-prod', 'ml-prod.k8s.yaml'), 'utf8')) as any[];
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
    // WHEN the user runs jest twice: locally (writes the snapshots), then in CI mode. The local
    // run has no CI variable, as on a laptop: jest takes CI=true (set by CI runners, and by the
    // suite's own CI) as --ci, which never writes a new snapshot.
    const local: NodeJS.ProcessEnv = userEnv();
    delete local.CI;
    run('npx', ['--no', 'jest', '--ci=false'], project, local);
    npx(['--no', 'jest', '--ci']);
    // THEN both snapshots exist, hold the stack with the bundles redacted, and matched in CI
    const snapshots = readdirSync(path.join(project, '__snapshots__')).sort();
    expect(snapshots).toEqual(['fraud-stack.spec.ts.snap', 'stack.spec.ts.snap']);
    const stack = readFileSync(path.join(project, '__snapshots__', 'stack.spec.ts.snap'), 'utf8');
    expect(stack).toContain('mlops-drift.js: <bundled mlops-drift.js>');
    expect(stack).toContain('name: ranker-drift');
    expect(stack).not.toContain('__defProp');
  }, 180_000);

  test('npx mlops-drift runs the bundled checker on a CSV with a text column, inferred as categorical (the package\'s bin)', () => {
    // GIVEN a reference and a current dataset in which amount moved, age did not, and the text
    // column plan shifted towards "team"
    const data = path.join(project, 'data');
    mkdirSync(data, { recursive: true });
    writeFileSync(path.join(data, 'reference.csv'), churnCsv({ amountShift: 0, teamShare: 0.2 }));
    writeFileSync(path.join(data, 'current.csv'), churnCsv({ amountShift: 30, teamShare: 0.6 }));
    // WHEN the user runs the bin, without --categorical
    const out = npx(['--no', 'mlops-drift', 'check', '--reference', 'data/reference.csv', '--current', 'data/current.csv', '--features', 'amount,age,plan', '--json']);
    // THEN plan is checked with a categorical test (Evidently's auto choice) and every verdict is right
    const result = JSON.parse(out);
    expect(result.rows).toEqual({ reference: 200, current: 200 });
    expect(result.features.map((f: any) => [f.feature, f.drifted])).toEqual([['amount', true], ['age', false], ['plan', true]]);
    expect(result.features.find((f: any) => f.feature === 'plan').method).toBe('z'); // Evidently's choice for two categories
    expect(statSync(path.join(installed, 'assets', 'mlops-drift.js')).mode & 0o111).not.toBe(0);
  });

  test('a Cron.daily() drift check run at 00:00 reads yesterday\'s partition (the CronJob\'s own command and ConfigMap; S3 and Pushgateway on loopback)', async () => {
    // GIVEN the synthesized churn-drift CronJob, its checker ConfigMap written to a directory as
    // the kubelet mounts it, and a bucket holding the reference and yesterday's partition only
    const objects = yaml.loadAll(readFileSync(path.join(project, 'dist-ml-prod', 'ml-prod.k8s.yaml'), 'utf8')) as any[];
    const cronJob = objects.find((o) => o.kind === 'CronJob' && o.metadata.name === 'churn-drift');
    expect(cronJob.spec.schedule).toBe('0 0 * * *');
    const pod = cronJob.spec.jobTemplate.spec.template.spec;
    const container = pod.containers[0];
    const mount = container.volumeMounts.find((m: any) => pod.volumes.find((v: any) => v.name === m.name)?.configMap);
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === pod.volumes.find((v: any) => v.name === mount.name).configMap.name);
    const mountDir = mkdtempSync(path.join(tmpdir(), 'mlops-checker-mount-'));
    for (const [file, text] of Object.entries(configMap.data as Record<string, string>)) writeFileSync(path.join(mountDir, file), text);
    const bucket = new Map([
      ['/ml-data/churn/reference.csv', churnCsv({ amountShift: 0, teamShare: 0.2 })],
      ['/ml-data/churn/dt=2026-06-01/predictions.csv', churnCsv({ amountShift: 0, teamShare: 0.2 })],
    ]);
    const requests: string[] = [];
    const pushes: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        requests.push(`${req.method} ${decodeURIComponent(req.url!)}`);
        if (req.url!.startsWith('/metrics/job/')) { pushes.push(body); res.writeHead(200).end(); return; }
        const object = bucket.get(decodeURIComponent(req.url!.split('?')[0]));
        if (object === undefined) { res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code></Error>'); return; }
        res.writeHead(200, { 'content-type': 'text/csv', 'content-length': Buffer.byteLength(object) }).end(object);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const loopback = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // WHEN the container's command runs at 00:00:05 UTC on 2026-06-02, with the ConfigMap at its
      // mount path, the Secret references filled in, AWS_ENDPOINT_URL and the Pushgateway on loopback
      const [program, ...args] = [...container.command, ...container.args].map((a: string) => a.replace(mount.mountPath, mountDir));
      expect(program).toBe('node');
      const pushgateway = args.indexOf('--pushgateway');
      args[pushgateway + 1] = loopback;
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_ENDPOINT_URL: loopback };
      for (const e of container.env) env[e.name] = e.value ?? `secret ${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [...args, '--now', '2026-06-02T00:00:05Z'], { env, cwd: project }, (error, stdout, stderr) => resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, stdout, stderr }));
      });
      // THEN it read the partition of the day that has just ended, and pushed the verdict
      expect(result).toMatchObject({ code: 0 });
      const reads = new Set(requests.filter((r) => r.startsWith('GET')));
      expect(reads).toEqual(new Set(['GET /ml-data/churn/reference.csv', 'GET /ml-data/churn/dt=2026-06-01/predictions.csv']));
      expect(JSON.parse(result.stdout)).toMatchObject({ drifted: false, rows: { reference: 200, current: 200 } });
      expect(pushes.join('')).toMatch(/^mlops_drift_rows\{dataset="current"\} 200$/m);
    } finally {
      server.close();
      rmSync(mountDir, { recursive: true, force: true });
    }
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
    const objects = yaml.loadAll(readFileSync(path.join(project, 'dist-ml-prod', 'ml-prod.k8s.yaml'), 'utf8')) as any[];
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
      expect(objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort()).toEqual(['fraud-detector', 'fraud-detector-shadow', 'mlflow', 'promotion', 'pushgateway']);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  }, 120_000);
});

/**
 * 200 rows of the churn model's data: amount (numeric, shifted by amountShift), age (numeric),
 * plan (text: "team" in a share teamShare of the rows, else "solo") and labels for quality.
 */
function churnCsv({ amountShift, teamShare }: { amountShift: number; teamShare: number }): string {
  const rows = Array.from({ length: 200 }, (_, i) => {
    const plan = (i % 10) < teamShare * 10 ? 'team' : 'solo';
    return `${(i % 50) + amountShift},${20 + (i % 40)},${plan},${i % 3 === 0 ? 1 : 0},${i % 4 === 0 ? 1 : 0}`;
  });
  return `amount,age,plan,churned,prediction\n${rows.join('\n')}\n`;
}

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
