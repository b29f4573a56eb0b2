// What an operator adds beside the reference stack before its first deployment on the node
// tier's cluster, and the steps a team runs against it afterwards: the Secrets the stack
// documents as created outside it, PersistentVolumes for its two claims (hostPath directories
// pre-bound by claimRef: this cluster has no provisioner), the training run that registers
// fraud-detector, and the registry's REST API. Shared by the kubectl end-to-end test
// (reference-stack.test.ts) and the `pulumi up` one (pulumi-up.test.ts), so both deploy onto
// the same cluster set-up.
import * as fs from 'fs';
import * as path from 'path';
import { Images } from '../../src';
import type { ControlPlane } from '../controlplane/cluster';
import type { NodeAgent } from './node-agent';

export const NS = 'mlops';
export const TRACKING_URI = `http://mlflow.${NS}.svc.cluster.local:5000`;
export const INVOCATIONS = `http://fraud-detector.${NS}.svc.cluster.local/invocations`;
export const FEATURES = ['amount', 'hour', 'merchant_risk', 'distance_km', 'transactions_24h', 'foreign'];
/** Three transactions; the trained model calls the first legitimate and the second fraud. */
export const ROWS = [[12.5, 14, 0.05, 1.2, 1, 0], [950.0, 3, 0.92, 180.0, 14, 1], [40.0, 23, 0.4, 25.0, 4, 0]];
const TRAINING_SCRIPT = path.resolve(__dirname, '..', '..', 'examples', 'training', 'train_fraud_model.py');

/** Secret drift-data-s3's key; the node tier's in-cluster object store accepts this identity. */
export const DRIFT_DATA_KEY = { accessKeyId: 'AKIAE2ETEST', secretAccessKey: 'e2e-secret' };

/** The database password: characters that break a URL or a shell line unless quoted. */
export const DB_PASSWORD = `e2e:p@ss/w%rd#${process.pid}`;

/** The six Secrets the reference stack reads and documents as created outside it. */
export async function createExternalSecrets(cp: ControlPlane): Promise<void> {
  const generic = (name: string, values: Record<string, string>) => cp.kubectlOk(['create', 'secret', 'generic', name, '-n', NS,
    ...Object.entries(values).map(([k, v]) => `--from-literal=${k}=${v}`)]);
  await generic('mlflow-postgres', { password: DB_PASSWORD });
  await generic('drift-data-s3', { 'access-key-id': DRIFT_DATA_KEY.accessKeyId, 'secret-access-key': DRIFT_DATA_KEY.secretAccessKey });
  await generic('inference-log-s3', { 'access-key-id': 'AKIAE2ELOG', 'secret-access-key': 'e2e-log-secret' });
  // The promotion relay's: the registry's webhook encryption key (a Fernet key), the HMAC secret, a GitHub token (GitHub is not reached here)
  await generic('mlflow-webhooks', { 'encryption-key': `${Buffer.alloc(32, 5).toString('base64url')}=` });
  await generic('promotion-webhook', { hmac: 'e2e-promotion-hmac-0123456789' });
  await generic('promotion-github', { token: 'ghp_e2e' });
}

/**
 * PersistentVolumes for the stack's claims (PostgreSQL's data, MLflow's artifacts): hostPath
 * directories under `root`, pre-bound by claimRef, so the real PV controller binds each claim
 * to its volume and the node runs the pod on that directory.
 */
export async function createVolumes(cp: ControlPlane, root: string): Promise<void> {
  const pv = (name: string, size: string, claim: string) => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { mode: 0o777 });
    fs.chmodSync(dir, 0o777);
    return {
      apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name },
      spec: {
        capacity: { storage: size }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: '',
        hostPath: { path: dir, type: 'Directory' }, claimRef: { namespace: NS, name: claim },
      },
    };
  };
  await cp.kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pv('e2e-postgres', '20Gi', 'data-mlflow-postgres-0'), pv('e2e-artifacts', '50Gi', 'mlflow-artifacts')] }),
  });
}

/** The Pods of `selector` that are Ready and not being deleted. */
export async function readyPods(cp: ControlPlane, selector: string): Promise<any[]> {
  return (await cp.getJson(['pods', '-n', NS, '-l', selector])).items
    .filter((p: any) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
}

/** The example training pipeline, run from the node namespace against the registry's Service; returns its summary line. */
export async function train(agent: NodeAgent): Promise<any> {
  const result = await agent.run(['python', TRAINING_SCRIPT], {
    image: Images.MLFLOW,
    env: { MLFLOW_TRACKING_URI: TRACKING_URI, PYTHONUNBUFFERED: '1', MLFLOW_DISABLE_TELEMETRY: 'true', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2' },
    timeoutMs: 300_000,
  });
  if (result.code !== 0) throw new Error(`the training pipeline exited ${result.code}:\n${result.output.slice(-3000)}`);
  return JSON.parse(result.output.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
}

/** A call of the registry's REST API through its Service; throws with the answer unless it is 200. */
export async function mlflowApi(agent: NodeAgent, method: string, route: string, body?: unknown): Promise<any> {
  const res = await agent.request(`${TRACKING_URI}/api/2.0/mlflow/${route}`, {
    method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  if (res.status !== 200) throw new Error(`MLflow ${method} ${route} answered ${res.status}: ${res.body.slice(0, 500)}`);
  return JSON.parse(res.body);
}

/** Version 2 of fraud-detector: the model of version 1 registered again, as a promotion pipeline registers a retrained one. */
export async function registerSecondVersion(agent: NodeAgent): Promise<string> {
  const v1 = (await mlflowApi(agent, 'GET', 'model-versions/get?name=fraud-detector&version=1')).model_version;
  const v2 = (await mlflowApi(agent, 'POST', 'model-versions/create', {
    name: 'fraud-detector', source: v1.source, run_id: v1.run_id, model_id: v1.model_id ?? /^models:\/(m-[0-9a-f]+)$/.exec(v1.source)?.[1],
  })).model_version;
  return v2.version;
}

/** One prediction of ROWS through the fraud-detector Service (port 80 -> proxy -> model server). */
export function predict(agent: NodeAgent) {
  return agent.request(INVOCATIONS, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataframe_split: { columns: FEATURES, data: ROWS } }), timeoutMs: 60_000,
  });
}

/**
 * Predictions in a loop until stop() (or `maxMs`): what a client sees during a rollout.
 * stop() resolves with the count of answers and every failure.
 */
export function loadLoop(agent: NodeAgent, maxMs: number): { stop(): Promise<{ ok: number; errors: string[] }> } {
  const load = { ok: 0, errors: [] as string[], stop: false };
  const loop = (async () => {
    const until = Date.now() + maxMs;
    while (!load.stop && Date.now() < until && load.ok + load.errors.length < 20_000) {
      try {
        const res = await predict(agent);
        if (res.status === 200) load.ok++;
        else load.errors.push(`${res.status} ${res.body.slice(0, 200)}`);
      } catch (e) {
        load.errors.push((e as Error).message);
      }
    }
  })();
  return {
    async stop() {
      load.stop = true;
      await loop;
      return { ok: load.ok, errors: load.errors };
    },
  };
}
