// The node agent on a real control plane: what a kubelet and kube-proxy do, seen through the
// apiserver and through Services, with the real scheduler, ReplicaSet, Job and EndpointSlice
// controllers deciding. Small programs (the node image's Node.js) stand in for workloads.
import * as os from 'os';
import { ControlPlane, startControlPlane, waitFor } from '../controlplane/cluster';
import { NodeAgent } from './node-agent';

const NS = 'agent';
const RESTRICTED = {
  allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' },
};
const SERVER = `
const http = require('http');
const fs = require('fs');
const server = http.createServer((req, res) => res.end(JSON.stringify({
  pod: process.env.HOSTNAME, greeting: process.env.GREETING, password: fs.readFileSync(process.env.PASSWORD_FILE, 'utf8'),
  token: fs.readFileSync(process.env.TOKEN_FILE, 'utf8'), namespace: fs.readFileSync(process.env.NAMESPACE_FILE, 'utf8'),
}))).listen(8080, () => console.log('listening'));
process.on('SIGTERM', () => { console.log('got SIGTERM'); server.close(() => process.exit(0)); });
`;

function web(): any[] {
  const labels = { app: 'web' };
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web', namespace: NS }, data: { greeting: 'hello from a ConfigMap' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'web', namespace: NS }, stringData: { password: 'from-the-apiserver' } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: 2, selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 20,
            securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'server', image: 'node:22.12.0-alpine3.21', command: ['node', '-e', SERVER], securityContext: RESTRICTED,
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [
                { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'web', key: 'greeting' } } },
                { name: 'PASSWORD_FILE', value: '/etc/web/password' },
                { name: 'TOKEN_FILE', value: '/var/run/secrets/kubernetes.io/serviceaccount/token' },
                { name: 'NAMESPACE_FILE', value: '/var/run/secrets/kubernetes.io/serviceaccount/namespace' },
              ],
              volumeMounts: [{ name: 'secret', mountPath: '/etc/web', readOnly: true }],
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 2 },
              lifecycle: { preStop: { exec: { command: ['sleep', '3'] } } },
            }],
            volumes: [{ name: 'secret', secret: { secretName: 'web' } }],
          },
        },
      },
    },
  ];
}

function pod(name: string, script: string, restartPolicy: string): any {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
    spec: {
      restartPolicy, automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'main', image: 'node:22.12.0-alpine3.21', command: ['node', '-e', script], securityContext: RESTRICTED }],
    },
  };
}

describe('node agent: the rehearsal harness as the node of a real control plane', () => {
  let cp: ControlPlane;
  let agent: NodeAgent;
  const apply = (objects: any[]) => cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
  const get = (what: string[]) => cp.getJson([...what, '-n', NS]);
  const readyAddresses = async (service: string) => (await get(['endpointslices', '-l', `kubernetes.io/service-name=${service}`])).items
    .flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions.ready).flatMap((e: any) => e.addresses);
  const until = (what: string, check: () => Promise<boolean>, ms = 120_000) => waitFor(async () => {
    cp.assertRunning();
    return check();
  }, ms, `${what} (agent errors: ${agent.errors.slice(-3).join('; ') || 'none'})`);

  beforeAll(async () => {
    cp = await startControlPlane({ name: 'mlops-node' });
    agent = await NodeAgent.start(cp);
    await cp.kubectlOk(['create', 'namespace', NS]);
    await waitFor(async () => (await cp.kubectl(['get', 'serviceaccount', 'default', '-n', NS])).code === 0, 60_000, 'ServiceAccount default');
  });

  afterAll(async () => {
    await agent?.stop();
    await cp?.stop();
  });

  test('registers a Ready Node with the machine\'s capacity and keeps its Lease', async () => {
    await until('node Ready', async () => (await cp.getJson(['node', agent.name])).status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    const node = await cp.getJson(['node', agent.name]);
    expect(node.status.capacity.cpu).toBe(String(os.cpus().length));
    expect(node.status.capacity).not.toHaveProperty(['nvidia.com/gpu']);
    expect(node.spec.taints ?? []).toEqual([]);
    const lease = await cp.getJson(['lease', agent.name, '-n', 'kube-node-lease']);
    expect(lease.spec.holderIdentity).toBe(agent.name);
  });

  test('runs a Deployment\'s pods with ConfigMap, Secret and token from the apiserver; Ready from the probe fills the EndpointSlice; the Service routes', async () => {
    // GIVEN a Deployment of two replicas behind a Service
    await apply(web());

    // WHEN the scheduler binds its pods to the node
    await until('two ready endpoints of web', async () => (await readyAddresses('web')).length === 2);

    // THEN the pods report Running, Ready and pod IPs, like a kubelet
    const pods = (await get(['pods', '-l', 'app=web'])).items;
    expect(pods.map((p: any) => p.status.phase)).toEqual(['Running', 'Running']);
    for (const p of pods) {
      expect(p.spec.nodeName).toBe(agent.name);
      expect(p.status.podIP).toMatch(/^10\.244\.0\.\d+$/);
      expect(p.status.containerStatuses[0]).toMatchObject({ name: 'server', ready: true, started: true, restartCount: 0, state: { running: {} } });
    }
    expect((await readyAddresses('web')).sort()).toEqual(pods.map((p: any) => p.status.podIP).sort());
    // AND the Service name resolves and routes to both pods, with the env and files from the apiserver
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await agent.request(`http://web.${NS}.svc.cluster.local/`);
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body);
      expect(body).toMatchObject({ greeting: 'hello from a ConfigMap', password: 'from-the-apiserver', namespace: NS });
      const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString('utf8'));
      expect(claims.sub).toBe(`system:serviceaccount:${NS}:default`);
      expect(claims['kubernetes.io'].pod.name).toBe(body.pod);
      seen.add(body.pod);
    }
    expect([...seen].sort()).toEqual(pods.map((p: any) => p.metadata.name).sort());
  });

  test('a deleted pod runs its preStop hook, gets SIGTERM, leaves the endpoints; the ReplicaSet\'s replacement takes its place', async () => {
    // GIVEN the two ready pods of web
    const before = (await get(['pods', '-l', 'app=web'])).items;
    const victim = before[0].metadata.name;

    // WHEN one is deleted (grace period from the pod spec)
    const t0 = Date.now();
    await cp.kubectlOk(['delete', 'pod', victim, '-n', NS, '--wait=true']);
    const took = Date.now() - t0;

    // THEN the agent ran the 3 s preStop hook before SIGTERM, and the server stopped on it
    expect(took).toBeGreaterThanOrEqual(3000);
    expect(agent.log(victim, 'server')).toContain('got SIGTERM');
    // AND a replacement is ready, the endpoints list the two live pods only
    await until('two ready endpoints again', async () => {
      const addresses = await readyAddresses('web');
      const pods = (await get(['pods', '-l', 'app=web'])).items.filter((p: any) => !p.metadata.deletionTimestamp);
      return addresses.length === 2 && pods.length === 2 && pods.every((p: any) => addresses.includes(p.status.podIP));
    });
    expect((await get(['pods', '-l', 'app=web'])).items.map((p: any) => p.metadata.name)).not.toContain(victim);
  });

  test('restarts a crashing container with back-off and reports exit codes and restart counts', async () => {
    // GIVEN a pod whose container exits 3 (restartPolicy Always)
    await apply([pod('crasher', 'console.log("crash"); process.exit(3)', 'Always')]);
    await until('crasher running', async () => (await get(['pod', 'crasher'])).status.containerStatuses?.[0]?.lastState?.terminated !== undefined);
    const firstCrash = Date.now();

    // WHEN it has crashed a few times
    await until('two restarts', async () => (await get(['pod', 'crasher'])).status.containerStatuses?.[0]?.restartCount >= 2, 90_000);

    // THEN the back-off is the kubelet's: the first restart at once, the second after 10 s
    expect(Date.now() - firstCrash).toBeGreaterThanOrEqual(9000);
    // AND the status says so, with the last exit code
    const status = (await get(['pod', 'crasher'])).status;
    expect(status.phase).toBe('Running');
    expect(status.containerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    await until('CrashLoopBackOff', async () => (await get(['pod', 'crasher'])).status.containerStatuses[0].state.waiting?.reason === 'CrashLoopBackOff', 60_000);
    await cp.kubectlOk(['delete', 'pod', 'crasher', '-n', NS, '--wait=true']);
  });

  test('a Job\'s pod that exits 1 ends Failed with its exit code, and the Job controller fails the Job', async () => {
    // GIVEN a Job without retries whose container exits 1
    const template = pod('unused', 'console.error("no data"); process.exit(1)', 'Never');
    await apply([{ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once', namespace: NS }, spec: { backoffLimit: 0, template: { spec: template.spec } } }]);

    // WHEN the node ran it
    await until('Job failed', async () => (await get(['job', 'once'])).status.conditions?.some((c: any) => c.type === 'Failed' && c.status === 'True'));

    // THEN the pod is Failed with the container's exit code, and the Job says why
    const pods = (await get(['pods', '-l', 'job-name=once'])).items;
    expect(pods).toHaveLength(1);
    expect(pods[0].status.phase).toBe('Failed');
    expect(pods[0].status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect((await get(['job', 'once'])).status.conditions.find((c: any) => c.type === 'Failed').reason).toBe('BackoffLimitExceeded');
    expect(agent.log(pods[0].metadata.name, 'main')).toContain('no data');
  });
});
