import * as pulumi from '@pulumi/pulumi';
import { IModelRegistry, ModelReference, ModelVersionSelector } from '../constructs/core/model-reference';
import { ModelRegistry as ModelRegistryConstruct, ModelRegistryProps } from '../constructs/registry/model-registry';
import { IMonitoredRegistry } from '../constructs/alerts/prometheus-alerts';
import { requirePinnedImage } from '../constructs/core/validation';
import { PendingInputs } from './pending-inputs';
import { constructId, dependencies, findResource, KubernetesObjectResource, privateChart, registerObjects, StackSettings } from './synthesis';

/** Arguments of a ModelRegistry component: the construct's props, with Pulumi inputs where values are computed. */
export interface ModelRegistryArgs extends Omit<ModelRegistryProps, 'image' | 'namespace'>, StackSettings {
  /** Namespace of every object. */
  readonly namespace: string;
  /** MLflow image with the PostgreSQL and S3 drivers, pinned. @default Images.MLFLOW */
  readonly image?: pulumi.Input<string>;
}

/**
 * The ModelRegistry construct as a Pulumi component (`mlops:index:ModelRegistry`): the MLflow
 * server and, with `RegistryDatabase.inCluster`, its PostgreSQL, every object a child resource.
 * Satisfies IModelRegistry, so ModelService and DriftMonitor components (and cdk8s
 * constructs) take `registry.model(...)` from it.
 */
export class ModelRegistry extends pulumi.ComponentResource implements IModelRegistry, IMonitoredRegistry {
  /** Kubernetes name of the Deployment and the Service. */
  public readonly name: string;
  public readonly namespace: string;
  /** `http://<name>.<namespace>.svc.<clusterDomain>:<servicePort>`, known before deployment. */
  public readonly trackingUri: string;
  /** Name of the Service of the tracking server. */
  public readonly serviceName: string;
  /** Every synthesized object with its resource, in synthesis order. */
  public readonly resources: readonly KubernetesObjectResource[];
  private readonly construct: ModelRegistryConstruct;

  constructor(name: string, args: ModelRegistryArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super('mlops:index:ModelRegistry', name, {}, opts);
    const pending = new PendingInputs();
    const chart = privateChart(args.namespace ?? 'default', args.namespace, args);
    let construct: ModelRegistryConstruct | undefined;
    const { image, monitoring: _monitoring, ...props } = args;
    construct = new ModelRegistryConstruct(chart, constructId(name), {
      ...props,
      name: args.name ?? name,
      image: pending.image(image, (resolved) => requirePinnedImage('ModelRegistry', construct ?? chart, 'image', resolved)),
    });
    this.construct = construct;
    this.name = construct.name;
    this.namespace = construct.namespace;
    this.trackingUri = construct.trackingUri;
    this.serviceName = construct.service.name;
    this.resources = registerObjects(this, chart, { pending, dependsOn: dependencies(opts.dependsOn) });
    this.registerOutputs({ name: this.name, namespace: this.namespace, trackingUri: this.trackingUri, serviceName: this.serviceName });
  }

  /** A registered model in this registry, by alias or version: `registry.model('fraud-detector', { alias: 'champion' })`. */
  public model(name: string, options?: ModelVersionSelector): ModelReference {
    // The construct checks the name and selector; the reference points at this component.
    this.construct.model(name, options);
    return ModelReference.of(this, name, options);
  }

  /** The resource of a synthesized object, e.g. `resource('Deployment')`. */
  public resource(kind: string, name: string = this.name): pulumi.CustomResource | undefined {
    return findResource(this.resources, kind, name, this.namespace);
  }
}
