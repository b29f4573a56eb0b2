import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { ReferenceStack } from '../examples/reference-stack';
import { KUBE_SCORE_REASON_PREFIX } from '../src/constructs/core/scanner-annotations';

// The scanners platform teams run on manifests, on the synthesized reference stack: checkov
// (PyPI, its own virtualenv .tools/checkov, by scripts/setup-python.sh) and kube-score (Go
// module proxy, .tools/kube-score, by scripts/setup-go-tools.sh), at the versions pinned there.
// Every finding must be either fixed or skipped with the scanner's own annotation and a reason
// (src/constructs/core/scanner-annotations.ts). trivy is not run yet: v0.74.0 is on the Go
// module proxy, but its module graph (about 480 requirements) takes far longer to build than
// the test command can spend on one scanner.

const ROOT = path.join(__dirname, '..');
const CHECKOV = path.join(ROOT, '.tools', 'checkov', 'bin', 'checkov');
const KUBE_SCORE = path.join(ROOT, '.tools', 'kube-score');
// kube-score's grades: 1 critical, 5 warning, 7 almost OK, 10 OK.
const KUBE_SCORE_OK = 7;

function requireTool(file: string, setup: string): void {
  if (!existsSync(file)) throw new Error(`${file} is missing; run bash ${setup}`);
}

function writeManifest(objects: any[]): { file: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'scanners-'));
  const file = path.join(dir, 'stack.k8s.yaml');
  writeFileSync(file, objects.map((o) => yaml.dump(o, { noRefs: true, lineWidth: -1 })).join('---\n'));
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** checkov's findings that are neither passed nor skipped with a reason, as "check resource: why". */
function checkovProblems(file: string): { problems: string[]; skipped: number; passed: number } {
  // --skip-download: no call to Prisma Cloud for guidelines or ids.
  const run = spawnSync(CHECKOV, ['-f', file, '--framework', 'kubernetes', '--skip-download', '-o', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.error) throw run.error;
  const report = JSON.parse(run.stdout);
  const results = report.results ?? {};
  const problems = [
    ...(results.failed_checks ?? []).map((f: any) => `${f.check_id} ${f.resource}: failed (${f.check_name})`),
    ...(results.parsing_errors ?? []).map((e: any) => `parsing error ${e}`),
    ...(results.skipped_checks ?? [])
      .filter((s: any) => (s.check_result?.suppress_comment ?? 'No comment provided') === 'No comment provided' || s.check_result.suppress_comment.length < 20)
      .map((s: any) => `${s.check_id} ${s.resource}: skipped without a reason`),
  ];
  return { problems, skipped: (results.skipped_checks ?? []).length, passed: (results.passed_checks ?? []).length };
}

/** kube-score's findings below "almost OK" and its ignored checks without a reason annotation. */
function kubeScoreProblems(file: string): { problems: string[]; skipped: number } {
  const run = spawnSync(KUBE_SCORE, ['score', file, '--output-format', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.error) throw run.error;
  const report: any[] = JSON.parse(run.stdout);
  const problems: string[] = [];
  let skipped = 0;
  for (const o of report) {
    const what = `${o.type_meta.kind}/${o.object_name}`;
    const annotations: Record<string, string> = o.object_meta?.annotations ?? {};
    for (const c of o.checks) {
      if (c.skipped) {
        skipped++;
        // Skipped because ignored by annotation (not because the check does not apply).
        const ignored = (annotations['kube-score/ignore'] ?? '').split(',').includes(c.check.id);
        if (ignored && (annotations[`${KUBE_SCORE_REASON_PREFIX}${c.check.id}`] ?? '').length < 20) problems.push(`${c.check.id} ${what}: ignored without a reason`);
      } else if (c.grade < KUBE_SCORE_OK) {
        problems.push(`${c.check.id} ${what}: ${(c.comments ?? []).map((m: any) => `${m.path ? `(${m.path}) ` : ''}${m.summary}`).join('; ')}`);
      }
    }
  }
  return { problems, skipped };
}

describe('checkov and kube-score on the reference stack', () => {
  const objects = Testing.synth(new ReferenceStack(Testing.app(), 'mlops'));

  beforeAll(() => {
    requireTool(CHECKOV, 'scripts/setup-python.sh');
    requireTool(KUBE_SCORE, 'scripts/setup-go-tools.sh');
  });

  test('checkov 3.3.30 finds nothing that is not skipped with a reason', () => {
    // GIVEN the manifests as cdk8s synth writes them
    const { file, cleanup } = writeManifest(objects);
    try {
      // WHEN checkov scans them
      const result = checkovProblems(file);
      // THEN
      expect(result.problems).toEqual([]);
      expect(result.passed).toBeGreaterThan(100);
      expect(result.skipped).toBeGreaterThan(0);
    } finally {
      cleanup();
    }
  }, 180_000);

  test('kube-score 1.20.0 finds nothing that is not ignored with a reason', () => {
    const { file, cleanup } = writeManifest(objects);
    try {
      const result = kubeScoreProblems(file);
      expect(result.problems).toEqual([]);
      expect(result.skipped).toBeGreaterThan(0);
    } finally {
      cleanup();
    }
  }, 60_000);

  test('without the skip annotations, both scanners report what the annotations excuse', () => {
    // GIVEN the same manifests with every scanner annotation removed (what the stack was before)
    const bare = JSON.parse(JSON.stringify(objects));
    for (const o of bare) {
      const a = o.metadata.annotations ?? {};
      for (const k of Object.keys(a)) if (k.startsWith('checkov.io/') || k.startsWith('kube-score')) delete a[k];
    }
    const { file, cleanup } = writeManifest(bare);
    try {
      // WHEN scanned THEN the findings show up unexcused, so the checks above have teeth
      const checkov = checkovProblems(file).problems.join('\n');
      for (const id of ['CKV_K8S_43', 'CKV_K8S_15', 'CKV_K8S_40', 'CKV_K8S_35']) expect(checkov).toContain(id);
      const kubeScore = kubeScoreProblems(file).problems.join('\n');
      for (const id of ['container-image-pull-policy', 'container-security-context-user-group-id', 'pod-probes-identical']) expect(kubeScore).toContain(id);
    } finally {
      cleanup();
    }
  }, 180_000);
});
