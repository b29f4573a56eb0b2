/**
 * The cluster network on one machine: a "node" network namespace with a bridge (10.244.0.1),
 * one namespace per pod on it (eth0, 10.244.0.x), ClusterIPs (10.96.0.x) on the node's
 * loopback for kube-proxy.js, hosts files that stand in for cluster DNS, the endpoints file
 * kube-proxy reads, and the gateway the test process sends its requests through.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { type Manifests, resolvePort, selects } from './manifests';
import type { Pod } from './pod';
import { IP } from './processes';

export const POD_SUBNET = '10.244.0';
const SERVICE_SUBNET = '10.96.0';
const CLUSTER_DOMAIN = 'cluster.local';

/** An HTTP response read whole. */
export interface HttpResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface RequestInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly timeoutMs?: number;
}

/** Where kube-proxy.js finds its Services, the endpoints and the gateway socket. */
export interface KubeProxyConfig {
  readonly services: { readonly ip: string; readonly port: number }[];
  readonly endpointsFile: string;
  readonly gatewaySocket: string;
}

export class ClusterNetwork {
  /** The node's namespace: kube-proxy and client programs run here. */
  public readonly node = `mlops-rh-${process.pid}`;
  private readonly clusterIps = new Map<string, string>();
  private readonly podIps = new Map<string, string>();
  private readonly namespaces: string[] = [];
  private readonly gatewaySocket: string;
  private readonly endpointsFile: string;

  /** `root`: the run's directory, for the gateway socket and the endpoints file. */
  constructor(private readonly manifests: Manifests, root: string) {
    this.gatewaySocket = path.join(root, 'gateway.sock');
    this.endpointsFile = path.join(root, 'endpoints.json');
  }

  /** Creates the node namespace, bridge and ClusterIPs; returns what kube-proxy needs. */
  public boot(): KubeProxyConfig {
    addNodeNamespace(this.node);
    this.namespaces.push(this.node);
    let next = 10;
    for (const svc of this.manifests.services) {
      if (svc.spec.clusterIP === 'None') continue;
      const address = `${SERVICE_SUBNET}.${next++}`;
      this.clusterIps.set(svc.metadata.name, address);
      ip(['-n', this.node, 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    }
    // Pod IPs of StatefulSet pods are allotted up front: headless Service names point at them.
    for (const sts of this.manifests.statefulSets) {
      for (let i = 0; i < (sts.spec.replicas ?? 1); i++) this.podIp(`${sts.metadata.name}-${i}`);
    }
    this.writeHosts(this.node);
    this.writeEndpoints([]);
    return {
      services: this.manifests.services.flatMap((svc) => {
        const address = this.clusterIps.get(svc.metadata.name);
        return address === undefined ? [] : svc.spec.ports.map((p) => ({ ip: address, port: p.port }));
      }),
      endpointsFile: this.endpointsFile,
      gatewaySocket: this.gatewaySocket,
    };
  }

  /** A pod's own namespace on the bridge, with its IP (kept across restarts of the pod). */
  public addPod(podName: string): { ip: string; netns: string } {
    const address = this.podIp(podName);
    const n = Number(address.split('.')[3]);
    const netns = `${this.node}-p${n}`;
    this.namespaces.push(netns);
    addPodNamespace(this.node, netns, n, address);
    this.writeHosts(netns);
    return { ip: address, netns };
  }

  public removePod(netns: string): void {
    removePodNamespace(this.node, netns);
    const at = this.namespaces.indexOf(netns);
    if (at >= 0) this.namespaces.splice(at, 1);
  }

  /** Deletes every namespace this network made, pods first. */
  public removeAll(): void {
    for (const netns of [...this.namespaces].reverse()) deleteNamespace(netns);
  }

  /** Ready pods per Service port, for kube-proxy; written atomically. */
  public writeEndpoints(pods: Iterable<Pod>): void {
    const endpoints: Record<string, { ip: string; port: number }[]> = {};
    const all = [...pods];
    for (const svc of this.manifests.services) {
      const address = this.clusterIps.get(svc.metadata.name);
      if (address === undefined) continue;
      for (const port of svc.spec.ports) {
        const list: { ip: string; port: number }[] = [];
        for (const pod of all) {
          if (!pod.ready || !selects(svc.spec.selector, pod.labels)) continue;
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

  /**
   * An HTTP request from inside the cluster: the URL's host is resolved through the cluster's
   * hosts file, and the Host header is the URL's host and port, as an in-cluster client sends.
   */
  public request(url: string, init: RequestInit = {}): Promise<HttpResult> {
    return requestThrough(this.gatewaySocket, url, init);
  }

  private podIp(podName: string): string {
    let address = this.podIps.get(podName);
    if (address === undefined) {
      address = `${POD_SUBNET}.${10 + this.podIps.size}`;
      this.podIps.set(podName, address);
    }
    return address;
  }

  /** The hosts file of a namespace: every Service name (and StatefulSet pod name) of the stack. */
  private writeHosts(netns: string): void {
    const namespace = this.manifests.namespace;
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    const names = (svc: string) => [svc, `${svc}.${namespace}`, `${svc}.${namespace}.svc`, `${svc}.${namespace}.svc.${CLUSTER_DOMAIN}`];
    for (const svc of this.manifests.services) {
      const name = svc.metadata.name;
      const clusterIp = this.clusterIps.get(name);
      if (clusterIp !== undefined) {
        lines.push(`${clusterIp} ${names(name).join(' ')}`);
        continue;
      }
      // Headless: the name resolves to the pods themselves.
      const sts = this.manifests.statefulSetOf(name);
      if (!sts) continue;
      for (let i = 0; i < (sts.spec.replicas ?? 1); i++) {
        const pod = `${sts.metadata.name}-${i}`;
        lines.push(`${this.podIp(pod)} ${names(name).join(' ')} ${pod}.${name}.${namespace}.svc.${CLUSTER_DOMAIN}`);
      }
    }
    const dir = path.join('/etc/netns', netns);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'hosts'), `${lines.join('\n')}\n`);
  }
}

/**
 * An HTTP request from inside the cluster through the gateway of kube-proxy.js at
 * `gatewaySocket`: the URL's host is resolved through the node namespace's hosts file, and the
 * Host header is the URL's host and port, as an in-cluster client sends.
 */
export function requestThrough(gatewaySocket: string, url: string, init: RequestInit = {}): Promise<HttpResult> {
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
        const socket = net.connect(gatewaySocket);
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

/** The node namespace: loopback up, bridge br0 with the pods' gateway address. */
export function addNodeNamespace(node: string): void {
  ip(['netns', 'add', node]);
  ip(['-n', node, 'link', 'set', 'lo', 'up']);
  ip(['-n', node, 'link', 'add', 'br0', 'type', 'bridge']);
  ip(['-n', node, 'addr', 'add', `${POD_SUBNET}.1/24`, 'dev', 'br0']);
  ip(['-n', node, 'link', 'set', 'br0', 'up']);
}

/** A pod's namespace `netns` on the node's bridge through veth vp<n>, with `address` on its eth0. */
export function addPodNamespace(node: string, netns: string, n: number, address: string): void {
  ip(['netns', 'add', netns]);
  ip(['-n', node, 'link', 'add', `vp${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  ip(['-n', node, 'link', 'set', `vp${n}`, 'master', 'br0', 'up']);
  ip(['-n', netns, 'link', 'set', 'lo', 'up']);
  ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', netns, 'route', 'add', 'default', 'via', `${POD_SUBNET}.1`]);
}

/** Removes a pod's namespace made by addPodNamespace (`<anything>-p<n>`). */
export function removePodNamespace(node: string, netns: string): void {
  // The node's end of the veth first: deleting it removes the pair at once, while the pod's
  // namespace (and with it eth0) is destroyed asynchronously after `ip netns del`, so a pod
  // started again right away could meet a leftover vp<n> ("File exists").
  const n = /-p(\d+)$/.exec(netns)?.[1];
  if (n !== undefined) {
    try {
      execFileSync(IP, ['-n', node, 'link', 'del', `vp${n}`], { stdio: 'ignore' });
    } catch {
      // Already gone with its namespace.
    }
  }
  deleteNamespace(netns);
}

/** Namespaces of earlier runs whose process is gone (a crash before teardown). */
export function removeStaleNamespaces(): void {
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

/** Runs `ip <args>`; the error carries ip's message. */
export function ip(args: string[]): void {
  try {
    execFileSync(IP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    throw new Error(`ip ${args.join(' ')}: ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? (e as Error).message}`);
  }
}

export function deleteNamespace(netns: string): void {
  try {
    execFileSync(IP, ['netns', 'del', netns], { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
  fs.rmSync(path.join('/etc/netns', netns), { recursive: true, force: true });
}
