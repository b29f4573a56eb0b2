import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the fake model server saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** True when the request's connection closed before the model server answered. */
  aborted: boolean;
}

export interface FakeModelServer {
  readonly port: number;
  readonly url: string;
  readonly seen: SeenRequest[];
  /** Answers every request waiting on /hold with 200 "released". */
  release(): void;
  /** How many requests wait on /hold right now. */
  held(): number;
  close(): Promise<void>;
}

/**
 * A real HTTP model server on a loopback ephemeral port:
 * /ok 200 JSON, /error 500, /bad 400, /slow?ms=N 200 after N ms, /hold 200 after `release()`,
 * /echo 201 with the request as JSON and a few custom headers, /stream-echo pipes the body back,
 * /ping, /healthz and /metrics 200 "pong"; anything else 404.
 */
export async function startFakeModelServer(): Promise<FakeModelServer> {
  const seen: SeenRequest[] = [];
  let holding: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname === '/stream-echo') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), aborted: false };
      seen.push(entry);
      res.on('close', () => {
        if (!res.writableFinished) entry.aborted = true;
      });
      switch (url.pathname) {
        case '/ok':
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': 16 });
          res.end('{"prediction":1}');
          return;
        case '/error':
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end('{"error":"model failed"}');
          return;
        case '/bad':
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end('{"error":"bad input"}');
          return;
        case '/slow':
          setTimeout(() => res.end('slow'), Number(url.searchParams.get('ms') ?? '300'));
          return;
        case '/hold':
          holding.push(res);
          return;
        case '/echo':
          res.writeHead(201, 'Created Prediction', [
            'Content-Type', 'application/json',
            'X-Model-Version', '7',
            'Set-Cookie', 'a=1',
            'Set-Cookie', 'b=2',
          ]);
          res.end(JSON.stringify({ method: entry.method, url: entry.url, headers: entry.headers, body: entry.body }));
          return;
        case '/ping':
        case '/healthz':
        case '/metrics':
          res.end('pong');
          return;
        default:
          res.writeHead(404);
          res.end('no such route');
      }
    });
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    release: () => {
      const waiting = holding;
      holding = [];
      for (const res of waiting) if (!res.destroyed) res.end('released');
    },
    held: () => holding.filter((res) => !res.destroyed).length,
    close: () => closeServer(server),
  };
}

export function listenOnLoopback(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A loopback port that nothing listens on (it was free a moment ago). */
export async function unusedPort(): Promise<number> {
  const server = http.createServer();
  const port = await listenOnLoopback(server);
  await closeServer(server);
  return port;
}

export interface Reply {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: Buffer;
  readonly text: string;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  readonly agent?: http.Agent | false;
}

/** One HTTP request to loopback; a fresh connection unless an agent is given. */
export function send(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString() });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Polls `probe` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
