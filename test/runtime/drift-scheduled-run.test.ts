import { Cron } from 'cdk8s';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { DriftData, DriftMonitor, ModelRegistryRef, ModelService, ServingRuntime } from '../../src';
import { container, newChart, only, synth } from '../support/synth-helpers';
import { bundledProgram } from './bundled-program';
import { FIXTURES, runDrift } from './drift-support';
import { closeServer, listenOnLoopback } from './http-helpers';

/**
 * A scheduled DriftMonitor's own checker arguments, run by the bundled checker at a given
 * moment (`--now`): which partition does the run read? A daily run at 00:00 must read the
 * day that has just ended (Airflow's ds), in the CronJob's time zone, and a partition that
 * has not landed yet is exit 3 (retried by the Job), not bad input.
 */

const program = bundledProgram('mlops-drift.js', 'src/runtime/drift');
const E2E = path.join(FIXTURES, 'e2e');

/** The container args of a synthesized DriftMonitor, without the push (no Pushgateway here). */
function checkerArgs(props: { schedule: Cron; timeZone?: string; dataPeriodsBack?: number; current: string; reference: string }): string[] {
  const chart = newChart();
  const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
  const service = new ModelService(chart, 'fraud-detector', { runtime: ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) }) });
  new DriftMonitor(chart, 'drift', {
    modelService: service, schedule: props.schedule, timeZone: props.timeZone, dataPeriodsBack: props.dataPeriodsBack,
    reference: DriftData.uri(props.reference), current: DriftData.uri(props.current),
  });
  const args: string[] = container(only(synth(chart), 'CronJob'), 'drift-check').args;
  const push = args.indexOf('--pushgateway');
  return [...args.slice(0, push), ...args.slice(push + 6)]; // drop --pushgateway u --namespace n --model m
}

describe('a scheduled run reads the period that has just ended (bundled checker, DriftMonitor args)', () => {
  let server: http.Server;
  let port: number;
  const requests: string[] = [];
  const partitions = new Set(['/lake/dt=2024-06-01/current.csv', '/lake/dt=2024-05-31/current.csv', '/lake/dt=2024-06-02/hour=13/current.csv']);

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/lake/reference.csv') res.end(fs.readFileSync(path.join(E2E, 'reference.csv')));
      else if (partitions.has(req.url ?? '')) res.end(fs.readFileSync(path.join(E2E, 'current.csv')));
      else res.writeHead(404).end('NoSuchKey');
    });
    port = await listenOnLoopback(server);
  });
  afterAll(async () => {
    await closeServer(server);
  });
  beforeEach(() => {
    requests.length = 0;
  });

  const lake = (p: string) => `http://127.0.0.1:${port}/lake/${p}`;

  it('a daily DriftMonitor\'s run at 00:00 reads yesterday\'s partition', async () => {
    // GIVEN a Cron.daily() monitor on dt={{ds}} partitions, with its defaults
    const args = checkerArgs({ schedule: Cron.daily(), reference: lake('reference.csv'), current: lake('dt={{ds}}/current.csv') });
    // WHEN its run starts a few seconds after midnight on 2024-06-02
    const run = await runDrift(program, [...args, '--now', '2024-06-02T00:00:04Z']);
    // THEN it ran on the day that has just ended, not on the day just begun
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(requests).toContain('/lake/dt=2024-06-01/current.csv');
    expect(requests.some((r) => r.includes('2024-06-02'))).toBe(false);
    expect(JSON.parse(run.stdout).rows).toEqual({ reference: 400, current: 300 });
    expect(run.stderr).toMatch(/"period":\{"ds":"2024-06-01","hour":"00","source":"the period from 2024-06-01 00:00 Etc\/UTC, 1 before the run scheduled at 2024-06-02 00:00"\}/);
  });

  it('takes the day in the CronJob\'s time zone, and further back with dataPeriodsBack', async () => {
    // 00:00 in Berlin on 2024-06-02 is 22:00 UTC on 2024-06-01: the day that ended is 2024-06-01
    const berlin = checkerArgs({ schedule: Cron.daily(), timeZone: 'Europe/Berlin', reference: lake('reference.csv'), current: lake('dt={{ds}}/current.csv') });
    expect((await runDrift(program, [...berlin, '--now', '2024-06-01T22:00:03Z'])).code).toBe(0);
    expect(requests).toContain('/lake/dt=2024-06-01/current.csv');
    requests.length = 0;
    const twoBack = checkerArgs({ schedule: Cron.daily(), dataPeriodsBack: 2, reference: lake('reference.csv'), current: lake('dt={{ds}}/current.csv') });
    expect((await runDrift(program, [...twoBack, '--now', '2024-06-02T00:00:03Z'])).code).toBe(0);
    expect(requests).toContain('/lake/dt=2024-05-31/current.csv');
  });

  it('an hourly run at 14:00 reads hour 13 with {{hour}}', async () => {
    const args = checkerArgs({ schedule: Cron.hourly(), reference: lake('reference.csv'), current: lake('dt={{ds}}/hour={{hour}}/current.csv') });
    expect((await runDrift(program, [...args, '--now', '2024-06-02T14:00:02Z'])).code).toBe(0);
    expect(requests).toContain('/lake/dt=2024-06-02/hour=13/current.csv');
  });

  it('exits 3 (retried), not 2, when the period\'s partition has not landed yet', async () => {
    const args = checkerArgs({ schedule: Cron.daily(), reference: lake('reference.csv'), current: lake('dt={{ds}}/current.csv') });
    const run = await runDrift(program, [...args, '--now', '2024-06-04T00:00:04Z']);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 3, stdout: '' });
    expect(run.stderr).toMatch(/current dataset http:\/\/127\.0\.0\.1:\d+\/lake\/dt=2024-06-03\/current\.csv is not there \(yet\): GET .*: 404/);
  });
});
