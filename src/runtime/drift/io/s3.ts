import * as aws4 from 'aws4';
import { CHECKER_ENV } from '../../../contract';
import { httpRequest, readText } from './http';
import { InputError } from '../errors';

/**
 * s3:// objects over plain HTTP with AWS Signature V4 (the `aws4` package signs; it is small,
 * dependency-free and used by the AWS SDK v2 era tools). A custom endpoint (MinIO, Ceph,
 * LocalStack) is addressed path-style; AWS itself virtual-hosted unless the bucket name has
 * dots. Without credentials the requests go unsigned (public buckets).
 */

export interface S3Settings {
  /** e.g. http://minio:9000 (--s3-endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL). */
  readonly endpoint?: string;
  readonly region: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
}

/** S3 settings from flags and the standard AWS environment variables. */
export function s3Settings(env: NodeJS.ProcessEnv, endpointFlag?: string): S3Settings {
  return {
    endpoint: endpointFlag ?? env[CHECKER_ENV.s3EndpointS3] ?? env[CHECKER_ENV.s3Endpoint],
    region: env[CHECKER_ENV.region] ?? env[CHECKER_ENV.defaultRegion] ?? 'us-east-1',
    accessKeyId: env[CHECKER_ENV.accessKeyId],
    secretAccessKey: env[CHECKER_ENV.secretAccessKey],
    sessionToken: env[CHECKER_ENV.sessionToken],
  };
}

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match || match[1] === '') throw new InputError(`${uri} is not an s3://bucket/key URI`);
  return { bucket: match[1], key: match[2] };
}

const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');

/** URL of the bucket (path-style or virtual-hosted) and the request path prefix for keys. */
function bucketBase(settings: S3Settings, bucket: string): { origin: string; prefix: string } {
  if (settings.endpoint) {
    const url = new URL(settings.endpoint);
    const base = url.pathname.replace(/\/$/, '');
    return { origin: `${url.protocol}//${url.host}`, prefix: `${base}/${encodeURIComponent(bucket)}` };
  }
  if (bucket.includes('.')) return { origin: `https://s3.${settings.region}.amazonaws.com`, prefix: `/${encodeURIComponent(bucket)}` };
  return { origin: `https://${bucket}.s3.${settings.region}.amazonaws.com`, prefix: '' };
}

/** Signed request headers for `method` on `origin + path` (path already URI-encoded, query included). */
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

/** A signed GET (or HEAD) of one object; `range` as in the Range header ("bytes=a-b"). */
export function s3Get(settings: S3Settings, location: S3Location, options: { method?: 'GET' | 'HEAD'; range?: string } = {}) {
  const { origin, prefix } = bucketBase(settings, location.bucket);
  const path = `${prefix}/${encodeKey(location.key)}`;
  const method = options.method ?? 'GET';
  const headers = sign(settings, method, origin, path, options.range ? { Range: options.range } : {});
  return httpRequest(`${origin}${path}`, { method, headers, label: `s3://${location.bucket}/${location.key}` });
}

/** Keys under a prefix (ListObjectsV2, following continuation tokens). */
export async function s3List(settings: S3Settings, bucket: string, keyPrefix: string): Promise<string[]> {
  const { origin, prefix } = bucketBase(settings, bucket);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const query = new URLSearchParams({ 'list-type': '2', prefix: keyPrefix, ...(token ? { 'continuation-token': token } : {}) });
    // SigV4 wants the query sorted and encoded the same way it is sent.
    const sorted = [...query.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const path = prefix ? `${prefix}?${sorted}` : `/?${sorted}`;
    const response = await httpRequest(`${origin}${path}`, { headers: sign(settings, 'GET', origin, path), label: `s3://${bucket}/${keyPrefix}*` });
    const xml = await readText(response);
    for (const match of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(decodeXml(match[1]));
    const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
    token = truncated ? decodeXml(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] ?? '') : undefined;
  } while (token);
  return keys;
}

function decodeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, entity: string) => {
    switch (entity) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return '\'';
      default: return String.fromCodePoint(entity[1] === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10));
    }
  });
}
