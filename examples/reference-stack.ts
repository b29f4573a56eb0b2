// The reference stack (docs/architecture.md): everything in namespace `mlops`. `cdk8s synth` at the
// repository root runs this file and writes the manifests to dist/.
import { App, Chart, ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import { DriftMonitor, ModelPromotion, ModelRegistry, ModelService, Monitoring, PrometheusAlerts } from '../src';
import { fraudDetectorProps, fraudDriftProps, MODEL_NAME, promotionProps, registryProps } from './reference-stack-props';

/** Options of the reference stack. */
export interface ReferenceStackProps extends ChartProps {
  /** Label a kube-prometheus-stack install selects ServiceMonitors and rules by. @default 'kube-prometheus-stack' */
  readonly monitoringRelease?: string;
}

/** MLflow registry, fraud-detector model service, drift checks, promotion relay and alerts, in namespace `mlops`. */
export class ReferenceStack extends Chart {
  public readonly registry: ModelRegistry;
  public readonly fraudDetector: ModelService;
  public readonly fraudDrift: DriftMonitor;
  public readonly promotion: ModelPromotion;
  public readonly alerts: PrometheusAlerts;

  constructor(scope: Construct, id: string, props: ReferenceStackProps = {}) {
    super(scope, id, { namespace: 'mlops', disableResourceNameHashes: true, ...props });
    Monitoring.configure(this, { serviceMonitorLabels: { release: props.monitoringRelease ?? 'kube-prometheus-stack' } });

    this.registry = new ModelRegistry(this, 'mlflow', registryProps());
    const champion = this.registry.model(MODEL_NAME, { alias: 'champion' });
    const challenger = this.registry.model(MODEL_NAME, { alias: 'challenger' });
    this.fraudDetector = new ModelService(this, MODEL_NAME, fraudDetectorProps(champion, challenger));
    this.fraudDrift = new DriftMonitor(this, `${MODEL_NAME}-drift`, fraudDriftProps(this.fraudDetector, champion));
    // A move of champion becomes a repository_dispatch that the CI workflow deploys.
    this.promotion = new ModelPromotion(this, 'promotion', promotionProps(this.registry));

    // Alerts on all of the above, labelled for the same release as the ServiceMonitors, and a
    // Grafana dashboard for fraud-detector.
    this.alerts = new PrometheusAlerts(this, 'alerts', {
      modelServices: [this.fraudDetector],
      driftMonitors: [this.fraudDrift],
      registries: [this.registry],
      promotions: [this.promotion],
    });
  }
}

if (require.main === module) {
  const app = new App();
  new ReferenceStack(app, 'mlops');
  app.synth();
}
