/**
 * A real Kubernetes control plane on loopback for tests: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler v1.37.2, built by scripts/setup-kubernetes.sh.
 *
 * What it is
 * - Every component is the upstream program, started with the flags a kubeadm cluster gives
 *   it that matter here: client-certificate authentication with a generated CA, RBAC and Node
 *   authorization, the default admission chain (PodSecurity, ServiceAccount, LimitRanger,
 *   ResourceQuota, ...), service-account tokens signed with a generated key, the controllers
 *   with a service account each (`--use-service-account-credentials`), and the scheduler.
 *   The controller-manager and the scheduler authenticate with certificates of their own
 *   identities (system:kube-controller-manager, system:kube-scheduler), so they run with the
 *   RBAC permissions of the bootstrap policy, not as cluster admins.
 * - Loopback only: fresh free ports per start, data in a temporary directory that stop()
 *   removes; etcd runs with --unsafe-no-fsync (a test cluster, not durable storage).
 *
 * What it is not (yet)
 * - There is no node and no kubelet: Pods are created, admitted and left Pending by the
 *   scheduler ("0/0 nodes are available"); nothing runs their containers, so readiness,
 *   EndpointSlice addresses and probes are not exercised here.
 * - No cloud provider, no CNI, no DNS: NetworkPolicies are stored, not enforced.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { binaries, ControlPlaneBinaries } from './binaries';

export interface ControlPlaneOptions {
  /** Prefix of the temporary directory. @default 'mlops-cp' */
  readonly name?: string;
  /** How long to wait for /readyz of the apiserver. @default 120 s */
  readonly readyTimeoutMs?: number;
}

export interface KubectlResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Peak resident memory (VmHWM) of one component, in bytes. */
export interface ComponentMemory {
  readonly component: string;
  readonly peakRssBytes: number;
}

const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
type Component = (typeof COMPONENTS)[number];

/** A running control plane; always stop() it (afterAll). */
export class ControlPlane {
  /** Seconds from start() to a ready apiserver with the controllers and scheduler running. */
  public startupSeconds = 0;

  private readonly processes = new Map<Component, ChildProcess>();
  private readonly exited = new Map<Component, string>();
  private stopped = false;

  constructor(
    /** The temporary directory holding certificates, kubeconfigs, etcd data and logs. */
    public readonly dir: string,
    /** The apiserver's URL, https://127.0.0.1:<port>. */
    public readonly server: string,
    /** An admin (system:masters) kubeconfig. */
    public readonly kubeconfig: string,
    private readonly bin: ControlPlaneBinaries,
  ) {}

  /** Runs kubectl against this cluster; never throws on a non-zero exit. */
  kubectl(args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        this.bin.kubectl,
        ['--kubeconfig', this.kubeconfig, ...args],
        { maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000, env: { ...process.env, KUBECONFIG: this.kubeconfig } },
        (error, stdout, stderr) => {
          if (error && typeof (error as NodeJS.ErrnoException).code !== 'number' && !(error as any).killed) {
            reject(error);
            return;
          }
          const code = error ? (typeof (error as any).code === 'number' ? (error as any).code : 124) : 0;
          resolve({ stdout, stderr, code });
        },
      );
      if (opts.input !== undefined) child.stdin!.end(opts.input);
    });
  }

  /** kubectl that must succeed; the error carries kubectl's own output. */
  async kubectlOk(args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.kubectl(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** `kubectl get -o json`, parsed; `items` for a list. */
  async getJson(args: readonly string[]): Promise<any> {
    return JSON.parse(await this.kubectlOk(['get', ...args, '-o', 'json']));
  }

  /** The last lines of a component's log, for failure messages. */
  logTail(component: Component, lines = 40): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'logs', `${component}.log`), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Peak RSS of each running component (from /proc/<pid>/status VmHWM). */
  memory(): ComponentMemory[] {
    const out: ComponentMemory[] = [];
    for (const [component, child] of this.processes) {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
        out.push({ component, peakRssBytes: kb * 1024 });
      } catch {
        // exited
      }
    }
    return out;
  }

  /** Throws with the component's log when one of the programs has exited. */
  assertRunning(): void {
    for (const [component, how] of this.exited) {
      if (!this.stopped) throw new ComponentExited(`${component} exited (${how}):\n${this.logTail(component)}`);
    }
  }

  /** Stops every component (SIGTERM, then SIGKILL after 10 s) and removes the directory. */
  async stop(): Promise<void> {
    this.stopped = true;
    // Reverse order: clients first, etcd last.
    for (const component of [...COMPONENTS].reverse()) {
      const child = this.processes.get(component);
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      });
    }
    live.delete(this);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** @internal */
  start(component: Component, args: string[]): void {
    const logFile = fs.openSync(path.join(this.dir, 'logs', `${component}.log`), 'a');
    const child = spawn(this.bin[component], args, { stdio: ['ignore', logFile, logFile] });
    fs.closeSync(logFile);
    child.on('exit', (code, signal) => this.exited.set(component, signal ? `signal ${signal}` : `code ${code}`));
    this.processes.set(component, child);
  }
}

// A test process that dies without afterAll must not leave servers behind.
const live = new Set<ControlPlane>();
process.once('exit', () => {
  for (const cp of live) {
    for (const c of COMPONENTS) {
      try {
        (cp as any).processes.get(c)?.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(cp.dir, { recursive: true, force: true });
  }
});

/** Starts etcd, the apiserver, the controller-manager and the scheduler; resolves once /readyz is ok. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const bin = binaries();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${options.name ?? 'mlops-cp'}-`));
  fs.mkdirSync(path.join(dir, 'logs'));
  const pki = path.join(dir, 'pki');
  fs.mkdirSync(pki);

  const [etcdClient, etcdPeer, apiPort, cmPort, schedPort] = await freePorts(5);
  const server = `https://127.0.0.1:${apiPort}`;
  makePki(pki);
  const kubeconfigs = {
    admin: writeKubeconfig(dir, 'admin', server, pki),
    'kube-controller-manager': writeKubeconfig(dir, 'kube-controller-manager', server, pki),
    'kube-scheduler': writeKubeconfig(dir, 'kube-scheduler', server, pki),
  };

  const cp = new ControlPlane(dir, server, kubeconfigs.admin, bin);
  live.add(cp);
  try {
    cp.start('etcd', [
      '--name=default',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    cp.start('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${path.join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${path.join(pki, 'apiserver.key')}`,
      `--client-ca-file=${path.join(pki, 'ca.crt')}`,
      '--authorization-mode=Node,RBAC',
      `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.96.0.0/16',
      // The `kubernetes` Service's endpoints may not be a loopback address; nothing in the
      // tests reaches the apiserver through that Service.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ]);
    await waitForReady(cp, server, pki, options.readyTimeoutMs ?? 120_000);
    cp.start('kube-controller-manager', [
      `--kubeconfig=${kubeconfigs['kube-controller-manager']}`,
      `--authentication-kubeconfig=${kubeconfigs['kube-controller-manager']}`,
      `--authorization-kubeconfig=${kubeconfigs['kube-controller-manager']}`,
      `--service-account-private-key-file=${path.join(pki, 'sa.key')}`,
      `--root-ca-file=${path.join(pki, 'ca.crt')}`,
      '--use-service-account-credentials=true',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${cmPort}`,
      '--profiling=false',
      '--v=1',
    ]);
    cp.start('kube-scheduler', [
      `--kubeconfig=${kubeconfigs['kube-scheduler']}`,
      `--authentication-kubeconfig=${kubeconfigs['kube-scheduler']}`,
      `--authorization-kubeconfig=${kubeconfigs['kube-scheduler']}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--profiling=false',
      '--v=1',
    ]);
    // The controllers are up once the service-account controller has given `default` its
    // ServiceAccount (pods cannot be created in a namespace before that).
    await waitFor(async () => {
      cp.assertRunning();
      const r = await cp.kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']);
      return r.code === 0;
    }, 60_000, 'the controller-manager to create the default ServiceAccount');
    cp.startupSeconds = (Date.now() - started) / 1000;
    return cp;
  } catch (e) {
    const logs = COMPONENTS.map((c) => `--- ${c}\n${cp.logTail(c, 15)}`).join('\n');
    await cp.stop();
    throw new Error(`control plane did not start: ${(e as Error).message}\n${logs}`);
  }
}

/** A component of the control plane died: waiting longer cannot help. */
export class ComponentExited extends Error {}

/**
 * Polls `check` every 250 ms until it returns true; throws after `timeoutMs` saying what it
 * waited for. An error thrown by `check` counts as "not yet", except ComponentExited.
 */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
      last = undefined;
    } catch (e) {
      if (e instanceof ComponentExited) throw e;
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitForReady(cp: ControlPlane, server: string, pki: string, timeoutMs: number): Promise<void> {
  const agent = new https.Agent({
    ca: fs.readFileSync(path.join(pki, 'ca.crt')),
    cert: fs.readFileSync(path.join(pki, 'admin.crt')),
    key: fs.readFileSync(path.join(pki, 'admin.key')),
  });
  await waitFor(
    () => {
      cp.assertRunning();
      return new Promise<boolean>((resolve) => {
        const req = https.get(`${server}/readyz`, { agent, timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        });
        req.on('error', () => resolve(false));
        req.on('timeout', () => req.destroy());
      });
    },
    timeoutMs,
    `${server}/readyz`,
  );
  agent.destroy();
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function openssl(args: string[], cwd: string): void {
  const r = require('child_process').spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/**
 * A CA, the apiserver's serving certificate, client certificates for the admin
 * (system:masters), the controller-manager and the scheduler, and the service-account key pair.
 */
function makePki(pki: string): void {
  // A config with no default extensions, so each certificate carries only what is added here.
  fs.writeFileSync(path.join(pki, 'openssl.cnf'), '[req]\ndistinguished_name = dn\n[dn]\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-config', 'openssl.cnf'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=mlops-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], pki);
  const leaf = (name: string, subject: string, ext: string[]) =>
    openssl(['req', '-x509', ...ec, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-keyout', `${name}.key`, '-out', `${name}.crt`,
      '-subj', subject, '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature', ...ext], pki);
  leaf('apiserver', '/CN=kube-apiserver', [
    '-addext', 'extendedKeyUsage=serverAuth',
    '-addext', 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
  ]);
  const client = ['-addext', 'extendedKeyUsage=clientAuth'];
  leaf('admin', '/O=system:masters/CN=mlops-test-admin', client);
  leaf('kube-controller-manager', '/CN=system:kube-controller-manager', client);
  leaf('kube-scheduler', '/CN=system:kube-scheduler', client);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], pki);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], pki);
}

function writeKubeconfig(dir: string, user: string, server: string, pki: string): string {
  const file = path.join(dir, `${user}.kubeconfig`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'mlops-test', cluster: { server, 'certificate-authority': path.join(pki, 'ca.crt') } }],
    users: [{ name: user, user: { 'client-certificate': path.join(pki, `${user}.crt`), 'client-key': path.join(pki, `${user}.key`) } }],
    contexts: [{ name: 'mlops-test', context: { cluster: 'mlops-test', user } }],
    'current-context': 'mlops-test',
  };
  // JSON is YAML; kubeconfig loaders read both.
  fs.writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
}
