import * as aws4 from 'aws4';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { closeServer, listenOnLoopback } from '../http-helpers';

/**
 * An S3 endpoint on loopback for the inference log's tests, path-style like every custom
 * endpoint: it recomputes each request's SigV4 signature from the secret key (refusing a wrong
 * one with 403 SignatureDoesNotMatch, as S3 does), checks a PUT body against its signed
 * x-amz-content-sha256, stores objects in memory and serves GET, HEAD and ListObjectsV2, so
 * the drift checker's reader can read back what was written. `failNext` scripts answers.
 */

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly signed: boolean;
  readonly status: number;
  readonly at: number;
  /** The client's port: the same for requests on one kept-alive connection. */
  readonly remotePort: number | undefined;
}

export interface StoredObject {
  readonly body: Buffer;
  readonly contentType: string | undefined;
  readonly contentEncoding: string | undefined;
}

export interface FakeS3 {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** AWS_* variables for a client of this endpoint. */
  readonly env: Record<string, string>;
  readonly seen: SeenRequest[];
  /** Objects by `bucket/key`. */
  readonly objects: Map<string, StoredObject>;
  /** The next PUTs are answered with these statuses (and an S3 error document) instead of being stored. */
  failNext(...statuses: number[]): void;
  /** PUTs wait for `release()` before they are answered. */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startFakeS3(options: { bucket?: string; region?: string } = {}): Promise<FakeS3> {
  const bucket = options.bucket ?? 'ml-logs';
  const region = options.region ?? 'eu-central-1';
  const accessKeyId = 'test-access-key';
  const secretAccessKey = 'test-secret-key/with+chars';
  const seen: SeenRequest[] = [];
  const objects = new Map<string, StoredObject>();
  const failures: number[] = [];
  let holding = false;
  let held: Array<() => void> = [];

  const verify = (req: http.IncomingMessage): boolean => {
    const authorization = req.headers.authorization ?? '';
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1].split(';') ?? [];
    if (!signedHeaders.includes('x-amz-content-sha256') || !signedHeaders.includes('x-amz-date')) return false;
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) if (name !== 'host') headers[name] = String(req.headers[name]);
    const expected = aws4.sign({ host: req.headers.host, path: req.url, method: req.method, service: 's3', region, headers },
      { accessKeyId, secretAccessKey });
    return expected.headers!.Authorization === authorization;
  };

  const error = (res: http.ServerResponse, status: number, code: string, message: string) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/xml');
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const signed = verify(req);
      const answer = () => {
        const url = new URL(req.url ?? '/', 'http://s3');
        const [, bucketName, ...rest] = url.pathname.split('/');
        const key = rest.map(decodeURIComponent).join('/');
        let status = 200;
        if (!signed) {
          status = 403;
          error(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
        } else if (req.method === 'PUT' && failures.length > 0) {
          status = failures.shift()!;
          const code = status === 503 ? 'SlowDown' : status === 500 ? 'InternalError' : status === 403 ? 'AccessDenied' : 'InvalidRequest';
          error(res, status, code, `scripted ${status}`);
        } else if (bucketName !== bucket) {
          status = 404;
          error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist');
        } else if (req.method === 'PUT') {
          if (createHash('sha256').update(body).digest('hex') !== req.headers['x-amz-content-sha256']) {
            status = 400;
            error(res, 400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
          } else {
            objects.set(`${bucket}/${key}`, {
              body,
              contentType: req.headers['content-type'],
              contentEncoding: req.headers['content-encoding'],
            });
            res.setHeader('etag', `"${createHash('md5').update(body).digest('hex')}"`);
            res.end();
          }
        } else if (url.searchParams.get('list-type') === '2') {
          const prefix = url.searchParams.get('prefix') ?? '';
          const keys = [...objects.keys()].filter((k) => k.startsWith(`${bucket}/${prefix}`)).map((k) => k.slice(bucket.length + 1)).sort();
          res.setHeader('content-type', 'application/xml');
          res.end(`<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated>${keys.map((k) => `<Contents><Key>${k}</Key></Contents>`).join('')}</ListBucketResult>`);
        } else if (objects.has(`${bucket}/${key}`)) {
          const object = objects.get(`${bucket}/${key}`)!;
          res.setHeader('content-length', object.body.length);
          if (object.contentType) res.setHeader('content-type', object.contentType);
          res.end(req.method === 'HEAD' ? undefined : object.body);
        } else {
          status = 404;
          error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
        }
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, signed, status, at: Date.now(), remotePort: req.socket.remotePort });
      };
      if (holding && req.method === 'PUT') held.push(answer);
      else answer();
    });
  });
  const port = await listenOnLoopback(server);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region,
    env: { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: region },
    seen,
    objects,
    failNext: (...statuses) => {
      failures.push(...statuses);
    },
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      const waiting = held;
      held = [];
      for (const answer of waiting) answer();
    },
    close: () => {
      for (const answer of held.splice(0)) answer();
      return closeServer(server);
    },
  };
}
