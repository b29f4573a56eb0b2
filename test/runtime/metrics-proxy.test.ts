import * as http from 'node:http';
import * as crypto from 'node:crypto';
import { ConfigError, parseConfig } from '../../src/runtime/metrics-proxy/config';
import { ServingMetrics } from '../../src/runtime/metrics-proxy/metrics';
import { TEXT_FORMAT_CONTENT_TYPE } from '../../src/runtime/shared/prometheus-text';
import { type LogEvent, type MetricsProxy, startMetricsProxy } from '../../src/runtime/metrics-proxy/proxy';
import { bundledProgram, runProgram, type RunningProgram } from './bundled-program';
import { type FakeModelServer, send, startFakeModelServer, unusedPort, waitFor } from './http-helpers';
import { type Exposition, parseExposition } from './prometheus-text';

const REQUESTS = 'mlops_inference_requests_total';
const DURATION = 'mlops_inference_request_duration_seconds';
const IN_FLIGHT = 'mlops_inference_requests_in_flight';
const MODEL = 'fraud-detector';

/** Env for a proxy on loopback ephemeral ports in front of `upstream`. */
function proxyEnv(upstream: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    MLOPS_PROXY_UPSTREAM: upstream,
    MLOPS_MODEL_NAME: MODEL,
    MLOPS_PROXY_LISTEN_PORT: '0',
    MLOPS_PROXY_METRICS_PORT: '0',
    MLOPS_PROXY_BIND_ADDRESS: '127.0.0.1',
    ...overrides,
  };
}

async function scrape(metricsPort: number): Promise<Exposition> {
  const reply = await send(metricsPort, '/metrics');
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toBe(TEXT_FORMAT_CONTENT_TYPE);
  return parseExposition(reply.text);
}

describe('parseConfig', () => {
  test('applies the documented defaults', () => {
    // GIVEN only the required variables
    // WHEN
    const config = parseConfig({ MLOPS_PROXY_UPSTREAM: 'http://127.0.0.1:8081', MLOPS_MODEL_NAME: MODEL });
    // THEN
    expect(config).toEqual({
      upstream: 'http://127.0.0.1:8081',
      listenPort: 8080,
      metricsPort: 9090,
      modelName: MODEL,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      uncountedPaths: ['/ping', '/health', '/healthz', '/ready', '/version', '/metrics'],
      upstreamTimeoutSeconds: 60,
      drainSeconds: 20,
    });
  });

  test('reads every variable', () => {
    const config = parseConfig({
      MLOPS_PROXY_UPSTREAM: 'http://localhost:5000/',
      MLOPS_MODEL_NAME: MODEL,
      MLOPS_PROXY_LISTEN_PORT: '8000',
      MLOPS_PROXY_METRICS_PORT: '0',
      MLOPS_PROXY_BIND_ADDRESS: '::',
      MLOPS_PROXY_BUCKETS: ' 0.1, 1 ,1e1',
      MLOPS_PROXY_UNCOUNTED_PATHS: '/v2/health/ready, /ping',
      MLOPS_PROXY_UPSTREAM_TIMEOUT_SECONDS: '2.5',
      MLOPS_PROXY_DRAIN_SECONDS: '0',
    });
    expect(config).toEqual({
      upstream: 'http://localhost:5000',
      listenPort: 8000,
      metricsPort: 0,
      bindAddress: '::',
      modelName: MODEL,
      buckets: [0.1, 1, 10],
      uncountedPaths: ['/v2/health/ready', '/ping'],
      upstreamTimeoutSeconds: 2.5,
      drainSeconds: 0,
    });
  });

  test('counts every path when MLOPS_PROXY_UNCOUNTED_PATHS is empty', () => {
    const config = parseConfig({ MLOPS_PROXY_UPSTREAM: 'http://127.0.0.1:8081', MLOPS_MODEL_NAME: MODEL, MLOPS_PROXY_UNCOUNTED_PATHS: '' });
    expect(config.uncountedPaths).toEqual([]);
  });

  test('fails without MLOPS_PROXY_UPSTREAM and MLOPS_MODEL_NAME, naming both', () => {
    expect(() => parseConfig({})).toThrow(ConfigError);
    expect(() => parseConfig({})).toThrow(/MLOPS_PROXY_UPSTREAM is not set; set it to the model server in the pod[\s\S]*MLOPS_MODEL_NAME is not set; set it/);
  });

  test.each([
    ['MLOPS_PROXY_UPSTREAM', 'https://127.0.0.1:8081', /uses https: but the proxy speaks plain http/],
    ['MLOPS_PROXY_UPSTREAM', '127.0.0.1:8081', /is not a URL|uses 127\.0\.0\.1:/],
    ['MLOPS_PROXY_UPSTREAM', 'http://127.0.0.1:8081/invocations', /has a path, query or credentials; give only scheme, host and port/],
    ['MLOPS_PROXY_UPSTREAM', 'http://127.0.0.1:8080', /points at the proxy's own MLOPS_PROXY_LISTEN_PORT 8080/],
    ['MLOPS_PROXY_LISTEN_PORT', 'http', /is not a port number; set an integer from 0 \(any free port\) to 65535, or unset it for 8080/],
    ['MLOPS_PROXY_LISTEN_PORT', '65536', /is not a port number/],
    ['MLOPS_PROXY_METRICS_PORT', '-1', /is not a port number; .* or unset it for 9090/],
    ['MLOPS_PROXY_METRICS_PORT', '8080', /MLOPS_PROXY_LISTEN_PORT and MLOPS_PROXY_METRICS_PORT are both 8080; give them different ports/],
    ['MLOPS_PROXY_BIND_ADDRESS', 'everywhere', /is not an IP address/],
    ['MLOPS_MODEL_NAME', ' ', /is empty; set it to the model name/],
    ['MLOPS_PROXY_BUCKETS', '0.5,0.1', /is not strictly increasing at 0.1 \(after 0.5\); list positive upper bounds in seconds in increasing order/],
    ['MLOPS_PROXY_BUCKETS', '0.1,0.1', /is not strictly increasing at 0.1/],
    ['MLOPS_PROXY_BUCKETS', '0,1', /has "0", which is not a positive number/],
    ['MLOPS_PROXY_BUCKETS', '0.1,,1', /has "", which is not a positive number/],
    ['MLOPS_PROXY_BUCKETS', '0.1,+Inf', /has "\+Inf", which is not a positive number; .*\(\+Inf is implied\)/],
    ['MLOPS_PROXY_BUCKETS', '', /has "", which is not a positive number/],
    ['MLOPS_PROXY_UNCOUNTED_PATHS', 'ping,/health', /has "ping", which is not a plain path; list paths that start with \//],
    ['MLOPS_PROXY_UPSTREAM_TIMEOUT_SECONDS', '0', /is not a positive number of seconds/],
    ['MLOPS_PROXY_UPSTREAM_TIMEOUT_SECONDS', '30s', /is not a positive number of seconds; set a number such as 60 or 2.5, or unset it for 60/],
    ['MLOPS_PROXY_DRAIN_SECONDS', '-1', /is not a non-negative number of seconds/],
  ])('fails on %s=%j', (name, value, message) => {
    // GIVEN a valid environment with one bad variable
    const env = { MLOPS_PROXY_UPSTREAM: 'http://127.0.0.1:8081', MLOPS_MODEL_NAME: MODEL, [name]: value };
    // WHEN / THEN the message names the variable and its value
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(name);
    expect(() => parseConfig(env)).toThrow(message);
  });
});

describe('ServingMetrics', () => {
  test('escapes the model label and keeps buckets cumulative', () => {
    // GIVEN a model name that needs escaping
    const metrics = new ServingMetrics('fraud "v2"\\\n', [0.1, 1]);
    // WHEN
    metrics.requestStarted();
    metrics.requestEnded('200', 0.1); // on a bound: le is inclusive
    metrics.requestStarted();
    metrics.requestEnded('500', 5);
    const scraped = parseExposition(metrics.render());
    // THEN
    const model = { model: 'fraud "v2"\\\n' };
    expect(scraped.value(`${DURATION}_bucket`, { ...model, le: '0.1' })).toBe(1);
    expect(scraped.value(`${DURATION}_bucket`, { ...model, le: '1' })).toBe(1);
    expect(scraped.value(`${DURATION}_bucket`, { ...model, le: '+Inf' })).toBe(2);
    expect(scraped.value(`${DURATION}_sum`, model)).toBeCloseTo(5.1);
    expect(scraped.value(REQUESTS, { ...model, code: '500' })).toBe(1);
    expect(scraped.value(IN_FLIGHT, model)).toBe(0);
  });
});

describe('startMetricsProxy', () => {
  let upstream: FakeModelServer;
  const running = new Set<MetricsProxy>();

  /** Starts a proxy that the afterEach stops, whatever the test does. */
  async function proxyTo(target: string, overrides: Record<string, string> = {}, log?: (event: LogEvent) => void) {
    const proxy = await startMetricsProxy(parseConfig(proxyEnv(target, overrides)), { log });
    running.add(proxy);
    return proxy;
  }

  beforeAll(async () => {
    upstream = await startFakeModelServer();
  });
  afterEach(async () => {
    upstream.release();
    await Promise.all([...running].map((proxy) => proxy.close()));
    running.clear();
  });
  afterAll(async () => {
    await upstream.close();
  });

  test('listens on the real ports when asked for port 0 and serves /healthz and /metrics', async () => {
    // GIVEN / WHEN
    const proxy = await proxyTo(upstream.url);
    // THEN
    expect(proxy.listenPort).toBeGreaterThan(0);
    expect(proxy.metricsPort).toBeGreaterThan(0);
    expect(proxy.metricsPort).not.toBe(proxy.listenPort);
    const health = await send(proxy.metricsPort, '/healthz');
    expect([health.status, health.text]).toEqual([200, 'ok']);
    const scraped = await scrape(proxy.metricsPort);
    expect(scraped.types.get(REQUESTS)).toBe('counter');
    expect(scraped.types.get(DURATION)).toBe('histogram');
    expect(scraped.types.get(IN_FLIGHT)).toBe('gauge');
    expect([...scraped.types.keys()].every((family) => scraped.help.has(family))).toBe(true);
    expect(scraped.value(`${DURATION}_count`, { model: MODEL })).toBe(0);
    expect(scraped.value(IN_FLIGHT, { model: MODEL })).toBe(0);
    expect(scraped.value('process_start_time_seconds')).toBeGreaterThan(1.7e9);
    expect((await send(proxy.metricsPort, '/other')).status).toBe(404);
    expect((await send(proxy.metricsPort, '/metrics', { method: 'POST' })).status).toBe(405);
  });

  test('counts requests by code and observes their duration in the right buckets', async () => {
    // GIVEN buckets with wide margins around a 1.5 s model call, so a loaded machine cannot move a request across a bound
    const proxy = await proxyTo(upstream.url, { MLOPS_PROXY_BUCKETS: '0.05,1,30' });
    // WHEN 5 ok, 3 errors and 2 slow requests
    for (let i = 0; i < 5; i++) expect((await send(proxy.listenPort, '/ok')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await send(proxy.listenPort, '/error', { method: 'POST', body: '{}' })).status).toBe(500);
    const slow = await Promise.all([send(proxy.listenPort, '/slow?ms=1500'), send(proxy.listenPort, '/slow?ms=1500')]);
    expect(slow.map((reply) => reply.status)).toEqual([200, 200]);
    // THEN
    const scraped = await scrape(proxy.metricsPort);
    const model = { model: MODEL };
    expect(scraped.value(REQUESTS, { ...model, code: '200' })).toBe(7);
    expect(scraped.value(REQUESTS, { ...model, code: '500' })).toBe(3);
    expect(scraped.samples.filter((s) => s.name === REQUESTS)).toHaveLength(2);
    const bucket = (le: string) => scraped.value(`${DURATION}_bucket`, { ...model, le });
    expect(bucket('0.05')).toBeLessThanOrEqual(bucket('1'));
    expect(bucket('1')).toBe(8);
    expect(bucket('30')).toBe(10);
    expect(bucket('+Inf')).toBe(10);
    expect(scraped.value(`${DURATION}_count`, model)).toBe(10);
    const sum = scraped.value(`${DURATION}_sum`, model);
    expect(sum).toBeGreaterThanOrEqual(2 * 1.5 - 0.01);
    expect(sum).toBeLessThan(2 * 30 + 8 * 1);
    expect(scraped.value(IN_FLIGHT, model)).toBe(0);
  });

  test('reports requests in flight while the model server works on them', async () => {
    // GIVEN
    const proxy = await proxyTo(upstream.url);
    // WHEN two requests wait on the model server
    const replies = Promise.all([send(proxy.listenPort, '/hold'), send(proxy.listenPort, '/hold')]);
    // THEN the gauge shows them, and drops back to 0 once they are answered
    await waitFor('2 requests in flight', async () => (await scrape(proxy.metricsPort)).value(IN_FLIGHT, { model: MODEL }) === 2);
    upstream.release();
    expect((await replies).map((reply) => reply.text)).toEqual(['released', 'released']);
    const scraped = await scrape(proxy.metricsPort);
    expect(scraped.value(IN_FLIGHT, { model: MODEL })).toBe(0);
    expect(scraped.value(REQUESTS, { model: MODEL, code: '200' })).toBe(2);
  });

  test('forwards health-probe paths but does not count them', async () => {
    // GIVEN the default uncounted paths
    const proxy = await proxyTo(upstream.url);
    const before = upstream.seen.length;
    // WHEN probes hit the proxy, with and without a query, and one path merely starts like a probe
    for (const path of ['/ping', '/healthz?probe=liveness', '/metrics']) {
      const reply = await send(proxy.listenPort, path);
      expect([path, reply.status, reply.text]).toEqual([path, 200, 'pong']);
    }
    expect((await send(proxy.listenPort, '/ping/deeper')).status).toBe(404);
    // THEN the model server saw all four, the metrics only the last
    expect(upstream.seen.slice(before).map((seen) => seen.url)).toEqual(['/ping', '/healthz?probe=liveness', '/metrics', '/ping/deeper']);
    const scraped = await scrape(proxy.metricsPort);
    expect(scraped.samples.filter((s) => s.name === REQUESTS)).toEqual([
      { name: REQUESTS, labels: { model: MODEL, code: '404' }, value: 1 },
    ]);
    expect(scraped.value(`${DURATION}_count`, { model: MODEL })).toBe(1);
  });

  test('passes method, path, query, body and headers through unchanged', async () => {
    // GIVEN
    const proxy = await proxyTo(upstream.url);
    const body = JSON.stringify({ dataframe_split: { columns: ['amount', 'country'], data: [[12.5, 'NL'], [990, 'DE']] }, note: 'ünïcode' });
    // WHEN
    const reply = await send(proxy.listenPort, '/echo?version=2&q=a%20b', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-42', authorization: 'Bearer t0k3n' },
      body,
    });
    // THEN the model server got the request as sent
    expect(reply.status).toBe(201);
    expect(reply.statusMessage).toBe('Created Prediction');
    const seen = JSON.parse(reply.text) as { method: string; url: string; headers: Record<string, string>; body: string };
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/echo?version=2&q=a%20b');
    expect(seen.body).toBe(body);
    expect(seen.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'x-request-id': 'req-42',
      authorization: 'Bearer t0k3n',
      host: `127.0.0.1:${proxy.listenPort}`,
    });
    // AND the client got the model server's headers, repeated ones included, with their spelling
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < reply.rawHeaders.length; i += 2) pairs.push([reply.rawHeaders[i], reply.rawHeaders[i + 1]]);
    expect(pairs).toEqual(expect.arrayContaining([
      ['Content-Type', 'application/json'], ['X-Model-Version', '7'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'],
    ]));
    expect((await scrape(proxy.metricsPort)).value(REQUESTS, { model: MODEL, code: '201' })).toBe(1);
  });

  test('answers HEAD requests without a body and keeps the upstream content-length', async () => {
    // GIVEN
    const proxy = await proxyTo(upstream.url);
    // WHEN
    const reply = await send(proxy.listenPort, '/ok', { method: 'HEAD' });
    // THEN
    expect([reply.status, reply.headers['content-length'], reply.body.length]).toEqual([200, '16', 0]);
    expect((await scrape(proxy.metricsPort)).value(REQUESTS, { model: MODEL, code: '200' })).toBe(1);
  });

  test('streams large bodies both ways without changing a byte', async () => {
    // GIVEN 8 MiB sent in chunks, without a content-length
    const proxy = await proxyTo(upstream.url);
    const payload = crypto.randomBytes(8 * 1024 * 1024);
    // WHEN
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.listenPort, path: '/stream-echo', method: 'PUT', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
      });
      req.on('error', reject);
      for (let offset = 0; offset < payload.length; offset += 64 * 1024) req.write(payload.subarray(offset, offset + 64 * 1024));
      req.end();
    });
    // THEN
    expect(reply.length).toBe(payload.length);
    expect(crypto.createHash('sha256').update(reply).digest('hex')).toBe(crypto.createHash('sha256').update(payload).digest('hex'));
  });

  test('answers 502, counts it and logs a summary when the model server is down', async () => {
    // GIVEN a model server address nothing listens on
    const events: LogEvent[] = [];
    const proxy = await proxyTo(`http://127.0.0.1:${await unusedPort()}`, {}, (event) => events.push(event));
    // WHEN
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await send(proxy.listenPort, '/ok'));
    // THEN every client got a short explanation
    expect(replies.map((reply) => reply.status)).toEqual([502, 502, 502, 502, 502]);
    expect(replies[0].text).toMatch(/^bad gateway: the model server at http:\/\/127\.0\.0\.1:\d+ failed \(ECONNREFUSED\)\n$/);
    const scraped = await scrape(proxy.metricsPort);
    expect(scraped.value(REQUESTS, { model: MODEL, code: '502' })).toBe(5);
    expect(scraped.value(IN_FLIGHT, { model: MODEL })).toBe(0);
    // AND the log has one line for the first error and one summary for the rest, not one per request
    await proxy.close();
    expect(events.filter((event) => event.event.startsWith('upstream_error'))).toEqual([
      expect.objectContaining({ event: 'upstream_error', error: 'ECONNREFUSED' }),
      expect.objectContaining({ event: 'upstream_errors', count: 4, errors: { ECONNREFUSED: 4 } }),
    ]);
  });

  test('answers 504 and counts it when the model server does not answer in time', async () => {
    // GIVEN a 0.5 s upstream timeout
    const proxy = await proxyTo(upstream.url, { MLOPS_PROXY_UPSTREAM_TIMEOUT_SECONDS: '0.5' });
    // WHEN the model server never answers
    const startedAt = Date.now();
    const reply = await send(proxy.listenPort, '/hold');
    const elapsedMs = Date.now() - startedAt;
    // THEN
    expect(reply.status).toBe(504);
    expect(reply.text).toMatch(/^gateway timeout: the model server at .* sent nothing for 0.5 s\n$/);
    expect(elapsedMs).toBeGreaterThanOrEqual(450);
    expect(elapsedMs).toBeLessThan(10_000);
    const scraped = await scrape(proxy.metricsPort);
    expect(scraped.value(REQUESTS, { model: MODEL, code: '504' })).toBe(1);
    expect(scraped.value(`${DURATION}_sum`, { model: MODEL })).toBeGreaterThanOrEqual(0.45);
    // AND the model server saw its request given up
    await waitFor('the upstream request to be aborted', () => upstream.seen.some((seen) => seen.url === '/hold' && seen.aborted));
  });

  test('survives clients that disconnect early and does not leak in-flight requests', async () => {
    // GIVEN
    const proxy = await proxyTo(upstream.url);
    const model = { model: MODEL };
    // WHEN one client gives up while the model server works, another in the middle of its upload
    const waiting = http.request({ host: '127.0.0.1', port: proxy.listenPort, path: '/hold', agent: false });
    waiting.on('error', () => undefined);
    waiting.end();
    await waitFor('the request to reach the model server', () => upstream.held() === 1);
    waiting.destroy();
    const uploading = http.request({ host: '127.0.0.1', port: proxy.listenPort, path: '/ok', method: 'POST', agent: false, headers: { 'content-length': '1000' } });
    uploading.on('error', () => undefined);
    uploading.write('{"partial":');
    await waitFor('the upload to be in flight', async () => (await scrape(proxy.metricsPort)).value(IN_FLIGHT, model) === 1);
    uploading.destroy();
    // THEN nothing stays in flight, both count as closed by the client, and the proxy still serves
    await waitFor('no request in flight', async () => (await scrape(proxy.metricsPort)).value(IN_FLIGHT, model) === 0);
    expect((await scrape(proxy.metricsPort)).value(REQUESTS, { ...model, code: '499' })).toBe(2);
    expect((await send(proxy.listenPort, '/ok')).status).toBe(200);
    await waitFor('the model server to see the abort', () => upstream.held() === 0);
  });

  test('drains in-flight requests on close and refuses new connections meanwhile', async () => {
    // GIVEN a request in flight on a keep-alive connection
    const events: LogEvent[] = [];
    const proxy = await proxyTo(upstream.url, {}, (event) => events.push(event));
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await send(proxy.listenPort, '/ok', { agent })).status).toBe(200);
      const inFlight = send(proxy.listenPort, '/hold', { agent });
      await waitFor('the request to reach the model server', () => upstream.held() === 1);
      // WHEN the proxy is asked to stop
      const closed = proxy.close();
      // THEN new connections are refused, /healthz says it is stopping, the request still completes
      await waitFor('new connections to be refused', () => send(proxy.listenPort, '/ok').then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED'));
      const health = await send(proxy.metricsPort, '/healthz');
      expect([health.status, health.text]).toEqual([503, 'stopping']);
      upstream.release();
      const reply = await inFlight;
      expect([reply.status, reply.text, reply.headers.connection]).toEqual([200, 'released', 'close']);
      await closed;
      expect(events).toContainEqual(expect.objectContaining({ event: 'stopped', inFlightAtStop: 1, abandonedRequests: 0 }));
    } finally {
      agent.destroy();
    }
  });

  test('gives up on requests that outlast the drain timeout', async () => {
    // GIVEN a 0.3 s drain and a request the model server never answers
    const events: LogEvent[] = [];
    const proxy = await proxyTo(upstream.url, { MLOPS_PROXY_DRAIN_SECONDS: '0.3' }, (event) => events.push(event));
    const inFlight = send(proxy.listenPort, '/hold');
    await waitFor('the request to reach the model server', () => upstream.held() === 1);
    // WHEN
    const startedAt = Date.now();
    await proxy.close();
    // THEN close returns after the drain timeout and the client sees its connection reset
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    await expect(inFlight).rejects.toThrow();
    expect(events).toContainEqual(expect.objectContaining({ event: 'stopped', level: 'warn', abandonedRequests: 1 }));
  });
});

describe('the bundled metrics-proxy.js', () => {
  let program: string;
  let upstream: FakeModelServer;
  let running: RunningProgram | undefined;

  beforeAll(async () => {
    program = bundledProgram('metrics-proxy.js', 'src/runtime/metrics-proxy');
    upstream = await startFakeModelServer();
  });
  afterEach(async () => {
    upstream.release();
    await running?.kill();
    running = undefined;
  });
  afterAll(async () => {
    await upstream.close();
  });

  test('serves like the container runs it and exits 0 after draining on SIGTERM', async () => {
    // GIVEN `node metrics-proxy.js` with the container's environment
    running = runProgram(program, proxyEnv(upstream.url));
    const started = await running.waitForEvent('started');
    const listenPort = started.listenPort as number;
    const metricsPort = started.metricsPort as number;
    expect(started).toMatchObject({ level: 'info', model: MODEL, upstream: upstream.url });
    // WHEN it gets traffic, one request still in flight at SIGTERM
    expect((await send(listenPort, '/ok')).status).toBe(200);
    const inFlight = send(listenPort, '/hold');
    await waitFor('the request to reach the model server', () => upstream.held() === 1);
    expect((await scrape(metricsPort)).value(IN_FLIGHT, { model: MODEL })).toBe(1);
    running.child.kill('SIGTERM');
    await running.waitForEvent('stopping');
    upstream.release();
    // THEN the request completes, the program exits 0, and stdout is only JSON lifecycle lines
    expect((await inFlight).status).toBe(200);
    expect(await running.exited).toBe(0);
    expect(running.logs.map((log) => log.event)).toEqual(['started', 'stopping', 'stopped']);
    expect(running.stdoutLines).toHaveLength(running.logs.length);
    expect(running.stderr()).toBe('');
  });

  test('fails with exit code 2 and names the variable, value and fix on bad configuration', async () => {
    // GIVEN no upstream and decreasing buckets
    const env = proxyEnv(upstream.url, { MLOPS_PROXY_BUCKETS: '1,0.5' });
    delete (env as Partial<typeof env>).MLOPS_PROXY_UPSTREAM;
    // WHEN
    running = runProgram(program, env);
    // THEN
    expect(await running.exited).toBe(2);
    expect(running.stderr()).toMatch(/MLOPS_PROXY_UPSTREAM is not set; set it to the model server in the pod, e\.g\. http:\/\/127\.0\.0\.1:8081/);
    expect(running.stderr()).toMatch(/MLOPS_PROXY_BUCKETS \("1,0\.5"\) is not strictly increasing at 0\.5 \(after 1\); list positive upper bounds/);
    expect(running.stdoutLines).toEqual([]);
  });

  test('fails with exit code 1 when its port is taken', async () => {
    // GIVEN a proxy that already holds a port
    const first = runProgram(program, proxyEnv(upstream.url));
    try {
      const { listenPort } = await first.waitForEvent('started');
      // WHEN a second one wants the same port
      running = runProgram(program, proxyEnv(upstream.url, { MLOPS_PROXY_LISTEN_PORT: String(listenPort) }));
      // THEN
      expect(await running.exited).toBe(1);
      expect(running.logs).toEqual([expect.objectContaining({ event: 'failed', level: 'error', error: expect.stringContaining('EADDRINUSE') })]);
    } finally {
      await first.kill();
    }
  });
});
