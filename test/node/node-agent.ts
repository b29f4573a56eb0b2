/**
 * The node agent: the rehearsal harness as the kubelet (and, with service-proxy.ts, the
 * kube-proxy and DNS) of a real control plane (test/controlplane/cluster.ts). It registers a
 * Node, keeps its Lease, runs the Pods the real kube-scheduler binds to it through the
 * harness (test/rehearsal/harness: network namespaces, users, volumes, images, probes) and
 * reports their status through the apiserver the way a kubelet does, so the real controllers
 * (Deployment, ReplicaSet, StatefulSet, Job, EndpointSlice, PV binder) drive everything.
 *
 * What it does, as a kubelet
 * - Identity: a client certificate system:node:<name> in system:nodes, so the apiserver's
 *   Node authorizer applies: the agent can read only the Secrets, ConfigMaps, claims and
 *   volumes of Pods bound to it, and request tokens only for their ServiceAccounts.
 * - Node: registered with capacity from the machine (cpu = cores, memory, pods 110,
 *   ephemeral-storage of the temp filesystem; a test may override a value, and
 *   `nvidia.com/gpu` is reported only when a test asks), Ready and the pressure conditions,
 *   status and Lease (kube-node-lease) renewed every 10 s.
 * - Pods: every 500 ms the Pods with spec.nodeName = this node are listed. A new one gets a
 *   network namespace and pod IP (10.244.0.x), its volumes (emptyDir; configMap, secret,
 *   projected with serviceAccountToken from the TokenRequest API, kube-root-ca.crt and
 *   downwardAPI; a PersistentVolumeClaim as the directory of the hostPath or local
 *   PersistentVolume it is bound to), its init containers in order, then its containers. Env
 *   values from Secrets and ConfigMaps are read from the apiserver at each container start.
 * - Status (strategic merge patch of pods/status on every change): phase (Pending, Running,
 *   Succeeded, Failed), podIP, conditions (PodReadyToStartContainers, Initialized,
 *   ContainersReady, Ready), and per container the state (waiting ContainerCreating /
 *   CreateContainerConfigError / PodInitializing / CrashLoopBackOff, running, terminated with
 *   exit code and reason), lastState, restartCount, started and ready.
 * - Probes: startup, then readiness and liveness, with the harness's probe types. Readiness
 *   then runs every periodSeconds with failureThreshold/successThreshold (so a Pod leaves the
 *   EndpointSlices when it stops answering), liveness too (failureThreshold failures restart
 *   the container).
 * - Restarts per restartPolicy (Always; OnFailure on a non-zero exit; Never: the Pod becomes
 *   Succeeded or Failed), with the kubelet's back-off: the first restart at once, then 10 s,
 *   20 s, ... up to 300 s, reset after 10 minutes of running.
 * - Deletion: with metadata.deletionGracePeriodSeconds, each running container's exec preStop
 *   hook, then SIGTERM, SIGKILL at the end of the grace period; then the final status and the
 *   Pod deleted for good (grace period 0, uid precondition), as the kubelet does.
 *
 * What differs from a kubelet (see also the harness header, test/rehearsal/harness/cluster.ts,
 * for how a container is run: no image pull, images mapped to local programs, paths rewritten
 * instead of mounted, ...)
 * - Pods are listed every 500 ms instead of watched; no static or mirror Pods.
 * - No cgroups: resource requests count for the scheduler only, limits are not enforced, no
 *   eviction, no QoS; the node's pressure conditions are always False.
 * - seccomp, AppArmor, SELinux and readOnlyRootFilesystem are not applied (the harness runs
 *   each process as the pod's uid/gid with no capabilities and no_new_privs).
 * - The first startup and readiness probe attempts are made every 0.5 s until the first
 *   success (a kubelet waits periodSeconds between attempts): pods become ready sooner.
 * - ConfigMap, Secret and token volumes are written once at pod start, not refreshed; the
 *   token is not rotated. Only exec preStop hooks; postStart hooks, httpGet hooks, ephemeral
 *   and sidecar (restartable init) containers, `kubectl logs/exec/port-forward` (no kubelet
 *   API) and Events are not implemented. The pods' hostname is the machine's.
 * - hostIP is the bridge address 10.244.0.1, through which pods reach the node.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ControlPlane } from '../controlplane/cluster';
import { ensurePythonExtras } from '../rehearsal/harness/images';
import { ContainerConfigError, EnvSources, SecretValues } from '../rehearsal/harness/kubelet';
import type { Container, Probe } from '../rehearsal/harness/manifests';
import {
  POD_SUBNET, addNodeNamespace, addPodNamespace, deleteNamespace, removePodNamespace, removeStaleNamespaces, requestThrough,
  type HttpResult, type RequestInit,
} from '../rehearsal/harness/network';
import { Pod } from '../rehearsal/harness/pod';
import { probeOnce } from '../rehearsal/harness/probes';
import { type ContainerProcess, IP, Processes, SETPRIV, delay, signalGroup, timeout, waitFor } from '../rehearsal/harness/processes';
import { ContainerRuntime } from '../rehearsal/harness/runtime';
import { type ProjectedFile, type VolumeDirs, type VolumeSources, prepareVolumes } from '../rehearsal/harness/volumes';
import { ApiClient, ApiError, apiTime, issueClientCertificate } from './api';
import { NodeReport, nodeHeartbeat, registerNode } from './node-status';
import { ServiceProxy } from './service-proxy';

const REPO = path.resolve(__dirname, '..', '..');
const LOGS_KEPT = path.join(REPO, '.cache', 'node-agent', 'last-run-logs');
const NODE_ADDRESS = `${POD_SUBNET}.1`;

export interface NodeAgentOptions {
  /** The Node's name. @default 'mlops-node' */
  readonly name?: string;
  /** Capacity values that replace the machine's (e.g. `{ cpu: '16' }`, `{ 'nvidia.com/gpu': '1' }`). @default - the machine's */
  readonly capacity?: Record<string, string>;
  /** The namespace whose Services clients in the node namespace (run()) reach by short name. @default 'default' */
  readonly clientNamespace?: string;
}

/** A kubelet and kube-proxy for a ControlPlane, on this machine; always stop() it. */
export class NodeAgent {
  /** Registers the Node and starts running its Pods. Needs root (network namespaces, setpriv). */
  public static async start(cp: ControlPlane, options: NodeAgentOptions = {}): Promise<NodeAgent> {
    if (process.getuid?.() !== 0) throw new Error('the node agent needs root (network namespaces, setpriv); run it as root, as CI does');
    for (const tool of [IP, SETPRIV]) {
      if (!fs.existsSync(tool)) throw new Error(`${tool} is missing; run scripts/setup-debian.sh`);
    }
    removeStaleNamespaces();
    const agent = new NodeAgent(cp, options);
    try {
      await agent.boot();
    } catch (e) {
      await agent.stop();
      throw e;
    }
    return agent;
  }

  public readonly name: string;
  /** The node's network namespace (kube-proxy, clients). */
  public readonly netns = `mlops-rh-${process.pid}`;
  /** Problems of the last rounds (API errors), for failure messages. */
  public readonly errors: string[] = [];
  private readonly root: string;
  private readonly api: ApiClient;
  private readonly processes: Processes;
  readonly runtime: ContainerRuntime;
  private readonly proxy: ServiceProxy;
  private readonly gatewaySocket: string;
  private readonly workers = new Map<string, PodWorker>();
  private readonly freeIps: number[] = [];
  private nextIp = 10;
  private kubeProxy?: ContainerProcess;
  private podTimer?: NodeJS.Timeout;
  private nodeTimer?: NodeJS.Timeout;
  private polling = false;
  private stopped = false;
  private readonly onExit = () => this.stopSync();

  private constructor(cp: ControlPlane, private readonly options: NodeAgentOptions) {
    this.name = options.name ?? 'mlops-node';
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-node-'));
    fs.chmodSync(this.root, 0o755);
    const pki = path.join(cp.dir, 'pki');
    const certs = path.join(this.root, 'pki');
    fs.mkdirSync(certs, { mode: 0o700 });
    this.api = new ApiClient(cp.server, issueClientCertificate(pki, certs, 'kubelet', `/O=system:nodes/CN=system:node:${this.name}`));
    const proxyApi = new ApiClient(cp.server, issueClientCertificate(pki, certs, 'kube-proxy', '/CN=system:kube-proxy'));
    this.processes = new Processes(path.join(this.root, 'stage'));
    this.runtime = new ContainerRuntime(this.processes, this.root);
    this.gatewaySocket = path.join(this.root, 'gateway.sock');
    this.proxy = new ServiceProxy(proxyApi, this.netns, path.join(this.root, 'endpoints.json'));
    process.on('exit', this.onExit);
  }

  /** An HTTP request from the node namespace (Service names resolve as in the cluster). */
  public request(url: string, init: RequestInit = {}): Promise<HttpResult> {
    return requestThrough(this.gatewaySocket, url, init);
  }

  /** Runs a client program (not a pod: a training job) in the node namespace, as uid 1000. */
  public run(argv: string[], options: { image: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; output: string }> {
    return this.runtime.run(this.netns, argv, options);
  }

  /** Everything a container (or init container) of a pod wrote, over all its restarts. */
  public log(pod: string, container: string): string {
    return [`${pod}.init.${container}.log`, `${pod}.${container}.log`].map((file) => {
      try {
        return fs.readFileSync(path.join(this.root, 'logs', file), 'utf8');
      } catch {
        return '';
      }
    }).join('');
  }

  /** Stops every pod's processes at once (no API calls: the control plane may be gone), removes namespaces and files. */
  public async stop(): Promise<void> {
    this.stopSync();
  }

  // ---------------------------------------------------------------- internals

  private async boot(): Promise<void> {
    addNodeNamespace(this.netns);
    this.proxy.addNamespace(this.netns, this.options.clientNamespace ?? 'default');
    const config = path.join(this.root, 'kube-proxy.json');
    fs.writeFileSync(config, JSON.stringify({ endpointsFile: path.join(this.root, 'endpoints.json'), gatewaySocket: this.gatewaySocket }));
    this.proxy.start();
    const proxy = this.processes.spawn('kube-proxy', [process.execPath, path.join(REPO, 'test', 'rehearsal', 'harness', 'kube-proxy.js'), config],
      { netns: this.netns, runAs: { uid: 0, gid: 0, groups: [] }, env: { PATH: '/usr/bin:/bin' }, cwd: this.root },
      path.join(this.root, 'logs', 'kube-proxy.log'));
    this.kubeProxy = proxy;
    await waitFor('kube-proxy', 10_000, () => {
      if (!proxy.running) throw new Error(`kube-proxy exited: ${proxy.log}`);
      return proxy.log.includes('ready');
    });
    ensurePythonExtras();
    await this.register();
    this.nodeTimer = setInterval(() => { void this.heartbeat().catch((e) => this.error(e)); }, 10_000);
    this.podTimer = setInterval(() => {
      if (this.polling) return;
      this.polling = true;
      this.syncPods().catch((e) => this.error(e)).finally(() => { this.polling = false; });
    }, 500);
  }

  private error(e: unknown): void {
    if (this.stopped) return;
    this.errors.push(`${new Date().toISOString()} ${(e as Error).message}`);
    if (this.errors.length > 50) this.errors.shift();
  }

  private capacity(): Record<string, string> {
    const stat = fs.statfsSync(os.tmpdir());
    return {
      cpu: String(os.cpus().length),
      memory: `${Math.floor(os.totalmem() / 1024)}Ki`,
      pods: '110',
      'ephemeral-storage': `${Math.floor((stat.blocks * stat.bsize) / 1024)}Ki`,
      ...this.options.capacity,
    };
  }

  /** What this node reports about itself (node-status.ts). */
  private report(): NodeReport {
    return {
      name: this.name, capacity: this.capacity(), address: NODE_ADDRESS, osImage: 'mlops-constructs node agent (rehearsal harness)',
      containerRuntimeVersion: 'harness://1', pressureMessage: 'not measured by the node agent',
    };
  }

  private register(): Promise<void> {
    return registerNode(this.api, this.report());
  }

  private heartbeat(): Promise<void> {
    return nodeHeartbeat(this.api, this.report());
  }

  private async syncPods(): Promise<void> {
    const list = await this.api.get(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.name}`)}`);
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const pod of list.items) {
      const uid = pod.metadata.uid;
      seen.add(uid);
      let worker = this.workers.get(uid);
      if (!worker) {
        const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
        if (terminal) {
          // Finished before this agent saw it (nothing runs): only a deletion is left to finish.
          if (pod.metadata.deletionTimestamp) {
            await this.api.request('DELETE', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`,
              { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } }).catch(() => undefined);
          }
          continue;
        }
        worker = new PodWorker(this, pod);
        this.workers.set(uid, worker);
        void worker.run();
      }
      worker.update(pod);
    }
    for (const [uid, worker] of this.workers) {
      if (!seen.has(uid)) {
        // Gone from the API (deleted for good, by us or by force): nothing to report any more.
        this.workers.delete(uid);
        void worker.kill();
      }
    }
  }

  /** @internal */
  public allocateIp(): { ip: string; n: number } {
    const n = this.freeIps.shift() ?? this.nextIp++;
    if (n > 250) throw new Error('the node agent ran out of pod IPs');
    return { ip: `${POD_SUBNET}.${n}`, n };
  }

  /** @internal */
  public releaseIp(n: number): void {
    // Released addresses are reused last, so an old Service endpoint does not reach a new pod at once.
    this.freeIps.push(n);
  }

  /** @internal */
  public addPodNetwork(n: number, ipAddress: string, namespace: string): string {
    const netns = `${this.netns}-p${n}`;
    addPodNamespace(this.netns, netns, n, ipAddress);
    this.proxy.addNamespace(netns, namespace);
    return netns;
  }

  /** @internal */
  public removePodNetwork(netns: string): void {
    this.proxy.removeNamespace(netns);
    removePodNamespace(this.netns, netns);
  }

  /** @internal */
  public get client(): ApiClient {
    return this.api;
  }

  /** @internal */
  public get isStopped(): boolean {
    return this.stopped;
  }

  /** @internal */
  public podDir(pod: any): string {
    // Short: PostgreSQL's socket path under the pod's /var/run/postgresql must fit 107 bytes.
    const dir = path.join(this.root, 'pods', String(pod.metadata.uid).slice(0, 8));
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** @internal */
  public reportError(e: unknown): void {
    this.error(e);
  }

  private stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.onExit);
    if (this.podTimer) clearInterval(this.podTimer);
    if (this.nodeTimer) clearInterval(this.nodeTimer);
    this.proxy.stop();
    for (const worker of this.workers.values()) worker.abandon();
    this.processes.killAll();
    if (this.kubeProxy) signalGroup(this.kubeProxy, 'SIGKILL');
    for (const worker of this.workers.values()) worker.removeNetwork();
    deleteNamespace(this.netns);
    this.api.close();
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

type ContainerStateValue =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; reason: string; startedAt?: string; finishedAt: string; message?: string } };

/** What a kubelet reports of one container. */
interface ContainerStatus {
  readonly container: Container;
  state: ContainerStateValue;
  lastState: ContainerStateValue | Record<string, never>;
  restartCount: number;
  started: boolean;
  ready: boolean;
  proc?: ContainerProcess;
  /** Consecutive crashes, for the back-off. */
  crashes: number;
}

/** One Pod on the node, from first sight to its deletion. */
class PodWorker {
  private pod: any;
  private harnessPod?: Pod;
  private ipN?: number;
  private volumes?: VolumeDirs;
  private readonly init: ContainerStatus[];
  private readonly main: ContainerStatus[];
  private initialized = false;
  private terminal: 'Succeeded' | 'Failed' | undefined;
  private stopping = false;
  private abandoned = false;
  private deleted = false;
  private startTime = apiTime();
  private readonly transitions = new Map<string, { status: string; at: string }>();
  private flushing = false;
  private dirty = false;
  private lastSent = '';
  private terminating?: Promise<void>;
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly agent: NodeAgent, pod: any) {
    this.pod = pod;
    const status = (c: Container): ContainerStatus => ({ container: c, state: { waiting: { reason: 'ContainerCreating' } }, lastState: {}, restartCount: 0, started: false, ready: false, crashes: 0 });
    this.init = (pod.spec.initContainers ?? []).map(status);
    this.main = pod.spec.containers.map((c: Container) => {
      const s = status(c);
      if (this.init.length > 0) s.state = { waiting: { reason: 'PodInitializing' } };
      return s;
    });
  }

  private get id(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  /** The latest object from the apiserver; a deletionTimestamp starts the graceful stop. */
  public update(pod: any): void {
    this.pod = pod;
    if (pod.metadata.deletionTimestamp && !this.terminating) this.terminating = this.terminate();
  }

  public async run(): Promise<void> {
    try {
      const { ip, n } = this.agent.allocateIp();
      this.ipN = n;
      const netns = this.agent.addPodNetwork(n, ip, this.pod.metadata.namespace);
      this.harnessPod = new Pod(this.pod.metadata.name, ip, netns, this.pod.spec, this.pod.metadata.labels, this.agent.podDir(this.pod));
      this.markDirty();
      // Volumes: retried like a kubelet retries a mount (a Secret created late, a claim bound late).
      for (;;) {
        if (this.stopping) return;
        try {
          const sources = await this.volumeSources();
          this.volumes = prepareVolumes(this.harnessPod, sources);
          break;
        } catch (e) {
          if (!(e instanceof ContainerConfigError)) throw e;
          for (const s of [...this.init, ...this.main]) s.state = { waiting: { reason: 'ContainerCreating', message: e.message } };
          this.markDirty();
          await this.sleep(2000);
        }
      }
      for (const s of this.init) {
        const ok = await this.runInit(s);
        if (!ok) return;
      }
      this.initialized = true;
      for (const s of this.main) s.state = { waiting: { reason: 'ContainerCreating' } };
      this.markDirty();
      await Promise.all(this.main.map((s) => this.runContainer(s)));
      if (!this.stopping) {
        this.terminal = this.main.every((s) => 'terminated' in s.state && s.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed';
        this.markDirty();
        this.removeNetwork();
      }
    } catch (e) {
      this.agent.reportError(new Error(`pod ${this.id}: ${(e as Error).message}`));
    }
  }

  /** Runs an init container until it exits 0 (restarting it unless restartPolicy is Never); false when the pod failed. */
  private async runInit(s: ContainerStatus): Promise<boolean> {
    for (;;) {
      if (this.stopping) return false;
      const code = await this.startAndWait(s, false);
      if (code === 0) return true;
      if (this.stopping) return false;
      if (this.pod.spec.restartPolicy === 'Never') {
        this.terminal = 'Failed';
        this.markDirty();
        this.removeNetwork();
        return false;
      }
      await this.backOff(s);
    }
  }

  /** Runs a container for the pod's life: restarts per restartPolicy with back-off. */
  private async runContainer(s: ContainerStatus): Promise<void> {
    const policy = this.pod.spec.restartPolicy ?? 'Always';
    for (;;) {
      if (this.stopping) return;
      const code = await this.startAndWait(s, true);
      if (this.stopping) return;
      if (code === undefined) {
        await this.sleep(2000);
        continue;
      }
      if (policy === 'Never' || (policy === 'OnFailure' && code === 0)) return;
      await this.backOff(s);
    }
  }

  /** Starts the container and waits for its exit; undefined when it could not be created. */
  private async startAndWait(s: ContainerStatus, probed: boolean): Promise<number | undefined> {
    const pod = this.harnessPod!;
    const c = s.container;
    let proc: ContainerProcess;
    try {
      proc = await this.agent.runtime.start(pod, c, this.volumes!, await this.envSources(), !probed);
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e;
      s.state = { waiting: { reason: 'CreateContainerConfigError', message: e.message } };
      this.markDirty();
      if (!probed) await this.sleep(2000);
      return undefined;
    }
    if (this.stopping) signalGroup(proc, 'SIGKILL');
    const startedAt = apiTime();
    s.proc = proc;
    s.state = { running: { startedAt } };
    s.started = !probed || c.startupProbe === undefined;
    s.ready = false;
    this.markDirty();
    if (probed) void this.probe(s, proc);
    const began = Date.now();
    const code = (await proc.exited) ?? 137;
    s.ready = false;
    s.started = false;
    s.state = { terminated: { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt, finishedAt: apiTime() } };
    if (Date.now() - began > 600_000) s.crashes = 0;
    this.markDirty();
    return code;
  }

  /** The kubelet's crash back-off: the first restart at once, then 10 s doubling to 300 s. */
  private async backOff(s: ContainerStatus): Promise<void> {
    s.crashes++;
    const wait = s.crashes <= 1 ? 0 : Math.min(300_000, 10_000 * 2 ** (s.crashes - 2));
    s.lastState = s.state;
    if (wait > 0) {
      s.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${wait / 1000}s restarting failed container=${s.container.name} pod=${this.pod.metadata.name}` } };
      this.markDirty();
      await this.sleep(wait);
    }
    // Counted when the next instance starts, as the kubelet counts.
    s.restartCount++;
  }

  /** Startup, then readiness and liveness probes of one run of a container. */
  private async probe(s: ContainerStatus, proc: ContainerProcess): Promise<void> {
    const c = s.container;
    const pod = this.harnessPod!;
    const target = {
      exec: async (command: string[], timeoutMs: number) => this.agent.runtime.exec(pod, c, this.volumes!, await this.envSources(), command, timeoutMs),
      request: (url: string, init: RequestInit) => this.agent.request(url, init),
    };
    const alive = () => proc.running && !this.stopping && s.proc === proc;
    const attempt = (probe: Probe) => probeOnce(pod, c, probe, target).catch(() => false);
    try {
      if (c.startupProbe) {
        const p = c.startupProbe;
        const until = Date.now() + ((p.initialDelaySeconds ?? 0) + (p.failureThreshold ?? 3) * (p.periodSeconds ?? 10)) * 1000;
        for (;;) {
          if (!alive()) return;
          if (await attempt(p)) break;
          if (Date.now() > until) {
            // The kubelet kills a container that fails its startup probe, and restarts it per policy.
            await this.killContainer(s, proc);
            return;
          }
          await delay(500);
        }
        s.started = true;
        this.markDirty();
      }
      const readiness = c.readinessProbe;
      if (!readiness) {
        s.ready = true;
        this.markDirty();
      } else {
        while (alive() && !(await attempt(readiness))) await delay(500);
        if (!alive()) return;
        s.ready = true;
        this.markDirty();
      }
      const loops: Promise<void>[] = [];
      if (readiness) {
        loops.push(this.periodic(readiness, alive, attempt, (ok) => {
          if (s.ready !== ok) {
            s.ready = ok;
            this.markDirty();
          }
        }));
      }
      if (c.livenessProbe) {
        loops.push(this.periodic(c.livenessProbe, alive, attempt, (ok) => {
          if (!ok) void this.killContainer(s, proc);
        }));
      }
      await Promise.all(loops);
    } catch (e) {
      this.agent.reportError(new Error(`pod ${this.id}: probe of ${c.name}: ${(e as Error).message}`));
    }
  }

  /** Runs a probe every periodSeconds; `decide` hears the verdict after failureThreshold failures or successThreshold successes. */
  private async periodic(probe: Probe, alive: () => boolean, attempt: (p: Probe) => Promise<boolean>, decide: (ok: boolean) => void): Promise<void> {
    let failures = 0;
    let successes = 0;
    for (;;) {
      await delay((probe.periodSeconds ?? 10) * 1000);
      if (!alive()) return;
      if (await attempt(probe)) {
        failures = 0;
        if (++successes >= (probe.successThreshold ?? 1)) decide(true);
      } else {
        successes = 0;
        if (++failures >= (probe.failureThreshold ?? 3)) {
          decide(false);
          failures = 0;
        }
      }
    }
  }

  /** Stops one container as the kubelet does for a failed liveness or startup probe: SIGTERM, SIGKILL after the grace period. */
  private async killContainer(s: ContainerStatus, proc: ContainerProcess): Promise<void> {
    if (!proc.running) return;
    signalGroup(proc, 'SIGTERM');
    const grace = (this.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    await Promise.race([proc.exited, timeout(grace)]);
    signalGroup(proc, 'SIGKILL');
  }

  /** The graceful stop of a deleted pod, then its final status and its deletion for good. */
  private async terminate(): Promise<void> {
    this.stopping = true;
    this.wake();
    const graceS = this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30;
    const deadline = Date.now() + graceS * 1000;
    const pod = this.harnessPod;
    if (pod && this.volumes) {
      const sources = await this.envSources().catch(() => undefined);
      await Promise.all([...this.init, ...this.main].map(async (s) => {
        const proc = s.proc;
        if (!proc?.running) return;
        const hook = s.container.lifecycle?.preStop?.exec?.command;
        if (hook && sources && this.main.includes(s)) {
          const left = deadline - Date.now();
          if (left > 0) {
            await Promise.race([this.agent.runtime.exec(pod, s.container, this.volumes!, sources, hook, left).catch(() => undefined), timeout(left)]);
          }
        }
        signalGroup(proc, 'SIGTERM');
        await Promise.race([proc.exited, timeout(Math.max(0, deadline - Date.now()))]);
        signalGroup(proc, 'SIGKILL');
        await Promise.race([proc.exited, timeout(5000)]);
      }));
    }
    this.removeNetwork();
    if (this.agent.isStopped) return;
    await this.flush();
    try {
      await this.agent.client.request('DELETE', `/api/v1/namespaces/${this.pod.metadata.namespace}/pods/${this.pod.metadata.name}`,
        { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: this.pod.metadata.uid } });
    } catch (e) {
      if (!(e instanceof ApiError && (e.status === 404 || e.status === 409))) this.agent.reportError(e);
    }
    this.deleted = true;
  }

  /** The pod is gone from the API: kill what still runs, at once. */
  public async kill(): Promise<void> {
    this.stopping = true;
    this.deleted = true;
    this.wake();
    for (const s of [...this.init, ...this.main]) if (s.proc) signalGroup(s.proc, 'SIGKILL');
    await Promise.all([...this.init, ...this.main].map((s) => (s.proc ? Promise.race([s.proc.exited, timeout(5000)]) : undefined)));
    this.removeNetwork();
  }

  /** The agent stops: no more API calls (the processes are killed by the agent). */
  public abandon(): void {
    this.stopping = true;
    this.abandoned = true;
    this.wake();
  }

  public removeNetwork(): void {
    const pod = this.harnessPod;
    if (!pod || this.ipN === undefined) return;
    if ([...this.init, ...this.main].some((s) => s.proc?.running) && !this.abandoned) {
      for (const s of [...this.init, ...this.main]) if (s.proc) signalGroup(s.proc, 'SIGKILL');
    }
    this.agent.removePodNetwork(pod.netns);
    this.agent.releaseIp(this.ipN);
    this.ipN = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  /** Ends every back-off and retry wait at once (the pod stops). */
  private wake(): void {
    for (const done of [...this.sleepers]) done();
  }

  // ------------------------------------------------------------ sources

  private references(): { configMaps: Set<string>; secrets: Set<string> } {
    const configMaps = new Set<string>();
    const secrets = new Set<string>();
    for (const v of this.pod.spec.volumes ?? []) {
      if (v.configMap?.name) configMaps.add(v.configMap.name);
      if (v.secret?.secretName) secrets.add(v.secret.secretName);
      for (const src of v.projected?.sources ?? []) {
        if (src.configMap?.name) configMaps.add(src.configMap.name);
        if (src.secret?.name) secrets.add(src.secret.name);
      }
    }
    for (const c of [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers]) {
      for (const e of c.env ?? []) {
        if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
        if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
      }
      for (const e of c.envFrom ?? []) {
        if (e.configMapRef?.name) configMaps.add(e.configMapRef.name);
        if (e.secretRef?.name) secrets.add(e.secretRef.name);
      }
    }
    return { configMaps, secrets };
  }

  /** The pod's Secrets and ConfigMaps, read from the apiserver now (absent ones left out). */
  private async objects(): Promise<{ configMaps: Record<string, Record<string, string>>; secrets: SecretValues }> {
    const ns = this.pod.metadata.namespace;
    const refs = this.references();
    const configMaps: Record<string, Record<string, string>> = {};
    const secrets: SecretValues = {};
    await Promise.all([
      ...[...refs.configMaps].map(async (name) => {
        const cm = await this.agent.client.find(`/api/v1/namespaces/${ns}/configmaps/${name}`);
        if (cm) configMaps[name] = cm.data ?? {};
      }),
      ...[...refs.secrets].map(async (name) => {
        const secret = await this.agent.client.find(`/api/v1/namespaces/${ns}/secrets/${name}`);
        if (secret) {
          secrets[name] = Object.fromEntries(Object.entries<string>(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
        }
      }),
    ]);
    return { configMaps, secrets };
  }

  private async envSources(): Promise<EnvSources> {
    const { configMaps, secrets } = await this.objects();
    const pod = this.pod;
    return {
      secrets,
      configMaps,
      fields: {
        'metadata.name': pod.metadata.name,
        'metadata.namespace': pod.metadata.namespace,
        'metadata.uid': pod.metadata.uid,
        'spec.nodeName': this.agent.name,
        'spec.serviceAccountName': pod.spec.serviceAccountName ?? 'default',
        'status.podIP': this.harnessPod!.ip,
        'status.hostIP': NODE_ADDRESS,
      },
    };
  }

  /** Everything prepareVolumes needs, read from the apiserver first (it is synchronous). */
  private async volumeSources(): Promise<VolumeSources> {
    const ns = this.pod.metadata.namespace;
    const { configMaps, secrets } = await this.objects();
    const claims = new Map<string, string>();
    const projected = new Map<string, ProjectedFile[]>();
    for (const v of this.pod.spec.volumes ?? []) {
      if (v.persistentVolumeClaim) {
        const name = v.persistentVolumeClaim.claimName;
        const pvc = await this.agent.client.find(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${name}`);
        if (!pvc) throw new ContainerConfigError(`volume ${v.name}: persistentvolumeclaim "${name}" not found`);
        if (pvc.status?.phase !== 'Bound') throw new ContainerConfigError(`volume ${v.name}: persistentvolumeclaim "${name}" is not bound`);
        const pv = await this.agent.client.get(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`);
        const dir = pv.spec.hostPath?.path ?? pv.spec.local?.path;
        if (!dir) throw new ContainerConfigError(`volume ${v.name}: PersistentVolume ${pv.metadata.name} is neither hostPath nor local`);
        claims.set(name, dir);
      }
      if (v.projected) projected.set(v.name, await this.projectedFiles(v, configMaps, secrets));
    }
    return {
      configMap: (name) => configMaps[name],
      secret: (name) => secrets[name],
      claimDir: (_pod, claim) => claims.get(claim)!,
      projected: (_pod, v) => projected.get(v.name)!,
    };
  }

  private async projectedFiles(v: any, configMaps: Record<string, Record<string, string>>, secrets: SecretValues): Promise<ProjectedFile[]> {
    const files: ProjectedFile[] = [];
    const pod = this.pod;
    for (const src of v.projected.sources ?? []) {
      if (src.serviceAccountToken) {
        const sa = pod.spec.serviceAccountName ?? 'default';
        const token = await this.agent.client.request('POST', `/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${sa}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            ...(src.serviceAccountToken.audience ? { audiences: [src.serviceAccountToken.audience] } : {}),
            expirationSeconds: src.serviceAccountToken.expirationSeconds ?? 3600,
            boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name, uid: pod.metadata.uid },
          },
        });
        files.push({ path: src.serviceAccountToken.path, content: token.status.token, mode: 0o644 });
      } else if (src.configMap || src.secret) {
        const name = src.configMap?.name ?? src.secret?.name;
        const data = src.configMap ? configMaps[name] : secrets[name];
        if (!data) {
          if ((src.configMap ?? src.secret).optional) continue;
          throw new ContainerConfigError(`volume ${v.name}: ${src.configMap ? 'configmap' : 'secret'} "${name}" not found`);
        }
        const items = (src.configMap ?? src.secret).items ?? Object.keys(data).map((k: string) => ({ key: k, path: k }));
        for (const item of items) files.push({ path: item.path, content: data[item.key] ?? '', mode: item.mode });
      } else if (src.downwardAPI) {
        for (const item of src.downwardAPI.items ?? []) {
          const field = item.fieldRef?.fieldPath as string | undefined;
          let content: string | undefined;
          if (field === 'metadata.namespace') content = pod.metadata.namespace;
          else if (field === 'metadata.name') content = pod.metadata.name;
          else if (field === 'metadata.uid') content = pod.metadata.uid;
          else if (field === 'metadata.labels') content = Object.entries(pod.metadata.labels ?? {}).map(([k, val]) => `${k}="${val}"`).join('\n');
          if (content === undefined) throw new ContainerConfigError(`volume ${v.name}: downwardAPI item ${item.path} is not supported by the node agent`);
          files.push({ path: item.path, content, mode: item.mode });
        }
      } else {
        throw new ContainerConfigError(`volume ${v.name}: projected source ${Object.keys(src).join(',')} is not supported by the node agent`);
      }
    }
    return files;
  }

  // ------------------------------------------------------------ status

  private markDirty(): void {
    this.dirty = true;
    void this.flush();
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.abandoned || this.deleted || this.agent.isStopped) return;
    this.flushing = true;
    try {
      while (this.dirty && !this.abandoned && !this.deleted) {
        this.dirty = false;
        const status = this.status();
        const text = JSON.stringify(status);
        if (text === this.lastSent) continue;
        try {
          await this.agent.client.request('PATCH', `/api/v1/namespaces/${this.pod.metadata.namespace}/pods/${this.pod.metadata.name}/status`,
            { metadata: { uid: this.pod.metadata.uid }, status }, 'application/strategic-merge-patch+json');
          this.lastSent = text;
        } catch (e) {
          if (e instanceof ApiError && e.status === 404) return;
          this.agent.reportError(e);
          this.dirty = true;
          await delay(1000);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private condition(type: string, ok: boolean, reason?: string): any {
    const status = ok ? 'True' : 'False';
    let t = this.transitions.get(type);
    if (!t || t.status !== status) {
      t = { status, at: apiTime() };
      this.transitions.set(type, t);
    }
    return { type, status, lastProbeTime: null, lastTransitionTime: t.at, ...(reason && !ok ? { reason } : {}) };
  }

  private containerStatus(s: ContainerStatus, n: number): any {
    return {
      name: s.container.name,
      image: s.container.image,
      imageID: '',
      ...(s.proc ? { containerID: `harness://${this.pod.metadata.uid}-${s.container.name}-${n}` } : {}),
      state: s.state,
      lastState: s.lastState,
      restartCount: s.restartCount,
      started: s.started,
      ready: s.ready,
    };
  }

  private status(): any {
    const ready = this.terminal === undefined && !this.stopping && this.initialized && this.main.every((s) => s.ready);
    const anyStarted = this.main.some((s) => !('waiting' in s.state && s.restartCount === 0));
    const phase = this.terminal ?? (this.initialized && anyStarted ? 'Running' : 'Pending');
    const notReadyReason = this.terminal ? 'PodCompleted' : 'ContainersNotReady';
    const pod = this.harnessPod;
    return {
      phase,
      conditions: [
        this.condition('PodReadyToStartContainers', pod !== undefined && this.terminal === undefined),
        this.condition('Initialized', this.initialized || this.init.length === 0, 'ContainersNotInitialized'),
        this.condition('ContainersReady', ready, notReadyReason),
        this.condition('Ready', ready, notReadyReason),
      ],
      hostIP: NODE_ADDRESS,
      hostIPs: [{ ip: NODE_ADDRESS }],
      ...(pod ? { podIP: pod.ip, podIPs: [{ ip: pod.ip }] } : {}),
      startTime: this.startTime,
      ...(this.init.length > 0 ? { initContainerStatuses: this.init.map((s, i) => this.containerStatus(s, i)) } : {}),
      containerStatuses: this.main.map((s, i) => this.containerStatus(s, i)),
    };
  }
}
