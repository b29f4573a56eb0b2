// The reference stack (DESIGN.md): everything in namespace `mlops`. `cdk8s synth` at the
// repository root runs this file and writes the manifests to dist/.
import { App, Chart, ChartProps, Cron, Duration, Size } from 'cdk8s';
import { Construct } from 'constructs';
import {
  ArtifactStore, Cpu, DriftData, DriftMonitor, ModelRegistry, ModelService, Monitoring, PrometheusAlerts, RegistryDatabase, ScalingMetric,
  ServingRuntime,
} from '../src';

/** Options of the reference stack. */
export interface ReferenceStackProps extends ChartProps {
  /** Label a kube-prometheus-stack install selects ServiceMonitors and rules by. @default 'kube-prometheus-stack' */
  readonly monitoringRelease?: string;
}

/** MLflow registry, fraud-detector model service, drift checks and alerts, in namespace `mlops`. */
export class ReferenceStack extends Chart {
  public readonly registry: ModelRegistry;
  public readonly fraudDetector: ModelService;
  public readonly fraudDrift: DriftMonitor;
  public readonly alerts: PrometheusAlerts;

  constructor(scope: Construct, id: string, props: ReferenceStackProps = {}) {
    super(scope, id, { namespace: 'mlops', disableResourceNameHashes: true, ...props });
    Monitoring.configure(this, { serviceMonitorLabels: { release: props.monitoringRelease ?? 'kube-prometheus-stack' } });

    // MLflow with its own PostgreSQL (the password lives in Secret mlflow-postgres, created
    // outside this stack) and artifacts on a volume, hence one replica; a team with S3 switches
    // to ArtifactStore.s3({...}) and runs two.
    this.registry = new ModelRegistry(this, 'mlflow', {
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
    });

    this.fraudDetector = new ModelService(this, 'fraud-detector', {
      runtime: ServingRuntime.mlflow({ model: this.registry.model('fraud-detector', { alias: 'champion' }) }),
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
    });

    // Hourly: today's production traffic (features, the model's prediction and, once known,
    // the fraud label) against the training data logged with the champion version. The
    // credentials of the data bucket live in Secret drift-data-s3, created outside this stack.
    this.fraudDrift = new DriftMonitor(this, 'fraud-detector-drift', {
      modelService: this.fraudDetector,
      reference: DriftData.registryModel(this.registry.model('fraud-detector', { alias: 'champion' })),
      current: DriftData.uri('s3://mlops-data/fraud-detector/dt={{ds}}/*.parquet'),
      schedule: Cron.hourly(),
      features: ['amount', 'hour', 'merchant_risk', 'distance_km', 'transactions_24h', 'foreign'],
      labelColumn: 'is_fraud',
      predictionColumn: 'prediction',
      s3AccessKeyId: { secretName: 'drift-data-s3', key: 'access-key-id' },
      s3SecretAccessKey: { secretName: 'drift-data-s3', key: 'secret-access-key' },
    });

    // Alerts on all of the above, labelled for the same release as the ServiceMonitors, and a
    // Grafana dashboard for fraud-detector.
    this.alerts = new PrometheusAlerts(this, 'alerts', {
      modelServices: [this.fraudDetector],
      driftMonitors: [this.fraudDrift],
      registries: [this.registry],
    });
  }
}

if (require.main === module) {
  const app = new App();
  new ReferenceStack(app, 'mlops');
  app.synth();
}
