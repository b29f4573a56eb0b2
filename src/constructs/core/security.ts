import * as k8s from './k8s';

/**
 * The user and group every pod of this library runs as. Any non-zero id satisfies the
 * restricted profile; 1000 matches the `node` user of the official Node images, and images
 * that run as root by default (MLflow's) work as any user once HOME and scratch dirs are
 * writable emptyDirs.
 */
export const DEFAULT_USER_ID = 1000;

/** Pod-level settings of the Pod Security Standards `restricted` profile. */
export function restrictedPodSecurityContext(userId: number = DEFAULT_USER_ID): k8s.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: userId,
    runAsGroup: userId,
    fsGroup: userId,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container-level settings of the `restricted` profile plus a read-only root filesystem. */
export function restrictedContainerSecurityContext(userId: number = DEFAULT_USER_ID): k8s.SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: userId,
    runAsGroup: userId,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
