import { hostname } from 'node:os';
import { CHECKER_ENV, PROXY_ENV } from '../../../contract';
import { type S3Settings, s3Settings } from '../../shared/s3';
import { ConfigError } from '../config';

/** Settings of the inference log, read by `parseInferenceLogConfig` from the MLOPS_* and AWS_* environment. */
export interface InferenceLogConfig {
  /** Bucket of MLOPS_INFERENCE_LOG_URI (s3://bucket/prefix). */
  readonly bucket: string;
  /** Key prefix of MLOPS_INFERENCE_LOG_URI without leading or trailing slash; '' for the bucket's root. */
  readonly prefix: string;
  /** Share of counted requests logged, 0..1 (MLOPS_INFERENCE_LOG_SAMPLE_RATIO). */
  readonly sampleRatio: number;
  /** Records held at most, waiting or being uploaded; beyond, new records are dropped (MLOPS_INFERENCE_LOG_BUFFER_RECORDS). */
  readonly bufferRecords: number;
  /** An object is written when its uncompressed records reach this many bytes (MLOPS_INFERENCE_LOG_FLUSH_BYTES)... */
  readonly flushBytes: number;
  /** ...or when its oldest record is this many seconds old (MLOPS_INFERENCE_LOG_FLUSH_SECONDS). */
  readonly flushSeconds: number;
  /** Dotted path to the feature rows in request bodies, for a custom runtime; unset reads MLflow's formats (MLOPS_INFERENCE_LOG_REQUEST_PATH). */
  readonly requestPath?: string;
  /** Dotted path to the predictions in response bodies, for a custom runtime; unset reads MLflow's formats (MLOPS_INFERENCE_LOG_RESPONSE_PATH). */
  readonly responsePath?: string;
  /** Bodies larger than this are not captured; their records are logged as unparsed. Not in the environment (yet): DEFAULTS.maxBodyBytes. */
  readonly maxBodyBytes: number;
  /** First part of each object's file name: the pod's name (MLOPS_POD_NAME, else the host name, which Kubernetes sets to it). */
  readonly podName: string;
  /**
   * Endpoint, region and credentials from the standard AWS variables (AWS_ENDPOINT_URL_S3,
   * AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...). Static credentials only: without
   * them requests go unsigned (no web identity, instance profile or credentials file).
   */
  readonly s3: S3Settings;
}

export const DEFAULTS = {
  sampleRatio: 0.1,
  bufferRecords: 10_000,
  flushBytes: 8 * 1024 * 1024,
  flushSeconds: 60,
  maxBodyBytes: 1024 * 1024,
} as const;

/** An object is built in memory (and gzipped there) before it is written: larger batches are refused. */
const MAX_FLUSH_BYTES = 256 * 1024 * 1024;

type Env = Readonly<Record<string, string | undefined>>;
type Problem = (name: string, value: string | undefined, what: string, fix: string) => void;

/**
 * Reads and validates the inference-log settings: undefined when MLOPS_INFERENCE_LOG_URI is
 * unset or empty (logging off); throws a `ConfigError` naming every bad variable otherwise.
 */
export function parseInferenceLogConfig(env: Env): InferenceLogConfig | undefined {
  const uri = env[PROXY_ENV.inferenceLogUri];
  if (uri === undefined || uri.trim() === '') return undefined;

  const problems: string[] = [];
  const problem: Problem = (name, value, what, fix) => {
    problems.push(value === undefined ? `${name} ${what}; ${fix}` : `${name} (${JSON.stringify(value)}) ${what}; ${fix}`);
  };

  const location = parseLocation(uri, problem);
  const sampleRatio = parseRatio(env[PROXY_ENV.inferenceLogSampleRatio], problem);
  const bufferRecords = parseCount(PROXY_ENV.inferenceLogBufferRecords, env[PROXY_ENV.inferenceLogBufferRecords], DEFAULTS.bufferRecords,
    Number.MAX_SAFE_INTEGER, 'records', problem);
  const flushBytes = parseCount(PROXY_ENV.inferenceLogFlushBytes, env[PROXY_ENV.inferenceLogFlushBytes], DEFAULTS.flushBytes,
    MAX_FLUSH_BYTES, 'bytes', problem);
  const flushSeconds = parseSeconds(PROXY_ENV.inferenceLogFlushSeconds, env[PROXY_ENV.inferenceLogFlushSeconds], DEFAULTS.flushSeconds, problem);
  const requestPath = parsePath(PROXY_ENV.inferenceLogRequestPath, env[PROXY_ENV.inferenceLogRequestPath], 'data.rows', problem);
  const responsePath = parsePath(PROXY_ENV.inferenceLogResponsePath, env[PROXY_ENV.inferenceLogResponsePath], 'result.scores', problem);
  const s3 = s3Settings(env);
  checkS3(env, s3, problem);

  const podName = env[PROXY_ENV.podName]?.trim() || hostname();

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    bucket: location!.bucket,
    prefix: location!.prefix,
    sampleRatio: sampleRatio!,
    bufferRecords: bufferRecords!,
    flushBytes: flushBytes!,
    flushSeconds: flushSeconds!,
    ...(requestPath !== undefined ? { requestPath } : {}),
    ...(responsePath !== undefined ? { responsePath } : {}),
    maxBodyBytes: DEFAULTS.maxBodyBytes,
    podName,
    s3,
  };
}

/** S3's rules for bucket names: 3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at both ends. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function parseLocation(uri: string, problem: Problem): { bucket: string; prefix: string } | undefined {
  const name = PROXY_ENV.inferenceLogUri;
  const fix = 'set it to s3://<bucket>/<prefix>, e.g. s3://ml-logs/inference, or unset it to turn the inference log off';
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(uri.trim());
  if (!match) {
    problem(name, uri, 'is not an s3:// URI', fix);
    return undefined;
  }
  const [, bucket, rawPrefix = ''] = match;
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    problem(name, uri, `names the bucket ${JSON.stringify(bucket)}, which is not a valid S3 bucket name`,
      'use 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit');
    return undefined;
  }
  const prefix = rawPrefix.replace(/\/+$/, '');
  if (prefix !== '' && prefix.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    problem(name, uri, 'has an empty, "." or ".." segment in its prefix', fix);
    return undefined;
  }
  if (/[?#\s\\]/.test(prefix)) {
    problem(name, uri, 'has a query, fragment, space or backslash in its prefix', fix);
    return undefined;
  }
  return { bucket, prefix };
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseRatio(value: string | undefined, problem: Problem): number | undefined {
  if (value === undefined) return DEFAULTS.sampleRatio;
  const ratio = DECIMAL.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!(ratio >= 0 && ratio <= 1)) {
    problem(PROXY_ENV.inferenceLogSampleRatio, value, 'is not a share from 0 to 1',
      `set e.g. 0.05 to log one request in twenty (0 logs none, 1 all), or unset it for ${DEFAULTS.sampleRatio}`);
    return undefined;
  }
  return ratio;
}

function parseCount(name: string, value: string | undefined, fallback: number, max: number, unit: string, problem: Problem): number | undefined {
  if (value === undefined) return fallback;
  const count = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!(count >= 1 && count <= max)) {
    problem(name, value, `is not a positive whole number of ${unit}${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}`,
      `set an integer such as ${fallback}, or unset it for ${fallback}`);
    return undefined;
  }
  return count;
}

function parseSeconds(name: string, value: string | undefined, fallback: number, problem: Problem): number | undefined {
  if (value === undefined) return fallback;
  const seconds = DECIMAL.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isFinite(seconds) || seconds <= 0) {
    problem(name, value, 'is not a positive number of seconds', `set a number such as ${fallback} or 2.5, or unset it for ${fallback}`);
    return undefined;
  }
  return seconds;
}

/** A dotted path into a JSON body (MLOPS_*_PATH variables); undefined when unset, a problem when a segment is empty. */
export function parsePath(name: string, value: string | undefined, example: string, problem: Problem): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const path = value.trim();
  if (path.split('.').some((segment) => segment === '')) {
    problem(name, value, 'has an empty segment', `give the keys from the body's root separated by dots, e.g. ${example} (a number indexes a list), or unset it to read MLflow's formats`);
    return undefined;
  }
  return path;
}

function checkS3(env: Env, s3: S3Settings, problem: Problem): void {
  if (s3.endpoint !== undefined) {
    const name = env[CHECKER_ENV.s3EndpointS3] !== undefined ? CHECKER_ENV.s3EndpointS3 : CHECKER_ENV.s3Endpoint;
    let url: URL | undefined;
    try {
      url = new URL(s3.endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.username !== '') {
      problem(name, s3.endpoint, 'is not an http(s) URL without query or credentials',
        'set the S3 endpoint, e.g. http://minio.storage:9000, or unset it for AWS S3');
    }
  }
  // Static credentials or none (unsigned requests, for a store that admits the pod without them);
  // one without the other is a Secret key missing, and would fail every upload in silence.
  const fix = `set both ${CHECKER_ENV.accessKeyId} and ${CHECKER_ENV.secretAccessKey} (e.g. from a Secret) to credentials that may PutObject under the inference log's prefix, or neither for unsigned requests`;
  if (s3.accessKeyId && !s3.secretAccessKey) {
    problem(CHECKER_ENV.secretAccessKey, undefined, s3.secretAccessKey === undefined ? `is not set but ${CHECKER_ENV.accessKeyId} is` : 'is empty', fix);
  } else if (!s3.accessKeyId && s3.secretAccessKey) {
    problem(CHECKER_ENV.accessKeyId, s3.accessKeyId, s3.accessKeyId === undefined ? `is not set but ${CHECKER_ENV.secretAccessKey} is` : 'is empty', fix);
  }
}
