/**
 * What the metrics proxy sidecar costs: latency it adds to one request, and throughput
 * through it under concurrent keep-alive load, both against the same upstream directly.
 * The proxy runs as the bundled program in its own process, as in the pod; the upstream
 * too, so the client does not share an event loop with either. Loopback only, bounded in
 * requests and time; run with `npm run bench:proxy`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

/** Direct and proxied phases alternate, so load from other processes hits both alike. */
const ROUNDS = 3;
const LATENCY_WARMUP = 500;
const LATENCY_REQUESTS_PER_ROUND = 1_500;
const CONCURRENCY = 32;
const THROUGHPUT_WARMUP = 2_000;
const THROUGHPUT_REQUESTS_PER_ROUND = 5_000;
/** A phase stops at this deadline even if it has not sent all its requests. */
const PHASE_DEADLINE_MS = 8_000;
const RESPONSE = JSON.stringify({ predictions: [0.02] });

const UPSTREAM_SOURCE = `
const http = require('node:http');
const body = ${JSON.stringify(RESPONSE)};
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ event: 'started', listenPort: server.address().port })));
process.on('SIGTERM', () => process.exit(0));
`;

interface Program { readonly child: ChildProcess; readonly started: Record<string, unknown> }

function startProgram(args: string[], env: Record<string, string>): Promise<Program> {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start within 10 s`)), 10_000);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code} before starting`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const log = JSON.parse(line) as Record<string, unknown>;
      if (log.event === 'started') {
        clearTimeout(timer);
        resolve({ child, started: log });
      }
    });
  });
}

function stopProgram(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

/** One POST with a small JSON body; resolves with its latency in ms. */
function post(port: number, agent: http.Agent): Promise<number> {
  const startedAt = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/invocations', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      res.resume();
      res.on('end', () => resolve(Number(process.hrtime.bigint() - startedAt) / 1e6));
    });
    req.on('error', reject);
    req.end('{"inputs":[[1.5,2.0,0.3]]}');
  });
}

async function sequential(port: number, count: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const deadline = Date.now() + PHASE_DEADLINE_MS;
  const latencies: number[] = [];
  try {
    for (let i = 0; i < count && Date.now() < deadline; i++) latencies.push(await post(port, agent));
  } finally {
    agent.destroy();
  }
  return latencies;
}

/** Requests per second with `CONCURRENCY` clients, each on its own keep-alive connection. */
async function concurrent(port: number, count: number): Promise<{ sent: number; seconds: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const deadline = Date.now() + PHASE_DEADLINE_MS;
  let remaining = count;
  const startedAt = process.hrtime.bigint();
  const worker = async () => {
    while (remaining > 0 && Date.now() < deadline) {
      remaining -= 1;
      await post(port, agent);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const sent = count - Math.max(remaining, 0);
  return { sent, seconds };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface ProxyCounters { readonly count: number; readonly inFlight: number; readonly cpuSeconds: number }

async function scrapeProxy(metricsPort: number): Promise<ProxyCounters> {
  const text = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve(body));
    }).on('error', reject);
  });
  const read = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
  return {
    count: read('mlops_inference_request_duration_seconds_count'),
    inFlight: read('mlops_inference_requests_in_flight'),
    cpuSeconds: read('process_cpu_seconds_total'),
  };
}

async function run(): Promise<void> {
  const bundle = path.resolve(__dirname, '..', 'assets', 'metrics-proxy.js');
  const upstream = await startProgram(['-e', UPSTREAM_SOURCE], {});
  const upstreamPort = upstream.started.listenPort as number;
  let proxy: Program | undefined;
  try {
    proxy = await startProgram([bundle], {
      MLOPS_PROXY_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
      MLOPS_MODEL_NAME: 'bench',
      MLOPS_PROXY_LISTEN_PORT: '0',
      MLOPS_PROXY_METRICS_PORT: '0',
      MLOPS_PROXY_BIND_ADDRESS: '127.0.0.1',
    });
    const proxyPort = proxy.started.listenPort as number;
    const metricsPort = proxy.started.metricsPort as number;
    const benchStartedAt = Date.now();

    await sequential(upstreamPort, LATENCY_WARMUP);
    await concurrent(upstreamPort, THROUGHPUT_WARMUP);
    let proxied = (await sequential(proxyPort, LATENCY_WARMUP)).length + (await concurrent(proxyPort, THROUGHPUT_WARMUP)).sent;

    const latencies = { direct: [] as number[], proxy: [] as number[] };
    const load = { direct: { sent: 0, seconds: 0 }, proxy: { sent: 0, seconds: 0 } };
    let proxyCpuSeconds = 0;
    for (let round = 0; round < ROUNDS; round++) {
      latencies.direct.push(...await sequential(upstreamPort, LATENCY_REQUESTS_PER_ROUND));
      latencies.proxy.push(...await sequential(proxyPort, LATENCY_REQUESTS_PER_ROUND));
      const direct = await concurrent(upstreamPort, THROUGHPUT_REQUESTS_PER_ROUND);
      load.direct.sent += direct.sent;
      load.direct.seconds += direct.seconds;
      const cpuBefore = (await scrapeProxy(metricsPort)).cpuSeconds;
      const viaProxy = await concurrent(proxyPort, THROUGHPUT_REQUESTS_PER_ROUND);
      proxyCpuSeconds += (await scrapeProxy(metricsPort)).cpuSeconds - cpuBefore;
      load.proxy.sent += viaProxy.sent;
      load.proxy.seconds += viaProxy.seconds;
    }
    proxied += latencies.proxy.length + load.proxy.sent;

    // The bench doubles as a check that counting stays exact under concurrent load.
    const scraped = await scrapeProxy(metricsPort);
    const direct = summarise(latencies.direct, load.direct);
    const viaProxy = summarise(latencies.proxy, load.proxy);

    const ms = (value: number) => value.toFixed(3);
    const row = (label: string, a: string, b: string, added: string, ratio: string) =>
      `${label.padEnd(22)}${a.padStart(10)}${b.padStart(10)}${added.padStart(10)}${ratio.padStart(9)}`;
    const cpus = os.cpus();
    console.log(`\nmetrics proxy bench: node ${process.version}, ${cpus.length} CPUs (${cpus[0]?.model ?? 'unknown'}), load average ${os.loadavg()[0].toFixed(2)}`);
    console.log(`loopback, ${RESPONSE.length}-byte JSON response, ${ROUNDS} alternating rounds of direct and proxied phases;`);
    console.log(`latency: ${latencies.proxy.length} sequential keep-alive requests each; throughput: ${load.proxy.sent} requests from ${CONCURRENCY} concurrent keep-alive clients\n`);
    console.log(row('', 'direct', 'proxy', 'added', 'ratio'));
    console.log(row('latency p50 (ms)', ms(direct.p50), ms(viaProxy.p50), ms(viaProxy.p50 - direct.p50), `${(viaProxy.p50 / direct.p50).toFixed(2)}x`));
    console.log(row('latency p99 (ms)', ms(direct.p99), ms(viaProxy.p99), ms(viaProxy.p99 - direct.p99), `${(viaProxy.p99 / direct.p99).toFixed(2)}x`));
    console.log(row('throughput (req/s)', direct.rps.toFixed(0), viaProxy.rps.toFixed(0), '', `${(viaProxy.rps / direct.rps).toFixed(2)}x`));
    console.log(`\nproxy CPU per request under load: ${((proxyCpuSeconds / load.proxy.sent) * 1e6).toFixed(0)} us (process_cpu_seconds_total)`);
    console.log(`proxy counted ${scraped.count} of ${proxied} requests, ${scraped.inFlight} in flight; bench took ${((Date.now() - benchStartedAt) / 1000).toFixed(1)} s`);
    if (scraped.count !== proxied || scraped.inFlight !== 0) {
      console.error('proxy metrics do not match the traffic sent');
      process.exitCode = 1;
    }
  } finally {
    const proxyExit = proxy ? await stopProgram(proxy.child) : 0;
    await stopProgram(upstream.child);
    if (proxyExit !== 0) {
      console.error(`proxy exited with ${proxyExit} on SIGTERM, expected 0`);
      process.exitCode = 1;
    }
  }
}

function summarise(latencies: number[], load: { sent: number; seconds: number }) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), rps: load.sent / load.seconds };
}

run().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
