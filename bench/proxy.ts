/**
 * What the metrics proxy sidecar costs: the CPU its own process spends per request, the
 * latency it adds to one request, and throughput through it under concurrent keep-alive
 * load, each against the same upstream directly and through a reverse-proxying nginx (one
 * worker, upstream keepalive, access log off) in the same run, so both meet the same machine
 * load. Two upstreams: an echo that answers at once (the proxy's cost alone) and one that
 * spends ~1 ms of CPU per request (a fast model, where the proxy's cost becomes throughput
 * lost). Every program runs in its own process, as in the pod, and CPU is read from
 * /proc/<pid>/task/<tid>/schedstat before and after each phase. Loopback only, bounded in
 * requests and time; run with `npm run bench:proxy` (nginx: `bash scripts/setup-debian.sh`).
 *
 * Results: 5 runs, node 20.20.2, nginx 1.22.1, 2 vCPUs (AMD EPYC) shared with a Go build, load
 * average 1.6-5.9. Before = the proxy up to b1bad03^ (http.request client), run in the same runs
 * with BENCH_PROXY_BASELINE; after = its own upstream client (upstream.ts). CPU us per request
 * of the process between client and upstream, under load / sequential, range over the runs:
 *
 *                      before             after              nginx
 *   echo upstream      97-120 / 187-239   48-65 / 116-163    21-30 / 45-65
 *   1 ms CPU upstream  288-328 / 388-455  211-286 / 236-356  65-75 / 56-95
 *
 *   after / before, same run:  echo 0.40-0.61x / 0.58-0.75x, 1 ms 0.69-0.98x / 0.60-0.92x
 *   after / nginx:             echo 1.6-3.0x / 2.3-2.7x, 1 ms 2.8-4.4x / 2.8-6.3x
 *   added p50, echo:           before 0.18-0.23 ms, after 0.11-0.16 ms, nginx 0.03-0.07 ms
 *   throughput / direct, 1 ms: after 0.93-1.02x, before 0.93-1.00x (the upstream's core limits both)
 *
 * So the 150 us goal holds on the echo upstream under load, not when requests come one at a
 * time or 1 ms apart: then every request wakes the proxy twice on cold caches, and absolute
 * numbers move 1.5x with the machine's load (compare ratios within a run). What is left: Node's
 * HTTP server (parser, IncomingMessage, ServerResponse, their streams and ticks) about half,
 * the two loopback writes and epoll waits about a third, GC and JIT threads about a tenth.
 *
 * Profiled with perf (--perf-basic-prof, CPU time of every thread) and --cpu-prof on the
 * bundled proxy under this bench's load, echo upstream, logging off: the loopback writes and
 * reads (the kernel does the receiver's TCP work in the sender's write) and epoll about a
 * third, Node's HTTP server (llhttp, IncomingMessage, ServerResponse, streams, ticks) about
 * two fifths, our own code about an eighth (parseHead 3 %, forward 2 %), GC 3 %, and TurboFan
 * compiling in the background 5-9 % even after thousands of requests: every phase's new and
 * closed client connections send sockets through destroy, emit and the stream functions the
 * requests use, which deoptimizes them ("wrong map", "code dependencies") until V8 has seen a
 * few such cycles, so the warm-up is now 1,000 + 10,000 requests (1 ms: 200 + 1,500) and
 * WARMUP_ROUNDS uncounted rounds. On the 1 ms upstream under load no more requests share a
 * turn of the event loop than when sequential (each response wakes the proxy, which wakes the
 * client, on cold caches); a byte relay in Node (net only, no HTTP) costs 91-138 us per request
 * there and nginx 65-104, Node's HTTP server answering by itself 70-131 us sequentially. One
 * proxy alone under load on the 1 ms upstream, after eight connection cycles, measured
 * 127-162 us per request (149 logging); this bench, 190-230 (a 12 s pause before measuring
 * changed nothing there, so not the idle time between phases; the machine's load, likely).
 *
 * The inference log (`logged`: the same proxy logging 10 % of requests to a loopback S3
 * stand-in, flushing every 5 s where the default is 60 s). Profiled: in the proxy a record cost
 * 65-130 us of CPU when parsed in a setImmediate turn of its own (7 us in a hot loop): one
 * capture among ten requests ran on cold caches and code that was rarely optimized; batched
 * (up to 50 ms or 64 captures a turn) 24-41 us. The larger part of the log's cost was not its
 * own code but TurboFan recompiling the request path (perf, echo, after 20,000 requests:
 * background compiling 749 samples logging against 187 not, parsing 119): each upload's
 * node:http ClientRequest, shared parser and socket brought new shapes into the server's hot
 * functions, so uploads now go through upstream.ts's client on a keep-alive connection.
 * Three runs on 7aff7c6 (node 20.20.2, load average 4.9-11.6, one of them partly alongside
 * another benchmark; BENCH_PROXY_BASELINE = the proxy up to 6b6f43c^, whose logging proxy ran
 * as base+log), CPU per request under load / sequential, logged / proxy of the same run:
 *
 *                      this proxy                      baseline (before this work)
 *   echo upstream      1.06-1.23x / 0.96-1.14x         1.18-1.55x / 1.05-1.33x
 *   1 ms CPU upstream  1.08-1.24x / 1.10-1.28x         1.01-1.21x / 1.02-1.36x
 *   proxy, logging off: echo 60-76 / 157-171 us, 1 ms 190-221 / 192-229 us (baseline 58-72 /
 *   149-168, 193-230 / 199-242), nginx 34-40 / 45-68 and 80-92 / 78-148; throughput on the
 *   1 ms upstream 0.99-1.58x direct (the last run's load average 11.6 made direct the slowest).
 *
 * So the 1.10x goal is met in some runs and not others: the run-to-run spread (0.2x) is wider
 * than what is left to gain, and per-round ratios range 0.6x-2.5x on this shared machine.
 *
 * Two runs on 0780d8b on a quieter machine (load average 1.3-1.6, nothing else running), under
 * load / sequential: logged / proxy 1.01-1.14x / 0.98-1.17x (echo) and 1.02-1.03x / 1.10-1.14x
 * (1 ms); proxy, logging off: echo 84-89 / 176-385 us, 1 ms 216-256 / 256-391 us; nginx 32-45 /
 * 89-260 and 86-124 / 103-237 (absolute numbers moved about 2x between the two runs, ratios
 * less: proxy / nginx 1.99-2.62x under load); throughput on the 1 ms upstream 0.98-0.99x direct.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Direct, proxied and nginx phases alternate, so load from other processes hits all alike;
 * many short rounds rather than a few long ones, so a burst of load lands on one round of
 * each, and the goals' ratios are also given as the median of the rounds' ratios.
 */
const ROUNDS = 6;
/**
 * Rounds run and not counted, after the warm-up: each phase opens and closes its clients'
 * connections, whose sockets pass through code the requests use too (destroy, emit, the
 * stream functions) and deoptimize it. V8 settles after a few such cycles (a pod goes through
 * them once); before that TurboFan recompiled in every phase: on the 1 ms upstream, after one
 * cycle, 17-19 deoptimizations and 170-330 ms of compiling in 6,000 requests, and 150-210 us
 * of CPU per request; after eight, none, and 127 (logging: 149) us.
 */
const WARMUP_ROUNDS = 4;
const CONCURRENCY = 32;
/** A phase stops at this deadline even if it has not sent all its requests. */
const PHASE_DEADLINE_MS = 8_000;
const RESPONSE = JSON.stringify({ predictions: [0.02] });
const NGINX = process.env.NGINX ?? ['/usr/sbin/nginx', '/usr/bin/nginx'].find((file) => fs.existsSync(file)) ?? 'nginx';

interface UpstreamKind {
  readonly name: string;
  /** CPU the upstream burns per request before answering. */
  readonly workMicros: number;
  /**
   * Before the rounds, so V8 has compiled the hot paths: with 2,500 requests TurboFan was still
   * compiling in the rounds (a tenth of the proxy's CPU samples, twice that of the logging
   * proxy's, whose log code runs for one request in ten).
   */
  readonly warmup: { readonly sequential: number; readonly concurrent: number };
  /** Requests per phase and round. */
  readonly sequential: number;
  readonly concurrent: number;
}

const UPSTREAMS: readonly UpstreamKind[] = [
  { name: 'echo', workMicros: 0, warmup: { sequential: 1_000, concurrent: 10_000 }, sequential: 750, concurrent: 2_500 },
  { name: '1 ms CPU', workMicros: 1_000, warmup: { sequential: 200, concurrent: 1_500 }, sequential: 150, concurrent: 750 },
];

/** Answers once the request body has arrived, after a busy loop of BENCH_WORK_MICROS on hrtime. */
const UPSTREAM_SOURCE = `
const http = require('node:http');
const body = ${JSON.stringify(RESPONSE)};
const workNs = BigInt(Math.round(Number(process.env.BENCH_WORK_MICROS || '0') * 1000));
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (workNs > 0n) {
      const until = process.hrtime.bigint() + workNs;
      while (process.hrtime.bigint() < until);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65000;
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

function stopProgram(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill(signal);
  });
}

/** A port nothing listens on right now (nginx cannot listen on port 0 and say which it got). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

interface Nginx { readonly child: ChildProcess; readonly ports: number[]; readonly pids: number[]; readonly prefix: string; readonly version: string }

/**
 * nginx as a plain reverse proxy in front of each upstream: one worker, keep-alive to the
 * upstream, no access log, streaming both ways like the metrics proxy (no buffering).
 */
async function startNginx(upstreamPorts: number[]): Promise<Nginx> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-nginx-'));
  const ports = await Promise.all(upstreamPorts.map(() => freePort()));
  const servers = upstreamPorts.map((upstreamPort, i) => `
  upstream model${i} { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${ports[i]};
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://model${i};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }`).join('\n');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${path.join(prefix, kind)};`).join('\n');
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), `worker_processes 1;
error_log ${path.join(prefix, 'error.log')} warn;
pid ${path.join(prefix, 'nginx.pid')};
events { worker_connections 4096; }
http {
  access_log off;
${temp}
${servers}
}
`);
  let stderr = '';
  const child = spawn(NGINX, ['-c', path.join(prefix, 'nginx.conf'), '-p', prefix, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`${NGINX}: ${err.message}; install it with bash scripts/setup-debian.sh or set NGINX`)));
    child.once('exit', (code) => reject(new Error(`nginx exited with ${code} before listening: ${stderr.trim()}`)));
  });
  const ready = (async () => {
    const deadline = Date.now() + 10_000;
    while (!(await Promise.all(ports.map(connects))).every(Boolean)) {
      if (Date.now() > deadline) throw new Error(`nginx did not listen within 10 s: ${stderr.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  await Promise.race([ready, failed]);
  failed.catch(() => undefined);
  // The master only supervises; the worker does the proxying. Count both.
  const version = /nginx\/(\S+)/.exec(spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr)?.[1] ?? 'unknown';
  return { child, ports, pids: [child.pid!, ...childrenOf(child.pid!)], prefix, version };
}

function childrenOf(parent: number): number[] {
  return fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
    try {
      return statFields(Number(pid))[1] === String(parent);
    } catch {
      return false;
    }
  }).map(Number);
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, ...]. */
function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU seconds the processes have run, all threads (V8's GC helpers included): the first
 * field of each thread's schedstat, in ns; falls back to utime + stime in clock ticks.
 */
function cpuSeconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        total += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
      }
    } catch {
      const fields = statFields(pid);
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    }
  }
  return total;
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

async function sequential(port: number, count: number): Promise<{ latencies: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const deadline = Date.now() + PHASE_DEADLINE_MS;
  const latencies: number[] = [];
  try {
    for (let i = 0; i < count && Date.now() < deadline; i++) latencies.push(await post(port, agent));
  } finally {
    agent.destroy();
  }
  return { latencies };
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

interface ProxyCounters { readonly count: number; readonly inFlight: number }

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
  };
}

/**
 * `BENCH_PROXY_BASELINE=<another metrics-proxy.js>` adds it as `baseline`, and logging as
 * `base+log`, in the same alternating rounds, for a before/after comparison that shares the
 * machine's load.
 */
const BASELINE = process.env.BENCH_PROXY_BASELINE;

/** `logged`: the same proxy with the inference log on at the default 10 % (to a loopback S3 stand-in that stores nothing). */
type Via = 'direct' | 'proxy' | 'logged' | 'nginx' | 'baseline' | 'base+log';
const VIAS: readonly Via[] = BASELINE ? ['direct', 'baseline', 'base+log', 'proxy', 'logged', 'nginx'] : ['direct', 'proxy', 'logged', 'nginx'];
const LOG_SAMPLE_RATIO = 0.1;

/** Accepts every PUT with 200, as S3 does once an object is stored; counts the objects. */
async function startS3StandIn(): Promise<{ server: http.Server; port: number; objects: () => number }> {
  let objects = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'PUT') objects += 1;
      res.writeHead(200, { etag: '"bench"', 'content-length': 0 });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, objects: () => objects };
}

/** One way to reach one upstream, and what was measured on it over all rounds. */
interface Target {
  readonly upstream: UpstreamKind;
  readonly via: Via;
  readonly port: number;
  /** The processes between client and upstream (none when direct). */
  readonly middlePids: readonly number[];
  readonly upstreamPid: number;
  readonly latencies: number[];
  sequentialCpu: number;
  sent: number;
  seconds: number;
  loadCpu: number;
  upstreamLoadCpu: number;
  /** CPU per request of each round: sequential, under load. */
  readonly rounds: { seq: number; load: number }[];
}

async function measure(target: Target, count: { sequential: number; concurrent: number }, record: boolean): Promise<number> {
  const cpu0 = cpuSeconds(target.middlePids);
  const { latencies } = await sequential(target.port, count.sequential);
  const cpu1 = cpuSeconds(target.middlePids);
  const upstreamCpu1 = cpuSeconds([target.upstreamPid]);
  const load = await concurrent(target.port, count.concurrent);
  const cpu2 = cpuSeconds(target.middlePids);
  const upstreamCpu2 = cpuSeconds([target.upstreamPid]);
  if (record) {
    target.latencies.push(...latencies);
    target.sequentialCpu += cpu1 - cpu0;
    target.sent += load.sent;
    target.seconds += load.seconds;
    target.loadCpu += cpu2 - cpu1;
    target.upstreamLoadCpu += upstreamCpu2 - upstreamCpu1;
    target.rounds.push({ seq: (cpu1 - cpu0) / latencies.length, load: (cpu2 - cpu1) / load.sent });
  }
  return latencies.length + load.sent;
}

async function run(): Promise<void> {
  const bundle = path.resolve(__dirname, '..', 'assets', 'metrics-proxy.js');
  const upstreams: Program[] = [];
  const proxies: Program[] = [];
  const baselines: Program[] = [];
  const loggers: Program[] = [];
  const baselineLoggers: Program[] = [];
  const s3 = await startS3StandIn();
  let nginx: Nginx | undefined;
  try {
    for (const kind of UPSTREAMS) upstreams.push(await startProgram(['-e', UPSTREAM_SOURCE], { BENCH_WORK_MICROS: String(kind.workMicros) }));
    const upstreamPorts = upstreams.map((upstream) => upstream.started.listenPort as number);
    const proxyEnv = (port: number) => ({
      MLOPS_PROXY_UPSTREAM: `http://127.0.0.1:${port}`,
      MLOPS_MODEL_NAME: 'bench',
      MLOPS_PROXY_LISTEN_PORT: '0',
      MLOPS_PROXY_METRICS_PORT: '0',
      MLOPS_PROXY_BIND_ADDRESS: '127.0.0.1',
    });
    const loggedEnv = (port: number) => ({
      ...proxyEnv(port),
      MLOPS_INFERENCE_LOG_URI: 's3://bench/log', MLOPS_INFERENCE_LOG_SAMPLE_RATIO: String(LOG_SAMPLE_RATIO), MLOPS_INFERENCE_LOG_FLUSH_SECONDS: '5',
      MLOPS_MODEL_VERSION: '1', MLOPS_POD_NAME: 'bench-0', AWS_ENDPOINT_URL: `http://127.0.0.1:${s3.port}`, AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench-secret',
    });
    for (const port of upstreamPorts) {
      proxies.push(await startProgram([bundle], proxyEnv(port)));
      loggers.push(await startProgram([bundle], loggedEnv(port)));
      if (BASELINE) {
        baselines.push(await startProgram([path.resolve(BASELINE)], proxyEnv(port)));
        baselineLoggers.push(await startProgram([path.resolve(BASELINE)], loggedEnv(port)));
      }
    }
    nginx = await startNginx(upstreamPorts);
    const benchStartedAt = Date.now();

    const middle = (via: Via, i: number): { port: number; pids: number[] } => {
      switch (via) {
        case 'direct': return { port: upstreamPorts[i], pids: [] };
        case 'proxy': return { port: proxies[i].started.listenPort as number, pids: [proxies[i].child.pid!] };
        case 'baseline': return { port: baselines[i].started.listenPort as number, pids: [baselines[i].child.pid!] };
        case 'logged': return { port: loggers[i].started.listenPort as number, pids: [loggers[i].child.pid!] };
        case 'base+log': return { port: baselineLoggers[i].started.listenPort as number, pids: [baselineLoggers[i].child.pid!] };
        case 'nginx': return { port: nginx!.ports[i], pids: nginx!.pids };
      }
    };
    const targets: Target[] = UPSTREAMS.flatMap((upstream, i) => VIAS.map((via): Target => ({
      upstream,
      via,
      port: middle(via, i).port,
      middlePids: middle(via, i).pids,
      upstreamPid: upstreams[i].child.pid!,
      latencies: [],
      sequentialCpu: 0,
      sent: 0,
      seconds: 0,
      loadCpu: 0,
      upstreamLoadCpu: 0,
      rounds: [],
    })));
    const proxied = proxies.map(() => 0);
    const count = (target: Target, n: number) => {
      if (target.via === 'proxy') proxied[UPSTREAMS.indexOf(target.upstream)] += n;
    };

    for (const target of targets) count(target, await measure(target, target.upstream.warmup, false));
    for (let round = 0; round < WARMUP_ROUNDS; round++) {
      for (const target of targets) count(target, await measure(target, target.upstream, false));
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) count(target, await measure(target, target.upstream, true));
    }

    // The bench doubles as a check that counting stays exact under concurrent load.
    const scraped = await Promise.all(proxies.map((proxy) => scrapeProxy(proxy.started.metricsPort as number)));

    const cpus = os.cpus();
    console.log(`\nmetrics proxy bench: node ${process.version}, nginx ${nginx.version}, ${cpus.length} CPUs (${cpus[0]?.model ?? 'unknown'}), load average ${os.loadavg()[0].toFixed(2)}`);
    console.log(`loopback, ${RESPONSE.length}-byte JSON response, ${ROUNDS} alternating rounds of ${VIAS.join(', ')} phases;`);
    console.log(`latency: sequential keep-alive requests; throughput: ${CONCURRENCY} concurrent keep-alive clients;`);
    console.log('CPU: of the process(es) between client and upstream only (nginx: master + 1 worker), per request\n');
    const header = ['upstream', 'via', 'requests', 'p50 ms', 'p99 ms', 'req/s', 'vs direct', 'CPU us seq', 'CPU us load', 'upstr. us'];
    const widths = [10, 10, 11, 8, 8, 8, 10, 11, 12, 10];
    const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('');
    console.log(line(header));
    const micros = (seconds: number, n: number) => ((seconds / n) * 1e6).toFixed(0);
    const summary = new Map<string, { p50: number; p99: number; rps: number; seqCpu: number; loadCpu: number }>();
    for (const target of targets) {
      const sorted = [...target.latencies].sort((a, b) => a - b);
      const s = {
        p50: percentile(sorted, 50), p99: percentile(sorted, 99), rps: target.sent / target.seconds,
        seqCpu: target.sequentialCpu / sorted.length, loadCpu: target.loadCpu / target.sent,
      };
      summary.set(`${target.upstream.name}/${target.via}`, s);
      const direct = summary.get(`${target.upstream.name}/direct`)!;
      console.log(line([
        target.upstream.name, target.via, `${sorted.length}+${target.sent}`, s.p50.toFixed(3), s.p99.toFixed(3), s.rps.toFixed(0),
        `${(s.rps / direct.rps).toFixed(2)}x`,
        target.via === 'direct' ? '-' : micros(target.sequentialCpu, sorted.length),
        target.via === 'direct' ? '-' : micros(target.loadCpu, target.sent),
        micros(target.upstreamLoadCpu, target.sent),
      ]));
    }
    const get = (key: string) => summary.get(key)!;
    const [echo, work] = UPSTREAMS.map((kind) => kind.name);
    const cpu = (via: Via, name: string) => get(`${name}/${via}`);
    const roundsOf = (via: Via, name: string) => targets.find((target) => target.via === via && target.upstream.name === name)!.rounds;
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const middle = Math.floor(sorted.length / 2);
      return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    };
    /** Over all rounds, then the median of each round's ratio (the two phases of a round ran seconds apart). */
    const cpuRatio = (via: Via, base: Via, name: string) => {
      const [rounds, baseRounds] = [roundsOf(via, name), roundsOf(base, name)];
      const perRound = (phase: 'seq' | 'load') => median(rounds.map((round, i) => round[phase] / baseRounds[i][phase]));
      return `${(cpu(via, name).loadCpu / cpu(base, name).loadCpu).toFixed(2)}x / ${(cpu(via, name).seqCpu / cpu(base, name).seqCpu).toFixed(2)}x`
        + ` (rounds' median ${perRound('load').toFixed(2)}x / ${perRound('seq').toFixed(2)}x)`;
    };
    const label = (text: string) => `  ${text}`.padEnd(40);
    console.log('\nratios and goals (CPU per request: under load / sequential)');
    for (const name of [echo, work]) console.log(`${label(`proxy CPU / nginx's, ${name}:`)}${cpuRatio('proxy', 'nginx', name)}`);
    if (BASELINE) for (const name of [echo, work]) console.log(`${label(`proxy CPU / baseline's, ${name}:`)}${cpuRatio('proxy', 'baseline', name)}`);
    console.log(`${label('proxy CPU per request:')}${[echo, work].map((name) =>
      `${name} ${(cpu('proxy', name).loadCpu * 1e6).toFixed(0)} / ${(cpu('proxy', name).seqCpu * 1e6).toFixed(0)} us`).join(', ')} (goal: at most 150 us)`);
    for (const name of [echo, work]) console.log(`${label(`inference log at ${LOG_SAMPLE_RATIO * 100} %, ${name}:`)}${cpuRatio('logged', 'proxy', name)} of the proxy's CPU (goal: at most 1.10x)`);
    if (BASELINE) for (const name of [echo, work]) console.log(`${label(`baseline's inference log, ${name}:`)}${cpuRatio('base+log', 'baseline', name)} of the baseline's CPU`);
    console.log(`${label(`added p50 latency, ${echo}:`)}${(['proxy', 'nginx', ...(BASELINE ? ['baseline'] : [])] as Via[]).map((via) =>
      `${via} ${(get(`${echo}/${via}`).p50 - get(`${echo}/direct`).p50).toFixed(3)} ms`).join(', ')}`);
    console.log(`${label(`throughput / direct, ${work}:`)}${(['proxy', 'nginx', ...(BASELINE ? ['baseline'] : [])] as Via[]).map((via) =>
      `${via} ${(get(`${work}/${via}`).rps / get(`${work}/direct`).rps).toFixed(2)}x`).join(', ')} (goal for proxy: at least 0.9)`);
    console.log(`\nthe logging proxies wrote ${s3.objects()} objects to the S3 stand-in`);
    console.log(`proxies counted ${scraped.map((s) => s.count).join(' and ')} of ${proxied.join(' and ')} requests, ` +
      `${scraped.map((s) => s.inFlight).join(' and ')} in flight; bench took ${((Date.now() - benchStartedAt) / 1000).toFixed(1)} s`);
    if (scraped.some((s, i) => s.count !== proxied[i] || s.inFlight !== 0)) {
      console.error('proxy metrics do not match the traffic sent');
      process.exitCode = 1;
    }
  } finally {
    const proxyExits = await Promise.all([...proxies, ...baselines, ...loggers, ...baselineLoggers].map((proxy) => stopProgram(proxy.child)));
    await new Promise((resolve) => s3.server.close(resolve));
    if (nginx) {
      await stopProgram(nginx.child, 'SIGQUIT');
      fs.rmSync(nginx.prefix, { recursive: true, force: true });
    }
    await Promise.all(upstreams.map((upstream) => stopProgram(upstream.child)));
    if (proxyExits.some((code) => code !== 0)) {
      console.error(`proxy exited with ${proxyExits.join(', ')} on SIGTERM, expected 0`);
      process.exitCode = 1;
    }
  }
}

run().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
