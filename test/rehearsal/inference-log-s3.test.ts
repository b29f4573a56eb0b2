/**
 * Rehearsal of the metrics proxy's inference log against a real S3-compatible object store:
 * SeaweedFS's S3 gateway (test/support/s3-server.ts, built by scripts/setup-seaweedfs.sh),
 * which enforces SigV4 with one access key. The log writes what a day of production traffic
 * would give it, and the drift checker, run as the CronJob runs it (the bundled
 * assets/mlops-drift.js), reads the objects back across their version and hour partitions and
 * reaches the verdicts it reaches on the same rows as a CSV file.
 *
 * The unit tier (test/runtime/inference-log/) checks the same code against a loopback server
 * written for the tests; this one checks it against another implementation's SigV4, PutObject,
 * listing and error answers, and a store that goes down and comes back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type Capture, type InferenceLogEvent, createInferenceLog, parseInferenceLogConfig } from '../../src/runtime/metrics-proxy/inference-log';
import { type PutObject, s3PutObject } from '../../src/runtime/metrics-proxy/inference-log/s3-put';
import type { RetryPolicy } from '../../src/runtime/metrics-proxy/inference-log/writer';
import { bundledProgram } from '../runtime/bundled-program';
import { FIXTURES, readFixture, runDrift } from '../runtime/drift-support';
import { parseExposition } from '../runtime/prometheus-text';
import { type S3Server, startS3Server } from '../support/s3-server';

const E2E = path.join(FIXTURES, 'e2e');
const e2e = readFixture<{ features: string[]; categorical: string[]; expected: { features: Array<{ feature: string; method: string; drifted: boolean }>; rows: { reference: number; current: number } } }>('e2e.json');
const featureArgs = ['--features', e2e.features.join(','), '--categorical', e2e.categorical.join(','), '--json'];
const BUCKET = 'ml-logs';
const MODEL = 'fraud-detector';
const DAY = '2024-05-31';

/** The bundled checker as the CronJob's container runs it; S3 retries against a stopped store take longer than runDrift's default. */
const runChecker = (program: string, args: string[], env: Record<string, string>) => runDrift(program, args, env, 120_000);

/** The rows of a fixture CSV as the client would send them: numbers as JSON numbers, categories as strings. */
function csvRows(file: string): { columns: string[]; rows: unknown[][] } {
  const [header, ...lines] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  const columns = header.split(',');
  const rows = lines.map((line) => line.split(',').map((value, i) => (e2e.categorical.includes(columns[i]) ? value : Number(value))));
  return { columns, rows };
}

describe('inference log on a real S3 object store (SeaweedFS S3 gateway, SigV4 enforced)', () => {
  const program = bundledProgram('mlops-drift.js', 'src/runtime/drift');
  let s3: S3Server;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3Server();
    env = { ...s3.env, AWS_ENDPOINT_URL: s3.endpoint };
    await s3.createBucket(BUCKET);
  });

  afterAll(async () => {
    await s3?.stop();
  });

  function start(prefix: string, extraEnv: Record<string, string> = {}, put?: (settingsPut: PutObject) => PutObject, retry?: RetryPolicy) {
    const config = parseInferenceLogConfig({
      MLOPS_INFERENCE_LOG_URI: `s3://${BUCKET}/${prefix}`, MLOPS_INFERENCE_LOG_SAMPLE_RATIO: '1', MLOPS_POD_NAME: 'fraud-detector-7d9f-abcde', ...env, ...extraEnv,
    })!;
    const events: InferenceLogEvent[] = [];
    const log = createInferenceLog(config, {
      modelName: MODEL, version: '3', log: (e) => events.push(e), retry, ...(put ? { put: put(s3PutObject(config.s3, config.bucket)) } : {}),
    });
    const metric = (name: string, labels: Record<string, string> = {}) => parseExposition(log.render()).value(name, { model: MODEL, ...labels });
    return { log, events, metric };
  }

  const request = (columns: string[], rows: unknown[][], startedAt: Date): Capture => ({
    requestBody: Buffer.from(JSON.stringify({ dataframe_split: { columns: columns.filter((c) => c !== 'label' && c !== 'prediction'), data: rows.map((r) => r.slice(0, 5)) } })),
    responseBody: Buffer.from(JSON.stringify({ predictions: rows.map((r) => r[6]) })),
    code: 200,
    latencySeconds: 0.02,
    startedAt,
  });

  test('writes a day of traffic that the drift checker reads back across its partitions, with the verdicts of the same rows as CSV', async () => {
    // GIVEN the fixture's current rows, sent in batches of 10 over two hours of the day
    const { columns, rows } = csvRows(path.join(E2E, 'current.csv'));
    expect(columns.slice(0, 5)).toEqual(e2e.features);
    const { log, metric } = start('inference', { MLOPS_INFERENCE_LOG_FLUSH_BYTES: '20000' });
    for (let i = 0; i < rows.length; i += 10) {
      log.record(request(columns, rows.slice(i, i + 10), new Date(`${DAY}T${i < rows.length / 2 ? '12' : '13'}:00:${String(i % 60).padStart(2, '0')}Z`)));
    }
    // WHEN the proxy stops
    await log.close(30_000);

    // THEN every record is in an acknowledged object of its hour, named by the layout
    expect(metric('mlops_inference_log_records_total', { outcome: 'written' })).toBe(rows.length);
    const keys = await s3.listKeys(BUCKET, 'inference/');
    expect(keys.length).toBe(metric('mlops_inference_log_objects_total'));
    expect(keys.length).toBeGreaterThan(2);
    for (const key of keys) expect(key).toMatch(/^inference\/model=fraud-detector\/version=3\/dt=2024-05-31\/hour=1[23]\/fraud-detector-7d9f-abcde-\d{13}-\d{6}\.jsonl\.gz$/);
    const first = gunzipSync(await s3.getObject(BUCKET, keys[0])).toString('utf8').split('\n')[0];
    expect(Object.keys(JSON.parse(first))).toEqual(['_timestamp', '_model', '_version', '_request_id', '_code', '_latency_seconds', ...e2e.features, 'prediction']);

    // and the drift checker reads them as its current data, across version=* and hour=*
    const run = await runChecker(program, ['check', '--reference', path.join(E2E, 'reference.csv'),
      '--current', `s3://${BUCKET}/inference/model=${MODEL}/version=*/dt={{ds}}/hour=*/*.jsonl.gz`, '--date', DAY, ...featureArgs], env);
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(run.stdout) as { rows: unknown; features: Array<{ feature: string; method: string; drifted: boolean }> };
    expect(result.rows).toEqual(e2e.expected.rows);
    expect(result.features.map((f) => [f.feature, f.method, f.drifted])).toEqual(e2e.expected.features.map((f) => [f.feature, f.method, f.drifted]));
  });

  test('does not retry a wrong secret (403 SignatureDoesNotMatch): one attempt, the records counted lost, logged once', async () => {
    let attempts = 0;
    const { log, events, metric } = start('denied', { AWS_SECRET_ACCESS_KEY: 'not-the-secret', MLOPS_INFERENCE_LOG_FLUSH_BYTES: '1' }, (put) => (key, body, signal) => {
      attempts += 1;
      return put(key, body, signal);
    });
    const { columns, rows } = csvRows(path.join(E2E, 'current.csv'));
    log.record(request(columns, rows.slice(0, 5), new Date(`${DAY}T12:00:00Z`)));
    log.record(request(columns, rows.slice(5, 8), new Date(`${DAY}T12:00:01Z`)));
    await log.close(30_000);
    expect(attempts).toBe(2);
    expect(metric('mlops_inference_log_records_total', { outcome: 'dropped_upload_failed' })).toBe(8);
    expect(events.filter((e) => e.event === 'inference_log_upload_failed')).toEqual([
      expect.objectContaining({ level: 'error', willRetry: false, error: expect.stringMatching(/403 Forbidden SignatureDoesNotMatch/) }),
    ]);
    expect(await s3.listKeys(BUCKET, 'denied/')).toEqual([]);
  });

  test('retries while the store is down and writes once it is back', async () => {
    // GIVEN the store down, and retries that outlast its restart (about 18 s here, on its existing data)
    await s3.kill();
    const { log, events, metric } = start('outage', {}, undefined, { attempts: 30, baseDelayMs: 250, maxDelayMs: 2000 });
    const { columns, rows } = csvRows(path.join(E2E, 'current.csv'));
    log.record(request(columns, rows.slice(0, 10), new Date(`${DAY}T12:00:00Z`)));
    // WHEN the proxy stops, and the store comes back while the log retries
    const closed = log.close(60_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await s3.restart();
    await closed;
    // THEN the records were written after at least one refused attempt, which was logged once, as was the recovery
    expect(metric('mlops_inference_log_records_total', { outcome: 'written' })).toBe(10);
    expect(events.map((e) => e.event)).toEqual(['inference_log_upload_failed', 'inference_log_upload_recovered', 'inference_log_closed']);
    expect(events[0]).toEqual(expect.objectContaining({ level: 'warn', willRetry: true, error: expect.stringContaining('ECONNREFUSED') }));
    expect(await s3.listKeys(BUCKET, 'outage/')).toHaveLength(1);
  });
});
