// mlops-constructs/testing: helpers for users' tests of their stacks. Synthesis and the
// snapshot serializer need nothing beyond cdk8s; validateManifests() needs the optional peer
// dependencies ajv, js-yaml, kubernetes-models and @kubernetes/client-node (it says so when
// one is missing) and, for custom resources, a folder of CRD files (crdsDir).
export { createManifestSerializer, manifestSerializer, redactGenerated, synthObjects, synthYaml } from './snapshot';
export type { KubernetesManifest, ManifestSerializerOptions, SnapshotSerializer } from './snapshot';
export { assertValidManifests, checkRestrictedPodSecurity, validateManifests, validateSchema } from './validate-manifests';
export type { PodSecurityOptions, ValidateManifestsOptions } from './validate-manifests';
export { CRDS_DIR_ENV } from './crd-schemas';
export { VALIDATOR_PEERS } from './peers';
