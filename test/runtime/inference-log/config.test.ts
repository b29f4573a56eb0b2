import * as fc from 'fast-check';
import { hostname } from 'node:os';
import { ConfigError } from '../../../src/runtime/metrics-proxy/config';
import { parseInferenceLogConfig } from '../../../src/runtime/metrics-proxy/inference-log/config';

const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret/with+chars' };

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseInferenceLogConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseInferenceLogConfig', () => {
  test('is undefined when MLOPS_INFERENCE_LOG_URI is unset or empty: logging off, nothing else read', () => {
    expect(parseInferenceLogConfig({ MLOPS_INFERENCE_LOG_SAMPLE_RATIO: 'not read' })).toBeUndefined();
    expect(parseInferenceLogConfig({ MLOPS_INFERENCE_LOG_URI: ' ', MLOPS_INFERENCE_LOG_SAMPLE_RATIO: 'not read' })).toBeUndefined();
  });

  test('applies the documented defaults', () => {
    // GIVEN only the URI and credentials
    // WHEN
    const config = parseInferenceLogConfig({ MLOPS_INFERENCE_LOG_URI: 's3://ml-logs/inference/', ...CREDENTIALS });
    // THEN
    expect(config).toEqual({
      bucket: 'ml-logs',
      prefix: 'inference',
      sampleRatio: 0.1,
      bufferRecords: 10_000,
      flushBytes: 8 * 1024 * 1024,
      flushSeconds: 60,
      maxBodyBytes: 1024 * 1024,
      podName: hostname(),
      s3: { endpoint: undefined, region: 'us-east-1', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret/with+chars', sessionToken: undefined },
    });
  });

  test('reads every variable', () => {
    const config = parseInferenceLogConfig({
      MLOPS_INFERENCE_LOG_URI: 's3://ml.logs-1/a/b',
      MLOPS_INFERENCE_LOG_SAMPLE_RATIO: '1',
      MLOPS_INFERENCE_LOG_BUFFER_RECORDS: ' 500 ',
      MLOPS_INFERENCE_LOG_FLUSH_BYTES: '1048576',
      MLOPS_INFERENCE_LOG_FLUSH_SECONDS: '2.5',
      MLOPS_INFERENCE_LOG_REQUEST_PATH: 'data.rows',
      MLOPS_INFERENCE_LOG_RESPONSE_PATH: 'result.0.scores',
      MLOPS_POD_NAME: 'fraud-detector-7d9f-abcde',
      AWS_ENDPOINT_URL: 'http://minio:9000',
      AWS_ENDPOINT_URL_S3: 'https://s3.internal:9443',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_SESSION_TOKEN: 'token',
      ...CREDENTIALS,
    });
    expect(config).toEqual({
      bucket: 'ml.logs-1',
      prefix: 'a/b',
      sampleRatio: 1,
      bufferRecords: 500,
      flushBytes: 1048576,
      flushSeconds: 2.5,
      requestPath: 'data.rows',
      responsePath: 'result.0.scores',
      maxBodyBytes: 1024 * 1024,
      podName: 'fraud-detector-7d9f-abcde',
      // AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL, AWS_REGION over AWS_DEFAULT_REGION, as in the AWS SDKs
      s3: { endpoint: 'https://s3.internal:9443', region: 'eu-west-1', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret/with+chars', sessionToken: 'token' },
    });
  });

  test('takes the bucket root as an empty prefix, and 0 as a ratio (logging paused)', () => {
    expect(parseInferenceLogConfig({ MLOPS_INFERENCE_LOG_URI: 's3://ml-logs', MLOPS_INFERENCE_LOG_SAMPLE_RATIO: '0', ...CREDENTIALS }))
      .toEqual(expect.objectContaining({ bucket: 'ml-logs', prefix: '', sampleRatio: 0 }));
    expect(parseInferenceLogConfig({ MLOPS_INFERENCE_LOG_URI: 's3://ml-logs/', ...CREDENTIALS })).toEqual(expect.objectContaining({ prefix: '' }));
  });

  test('fails with every problem at once, each naming the variable, the value and the fix', () => {
    // GIVEN an environment where everything is wrong
    const problems = problemsOf({
      MLOPS_INFERENCE_LOG_URI: 'gs://ml-logs/x',
      MLOPS_INFERENCE_LOG_SAMPLE_RATIO: '1.5',
      MLOPS_INFERENCE_LOG_BUFFER_RECORDS: '0',
      MLOPS_INFERENCE_LOG_FLUSH_BYTES: '8MiB',
      MLOPS_INFERENCE_LOG_FLUSH_SECONDS: '-1',
      MLOPS_INFERENCE_LOG_REQUEST_PATH: 'data..rows',
      MLOPS_INFERENCE_LOG_RESPONSE_PATH: '.scores',
      AWS_ENDPOINT_URL: 'minio:9000',
      AWS_SECRET_ACCESS_KEY: 'a secret without its key id',
    });
    // THEN one line per variable
    expect(problems).toEqual([
      'MLOPS_INFERENCE_LOG_URI ("gs://ml-logs/x") is not an s3:// URI; set it to s3://<bucket>/<prefix>, e.g. s3://ml-logs/inference, or unset it to turn the inference log off',
      'MLOPS_INFERENCE_LOG_SAMPLE_RATIO ("1.5") is not a share from 0 to 1; set e.g. 0.05 to log one request in twenty (0 logs none, 1 all), or unset it for 0.1',
      'MLOPS_INFERENCE_LOG_BUFFER_RECORDS ("0") is not a positive whole number of records; set an integer such as 10000, or unset it for 10000',
      'MLOPS_INFERENCE_LOG_FLUSH_BYTES ("8MiB") is not a positive whole number of bytes up to 268435456; set an integer such as 8388608, or unset it for 8388608',
      'MLOPS_INFERENCE_LOG_FLUSH_SECONDS ("-1") is not a positive number of seconds; set a number such as 60 or 2.5, or unset it for 60',
      'MLOPS_INFERENCE_LOG_REQUEST_PATH ("data..rows") has an empty segment; give the keys from the body\'s root separated by dots, e.g. data.rows (a number indexes a list), or unset it to read MLflow\'s formats',
      'MLOPS_INFERENCE_LOG_RESPONSE_PATH (".scores") has an empty segment; give the keys from the body\'s root separated by dots, e.g. result.scores (a number indexes a list), or unset it to read MLflow\'s formats',
      'AWS_ENDPOINT_URL ("minio:9000") is not an http(s) URL without query or credentials; set the S3 endpoint, e.g. http://minio.storage:9000, or unset it for AWS S3',
      'AWS_ACCESS_KEY_ID is not set but AWS_SECRET_ACCESS_KEY is; set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (e.g. from a Secret) to credentials that may PutObject under the inference log\'s prefix, or neither for unsigned requests',
    ]);
  });

  test('takes no credentials as unsigned requests, and fails on one without the other, never printing the secret', () => {
    expect(parseInferenceLogConfig({ MLOPS_INFERENCE_LOG_URI: 's3://ml-logs' })!.s3).toEqual(expect.objectContaining({ accessKeyId: undefined, secretAccessKey: undefined }));
    expect(problemsOf({ MLOPS_INFERENCE_LOG_URI: 's3://ml-logs', AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: '' }))
      .toEqual([expect.stringMatching(/^AWS_SECRET_ACCESS_KEY is empty; /)]);
    expect(problemsOf({ MLOPS_INFERENCE_LOG_URI: 's3://ml-logs', AWS_ACCESS_KEY_ID: 'AKID' }))
      .toEqual([expect.stringMatching(/^AWS_SECRET_ACCESS_KEY is not set but AWS_ACCESS_KEY_ID is; /)]);
    const problems = problemsOf({ MLOPS_INFERENCE_LOG_URI: 's3://ml-logs', AWS_SECRET_ACCESS_KEY: 'hunter2/secret' });
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  test.each([
    ['s3://', 'names the bucket ""'],
    ['s3://ML-Logs/x', 'names the bucket "ML-Logs"'],
    ['s3://ab/x', 'names the bucket "ab"'],
    ['s3://-logs/x', 'names the bucket "-logs"'],
    ['s3://ml..logs/x', 'names the bucket "ml..logs"'],
    ['s3://ml-logs//x', 'has an empty, "." or ".." segment in its prefix'],
    ['s3://ml-logs/a/../b', 'has an empty, "." or ".." segment in its prefix'],
    ['s3://ml-logs/a b', 'has a query, fragment, space or backslash in its prefix'],
    ['s3://ml-logs/a?versionId=1', 'has a query, fragment, space or backslash in its prefix'],
    ['https://ml-logs.s3.amazonaws.com/x', 'is not an s3:// URI'],
  ])('fails on the URI %s', (uri, what) => {
    expect(problemsOf({ MLOPS_INFERENCE_LOG_URI: uri, ...CREDENTIALS })).toEqual([expect.stringContaining(`MLOPS_INFERENCE_LOG_URI (${JSON.stringify(uri)}) ${what}`)]);
  });

  test('fails on any ratio outside 0..1 and accepts every one inside (property)', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -10, max: 10 }), (ratio) => {
      const env = { MLOPS_INFERENCE_LOG_URI: 's3://ml-logs', MLOPS_INFERENCE_LOG_SAMPLE_RATIO: String(ratio), ...CREDENTIALS };
      if (ratio >= 0 && ratio <= 1 && !Object.is(ratio, -0)) expect(parseInferenceLogConfig(env)!.sampleRatio).toBe(ratio);
      else if (!(ratio >= 0 && ratio <= 1)) expect(problemsOf(env)).toHaveLength(1);
    }));
  });

  test('fails on whole-number variables given fractions, signs or units (property)', () => {
    fc.assert(fc.property(fc.constantFrom('1.5', '-3', '+3', '1e3', '10k', '', ' ', '0x10', '1_000'), (value) => {
      const problems = problemsOf({ MLOPS_INFERENCE_LOG_URI: 's3://ml-logs', MLOPS_INFERENCE_LOG_BUFFER_RECORDS: value, ...CREDENTIALS });
      expect(problems).toEqual([expect.stringMatching(/^MLOPS_INFERENCE_LOG_BUFFER_RECORDS .* is not a positive whole number of records/)]);
    }));
  });
});
