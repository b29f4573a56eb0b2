import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration } from 'cdk8s';
import * as yaml from 'js-yaml';
import { IDriftMonitor, ModelRegistryRef, ModelService, Monitoring, PrometheusAlerts, ServingRuntime } from '../../src';
import { newChart, synth } from '../support/synth-helpers';

/**
 * The stack the promtool suites test: fraud-detector as in the reference stack (p99 0.5 s,
 * 5 % errors, accuracy floor 0.9, inference log, shadow challenger) plus a 99.9 % availability SLO, its hourly drift check
 * the `mlflow` registry and the promotion relay `promotion`. The suites name the rule files this writes
 * (`<PrometheusRule name>.yaml`), so they always test the synthesized rules.
 */
export function fixtureRules(): any[] {
  const chart = newChart('mlops');
  Monitoring.configure(chart, { serviceMonitorLabels: { release: 'kube-prometheus-stack' } });
  const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
  const service = new ModelService(chart, 'fraud-detector', {
    runtime: ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) }),
    latencyObjective: Duration.millis(500),
    errorRateObjective: 0.05,
    accuracyFloor: 0.9,
    inferenceLog: { destination: 's3://mlops-inference-log/prod' },
    shadow: { model: registry.model('fraud-detector', { alias: 'challenger' }) },
  });
  // The interface, not the DriftMonitor construct: these suites test the rules, whatever
  // the CronJob looks like.
  const drift: IDriftMonitor = {
    name: 'fraud-detector-drift',
    namespace: 'mlops',
    modelName: 'fraud-detector',
    schedulePeriod: Duration.hours(1),
    reportsQuality: true,
    qualityMetrics: ['accuracy', 'precision', 'recall', 'f1'],
    pushgatewayJob: 'pushgateway',
    driftShare: 0.5,
    shardCount: 1,
  };
  new PrometheusAlerts(chart, 'alerts', {
    modelServices: [service],
    driftMonitors: [drift],
    registries: [{ name: 'mlflow', namespace: 'mlops' }],
    promotions: [{ name: 'promotion', namespace: 'mlops', promotedModels: ['fraud-detector'] }],
    availabilityObjective: 0.999,
  });
  return synth(chart).filter((o) => o.kind === 'PrometheusRule');
}

/** Writes each PrometheusRule's groups as a Prometheus rule file; returns the paths. */
export function writeRuleFiles(rules: any[], dir: string): string[] {
  return rules.map((rule) => {
    const file = path.join(dir, `${rule.metadata.name}.yaml`);
    fs.writeFileSync(file, yaml.dump({ groups: rule.spec.groups }, { lineWidth: -1 }));
    return file;
  });
}
