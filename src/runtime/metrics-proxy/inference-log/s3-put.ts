import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { type S3Settings, objectAddress, sign } from '../../shared/s3';
import { UpstreamPool } from '../upstream';

/**
 * One S3 PutObject, signed with SigV4 (src/runtime/shared/s3.ts: path-style for a custom
 * endpoint, virtual-hosted for AWS). The payload is signed by its SHA-256, so a body damaged
 * on the way is refused by the store instead of stored.
 *
 * Sent with the proxy's own HTTP/1.1 client (upstream.ts) over a keep-alive connection per
 * store, not node:http: its ClientRequest, parser and response stream are the ones the proxy's
 * server uses, and every upload brought them new object shapes that deoptimized the request
 * path for a while (bench/proxy.ts: half of the inference log's CPU cost).
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
/** Idle connections to the store are closed after this, before the usual idle timeouts of servers and load balancers. */
const IDLE_SOCKET_MS = 4_000;
/** S3 codes of a 4xx that a later attempt can pass (the store gave up waiting for the body). */
const RETRYABLE_CODES = new Set(['RequestTimeout']);
/** An error document is small; a larger answer is cut, not held. */
const MAX_ERROR_BYTES = 8192;

/** A PutObject into `bucket` with these settings, over one keep-alive connection pool per store. */
export function s3PutObject(settings: S3Settings, bucket: string, options: S3PutOptions = {}): PutObject {
  const pools = new Map<string, UpstreamPool>();
  const poolOf = (origin: string, timeoutMs: number): UpstreamPool => {
    let pool = pools.get(origin);
    if (pool === undefined) {
      pool = newPool(origin, timeoutMs);
      pools.set(origin, pool);
    }
    return pool;
  };
  return (key, body, signal) => putObject(settings, bucket, key, body, { timeoutMs: options.timeoutMs, signal, poolOf });
}

function newPool(origin: string, timeoutMs: number): UpstreamPool {
  const url = new URL(origin);
  const secure = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new UpstreamPool({
    host,
    port: Number(url.port || (secure ? 443 : 80)),
    timeoutMs,
    idleMs: IDLE_SOCKET_MS,
    tls: secure ? { servername: isIP(host) === 0 ? host : undefined } : undefined,
    unrefIdle: true,
  });
}

export function putObject(settings: S3Settings, bucket: string, key: string, body: Buffer,
  options: { timeoutMs?: number; signal?: AbortSignal; poolOf?: (origin: string, timeoutMs: number) => UpstreamPool } = {}): Promise<PutResult> {
  return new Promise((resolve) => {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let settled = false;
    let exchange: { abort(): void } | undefined;
    // Without a caller's pool, one for this PUT alone, closed when it ends.
    let ownPool: UpstreamPool | undefined;
    const finish = (result: PutResult) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      ownPool?.destroy();
      resolve(result);
    };
    const onAbort = () => {
      exchange?.abort();
      finish({ ok: false, retryable: false, error: 'aborted: the proxy is stopping', code: 'Aborted' });
    };
    if (options.signal?.aborted) {
      onAbort();
      return;
    }

    let head: string;
    let pool: UpstreamPool;
    try {
      const { origin, path } = objectAddress(settings, bucket, key);
      const url = new URL(origin);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol} in ${origin}`);
      const headers = sign(settings, 'PUT', origin, path, {
        'Content-Type': OBJECT_CONTENT_TYPE,
        'X-Amz-Content-Sha256': createHash('sha256').update(body).digest('hex'),
      });
      head = `PUT ${path} HTTP/1.1\r\nHost: ${url.host}\r\n`;
      for (const [name, value] of Object.entries({ ...headers, 'Content-Length': String(body.length), 'User-Agent': 'mlops-metrics-proxy' })) {
        if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`invalid character in header ${JSON.stringify(name)}`);
        head += `${name}: ${value}\r\n`;
      }
      head += '\r\n';
      if (options.poolOf) {
        pool = options.poolOf(origin, timeoutMs);
      } else {
        ownPool = newPool(origin, timeoutMs);
        pool = ownPool;
      }
    } catch (err) {
      // A bad endpoint URL or a header that cannot be sent: no attempt can pass.
      finish({ ok: false, retryable: false, error: `PUT s3://${bucket}/${key}: ${(err as Error).message}` });
      return;
    }

    let status = 0;
    let statusMessage = '';
    const chunks: Buffer[] = [];
    let size = 0;
    const started = pool.exchange(head, false, false, {
      onHead: (statusCode, message) => {
        status = statusCode;
        statusMessage = message;
      },
      onBody: (chunk, last) => {
        if (size < MAX_ERROR_BYTES && chunk.length > 0) chunks.push(chunk);
        size += chunk.length;
        if (!last) return;
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
          error: `PUT s3://${bucket}/${key}: ${status} ${statusMessage}`.trimEnd()
            + (code ? ` ${code}` : '') + (message ? `: ${message}` : ''),
        });
      },
      onError: (err) => {
        const timedOut = err.code === 'timeout';
        finish({
          ok: false,
          retryable: true,
          code: timedOut ? 'ETIMEDOUT' : err.code,
          error: `PUT s3://${bucket}/${key}: ${timedOut ? `no progress within ${timeoutMs / 1000} s` : err.message}`,
        });
      },
    });
    exchange = started;
    options.signal?.addEventListener('abort', onAbort, { once: true });
    started.write(body);
    started.end();
  });
}
