import * as aws4 from 'aws4';
import { CHECKER_ENV } from '../../contract';

/**
 * S3 addressing and AWS Signature V4, shared by the drift checker (which reads objects) and
 * the metrics proxy's inference log (which writes them). The `aws4` package signs: it is
 * small and dependency-free, so the bundles stay light. A custom endpoint (MinIO, Ceph,
 * SeaweedFS, LocalStack) is addressed path-style; AWS itself virtual-hosted unless the bucket
 * name has dots (TLS certificates of *.s3.<region>.amazonaws.com cover one label only).
 * Without credentials the requests go unsigned (public buckets).
 */

export interface S3Settings {
  /** e.g. http://minio:9000 (--s3-endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL). */
  readonly endpoint?: string;
  readonly region: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
}

/** S3 settings from a flag and the standard AWS environment variables (the names the AWS SDKs read). */
export function s3Settings(env: Readonly<Record<string, string | undefined>>, endpointFlag?: string): S3Settings {
  return {
    endpoint: endpointFlag ?? env[CHECKER_ENV.s3EndpointS3] ?? env[CHECKER_ENV.s3Endpoint],
    region: env[CHECKER_ENV.region] ?? env[CHECKER_ENV.defaultRegion] ?? 'us-east-1',
    accessKeyId: env[CHECKER_ENV.accessKeyId],
    secretAccessKey: env[CHECKER_ENV.secretAccessKey],
    sessionToken: env[CHECKER_ENV.sessionToken],
  };
}

/** A key as a URL path: each segment URI-encoded, the slashes kept. */
export const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');

/** URL of the bucket (path-style or virtual-hosted) and the request path prefix for keys. */
export function bucketBase(settings: S3Settings, bucket: string): { origin: string; prefix: string } {
  if (settings.endpoint) {
    const url = new URL(settings.endpoint);
    const base = url.pathname.replace(/\/$/, '');
    return { origin: `${url.protocol}//${url.host}`, prefix: `${base}/${encodeURIComponent(bucket)}` };
  }
  if (bucket.includes('.')) return { origin: `https://s3.${settings.region}.amazonaws.com`, prefix: `/${encodeURIComponent(bucket)}` };
  return { origin: `https://${bucket}.s3.${settings.region}.amazonaws.com`, prefix: '' };
}

/** Origin and URI-encoded request path of one object. */
export function objectAddress(settings: S3Settings, bucket: string, key: string): { origin: string; path: string } {
  const { origin, prefix } = bucketBase(settings, bucket);
  return { origin, path: `${prefix}/${encodeKey(key)}` };
}

/**
 * Signed request headers for `method` on `origin + path` (path already URI-encoded, query
 * included). The payload hash is the caller's `x-amz-content-sha256` header when given (a
 * PUT signs its body's SHA-256), else the hash of an empty body.
 */
export function sign(settings: S3Settings, method: string, origin: string, path: string, headers: Record<string, string> = {}): Record<string, string> {
  if (!settings.accessKeyId || !settings.secretAccessKey) return headers;
  const host = new URL(origin).host;
  const signed = aws4.sign(
    { host, path, method, service: 's3', region: settings.region, headers: { ...headers } },
    { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, sessionToken: settings.sessionToken },
  );
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers ?? {})) {
    if (name.toLowerCase() !== 'host' && name.toLowerCase() !== 'content-length') out[name] = String(value);
  }
  return out;
}
