/**
 * A node that reports what a kubelet reports, and runs nothing: the Pulumi engine tier needs
 * workloads to become ready, because the Kubernetes provider waits for it (Deployments and
 * StatefulSets ready, Services with ready endpoints, PVCs bound), and the control plane of
 * test/controlplane/cluster.ts has no node.
 *
 * What it does, as a kubelet would through the API:
 * - registers the Node, keeps its Lease in kube-node-lease and its Ready condition fresh, so
 *   the node lifecycle controller never taints it and the scheduler places Pods on it;
 * - for every Pod the scheduler binds to it: status Running, every container started and
 *   ready, a pod IP from 10.244.0.0/16 (so the EndpointSlice and Endpoints controllers list
 *   it as a ready address);
 * - for every such Pod being deleted: deletes it for good (grace period 0), as a kubelet does
 *   once the containers have stopped.
 * What it does not do: start any container, run probes, mount volumes, report failures. A
 * Pod is "ready" here the moment it is scheduled; readiness of the real programs is the
 * rehearsal tier's business.
 */
import * as fs from 'fs';
import { ApiClient } from '../node/api';
import { NodeReport, nodeHeartbeat, registerNode } from '../node/node-status';

interface Kubeconfig {
  clusters: { cluster: { server: string; 'certificate-authority': string } }[];
  users: { user: { 'client-certificate': string; 'client-key': string } }[];
}

export class StatusNode {
  private readonly api: ApiClient;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private nextIp = 10;
  private readonly ips = new Map<string, string>();
  /** Errors of the last tick, for failure messages. */
  public lastError: string | undefined;
  private readonly report: NodeReport;

  constructor(kubeconfigFile: string, public readonly name = 'pulumi-engine-node') {
    const config = JSON.parse(fs.readFileSync(kubeconfigFile, 'utf8')) as Kubeconfig;
    this.api = new ApiClient(config.clusters[0].cluster.server, {
      ca: fs.readFileSync(config.clusters[0].cluster['certificate-authority']),
      cert: fs.readFileSync(config.users[0].user['client-certificate']),
      key: fs.readFileSync(config.users[0].user['client-key']),
    });
    this.report = {
      name, capacity: { cpu: '64', memory: '256Gi', pods: '250', 'ephemeral-storage': '1Ti' }, address: '127.0.0.1',
      osImage: 'status-only test node', containerRuntimeVersion: 'none://0', pressureMessage: 'a status-only node runs nothing',
    };
  }

  /** Registers the node and starts reporting (every second for Pods, every 10 s for the node). */
  async start(): Promise<void> {
    await registerNode(this.api, this.report);
    let beats = 0;
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = true;
      const work = (++beats % 10 === 0 ? nodeHeartbeat(this.api, this.report) : Promise.resolve()).then(() => this.reconcilePods());
      work.then(() => { this.lastError = undefined; }, (e) => { this.lastError = (e as Error).message; }).finally(() => { this.ticking = false; });
    }, 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.api.close();
  }

  private async reconcilePods(): Promise<void> {
    const pods = (await this.api.request('GET', `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.name}`)}`)).items as any[];
    for (const pod of pods) {
      const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
      if (pod.metadata.deletionTimestamp) {
        await this.api.request('DELETE', path, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } }).catch(() => undefined);
        continue;
      }
      if (pod.status?.phase === 'Running' && pod.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')) continue;
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const ip = this.ipOf(pod.metadata.uid);
      const running = (c: any) => ({
        name: c.name, image: c.image, imageID: '', containerID: `none://${pod.metadata.uid}-${c.name}`,
        ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } },
      });
      const condition = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now });
      await this.api.request('PATCH', `${path}/status`, {
        status: {
          phase: 'Running',
          hostIP: '127.0.0.1',
          hostIPs: [{ ip: '127.0.0.1' }],
          podIP: ip,
          podIPs: [{ ip }],
          startTime: now,
          conditions: ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready', 'PodScheduled'].map(condition),
          initContainerStatuses: (pod.spec.initContainers ?? []).map((c: any) => ({
            ...running(c), started: false, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } },
          })),
          containerStatuses: pod.spec.containers.map(running),
        },
      }, 'application/merge-patch+json');
    }
  }

  private ipOf(uid: string): string {
    let ip = this.ips.get(uid);
    if (!ip) {
      const n = this.nextIp++;
      ip = `10.244.${Math.floor(n / 250)}.${(n % 250) + 2}`;
      this.ips.set(uid, ip);
    }
    return ip;
  }
}
