import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { OBJECT_CONTENT_TYPE, putObject, s3PutObject } from '../../../src/runtime/metrics-proxy/inference-log/s3-put';
import { type S3Settings, objectAddress } from '../../../src/runtime/shared/s3';
import { closeServer, listenOnLoopback, unusedPort } from '../http-helpers';
import { type FakeS3, startFakeS3 } from './fake-s3';

describe('putObject against a SigV4-verifying S3 endpoint', () => {
  let s3: FakeS3;
  let settings: S3Settings;
  const key = 'inference/model=fraud-detector/version=3/dt=2024-05-31/hour=12/pod-a-1717156800000-000001.jsonl.gz';
  const body = Buffer.from([0x1f, 0x8b, 1, 2, 3]);

  beforeAll(async () => {
    s3 = await startFakeS3();
    settings = { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
  });
  afterAll(() => s3.close());
  beforeEach(() => {
    s3.seen.length = 0;
  });

  test('stores the object path-style, signed over its SHA-256, as application/gzip without Content-Encoding', async () => {
    // WHEN
    const result = await putObject(settings, 'ml-logs', key, body);
    // THEN the endpoint verified the signature and the payload hash, and stored the bytes
    expect(result).toEqual({ ok: true, status: 200, retryable: false });
    const [request] = s3.seen;
    expect(request).toEqual(expect.objectContaining({ method: 'PUT', signed: true, status: 200 }));
    expect(request.url).toBe('/ml-logs/inference/model%3Dfraud-detector/version%3D3/dt%3D2024-05-31/hour%3D12/pod-a-1717156800000-000001.jsonl.gz');
    expect(request.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
    expect(request.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=test-access-key\/\d{8}\/eu-central-1\/s3\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
    expect(s3.objects.get(`ml-logs/${key}`)).toEqual({ body, contentType: OBJECT_CONTENT_TYPE, contentEncoding: undefined });
  });

  test('signs the session token of temporary credentials', async () => {
    await putObject({ ...settings, sessionToken: 'session-token' }, 'ml-logs', 'x.jsonl.gz', body);
    expect(s3.seen[0].headers['x-amz-security-token']).toBe('session-token');
    expect(s3.seen[0].headers.authorization).toContain('SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,');
    expect(s3.seen[0].signed).toBe(true);
  });

  test('fails on a wrong secret (403 SignatureDoesNotMatch), not retryable', async () => {
    const result = await putObject({ ...settings, secretAccessKey: 'wrong' }, 'ml-logs', key, body);
    expect(result).toEqual({
      ok: false, status: 403, retryable: false, code: 'SignatureDoesNotMatch',
      error: `PUT s3://ml-logs/${key}: 403 Forbidden SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided.`,
    });
  });

  test('fails on a missing bucket (404 NoSuchBucket), not retryable', async () => {
    expect(await putObject(settings, 'other-bucket', key, body)).toEqual(expect.objectContaining({ ok: false, status: 404, retryable: false, code: 'NoSuchBucket' }));
  });

  test.each([[503, 'SlowDown'], [500, 'InternalError']])('fails on %d, retryable', async (status, code) => {
    s3.failNext(status);
    expect(await s3PutObject(settings, 'ml-logs')(key, body)).toEqual(expect.objectContaining({ ok: false, status, retryable: true, code }));
  });

  test('sends consecutive PUTs of one store over one kept-alive connection', async () => {
    // GIVEN one PutObject, as the inference log holds it
    const put = s3PutObject(settings, 'ml-logs');
    // WHEN it writes three objects one after the other
    const results = [];
    for (const name of ['a', 'b', 'c']) results.push(await put(`${name}.jsonl.gz`, body));
    // THEN all are stored, over the same connection
    expect(results).toEqual([0, 1, 2].map(() => ({ ok: true, status: 200, retryable: false })));
    expect(s3.seen.map((request) => request.signed)).toEqual([true, true, true]);
    expect(new Set(s3.seen.map((request) => request.remotePort)).size).toBe(1);
    expect(s3.objects.get('ml-logs/c.jsonl.gz')?.body).toEqual(body);
  });

  test('fails on a refused connection, retryable', async () => {
    const result = await putObject({ ...settings, endpoint: `http://127.0.0.1:${await unusedPort()}` }, 'ml-logs', key, body);
    expect(result).toEqual(expect.objectContaining({ ok: false, retryable: true, code: 'ECONNREFUSED' }));
  });

  test('gives up on a store that sends nothing within the timeout, retryable', async () => {
    // GIVEN an endpoint that accepts the connection and never answers
    const silent = http.createServer(() => undefined);
    const port = await listenOnLoopback(silent);
    try {
      const started = Date.now();
      const result = await putObject({ ...settings, endpoint: `http://127.0.0.1:${port}` }, 'ml-logs', key, body, { timeoutMs: 200 });
      expect(result).toEqual(expect.objectContaining({ ok: false, retryable: true, code: 'ETIMEDOUT' }));
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await closeServer(silent);
    }
  });

  test('stops at once when aborted, not retryable', async () => {
    s3.hold();
    try {
      const controller = new AbortController();
      const pending = putObject(settings, 'ml-logs', key, body, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      expect(await pending).toEqual(expect.objectContaining({ ok: false, retryable: false, code: 'Aborted' }));
      const aborted = new AbortController();
      aborted.abort();
      expect(await putObject(settings, 'ml-logs', key, body, { signal: aborted.signal })).toEqual(expect.objectContaining({ code: 'Aborted' }));
    } finally {
      s3.release();
    }
  });
});

describe('objectAddress', () => {
  const aws: S3Settings = { region: 'eu-central-1' };

  test('is virtual-hosted on AWS, path-style for a bucket with dots and for a custom endpoint', () => {
    expect(objectAddress(aws, 'ml-logs', 'a/model=m/x y.jsonl.gz')).toEqual({ origin: 'https://ml-logs.s3.eu-central-1.amazonaws.com', path: '/a/model%3Dm/x%20y.jsonl.gz' });
    expect(objectAddress(aws, 'ml.logs', 'k')).toEqual({ origin: 'https://s3.eu-central-1.amazonaws.com', path: '/ml.logs/k' });
    expect(objectAddress({ ...aws, endpoint: 'http://minio:9000/' }, 'ml-logs', 'k')).toEqual({ origin: 'http://minio:9000', path: '/ml-logs/k' });
    expect(objectAddress({ ...aws, endpoint: 'https://gw.example/s3' }, 'ml-logs', 'k')).toEqual({ origin: 'https://gw.example', path: '/s3/ml-logs/k' });
  });
});
