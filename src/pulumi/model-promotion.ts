import * as pulumi from '@pulumi/pulumi';
import { ServingComponent } from './component';
import { constructId, StackSettings } from './synthesis';
import { requirePinnedImage } from '../constructs/core/validation';
import { IModelPromotion } from '../constructs/promotion/interfaces';
import { ModelPromotion as ModelPromotionConstruct, ModelPromotionProps } from '../constructs/promotion/model-promotion';

/** Arguments of a ModelPromotion component: the construct's props (the registry and the rolled services may be Pulumi components). */
export interface ModelPromotionArgs extends Omit<ModelPromotionProps, 'image' | 'namespace'>, StackSettings {
  /** Namespace of every object. */
  readonly namespace: string;
  /** Image that runs the bundled relay (a stock Node.js image), pinned. @default Images.NODE */
  readonly image?: pulumi.Input<string>;
}

/**
 * The ModelPromotion construct as a Pulumi component (`mlops:index:ModelPromotion`): the
 * promotion relay's ConfigMap, ServiceAccount, Role and RoleBinding (for rollouts), Deployment,
 * Service, ServiceMonitor and NetworkPolicy, each a child resource. Satisfies IModelPromotion,
 * so a PrometheusAlerts component alerts on it.
 */
export class ModelPromotion extends ServingComponent<ModelPromotionConstruct> implements IModelPromotion {
  public readonly name: string;
  public readonly namespace: string;
  public readonly promotedModels: readonly string[];
  /** The URL the relay registers in MLflow, known before deployment. */
  public readonly webhookUrl: string;

  constructor(name: string, args: ModelPromotionArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super('mlops:index:ModelPromotion', name, opts, {
      chartId: args.namespace ?? 'default',
      namespace: args.namespace,
      settings: args,
      build: (chart, pending, scope) => {
        const { image, monitoring: _monitoring, ...props } = args;
        return new ModelPromotionConstruct(chart, constructId(name), {
          ...props,
          name: args.name ?? name,
          image: pending.image(image, (resolved) => requirePinnedImage('ModelPromotion', scope(), 'image', resolved)),
        });
      },
      outputs: (c) => ({ name: c.name, namespace: c.namespace, webhookUrl: c.webhookUrl, promotedModels: [...c.promotedModels] }),
    });
    this.name = this.construct.name;
    this.namespace = this.construct.namespace;
    this.promotedModels = this.construct.promotedModels;
    this.webhookUrl = this.construct.webhookUrl;
  }
}
