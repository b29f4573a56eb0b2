/**
 * Where scripts/setup-kubernetes.sh puts the programs of the control-plane tier: a
 * version-keyed directory outside the clone, so a fresh clone on the same machine finds them.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const KUBERNETES_VERSION = 'v1.37.2';
export const ETCD_VERSION = 'v3.6.16';

export interface ControlPlaneBinaries {
  readonly etcd: string;
  readonly 'kube-apiserver': string;
  readonly 'kube-controller-manager': string;
  readonly 'kube-scheduler': string;
  readonly kubectl: string;
}

/** The cache the setup scripts build into ($MLOPS_CACHE, default ~/.cache/mlops-constructs). */
export function cacheDir(): string {
  return process.env.MLOPS_CACHE || path.join(os.homedir(), '.cache', 'mlops-constructs');
}

/** The built programs; throws, naming the setup script, when one is missing. */
export function binaries(): ControlPlaneBinaries {
  const kbin = path.join(cacheDir(), `kubernetes-${KUBERNETES_VERSION}`, 'bin');
  const found: ControlPlaneBinaries = {
    etcd: path.join(cacheDir(), `etcd-${ETCD_VERSION}`, 'bin', 'etcd'),
    'kube-apiserver': path.join(kbin, 'kube-apiserver'),
    'kube-controller-manager': path.join(kbin, 'kube-controller-manager'),
    'kube-scheduler': path.join(kbin, 'kube-scheduler'),
    kubectl: path.join(kbin, 'kubectl'),
  };
  const missing = Object.values(found).filter((file) => !fs.existsSync(file));
  if (missing.length > 0) {
    throw new Error(`control-plane programs not built: ${missing.join(', ')}; run bash scripts/setup-kubernetes.sh (the README's test command does)`);
  }
  return found;
}
