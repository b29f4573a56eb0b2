// mlops-constructs/pulumi: the constructs as Pulumi components. Needs the optional peer
// dependencies @pulumi/pulumi and @pulumi/kubernetes; the cdk8s entry point never loads them.
export * from './drift-monitor';
export * from './model-promotion';
export * from './model-registry';
export * from './model-service';
export * from './prometheus-alerts';
export { resourceName, typeToken } from './kubernetes-objects';
export type { KubernetesObject } from './kubernetes-objects';
export type { DependsOn, KubernetesObjectResource, StackSettings } from './synthesis';
