// Every object a construct writes must be unique in its namespace (issue 12): a second object
// of the same kind and name would replace the first on apply, in silence.
import { App, Chart } from 'cdk8s';
import { DriftData, DriftMonitor, ModelRegistryRef, ModelService, Monitoring, PrometheusAlerts, ServingRuntime } from '../src';
import { newChart, synth } from './support/synth-helpers';

const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const champion = () => ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) });
const data = { reference: DriftData.uri('https://d.example.com/r.csv'), current: DriftData.uri('https://d.example.com/c.csv') };

function chartIn(app: App, id: string, namespace = 'ml-prod'): Chart {
  const chart = new Chart(app, id, { namespace, disableResourceNameHashes: true });
  Monitoring.configure(chart, { serviceMonitorLabels: { release: 'prometheus' } });
  return chart;
}

describe('object names', () => {
  test('fails on two DriftMonitors of one model with the same name, naming both', () => {
    // GIVEN one model and a first drift check
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion() });
    new DriftMonitor(chart, 'daily', { modelService: service, name: 'fraud-detector-drift', ...data });

    // WHEN a second one takes the same name / THEN it fails before writing anything that would collide
    expect(() => new DriftMonitor(chart, 'hourly', { modelService: service, name: 'fraud-detector-drift', ...data })).toThrow(
      /^DriftMonitor test\/hourly: writes (ConfigMap|CronJob|NetworkPolicy) mlops\/fraud-detector-drift[a-z-]*, which DriftMonitor test\/daily writes too, so one would replace the other on apply; give one of them another name \(its name prop\)$/);
  });

  test('two DriftMonitors of one model with their own names synthesize side by side', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion() });
    new DriftMonitor(chart, 'daily', { modelService: service, name: 'fraud-detector-daily', ...data });
    new DriftMonitor(chart, 'hourly', { modelService: service, name: 'fraud-detector-hourly', ...data });
    const cronJobs = synth(chart).filter((o) => o.kind === 'CronJob').map((o) => o.metadata.name);
    expect(cronJobs).toEqual(['fraud-detector-daily', 'fraud-detector-hourly']);
  });

  test('fails on two charts of one App that each write a pushgateway into one namespace', () => {
    // GIVEN two charts in namespace ml-prod, the first with a drift check (and so its Pushgateway)
    const app = new App();
    const first = chartIn(app, 'fraud');
    new DriftMonitor(first, 'drift', { modelService: new ModelService(first, 'fraud-detector', { runtime: champion() }), ...data });
    const second = chartIn(app, 'churn');
    const churn = new ModelService(second, 'churn', { runtime: champion() });

    // WHEN the second chart gets a drift check / THEN its Pushgateway collides with the first chart's
    expect(() => new DriftMonitor(second, 'drift', { modelService: churn, ...data })).toThrow(
      /^Pushgateway churn\/Pushgateway: writes (Deployment|Service|ServiceMonitor|NetworkPolicy) ml-prod\/pushgateway, which Pushgateway fraud\/Pushgateway writes too/);
  });

  test('fails on two ModelServices of one name in one namespace, from different charts', () => {
    const app = new App();
    new ModelService(chartIn(app, 'a'), 'ranker', { runtime: champion() });
    expect(() => new ModelService(chartIn(app, 'b'), 'ranker', { runtime: champion() }))
      .toThrow(/^ModelService b\/ranker: writes \w+ ml-prod\/ranker[a-z-]*, which ModelService a\/ranker writes too/);
  });

  test('the same names in other namespaces, or in another App, are fine', () => {
    const app = new App();
    new ModelService(chartIn(app, 'prod', 'ml-prod'), 'ranker', { runtime: champion() });
    new ModelService(chartIn(app, 'staging', 'ml-staging'), 'ranker', { runtime: champion() });
    expect(() => new ModelService(chartIn(new App(), 'prod', 'ml-prod'), 'ranker', { runtime: champion() })).not.toThrow();
  });

  test('fails on alerts whose dashboard another construct already writes', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion() });
    new PrometheusAlerts(chart, 'alerts', { modelServices: [service] });
    expect(() => new PrometheusAlerts(chart, 'more-alerts', { modelServices: [service] }))
      .toThrow(/^PrometheusAlerts test\/more-alerts: writes PrometheusRule mlops\/fraud-detector-alerts, which PrometheusAlerts test\/alerts writes too/);
  });
});
