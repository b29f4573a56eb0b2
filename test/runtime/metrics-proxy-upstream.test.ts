import * as http from 'node:http';
import * as net from 'node:net';
import { parseConfig } from '../../src/runtime/metrics-proxy/config';
import { type LogEvent, type MetricsProxy, startMetricsProxy } from '../../src/runtime/metrics-proxy/proxy';
import { type ExchangeHandler, type UpstreamError, UpstreamPool } from '../../src/runtime/metrics-proxy/upstream';
import { type Reply, send, waitFor } from './http-helpers';
import { parseExposition } from './prometheus-text';

/**
 * The proxy's own HTTP/1.1 client (upstream.ts) against model servers that answer with
 * hand-written bytes: framings, interim responses, connection reuse and malformed answers.
 * metrics-proxy.test.ts covers the proxy's behaviour towards a regular model server.
 */

const REQUESTS = 'mlops_inference_requests_total';

interface RawRequest { readonly head: string; readonly body: Buffer; readonly connection: number }

/**
 * A model server that answers each request with what `answer` writes on the socket, after
 * reading the request (Content-Length or chunked body). Counts its connections.
 */
interface RawUpstream {
  readonly url: string;
  readonly port: number;
  readonly requests: RawRequest[];
  connections(): number;
  close(): Promise<void>;
}

async function startRawUpstream(answer: (request: RawRequest, socket: net.Socket) => void): Promise<RawUpstream> {
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.toString('latin1', 0, end);
        const rest = buffered.subarray(end + 4);
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        let body: Buffer;
        let used: number;
        if (length) {
          if (rest.length < Number(length[1])) return;
          body = rest.subarray(0, Number(length[1]));
          used = body.length;
        } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const decoded = decodeChunked(rest);
          if (!decoded) return;
          [body, used] = decoded;
        } else {
          body = Buffer.alloc(0);
          used = 0;
        }
        buffered = rest.subarray(used);
        const request = { head, body, connection };
        requests.push(request);
        answer(request, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** The body and the bytes used, or undefined while the last chunk has not arrived. */
function decodeChunked(data: Buffer): [Buffer, number] | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd === -1) return undefined;
    const size = parseInt(data.toString('latin1', at, lineEnd), 16);
    if (size === 0) return data.length >= lineEnd + 4 ? [Buffer.concat(parts), lineEnd + 4] : undefined;
    if (data.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** Writes `bytes` one small piece per event-loop turn, so every parser state meets a split. */
async function trickle(socket: net.Socket, bytes: string, pieceSize = 3): Promise<void> {
  for (let at = 0; at < bytes.length; at += pieceSize) {
    socket.write(bytes.slice(at, at + pieceSize), 'latin1');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function rawReply(status: string, headers: string[], body = ''): string {
  return `HTTP/1.1 ${status}\r\n${headers.map((header) => `${header}\r\n`).join('')}\r\n${body}`;
}

describe('the proxy through its own upstream client', () => {
  const running = new Set<MetricsProxy>();
  const upstreams = new Set<RawUpstream>();

  async function proxyTo(target: RawUpstream | string, log?: (event: LogEvent) => void): Promise<MetricsProxy> {
    const proxy = await startMetricsProxy(parseConfig({
      MLOPS_PROXY_UPSTREAM: typeof target === 'string' ? target : target.url,
      MLOPS_MODEL_NAME: 'm',
      MLOPS_PROXY_LISTEN_PORT: '0',
      MLOPS_PROXY_METRICS_PORT: '0',
      MLOPS_PROXY_BIND_ADDRESS: '127.0.0.1',
      MLOPS_PROXY_UPSTREAM_TIMEOUT_SECONDS: '5',
    }), { log });
    running.add(proxy);
    return proxy;
  }

  async function rawUpstream(answer: (request: RawRequest, socket: net.Socket) => void): Promise<RawUpstream> {
    const upstream = await startRawUpstream(answer);
    upstreams.add(upstream);
    return upstream;
  }

  afterEach(async () => {
    await Promise.all([...running].map((proxy) => proxy.close()));
    running.clear();
    await Promise.all([...upstreams].map((upstream) => upstream.close()));
    upstreams.clear();
  });

  test('reuses one upstream connection for sequential keep-alive requests', async () => {
    // GIVEN a model server that keeps connections open
    const upstream = await rawUpstream((_, socket) => socket.write(rawReply('200 OK', ['Content-Length: 2'], 'ok')));
    const proxy = await proxyTo(upstream);
    // WHEN five requests come, each on a new client connection
    for (let i = 0; i < 5; i++) expect((await send(proxy.listenPort, '/ok', { method: 'POST', body: `{"i":${i}}` })).text).toBe('ok');
    // THEN one upstream connection carried them all, with their bodies
    expect(upstream.connections()).toBe(1);
    expect(upstream.requests.map((request) => request.body.toString())).toEqual([0, 1, 2, 3, 4].map((i) => `{"i":${i}}`));
  });

  test('forwards chunked responses split anywhere, with extensions and trailers, and keeps the connection', async () => {
    // GIVEN a model server that streams chunks one 3-byte piece at a time
    const body = '4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Checksum: 1\r\n\r\n';
    const upstream = await rawUpstream((_, socket) => void trickle(socket, rawReply('200 OK', ['Content-Type: text/plain', 'Transfer-Encoding: chunked'], body)));
    const proxy = await proxyTo(upstream);
    // WHEN
    const agent = new http.Agent({ keepAlive: true });
    try {
      const first = await send(proxy.listenPort, '/stream', { agent });
      const second = await send(proxy.listenPort, '/stream', { agent });
      // THEN the client gets the de-chunked body, twice over one upstream connection
      expect([first.status, first.text, second.text]).toEqual([200, 'Wikipedia in\r\n\r\nchunks.', 'Wikipedia in\r\n\r\nchunks.']);
      expect(first.headers['x-checksum']).toBeUndefined();
      expect(upstream.connections()).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  test('forwards a body that ends with the connection, then opens a new one', async () => {
    // GIVEN a model server that frames its body by closing (no Content-Length, no chunking)
    const upstream = await rawUpstream((_, socket) => {
      void trickle(socket, rawReply('200 OK', ['Content-Type: text/plain'], 'until the end'), 4).then(() => socket.end());
    });
    const proxy = await proxyTo(upstream);
    // WHEN / THEN
    expect((await send(proxy.listenPort, '/a')).text).toBe('until the end');
    expect((await send(proxy.listenPort, '/b')).text).toBe('until the end');
    expect(upstream.connections()).toBe(2);
  });

  test('opens a new connection after the model server answers with Connection: close', async () => {
    // GIVEN
    const upstream = await rawUpstream((_, socket) => socket.write(rawReply('200 OK', ['Content-Length: 2', 'Connection: close'], 'ok')));
    const proxy = await proxyTo(upstream);
    // WHEN / THEN (the model server never closes: the proxy must not reuse the connection)
    expect((await send(proxy.listenPort, '/a')).text).toBe('ok');
    expect((await send(proxy.listenPort, '/b')).text).toBe('ok');
    expect(upstream.connections()).toBe(2);
  });

  test('skips interim 1xx responses and forwards the final one', async () => {
    // GIVEN a 103 Early Hints before the answer, in one write
    const upstream = await rawUpstream((_, socket) => socket.write(
      rawReply('103 Early Hints', ['Link: </style.css>; rel=preload']) + rawReply('201 Created', ['Content-Length: 4'], 'made')));
    const proxy = await proxyTo(upstream);
    // WHEN
    const reply = await send(proxy.listenPort, '/make', { method: 'POST', body: '{}' });
    // THEN
    expect([reply.status, reply.text, reply.headers.link]).toEqual([201, 'made', undefined]);
  });

  test('ends HEAD, 204 and 304 answers at their head whatever their headers say', async () => {
    // GIVEN a model server that announces bodies it does not send
    const upstream = await rawUpstream((request, socket) => {
      const status = request.head.startsWith('HEAD') ? '200 OK' : request.head.includes('/none') ? '204 No Content' : '304 Not Modified';
      socket.write(rawReply(status, ['Content-Length: 10', 'ETag: "v1"']));
    });
    const proxy = await proxyTo(upstream);
    // WHEN
    const replies = [await send(proxy.listenPort, '/a', { method: 'HEAD' }), await send(proxy.listenPort, '/none'), await send(proxy.listenPort, '/cached')];
    // THEN each came back at once, over one upstream connection
    expect(replies.map((reply) => [reply.status, reply.body.length])).toEqual([[200, 0], [204, 0], [304, 0]]);
    expect(replies[0].headers['content-length']).toBe('10');
    expect(upstream.connections()).toBe(1);
  });

  test('strips hop-by-hop headers and the ones Connection names, both ways, and keeps the rest as spelt', async () => {
    // GIVEN a model server that names a private header in its Connection header
    const upstream = await rawUpstream((_, socket) => socket.write(rawReply('200 OK', [
      'Content-Length: 2', 'Connection: keep-alive, X-Upstream-Hop', 'Keep-Alive: timeout=5', 'X-Upstream-Hop: 1', 'Proxy-Connection: x', 'X-Model-Version: 7',
    ], 'ok')));
    const proxy = await proxyTo(upstream);
    // WHEN the client does the same
    const reply = await send(proxy.listenPort, '/h', {
      headers: { Connection: 'X-Client-Hop', 'X-Client-Hop': '1', 'Keep-Alive': 'timeout=9', TE: 'trailers', 'X-Request-Id': 'r-1' },
    });
    // THEN neither side sees the other's connection headers
    const seen = upstream.requests[0].head.split('\r\n').slice(1).map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
    expect(seen).toEqual(expect.arrayContaining(['x-request-id', 'host']));
    expect(seen.filter((name) => ['connection', 'x-client-hop', 'keep-alive', 'te'].includes(name))).toEqual([]);
    expect(upstream.requests[0].head).toContain('\r\nX-Request-Id: r-1');
    expect(Object.keys(reply.headers).filter((name) => ['x-upstream-hop', 'proxy-connection'].includes(name))).toEqual([]);
    expect(reply.headers['keep-alive']).not.toBe('timeout=5'); // Node's server may add its own
    expect(reply.rawHeaders).toEqual(expect.arrayContaining(['X-Model-Version', '7']));
  });

  test('gives a Host to an HTTP/1.0 request without one and forwards a single Host', async () => {
    // GIVEN
    const upstream = await rawUpstream((_, socket) => socket.write(rawReply('200 OK', ['Content-Length: 2'], 'ok')));
    const proxy = await proxyTo(upstream);
    // WHEN one client sends no Host and another sends two
    const replies = [
      await rawExchange(proxy.listenPort, 'GET /old HTTP/1.0\r\n\r\n'),
      await rawExchange(proxy.listenPort, 'GET /two HTTP/1.1\r\nHost: first\r\nHost: second\r\nConnection: close\r\n\r\n'),
    ];
    // THEN
    expect(replies.every((reply) => reply.startsWith('HTTP/1.1 200 OK'))).toBe(true);
    const hosts = upstream.requests.map((request) => request.head.split('\r\n').filter((line) => /^host:/i.test(line)));
    expect(hosts).toEqual([[`Host: 127.0.0.1:${upstream.port}`], ['Host: first']]);
  });

  test('frames a chunked upload again for the model server', async () => {
    // GIVEN
    const upstream = await rawUpstream((request, socket) => socket.write(rawReply('200 OK', [`Content-Length: ${request.body.length}`], request.body.toString('latin1'))));
    const proxy = await proxyTo(upstream);
    // WHEN a client uploads in three writes without a Content-Length
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.listenPort, path: '/up', method: 'POST', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, statusMessage: '', headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString() });
        });
      });
      req.on('error', reject);
      req.write('{"rows":');
      setTimeout(() => {
        req.write('[1,2,');
        req.end('3]}');
      }, 20);
    });
    // THEN the model server got a chunked request with the whole body
    expect(reply.text).toBe('{"rows":[1,2,3]}');
    expect(upstream.requests[0].head).toMatch(/\r\ntransfer-encoding: chunked/i);
  });

  test.each([
    ['a bad status line', 'HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['a header name with a space', 'HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a control character in a value', 'HTTP/1.1 200 OK\r\nX-Bad: a\u0001b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'HPE_INVALID_CONTENT_LENGTH'],
    ['an unasked protocol switch', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['a head larger than Node accepts', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(http.maxHeaderSize)}\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
  ])('fails with 502 on %s, naming the parse error', async (_, bytes, code) => {
    // GIVEN
    const events: LogEvent[] = [];
    const upstream = await rawUpstream((__, socket) => socket.write(bytes, 'latin1'));
    const proxy = await proxyTo(upstream, (event) => events.push(event));
    // WHEN
    const reply = await send(proxy.listenPort, '/bad');
    // THEN
    expect(reply.status).toBe(502);
    expect(reply.text).toBe(`bad gateway: the model server at ${upstream.url} failed (${code})\n`);
    expect(events).toContainEqual(expect.objectContaining({ event: 'upstream_error', error: code }));
  });

  test('forwards an answer that comes before the upload ends, and does not reuse that connection', async () => {
    // GIVEN a model server that refuses large bodies as soon as it reads the head, and reads no further
    let connections = 0;
    const refusing = net.createServer((socket) => {
      connections += 1;
      socket.on('error', () => undefined);
      socket.once('data', () => {
        socket.pause();
        socket.write(rawReply('413 Payload Too Large', ['Content-Length: 9'], 'too large'));
      });
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    try {
      const proxy = await proxyTo(`http://127.0.0.1:${(refusing.address() as net.AddressInfo).port}`);
      // WHEN a client uploads 16 MiB, more than the sockets between them buffer
      const size = 16 * 1024 * 1024;
      const piece = Buffer.alloc(64 * 1024);
      const reply = await new Promise<Reply>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: proxy.listenPort, path: '/big', method: 'POST', agent: false, headers: { 'content-length': String(size) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => {
            const body = Buffer.concat(chunks);
            resolve({ status: res.statusCode!, statusMessage: '', headers: res.headers, rawHeaders: res.rawHeaders, body, text: body.toString() });
          });
        });
        // Node's server closes a connection whose request it did not read to the end: the rest of the upload fails.
        req.on('error', (err: NodeJS.ErrnoException) => (['EPIPE', 'ECONNRESET'].includes(err.code ?? '') ? undefined : reject(err)));
        let written = 0;
        const pump = () => {
          while (written < size && !req.destroyed) {
            written += piece.length;
            if (!req.write(piece)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      // THEN the client has the answer, with the connection closed, and the next request gets a new upstream connection
      expect([reply.status, reply.text, reply.headers.connection]).toEqual([413, 'too large', 'close']);
      expect((await send(proxy.listenPort, '/next', { method: 'POST', body: '{}' })).status).toBe(413);
      expect(connections).toBe(2);
    } finally {
      refusing.close();
    }
  });

  test('fails with 502 when the model server closes without answering', async () => {
    // GIVEN
    const upstream = await rawUpstream((_, socket) => socket.end());
    const proxy = await proxyTo(upstream);
    // WHEN / THEN
    const reply = await send(proxy.listenPort, '/gone');
    expect([reply.status, reply.text]).toEqual([502, `bad gateway: the model server at ${upstream.url} failed (ECONNRESET)\n`]);
  });

  test('resets the client on a malformed chunk after the head, and logs the parse error', async () => {
    // GIVEN
    const events: LogEvent[] = [];
    const upstream = await rawUpstream((_, socket) => socket.write(rawReply('200 OK', ['Transfer-Encoding: chunked'], '2\r\nok\r\nzz\r\n')));
    const proxy = await proxyTo(upstream, (event) => events.push(event));
    // WHEN / THEN
    await expect(send(proxy.listenPort, '/chunks')).rejects.toThrow();
    expect(events).toContainEqual(expect.objectContaining({ event: 'upstream_error', error: 'HPE_INVALID_CHUNK_SIZE' }));
  });

  test('resets the client when the model server dies in the middle of a body, and still serves', async () => {
    // GIVEN a model server that promises 100 bytes, sends 10 and dies, once
    let calls = 0;
    const upstream = await rawUpstream((_, socket) => {
      calls += 1;
      if (calls === 1) {
        socket.write(rawReply('200 OK', ['Content-Length: 100'], '0123456789'));
        setTimeout(() => socket.destroy(), 20);
      } else {
        socket.write(rawReply('200 OK', ['Content-Length: 2'], 'ok'));
      }
    });
    const proxy = await proxyTo(upstream);
    // WHEN / THEN the client sees an error, not a short 200
    await expect(send(proxy.listenPort, '/dies')).rejects.toThrow();
    expect((await send(proxy.listenPort, '/ok')).text).toBe('ok');
    const scraped = parseExposition((await send(proxy.metricsPort, '/metrics')).text);
    expect(scraped.value('mlops_inference_requests_in_flight', { model: 'm' })).toBe(0);
    expect(scraped.samples.filter((sample) => sample.name === REQUESTS).reduce((sum, sample) => sum + sample.value, 0)).toBe(2);
  });
});

describe('UpstreamPool', () => {
  interface Outcome { status?: number; body: string; error?: UpstreamError }

  function run(pool: UpstreamPool, head: string, body?: string): Promise<Outcome> {
    return new Promise((resolve) => {
      const outcome: Outcome = { body: '' };
      const handler: ExchangeHandler = {
        onHead: (status) => (outcome.status = status),
        onBody: (chunk, last) => {
          outcome.body += chunk.toString();
          if (last) resolve(outcome);
        },
        onError: (error) => resolve({ ...outcome, error }),
      };
      const exchange = pool.exchange(head, false, false, handler);
      if (body !== undefined) exchange.write(Buffer.from(body));
      exchange.end();
    });
  }

  let upstream: RawUpstream;
  beforeEach(async () => {
    upstream = await startRawUpstream((request, socket) => socket.write(rawReply('200 OK', [`Content-Length: ${request.body.length + 2}`], `ok${request.body}`)));
  });
  afterEach(() => upstream.close());

  test('does not reuse a connection idle longer than idleMs', async () => {
    // GIVEN
    const pool = new UpstreamPool({ host: '127.0.0.1', port: upstream.port, timeoutMs: 5_000, idleMs: 50 });
    try {
      // WHEN two requests come 100 ms apart, then two back to back
      expect(await run(pool, 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n')).toEqual({ status: 200, body: 'ok' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await run(pool, 'GET /2 HTTP/1.1\r\nHost: x\r\n\r\n')).toEqual({ status: 200, body: 'ok' });
      expect(await run(pool, 'POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n', 'abc')).toEqual({ status: 200, body: 'okabc' });
      // THEN the stale connection was replaced, the fresh one reused
      expect(upstream.requests.map((request) => request.connection)).toEqual([1, 2, 2]);
    } finally {
      pool.destroy();
    }
  });

  test('fails exchanges with ECONNABORTED once destroyed', async () => {
    // GIVEN
    const pool = new UpstreamPool({ host: '127.0.0.1', port: upstream.port, timeoutMs: 5_000, idleMs: 1_000 });
    // WHEN
    pool.destroy();
    const outcome = await run(pool, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    // THEN
    expect(outcome.error?.code).toBe('ECONNABORTED');
    expect(upstream.requests).toEqual([]);
  });

  test('fails with timeout when the model server stays silent', async () => {
    // GIVEN a server that reads requests and never answers
    const silent = await startRawUpstream(() => undefined);
    const pool = new UpstreamPool({ host: '127.0.0.1', port: silent.port, timeoutMs: 200, idleMs: 1_000 });
    try {
      // WHEN
      const startedAt = Date.now();
      const outcome = await run(pool, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      // THEN
      expect(outcome.error?.code).toBe('timeout');
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(150);
      await waitFor('the silent server to see its connection closed', () => silent.connections() === 1 && silent.requests.length === 1);
    } finally {
      pool.destroy();
      await silent.close();
    }
  });
});

/** Sends raw request bytes on a new connection; resolves with everything read until the proxy closes it. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.write(request, 'latin1');
  });
}
