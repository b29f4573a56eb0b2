import * as path from 'node:path';
import { bundledProgram } from './bundled-program';
import { FIXTURES, readFixture, runDrift } from './drift-support';
import { send } from './http-helpers';
import { parseExposition } from './prometheus-text';
import { type Pushgateway, startPushgateway } from './pushgateway';

/**
 * The checker pushing to a real Pushgateway (Debian's prometheus-pushgateway, installed by
 * scripts/setup-debian.sh) on a loopback port, read back through the Pushgateway's /metrics
 * as Prometheus would scrape it.
 */

const program = bundledProgram('mlops-drift.js', 'src/runtime/drift');
const E2E = path.join(FIXTURES, 'e2e');
const e2e = readFixture<{ features: string[]; expected: { quality: Record<string, number> } }>('e2e.json');

/** Only our families: the Pushgateway's own summaries are not for this strict parser. */
async function driftMetrics(url: string) {
  const port = Number(new URL(url).port);
  const text = (await send(port, '/metrics')).text;
  const ours = text.split('\n').filter((line) => /^(# (HELP|TYPE) )?mlops_/.test(line));
  return parseExposition(`${ours.join('\n')}\n`);
}

const GROUP = { instance: '', job: 'mlops-drift', namespace: 'mlops', model: 'fraud-detector' };

describe('mlops-drift --pushgateway (real prometheus-pushgateway)', () => {
  let pushgateway: Pushgateway;
  beforeAll(async () => {
    pushgateway = await startPushgateway();
  });
  afterAll(async () => {
    await pushgateway?.stop();
  });

  const args = (features: string[]) => ['check', '--reference', path.join(E2E, 'reference.csv'), '--current', path.join(E2E, 'current.csv'),
    '--features', features.join(','), '--categorical', 'channel', '--label', 'label', '--prediction', 'prediction',
    '--pushgateway', pushgateway.url, '--namespace', 'mlops', '--model', 'fraud-detector', '--json'];

  it('pushes the contract metrics under job/namespace/model with the values it printed', async () => {
    // GIVEN a check of the e2e data
    const before = Date.now() / 1000;
    const run = await runDrift(program, args(e2e.features));
    const after = Date.now() / 1000;
    expect(run.code).toBe(0);
    const output = JSON.parse(run.stdout) as { features: Array<{ feature: string; method: string; statistic: number; pValue: number | null; drifted: boolean }>; driftShare: number; drifted: boolean };

    // WHEN Prometheus would scrape the Pushgateway
    const metrics = await driftMetrics(pushgateway.url);

    // THEN every contract family is there, labelled with the grouping key, with the printed values
    expect([...metrics.types.keys()].sort()).toEqual([
      'mlops_drift_check_duration_seconds', 'mlops_drift_data_missing', 'mlops_drift_dataset_drifted', 'mlops_drift_detected',
      'mlops_drift_last_success_timestamp_seconds', 'mlops_drift_p_value', 'mlops_drift_rows', 'mlops_drift_share',
      'mlops_drift_statistic', 'mlops_model_quality',
    ]);
    expect([...metrics.types.values()].every((t) => t === 'gauge')).toBe(true);
    for (const f of output.features) {
      const labels = { ...GROUP, feature: f.feature, method: f.method };
      expect(metrics.value('mlops_drift_p_value', labels)).toBe(f.pValue);
      // JSON carries the largest double for an infinite chi-square; Prometheus carries +Inf.
      expect(metrics.value('mlops_drift_statistic', labels)).toBe(f.statistic === Number.MAX_VALUE ? Infinity : f.statistic);
      expect(metrics.value('mlops_drift_detected', labels)).toBe(f.drifted ? 1 : 0);
    }
    expect(metrics.value('mlops_drift_share', GROUP)).toBe(output.driftShare);
    expect(metrics.value('mlops_drift_dataset_drifted', GROUP)).toBe(output.drifted ? 1 : 0);
    expect(metrics.value('mlops_drift_rows', { ...GROUP, dataset: 'reference' })).toBe(400);
    expect(metrics.value('mlops_drift_rows', { ...GROUP, dataset: 'current' })).toBe(300);
    const last = metrics.value('mlops_drift_last_success_timestamp_seconds', GROUP);
    expect(last).toBeGreaterThanOrEqual(before);
    expect(last).toBeLessThanOrEqual(after);
    const duration = metrics.value('mlops_drift_check_duration_seconds', GROUP);
    expect(duration).toBeGreaterThan(0);
    expect(duration).toBeLessThan(after - before);
    for (const [metric, value] of Object.entries(e2e.expected.quality)) {
      expect(Math.abs(metrics.value('mlops_model_quality', { ...GROUP, metric }) - value)).toBeLessThanOrEqual(1e-12);
    }
  });

  it('flags a run whose current data is not there yet (exit 3) and keeps the last verdict, until a run checks again', async () => {
    const late = (current: string) => ['check', '--reference', path.join(E2E, 'reference.csv'), '--current', current,
      '--features', 'amount,channel', '--pushgateway', pushgateway.url, '--namespace', 'mlops', '--model', 'late', '--json'];
    const group = { ...GROUP, model: 'late' };
    // GIVEN a run that checked
    expect((await runDrift(program, late(path.join(E2E, 'current.csv')))).code).toBe(0);
    const checked = await driftMetrics(pushgateway.url);
    const lastSuccess = checked.value('mlops_drift_last_success_timestamp_seconds', group);
    expect(checked.value('mlops_drift_data_missing', group)).toBe(0);

    // WHEN the next run finds no current data
    const run = await runDrift(program, late(path.join(E2E, 'dt=2099-01-01', 'current.csv')));

    // THEN it exits 3 with nothing on stdout, and flags the group without touching the last verdict
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 3, stdout: '' });
    const missing = await driftMetrics(pushgateway.url);
    expect(missing.value('mlops_drift_data_missing', group)).toBe(1);
    expect(missing.value('mlops_drift_last_success_timestamp_seconds', group)).toBe(lastSuccess);
    expect(missing.value('mlops_drift_detected', { ...group, feature: 'amount', method: 'ks' })).toBe(checked.value('mlops_drift_detected', { ...group, feature: 'amount', method: 'ks' }));

    // AND the next run that checks clears the flag
    expect((await runDrift(program, late(path.join(E2E, 'current.csv')))).code).toBe(0);
    expect((await driftMetrics(pushgateway.url)).value('mlops_drift_data_missing', group)).toBe(0);
  });

  it('replaces the whole group on the next push, so dropped features do not linger', async () => {
    expect((await runDrift(program, args(e2e.features))).code).toBe(0);
    expect((await runDrift(program, args(['amount']))).code).toBe(0);
    const metrics = await driftMetrics(pushgateway.url);
    const features = metrics.samples.filter((s) => s.name === 'mlops_drift_detected' && s.labels.model === 'fraud-detector').map((s) => s.labels.feature);
    expect(features).toEqual(['amount']);
  });

  it('keeps the shards of an Indexed Job in separate groups, labelled shard', async () => {
    const shardArgs = (index: number) => ['check', '--reference', path.join(E2E, 'reference.csv'), '--current', path.join(E2E, 'current.csv'),
      '--features', e2e.features.join(','), '--categorical', 'channel', '--shard-index', String(index), '--shard-count', '2',
      '--pushgateway', pushgateway.url, '--namespace', 'mlops', '--model', 'sharded', '--json'];
    expect((await runDrift(program, shardArgs(0))).code).toBe(0);
    expect((await runDrift(program, shardArgs(1))).code).toBe(0);
    const metrics = await driftMetrics(pushgateway.url);
    const detected = metrics.samples.filter((s) => s.name === 'mlops_drift_detected' && s.labels.model === 'sharded')
      .map((s) => [s.labels.shard, s.labels.feature]).sort();
    expect(detected).toEqual([['0', 'amount'], ['0', 'is_new'], ['0', 'score'], ['1', 'age'], ['1', 'channel']]);
  });

  it('fails with exit 1 when the Pushgateway is stopped, printing no result at all', async () => {
    // GIVEN a Pushgateway that was running and is now stopped
    const gone = await startPushgateway();
    await gone.stop();

    // WHEN the check tries to push there
    const run = await runDrift(program, ['check', '--reference', path.join(E2E, 'reference.csv'), '--current', path.join(E2E, 'current.csv'),
      '--features', 'amount', '--pushgateway', gone.url, '--namespace', 'mlops', '--model', 'fraud-detector', '--json']);

    // THEN it fails after its retries, and stdout is empty: no "drifted": false to misread
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/cannot push metrics to the Pushgateway at http:\/\/127\.0\.0\.1:\d+ after 5 attempts: .*ECONNREFUSED/);
  });
});
