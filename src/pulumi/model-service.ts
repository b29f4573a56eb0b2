import * as pulumi from '@pulumi/pulumi';
import { copyFields, ServingComponent } from './component';
import { constructId, StackSettings } from './synthesis';
import { requirePinnedImage } from '../constructs/core/validation';
import { IModelService, MODEL_SERVICE_FIELDS } from '../constructs/serving/interfaces';
import { ModelService as ModelServiceConstruct, ModelServiceProps } from '../constructs/serving/model-service';
import { ServingRuntime } from '../constructs/serving/serving-runtime';

/** Arguments of a ModelService component: the construct's props, with Pulumi inputs where values are computed. */
export interface ModelServiceArgs extends Omit<ModelServiceProps, 'metricsProxyImage' | 'namespace'>, StackSettings {
  /** Namespace of every object. */
  readonly namespace: string;
  /**
   * Image of the model server, e.g. the `imageName` of a `docker.Image` build; replaces the
   * runtime's image. A pending value leaves the set of objects unchanged (see docs/pulumi.md).
   * @default - the runtime's image
   */
  readonly image?: pulumi.Input<string>;
  /** Image of the metrics proxy (a stock Node.js image). @default Images.NODE */
  readonly metricsProxyImage?: pulumi.Input<string>;
}

// The IModelService fields are copied from the construct (copyFields), declared here by merging.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface ModelService extends IModelService {}

/**
 * The ModelService construct as a Pulumi component (`mlops:index:ModelService`): every object
 * it synthesizes (Deployment, Service, autoscaler, disruption budget, ServiceMonitor, proxy
 * ConfigMap, ...) is a child resource, in the order the objects need each other. Satisfies
 * IModelService, so DriftMonitor and PrometheusAlerts components (and cdk8s constructs) take it.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class ModelService extends ServingComponent<ModelServiceConstruct> implements IModelService {
  /** Name of the Service clients call: `http://<serviceName>.<namespace>.svc`. */
  public readonly serviceName: string;

  constructor(name: string, args: ModelServiceArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // The model server loads its model from the registry at start: with a registry deployed in
    // this program, the pods start once the registry's objects are ready.
    const registry = args.runtime?.registry;
    super('mlops:index:ModelService', name, opts, {
      chartId: args.namespace ?? 'default',
      namespace: args.namespace,
      settings: args,
      dependsOn: [pulumi.Resource.isInstance(registry) ? registry : undefined],
      build: (chart, pending, scope) => {
        const check = (field: string) => (image: string) => {
          requirePinnedImage('ModelService', scope(), field, image);
        };
        const { image, metricsProxyImage, monitoring: _monitoring, ...props } = args;
        const modelImage = pending.image(image, check('image'));
        return new ModelServiceConstruct(chart, constructId(name), {
          ...props,
          name: args.name ?? name,
          runtime: modelImage === undefined || !(args.runtime instanceof ServingRuntime) ? args.runtime : args.runtime.withImage(modelImage),
          metricsProxyImage: pending.image(metricsProxyImage, check('metricsProxyImage')),
        });
      },
      outputs: (c) => ({ name: c.name, namespace: c.namespace, serviceName: c.service.name, modelName: c.modelName }),
    });
    copyFields<IModelService, typeof MODEL_SERVICE_FIELDS>(this, this.construct, MODEL_SERVICE_FIELDS);
    this.serviceName = this.construct.service.name;
  }
}
