import * as pulumi from '@pulumi/pulumi';
import { Duration } from 'cdk8s';
import { IModelService } from '../constructs/serving/interfaces';
import { ModelService as ModelServiceConstruct, ModelServiceProps } from '../constructs/serving/model-service';
import { ServingRuntime } from '../constructs/serving/serving-runtime';
import { requirePinnedImage } from '../constructs/core/validation';
import { PendingInputs } from './pending-inputs';
import { constructId, dependencies, findResource, KubernetesObjectResource, privateChart, registerObjects, StackSettings } from './synthesis';

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

/**
 * The ModelService construct as a Pulumi component (`mlops:index:ModelService`): every object
 * it synthesizes (Deployment, Service, autoscaler, disruption budget, ServiceMonitor, proxy
 * ConfigMap, ...) is a child resource, in the order the objects need each other. Satisfies
 * IModelService, so DriftMonitor and PrometheusAlerts components (and cdk8s constructs) take it.
 */
export class ModelService extends pulumi.ComponentResource implements IModelService {
  public readonly name: string;
  public readonly namespace: string;
  public readonly modelName: string;
  public readonly exportsServingMetrics: boolean;
  public readonly latencyObjective?: Duration;
  public readonly errorRateObjective?: number;
  public readonly accuracyFloor?: number;
  /** Name of the Service clients call: `http://<serviceName>.<namespace>.svc`. */
  public readonly serviceName: string;
  /** Every synthesized object with its resource, in synthesis order. */
  public readonly resources: readonly KubernetesObjectResource[];

  constructor(name: string, args: ModelServiceArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super('mlops:index:ModelService', name, {}, opts);
    const pending = new PendingInputs();
    const chart = privateChart(args.namespace ?? 'default', args.namespace, args);
    // Filled in once the construct exists, so a pending value's check names its path.
    let construct: ModelServiceConstruct | undefined;
    const check = (field: string) => (image: string) => {
      requirePinnedImage('ModelService', construct ?? chart, field, image);
    };
    const { image, metricsProxyImage, monitoring: _monitoring, ...props } = args;
    const modelImage = pending.image(image, check('image'));
    construct = new ModelServiceConstruct(chart, constructId(name), {
      ...props,
      name: args.name ?? name,
      runtime: modelImage === undefined || !(args.runtime instanceof ServingRuntime) ? args.runtime : args.runtime.withImage(modelImage),
      metricsProxyImage: pending.image(metricsProxyImage, check('metricsProxyImage')),
    });

    this.name = construct.name;
    this.namespace = construct.namespace;
    this.modelName = construct.modelName;
    this.exportsServingMetrics = construct.exportsServingMetrics;
    this.latencyObjective = construct.latencyObjective;
    this.errorRateObjective = construct.errorRateObjective;
    this.accuracyFloor = construct.accuracyFloor;
    this.serviceName = construct.service.name;

    // The model server loads its model from the registry at start: with a registry deployed in
    // this program, the pods start once the registry's objects are ready.
    const registry = args.runtime?.registry;
    this.resources = registerObjects(this, chart, {
      pending,
      dependsOn: dependencies(opts.dependsOn, pulumi.Resource.isInstance(registry) ? registry : undefined),
    });
    this.registerOutputs({ name: this.name, namespace: this.namespace, serviceName: this.serviceName, modelName: this.modelName });
  }

  /** The resource of a synthesized object, e.g. `resource('Deployment')`. */
  public resource(kind: string, name: string = this.name): pulumi.CustomResource | undefined {
    return findResource(this.resources, kind, name, this.namespace);
  }
}
