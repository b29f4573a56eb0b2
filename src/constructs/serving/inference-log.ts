import { Duration, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { CHECKER_ENV, PROXY_ENV } from '../../contract';
import * as k8s from '../core/k8s';
import { requireSecretRef } from '../core/prop-checks';
import { invalidProp, isHttpUrl, isS3BucketName, S3_BUCKET_FIX } from '../core/validation';
import { secretKeyRef } from '../core/workload';
import { SecretKeySelector } from '../core/workload-props';
import { InferenceLogLocation } from './interfaces';

/**
 * Where and how much of a model's traffic the metrics proxy writes to object storage, for
 * drift checks on production data (`DriftData.inferenceLog(service)`).
 */
export interface InferenceLogProps {
  /** `s3://bucket/prefix` the records go under (`<prefix>/model=<m>/version=<v>/dt=YYYY-MM-DD/hour=HH/`). */
  readonly destination: string;
  /** Share of counted requests logged, 0..1. @default 0.1 */
  readonly sampleRatio?: number;
  /** S3 endpoint for MinIO, SeaweedFS, Ceph... @default - AWS */
  readonly s3EndpointUrl?: string;
  /** S3 region. @default 'us-east-1' */
  readonly s3Region?: string;
  /** Access key id, from a Secret. @default - none: the requests go unsigned (a bucket that accepts anonymous writes); the proxy reads only static keys, not web identity or instance profiles */
  readonly s3AccessKeyId?: SecretKeySelector;
  /** Secret access key, from a Secret (given together with s3AccessKeyId). */
  readonly s3SecretAccessKey?: SecretKeySelector;
  /** Records the proxy holds at most while storage is slow or down; beyond, records are dropped and counted. @default 10000 */
  readonly maxBufferedRecords?: number;
  /** An object is written when its records reach this size uncompressed... @default Size.mebibytes(8) */
  readonly flushSize?: Size;
  /** ...or when its oldest record is this old. @default Duration.minutes(1) */
  readonly flushInterval?: Duration;
  /** Custom runtimes: dotted path to the feature rows in the request body, e.g. `data.rows`. @default - the MLflow scoring formats */
  readonly requestPath?: string;
  /** Custom runtimes: dotted path to the predictions in the response body, e.g. `result.scores`. @default - `predictions` */
  readonly responsePath?: string;
}

/** The checked log: its location for readers, and the proxy's environment. */
export interface CheckedInferenceLog {
  readonly location: InferenceLogLocation;
  /** Share of counted requests logged (a shadow mirrors the same share by default). */
  readonly sampleRatio: number;
  /** Where a custom runtime's predictions are in its responses (a shadow compares the same). */
  readonly responsePath?: string;
  readonly env: k8s.EnvVar[];
}

/** A dotted path of JSON keys, as the proxy reads request and response bodies of custom runtimes. */
export const DOTTED_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Checks `inferenceLog` of a ModelService (errors name `kind`, `scope` and the field) and builds the proxy's variables. */
export function checkInferenceLog(kind: string, scope: Construct, props: InferenceLogProps, modelName: string, customRuntime: boolean): CheckedInferenceLog {
  const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(kind, scope, `inferenceLog.${field}`, value, problem, fix);
  if (props === null || typeof props !== 'object') throw fail('destination', props, 'is not set', 'pass { destination: "s3://bucket/prefix" }');
  const destination = props.destination;
  const match = typeof destination === 'string' ? /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(destination) : null;
  if (!match) throw fail('destination', destination, 'is not an s3:// location', 'use s3://bucket/prefix, e.g. s3://ml-inference-log/prod');
  if (!isS3BucketName(match[1])) throw fail('destination', destination, `names the bucket ${JSON.stringify(match[1])}, which is not an S3 bucket name`, S3_BUCKET_FIX);
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (/\s|\{\{|[*?]/.test(prefix) || prefix.split('/').some((s) => s === '' && prefix !== '')) {
    throw fail('destination', destination, 'has a prefix with spaces, empty segments, wildcards or templates', 'use a fixed prefix such as s3://ml-inference-log/prod; the proxy adds model=, version=, dt= and hour=');
  }
  const sampleRatio = props.sampleRatio ?? 0.1;
  if (typeof sampleRatio !== 'number' || !(sampleRatio > 0 && sampleRatio <= 1)) {
    throw fail('sampleRatio', sampleRatio, 'is not a share above 0 and at most 1', 'use e.g. 0.1 to log every tenth request; leave inferenceLog unset to log nothing');
  }
  const buffer = props.maxBufferedRecords ?? 10_000;
  if (!Number.isInteger(buffer) || buffer < 100 || buffer > 1_000_000) {
    throw fail('maxBufferedRecords', buffer, 'is not a whole number from 100 to 1000000', 'use e.g. 10000 (each record holds one request\'s features, so mind the proxy\'s 128 MiB memory limit)');
  }
  const flushBytes = props.flushSize === undefined ? 8 * 1024 * 1024 : props.flushSize.toKibibytes() * 1024;
  if (!(flushBytes >= 64 * 1024 && flushBytes <= 64 * 1024 * 1024)) {
    throw fail('flushSize', props.flushSize, 'is not between 64 KiB and 64 MiB', 'use e.g. Size.mebibytes(8)');
  }
  const flushSeconds = props.flushInterval === undefined ? 60 : props.flushInterval.toSeconds();
  if (!(flushSeconds >= 5 && flushSeconds <= 3600)) {
    throw fail('flushInterval', props.flushInterval, 'is not between 5 seconds and 1 hour', 'use e.g. Duration.minutes(1): an hourly drift check reads the hour just ended, so objects must be written well within it');
  }
  if (props.s3EndpointUrl !== undefined && !isHttpUrl(props.s3EndpointUrl)) {
    throw fail('s3EndpointUrl', props.s3EndpointUrl, 'is not an http(s) URL', 'use e.g. http://minio.storage.svc:9000');
  }
  if ((props.s3AccessKeyId === undefined) !== (props.s3SecretAccessKey === undefined)) {
    throw fail(props.s3AccessKeyId === undefined ? 's3AccessKeyId' : 's3SecretAccessKey', undefined, 'is missing', 'give both s3AccessKeyId and s3SecretAccessKey (Secret references), or neither');
  }
  const accessKeyId = props.s3AccessKeyId && requireSecretRef(kind, scope, 'inferenceLog.s3AccessKeyId', props.s3AccessKeyId);
  const secretAccessKey = props.s3SecretAccessKey && requireSecretRef(kind, scope, 'inferenceLog.s3SecretAccessKey', props.s3SecretAccessKey);
  for (const field of ['requestPath', 'responsePath'] as const) {
    const value = props[field];
    if (value === undefined) continue;
    if (!customRuntime) throw fail(field, value, 'is only for custom runtimes', 'leave it unset: the MLflow scoring server\'s formats are understood');
    if (typeof value !== 'string' || !DOTTED_PATH.test(value)) throw fail(field, value, 'is not a dotted path of JSON keys', 'use e.g. "data.rows"');
  }

  const region = props.s3Region ?? 'us-east-1';
  const location: InferenceLogLocation = {
    bucket: match[1], prefix, modelName, s3EndpointUrl: props.s3EndpointUrl, s3Region: region,
    s3AccessKeyId: accessKeyId, s3SecretAccessKey: secretAccessKey,
  };
  const env: k8s.EnvVar[] = [
    { name: PROXY_ENV.inferenceLogUri, value: `s3://${match[1]}${prefix ? `/${prefix}` : ''}` },
    { name: PROXY_ENV.inferenceLogSampleRatio, value: String(sampleRatio) },
    { name: PROXY_ENV.inferenceLogBufferRecords, value: String(buffer) },
    { name: PROXY_ENV.inferenceLogFlushBytes, value: String(flushBytes) },
    { name: PROXY_ENV.inferenceLogFlushSeconds, value: String(flushSeconds) },
    ...(props.requestPath ? [{ name: PROXY_ENV.inferenceLogRequestPath, value: props.requestPath }] : []),
    ...(props.responsePath ? [{ name: PROXY_ENV.inferenceLogResponsePath, value: props.responsePath }] : []),
    { name: PROXY_ENV.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: CHECKER_ENV.region, value: region },
    ...(props.s3EndpointUrl ? [{ name: CHECKER_ENV.s3Endpoint, value: props.s3EndpointUrl }] : []),
    ...(accessKeyId && secretAccessKey ? [
      { name: CHECKER_ENV.accessKeyId, valueFrom: { secretKeyRef: secretKeyRef(accessKeyId) } },
      { name: CHECKER_ENV.secretAccessKey, valueFrom: { secretKeyRef: secretKeyRef(secretAccessKey) } },
    ] : []),
  ];
  return { location, sampleRatio, ...(props.responsePath !== undefined ? { responsePath: props.responsePath } : {}), env };
}
