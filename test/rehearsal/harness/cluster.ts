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
 * - Images. No image is pulled. An image maps to local programs (the table in images.ts): the MLflow
 *   image to this repository's .venv (PATH starts with .venv/bin, so `mlflow` and `python` are
 *   the virtualenv's; its MLflow version must equal the image tag's; the image has Python 3.11
 *   too), plus packages the `-full` image carries that python/requirements.txt lacks
 *   (test/rehearsal/mlflow-image-extras.txt: prometheus-flask-exporter, Flask-WTF; installed
 *   into .cache/rehearsal and put on PYTHONPATH); postgres to Debian's PostgreSQL 15
 *   (/usr/lib/postgresql/15/bin; the major version must equal the tag's); node to the `node`
 *   running jest (Node 20 here, the image has Node 22; the bundles target node20);
 *   prom/pushgateway to Debian's prometheus-pushgateway (1.5.1 for the image's 1.11.0: the
 *   flags, push API and exposition the stack uses are the same); chrislusf/seaweedfs (the node
 *   tier's in-cluster S3 store) to the `weed` scripts/setup-seaweedfs.sh builds, whose release
 *   must be the tag's (only `command: [weed]`: the image's /entrypoint.sh is not emulated).
 *   The virtualenv's interpreter and the cache holding `weed` sit under /root (pyenv,
 *   ~/.cache), which the pod's uid cannot enter: for such images' processes a shell in the
 *   process's private mount namespace covers /root with an empty 0755 tmpfs holding only a
 *   bind mount of the interpreter's (or weed's) directory.
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
 *
 * The parts: manifests.ts (the objects, typed), network.ts (namespaces, ClusterIPs, DNS,
 * endpoints, the gateway), images.ts (image -> local programs, entrypoints), volumes.ts,
 * processes.ts (setpriv, process groups, logs), probes.ts, kubelet.ts (env and paths),
 * runtime.ts (a container started, exec'd in, a client run); this file starts and stops pods
 * with them. The node agent (test/node/node-agent.ts) runs the Pods of a real control plane
 * with the same parts, Secrets and ConfigMaps read from the apiserver (volumes.ts's sources).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ensurePythonExtras } from './images';
import { ContainerConfigError, EnvSources, SecretValues } from './kubelet';
import { Manifests, type WorkloadKind } from './manifests';
import { ClusterNetwork, type HttpResult, type RequestInit, removeStaleNamespaces } from './network';
import { Pod, PodStartError } from './pod';
import { waitReady } from './probes';
import { type ContainerProcess, IP, Processes, SETPRIV, signalGroup, timeout, waitFor } from './processes';
import { ContainerRuntime, runAsFor } from './runtime';
import { type VolumeSources, prepareVolumes, rehearsalVolumeSources } from './volumes';

const REPO = path.resolve(__dirname, '..', '..', '..');
const LOGS_KEPT = path.join(REPO, '.cache', 'rehearsal', 'last-run-logs');

/** Options of a rehearsal cluster. */
export interface RehearsalOptions {
  /** Synthesized objects (e.g. `Testing.synth(chart)`), all in one namespace. */
  readonly objects: readonly unknown[];
  /** Values of the Secrets the manifests reference: name -> key -> value. */
  readonly secrets: SecretValues;
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
  private readonly manifests: Manifests;
  private readonly root: string;
  private readonly secrets: SecretValues;
  private readonly network: ClusterNetwork;
  private readonly processes: Processes;
  private readonly pods = new Map<string, Pod>();
  private proxy?: ContainerProcess;
  private readonly runtime: ContainerRuntime;
  private readonly volumeSources: VolumeSources;
  private readonly onExit = () => this.teardownSync();
  private tornDown = false;

  private constructor(options: RehearsalOptions) {
    this.manifests = new Manifests(options.objects);
    this.namespace = this.manifests.namespace;
    this.secrets = JSON.parse(JSON.stringify(options.secrets));
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-rh-'));
    fs.chmodSync(this.root, 0o755);
    this.network = new ClusterNetwork(this.manifests, this.root);
    this.processes = new Processes(path.join(this.root, 'stage'));
    this.runtime = new ContainerRuntime(this.processes, this.root);
    this.volumeSources = rehearsalVolumeSources(this.manifests, this.secrets, this.root, runAsFor);
    process.on('exit', this.onExit);
  }

  /** Changes a Secret value; pods started afterwards see it (as after `kubectl apply` of the Secret and a pod restart). */
  public setSecret(name: string, key: string, value: string): void {
    (this.secrets[name] ??= {})[key] = value;
  }

  /** The running pod of a workload. */
  public pod(workloadName: string): Pod {
    const pod = [...this.pods.values()].find((p) => p.workload?.metadata.name === workloadName);
    if (!pod) throw new Error(`no running pod of ${workloadName}`);
    return pod;
  }

  /**
   * Starts one pod of a Deployment or StatefulSet: init containers in order, then the
   * containers, then waits until every container passed its startup and readiness probes.
   * Throws PodStartError (and stops the pod) when a container fails.
   */
  public async startPod(kind: WorkloadKind, name: string, options: { timeoutMs?: number } = {}): Promise<Pod> {
    const workload = this.manifests.workload(kind, name);
    const podName = `${name}-0`;
    if (this.pods.has(podName)) throw new Error(`pod ${podName} is already running`);
    const dir = path.join(this.root, 'pods', `${podName}-${Date.now()}`);
    fs.mkdirSync(dir, { recursive: true });
    const { ip, netns } = this.network.addPod(podName);
    const pod = new Pod(podName, ip, netns, workload.spec.template.spec, workload.spec.template.metadata?.labels, dir, workload);
    this.pods.set(podName, pod);
    try {
      const spec = pod.spec;
      const volumes = prepareVolumes(pod, this.volumeSources);
      const sources = this.envSources(pod);
      for (const c of spec.initContainers ?? []) {
        const proc = await this.runtime.start(pod, c, volumes, sources, true);
        pod.initContainers.set(c.name, proc);
        const code = await proc.exited;
        if (code !== 0) {
          throw new PodStartError(
            `pod ${podName} (${kind} ${name}): init container "${c.name}" exited with code ${code}\n--- last lines of ${c.name} ---\n${proc.tail()}`,
            c.name, code ?? undefined, proc.log);
        }
      }
      for (const c of spec.containers) {
        pod.containers.set(c.name, await this.runtime.start(pod, c, volumes, sources, false));
      }
      const deadline = Date.now() + (options.timeoutMs ?? 300_000);
      await Promise.all(spec.containers.map((c) => waitReady(pod, c, deadline, {
        exec: (command, timeoutMs) => this.runtime.exec(pod, c, volumes, sources, command, timeoutMs),
        request: (url, init) => this.network.request(url, init),
      })));
      pod.ready = true;
      this.network.writeEndpoints(this.pods.values());
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
    const pod = this.pods.get(podName) ?? [...this.pods.values()].find((p) => p.workload?.metadata.name === podName);
    if (!pod) return;
    pod.ready = false;
    this.network.writeEndpoints(this.pods.values());
    const graceful = options.graceful ?? true;
    const running = [...pod.containers.values(), ...pod.initContainers.values()].filter((c) => c.running);
    if (graceful) {
      const graceMs = (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      const deadline = Date.now() + graceMs;
      const volumes = prepareVolumes(pod, this.volumeSources, false);
      await Promise.all(pod.spec.containers.map(async (c) => {
        const hook = c.lifecycle?.preStop?.exec?.command;
        if (hook && pod.containers.get(c.name)?.running) {
          await this.runtime.exec(pod, c, volumes, this.envSources(pod), hook, Math.max(1000, deadline - Date.now())).catch(() => undefined);
        }
      }));
      for (const c of running) signalGroup(c, 'SIGTERM');
      await Promise.race([Promise.all(running.map((c) => c.exited)), timeout(Math.max(0, deadline - Date.now()))]);
    }
    for (const c of running) signalGroup(c, 'SIGKILL');
    await Promise.all(running.map((c) => Promise.race([c.exited, timeout(5000)])));
    for (const c of running) this.processes.forget(c);
    this.pods.delete(pod.name);
    this.network.removePod(pod.netns);
  }

  /**
   * An HTTP request from inside the cluster: the URL's host is resolved through the cluster's
   * hosts file, and the Host header is the URL's host and port, as an in-cluster client sends.
   */
  public request(url: string, init: RequestInit = {}): Promise<HttpResult> {
    return this.network.request(url, init);
  }

  /**
   * Runs a client program (not a pod: a training job, a CLI) in the node namespace with the
   * programs of `image`, as uid/gid 1000, and returns its exit code and output.
   */
  public run(argv: string[], options: { image: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; output: string }> {
    return this.runtime.run(this.network.node, argv, options);
  }

  /** Stops everything and removes namespaces, /etc/netns entries and temp files. Safe to call twice. */
  public async teardown(): Promise<void> {
    if (this.tornDown) return;
    for (const pod of [...this.pods.keys()]) await this.stopPod(pod, { graceful: false }).catch(() => undefined);
    this.teardownSync();
  }

  // ---------------------------------------------------------------- internals

  private async boot(): Promise<void> {
    const proxyConfig = this.network.boot();
    const config = path.join(this.root, 'kube-proxy.json');
    fs.writeFileSync(config, JSON.stringify(proxyConfig));
    const proxy = this.processes.spawn('kube-proxy', [process.execPath, path.join(__dirname, 'kube-proxy.js'), config],
      { netns: this.network.node, runAs: { uid: 0, gid: 0, groups: [] }, env: { PATH: '/usr/bin:/bin' }, cwd: this.root },
      path.join(this.root, 'logs', 'kube-proxy.log'));
    this.proxy = proxy;
    await waitFor('kube-proxy', 10_000, async () => {
      if (!proxy.running) throw new Error(`kube-proxy exited: ${proxy.log}`);
      return proxy.log.includes('ready');
    });
    ensurePythonExtras();
  }

  /** Where a container's env comes from: the test's Secret values and the synthesized ConfigMaps. */
  private envSources(pod: Pod): EnvSources {
    return {
      secrets: this.secrets,
      configMaps: this.manifests.configMaps,
      fields: { 'metadata.name': pod.name, 'metadata.namespace': this.namespace, 'status.podIP': pod.ip, 'spec.nodeName': 'rehearsal' },
    };
  }

  private teardownSync(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    process.off('exit', this.onExit);
    this.processes.killAll();
    if (this.proxy) signalGroup(this.proxy, 'SIGKILL');
    this.network.removeAll();
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
