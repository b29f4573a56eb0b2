/**
 * A real S3-compatible object store for tests: SeaweedFS's `weed server` (master, volume
 * server, filer and S3 gateway in one process) on loopback, in a temp directory, built from the
 * Go module proxy by scripts/setup-seaweedfs.sh. The gateway knows one identity (access key
 * and secret) and no anonymous one, so every request must carry a valid SigV4 signature:
 * unsigned requests and wrong signatures are refused with 403, as AWS S3 does. Unlike AWS, it
 * accepts a signature for any region, so a wrong AWS_REGION goes unnoticed here.
 *
 * Measured on the suite's 2-core machine (SeaweedFS 4.53, commit 7506e5f9; 3 runs each): from
 * spawn until the gateway has stored and deleted a probe object takes 11.0-11.2 s, most of it
 * SeaweedFS's own caution (the filer waits 3 s for peers after the master mints a new
 * cluster, and the master holds volume allocation until its volume server has reported);
 * restart() on the same data takes 16.8-17.3 s, the master's 15 s warmup (three 5 s heartbeat
 * pulses) before it grows a volume. Resident memory is 142-149 MB once ready and 154-161 MB
 * after 20 objects of 100 KB were written and read.
 *
 * The helper signs its own requests with the signer the drift checker and the metrics proxy use
 * (`sign` in src/runtime/shared/s3.ts, on the `aws4` package), so a broken signer fails every
 * test that uses it instead of passing unnoticed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { type S3Settings, sign } from '../../src/runtime/shared/s3';
import { cacheDir } from '../controlplane/binaries';

/** The github.com/seaweedfs/seaweedfs module version tools/seaweedfs pins. */
export const SEAWEEDFS_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';

/** The `weed` binary scripts/setup-seaweedfs.sh builds; throws, naming the script, when it is missing. */
export function weedBinary(): string {
  const file = path.join(cacheDir(), `seaweedfs-${SEAWEEDFS_VERSION}`, 'bin', 'weed');
  if (!fs.existsSync(file)) {
    throw new Error(`SeaweedFS is not built: ${file} is missing; run bash scripts/setup-seaweedfs.sh (scripts/test-all.sh does)`);
  }
  return file;
}

export interface S3ServerOptions {
  /** @default 'mlops-test-access-key' */
  readonly accessKeyId?: string;
  /** @default a secret with '/' and '+' in it, as AWS secrets have */
  readonly secretAccessKey?: string;
  /** The region clients sign for; SeaweedFS accepts any. @default 'us-east-1' */
  readonly region?: string;
  /** @default 60000 */
  readonly startTimeoutMs?: number;
}

/** One HTTP exchange with the gateway, as it answered. */
export interface S3Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
}

export interface S3RequestOptions {
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  /** The credentials to sign with, or 'unsigned'. @default the server's own */
  readonly signAs?: Pick<S3Settings, 'accessKeyId' | 'secretAccessKey'> | 'unsigned';
}

export interface S3Server {
  /** http://127.0.0.1:<port>, path-style (pass it as --s3-endpoint or AWS_ENDPOINT_URL). */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** AWS_* variables for a client of this server. */
  readonly env: Record<string, string>;
  /** Where SeaweedFS keeps its data; survives kill() and restart(), removed by stop(). */
  readonly dataDir: string;
  createBucket(bucket: string): Promise<void>;
  putObject(bucket: string, key: string, body: string | Buffer): Promise<void>;
  /** The object's bytes; throws on any answer but 200. */
  getObject(bucket: string, key: string): Promise<Buffer>;
  /** Every key under the prefix (ListObjectsV2, following continuation tokens), in S3's order. */
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  /** A signed (or deliberately unsigned, or wrongly signed) request; `pathAndQuery` starts with '/'. */
  request(method: string, pathAndQuery: string, options?: S3RequestOptions): Promise<S3Reply>;
  /** SIGKILLs the server, leaving its data: "the object store is down". */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data, and waits until it is ready. */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** What the server wrote to stderr lately (its log), for failure messages. */
  log(): string;
  /** The running process's id (undefined after kill()), e.g. to read its memory. */
  pid(): number | undefined;
}

const LOG_LIMIT = 64 * 1024;

/** Starts SeaweedFS on free loopback ports and resolves once it has stored a probe object. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const binary = weedBinary();
  const accessKeyId = options.accessKeyId ?? 'mlops-test-access-key';
  const secretAccessKey = options.secretAccessKey ?? 'mlops/test+secret/KEY0123456789abcdefghij';
  const region = options.region ?? 'us-east-1';
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-seaweedfs-'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  // One identity and no "anonymous" one: every request must be signed with this key.
  const config = path.join(dir, 's3.json');
  fs.writeFileSync(config, JSON.stringify({
    identities: [{ name: 'mlops-test', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }],
  }));
  // Each component's gRPC port is given too: by default it is the HTTP port + 10000, which
  // may be taken or, above 55535, no port at all.
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await freePorts(8);
  const args = [
    '-logtostderr', // no log files in the temp dir of the machine
    'server',
    `-dir=${dataDir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`, `-master.port.grpc=${masterGrpc}`,
    '-master.telemetry=false', // it would report to telemetry.seaweedfs.com
    '-master.volumeSizeLimitMB=64',
    // One master: its election need not wait the 10 s default for peers that never come.
    '-master.electionTimeout=1s',
    `-volume.port=${volume}`, `-volume.port.grpc=${volumeGrpc}`,
    '-volume.max=16',
    '-volume.preStopSeconds=0',
    `-filer.port=${filer}`, `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${path.join(dir, 'filer.sock')}`,
    '-s3',
    `-s3.port=${s3}`, `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0', '-s3.port.lance=0',
    `-s3.config=${config}`,
    `-s3.localSocket=${path.join(dir, 's3.sock')}`,
  ];
  // The process's own environment only: no SENTRY_DSN or AWS_* of the caller, and HOME in the
  // temp dir so no ~/.seaweedfs/*.toml of the machine is read.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };

  const endpoint = `http://127.0.0.1:${s3}`;
  const settings: S3Settings = { endpoint, region, accessKeyId, secretAccessKey };
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const request = (method: string, pathAndQuery: string, requestOptions: S3RequestOptions = {}): Promise<S3Reply> => {
    const body = requestOptions.body === undefined ? undefined : Buffer.from(requestOptions.body);
    let headers: Record<string, string> = { ...requestOptions.headers };
    if (requestOptions.signAs !== 'unsigned') {
      // SigV4 signs the payload's hash; sign() hashes an empty body unless told otherwise.
      headers['X-Amz-Content-Sha256'] = createHash('sha256').update(body ?? '').digest('hex');
      headers = sign({ ...settings, ...requestOptions.signAs }, method, endpoint, pathAndQuery, headers);
    }
    return send(s3, method, pathAndQuery, headers, body);
  };
  const expectOk = async (what: string, reply: Promise<S3Reply>): Promise<S3Reply> => {
    const answer = await reply;
    if (answer.status >= 300) throw new Error(`SeaweedFS S3: ${what}: ${answer.status} ${answer.text.slice(0, 500)}`);
    return answer;
  };
  const objectPath = (bucket: string, key: string) => `/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;

  const launch = async () => {
    const started = spawn(binary, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    started.stderr!.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-LOG_LIMIT);
    });
    exited = new Promise((resolve) => started.once('exit', () => resolve()));
    const deadline = Date.now() + startTimeoutMs;
    // Ready means able to store: the gateway answers, and a write finds a volume to go to
    // (the volume server has registered with the master and volumes have grown).
    for (let ready = false; !ready;) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(`weed server exited (${started.exitCode ?? started.signalCode}) before it was ready:\n${log.slice(-4000)}`);
      }
      if (Date.now() > deadline) throw new Error(`weed server was not ready within ${startTimeoutMs} ms:\n${log.slice(-4000)}`);
      try {
        const probe = await request('PUT', '/mlops-readiness-probe/probe', { body: 'ready' });
        ready = probe.status === 200;
        if (!ready) await sleep(100);
      } catch {
        await sleep(100); // not listening yet
      }
    }
    await expectOk('delete the readiness probe', request('DELETE', '/mlops-readiness-probe/probe'));
    await expectOk('delete the readiness probe bucket', request('DELETE', '/mlops-readiness-probe'));
  };
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    // The process keeps its components' gRPC sockets in /tmp, named by port; SIGKILL leaves them.
    for (const [name, port] of [['master', masterGrpc], ['volume', volumeGrpc], ['filer', filerGrpc], ['s3', s3Grpc]] as const) {
      fs.rmSync(`/tmp/seaweedfs-${name}-grpc-${port}.sock`, { force: true });
    }
  };

  try {
    await launch();
  } catch (err) {
    await kill();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region,
    env: { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: region },
    dataDir,
    request,
    createBucket: async (bucket) => {
      await expectOk(`create bucket ${bucket}`, request('PUT', `/${encodeURIComponent(bucket)}`));
    },
    putObject: async (bucket, key, body) => {
      await expectOk(`put s3://${bucket}/${key}`, request('PUT', objectPath(bucket, key), { body }));
    },
    getObject: async (bucket, key) => {
      const reply = await request('GET', objectPath(bucket, key));
      if (reply.status !== 200) throw new Error(`SeaweedFS S3: get s3://${bucket}/${key}: ${reply.status} ${reply.text.slice(0, 500)}`);
      return reply.body;
    },
    listKeys: async (bucket, prefix = '') => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const query = new URLSearchParams({ 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) });
        query.sort();
        // URLSearchParams writes a space as '+', SigV4 wants %20.
        const reply = await expectOk(`list s3://${bucket}/${prefix}`, request('GET', `/${encodeURIComponent(bucket)}?${query.toString().replace(/\+/g, '%20')}`));
        for (const match of reply.text.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(unescapeXml(match[1]));
        token = /<IsTruncated>true<\/IsTruncated>/.test(reply.text) ? unescapeXml(/<NextContinuationToken>([^<]*)</.exec(reply.text)?.[1] ?? '') : undefined;
      } while (token);
      return keys;
    },
    kill,
    restart: async () => {
      await kill();
      try {
        await launch();
      } catch (err) {
        await kill();
        throw err;
      }
    },
    stop: async () => {
      await kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    log: () => log,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
  };
}

function send(port: number, method: string, pathAndQuery: string, headers: Record<string, string>, body?: Buffer): Promise<S3Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: pathAndQuery, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text: all.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${pathAndQuery}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Ports free on loopback right now, all distinct (held open together while chosen). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  })));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+|amp);/g, (_, entity: string) => {
    switch (entity) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return '\'';
      case 'amp': return '&';
      default: return String.fromCodePoint(entity[1] === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10));
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
