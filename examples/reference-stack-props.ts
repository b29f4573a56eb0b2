// The reference stack's choices (docs/architecture.md), written once: the cdk8s ReferenceStack
// (examples/reference-stack.ts) and the Pulumi program (examples/pulumi/reference-stack.ts)
// both build their objects from these props, so the two engines cannot drift apart.
import { Cron, Duration, Size } from 'cdk8s';
import {
  ArtifactStore, Cpu, DriftData, DriftMonitorProps, IModelRegistry, IModelService, ModelPromotionProps, ModelReference, ModelRegistryProps,
  ModelServiceProps, PromotionAction, RegistryDatabase, ScalingMetric, ServingRuntime,
} from '../src';

/** The served model of the reference stack. */
export const MODEL_NAME = 'fraud-detector';

/**
 * MLflow with its own PostgreSQL (the password lives in Secret mlflow-postgres, created
 * outside this stack) and artifacts on a volume, hence one replica; a team with S3 switches
 * to ArtifactStore.s3({...}) and runs two. It delivers webhooks to the promotion relay, with
 * the key it encrypts their secrets with in Secret mlflow-webhooks (created outside this stack).
 */
export function registryProps(): ModelRegistryProps {
  return {
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
    webhooks: { encryptionKey: { secretName: 'mlflow-webhooks', key: 'encryption-key' } },
  };
}

/**
 * fraud-detector: p99 0.5 s, 5 % errors, accuracy floor 0.9, 2 to 10 replicas on CPU. Its
 * metrics proxy logs a tenth of the requests with their predictions to the inference-log
 * bucket (credentials in Secret inference-log-s3, created outside this stack) and mirrors the
 * same requests to the model version with the alias `challenger`, which runs as a shadow.
 */
export function fraudDetectorProps(model: ModelReference, challenger: ModelReference): ModelServiceProps {
  return {
    runtime: ServingRuntime.mlflow({ model }),
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
    inferenceLog: {
      destination: 's3://mlops-inference-log/prod',
      sampleRatio: 0.1,
      s3AccessKeyId: { secretName: 'inference-log-s3', key: 'access-key-id' },
      s3SecretAccessKey: { secretName: 'inference-log-s3', key: 'secret-access-key' },
    },
    shadow: { model: challenger },
  };
}

/**
 * Hourly: today's production traffic (features, the model's prediction and, once known, the
 * fraud label) against the training data logged with the model version served. The
 * credentials of the data bucket live in Secret drift-data-s3, created outside this stack.
 */
export function fraudDriftProps(modelService: IModelService, model: ModelReference): DriftMonitorProps {
  return {
    modelService,
    reference: DriftData.registryModel(model),
    current: DriftData.uri('s3://mlops-data/fraud-detector/dt={{ds}}/*.parquet'),
    schedule: Cron.hourly(),
    features: ['amount', 'hour', 'merchant_risk', 'distance_km', 'transactions_24h', 'foreign'],
    labelColumn: 'is_fraud',
    predictionColumn: 'prediction',
    s3AccessKeyId: { secretName: 'drift-data-s3', key: 'access-key-id' },
    s3SecretAccessKey: { secretName: 'drift-data-s3', key: 'secret-access-key' },
  };
}

/** The GitHub repository whose workflow (examples/ci/mlops-stack.yml) deploys a promoted fraud-detector. */
export const PROMOTION_REPOSITORY = 'acme/ml-platform';

/**
 * The promotion relay in mode `ci`: a move of fraud-detector's `champion` alias becomes a
 * `model-promoted` repository_dispatch, and the workflow's `promote` job deploys the version.
 * The webhook's HMAC secret is in Secret promotion-webhook (key hmac), the GitHub token in
 * promotion-github (key token), both created outside this stack.
 */
export function promotionProps(registry: IModelRegistry): ModelPromotionProps {
  return {
    registry,
    webhookSecret: { secretName: 'promotion-webhook', key: 'hmac' },
    models: [{
      model: registry.model(MODEL_NAME, { alias: 'champion' }),
      action: PromotionAction.githubDispatch({ repository: PROMOTION_REPOSITORY, token: { secretName: 'promotion-github', key: 'token' } }),
    }],
  };
}
