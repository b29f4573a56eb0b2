import { gunzipSync } from 'node:zlib';
import { loadTable } from '../../../src/runtime/drift/io/dataset';
import { Dictionary, type Table } from '../../../src/runtime/drift/io/table';
import { parseInferenceLogConfig } from '../../../src/runtime/metrics-proxy/inference-log/config';
import { type Capture, type InferenceLogEvent, createInferenceLog } from '../../../src/runtime/metrics-proxy/inference-log';
import { PARSE_BATCH_CAPTURES, PARSE_DELAY_MS } from '../../../src/runtime/metrics-proxy/inference-log/inference-log';
import { parseExposition } from '../prometheus-text';
import { type FakeS3, startFakeS3 } from './fake-s3';

/**
 * The inference log as the proxy will use it: sampled captures in, gzipped JSON Lines objects
 * out to a SigV4-verifying S3 endpoint, read back by the drift checker's own reader.
 */

const MODEL = 'fraud-detector';
const STARTED = new Date('2024-05-31T12:34:56.789Z');
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Waits until `condition` holds, at most `ms`; the caller's expect says what was awaited. */
async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}

function capture(request: unknown, response: unknown, extra: Partial<Capture> = {}): Capture {
  return {
    requestBody: Buffer.isBuffer(request) ? request : json(request),
    responseBody: Buffer.isBuffer(response) ? response : json(response),
    code: 200,
    latencySeconds: 0.0125,
    startedAt: STARTED,
    ...extra,
  };
}

describe('createInferenceLog', () => {
  let s3: FakeS3;
  beforeAll(async () => {
    s3 = await startFakeS3();
  });
  afterAll(() => s3.close());
  beforeEach(() => {
    s3.seen.length = 0;
    s3.objects.clear();
  });

  const config = (env: Record<string, string> = {}) => parseInferenceLogConfig({
    MLOPS_INFERENCE_LOG_URI: 's3://ml-logs/inference',
    MLOPS_POD_NAME: 'fraud-detector-7d9f-abcde',
    ...s3.env,
    ...env,
  })!;

  function start(env: Record<string, string> = {}, random: () => number = () => 0) {
    const events: InferenceLogEvent[] = [];
    const log = createInferenceLog(config(env), { modelName: MODEL, version: '3', log: (e) => events.push(e), now: () => 1717156800000, random });
    const metric = (name: string, labels: Record<string, string> = {}) => parseExposition(log.render()).value(name, { model: MODEL, ...labels });
    return { log, events, metric };
  }

  test('writes sampled requests as JSON Lines objects that the drift checker reads back', async () => {
    // GIVEN a log of every request
    const { log, metric } = start({ MLOPS_INFERENCE_LOG_SAMPLE_RATIO: '1' });
    expect(log.sample()).toBe(true);
    // WHEN a two-row dataframe_split request and a one-row instances request are recorded, then the proxy stops
    log.record(capture({ dataframe_split: { columns: ['amount', 'country'], data: [[12.5, 'DE'], [3, 'FR']] } }, { predictions: [0, 1] }, { requestId: 'req-1' }));
    log.record(capture({ instances: [{ amount: 99, country: 'US' }] }, { predictions: [1] }));
    await log.close(5000);

    // THEN one object, named by the layout, gzipped, typed as such
    expect([...s3.objects.keys()]).toEqual(['ml-logs/inference/model=fraud-detector/version=3/dt=2024-05-31/hour=12/fraud-detector-7d9f-abcde-1717156800000-000001.jsonl.gz']);
    const [object] = [...s3.objects.values()];
    expect(object.contentType).toBe('application/gzip');
    expect(object.contentEncoding).toBeUndefined();
    const records = gunzipSync(object.body).toString().trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(records).toEqual([
      { _timestamp: '2024-05-31T12:34:56.789Z', _model: MODEL, _version: '3', _request_id: 'req-1', _code: 200, _latency_seconds: 0.0125, amount: 12.5, country: 'DE', prediction: 0 },
      { _timestamp: '2024-05-31T12:34:56.789Z', _model: MODEL, _version: '3', _request_id: 'req-1', _code: 200, _latency_seconds: 0.0125, amount: 3, country: 'FR', prediction: 1 },
      { _timestamp: '2024-05-31T12:34:56.789Z', _model: MODEL, _version: '3', _request_id: expect.stringMatching(/^[0-9a-f-]{36}$/), _code: 200, _latency_seconds: 0.0125, amount: 99, country: 'US', prediction: 1 },
    ]);

    // and the drift checker's reader takes the hour's objects by a glob, as its --current
    const table: Table = await loadTable('s3://ml-logs/inference/model=fraud-detector/version=3/dt=2024-05-31/hour=12/*.jsonl.gz',
      [{ name: 'amount', kind: 'number' }, { name: 'country', kind: 'text' }, { name: 'prediction', kind: 'number' }],
      [undefined, new Dictionary(), undefined],
      { settings: { s3: { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } } });
    expect(table.rows).toBe(3);
    const amount = table.columns.get('amount')!;
    expect(amount.kind === 'number' && Array.from(amount.values)).toEqual([12.5, 3, 99]);
    expect(s3.seen.every((r) => r.signed)).toBe(true);

    // and the metrics say so
    expect(metric('mlops_inference_log_records_total', { outcome: 'written' })).toBe(3);
    expect(metric('mlops_inference_log_objects_total')).toBe(1);
    expect(metric('mlops_inference_log_buffered_records')).toBe(0);
    expect(metric('mlops_model_info', { version: '3' })).toBe(1);
  });

  test('takes the pod name from the options over the config', async () => {
    const log = createInferenceLog(config(), { modelName: MODEL, version: '3', podName: 'other-pod', now: () => 1 });
    log.record(capture({ inputs: [{ a: 1 }] }, { predictions: [1] }));
    await log.close(5000);
    expect([...s3.objects.keys()]).toEqual(['ml-logs/inference/model=fraud-detector/version=3/dt=2024-05-31/hour=12/other-pod-1-000001.jsonl.gz']);
  });

  test('samples by the configured share with the random source it is given', () => {
    const draws = [0.1, 0.3, 0.2499, 0.9];
    const { log } = start({ MLOPS_INFERENCE_LOG_SAMPLE_RATIO: '0.25' }, () => draws.shift()!);
    expect([1, 2, 3, 4].map(() => log.sample())).toEqual([true, false, true, false]);
    expect(log.maxBodyBytes).toBe(1024 * 1024);
  });

  test('joins the shadow challenger\'s answer to the records of a mirrored request', async () => {
    // GIVEN a mirrored request the challenger answered, one it failed, and one not mirrored
    const { log } = start();
    log.record(capture({ inputs: [{ a: 1 }, { a: 2 }] }, { predictions: [0.5, 0.7] }, { requestId: 'both', challenger: { code: 200, body: json({ predictions: [0.5, 0.9] }) } }));
    log.record(capture({ inputs: [{ a: 3 }] }, { predictions: [0.1] }, { requestId: 'failed', challenger: { code: 0, body: undefined } }));
    log.record(capture({ inputs: [{ a: 4 }] }, { predictions: [0.2] }, { requestId: 'alone' }));
    // WHEN
    await log.close(5000);
    // THEN
    const [object] = [...s3.objects.values()];
    const records = gunzipSync(object.body).toString().trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(records.map((r) => [r._request_id, r.a, r.prediction, r._challenger_code, r.challenger_prediction])).toEqual([
      ['both', 1, 0.5, 200, 0.5],
      ['both', 2, 0.7, 200, 0.9],
      ['failed', 3, 0.1, 0, undefined],
      ['alone', 4, 0.2, undefined, undefined],
    ]);
  });

  test('samples with a draw it is given, the one the shadow samples with', () => {
    const { log } = start({ MLOPS_INFERENCE_LOG_SAMPLE_RATIO: '0.25' }, () => 0.9);
    expect([0.1, 0.25, 0.2499].map((u) => log.sample(u))).toEqual([true, false, true]);
  });

  test('record only queues: the bodies are parsed together a moment later, not on the request\'s turn', async () => {
    // GIVEN one capture
    const { log, metric } = start();
    const recordedAt = Date.now();
    log.record(capture({ inputs: [[1], [2]] }, { predictions: [0, 1] }));
    // THEN it is not parsed on its own turn, nor on the next: it waits for others
    expect(metric('mlops_inference_log_buffered_records')).toBe(0);
    await nextTurn();
    expect(metric('mlops_inference_log_buffered_records')).toBe(0);
    // ...at most PARSE_DELAY_MS (plus the machine's delay)
    await until(() => metric('mlops_inference_log_buffered_records') === 2);
    expect(metric('mlops_inference_log_buffered_records')).toBe(2);
    expect(Date.now() - recordedAt).toBeGreaterThanOrEqual(PARSE_DELAY_MS - 1);
    await log.close(5000);
  });

  test('parses a full batch of captures on the next turn', async () => {
    // GIVEN a batch of captures, one row each
    const { log, metric } = start();
    for (let i = 0; i < PARSE_BATCH_CAPTURES; i++) log.record(capture({ inputs: [[i]] }, { predictions: [i] }));
    expect(metric('mlops_inference_log_buffered_records')).toBe(0);
    // WHEN the event loop turns once
    await nextTurn();
    // THEN all of them are parsed
    expect(metric('mlops_inference_log_buffered_records')).toBe(PARSE_BATCH_CAPTURES);
    await log.close(5000);
    expect(metric('mlops_inference_log_records_total', { outcome: 'written' })).toBe(PARSE_BATCH_CAPTURES);
  });

  test('counts unreadable bodies by part and logs their records without those columns', async () => {
    const { log, metric } = start();
    log.record(capture(Buffer.from('not json'), { predictions: [1] }));
    log.record(capture({ inputs: [{ a: 1 }] }, Buffer.from('<html>')));
    log.record(capture({ inputs: [{ a: 1 }] }, {}, { responseBody: undefined }));
    await log.close(5000);
    expect(metric('mlops_inference_log_unparsed_total', { part: 'request' })).toBe(1);
    expect(metric('mlops_inference_log_unparsed_total', { part: 'response' })).toBe(2);
    const [object] = [...s3.objects.values()];
    const records = gunzipSync(object.body).toString().trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(records.map((r) => [r._unparsed, r.a, r.prediction])).toEqual([['request', undefined, 1], ['response', 1, undefined], ['response', 1, undefined]]);
  });

  test('never throws into the request path, whatever it is given, and logs a failure once', async () => {
    const { log, events, metric } = start();
    expect(() => log.record(capture({ inputs: [1] }, { predictions: [1] }, { startedAt: new Date(NaN) }))).not.toThrow();
    expect(() => log.record(capture({ inputs: [1] }, { predictions: [1] }, { startedAt: new Date(NaN) }))).not.toThrow();
    expect(() => log.record(undefined as unknown as Capture)).not.toThrow();
    // (parsing comes PARSE_DELAY_MS later and yields after a few milliseconds; the first failure's stack trace may take that long)
    await until(() => metric('mlops_inference_log_unparsed_total', { part: 'request' }) === 3);
    expect(metric('mlops_inference_log_unparsed_total', { part: 'request' })).toBe(3);
    expect(events.filter((e) => e.event === 'inference_log_record_failed')).toHaveLength(1);
    await log.close(1000);
  });

  test('writes an object once its oldest record is flushSeconds old', async () => {
    // GIVEN a log on the real clock that flushes after 0.1 s
    const log = createInferenceLog(config({ MLOPS_INFERENCE_LOG_FLUSH_SECONDS: '0.1' }), { modelName: MODEL, version: '3' });
    // WHEN one request is recorded and nothing else happens
    log.record(capture({ inputs: [{ a: 1 }] }, { predictions: [1] }));
    const deadline = Date.now() + 5000;
    while (s3.objects.size === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    // THEN its object is written without a close
    expect(s3.objects.size).toBe(1);
    await log.close(1000);
  });

  test('counts records given after close as dropped_upload_failed', async () => {
    const { log, metric } = start();
    log.record(capture({ inputs: [{ a: 1 }] }, { predictions: [1] }));
    await log.close(5000);
    log.record(capture({ inputs: [{ a: 1 }, { a: 2 }] }, { predictions: [1, 0] }));
    expect(metric('mlops_inference_log_records_total', { outcome: 'written' })).toBe(1);
    expect(metric('mlops_inference_log_records_total', { outcome: 'dropped_upload_failed' })).toBe(2);
  });

  test('drops what does not fit in the buffer while storage is down, and counts it', async () => {
    // GIVEN room for 3 records and a store that holds every upload
    s3.hold();
    const { log, metric } = start({ MLOPS_INFERENCE_LOG_BUFFER_RECORDS: '3' });
    try {
      for (let i = 0; i < 5; i++) log.record(capture({ inputs: [{ a: i }] }, { predictions: [i] }));
      await until(() => metric('mlops_inference_log_records_total', { outcome: 'dropped_buffer_full' }) > 0);
      expect(metric('mlops_inference_log_records_total', { outcome: 'dropped_buffer_full' })).toBe(2);
      expect(metric('mlops_inference_log_buffered_records')).toBe(3);
    } finally {
      s3.release();
    }
    await log.close(5000);
    expect(metric('mlops_inference_log_records_total', { outcome: 'written' })).toBe(3);
  });
});
