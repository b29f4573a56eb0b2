import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duration } from 'cdk8s';
import * as yaml from 'js-yaml';
import { ALERT_NAMES, ModelService, Monitoring, PrometheusAlerts, ServingRuntime } from '../../src';
import { newChart, synth } from '../support/synth-helpers';
import { fixtureRules, writeRuleFiles } from './fixture-stack';

// promtool comes with Debian's prometheus package (scripts/setup-debian.sh).
const SUITES = path.join(__dirname, 'suites');

function promtool(args: string[], cwd: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`promtool could not run (${run.error.message}); install it with "bash scripts/setup-debian.sh"`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** Rules of a stack that differs from the fixture in every option that changes the rules' text. */
function variantRules(): any[] {
  const chart = newChart('serving');
  Monitoring.configure(chart, { ruleLabels: { prometheus: 'team-ml' } });
  const custom = new ModelService(chart, 'ranker', {
    runtime: ServingRuntime.custom({ image: 'registry.example.com/ml/ranker:2.3.1', port: 8000 }),
    modelName: 'ranker_v2.1',
    latencyObjective: Duration.millis(2500),
  });
  const dark = new ModelService(chart, 'dark', {
    runtime: ServingRuntime.custom({
      image: 'registry.example.com/ml/dark:1.0.0', port: 8000,
      metrics: { requestsTotal: 'http_requests_total', durationHistogram: 'http_request_duration_seconds' },
    }),
    metricsProxy: false,
    errorRateObjective: 0.01,
  });
  new PrometheusAlerts(chart, 'alerts', {
    modelServices: [custom, dark],
    availabilityObjective: 0.95,
    trafficDropRatio: 0.25,
    trafficDropMinRate: 2,
    alertLabels: { team: 'search' },
    runbookUrl: 'https://wiki.example.com/ml/runbooks',
    driftMonitors: [{
      name: 'ranker-drift', namespace: 'serving', modelName: 'ranker_v2.1', schedulePeriod: Duration.minutes(90),
      reportsQuality: false, qualityMetrics: [], pushgatewayJob: 'pushgateway', driftShare: 0.3, shardCount: 3,
    }],
    registries: [{ name: 'registry', namespace: 'ml-platform' }],
  });
  return synth(chart).filter((o) => o.kind === 'PrometheusRule');
}

describe('synthesized rule groups pass promtool', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-promtool-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const groups = [...fixtureRules(), ...variantRules()].flatMap((rule) => rule.spec.groups.map((group: any) => ({ rule: `${rule.metadata.namespace}/${rule.metadata.name}`, group })));

  test.each(groups.map(({ rule, group }) => [group.name, rule, group]))('promtool check rules: group %s (PrometheusRule %s)', (name, _rule, group) => {
    // GIVEN the group alone in a rule file
    const file = path.join(dir, `${String(name).replace(/[^A-Za-z0-9_.-]+/g, '_')}.yaml`);
    fs.writeFileSync(file, yaml.dump({ groups: [group] }, { lineWidth: -1 }));
    // WHEN
    const { status, output } = promtool(['check', 'rules', file], dir);
    // THEN no syntax error, no lint finding (duplicate rules), every rule counted
    expect(output).toContain(`SUCCESS: ${(group as any).rules.length} rules found`);
    expect(status).toBe(0);
  });

  test.each(fs.readdirSync(SUITES).filter((f) => f.endsWith('.test.yaml')))('promtool test rules: %s against the synthesized rules', (suite) => {
    // GIVEN the fixture stack's rule files next to the suite, under the names it refers to
    const suiteDir = fs.mkdtempSync(path.join(dir, 'suite-'));
    writeRuleFiles(fixtureRules(), suiteDir);
    fs.copyFileSync(path.join(SUITES, suite), path.join(suiteDir, suite));
    // WHEN
    const { status, output } = promtool(['test', 'rules', suite], suiteDir);
    // THEN
    if (status !== 0) throw new Error(`promtool test rules ${suite} failed:\n${output}`);
    expect(output).toContain('SUCCESS');
  });
});

describe('the promtool suites', () => {
  const tests = fs.readdirSync(SUITES).filter((f) => f.endsWith('.test.yaml'))
    .flatMap((f) => (yaml.load(fs.readFileSync(path.join(SUITES, f), 'utf8')) as any).tests as any[]);
  const checks = tests.flatMap((t) => (t.alert_rule_test ?? []) as Array<{ alertname: string; exp_alerts?: unknown[] }>);

  test.each([...ALERT_NAMES])('have a series that fires %s and one that must not', (alert) => {
    const fired = checks.filter((c) => c.alertname === alert && (c.exp_alerts ?? []).length > 0);
    const quiet = tests.filter((t) => (t.alert_rule_test ?? []).some((c: any) => c.alertname === alert)
      && (t.alert_rule_test as any[]).filter((c) => c.alertname === alert).every((c) => (c.exp_alerts ?? []).length === 0));
    expect(fired.length).toBeGreaterThan(0);
    expect(quiet.length).toBeGreaterThan(0);
  });

  test('cover every alerting rule of the fixture stack', () => {
    const synthesized = new Set(fixtureRules().flatMap((r) => r.spec.groups.flatMap((g: any) => g.rules)).map((r: any) => r.alert).filter(Boolean));
    expect([...synthesized].sort()).toEqual([...ALERT_NAMES].sort());
  });
});
