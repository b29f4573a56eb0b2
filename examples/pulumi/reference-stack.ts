// The reference stack (docs/architecture.md) as a Pulumi program: the same objects as the cdk8s
// ReferenceStack in examples/reference-stack.ts, from the Pulumi components. The test
// test/pulumi-program.test.ts fails whenever the two stop writing the same manifests.
import * as pulumi from '@pulumi/pulumi';
import { Images } from '../../src';
import { DriftMonitor, ModelPromotion, ModelRegistry, ModelService, PrometheusAlerts } from '../../src/pulumi';
import { fraudDetectorProps, fraudDriftProps, MODEL_NAME, promotionProps, registryProps } from '../reference-stack-props';

export { MODEL_NAME };

/** What a deployment of the reference stack may change: the Pulumi config of Pulumi.yaml. */
export interface ReferenceStackSettings {
  /** Namespace of every object. @default 'mlops' */
  readonly namespace?: string;
  /** `release` label kube-prometheus-stack selects ServiceMonitors and rules by. @default 'kube-prometheus-stack' */
  readonly monitoringRelease?: string;
  /** MLflow image of the registry. @default Images.MLFLOW */
  readonly mlflowImage?: pulumi.Input<string>;
  /** Image of the model server. @default - mlflowImage */
  readonly modelServerImage?: pulumi.Input<string>;
  /** Node.js image of the metrics proxy and the drift checker. @default Images.NODE */
  readonly nodeImage?: pulumi.Input<string>;
  /**
   * A registry version of fraud-detector to serve (and to check drift against) instead of the
   * `champion` alias: set by the model-promotion pipeline, so a promotion rolls the pods to the
   * version it names (the alias is resolved only when a pod starts).
   * @default - the `champion` alias
   */
  readonly modelVersion?: number;
}

/** The components of a deployed reference stack. */
export interface ReferenceStackComponents {
  readonly registry: ModelRegistry;
  readonly fraudDetector: ModelService;
  readonly fraudDrift: DriftMonitor;
  readonly promotion: ModelPromotion;
  readonly alerts: PrometheusAlerts;
}

/** Declares the reference stack; `opts` go to every component (e.g. a kubernetes provider). */
export function deployReferenceStack(settings: ReferenceStackSettings = {}, opts: pulumi.ComponentResourceOptions = {}): ReferenceStackComponents {
  const namespace = settings.namespace ?? 'mlops';
  const monitoring = { serviceMonitorLabels: { release: settings.monitoringRelease ?? 'kube-prometheus-stack' } };

  const registry = new ModelRegistry('mlflow', { ...registryProps(), namespace, monitoring, image: settings.mlflowImage }, opts);

  const model = settings.modelVersion === undefined
    ? registry.model(MODEL_NAME, { alias: 'champion' })
    : registry.model(MODEL_NAME, { version: settings.modelVersion });
  const fraudDetector = new ModelService(MODEL_NAME, {
    ...fraudDetectorProps(model, registry.model(MODEL_NAME, { alias: 'challenger' })),
    namespace,
    monitoring,
    image: settings.modelServerImage ?? settings.mlflowImage,
    metricsProxyImage: settings.nodeImage,
  }, opts);

  // The drift check's reference follows the version served (the champion, or the pinned
  // version after a promotion).
  const fraudDrift = new DriftMonitor(`${MODEL_NAME}-drift`, {
    ...fraudDriftProps(fraudDetector, model),
    monitoring,
    image: settings.nodeImage,
  }, opts);

  // The promotion relay: a move of champion becomes the repository_dispatch that runs this program with modelVersion.
  const promotion = new ModelPromotion('promotion', { ...promotionProps(registry), namespace, monitoring, image: settings.nodeImage }, opts);

  // Alerts on all of the above, and a Grafana dashboard for fraud-detector.
  const alerts = new PrometheusAlerts('alerts', {
    monitoring,
    modelServices: [fraudDetector],
    driftMonitors: [fraudDrift],
    registries: [registry],
    promotions: [promotion],
  }, opts);

  return { registry, fraudDetector, fraudDrift, promotion, alerts };
}

/**
 * Settings from the stack's config (namespace `mlops`): `namespace`, `monitoringRelease`,
 * `mlflowImage`, `modelServerImage`, `nodeImage`, and `modelName` + `modelVersion` from a
 * model promotion (`pulumi up --config mlops:modelName=fraud-detector --config mlops:modelVersion=7`).
 */
export function settingsFromConfig(config: pulumi.Config = new pulumi.Config('mlops')): ReferenceStackSettings {
  const modelName = config.get('modelName');
  const modelVersion = config.getNumber('modelVersion', { min: 1 });
  if (modelVersion !== undefined && !Number.isInteger(modelVersion)) {
    throw new Error(`config mlops:modelVersion (${modelVersion}) is not a registry version number; use a whole number such as 7`);
  }
  if (modelName !== undefined && modelName !== MODEL_NAME) {
    throw new Error(`config mlops:modelName is "${modelName}", but this stack serves only "${MODEL_NAME}"; promote ${MODEL_NAME}, or add a ModelService for ${modelName} to the program`);
  }
  if ((modelName === undefined) !== (modelVersion === undefined)) {
    throw new Error('config mlops:modelName and mlops:modelVersion come together (from the model-promoted event); set both, or neither to serve the champion alias');
  }
  return {
    namespace: config.get('namespace'),
    monitoringRelease: config.get('monitoringRelease'),
    mlflowImage: config.get('mlflowImage') ?? Images.MLFLOW,
    modelServerImage: config.get('modelServerImage'),
    nodeImage: config.get('nodeImage') ?? Images.NODE,
    modelVersion,
  };
}
