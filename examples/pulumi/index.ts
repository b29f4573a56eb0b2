// The Pulumi program of Pulumi.yaml: `pulumi up` deploys the reference stack with the
// settings of the selected stack's config (see reference-stack.ts for the keys).
import * as k8s from '@pulumi/kubernetes';
import { deployReferenceStack, settingsFromConfig } from './reference-stack';

// The cluster of $KUBECONFIG. ConfigMaps are updated in place, as `kubectl apply` of dist/
// would: by default the provider replaces a changed ConfigMap, and with an explicit name that
// means deleting it first, so a pod starting in between (a new metrics-proxy bundle rolls the
// pods) would find no ConfigMap to mount.
const cluster = new k8s.Provider('cluster', { enableConfigMapMutable: true });

const stack = deployReferenceStack(settingsFromConfig(), { provider: cluster });

/** MLflow tracking URI inside the cluster. */
export const trackingUri = stack.registry.trackingUri;
/** Namespace of the stack. */
export const namespace = stack.fraudDetector.namespace;
/** Service that answers predictions: `http://<modelServiceName>.<namespace>.svc`. */
export const modelServiceName = stack.fraudDetector.serviceName;
