/**
 * The rehearsal harness: runs the containers of SYNTHESIZED Kubernetes objects as local
 * processes, with the command, args and env exactly as the manifests say, so a manifest that
 * would not run in a cluster does not run here either.
 *
 * How it stands in for a cluster
 * - Network. One network namespace per pod (`mlops-rh-<pid>-p<n>`, interface eth0, pod IP
 *   10.244.0.x/24) bridged to a "node" namespace (`mlops-rh-<pid>`, bridge 10.244.0.1). The
 *   containers of a pod share its namespace, so 127.0.0.1 is the pod's own loopback, and two
 *   pods may both listen on 0.0.0.0:5000, as in a cluster. Each Service with a ClusterIP gets a
 *   10.96.0.x address on the node namespace's loopback, where kube-proxy.js forwards every
 *   Service port to a ready pod's targetPort (names resolved through the pod's container
 *   ports). Pods route to ClusterIPs through the bridge, like pods to a node's kube-proxy.
 * - DNS. `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts; the harness writes
 *   there, for every Service, `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc` and
 *   `<svc>.<ns>.svc.cluster.local` -> ClusterIP, and for a headless Service the same names plus
 *   `<pod>.<svc>.<ns>.svc.cluster.local` -> the pod IP. Clients use the synthesized URIs
 *   unchanged and send the in-cluster Host header.
 * - The test process stays outside the namespaces; it reaches Services and pods through a
 *   gateway in the node namespace (a Unix socket; see kube-proxy.js), so its requests carry
 *   the same Host headers an in-cluster client sends. Clients that are not pods (the test, the
 *   training script) run in the node namespace. Pods see every connection that came through
 *   a Service from 10.244.0.1 (kube-proxy here is a userspace proxy, not iptables DNAT), and
 *   a Service without a ready endpoint closes connections instead of refusing them.
 * - Images. No image is pulled. An image maps to local programs (imageTable below): the MLflow
 *   image to this repository's .venv (PATH starts with .venv/bin, so `mlflow` and `python` are
 *   the virtualenv's; its MLflow version must equal the image tag's; the image has Python 3.11
 *   too), plus packages the `-full` image carries that python/requirements.txt lacks
 *   (test/rehearsal/mlflow-image-extras.txt: prometheus-flask-exporter, Flask-WTF; installed
 *   into .cache/rehearsal and put on PYTHONPATH); postgres to Debian's PostgreSQL 15
 *   (/usr/lib/postgresql/15/bin; the major version must equal the tag's); node to the `node`
 *   running jest (Node 20 here, the image has Node 22; the bundles target node20).
 *   The virtualenv's interpreter sits under /root (pyenv), which the pod's uid cannot enter:
 *   for MLflow-image processes a shell in the process's private mount namespace covers /root
 *   with an empty 0755 tmpfs holding only a bind mount of the interpreter's directory.
 * - Entrypoints. A container with `command` runs exactly command + args. Without one the image's
 *   ENTRYPOINT applies; the postgres image's docker-entrypoint.sh is emulated: on an empty PGDATA,
 *   `initdb --username=$POSTGRES_USER --pwfile=<POSTGRES_PASSWORD>`, the image's
 *   `host all all all scram-sha-256` pg_hba line, `CREATE DATABASE $POSTGRES_DB` (single-user
 *   mode instead of a temporary server), then the args. The harness adds
 *   `-c unix_socket_directories=<the pod's /var/run/postgresql emptyDir>`: the image compiles
 *   that directory in, Debian's build uses the host's shared /var/run/postgresql.
 * - Environment. Built like the kubelet: image ENV (PATH, PYTHONPATH as above), HOSTNAME = pod
 *   name, then envFrom, then env in order with `$(VAR)` expansion; secretKeyRef values come from
 *   the Secret values the test provides (a missing Secret or key fails the container like
 *   CreateContainerConfigError); configMapKeyRef from the synthesized ConfigMaps; fieldRef for
 *   metadata.name/namespace and status.podIP. command and args are `$(VAR)`-expanded too.
 *   Added: TMPDIR = the local directory of a /tmp mount, so programs that use the temp dir
 *   without reading HOME land in the pod's emptyDir rather than the machine's /tmp.
 *   Not injected: KUBERNETES_SERVICE_* variables and service links.
 * - Volumes. Each mount is a local directory: emptyDir a fresh 0777 directory per pod start;
 *   configMap/secret a directory of files (defaultMode); a PersistentVolumeClaim (or a
 *   StatefulSet volumeClaimTemplate, `<template>-<pod>`) a directory that outlives pod restarts,
 *   owned by the user the container runs as. Paths are REWRITTEN, not mounted: an argv element,
 *   an env value, or the value of a `--flag=/path` that equals a mountPath or starts with
 *   `<mountPath>/` has that prefix replaced by the local directory (longest mountPath first),
 *   e.g. `node /opt/mlops/metrics-proxy.js` -> `node <tmp>/pods/<pod>/volumes/metrics-proxy-bundle/metrics-proxy.js`.
 *   A path the program derives itself (a compiled-in default) is not rewritten.
 * - Users. Processes run through `setpriv` as the uid/gid of the pod's securityContext,
 *   supplementary group fsGroup, no_new_privs, no capabilities (bounding set empty). PostgreSQL
 *   runs as the machine's `postgres` system user instead of uid 999: initdb and postgres need
 *   their uid in /etc/passwd, which the image provides for 999 and this machine for `postgres`.
 *   Conversely uid 1000 has a passwd entry here but not in the MLflow image, so a program that
 *   looks its user up could pass here and fail there. The working directory is an empty
 *   root-owned read-only directory. Not enforced: readOnlyRootFilesystem beyond that (the
 *   machine's own permissions apply: uid 1000 cannot write outside the mounts and
 *   world-writable places), seccomp RuntimeDefault, resource requests and limits (no cgroups;
 *   the worker counts in args are what the limits imply), the pod's hostname (pods share the
 *   machine's UTS namespace).
 * - Lifecycle. Pods start on request, one per workload (`<workload>-<ordinal>`, IP kept across
 *   restarts; replicas and HPA minimums are not honoured). Init containers run in order and
 *   must exit 0; then all containers start and the harness polls each container's startup
 *   probe, then readiness probe, every 0.5 s until the first success (exec probes run in the
 *   pod's namespace as the container's user, httpGet probes send the kubelet's Host
 *   `<podIP>:<port>`), failing at the startup budget (failureThreshold x periodSeconds), or
 *   at once when a container exits: a real kubelet would restart it (CrashLoopBackOff), the
 *   harness reports the exit code and the last log lines instead. Liveness probes are not
 *   run. A ready pod becomes a Service endpoint. A graceful stop runs exec preStop hooks,
 *   SIGTERM, waits terminationGracePeriodSeconds, then SIGKILL; teardown kills at once.
 * - Cleanup. teardown() (call it in afterAll) kills every process group, deletes the
 *   namespaces and /etc/netns entries and removes the temp directory, keeping the logs in
 *   .cache/rehearsal/last-run-logs; an exit handler does the same if jest dies first, and a new
 *   run removes namespaces left by dead runs.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import {
  ContainerConfigError, EnvSources, PathMapping, SecretValues, expandArgv, resolveEnv, rewritePath,
} from './kubelet';

const REPO = path.resolve(__dirname, '..', '..', '..');
const VENV = path.join(REPO, '.venv');
const IP = '/usr/sbin/ip';
const SETPRIV = '/usr/bin/setpriv';
const PG_BIN = '/usr/lib/postgresql/15/bin';
const EXTRAS_FILE = path.join(__dirname, '..', 'mlflow-image-extras.txt');
const EXTRAS_DIR = path.join(REPO, '.cache', 'rehearsal', 'mlflow-image-extras');
const LOGS_KEPT = path.join(REPO, '.cache', 'rehearsal', 'last-run-logs');
const POD_SUBNET = '10.244.0';
const SERVICE_SUBNET = '10.96.0';
const CLUSTER_DOMAIN = 'cluster.local';

/** A user a process runs as. */
interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly groups: number[];
}

/** How the harness runs one image. */
interface ImageProgram {
  /** What the image is, for messages. */
  readonly description: string;
  /** PATH of the image. */
  readonly path: string[];
  /** ENV of the image, before the container's env. */
  readonly env: Record<string, string>;
  /** Overrides the pod's user, with the reason. */
  readonly runAs?: RunAs;
  /** Directories the program needs that sit behind a directory the pod's uid cannot enter. */
  readonly expose?: string[];
  /** The image's ENTRYPOINT + CMD when the container has no command: returns the argv to exec. */
  entrypoint?(ctx: EntrypointContext): Promise<string[]>;
}

interface EntrypointContext {
  readonly args: string[];
  readonly env: Record<string, string>;
  readonly runAs: RunAs;
  readonly mappings: readonly PathMapping[];
  /** Runs a helper program as the container's user in the pod's namespace. */
  exec(argv: string[], stdin?: string): Promise<{ code: number; output: string }>;
}

/** Options of a rehearsal cluster. */
export interface RehearsalOptions {
  /** Synthesized objects (e.g. `Testing.synth(chart)`), all in one namespace. */
  readonly objects: any[];
  /** Values of the Secrets the manifests reference: name -> key -> value. */
  readonly secrets: SecretValues;
}

/** A container that exited or never became ready, with the cause from its log. */
export class PodStartError extends Error {
  constructor(
    message: string,
    /** The container at fault. */
    public readonly container: string,
    /** Its exit code, when it exited. */
    public readonly exitCode: number | undefined,
    /** Its log. */
    public readonly log: string,
  ) {
    super(message);
    this.name = 'PodStartError';
  }
}

/** One process standing in for a container. */
export class ContainerProcess {
  private readonly chunks: string[] = [];
  public exitCode: number | null | undefined = undefined;
  public readonly exited: Promise<number | null>;

  constructor(public readonly name: string, public readonly child: ChildProcess, logFile: string) {
    const sink = fs.createWriteStream(logFile, { flags: 'a' });
    const collect = (b: Buffer) => {
      const s = b.toString('utf8');
      this.chunks.push(s);
      sink.write(s);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : null);
        resolve(this.exitCode);
      });
      child.on('error', (err) => {
        collect(Buffer.from(`harness: cannot start ${name}: ${err.message}\n`));
        this.exitCode = 127;
        resolve(127);
      });
    }).then((code) => new Promise<number | null>((r) => sink.end(() => r(code))));
  }

  /** Everything the process wrote to stdout and stderr so far. */
  public get log(): string {
    return this.chunks.join('');
  }

  /** The last `n` lines of the log. */
  public tail(n = 40): string {
    return this.log.trimEnd().split('\n').slice(-n).join('\n');
  }

  public get running(): boolean {
    return this.exitCode === undefined;
  }
}

/** A running pod. */
export class Pod {
  public readonly containers = new Map<string, ContainerProcess>();
  public readonly initContainers = new Map<string, ContainerProcess>();
  public ready = false;

  constructor(
    public readonly name: string,
    public readonly ip: string,
    public readonly netns: string,
    public readonly workload: any,
    public readonly dir: string,
  ) {}

  /** Pod template spec. */
  public get spec(): any {
    return this.workload.spec.template.spec;
  }

  /** Log of a container or init container. */
  public log(container: string): string {
    const c = this.containers.get(container) ?? this.initContainers.get(container);
    if (!c) throw new Error(`pod ${this.name} has no container ${container}`);
    return c.log;
  }
}

/** An HTTP response read whole. */
export interface HttpResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A stand-in for a Kubernetes cluster, for one test file. */
export class RehearsalCluster {
  /** Starts the network, DNS and kube-proxy for `options.objects`. Needs root. */
  public static async start(options: RehearsalOptions): Promise<RehearsalCluster> {
    if (process.getuid?.() !== 0) {
      throw new Error('the rehearsal needs root (network namespaces, setpriv); run it as root, as CI does');
    }
    for (const tool of [IP, SETPRIV]) {
      if (!fs.existsSync(tool)) throw new Error(`${tool} is missing; run scripts/setup-debian.sh`);
    }
    removeStaleNamespaces();
    const cluster = new RehearsalCluster(options);
    try {
      await cluster.boot();
    } catch (e) {
      await cluster.teardown();
      throw e;
    }
    return cluster;
  }

  public readonly namespace: string;
  private readonly ns = `mlops-rh-${process.pid}`;
  private readonly root: string;
  private readonly secrets: SecretValues;
  private readonly configMaps: Record<string, Record<string, string>> = {};
  private readonly services: any[];
  private readonly clusterIps = new Map<string, string>();
  private readonly podIps = new Map<string, string>();
  private readonly pods = new Map<string, Pod>();
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<ContainerProcess>();
  private readonly images: { match: RegExp; program: (tag: RegExpExecArray) => ImageProgram }[];
  private proxy?: ContainerProcess;
  private readonly gatewaySocket: string;
  private readonly endpointsFile: string;
  private readonly readOnlyCwd: string;
  private readonly onExit = () => this.teardownSync();
  private tornDown = false;

  private constructor(private readonly options: RehearsalOptions) {
    const namespaces = new Set(options.objects.map((o) => o.metadata?.namespace).filter((n) => n !== undefined));
    if (namespaces.size !== 1) throw new Error(`the rehearsal runs one namespace; objects are in ${[...namespaces].join(', ') || 'none'}`);
    this.namespace = [...namespaces][0];
    this.secrets = JSON.parse(JSON.stringify(options.secrets));
    for (const cm of options.objects.filter((o) => o.kind === 'ConfigMap')) this.configMaps[cm.metadata.name] = cm.data ?? {};
    this.services = options.objects.filter((o) => o.kind === 'Service');
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-rh-'));
    fs.chmodSync(this.root, 0o755);
    this.gatewaySocket = path.join(this.root, 'gateway.sock');
    this.endpointsFile = path.join(this.root, 'endpoints.json');
    this.readOnlyCwd = path.join(this.root, 'rootfs');
    fs.mkdirSync(this.readOnlyCwd, { mode: 0o555 });
    fs.mkdirSync(path.join(this.root, 'logs'));
    this.images = imageTable();
    process.on('exit', this.onExit);
  }

  /** Changes a Secret value; pods started afterwards see it (as after `kubectl apply` of the Secret and a pod restart). */
  public setSecret(name: string, key: string, value: string): void {
    (this.secrets[name] ??= {})[key] = value;
  }

  /** The running pod of a workload. */
  public pod(workloadName: string): Pod {
    const pod = [...this.pods.values()].find((p) => p.workload.metadata.name === workloadName);
    if (!pod) throw new Error(`no running pod of ${workloadName}`);
    return pod;
  }

  /**
   * Starts one pod of a Deployment or StatefulSet: init containers in order, then the
   * containers, then waits until every container passed its startup and readiness probes.
   * Throws PodStartError (and stops the pod) when a container fails.
   */
  public async startPod(kind: 'Deployment' | 'StatefulSet', name: string, options: { timeoutMs?: number } = {}): Promise<Pod> {
    const workload = this.options.objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (!workload) throw new Error(`no ${kind} ${name} in the synthesized objects`);
    const podName = `${name}-0`;
    if (this.pods.has(podName)) throw new Error(`pod ${podName} is already running`);
    const ip = this.podIp(podName);
    const n = Number(ip.split('.')[3]);
    const netns = `${this.ns}-p${n}`;
    const dir = path.join(this.root, 'pods', `${podName}-${Date.now()}`);
    fs.mkdirSync(dir, { recursive: true });
    await this.addPodNetwork(netns, ip, n);
    const pod = new Pod(podName, ip, netns, workload, dir);
    this.pods.set(podName, pod);
    try {
      const spec = pod.spec;
      const volumes = this.prepareVolumes(pod);
      for (const c of spec.initContainers ?? []) {
        const proc = await this.startContainer(pod, c, volumes, true);
        pod.initContainers.set(c.name, proc);
        const code = await proc.exited;
        if (code !== 0) {
          throw new PodStartError(
            `pod ${podName} (${kind} ${name}): init container "${c.name}" exited with code ${code}\n--- last lines of ${c.name} ---\n${proc.tail()}`,
            c.name, code ?? undefined, proc.log);
        }
      }
      for (const c of spec.containers) {
        pod.containers.set(c.name, await this.startContainer(pod, c, volumes, false));
      }
      const deadline = Date.now() + (options.timeoutMs ?? 300_000);
      await Promise.all(spec.containers.map((c: any) => this.waitReady(pod, c, volumes, deadline)));
      pod.ready = true;
      this.writeEndpoints();
      return pod;
    } catch (e) {
      await this.stopPod(podName, { graceful: false });
      if (e instanceof ContainerConfigError) {
        throw new PodStartError(`pod ${podName} (${kind} ${name}): ${e.message}`, '', undefined, '');
      }
      throw e;
    }
  }

  /** Stops a pod: out of the endpoints, preStop hooks and SIGTERM when graceful, SIGKILL after the grace period. */
  public async stopPod(podName: string, options: { graceful?: boolean } = {}): Promise<void> {
    const pod = this.pods.get(podName) ?? [...this.pods.values()].find((p) => p.workload.metadata.name === podName);
    if (!pod) return;
    pod.ready = false;
    this.writeEndpoints();
    const graceful = options.graceful ?? true;
    const running = [...pod.containers.values(), ...pod.initContainers.values()].filter((c) => c.running);
    if (graceful) {
      const graceMs = (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      const deadline = Date.now() + graceMs;
      const volumes = this.prepareVolumes(pod, false);
      await Promise.all(pod.spec.containers.map(async (c: any) => {
        const hook = c.lifecycle?.preStop?.exec?.command;
        if (hook && pod.containers.get(c.name)?.running) {
          await this.execInContainer(pod, c, volumes, hook, Math.max(1000, deadline - Date.now())).catch(() => undefined);
        }
      }));
      for (const c of running) signalGroup(c, 'SIGTERM');
      await Promise.race([Promise.all(running.map((c) => c.exited)), timeout(Math.max(0, deadline - Date.now()))]);
    }
    for (const c of running) signalGroup(c, 'SIGKILL');
    await Promise.all(running.map((c) => Promise.race([c.exited, timeout(5000)])));
    for (const c of running) this.processes.delete(c);
    this.pods.delete(pod.name);
    deleteNamespace(pod.netns);
    const at = this.namespaces.indexOf(pod.netns);
    if (at >= 0) this.namespaces.splice(at, 1);
  }

  /**
   * An HTTP request from inside the cluster: the URL's host is resolved through the cluster's
   * hosts file, and the Host header is the URL's host and port, as an in-cluster client sends.
   */
  public request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<HttpResult> {
    const u = new URL(url);
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const target = `${u.hostname}:${port}`;
    return new Promise((resolve, reject) => {
      const req = http.request({
        method: init.method ?? 'GET',
        host: u.hostname,
        port,
        path: `${u.pathname}${u.search}`,
        headers: { ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}), ...init.headers },
        // No `agent`: with one (even `agent: false`) Node ignores createConnection and would
        // dial the pod or ClusterIP from the machine's own network.
        createConnection: () => {
          const socket = net.connect(this.gatewaySocket);
          socket.write(`${target}\n`);
          return socket;
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.setTimeout(init.timeoutMs ?? 30_000, () => req.destroy(new Error(`${init.method ?? 'GET'} ${url}: no answer in ${init.timeoutMs ?? 30_000} ms`)));
      req.on('error', reject);
      if (init.body !== undefined) req.write(init.body);
      req.end();
    });
  }

  /**
   * Runs a client program (not a pod: a training job, a CLI) in the node namespace with the
   * programs of `image`, as uid/gid 1000, and returns its exit code and output.
   */
  public async run(argv: string[], options: { image: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; output: string }> {
    const program = this.program(options.image);
    const work = fs.mkdtempSync(path.join(this.root, 'client-'));
    fs.chmodSync(work, 0o777);
    const env = { PATH: program.path.join(':'), ...program.env, HOME: work, TMPDIR: work, ...options.env };
    const logFile = path.join(this.root, 'logs', `client-${path.basename(work)}.log`);
    const proc = this.spawnIn(this.ns, 'client', argv, env, { uid: 1000, gid: 1000, groups: [1000] }, work, logFile, program.expose);
    const limit = options.timeoutMs ?? 300_000;
    const code = await Promise.race([proc.exited, timeout(limit).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      signalGroup(proc, 'SIGKILL');
      throw new Error(`${argv.join(' ')} did not finish in ${limit} ms; last lines:\n${proc.tail()}`);
    }
    this.processes.delete(proc);
    return { code, output: proc.log };
  }

  /** Stops everything and removes namespaces, /etc/netns entries and temp files. Safe to call twice. */
  public async teardown(): Promise<void> {
    if (this.tornDown) return;
    for (const pod of [...this.pods.keys()]) await this.stopPod(pod, { graceful: false }).catch(() => undefined);
    this.teardownSync();
  }

  // ---------------------------------------------------------------- internals

  private async boot(): Promise<void> {
    ip(['netns', 'add', this.ns]);
    this.namespaces.push(this.ns);
    ip(['-n', this.ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', this.ns, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', this.ns, 'addr', 'add', `${POD_SUBNET}.1/24`, 'dev', 'br0']);
    ip(['-n', this.ns, 'link', 'set', 'br0', 'up']);
    let next = 10;
    for (const svc of this.services) {
      if (svc.spec.clusterIp === 'None' || svc.spec.clusterIP === 'None') continue;
      const address = `${SERVICE_SUBNET}.${next++}`;
      this.clusterIps.set(svc.metadata.name, address);
      ip(['-n', this.ns, 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    }
    // Pod IPs of StatefulSet pods are allotted up front: headless Service names point at them.
    for (const sts of this.options.objects.filter((o) => o.kind === 'StatefulSet')) {
      for (let i = 0; i < (sts.spec.replicas ?? 1); i++) this.podIp(`${sts.metadata.name}-${i}`);
    }
    this.writeHosts(this.ns);
    this.writeEndpoints();
    const config = path.join(this.root, 'kube-proxy.json');
    fs.writeFileSync(config, JSON.stringify({
      services: this.services.flatMap((svc) => {
        const address = this.clusterIps.get(svc.metadata.name);
        return address === undefined ? [] : svc.spec.ports.map((p: any) => ({ ip: address, port: p.port }));
      }),
      endpointsFile: this.endpointsFile,
      gatewaySocket: this.gatewaySocket,
    }));
    this.proxy = this.spawnIn(this.ns, 'kube-proxy', [process.execPath, path.join(__dirname, 'kube-proxy.js'), config], { PATH: '/usr/bin:/bin' },
      { uid: 0, gid: 0, groups: [] }, this.root, path.join(this.root, 'logs', 'kube-proxy.log'));
    await waitFor('kube-proxy', 10_000, async () => {
      if (!this.proxy!.running) throw new Error(`kube-proxy exited: ${this.proxy!.log}`);
      return this.proxy!.log.includes('ready');
    });
    ensurePythonExtras();
  }

  private podIp(podName: string): string {
    let address = this.podIps.get(podName);
    if (address === undefined) {
      address = `${POD_SUBNET}.${10 + this.podIps.size}`;
      this.podIps.set(podName, address);
    }
    return address;
  }

  private async addPodNetwork(netns: string, address: string, n: number): Promise<void> {
    ip(['netns', 'add', netns]);
    this.namespaces.push(netns);
    ip(['-n', this.ns, 'link', 'add', `vp${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    ip(['-n', this.ns, 'link', 'set', `vp${n}`, 'master', 'br0', 'up']);
    ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', netns, 'route', 'add', 'default', 'via', `${POD_SUBNET}.1`]);
    this.writeHosts(netns);
  }

  /** The hosts file of a namespace: every Service name (and StatefulSet pod name) of the stack. */
  private writeHosts(netns: string): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    const names = (svc: string) => [svc, `${svc}.${this.namespace}`, `${svc}.${this.namespace}.svc`, `${svc}.${this.namespace}.svc.${CLUSTER_DOMAIN}`];
    for (const svc of this.services) {
      const name = svc.metadata.name;
      const clusterIp = this.clusterIps.get(name);
      if (clusterIp !== undefined) {
        lines.push(`${clusterIp} ${names(name).join(' ')}`);
        continue;
      }
      // Headless: the name resolves to the pods themselves.
      const sts = this.options.objects.find((o) => o.kind === 'StatefulSet' && o.spec.serviceName === name);
      if (!sts) continue;
      for (let i = 0; i < (sts.spec.replicas ?? 1); i++) {
        const pod = `${sts.metadata.name}-${i}`;
        lines.push(`${this.podIp(pod)} ${names(name).join(' ')} ${pod}.${name}.${this.namespace}.svc.${CLUSTER_DOMAIN}`);
      }
    }
    const dir = path.join('/etc/netns', netns);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'hosts'), `${lines.join('\n')}\n`);
  }

  /** Ready pods per Service port, for kube-proxy; written atomically. */
  private writeEndpoints(): void {
    const endpoints: Record<string, { ip: string; port: number }[]> = {};
    for (const svc of this.services) {
      const address = this.clusterIps.get(svc.metadata.name);
      if (address === undefined) continue;
      for (const port of svc.spec.ports) {
        const list: { ip: string; port: number }[] = [];
        for (const pod of this.pods.values()) {
          if (!pod.ready || !selects(svc.spec.selector, pod.workload.spec.template.metadata?.labels)) continue;
          const target = resolvePort(pod.spec.containers, port.targetPort ?? port.port);
          if (target !== undefined) list.push({ ip: pod.ip, port: target });
        }
        endpoints[`${address}:${port.port}`] = list;
      }
    }
    const tmp = `${this.endpointsFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(endpoints));
    fs.renameSync(tmp, this.endpointsFile);
  }

  /** Local directories for the pod's volumes: name -> directory. */
  private prepareVolumes(pod: Pod, create = true): Map<string, string> {
    const dirs = new Map<string, string>();
    const runAs = podUser(pod.spec, undefined);
    const claimTemplates: any[] = pod.workload.spec.volumeClaimTemplates ?? [];
    const volumes: any[] = [...(pod.spec.volumes ?? []), ...claimTemplates.map((t) => ({ name: t.metadata.name, persistentVolumeClaim: { claimName: `${t.metadata.name}-${pod.name}` }, template: true }))];
    for (const v of volumes) {
      let dir: string;
      if (v.emptyDir) {
        dir = path.join(pod.dir, 'volumes', v.name);
        if (create) {
          fs.mkdirSync(dir, { recursive: true });
          fs.chmodSync(dir, 0o777);
        }
      } else if (v.configMap || v.secret) {
        dir = path.join(pod.dir, 'volumes', v.name);
        if (create) {
          const source = v.configMap ? this.configMaps[v.configMap.name] : this.secrets[v.secret.secretName];
          if (source === undefined && !(v.configMap ?? v.secret).optional) {
            throw new ContainerConfigError(`volume ${v.name}: ${v.configMap ? `configmap "${v.configMap.name}"` : `secret "${v.secret.secretName}"`} not found`);
          }
          fs.mkdirSync(dir, { recursive: true });
          const mode = (v.configMap ?? v.secret).defaultMode ?? 0o644;
          const items: { key: string; path: string; mode?: number }[] = (v.configMap ?? v.secret).items ?? Object.keys(source ?? {}).map((k) => ({ key: k, path: k }));
          for (const item of items) {
            const file = path.join(dir, item.path);
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, source?.[item.key] ?? '');
            fs.chmodSync(file, item.mode ?? mode);
          }
        }
      } else if (v.persistentVolumeClaim) {
        const claim = v.persistentVolumeClaim.claimName;
        if (!v.template && !this.options.objects.some((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claim)) {
          throw new ContainerConfigError(`volume ${v.name}: persistentvolumeclaim "${claim}" not found (the pod would stay Pending)`);
        }
        dir = path.join(this.root, 'claims', claim);
        if (create && !fs.existsSync(dir)) {
          fs.mkdirSync(dir, { recursive: true });
          // A fresh volume belongs to the pod's fsGroup; here to the user the pod runs as.
          const owner = this.runAsFor(pod, pod.spec.containers[0]) ?? runAs;
          fs.chownSync(dir, owner.uid, owner.gid);
          fs.chmodSync(dir, 0o2775);
        }
      } else {
        throw new ContainerConfigError(`volume ${v.name}: type ${Object.keys(v).filter((k) => k !== 'name').join(',')} is not supported by the rehearsal`);
      }
      dirs.set(v.name, dir);
    }
    return dirs;
  }

  private mappingsFor(container: any, volumes: Map<string, string>): PathMapping[] {
    return (container.volumeMounts ?? []).map((m: any) => {
      const dir = volumes.get(m.name);
      if (dir === undefined) throw new ContainerConfigError(`container "${container.name}": volumeMount ${m.name} names no volume of the pod`);
      return { containerPath: m.mountPath, localPath: m.subPath ? path.join(dir, m.subPath) : dir };
    });
  }

  private program(image: string): ImageProgram {
    for (const entry of this.images) {
      const m = entry.match.exec(image);
      if (m) return entry.program(m);
    }
    throw new ContainerConfigError(`image ${image} has no local program in the rehearsal's image table`);
  }

  private runAsFor(pod: Pod, container: any): RunAs {
    return this.program(container.image).runAs ?? podUser(pod.spec, container);
  }

  /** env, argv and user of a container, as the kubelet would start it. */
  private async containerLaunch(pod: Pod, container: any, volumes: Map<string, string>): Promise<{ argv: string[]; env: Record<string, string>; runAs: RunAs }> {
    const program = this.program(container.image);
    const sources: EnvSources = {
      secrets: this.secrets,
      configMaps: this.configMaps,
      fields: { 'metadata.name': pod.name, 'metadata.namespace': this.namespace, 'status.podIP': pod.ip, 'spec.nodeName': 'rehearsal' },
    };
    const containerEnv = resolveEnv(container, sources);
    const mappings = this.mappingsFor(container, volumes);
    const env: Record<string, string> = { PATH: program.path.join(':'), ...program.env, HOSTNAME: pod.name };
    const tmp = mappings.find((m) => m.containerPath === '/tmp');
    if (tmp) env.TMPDIR = tmp.localPath;
    for (const [k, v] of Object.entries(containerEnv)) env[k] = rewritePath(v, mappings);
    const runAs = this.runAsFor(pod, container);
    let argv: string[];
    if (container.command) {
      argv = [...container.command, ...(container.args ?? [])];
    } else if (program.entrypoint) {
      argv = await program.entrypoint({
        args: container.args ?? [],
        env,
        runAs,
        mappings,
        exec: (a, stdin) => this.execHelper(pod, env, runAs, a, stdin),
      });
    } else {
      throw new ContainerConfigError(`container "${container.name}": no command, and the rehearsal does not know the ENTRYPOINT of ${container.image}`);
    }
    argv = expandArgv(argv, containerEnv).map((a) => rewritePath(a, mappings));
    return { argv, env, runAs };
  }

  private async startContainer(pod: Pod, container: any, volumes: Map<string, string>, init: boolean): Promise<ContainerProcess> {
    const { argv, env, runAs } = await this.containerLaunch(pod, container, volumes);
    const logFile = path.join(this.root, 'logs', `${pod.name}.${init ? 'init.' : ''}${container.name}.log`);
    fs.appendFileSync(logFile, `harness: ${new Date().toISOString()} starting ${container.name} as ${runAs.uid}:${runAs.gid}: ${argv.map((a) => (a.includes('\n') ? '<script>' : a)).join(' ')}\n`);
    return this.spawnIn(pod.netns, container.name, argv, env, runAs, this.readOnlyCwd, logFile, this.program(container.image).expose);
  }

  /**
   * `ip netns exec <ns> [sh -c <expose mounts>] setpriv <user> -- argv`. Mounts made by the
   * shell land in the private mount namespace `ip netns exec` creates for the process.
   */
  private wrap(netns: string, runAs: RunAs, argv: string[], expose: string[] = [], daemon = true): string[] {
    const setpriv = runAs.uid === 0 ? [] : [
      SETPRIV, '--reuid', String(runAs.uid), '--regid', String(runAs.gid),
      ...(runAs.groups.length > 0 ? ['--groups', runAs.groups.join(',')] : ['--clear-groups']),
      '--nnp', '--inh-caps=-all', '--bounding-set=-all', ...(daemon ? ['--pdeathsig', 'KILL'] : []), '--',
    ];
    const script = runAs.uid === 0 ? '' : exposeScript(expose, path.join(this.root, 'stage'));
    const prelude = script === '' ? [] : ['/bin/sh', '-c', `set -e\n${script}exec "$@"`, 'sh'];
    return ['netns', 'exec', netns, ...prelude, ...setpriv, ...argv];
  }

  private spawnIn(netns: string, name: string, argv: string[], env: Record<string, string>, runAs: RunAs, cwd: string, logFile: string, expose: string[] = []): ContainerProcess {
    const child = spawn(IP, this.wrap(netns, runAs, argv, expose), { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new ContainerProcess(name, child, logFile);
    this.processes.add(proc);
    void proc.exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /** A helper process in the pod (entrypoint emulation), waited for. */
  private async execHelper(pod: Pod, env: Record<string, string>, runAs: RunAs, argv: string[], stdin?: string): Promise<{ code: number; output: string }> {
    return new Promise((resolve) => {
      const child = spawn(IP, this.wrap(pod.netns, runAs, argv, [], false), { env, cwd: this.readOnlyCwd, stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (b) => { output += b; });
      child.stderr.on('data', (b) => { output += b; });
      child.on('error', (err) => resolve({ code: 127, output: `${output}${err.message}` }));
      child.on('exit', (code) => resolve({ code: code ?? 1, output }));
      child.stdin.end(stdin ?? '');
    });
  }

  /** Runs an exec probe or hook in a container's context; resolves to its exit code. */
  private async execInContainer(pod: Pod, container: any, volumes: Map<string, string>, command: string[], timeoutMs: number): Promise<number> {
    const { env, runAs } = await this.containerLaunch(pod, { ...container, command, args: [] }, volumes);
    const mappings = this.mappingsFor(container, volumes);
    const argv = command.map((a) => rewritePath(a, mappings));
    const expose = this.program(container.image).expose;
    return new Promise((resolve) => {
      const child = spawn(IP, this.wrap(pod.netns, runAs, argv, expose, false), { env, cwd: this.readOnlyCwd, stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', () => resolve(127));
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? 1);
      });
    });
  }

  private async probe(pod: Pod, container: any, volumes: Map<string, string>, probe: any): Promise<boolean> {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    if (probe.exec) return (await this.execInContainer(pod, container, volumes, probe.exec.command, timeoutMs)) === 0;
    if (probe.httpGet) {
      const port = resolvePort(pod.spec.containers, probe.httpGet.port);
      const headers: Record<string, string> = { host: `${pod.ip}:${port}`, 'user-agent': 'kube-probe/1.28' };
      for (const h of probe.httpGet.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
      try {
        const res = await this.request(`http://${pod.ip}:${port}${probe.httpGet.path ?? '/'}`, { headers, timeoutMs });
        return res.status >= 200 && res.status < 400;
      } catch {
        return false;
      }
    }
    if (probe.tcpSocket) {
      const port = resolvePort(pod.spec.containers, probe.tcpSocket.port);
      return this.request(`http://${pod.ip}:${port}/`, { timeoutMs }).then(() => true, () => false);
    }
    throw new ContainerConfigError(`container "${container.name}": probe type ${Object.keys(probe).join(',')} is not supported by the rehearsal`);
  }

  private async waitReady(pod: Pod, container: any, volumes: Map<string, string>, deadline: number): Promise<void> {
    const proc = pod.containers.get(container.name)!;
    const probes = [container.startupProbe, container.readinessProbe].filter((p) => p !== undefined);
    for (const probe of probes) {
      const budget = probe === container.startupProbe
        ? ((probe.initialDelaySeconds ?? 0) + (probe.failureThreshold ?? 3) * (probe.periodSeconds ?? 10)) * 1000
        : Infinity;
      const until = Math.min(deadline, Date.now() + budget);
      for (;;) {
        if (!proc.running) {
          throw new PodStartError(
            `pod ${pod.name}: container "${container.name}" exited with code ${proc.exitCode} before it was ready\n--- last lines of ${container.name} ---\n${proc.tail()}`,
            container.name, proc.exitCode ?? undefined, proc.log);
        }
        if (await this.probe(pod, container, volumes, probe)) break;
        if (Date.now() > until) {
          throw new PodStartError(
            `pod ${pod.name}: container "${container.name}" did not pass its ${probe === container.startupProbe ? 'startup' : 'readiness'} probe in time\n--- last lines of ${container.name} ---\n${proc.tail()}`,
            container.name, undefined, proc.log);
        }
        await delay(500);
      }
    }
  }

  private teardownSync(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    process.off('exit', this.onExit);
    for (const p of this.processes) signalGroup(p, 'SIGKILL');
    if (this.proxy) signalGroup(this.proxy, 'SIGKILL');
    for (const netns of [...this.namespaces].reverse()) deleteNamespace(netns);
    try {
      fs.rmSync(LOGS_KEPT, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(LOGS_KEPT), { recursive: true });
      fs.cpSync(path.join(this.root, 'logs'), LOGS_KEPT, { recursive: true });
    } catch {
      // Logs are a convenience.
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ images

/** image reference -> local program. */
function imageTable(): { match: RegExp; program: (m: RegExpExecArray) => ImageProgram }[] {
  return [
    { match: /^ghcr\.io\/mlflow\/mlflow:v(\d+\.\d+\.\d+)(-full)?$/, program: (m) => mlflowProgram(m[1]) },
    { match: /^(?:docker\.io\/)?(?:library\/)?postgres:(\d+)(?:\.(\d+))?(?:-[a-z0-9.]+)?$/, program: (m) => postgresProgram(Number(m[1])) },
    { match: /^(?:docker\.io\/)?(?:library\/)?node:(\d+)[^/]*$/, program: () => nodeProgram() },
  ];
}

function mlflowProgram(tag: string): ImageProgram {
  const sitePackages = fs.existsSync(path.join(VENV, 'lib')) ? fs.readdirSync(path.join(VENV, 'lib')).map((d) => path.join(VENV, 'lib', d, 'site-packages')) : [];
  const dist = sitePackages.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d) : [])).find((f) => /^mlflow-\d/.test(f));
  if (!fs.existsSync(path.join(VENV, 'bin', 'mlflow')) || dist === undefined) {
    throw new ContainerConfigError(`the MLflow image needs ${VENV} with mlflow; run scripts/setup-python.sh`);
  }
  const version = /^mlflow-(.+)\.dist-info$/.exec(dist)?.[1];
  if (version !== tag) {
    throw new ContainerConfigError(`the image is MLflow ${tag} but ${VENV} has ${version}; align python/requirements.txt with Images.MLFLOW`);
  }
  // The virtualenv's interpreter may live where the pod's uid cannot go (pyenv under /root).
  const home = /^home\s*=\s*(.+)$/m.exec(fs.readFileSync(path.join(VENV, 'pyvenv.cfg'), 'utf8'))?.[1]?.trim();
  return {
    description: `MLflow ${tag} (.venv)`,
    path: [path.join(VENV, 'bin'), '/usr/local/bin', '/usr/bin', '/bin'],
    env: { PYTHONPATH: EXTRAS_DIR },
    expose: home === undefined ? [] : [path.dirname(home)],
  };
}

function postgresProgram(major: number): ImageProgram {
  if (!fs.existsSync(path.join(PG_BIN, 'postgres'))) throw new ContainerConfigError(`${PG_BIN}/postgres is missing; run scripts/setup-debian.sh`);
  const local = /\(PostgreSQL\) (\d+)/.exec(execFileSync(path.join(PG_BIN, 'postgres'), ['--version'], { encoding: 'utf8' }))?.[1];
  if (Number(local) !== major) throw new ContainerConfigError(`the image is PostgreSQL ${major} but ${PG_BIN} is ${local}`);
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return {
    description: `PostgreSQL ${major} (Debian)`,
    path: [PG_BIN, '/usr/bin', '/bin'],
    env: { PG_MAJOR: String(major) },
    runAs: { uid, gid, groups: [gid] },
    entrypoint: postgresEntrypoint,
  };
}

/** The official image's docker-entrypoint.sh, for `postgres ...` args, with Debian's binaries. */
async function postgresEntrypoint(ctx: EntrypointContext): Promise<string[]> {
  const args = ctx.args.length > 0 ? ctx.args : ['postgres'];
  if (args[0] !== 'postgres') return args;
  const pgdata = ctx.env.PGDATA ?? '/var/lib/postgresql/data';
  const socketDir = ctx.mappings.find((m) => m.containerPath === '/var/run/postgresql')?.localPath;
  if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    const user = ctx.env.POSTGRES_USER ?? 'postgres';
    const password = ctx.env.POSTGRES_PASSWORD;
    if (!password) throw new ContainerConfigError('postgres: Database is uninitialized and superuser password is not specified (POSTGRES_PASSWORD)');
    fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    fs.chownSync(pgdata, ctx.runAs.uid, ctx.runAs.gid);
    const pwfile = path.join(path.dirname(pgdata), '.pwfile');
    fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    fs.chownSync(pwfile, ctx.runAs.uid, ctx.runAs.gid);
    const init = await ctx.exec(['initdb', `--username=${user}`, `--pwfile=${pwfile}`, '-D', pgdata, ...(ctx.env.POSTGRES_INITDB_ARGS ?? '').split(/\s+/).filter(Boolean)]);
    fs.rmSync(pwfile);
    if (init.code !== 0) throw new ContainerConfigError(`postgres entrypoint: initdb failed:\n${init.output}`);
    fs.appendFileSync(path.join(pgdata, 'pg_hba.conf'), `\nhost all all all ${ctx.env.POSTGRES_HOST_AUTH_METHOD ?? 'scram-sha-256'}\n`);
    const db = ctx.env.POSTGRES_DB ?? user;
    if (db !== 'postgres') {
      const create = await ctx.exec(['postgres', '--single', '-D', pgdata, '-j', 'postgres'], `CREATE DATABASE "${db}";\n`);
      if (create.code !== 0) throw new ContainerConfigError(`postgres entrypoint: CREATE DATABASE ${db} failed:\n${create.output}`);
    }
  }
  return socketDir ? [...args, '-c', `unix_socket_directories=${socketDir}`] : args;
}

function nodeProgram(): ImageProgram {
  return { description: `Node.js ${process.version} (this machine)`, path: [path.dirname(process.execPath), '/usr/bin', '/bin'], env: {} };
}

/**
 * Installs test/rehearsal/mlflow-image-extras.txt into .cache once per content. Installs into
 * a private directory and renames it into place, so concurrent runs never see half a tree.
 */
function ensurePythonExtras(): void {
  const want = createHash('sha256').update(fs.readFileSync(EXTRAS_FILE)).digest('hex');
  const stampOf = (dir: string) => path.join(dir, '.requirements.sha256');
  const current = () => fs.existsSync(stampOf(EXTRAS_DIR)) && fs.readFileSync(stampOf(EXTRAS_DIR), 'utf8') === want;
  if (current()) return;
  if (!fs.existsSync(path.join(VENV, 'bin', 'python'))) throw new Error(`${VENV} is missing; run scripts/setup-python.sh`);
  const staging = `${EXTRAS_DIR}.${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  execFileSync(path.join(VENV, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--target', staging, '-r', EXTRAS_FILE], { stdio: 'inherit' });
  fs.writeFileSync(stampOf(staging), want);
  if (current()) {
    fs.rmSync(staging, { recursive: true, force: true });
    return;
  }
  const old = `${EXTRAS_DIR}.old.${process.pid}`;
  if (fs.existsSync(EXTRAS_DIR)) fs.renameSync(EXTRAS_DIR, old);
  fs.renameSync(staging, EXTRAS_DIR);
  fs.rmSync(old, { recursive: true, force: true });
}

// ------------------------------------------------------------------ helpers

/** The nearest ancestor of `dir` (or itself) that others cannot enter, if any. */
function blockedAncestor(dir: string): string | undefined {
  const parts = path.resolve(dir).split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const p = `/${parts.slice(0, i).join('/')}`;
    if ((fs.statSync(p).mode & 0o001) === 0) return p;
  }
  return undefined;
}

/**
 * Shell lines that make each `expose` directory reachable for a non-root uid: the directory is
 * bind-mounted aside, a 0755 tmpfs covers the ancestor that blocks others, and the directory is
 * bound back at its own path, so only it (not the ancestor's other files) becomes visible.
 */
function exposeScript(expose: string[], stage: string): string {
  const blocked = expose.map((dir) => [dir, blockedAncestor(dir)] as const).filter((e): e is readonly [string, string] => e[1] !== undefined);
  if (blocked.length === 0) return '';
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const lines: string[] = [];
  blocked.forEach(([dir], i) => {
    fs.mkdirSync(path.join(stage, String(i)), { recursive: true });
    lines.push(`mount --bind ${q(dir)} ${q(path.join(stage, String(i)))}`);
  });
  for (const ancestor of new Set(blocked.map((b) => b[1]))) lines.push(`mount -t tmpfs -o mode=0755,size=1m rehearsal ${q(ancestor)}`);
  blocked.forEach(([dir], i) => {
    lines.push(`mkdir -p ${q(dir)}`, `mount --bind ${q(path.join(stage, String(i)))} ${q(dir)}`);
  });
  return `${lines.join('\n')}\n`;
}

function ip(args: string[]): void {
  try {
    execFileSync(IP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new Error(`ip ${args.join(' ')}: ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? (e as Error).message}`);
  }
}

function deleteNamespace(netns: string): void {
  try {
    execFileSync(IP, ['netns', 'del', netns], { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
  fs.rmSync(path.join('/etc/netns', netns), { recursive: true, force: true });
}

/** Namespaces of earlier runs whose process is gone (a crash before teardown). */
function removeStaleNamespaces(): void {
  let list = '';
  try {
    list = execFileSync(IP, ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const m = /^(mlops-rh-(\d+)(?:-p\d+)?)\b/.exec(line.trim());
    if (!m || Number(m[2]) === process.pid) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      deleteNamespace(m[1]);
    }
  }
}

function signalGroup(proc: ContainerProcess, signal: NodeJS.Signals): void {
  if (!proc.running || proc.child.pid === undefined) return;
  try {
    process.kill(-proc.child.pid, signal);
  } catch {
    // Exited meanwhile.
  }
}

function podUser(spec: any, container: any): RunAs {
  const pod = spec.securityContext ?? {};
  const c = container?.securityContext ?? {};
  const uid = c.runAsUser ?? pod.runAsUser;
  const gid = c.runAsGroup ?? pod.runAsGroup ?? uid;
  if (uid === undefined) throw new ContainerConfigError('no runAsUser in the pod or container securityContext; the rehearsal will not guess the image\'s user');
  const groups = pod.fsGroup !== undefined ? [pod.fsGroup] : [];
  return { uid, gid, groups: [...new Set([gid, ...groups])] };
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function resolvePort(containers: any[], port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  for (const c of containers) {
    const found = (c.ports ?? []).find((p: any) => p.name === port);
    if (found) return found.containerPort;
  }
  return undefined;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A timer for Promise.race that does not keep the process alive once the race is decided. */
function timeout(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Polls `check` every 100 ms until it returns true; throws after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await delay(100);
  }
}
