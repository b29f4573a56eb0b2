// mlops-constructs/pulumi: the constructs as Pulumi components. Needs the optional peer
// dependencies @pulumi/pulumi and @pulumi/kubernetes; the cdk8s entry point never loads them.
export * from './model-service';
export * from './prometheus-alerts';
export { KubernetesObject, resourceName, typeToken } from './kubernetes-objects';
export { DependsOn, KubernetesObjectResource, StackSettings } from './synthesis';
