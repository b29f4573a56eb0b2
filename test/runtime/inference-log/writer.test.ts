import { gunzipSync } from 'node:zlib';
import { InferenceLogMetrics } from '../../../src/runtime/metrics-proxy/inference-log/metrics';
import { type PutObject, type PutResult, s3PutObject } from '../../../src/runtime/metrics-proxy/inference-log/s3-put';
import { InferenceLogWriter, type LogEvent, type WriterSettings, objectKey, partitionOf } from '../../../src/runtime/metrics-proxy/inference-log/writer';
import { parseExposition } from '../prometheus-text';
import { type FakeS3, startFakeS3 } from './fake-s3';

const START = Date.UTC(2024, 4, 31, 12, 0, 0);
const HOUR_12 = partitionOf('2024-05-31T12:34:56.789Z');
const HOUR_13 = partitionOf('2024-05-31T13:00:00.000Z');
const SETTINGS: WriterSettings = {
  prefix: 'inference',
  modelName: 'fraud-detector',
  version: '3',
  podName: 'fraud-detector-7d9f-abcde',
  bufferRecords: 1000,
  bufferBytes: 1024 * 1024,
  flushBytes: 1024 * 1024,
  flushSeconds: 3600,
  retry: { attempts: 4, baseDelayMs: 40, maxDelayMs: 100 },
};

interface Put { readonly key: string; readonly lines: string[] }

/** A writer whose uploads go to `put` (by default: all succeed, recorded in `puts`). */
function writerWith(settings: Partial<WriterSettings> = {}, put?: PutObject, now: () => number = () => START) {
  const puts: Put[] = [];
  const events: LogEvent[] = [];
  // Set right below: the metrics read the writer's gauge only when rendered.
  const holder: { writer?: InferenceLogWriter } = {};
  const metrics = new InferenceLogMetrics(SETTINGS.modelName, () => holder.writer!.bufferedRecords);
  const recording: PutObject = async (key, body) => {
    puts.push({ key, lines: gunzipSync(body).toString('utf8').split('\n') });
    return { ok: true, status: 200, retryable: false };
  };
  const writer = new InferenceLogWriter({ ...SETTINGS, ...settings }, {
    put: put ?? recording, metrics, log: (e) => events.push(e), now, random: () => 0,
  });
  holder.writer = writer;
  const count = (outcome: string) => parseExposition(metrics.render()).value('mlops_inference_log_records_total', { model: 'fraud-detector', outcome });
  return { writer, puts, events, metrics, count };
}

const byKey = (a: Put, b: Put) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const lines = (n: number, from = 0) => Array.from({ length: n }, (_, i) => JSON.stringify({ _request_id: `r${from + i}`, amount: from + i }));
const until = async (condition: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('objectKey', () => {
  test('follows INFERENCE_LOG_LAYOUT: model, version, UTC date and hour, then pod, start time and sequence', () => {
    expect(objectKey(SETTINGS, HOUR_12, START, 7))
      .toBe('inference/model=fraud-detector/version=3/dt=2024-05-31/hour=12/fraud-detector-7d9f-abcde-1717156800000-000007.jsonl.gz');
  });

  test('starts at the bucket root for an empty prefix, and encodes values so they add no level', () => {
    expect(objectKey({ ...SETTINGS, prefix: '', version: 'a/b c' }, HOUR_13, 1, 123456789))
      .toBe('model=fraud-detector/version=a%2Fb%20c/dt=2024-05-31/hour=13/fraud-detector-7d9f-abcde-1-123456789.jsonl.gz');
  });

  test('takes the partition from the UTC timestamp', () => {
    expect(partitionOf(new Date('2024-05-31T23:59:59.999-02:00').toISOString())).toEqual({ date: '2024-06-01', hour: '01' });
  });
});

describe('InferenceLogWriter: batching', () => {
  test('writes an object when the uncompressed lines reach flushBytes, gzipped JSON Lines that round-trip', async () => {
    // GIVEN objects of at most about 200 bytes
    const { writer, puts, count } = writerWith({ flushBytes: 200 });
    // (each line is about 30 bytes)
    const batch = lines(10);
    // WHEN lines come in one by one
    for (const line of batch) writer.add(HOUR_12, [line]);
    await writer.close(1000);
    expect(count('written')).toBe(10);
    // THEN each object holds whole lines, in order, ending with a newline, named with rising sequence numbers
    // (two upload at once, so they may land in either order)
    puts.sort(byKey);
    const written = puts.flatMap((p) => p.lines.slice(0, -1));
    expect(written).toEqual(batch);
    expect(puts.every((p) => p.lines[p.lines.length - 1] === '')).toBe(true);
    expect(puts.length).toBeGreaterThan(1);
    expect(puts.map((p) => p.key)).toEqual(puts.map((_, i) => objectKey(SETTINGS, HOUR_12, START, i + 1)));
    // and every object but the last reached the threshold
    for (const put of puts.slice(0, -1)) expect(Buffer.byteLength(put.lines.join('\n'))).toBeGreaterThanOrEqual(200);
  });

  test('writes an object when its oldest record is flushSeconds old, not before', async () => {
    // GIVEN a writer on the real clock
    const { writer, puts, count } = writerWith({ flushSeconds: 0.2 }, undefined, Date.now);
    try {
      writer.add(HOUR_12, lines(2));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(puts).toHaveLength(0);
      await until(() => puts.length === 1);
      expect(count('written')).toBe(2);
    } finally {
      await writer.close(1000);
    }
  });

  test('keeps one batch per UTC hour', async () => {
    const { writer, puts } = writerWith();
    writer.add(HOUR_12, lines(2));
    writer.add(HOUR_13, lines(1, 2));
    writer.add(HOUR_12, lines(1, 3));
    await writer.close(1000);
    expect(puts.sort(byKey).map((p) => [p.key.replace(/^.*version=3\//, ''), p.lines.length - 1])).toEqual([
      ['dt=2024-05-31/hour=12/fraud-detector-7d9f-abcde-1717156800000-000001.jsonl.gz', 3],
      ['dt=2024-05-31/hour=13/fraud-detector-7d9f-abcde-1717156800000-000002.jsonl.gz', 1],
    ]);
  });

  test('close writes every batch and counts the records written', async () => {
    const { writer, puts, count, metrics, events } = writerWith();
    writer.add(HOUR_12, lines(5));
    expect(writer.bufferedRecords).toBe(5);
    await writer.close(1000);
    expect(puts).toHaveLength(1);
    expect(count('written')).toBe(5);
    expect(writer.bufferedRecords).toBe(0);
    expect(parseExposition(metrics.render()).value('mlops_inference_log_objects_total', { model: 'fraud-detector' })).toBe(1);
    expect(events).toEqual([expect.objectContaining({ event: 'inference_log_closed', drained: true, heldAtClose: 5 })]);
  });
});

describe('InferenceLogWriter: bounds', () => {
  /** A put that waits until released. */
  function heldPut() {
    const waiting: Array<() => void> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const put: PutObject = (_key, _body, signal) => new Promise<PutResult>((resolve) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = (result: PutResult) => {
        inFlight -= 1;
        resolve(result);
      };
      waiting.push(() => done({ ok: true, status: 200, retryable: false }));
      signal?.addEventListener('abort', () => done({ ok: false, retryable: false, code: 'Aborted', error: 'aborted' }));
    });
    return { put, release: () => waiting.splice(0).forEach((f) => f()), waiting: () => waiting.length, maxInFlight: () => maxInFlight };
  }

  test('drops whole requests when the records limit is reached, counting them dropped_buffer_full', async () => {
    // GIVEN room for 5 records and a store that does not answer yet
    const held = heldPut();
    const { writer, count } = writerWith({ bufferRecords: 5, flushBytes: 1 }, held.put);
    // WHEN 3, then 3 more, then 2 records come
    writer.add(HOUR_12, lines(3));
    writer.add(HOUR_12, lines(3, 3));
    writer.add(HOUR_12, lines(2, 6));
    // THEN the second request does not fit (all of it is dropped), the third does
    expect(count('dropped_buffer_full')).toBe(3);
    expect(writer.bufferedRecords).toBe(5);
    // and once the store answers, room comes back
    await until(() => held.waiting() === 2);
    held.release();
    await until(() => writer.bufferedRecords === 0);
    writer.add(HOUR_12, lines(5, 8));
    expect(writer.bufferedRecords).toBe(5);
    await until(() => held.waiting() === 1);
    held.release();
    await writer.close(1000);
    expect(count('written')).toBe(10);
  });

  test('drops when the bytes limit is reached', () => {
    const { writer, count } = writerWith({ bufferBytes: 100 }, heldPut().put);
    writer.add(HOUR_12, [JSON.stringify({ x: 'a'.repeat(60) })]);
    writer.add(HOUR_12, [JSON.stringify({ x: 'b'.repeat(60) })]);
    expect(count('dropped_buffer_full')).toBe(1);
    expect(writer.bufferedRecords).toBe(1);
  });

  test('has at most two uploads in flight', async () => {
    const held = heldPut();
    const { writer, count } = writerWith({ flushBytes: 1 }, held.put);
    for (let i = 0; i < 6; i++) writer.add(HOUR_12, lines(1, i));
    await until(() => held.waiting() === 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(held.waiting()).toBe(2);
    while (count('written') < 6) {
      held.release();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(held.maxInFlight()).toBe(2);
    await writer.close(1000);
  });

  test('close gives up at its deadline: what is not written is counted dropped_upload_failed, as are later records', async () => {
    // GIVEN a store that never answers, and records in three objects
    const held = heldPut();
    const { writer, count, events } = writerWith({ flushBytes: 1 }, held.put);
    writer.add(HOUR_12, lines(2));
    writer.add(HOUR_12, lines(3, 2));
    writer.add(HOUR_12, lines(4, 5));
    // WHEN the proxy stops with 150 ms left
    const started = Date.now();
    await writer.close(150);
    // THEN close returned at the deadline, all 9 records counted lost, none held
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(count('dropped_upload_failed')).toBe(9);
    expect(count('written')).toBe(0);
    expect(writer.bufferedRecords).toBe(0);
    expect(events.at(-1)).toEqual(expect.objectContaining({ event: 'inference_log_closed', level: 'warn', drained: false, heldAtClose: 9 }));
    writer.add(HOUR_12, lines(2));
    expect(count('dropped_upload_failed')).toBe(11);
  });
});

describe('InferenceLogWriter: a store that ignores the abort', () => {
  test('close still returns soon after its deadline, counting the upload lost', async () => {
    // GIVEN a put that never settles, abort or not
    const { writer, count } = writerWith({}, () => new Promise<PutResult>(() => undefined));
    writer.add(HOUR_12, lines(3));
    // WHEN
    const started = Date.now();
    await writer.close(100);
    // THEN the deadline plus the abort's grace, and the records are counted once
    expect(Date.now() - started).toBeLessThan(1500);
    expect(count('dropped_upload_failed')).toBe(3);
    expect(writer.bufferedRecords).toBe(0);
  });
});

describe('InferenceLogWriter: uploads to a SigV4-verifying S3 endpoint', () => {
  let s3: FakeS3;
  beforeAll(async () => {
    s3 = await startFakeS3();
  });
  afterAll(() => s3.close());
  beforeEach(() => {
    s3.seen.length = 0;
    s3.objects.clear();
  });
  const put = (secret?: string) => s3PutObject({ endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: secret ?? s3.secretAccessKey }, 'ml-logs');

  test('retries 503 with growing, jittered delays, then succeeds; the failure is logged once, the recovery too', async () => {
    // GIVEN a store that answers 503 SlowDown twice
    s3.failNext(503, 503);
    const { writer, count, events } = writerWith({}, put());
    // WHEN one object is written
    writer.add(HOUR_12, lines(4));
    await writer.close(5000);
    // THEN three attempts, the delays at least half of 40 ms then of 80 ms (the jitter's floor), and the object stored
    expect(s3.seen.map((r) => r.status)).toEqual([503, 503, 200]);
    const [a, b, c] = s3.seen.map((r) => r.at);
    expect(b - a).toBeGreaterThanOrEqual(18);
    expect(c - b).toBeGreaterThanOrEqual(38);
    expect(count('written')).toBe(4);
    expect(s3.objects.size).toBe(1);
    const [stored] = [...s3.objects.values()];
    expect(gunzipSync(stored.body).toString()).toBe(`${lines(4).join('\n')}\n`);
    expect(events.map((e) => [e.event, e.level, e.willRetry])).toEqual([
      ['inference_log_upload_failed', 'warn', true],
      ['inference_log_upload_recovered', undefined, undefined],
      ['inference_log_closed', 'info', undefined],
    ]);
    expect(events[0].error).toMatch(/503 Service Unavailable SlowDown/);
  });

  test('does not retry 403 SignatureDoesNotMatch: one attempt per object, records dropped, logged once', async () => {
    const { writer, count, events } = writerWith({ flushBytes: 1 }, put('wrong-secret'));
    writer.add(HOUR_12, lines(2));
    writer.add(HOUR_12, lines(3, 2));
    await writer.close(5000);
    expect(s3.seen.map((r) => r.status)).toEqual([403, 403]);
    expect(count('dropped_upload_failed')).toBe(5);
    const failures = events.filter((e) => e.event === 'inference_log_upload_failed');
    expect(failures).toEqual([expect.objectContaining({ level: 'error', willRetry: false, error: expect.stringContaining('403 Forbidden SignatureDoesNotMatch') })]);
  });

  test('gives up after the last attempt', async () => {
    s3.failNext(500, 500, 500, 500, 500);
    const { writer, count } = writerWith({}, put());
    writer.add(HOUR_12, lines(3));
    await writer.close(5000);
    expect(s3.seen.map((r) => r.status)).toEqual([500, 500, 500, 500]);
    expect(count('dropped_upload_failed')).toBe(3);
    s3.failNext(); // the fifth scripted answer is left for nobody
  });
});
