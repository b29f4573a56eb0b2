import * as aws4 from 'aws4';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { sign } from '../../src/runtime/drift/io/s3';
import { bundledProgram } from './bundled-program';
import { FIXTURES, readFixture, runDrift } from './drift-support';
import { closeServer, listenOnLoopback } from './http-helpers';

/**
 * s3:// and MLflow sources against loopback servers that speak the real protocols: an S3
 * endpoint that checks every request's SigV4 signature with the secret key, and an MLflow
 * tracking server API with the answers MLflow 3.17 gives (runs/get, registered-models/alias,
 * the mlflow-artifacts proxy's list and download).
 */

const program = bundledProgram('mlops-drift.js', 'src/runtime/drift');
const E2E = path.join(FIXTURES, 'e2e');
const e2e = readFixture<{ features: string[]; categorical: string[]; expected: { features: Array<{ feature: string; method: string; drifted: boolean }> } }>('e2e.json');
const featureArgs = ['--features', e2e.features.join(','), '--categorical', e2e.categorical.join(','), '--json'];
const expectedVerdicts = e2e.expected.features.map((f) => [f.feature, f.method, f.drifted]);
const verdicts = (stdout: string) => (JSON.parse(stdout) as { features: Array<{ feature: string; method: string; drifted: boolean }> }).features
  .map((f) => [f.feature, f.method, f.drifted]);

describe('SigV4 signing', () => {
  // The S3 examples of AWS's SigV4 documentation ("Signature Calculations for the
  // Authorization Header"). Its GET Object example also signs a Range header, which SigV4
  // does not require and aws4 leaves out, so the two listing examples are used.
  const credentials = { region: 'us-east-1', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const fixed = { 'X-Amz-Date': '20130524T000000Z', 'X-Amz-Content-Sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' };
  const prefix = 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=';

  it.each([
    ['GET Bucket (List Objects)', '/?max-keys=2&prefix=J', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'],
    ['GET Bucket Lifecycle', '/?lifecycle', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'],
  ])('reproduces AWS\'s published example %s', (_name, requestPath, signature) => {
    const headers = sign(credentials, 'GET', 'https://examplebucket.s3.amazonaws.com', requestPath, fixed);
    expect(headers.Authorization).toBe(`${prefix}${signature}`);
  });
});

/** A CSV's header and rows as two CSV documents, each with the header: the first half of the rows, and the rest. */
function splitCsv(text: string): Array<[string, string]> {
  const [header, ...rows] = text.trimEnd().split('\n');
  const half = Math.floor(rows.length / 2);
  return [[`${header}\n${rows.slice(0, half).join('\n')}\n`, `${header}\n${rows.slice(half).join('\n')}\n`]];
}

describe('s3:// sources', () => {
  const accessKeyId = 'test-access-key';
  const secretAccessKey = 'test-secret-key/with+chars';
  const objects = new Map<string, Buffer>([
    ['data/reference.parquet', fs.readFileSync(path.join(E2E, 'reference.parquet'))],
    ['data/dt=2024-05-31/part-0.csv', fs.readFileSync(path.join(E2E, 'current.csv'))],
    // The current data split over two versions' hourly partitions, as the inference log writes them,
    // beside partitions of another day and a deeper key that the pattern must not take.
    ...splitCsv(fs.readFileSync(path.join(E2E, 'current.csv'), 'utf8')).flatMap(([first, second]) => [
      ['log/model=fraud/version=3/dt=2024-05-31/hour=07/pod-a-1.csv.gz', gzipSync(first)],
      ['log/model=fraud/version=4/dt=2024-05-31/hour=19/pod-b-1.csv.gz', gzipSync(second)],
      ['log/model=fraud/version=4/dt=2024-06-01/hour=00/pod-b-2.csv.gz', gzipSync('x\nnot,the,data\n')],
      ['log/model=fraud/version=4/dt=2024-05-31/hour=19/old/pod-b-0.csv.gz', gzipSync('x\nnot,the,data\n')],
    ] as Array<[string, Buffer]>),
  ]);
  const seen: Array<{ method: string; url: string; signed: boolean }> = [];
  let server: http.Server;
  let endpoint: string;

  /** Recomputes the signature of a request from its signed headers and the secret; true when it matches. */
  function verify(req: http.IncomingMessage): boolean {
    const authorization = req.headers.authorization ?? '';
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1].split(';') ?? [];
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) if (name !== 'host') headers[name] = String(req.headers[name]);
    const expected = aws4.sign({ host: req.headers.host, path: req.url, method: req.method, service: 's3', region: 'eu-central-1', headers },
      { accessKeyId, secretAccessKey });
    return expected.headers!.Authorization === authorization;
  }

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const signed = verify(req);
      seen.push({ method: req.method ?? '', url: req.url ?? '', signed });
      if (!signed) {
        res.statusCode = 403;
        res.end('<Error><Code>SignatureDoesNotMatch</Code></Error>');
        return;
      }
      const url = new URL(req.url ?? '/', 'http://s3');
      const [, bucket, ...rest] = url.pathname.split('/');
      const key = rest.map(decodeURIComponent).join('/');
      if (bucket !== 'lake') {
        res.statusCode = 404;
        res.end('<Error><Code>NoSuchBucket</Code></Error>');
      } else if (url.searchParams.get('list-type') === '2') {
        const prefix = url.searchParams.get('prefix') ?? '';
        const keys = [...objects.keys()].filter((k) => k.startsWith(prefix));
        res.setHeader('content-type', 'application/xml');
        res.end(`<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated>${keys.map((k) => `<Contents><Key>${k}</Key></Contents>`).join('')}</ListBucketResult>`);
      } else if (objects.has(key)) {
        const body = objects.get(key)!;
        const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
        res.setHeader('accept-ranges', 'bytes');
        if (range) {
          const [start, end] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
          res.statusCode = 206;
          res.setHeader('content-range', `bytes ${start}-${end}/${body.length}`);
          res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
        } else {
          res.setHeader('content-length', body.length);
          res.end(req.method === 'HEAD' ? undefined : body);
        }
      } else {
        res.statusCode = 404;
        res.end('<Error><Code>NoSuchKey</Code></Error>');
      }
    });
    endpoint = `http://127.0.0.1:${await listenOnLoopback(server)}`;
  });
  afterAll(() => closeServer(server));

  const env = { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: 'eu-central-1' };

  it('reads Parquet with signed range requests and a dated CSV glob with a signed listing', async () => {
    // WHEN the check reads s3:// URIs through a custom endpoint
    seen.length = 0;
    const run = await runDrift(program, ['check', '--reference', 's3://lake/data/reference.parquet',
      '--current', 's3://lake/data/dt={{ds}}/*.csv', '--date', '2024-05-31', '--s3-endpoint', endpoint, ...featureArgs], env);

    // THEN every request was signed correctly, Parquet came in ranges, the glob was listed
    expect(run.stderr).not.toMatch(/"level":"error"/);
    expect(run.code).toBe(0);
    expect(verdicts(run.stdout)).toEqual(expectedVerdicts);
    expect(seen.every((s) => s.signed)).toBe(true);
    expect(seen.some((s) => s.method === 'HEAD' && s.url === '/lake/data/reference.parquet')).toBe(true);
    expect(seen.some((s) => s.url.startsWith('/lake?list-type=2&prefix=data%2Fdt%3D2024-05-31%2F'))).toBe(true);
    expect(seen.some((s) => s.url === '/lake/data/dt%3D2024-05-31/part-0.csv')).toBe(true);
  });

  it('matches wildcards in several segments (versions and hours of an inference log) from one listing', async () => {
    seen.length = 0;
    const run = await runDrift(program, ['check', '--reference', 's3://lake/data/reference.parquet',
      '--current', 's3://lake/log/model=fraud/version=*/dt={{ds}}/hour=*/*.csv.gz', '--date', '2024-05-31', '--s3-endpoint', endpoint, ...featureArgs], env);
    expect(run.stderr).not.toMatch(/"level":"error"/);
    expect(run.code).toBe(0);
    // the two halves together are the current dataset: the same verdicts as from one file
    expect(verdicts(run.stdout)).toEqual(expectedVerdicts);
    expect(seen.filter((s) => s.url.includes('list-type=2')).map((s) => s.url)).toEqual(['/lake?list-type=2&prefix=log%2Fmodel%3Dfraud%2F']);
    expect(seen.filter((s) => s.method === 'GET' && !s.url.includes('list-type')).map((s) => s.url).filter((u) => u.startsWith('/lake/log'))).toEqual([
      '/lake/log/model%3Dfraud/version%3D3/dt%3D2024-05-31/hour%3D07/pod-a-1.csv.gz',
      '/lake/log/model%3Dfraud/version%3D4/dt%3D2024-05-31/hour%3D19/pod-b-1.csv.gz',
    ]);
  });

  it('takes the endpoint from AWS_ENDPOINT_URL, and a wrong secret is an input error (exit 2)', async () => {
    const ok = await runDrift(program, ['check', '--reference', 's3://lake/data/reference.parquet', '--current', 's3://lake/data/dt=2024-05-31/part-0.csv', ...featureArgs],
      { ...env, AWS_ENDPOINT_URL: endpoint });
    expect(ok.code).toBe(0);
    const denied = await runDrift(program, ['check', '--reference', 's3://lake/data/reference.parquet', '--current', 's3://lake/data/dt=2024-05-31/part-0.csv', ...featureArgs],
      { ...env, AWS_ENDPOINT_URL: endpoint, AWS_SECRET_ACCESS_KEY: 'wrong' });
    expect({ code: denied.code, stdout: denied.stdout }).toEqual({ code: 2, stdout: '' });
    expect(denied.stderr).toMatch(/HEAD s3:\/\/lake\/data\/reference\.parquet: 403 Forbidden/);
  });

  it('tells a missing Parquet object (exit 3) from a missing bucket (exit 2), though S3 answers both HEADs with a bare 404', async () => {
    // GIVEN a current Parquet dataset that is read by HEAD first, once in a day not written yet
    // and once in a bucket that does not exist (HEAD answers carry no error code)
    const args = (current: string) => ['check', '--reference', 's3://lake/data/reference.parquet', '--current', current, '--s3-endpoint', endpoint, ...featureArgs];
    seen.length = 0;
    const notYet = await runDrift(program, args('s3://lake/data/dt=2024-06-01/part-0.parquet'), env);
    const noBucket = await runDrift(program, args('s3://laek/data/dt=2024-05-31/part-0.parquet'), env);
    // THEN the first is data missing, retried; the second is bad input, named by GET's error body
    expect({ code: notYet.code, stdout: notYet.stdout }).toEqual({ code: 3, stdout: '' });
    expect(notYet.stderr).toMatch(/current dataset s3:\/\/lake\/data\/dt=2024-06-01\/part-0\.parquet is not there \(yet\)/);
    expect({ code: noBucket.code, stdout: noBucket.stdout }).toEqual({ code: 2, stdout: '' });
    expect(noBucket.stderr).toMatch(/GET s3:\/\/laek\/data\/dt=2024-05-31\/part-0\.parquet: 404 Not Found \(<Error><Code>NoSuchBucket<\/Code>/);
    expect(seen.filter((s) => s.url === '/laek/data/dt%3D2024-05-31/part-0.parquet').map((s) => s.method)).toEqual(['HEAD', 'GET']);
  });
});

describe('MLflow sources', () => {
  const runId = 'be81c2966bbf4b3ea6ce0f22eca4a492';
  const reference = fs.readFileSync(path.join(E2E, 'reference.csv'));
  const seen: string[] = [];
  let server: http.Server;
  let trackingUri: string;

  beforeAll(async () => {
    // Answers as MLflow 3.17.2 gives them (mlflow server --serve-artifacts, the default).
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://mlflow');
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      res.setHeader('content-type', 'application/json');
      if (req.headers.authorization !== 'Bearer secret-token') {
        res.statusCode = 401;
        res.end('{"error_code":"UNAUTHENTICATED"}');
      } else if (url.pathname === '/api/2.0/mlflow/registered-models/alias') {
        if (url.searchParams.get('name') !== 'fraud-detector' || url.searchParams.get('alias') !== 'champion') {
          res.statusCode = 404;
          res.end('{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registered model alias champion not found."}');
          return;
        }
        res.end(JSON.stringify({ model_version: { name: 'fraud-detector', version: '3', run_id: runId, source: `models:/m-1`, aliases: ['champion'] } }));
      } else if (url.pathname === '/api/2.0/mlflow/runs/get' && url.searchParams.get('run_id') === runId) {
        res.end(JSON.stringify({ run: { info: { run_id: runId, run_uuid: runId, experiment_id: '0', artifact_uri: `mlflow-artifacts:/0/${runId}/artifacts` } } }));
      } else if (url.pathname === '/api/2.0/mlflow-artifacts/artifacts' && url.searchParams.get('path') === `0/${runId}/artifacts/reference`) {
        res.end(JSON.stringify({ files: [{ path: 'reference.csv', is_dir: false, file_size: reference.length }, { path: 'README.md', is_dir: false, file_size: 10 }] }));
      } else if (url.pathname === `/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/reference/reference.csv`) {
        res.setHeader('content-type', 'text/csv');
        res.end(reference);
      } else {
        res.statusCode = 404;
        res.end('{"error_code":"RESOURCE_DOES_NOT_EXIST"}');
      }
    });
    trackingUri = `http://127.0.0.1:${await listenOnLoopback(server)}`;
  });
  afterAll(() => closeServer(server));

  const env = () => ({ MLFLOW_TRACKING_URI: trackingUri, MLFLOW_TRACKING_TOKEN: 'secret-token' });

  it('reads the reference dataset logged under reference/ of the champion\'s run (models:/name@alias)', async () => {
    seen.length = 0;
    const run = await runDrift(program, ['check', '--reference', 'models:/fraud-detector@champion', '--current', path.join(E2E, 'current.csv'), ...featureArgs], env());
    expect(run.code).toBe(0);
    expect(verdicts(run.stdout)).toEqual(expectedVerdicts);
    expect(seen).toEqual([
      'GET /api/2.0/mlflow/registered-models/alias?name=fraud-detector&alias=champion',
      `GET /api/2.0/mlflow/runs/get?run_id=${runId}`,
      `GET /api/2.0/mlflow-artifacts/artifacts?path=0%2F${runId}%2Fartifacts%2Freference`,
      `GET /api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/reference/reference.csv`,
    ]);
  });

  it('reads runs:/<run>/<path> through the artifact proxy', async () => {
    const run = await runDrift(program, ['check', '--reference', `runs:/${runId}/reference/reference.csv`, '--current', path.join(E2E, 'current.csv'),
      '--tracking-uri', trackingUri, ...featureArgs], { MLFLOW_TRACKING_TOKEN: 'secret-token' });
    expect(run.code).toBe(0);
    expect(verdicts(run.stdout)).toEqual(expectedVerdicts);
  });

  it('fails with exit 2 on an unknown alias, and asks for a tracking URI when there is none', async () => {
    const unknown = await runDrift(program, ['check', '--reference', 'models:/fraud-detector@nope', '--current', path.join(E2E, 'current.csv'), ...featureArgs], env());
    expect({ code: unknown.code, stdout: unknown.stdout }).toEqual({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/registered-models\/alias\?name=fraud-detector&alias=nope: 404/);
    const noServer = await runDrift(program, ['check', '--reference', 'models:/fraud-detector@champion', '--current', path.join(E2E, 'current.csv'), ...featureArgs]);
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toMatch(/needs an MLflow tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI/);
  });
});
