import * as http from 'node:http';
import * as https from 'node:https';

/** An answer: status, headers and the whole body as text. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly timeoutMs?: number;
  /** CA certificates for https (the apiserver's). */
  readonly ca?: string | Buffer;
}

/** A network-level failure (no answer): refused, reset, timed out, DNS. Always worth a retry. */
export class NetworkError extends Error {}

/** One HTTP request with a deadline; rejects with NetworkError when no answer came. Bodies above 8 MiB are cut. */
export function request(url: string, options: HttpOptions = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  const client = u.protocol === 'https:' ? https : http;
  const body = options.body === undefined ? undefined : Buffer.from(options.body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = client.request(u, {
      method: options.method ?? 'GET',
      headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...options.headers },
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      timeout: options.timeoutMs ?? 10_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 8 * 1024 * 1024) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => reject(new NetworkError(`${options.method ?? 'GET'} ${redact(u)}: ${err.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', (err) => reject(new NetworkError(`${options.method ?? 'GET'} ${redact(u)}: ${err.message}`)));
    req.end(body);
  });
}

/** The URL without user info or query, for messages. */
export function redact(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** The first 300 characters of an answer's body on one line, for messages. */
export function excerpt(body: string): string {
  const s = body.replace(/\s+/g, ' ').trim();
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
}

/** Delay before retry `attempt` (1-based): base * 2^(attempt-1), capped, with up to 20 % jitter. */
export function backoffMs(attempt: number, baseSeconds: number, maxSeconds: number, random: () => number = Math.random): number {
  const capped = Math.min(maxSeconds, baseSeconds * 2 ** (attempt - 1));
  return Math.round(capped * 1000 * (1 + 0.2 * random()));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
