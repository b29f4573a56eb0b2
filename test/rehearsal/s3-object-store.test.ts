/**
 * Rehearsal of the drift checker's s3:// sources against a real S3-compatible object store:
 * SeaweedFS's S3 gateway (test/support/s3-server.ts, built by scripts/setup-seaweedfs.sh),
 * which enforces SigV4 with one access key. The checker runs as the CronJob runs it: the
 * bundled assets/mlops-drift.js as a child process of `node`, with the endpoint from
 * --s3-endpoint or AWS_ENDPOINT_URL and the credentials from AWS_*.
 *
 * The unit tier (test/runtime/drift-sources.test.ts) checks the same reader against a loopback
 * server written for the test; this one checks it against another implementation's idea of
 * SigV4 canonical requests, ListObjectsV2, ranged GETs and error answers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type S3Server, startS3Server } from '../support/s3-server';
import { bundledProgram } from '../runtime/bundled-program';
import { FIXTURES, readFixture, runDrift } from '../runtime/drift-support';

const E2E = path.join(FIXTURES, 'e2e');
const e2e = readFixture<{ features: string[]; categorical: string[]; expected: { features: Array<{ feature: string; method: string; drifted: boolean }>; rows: { reference: number; current: number } } }>('e2e.json');
const featureArgs = ['--features', e2e.features.join(','), '--categorical', e2e.categorical.join(','), '--json'];
const BUCKET = 'lake';
const DAY = '2024-05-31';

/** The bundled checker as the CronJob's container runs it; S3 retries against a stopped store take longer than runDrift's default. */
const runChecker = (program: string, args: string[], env: Record<string, string>) => runDrift(program, args, env, 120_000);

const verdicts = (stdout: string) => (JSON.parse(stdout) as { features: Array<{ feature: string; method: string; drifted: boolean }> }).features
  .map((f) => [f.feature, f.method, f.drifted]);
const expectedVerdicts = e2e.expected.features.map((f) => [f.feature, f.method, f.drifted]);

describe('drift checker on a real S3 object store (SeaweedFS S3 gateway, SigV4 enforced)', () => {
  const program = bundledProgram('mlops-drift.js', 'src/runtime/drift');
  // "Steady" data: every other row of the reference itself, the same distribution by construction.
  const referenceCsv = fs.readFileSync(path.join(E2E, 'reference.csv'), 'utf8');
  const [header, ...referenceRows] = referenceCsv.trimEnd().split('\n');
  const steadyCsv = `${[header, ...referenceRows.filter((_, i) => i % 2 === 1)].join('\n')}\n`;
  let s3: S3Server;
  let env: Record<string, string>;

  beforeAll(async () => {
    s3 = await startS3Server();
    env = s3.env;
    // GIVEN a bucket laid out as a data lake: the reference, and the current data of one day
    await s3.createBucket(BUCKET);
    await s3.putObject(BUCKET, 'fraud/reference/reference.csv', referenceCsv);
    await s3.putObject(BUCKET, 'fraud/reference/reference.parquet', fs.readFileSync(path.join(E2E, 'reference.parquet')));
    await s3.putObject(BUCKET, `fraud/current/dt=${DAY}/part-0.csv`, fs.readFileSync(path.join(E2E, 'current.csv')));
    await s3.putObject(BUCKET, `fraud/current/dt=${DAY}/events.jsonl`, fs.readFileSync(path.join(E2E, 'current.jsonl')));
    await s3.putObject(BUCKET, `fraud/current/dt=${DAY}/current.zstd.parquet`, fs.readFileSync(path.join(E2E, 'current.zstd.parquet')));
    await s3.putObject(BUCKET, `fraud/steady/dt=${DAY}/part-0.csv`, steadyCsv);
  });

  afterAll(async () => {
    await s3?.stop();
  });

  test('the server stores what was put and refuses unsigned and wrongly signed requests', async () => {
    // The premise of every test below: the gateway holds the objects, and enforces SigV4.
    expect(await s3.listKeys(BUCKET, `fraud/current/dt=${DAY}/`)).toEqual([
      `fraud/current/dt=${DAY}/current.zstd.parquet`, `fraud/current/dt=${DAY}/events.jsonl`, `fraud/current/dt=${DAY}/part-0.csv`,
    ]);
    expect((await s3.getObject(BUCKET, 'fraud/reference/reference.csv')).toString('utf8')).toBe(referenceCsv);
    const unsigned = await s3.request('GET', `/${BUCKET}/fraud/reference/reference.csv`, { signAs: 'unsigned' });
    expect(unsigned.status).toBe(403);
    expect(unsigned.text).toMatch(/<Code>AccessDenied<\/Code>/);
    const wrongSecret = await s3.request('GET', `/${BUCKET}/fraud/reference/reference.csv`, { signAs: { accessKeyId: s3.accessKeyId, secretAccessKey: 'not-the-secret' } });
    expect(wrongSecret.status).toBe(403);
    expect(wrongSecret.text).toMatch(/<Code>SignatureDoesNotMatch<\/Code>/);
  });

  test('reads a CSV reference and the day\'s CSV partition through a signed listing, and reports the drift', async () => {
    // WHEN the check reads a dated glob, the endpoint given with --s3-endpoint
    const run = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.csv`,
      '--current', `s3://${BUCKET}/fraud/current/dt={{ds}}/*.csv`, '--date', DAY, '--s3-endpoint', s3.endpoint, ...featureArgs], env);
    // THEN it ran and found the drift the oracle (scipy, Evidently) finds in these rows
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(run.stdout);
    expect(result.rows).toEqual(e2e.expected.rows);
    expect(verdicts(run.stdout)).toEqual(expectedVerdicts);
    expect(result.drifted).toBe(true);
  });

  test('reads Parquet (ranged GETs) and JSONL, the endpoint from AWS_ENDPOINT_URL, with the same verdicts', async () => {
    const withEndpoint = { ...env, AWS_ENDPOINT_URL: s3.endpoint };
    const jsonl = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.parquet`,
      '--current', `s3://${BUCKET}/fraud/current/dt={{ds}}/events.jsonl`, '--date', DAY, ...featureArgs], withEndpoint);
    expect({ code: jsonl.code, stderr: jsonl.code === 0 ? '' : jsonl.stderr }).toEqual({ code: 0, stderr: '' });
    expect(verdicts(jsonl.stdout)).toEqual(expectedVerdicts);
    const parquet = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.parquet`,
      '--current', `s3://${BUCKET}/fraud/current/dt={{ds}}/current.zstd.parquet`, '--date', DAY, ...featureArgs], withEndpoint);
    expect({ code: parquet.code, stderr: parquet.code === 0 ? '' : parquet.stderr }).toEqual({ code: 0, stderr: '' });
    expect(verdicts(parquet.stdout)).toEqual(expectedVerdicts);
    expect(JSON.parse(parquet.stdout).rows).toEqual(e2e.expected.rows);
  });

  test('reports no drift on steady data', async () => {
    const run = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.parquet`,
      '--current', `s3://${BUCKET}/fraud/steady/dt={{ds}}/*.csv`, '--date', DAY, '--s3-endpoint', s3.endpoint, ...featureArgs], env);
    expect({ code: run.code, stderr: run.code === 0 ? '' : run.stderr }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(run.stdout);
    expect(result.rows).toEqual({ reference: e2e.expected.rows.reference, current: referenceRows.length / 2 });
    expect(result.drifted).toBe(false);
    expect(result.features.filter((f: { drifted: boolean }) => f.drifted)).toEqual([]);
  });

  test('fails, exit 2 and no verdict printed, when the secret key is wrong', async () => {
    for (const current of [`s3://${BUCKET}/fraud/current/dt={{ds}}/*.csv`, `s3://${BUCKET}/fraud/current/dt={{ds}}/part-0.csv`]) {
      // WHEN the check signs with a secret the server does not know
      const run = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.parquet`, '--current', current,
        '--date', DAY, '--s3-endpoint', s3.endpoint, ...featureArgs], { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-secret' });
      // THEN it is bad input, naming the object and the server's reason, and nothing reads as "no drift"
      expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: '' });
      expect(run.stderr).toMatch(/mlops-drift: HEAD s3:\/\/lake\/fraud\/reference\/reference\.parquet: 403 Forbidden/);
    }
    // A CSV reference is streamed with GET: the answer's body names the reason.
    const streamed = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.csv`, '--current', `s3://${BUCKET}/fraud/current/dt={{ds}}/part-0.csv`,
      '--date', DAY, '--s3-endpoint', s3.endpoint, ...featureArgs], { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-secret' });
    expect({ code: streamed.code, stdout: streamed.stdout }).toEqual({ code: 2, stdout: '' });
    expect(streamed.stderr).toMatch(/GET s3:\/\/lake\/fraud\/reference\/reference\.csv: 403 Forbidden.*SignatureDoesNotMatch/);
    // And so is an access key the server does not know.
    const unknownKey = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.csv`, '--current', `s3://${BUCKET}/fraud/current/dt={{ds}}/part-0.csv`,
      '--date', DAY, '--s3-endpoint', s3.endpoint, ...featureArgs], { ...env, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWN' });
    expect({ code: unknownKey.code, stdout: unknownKey.stdout }).toEqual({ code: 2, stdout: '' });
    expect(unknownKey.stderr).toMatch(/403 Forbidden.*InvalidAccessKeyId/);
  });

  test('exits 3 (data missing) when the day\'s partition is not there yet, whatever the format', async () => {
    const tomorrow = '2024-06-01';
    for (const current of [
      `s3://${BUCKET}/fraud/current/dt={{ds}}/part-0.csv`, // GET of a missing key
      `s3://${BUCKET}/fraud/current/dt={{ds}}/*.csv`, // a listing that finds nothing
      `s3://${BUCKET}/fraud/current/dt={{ds}}/current.zstd.parquet`, // HEAD of a missing key
    ]) {
      const run = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.parquet`, '--current', current,
        '--date', tomorrow, '--s3-endpoint', s3.endpoint, ...featureArgs], env);
      expect({ current, code: run.code, stdout: run.stdout }).toEqual({ current, code: 3, stdout: '' });
      expect(run.stderr).toContain(`current dataset ${current.replace('{{ds}}', tomorrow)} is not there (yet)`);
    }
  });

  test('fails, exit 2 not 3, when the reference or the bucket is missing: a fix is needed, not a retry', async () => {
    const missingReference = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/nope.parquet`,
      '--current', `s3://${BUCKET}/fraud/current/dt={{ds}}/part-0.csv`, '--date', DAY, '--s3-endpoint', s3.endpoint, ...featureArgs], env);
    expect({ code: missingReference.code, stdout: missingReference.stdout }).toEqual({ code: 2, stdout: '' });
    expect(missingReference.stderr).toMatch(/s3:\/\/lake\/fraud\/reference\/nope\.parquet: 404/);
    for (const current of ['s3://no-such-bucket/fraud/dt={{ds}}/part-0.csv', 's3://no-such-bucket/fraud/dt={{ds}}/*.csv', 's3://no-such-bucket/fraud/dt={{ds}}/current.parquet']) {
      const run = await runChecker(program, ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.parquet`, '--current', current,
        '--date', DAY, '--s3-endpoint', s3.endpoint, ...featureArgs], env);
      expect({ current, code: run.code, stdout: run.stdout }).toEqual({ current, code: 2, stdout: '' });
      expect(run.stderr).toMatch(/no-such-bucket.*404.*NoSuchBucket/);
    }
  });

  test('fails, exit 1 after its retries, while the object store is down, and reads the same data once it is back', async () => {
    const args = ['check', '--reference', `s3://${BUCKET}/fraud/reference/reference.csv`,
      '--current', `s3://${BUCKET}/fraud/current/dt={{ds}}/part-0.csv`, '--date', DAY, '--s3-endpoint', s3.endpoint, ...featureArgs];
    // GIVEN the server killed
    await s3.kill();
    const down = await runChecker(program, args, env);
    expect({ code: down.code, stdout: down.stdout }).toEqual({ code: 1, stdout: '' });
    expect(down.stderr).toMatch(/ECONNREFUSED/);
    // WHEN it comes back on its data
    await s3.restart();
    const back = await runChecker(program, args, env);
    // THEN the objects written before are read again
    expect({ code: back.code, stderr: back.code === 0 ? '' : back.stderr }).toEqual({ code: 0, stderr: '' });
    expect(verdicts(back.stdout)).toEqual(expectedVerdicts);
  });
});
