import * as http from 'node:http';
import * as https from 'node:https';
import { InputError, NotFoundError, RunError } from '../errors';

/**
 * The HTTP the checker needs (data sources, MLflow, S3, Pushgateway) on node:http, so the
 * bundle has no client library. Failures are sorted into the two exit codes: a 4xx answer
 * means the URL or credentials are wrong (input error, exit 2); no answer, a timeout or a
 * 5xx means the service is unreachable or broken (exit 1) and is retried a few times first.
 */

export interface HttpRequest {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  /** Milliseconds without progress before giving up. */
  readonly timeoutMs?: number;
  /** Attempts for connection errors and 5xx (1 = no retry). */
  readonly attempts?: number;
  /** Shown in messages instead of the URL (which may carry a signed query). */
  readonly label?: string;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
const BACKOFF_MS = [500, 1500, 4000];

/** Sends a request and resolves with the response (status < 400); the body is left to the caller. */
export async function httpRequest(url: string, request: HttpRequest = {}): Promise<http.IncomingMessage> {
  const attempts = request.attempts ?? 3;
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const response = await once(url, request);
      const status = response.statusCode ?? 0;
      if (status < 400) return response;
      const body = await readText(response, 2000).catch(() => '');
      const what = `${request.method ?? 'GET'} ${request.label ?? url}: ${status} ${response.statusMessage ?? ''}${body ? ` (${body.trim().slice(0, 300)})` : ''}`;
      // A missing object is told apart (the current dataset may not have landed yet); a
      // missing S3 bucket is a configuration error like any other 4xx.
      if (status === 404 && !/<Code>NoSuchBucket<\/Code>/.test(body)) throw new NotFoundError(what);
      if (status < 500) throw new InputError(what);
      lastError = new RunError(what);
    } catch (err) {
      if (err instanceof InputError) throw err;
      lastError = err instanceof RunError ? err : new RunError(`${request.method ?? 'GET'} ${request.label ?? url}: ${(err as Error).message}`, { cause: err });
    }
    if (attempt < attempts) await sleep(BACKOFF_MS[Math.min(attempt - 1, BACKOFF_MS.length - 1)]);
  }
  throw lastError!;
}

function once(url: string, request: HttpRequest): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new InputError(`${url} is not a URL`));
      return;
    }
    const client = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : undefined;
    if (!client) {
      reject(new InputError(`${url}: only http and https are supported here`));
      return;
    }
    const headers: Record<string, string | number> = { 'user-agent': 'mlops-drift', ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    const req = client.request(parsed, { method: request.method ?? 'GET', headers, agent: false }, resolve);
    req.setTimeout(request.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => req.destroy(new Error(`no response within ${(request.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s`)));
    req.on('error', reject);
    req.end(request.body);
  });
}

/** The whole body as text, at most `limit` bytes. */
export async function readText(response: http.IncomingMessage, limit = 64 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      response.destroy();
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The whole body as bytes. */
export async function readBytes(response: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** GET and parse JSON; a body that is not JSON is a RunError (the server is not what we expect). */
export async function getJson<T>(url: string, request: HttpRequest = {}): Promise<T> {
  const response = await httpRequest(url, request);
  const text = await readText(response);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new RunError(`GET ${request.label ?? url}: the answer is not JSON: ${text.slice(0, 200)}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
