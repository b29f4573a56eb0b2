// The reference stack (DESIGN.md) as a Pulumi program: the same objects as the cdk8s
// ReferenceStack in examples/reference-stack.ts, from the Pulumi components. The test
// test/pulumi-program.test.ts fails whenever the two stop writing the same manifests.
import * as pulumi from '@pulumi/pulumi';
import { Cron, Duration, Size } from 'cdk8s';
import { ArtifactStore, Cpu, DriftData, Images, RegistryDatabase, ScalingMetric, ServingRuntime } from '../../src';
import { DriftMonitor, ModelRegistry, ModelService, PrometheusAlerts } from '../../src/pulumi';

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

/** The served model of the reference stack. */
export const MODEL_NAME = 'fraud-detector';

/** The components of a deployed reference stack. */
export interface ReferenceStackComponents {
  readonly registry: ModelRegistry;
  readonly fraudDetector: ModelService;
  readonly fraudDrift: DriftMonitor;
  readonly alerts: PrometheusAlerts;
}

/** Declares the reference stack; `opts` go to every component (e.g. a kubernetes provider). */
export function deployReferenceStack(settings: ReferenceStackSettings = {}, opts: pulumi.ComponentResourceOptions = {}): ReferenceStackComponents {
  const namespace = settings.namespace ?? 'mlops';
  const monitoring = { serviceMonitorLabels: { release: settings.monitoringRelease ?? 'kube-prometheus-stack' } };

  // MLflow with its own PostgreSQL (the password lives in Secret mlflow-postgres, created
  // outside this stack) and artifacts on a volume, hence one replica.
  const registry = new ModelRegistry('mlflow', {
    namespace,
    monitoring,
    image: settings.mlflowImage,
    database: RegistryDatabase.inCluster({
      passwordSecret: { secretName: 'mlflow-postgres', key: 'password' },
      storageSize: Size.gibibytes(20),
    }),
    artifacts: ArtifactStore.volume({ size: Size.gibibytes(50) }),
    replicas: 1,
    cpuRequest: Cpu.millis(500),
    cpuLimit: Cpu.cores(2),
    memoryRequest: Size.gibibytes(1),
    memoryLimit: Size.gibibytes(2),
  }, opts);

  const model = settings.modelVersion === undefined
    ? registry.model(MODEL_NAME, { alias: 'champion' })
    : registry.model(MODEL_NAME, { version: settings.modelVersion });
  const fraudDetector = new ModelService(MODEL_NAME, {
    namespace,
    monitoring,
    runtime: ServingRuntime.mlflow({ model }),
    image: settings.modelServerImage ?? settings.mlflowImage,
    metricsProxyImage: settings.nodeImage,
    replicas: 2,
    maxReplicas: 10,
    scaleOn: [ScalingMetric.cpu(70)],
    cpuRequest: Cpu.cores(1),
    cpuLimit: Cpu.cores(2),
    memoryRequest: Size.gibibytes(2),
    memoryLimit: Size.gibibytes(3),
    latencyObjective: Duration.millis(500),
    errorRateObjective: 0.05,
    accuracyFloor: 0.9,
  }, opts);

  // Hourly: today's production traffic against the training data of the version served (the
  // champion, or the pinned version after a promotion, so the reference follows the model).
  // The credentials of the data bucket live in Secret drift-data-s3, created outside this stack.
  const fraudDrift = new DriftMonitor(`${MODEL_NAME}-drift`, {
    monitoring,
    modelService: fraudDetector,
    image: settings.nodeImage,
    reference: DriftData.registryModel(model),
    current: DriftData.uri('s3://mlops-data/fraud-detector/dt={{ds}}/*.parquet'),
    schedule: Cron.hourly(),
    features: ['amount', 'hour', 'merchant_risk', 'distance_km', 'transactions_24h', 'foreign'],
    labelColumn: 'is_fraud',
    predictionColumn: 'prediction',
    s3AccessKeyId: { secretName: 'drift-data-s3', key: 'access-key-id' },
    s3SecretAccessKey: { secretName: 'drift-data-s3', key: 'secret-access-key' },
  }, opts);

  // Alerts on all of the above, and a Grafana dashboard for fraud-detector.
  const alerts = new PrometheusAlerts('alerts', {
    monitoring,
    modelServices: [fraudDetector],
    driftMonitors: [fraudDrift],
    registries: [registry],
  }, opts);

  return { registry, fraudDetector, fraudDrift, alerts };
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
