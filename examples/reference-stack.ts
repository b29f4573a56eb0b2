// The reference stack (DESIGN.md): everything in namespace `mlops`. `cdk8s synth` at the
// repository root runs this file and writes the manifests to dist/.
import { App, Chart, ChartProps, Duration, Size } from 'cdk8s';
import { Construct } from 'constructs';
import { Cpu, ModelRegistryRef, ModelService, Monitoring, ScalingMetric, ServingRuntime } from '../src';

/** Options of the reference stack. */
export interface ReferenceStackProps extends ChartProps {
  /** Label a kube-prometheus-stack install selects ServiceMonitors and rules by. @default 'kube-prometheus-stack' */
  readonly monitoringRelease?: string;
}

/** MLflow registry, fraud-detector model service, drift checks and alerts, in namespace `mlops`. */
export class ReferenceStack extends Chart {
  public readonly fraudDetector: ModelService;

  constructor(scope: Construct, id: string, props: ReferenceStackProps = {}) {
    super(scope, id, { namespace: 'mlops', disableResourceNameHashes: true, ...props });
    Monitoring.configure(this, { serviceMonitorLabels: { release: props.monitoringRelease ?? 'kube-prometheus-stack' } });

    // Until the ModelRegistry construct lands, the registry is referenced by its in-cluster URI.
    const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');

    this.fraudDetector = new ModelService(this, 'fraud-detector', {
      runtime: ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) }),
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
  }
}

if (require.main === module) {
  const app = new App();
  new ReferenceStack(app, 'mlops');
  app.synth();
}
