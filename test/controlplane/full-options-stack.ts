// A second stack for the control-plane tier: every option the reference stack leaves out,
// so the apiserver sees each kind of object the library can write. `cdk8s synth --app` runs
// this file (test/controlplane/stacks.test.ts), as a user's cdk8s.yaml would.
import { App, Chart, Duration, Size } from 'cdk8s';
import {
  ArtifactStore, Cpu, DriftData, DriftMonitor, DriftTest, ModelRegistry, ModelService, Monitoring, NetworkPeer,
  PrometheusAlerts, RegistryDatabase, ScalingMetric, ServingRuntime,
} from '../../src';

export const FULL_OPTIONS_NAMESPACE = 'ml-full';

/** Secrets a team creates outside the stack (documented in the README). */
export const FULL_OPTIONS_EXTERNAL_SECRETS = [
  'mlflow-db', 'mlflow-s3', 'mlflow-auth', 'mlflow-metrics', 'drift-data-s3', 'ranker-tls', 'pull-secret', 'ranker-api',
];

export class FullOptionsStack extends Chart {
  constructor(scope: App, id: string) {
    super(scope, id, { namespace: FULL_OPTIONS_NAMESPACE, disableResourceNameHashes: true });
    Monitoring.configure(this, { serviceMonitorLabels: { release: 'prometheus' }, scrapeInterval: Duration.seconds(15) });

    // Registry: external PostgreSQL, S3 artifacts (two replicas, a PodDisruptionBudget), basic auth, an Ingress.
    const registry = new ModelRegistry(this, 'mlflow', {
      database: RegistryDatabase.postgres({
        host: 'pg.databases.svc.cluster.local',
        passwordSecret: { secretName: 'mlflow-db', key: 'password' },
      }),
      artifacts: ArtifactStore.s3({
        bucket: 'ml-artifacts',
        prefix: 'mlflow',
        endpoint: 'http://minio.storage.svc:9000',
        accessKeyId: { secretName: 'mlflow-s3', key: 'access-key-id' },
        secretAccessKey: { secretName: 'mlflow-s3', key: 'secret-access-key' },
      }),
      replicas: 2,
      basicAuth: true,
      authSecretKey: { secretName: 'mlflow-auth', key: 'flask-secret-key' },
      adminPassword: { secretName: 'mlflow-auth', key: 'admin-password' },
      metricsBasicAuthSecretName: 'mlflow-metrics',
      ingressHost: 'mlflow.example.com',
      ingressClassName: 'nginx',
      // The ingress controller, and a training namespace that logs runs and registers models.
      allowedClients: [NetworkPeer.namespace('ingress-nginx'), NetworkPeer.namespace('training')],
    });

    // An MLflow-served model scaled by KEDA on request rate, behind an Ingress and a NetworkPolicy.
    const champion = registry.model('ranker', { alias: 'champion' });
    const ranker = new ModelService(this, 'ranker', {
      runtime: ServingRuntime.mlflow({ model: champion }),
      replicas: 2,
      maxReplicas: 6,
      scaleOn: [
        ScalingMetric.requestRate({ requestsPerSecondPerReplica: 25, prometheusServerAddress: 'http://prometheus-operated.monitoring.svc:9090' }),
        ScalingMetric.cpu(80),
      ],
      ingressHost: 'ranker.example.com',
      ingressClassName: 'nginx',
      ingressTlsSecretName: 'ranker-tls',
      allowedClients: [NetworkPeer.namespace('ingress-nginx'), NetworkPeer.pods({ app: 'checkout' })],
      imagePullSecrets: ['pull-secret'],
      secretEnv: { RANKER_API_KEY: { secretName: 'ranker-api', key: 'key' } },
      latencyObjective: Duration.millis(250),
      errorRateObjective: 0.01,
      accuracyFloor: 0.8,
    });

    // A custom Flask server with its own metrics on a GPU.
    const vision = new ModelService(this, 'vision', {
      runtime: ServingRuntime.custom({
        image: 'registry.example.com/vision-flask:3.2.0',
        port: 5000,
        healthPath: '/healthz',
        readyPath: '/ready',
        metrics: { requestsTotal: 'flask_http_request_total', durationHistogram: 'flask_http_request_duration_seconds' },
      }),
      replicas: 1,
      gpuCount: 1,
      cpuRequest: Cpu.cores(2),
      memoryRequest: Size.gibibytes(8),
      nodeSelector: { 'cloud.example.com/pool': 'gpu' },
      latencyObjective: Duration.seconds(1),
    });

    // A sharded, daily drift check on S3 with quality metrics.
    const rankerDrift = new DriftMonitor(this, 'ranker-drift', {
      modelService: ranker,
      reference: DriftData.registryModel(champion),
      current: DriftData.uri('s3://ml-data/ranker/dt={{ds}}/traffic.parquet'),
      test: DriftTest.wasserstein(0.1),
      features: ['price', 'position', 'clicks_7d', 'dwell_s'],
      parallelism: 2,
      labelColumn: 'clicked',
      predictionColumn: 'prediction',
      s3EndpointUrl: 'http://minio.storage.svc:9000',
      s3AccessKeyId: { secretName: 'drift-data-s3', key: 'access-key-id' },
      s3SecretAccessKey: { secretName: 'drift-data-s3', key: 'secret-access-key' },
    });

    new PrometheusAlerts(this, 'alerts', {
      modelServices: [ranker, vision],
      driftMonitors: [rankerDrift],
      registries: [registry],
      availabilityObjective: 0.999,
      alertLabels: { team: 'search' },
    });
  }
}

if (require.main === module) {
  const app = new App();
  new FullOptionsStack(app, 'full-options');
  app.synth();
}
