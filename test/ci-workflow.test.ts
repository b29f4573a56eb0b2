/**
 * The example GitHub Actions workflow (examples/ci/mlops-stack.yml): actionlint (built from the
 * Go module proxy by scripts/setup-go-tools.sh) accepts it and rejects broken copies; the
 * triggers, pinning and payload handling the pipeline relies on are checked structurally; and
 * the promotion step's script runs for real against good and hostile payloads.
 */
import { execFileSync, spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';

const ROOT = path.join(__dirname, '..');
const WORKFLOW = path.join(ROOT, 'examples', 'ci', 'mlops-stack.yml');
const ACTIONLINT = path.join(ROOT, '.tools', 'actionlint');

let work: string;

beforeAll(() => {
  // Normally installed by scripts/test-all.sh; built here if a bare `npx jest` runs first.
  if (!existsSync(ACTIONLINT)) execFileSync('bash', [path.join(ROOT, 'scripts', 'setup-go-tools.sh')], { stdio: 'pipe' });
  work = mkdtempSync(path.join(tmpdir(), 'mlops-ci-'));
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** actionlint's exit code and report; shellcheck and pyflakes off, so the result does not depend on what else is installed. */
function actionlint(file: string): { status: number | null; output: string } {
  const run = spawnSync(ACTIONLINT, ['-no-color', '-shellcheck=', '-pyflakes=', file], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** A copy of the workflow with one edit, checked to apply. */
function brokenCopy(name: string, from: string, to: string): string {
  const text = readFileSync(WORKFLOW, 'utf8');
  expect(text).toContain(from);
  const file = path.join(work, `${name}.yml`);
  writeFileSync(file, text.replace(from, to));
  return file;
}

const workflow = () => yaml.load(readFileSync(WORKFLOW, 'utf8')) as any;

describe('actionlint', () => {
  test('accepts the workflow', () => {
    expect(actionlint(WORKFLOW)).toEqual({ status: 0, output: '' });
  });

  test('fails a copy that needs a job that does not exist', () => {
    const result = actionlint(brokenCopy('needs', '    needs: test\n', '    needs: tests\n'));
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/needs job "tests" which does not exist in this workflow \[job-needs\]/);
  });

  test('fails a copy that puts untrusted event text into an inline script', () => {
    const result = actionlint(brokenCopy('injection', '        run: npm test\n', '        run: echo "${{ github.event.pull_request.title }}" && npm test\n'));
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/"github.event.pull_request.title" is potentially untrusted.*\[expression\]/);
  });

  test('fails a copy with an unknown runner label', () => {
    const result = actionlint(brokenCopy('label', 'runs-on: ubuntu-24.04\n', 'runs-on: ubuntu-2404\n'));
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/label "ubuntu-2404" is unknown.*\[runner-label\]/);
  });
});

describe('the pipeline', () => {
  test('runs on pull requests and pushes to main, and on model-promoted events', () => {
    const on = workflow().on;
    expect(on.pull_request.branches).toEqual(['main']);
    expect(on.push.branches).toEqual(['main']);
    expect(on.repository_dispatch.types).toEqual(['model-promoted']);
  });

  test('tests and synthesizes, previews pull requests, deploys main, or commits dist/ in GitOps mode', () => {
    const { jobs } = workflow();
    const runs = (job: string) => jobs[job].steps.map((s: any) => s.run ?? '').join('\n');
    const pulumi = (job: string) => jobs[job].steps.find((s: any) => String(s.uses).startsWith('pulumi/actions@'))?.with;
    expect(runs('test')).toMatch(/npm test[\s\S]*npx cdk8s synth/);
    expect(jobs.preview.if).toMatch(/github.event_name == 'pull_request'/);
    expect(pulumi('preview')).toMatchObject({ command: 'preview', 'comment-on-pr': true });
    expect(jobs.deploy.if).toMatch(/github.event_name == 'push'/);
    expect(pulumi('deploy')).toMatchObject({ command: 'up' });
    expect(jobs.gitops.if).toMatch(/vars.DEPLOY_MODE == 'gitops'/);
    expect(runs('gitops')).toMatch(/npx cdk8s synth[\s\S]*git add --all dist\/[\s\S]*git push/);
    expect(pulumi('promote')).toMatchObject({ command: 'up' });
    // deployments of the stack never overlap
    expect(jobs.deploy.concurrency).toEqual(jobs.promote.concurrency);
    expect(jobs.deploy.concurrency['cancel-in-progress']).toBe(false);
  });

  test('pins every action to a commit, with the version it is beside it', () => {
    const text = readFileSync(WORKFLOW, 'utf8');
    const uses = [...text.matchAll(/uses: (\S+)(.*)/g)];
    expect(uses.length).toBeGreaterThan(0);
    for (const [, ref, comment] of uses) {
      expect(ref).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
      expect(comment).toMatch(/^ # v\d+\.\d+\.\d+$/);
    }
  });

  test('pins the promoted version through config keys (the program reads them: test/pulumi-program.test.ts)', () => {
    const step = workflow().jobs.promote.steps.find((s: any) => s.with?.['config-map']);
    const configMap = yaml.load(step.with['config-map'].replace(/\$\{\{ steps\.promotion\.outputs\.(\w+) \}\}/g, '<$1>')) as any;
    expect(configMap).toEqual({
      'mlops:modelName': { value: '<model>', secret: false },
      'mlops:modelVersion': { value: '<version>', secret: false },
    });
  });

  test('reads the promotion payload only through the environment: no expression in any script', () => {
    // actionlint flags some untrusted contexts inline, but not github.event.client_payload.
    const { jobs } = workflow();
    const promotion = jobs.promote.steps.find((s: any) => s.id === 'promotion');
    expect(promotion.env).toEqual({
      MODEL: '${{ github.event.client_payload.name }}',
      VERSION: '${{ github.event.client_payload.version }}',
      ALIAS: '${{ github.event.client_payload.alias }}',
    });
    for (const job of Object.values<any>(jobs)) {
      for (const step of job.steps) expect(String(step.run ?? '')).not.toContain('${{');
    }
  });
});

describe('the promotion step', () => {
  const script = () => workflow().jobs.promote.steps.find((s: any) => s.id === 'promotion').run as string;

  function promote(payload: { name: string; version: string; alias: string }) {
    const output = path.join(work, `output-${Math.random().toString(36).slice(2)}`);
    writeFileSync(output, '');
    const run = spawnSync('bash', ['-e', '-c', script()], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, GITHUB_OUTPUT: output, SERVED_MODEL: 'fraud-detector', MODEL: payload.name, VERSION: payload.version, ALIAS: payload.alias },
    });
    const outputs = Object.fromEntries(readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => l.split('=')));
    return { status: run.status, stdout: run.stdout, outputs };
  }

  test('passes a champion promotion of the served model on to pulumi up', () => {
    expect(promote({ name: 'fraud-detector', version: '7', alias: 'champion' })).toMatchObject({
      status: 0, outputs: { deploy: 'true', model: 'fraud-detector', version: '7' },
    });
  });

  test('acknowledges and skips other models and aliases', () => {
    expect(promote({ name: 'churn', version: '3', alias: 'champion' })).toMatchObject({ status: 0, outputs: { deploy: 'false' } });
    expect(promote({ name: 'fraud-detector', version: '8', alias: 'challenger' })).toMatchObject({ status: 0, outputs: { deploy: 'false' } });
  });

  test('fails on a payload that is not a model name and version, whatever it contains', () => {
    const canary = path.join(work, 'injected');
    for (const payload of [
      { name: 'fraud-detector', version: `7"; touch ${canary}; echo "`, alias: 'champion' },
      { name: `$(touch ${canary})`, version: '7', alias: 'champion' },
      { name: 'fraud-detector', version: '0', alias: 'champion' },
      { name: 'fraud-detector', version: '', alias: 'champion' },
    ]) {
      const result = promote(payload);
      expect(result.status).toBe(1);
      expect(result.stdout).toMatch(/^::error::client_payload\.(name|version) is not/);
      expect(result.outputs).toEqual({});
    }
    expect(existsSync(canary)).toBe(false);
  });
});
