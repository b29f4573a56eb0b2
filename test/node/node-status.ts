// What a kubelet reports about its node, written once for the two test nodes: the node agent
// (node-agent.ts, which runs the pods) and the Pulumi engine tier's status-only node
// (test/pulumi-engine/status-node.ts, which runs none). Registration creates the Node and its
// Lease in kube-node-lease; the heartbeat renews both, so the node lifecycle controller never
// taints the node and the scheduler keeps placing Pods on it.
import * as os from 'os';
import { KUBERNETES_VERSION } from '../controlplane/binaries';
import { ApiClient, apiTime, microTime } from './api';

/** What the node says about itself. */
export interface NodeReport {
  readonly name: string;
  /** capacity (= allocatable): cpu, memory, pods, ephemeral-storage, extended resources. */
  readonly capacity: Record<string, string>;
  /** The InternalIP pods and Services see the node at. */
  readonly address: string;
  /** nodeInfo.osImage: what the node is, for `kubectl get nodes -o wide`. */
  readonly osImage: string;
  /** nodeInfo.containerRuntimeVersion, `<runtime>://<version>`. */
  readonly containerRuntimeVersion: string;
  /** Why the pressure conditions are False (the message of each). */
  readonly pressureMessage: string;
}

const ARCH = os.arch() === 'x64' ? 'amd64' : os.arch();

/** Creates the Node and its Lease, then reports status once. */
export async function registerNode(api: ApiClient, report: NodeReport): Promise<void> {
  await api.request('POST', '/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: report.name, labels: { 'kubernetes.io/hostname': report.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': ARCH } },
    spec: {},
  });
  await api.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: report.name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: report.name, leaseDurationSeconds: 40, renewTime: microTime() },
  });
  await nodeHeartbeat(api, report);
}

/** The node's status (Ready, no pressure, capacity, address, nodeInfo) and its Lease, renewed. */
export async function nodeHeartbeat(api: ApiClient, report: NodeReport): Promise<void> {
  const now = apiTime();
  const condition = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
  await api.request('PATCH', `/api/v1/nodes/${report.name}/status`, {
    status: {
      capacity: report.capacity,
      allocatable: report.capacity,
      conditions: [
        condition('Ready', 'True', 'KubeletReady', `${report.osImage} is posting ready status`),
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', report.pressureMessage),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', report.pressureMessage),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', report.pressureMessage),
      ],
      addresses: [{ type: 'InternalIP', address: report.address }, { type: 'Hostname', address: report.name }],
      nodeInfo: {
        machineID: '', systemUUID: '', bootID: '', kernelVersion: os.release(), osImage: report.osImage,
        containerRuntimeVersion: report.containerRuntimeVersion, kubeletVersion: KUBERNETES_VERSION, kubeProxyVersion: '', operatingSystem: 'linux', architecture: ARCH,
      },
    },
  }, 'application/merge-patch+json');
  await api.request('PATCH', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${report.name}`,
    { spec: { holderIdentity: report.name, renewTime: microTime() } }, 'application/merge-patch+json');
}
