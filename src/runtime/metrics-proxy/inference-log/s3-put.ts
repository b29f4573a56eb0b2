import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { type S3Settings, objectAddress, sign } from '../../shared/s3';

/**
 * One S3 PutObject over node:http, signed with SigV4 (src/runtime/shared/s3.ts: path-style
 * for a custom endpoint, virtual-hosted for AWS). The payload is signed by its SHA-256, so a
 * body damaged on the way is refused by the store instead of stored.
 *
 * Objects are `Content-Type: application/gzip` without `Content-Encoding`: the bytes stored are
 * a gzip file, as the `.jsonl.gz` key says. With `Content-Encoding: gzip` some HTTP clients
 * (browsers, curl --compressed, requests, fetch) decompress on GET and hand over JSON Lines
 * under a .gz name, which a reader that gunzips by the suffix (the drift checker, pandas,
 * DuckDB) then fails on.
 */

export const OBJECT_CONTENT_TYPE = 'application/gzip';

/** What became of one PUT. Never an exception: the writer decides from `retryable`. */
export interface PutResult {
  readonly ok: boolean;
  /** The HTTP status, when the store answered. */
  readonly status?: number;
  /** True for a failure that may pass on a later attempt: no answer, 5xx, 408, 429, S3's RequestTimeout. */
  readonly retryable: boolean;
  /** What went wrong, for the log: status and S3 error code and message, or the network error. */
  readonly error?: string;
  /** S3's error code (`SignatureDoesNotMatch`, `NoSuchBucket`, `SlowDown`...), or the network error's code. */
  readonly code?: string;
}

/** Writes one object; `signal` aborts it (the proxy's shutdown deadline). */
export type PutObject = (key: string, body: Buffer, signal?: AbortSignal) => Promise<PutResult>;

export interface S3PutOptions {
  /** Milliseconds without progress before an attempt is abandoned. @default 30000 */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** S3 codes of a 4xx that a later attempt can pass (the store gave up waiting for the body). */
const RETRYABLE_CODES = new Set(['RequestTimeout']);

/** A PutObject into `bucket` with these settings. */
export function s3PutObject(settings: S3Settings, bucket: string, options: S3PutOptions = {}): PutObject {
  return (key, body, signal) => putObject(settings, bucket, key, body, { timeoutMs: options.timeoutMs, signal });
}

export function putObject(settings: S3Settings, bucket: string, key: string, body: Buffer,
  options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<PutResult> {
  return new Promise((resolve) => {
    let req: http.ClientRequest | undefined;
    let settled = false;
    const finish = (result: PutResult) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const onAbort = () => {
      req?.destroy();
      finish({ ok: false, retryable: false, error: 'aborted: the proxy is stopping', code: 'Aborted' });
    };
    if (options.signal?.aborted) {
      onAbort();
      return;
    }

    try {
      const { origin, path } = objectAddress(settings, bucket, key);
      const client = origin.startsWith('https:') ? https : http;
      const headers = sign(settings, 'PUT', origin, path, {
        'Content-Type': OBJECT_CONTENT_TYPE,
        'X-Amz-Content-Sha256': createHash('sha256').update(body).digest('hex'),
      });
      req = client.request(`${origin}${path}`, {
        method: 'PUT',
        headers: { ...headers, 'Content-Length': body.length, 'User-Agent': 'mlops-metrics-proxy' },
        agent: false,
      }, (response) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          // An error document is small; a large answer is cut, not held.
          if (size < 8192) chunks.push(chunk);
          size += chunk.length;
        });
        response.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, retryable: true, error: err.message, code: err.code }));
        response.on('end', () => {
          if (status >= 200 && status < 300) {
            finish({ ok: true, status, retryable: false });
            return;
          }
          const text = Buffer.concat(chunks).toString('utf8');
          const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
          const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
          const retryable = status >= 500 || status === 408 || status === 429 || (code !== undefined && RETRYABLE_CODES.has(code));
          finish({
            ok: false,
            status,
            retryable,
            code,
            error: `PUT s3://${bucket}/${key}: ${status} ${response.statusMessage ?? ''}`.trimEnd()
              + (code ? ` ${code}` : '') + (message ? `: ${message}` : ''),
          });
        });
      });
    } catch (err) {
      // A bad endpoint URL or a header Node refuses: no attempt can pass.
      finish({ ok: false, retryable: false, error: `PUT s3://${bucket}/${key}: ${(err as Error).message}` });
      return;
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    req.setTimeout(timeoutMs, () => req!.destroy(Object.assign(new Error(`no progress within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => finish({
      ok: false, retryable: true, code: err.code, error: `PUT s3://${bucket}/${key}: ${err.message}`,
    }));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}
