import * as pulumi from '@pulumi/pulumi';
import { ServingComponent } from './component';
import { constructId, StackSettings } from './synthesis';
import { IMonitoredRegistry } from '../constructs/alerts/prometheus-alerts';
import { IModelRegistry, ModelReference, ModelVersionSelector, RegistryWebhookDelivery } from '../constructs/core/model-reference';
import { requirePinnedImage } from '../constructs/core/validation';
import { ModelRegistry as ModelRegistryConstruct, ModelRegistryProps } from '../constructs/registry/model-registry';

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
export class ModelRegistry extends ServingComponent<ModelRegistryConstruct> implements IModelRegistry, IMonitoredRegistry {
  /** Kubernetes name of the Deployment and the Service. */
  public readonly name: string;
  public readonly namespace: string;
  /** `http://<name>.<namespace>.svc.<clusterDomain>:<servicePort>`, known before deployment. */
  public readonly trackingUri: string;
  /** Name of the Service of the tracking server. */
  public readonly serviceName: string;
  /** Where the registry delivers webhooks, with `webhooks` (a ModelPromotion component checks it). */
  public readonly webhookDelivery?: RegistryWebhookDelivery;

  constructor(name: string, args: ModelRegistryArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super('mlops:index:ModelRegistry', name, opts, {
      chartId: args.namespace ?? 'default',
      namespace: args.namespace,
      settings: args,
      build: (chart, pending, scope) => {
        const { image, monitoring: _monitoring, ...props } = args;
        return new ModelRegistryConstruct(chart, constructId(name), {
          ...props,
          name: args.name ?? name,
          image: pending.image(image, (resolved) => requirePinnedImage('ModelRegistry', scope(), 'image', resolved)),
        });
      },
      outputs: (c) => ({ name: c.name, namespace: c.namespace, trackingUri: c.trackingUri, serviceName: c.service.name }),
    });
    this.name = this.construct.name;
    this.namespace = this.construct.namespace;
    this.trackingUri = this.construct.trackingUri;
    this.serviceName = this.construct.service.name;
    this.webhookDelivery = this.construct.webhookDelivery;
  }

  /** A registered model in this registry, by alias or version: `registry.model('fraud-detector', { alias: 'champion' })`. */
  public model(name: string, options?: ModelVersionSelector): ModelReference {
    // The construct checks the name and selector; the reference points at this component.
    this.guard(() => this.construct.model(name, options));
    return ModelReference.of(this, name, options);
  }
}
