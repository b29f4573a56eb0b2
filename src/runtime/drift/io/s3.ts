import { type S3Settings, bucketBase, objectAddress, sign } from '../../shared/s3';
import { httpRequest, readText } from './http';
import { InputError, NotFoundError } from '../errors';

/**
 * s3:// objects for the checker: GET, HEAD and ListObjectsV2 over plain HTTP, addressed and
 * signed (AWS Signature V4) by src/runtime/shared/s3.ts, which the metrics proxy's inference
 * log writes with too. The settings and the signer are exported here as well, for the
 * checker's other files and the tests that import them from this module.
 */
export { type S3Settings, s3Settings, sign } from '../../shared/s3';

export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match || match[1] === '') throw new InputError(`${uri} is not an s3://bucket/key URI`);
  return { bucket: match[1], key: match[2] };
}

/** A signed GET (or HEAD) of one object; `range` as in the Range header ("bytes=a-b"). */
export function s3Get(settings: S3Settings, location: S3Location, options: { method?: 'GET' | 'HEAD'; range?: string } = {}) {
  const { origin, path } = objectAddress(settings, location.bucket, location.key);
  const method = options.method ?? 'GET';
  const headers = sign(settings, method, origin, path, options.range ? { Range: options.range } : {});
  return httpRequest(`${origin}${path}`, { method, headers, label: `s3://${location.bucket}/${location.key}` });
}

/**
 * A signed HEAD of one object. An answer to HEAD has no body, so S3 (AWS and SeaweedFS alike)
 * answers a missing bucket with the same bare 404 as a missing key, and a current dataset in a
 * misspelt bucket would read as "not there yet" (exit 3, retried) instead of bad input (exit 2).
 * On a 404 the same object is asked for again with GET, whose error body names the cause:
 * NoSuchBucket is an input error (thrown by httpRequest), NoSuchKey stays not found.
 */
export async function s3Head(settings: S3Settings, location: S3Location) {
  try {
    return await s3Get(settings, location, { method: 'HEAD' });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    const probe = await s3Get(settings, location, { range: 'bytes=0-0' });
    // The object landed between the two requests: it is there now.
    probe.resume();
    return s3Get(settings, location, { method: 'HEAD' });
  }
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
