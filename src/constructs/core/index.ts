// core/: what every capability builds on (names and validation, quantities, security defaults,
// images, monitoring settings, runtime bundles, the registry's model references).
export { Cluster } from './cluster';
export type { ClusterSettings } from './cluster';
export * from './images';
export * from './model-reference';
export * from './monitoring';
export { NetworkPeer } from './network-policy';
export * from './quantities';
export { DEFAULT_USER_ID } from './security';
export type {
  EnvProps, IngressProps, PodPlacementProps, PodProps, ResourceProps, ScrapeProps, SecretKeySelector, Toleration,
} from './workload-props';
