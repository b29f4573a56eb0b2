/**
 * kube-proxy and cluster DNS of the node agent, from the apiserver: every 250 ms it lists the
 * Services and EndpointSlices (as system:kube-proxy, the identity the bootstrap policy gives
 * kube-proxy's read access), puts each ClusterIP on the node namespace's loopback and writes
 * the endpoints file the data plane (test/rehearsal/harness/kube-proxy.js, in the node
 * namespace) forwards by: `<clusterIP>:<port>` -> the ready endpoints of the slices of that
 * Service whose port has the Service port's name. The hosts files of the pod namespaces stand
 * in for CoreDNS, from the same objects: `<svc>.<ns>[.svc[.cluster.local]]` (and `<svc>` in the
 * pod's own namespace) -> the ClusterIP; for a headless Service, the ready addresses and
 * `<hostname>.<svc>.<ns>.svc.cluster.local` of each endpoint with a hostname (StatefulSet pods).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ip } from '../rehearsal/harness/network';
import { ApiClient } from './api';

const CLUSTER_DOMAIN = 'cluster.local';

export class ServiceProxy {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly addresses = new Set<string>();
  /** Network namespace -> the Kubernetes namespace of its short names. */
  private readonly hostsOf = new Map<string, string>();
  private services: any[] = [];
  private slices: any[] = [];
  private lastEndpoints = '';
  /** The error of the last round, for failure messages. */
  public lastError: string | undefined;

  constructor(private readonly api: ApiClient, private readonly node: string, private readonly endpointsFile: string) {}

  public start(): void {
    this.writeEndpoints({});
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = true;
      this.sync().then(() => { this.lastError = undefined; }, (e) => { this.lastError = (e as Error).message; }).finally(() => { this.ticking = false; });
    }, 250);
  }

  public stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Keeps the hosts file of `netns` current, with short names for `namespace`. */
  public addNamespace(netns: string, namespace: string): void {
    this.hostsOf.set(netns, namespace);
    this.writeHosts(netns, namespace);
  }

  public removeNamespace(netns: string): void {
    this.hostsOf.delete(netns);
  }

  /** One round: Services and slices read, addresses, endpoints and hosts files updated. */
  public async sync(): Promise<void> {
    const [services, slices] = await Promise.all([
      this.api.get('/api/v1/services'),
      this.api.get('/apis/discovery.k8s.io/v1/endpointslices'),
    ]);
    this.services = services.items;
    this.slices = slices.items;
    const endpoints: Record<string, { ip: string; port: number }[]> = {};
    const wanted = new Set<string>();
    for (const svc of this.services) {
      const clusterIP = svc.spec.clusterIP;
      if (!clusterIP || clusterIP === 'None' || svc.spec.type === 'ExternalName') continue;
      wanted.add(clusterIP);
      if (!this.addresses.has(clusterIP)) {
        ip(['-n', this.node, 'addr', 'add', `${clusterIP}/32`, 'dev', 'lo']);
        this.addresses.add(clusterIP);
      }
      for (const port of svc.spec.ports ?? []) {
        if ((port.protocol ?? 'TCP') !== 'TCP') continue;
        endpoints[`${clusterIP}:${port.port}`] = this.readyEndpoints(svc, port.name);
      }
    }
    for (const address of [...this.addresses]) {
      if (wanted.has(address)) continue;
      ip(['-n', this.node, 'addr', 'del', `${address}/32`, 'dev', 'lo']);
      this.addresses.delete(address);
    }
    this.writeEndpoints(endpoints);
    for (const [netns, namespace] of this.hostsOf) this.writeHosts(netns, namespace);
  }

  /** Ready addresses and the target port of one Service port, from the Service's EndpointSlices. */
  private readyEndpoints(svc: any, portName: string | undefined): { ip: string; port: number }[] {
    const out: { ip: string; port: number }[] = [];
    for (const slice of this.slicesOf(svc)) {
      const port = (slice.ports ?? []).find((p: any) => (p.name ?? '') === (portName ?? '') && (p.protocol ?? 'TCP') === 'TCP');
      if (!port?.port) continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        for (const address of ep.addresses ?? []) out.push({ ip: address, port: port.port });
      }
    }
    return out;
  }

  private slicesOf(svc: any): any[] {
    return this.slices.filter((s) => s.metadata.namespace === svc.metadata.namespace
      && s.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name && s.addressType === 'IPv4');
  }

  private writeEndpoints(endpoints: Record<string, { ip: string; port: number }[]>): void {
    const text = JSON.stringify(endpoints);
    if (text === this.lastEndpoints) return;
    const tmp = `${this.endpointsFile}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, this.endpointsFile);
    this.lastEndpoints = text;
  }

  /**
   * The hosts file `ip netns exec` binds over /etc/hosts. Rewritten in place (same inode), so
   * processes started before a Service existed see it too, as they would through DNS.
   */
  private writeHosts(netns: string, namespace: string): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    for (const svc of this.services) {
      const name = svc.metadata.name;
      const ns = svc.metadata.namespace;
      const names = [...(ns === namespace ? [name] : []), `${name}.${ns}`, `${name}.${ns}.svc`, `${name}.${ns}.svc.${CLUSTER_DOMAIN}`];
      if (svc.spec.clusterIP && svc.spec.clusterIP !== 'None') {
        lines.push(`${svc.spec.clusterIP} ${names.join(' ')}`);
        continue;
      }
      for (const slice of this.slicesOf(svc)) {
        for (const ep of slice.endpoints ?? []) {
          if (ep.conditions?.ready === false && !svc.spec.publishNotReadyAddresses) continue;
          for (const address of ep.addresses ?? []) {
            const own = ep.hostname ? [`${ep.hostname}.${name}.${ns}.svc.${CLUSTER_DOMAIN}`] : [];
            lines.push(`${address} ${[...names, ...own].join(' ')}`);
          }
        }
      }
    }
    const file = path.join('/etc/netns', netns, 'hosts');
    const text = `${lines.join('\n')}\n`;
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
}
