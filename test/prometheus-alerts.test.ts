import { Cron, Duration, Testing } from 'cdk8s';
import * as fc from 'fast-check';
import {
  ALERT_NAMES, DEFAULT_RUNBOOK_URL, DriftData, DriftMonitor, IDriftMonitor, IModelService, ModelRegistryRef, ModelService, ModelServiceProps, Monitoring,
  PrometheusAlerts, PrometheusAlertsProps, ServingRuntime,
} from '../src';
import { newChart, only, synth } from './support/synth-helpers';
import { assertValidManifests } from '../src/testing';

const registry = ModelRegistryRef.fromTrackingUri('http://mlflow.mlops.svc.cluster.local:5000');
const champion = () => ServingRuntime.mlflow({ model: registry.model('fraud-detector', { alias: 'champion' }) });

/** The reference stack's objectives: p99 0.5 s, 5 % errors, accuracy floor 0.9. */
const OBJECTIVES: Partial<ModelServiceProps> = { latencyObjective: Duration.millis(500), errorRateObjective: 0.05, accuracyFloor: 0.9 };

function hourlyDrift(overrides: Partial<IDriftMonitor> = {}): IDriftMonitor {
  return {
    name: 'fraud-detector-drift',
    namespace: 'mlops',
    modelName: 'fraud-detector',
    schedulePeriod: Duration.hours(1),
    reportsQuality: true,
    qualityMetrics: ['accuracy', 'precision', 'recall', 'f1'],
    pushgatewayJob: 'pushgateway',
    driftShare: 0.5,
    shardCount: 1,
    ...overrides,
  };
}

/** A chart with fraud-detector and PrometheusAlerts on it; returns the synthesized objects. */
function stack(serviceProps: Partial<ModelServiceProps> = OBJECTIVES, alertProps: PrometheusAlertsProps = {}, release = 'kube-prometheus-stack') {
  const chart = newChart();
  Monitoring.configure(chart, { serviceMonitorLabels: { release } });
  const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), ...serviceProps });
  const alerts = new PrometheusAlerts(chart, 'alerts', {
    modelServices: [service],
    driftMonitors: serviceProps.accuracyFloor === undefined ? [] : [hourlyDrift()],
    ...alertProps,
  });
  return { chart, service, alerts };
}

function allRules(objects: any[]): any[] {
  return objects.filter((o) => o.kind === 'PrometheusRule').flatMap((r) => r.spec.groups.flatMap((g: any) => g.rules));
}

function alertRules(objects: any[], name: string): any[] {
  return allRules(objects).filter((r) => r.alert === name);
}

function alertNames(objects: any[]): string[] {
  return [...new Set(allRules(objects).map((r) => r.alert).filter(Boolean))].sort();
}

describe('PrometheusAlerts', () => {
  test('alerts on a shadow challenger that fails or disagrees, and keeps its serving series out of the champion\'s rules', () => {
    const objects = synth(stack({ errorRateObjective: 0.02, shadow: { model: registry.model('fraud-detector', { alias: 'challenger' }), agreementFloor: 0.8, tolerance: 0.1 } }).chart);
    expect(alertRules(objects, 'ModelShadowErrors')[0].expr).toMatch(/outcome=~"challenger_failed"\}\[15m\]\)\)\n\/\n.*outcome=~"agree\|disagree\|challenger_failed\|incomparable"\}\[15m\]\)\)\n> 0\.02$/);
    expect(alertRules(objects, 'ModelShadowDisagreement')[0].expr).toMatch(/^model:mlops_shadow_agreement:ratio_1h\{namespace="mlops",model="fraud-detector"\} < 0\.8\nand\n/);
    expect(alertRules(objects, 'ModelShadowDisagreement')[0].annotations.description).toContain('predictions within the tolerance of the champion\'s (floor 80%)');
    // every recording rule over raw serving series takes only the champion's (no variant label)
    const recorded = allRules(objects).filter((r) => r.record?.startsWith('model:mlops_inference_'));
    expect(recorded.length).toBeGreaterThan(0);
    for (const rule of recorded) expect(rule.expr).toContain('variant=""');
    // the challenger itself gets no rules of its own
    expect(objects.filter((o) => o.kind === 'PrometheusRule').map((o) => o.metadata.name)).toEqual(['fraud-detector-alerts']);
    expect(alertRules(synth(stack({}).chart), 'ModelShadowErrors')).toEqual([]);
  });

  test('alerts on a lossy inference log only for services that log, at the share given', () => {
    const logged = synth(stack({ inferenceLog: { destination: 's3://mlops-inference-log' } }, { inferenceLogDropShare: 0.05 }).chart);
    const [rule] = alertRules(logged, 'ModelInferenceLogDropping');
    expect(rule.expr).toBe([
      'sum by (namespace, model) (rate(mlops_inference_log_records_total{namespace="mlops",model="fraud-detector",outcome=~"dropped_buffer_full|dropped_upload_failed"}[15m]))',
      '/',
      'sum by (namespace, model) (rate(mlops_inference_log_records_total{namespace="mlops",model="fraud-detector"}[15m]))',
      '> 0.05',
    ].join('\n'));
    expect(rule.annotations.description).toContain('not written to s3://mlops-inference-log over the last 15 minutes (more than 5%');
    expect(alertRules(synth(stack({}).chart), 'ModelInferenceLogDropping')).toEqual([]);
    expect(() => stack({}, { inferenceLogDropShare: 1 })).toThrow(/inferenceLogDropShare \(1\) is not a share between 0 and 1 \(exclusive\)/);
  });

  test('synthesizes one PrometheusRule per service, drift monitor, registry and promotion relay with every contract alert', () => {
    // GIVEN the reference stack's model (with its inference log), its hourly drift check, the registry and an SLO
    const { chart } = stack({
      ...OBJECTIVES,
      inferenceLog: { destination: 's3://mlops-inference-log/prod' },
      shadow: { model: registry.model('fraud-detector', { alias: 'challenger' }) },
    }, {
      driftMonitors: [hourlyDrift()],
      registries: [{ name: 'mlflow', namespace: 'mlops' }],
      promotions: [{ name: 'promotion', namespace: 'mlops', promotedModels: ['fraud-detector'] }],
      availabilityObjective: 0.999,
    });
    // WHEN
    const objects = synth(chart);
    const rules = objects.filter((o) => o.kind === 'PrometheusRule');
    // THEN
    expect(rules.map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toEqual([
      'mlops/fraud-detector-alerts', 'mlops/fraud-detector-drift-alerts', 'mlops/mlflow-alerts', 'mlops/promotion-alerts',
    ]);
    expect(only(rules, 'PrometheusRule', 'fraud-detector-alerts').spec.groups.map((g: any) => g.name))
      .toEqual(['mlops/fraud-detector/serving', 'mlops/fraud-detector/inference-log', 'mlops/fraud-detector/shadow', 'mlops/fraud-detector/quality', 'mlops/fraud-detector/slo']);
    expect(alertNames(objects)).toEqual([...ALERT_NAMES].sort());
    expect(rules).toMatchSnapshot();
  });

  test('synthesizes manifests that pass the CRD and Kubernetes schemas', () => {
    const { chart } = stack(OBJECTIVES, { registries: [{ name: 'mlflow', namespace: 'mlops' }], availabilityObjective: 0.999 });
    expect(() => assertValidManifests(synth(chart))).not.toThrow();
  });

  test('labels every PrometheusRule with the stack\'s ruleSelector labels from Monitoring', () => {
    // GIVEN Monitoring configured once for the stack
    const { chart } = stack(OBJECTIVES, { registries: [{ name: 'mlflow', namespace: 'mlops' }] }, 'prom-ops');
    // WHEN
    const rules = synth(chart).filter((o) => o.kind === 'PrometheusRule');
    // THEN
    expect(rules).toHaveLength(3);
    for (const rule of rules) expect(rule.metadata.labels).toMatchObject({ release: 'prom-ops', 'app.kubernetes.io/managed-by': 'mlops-constructs' });
  });

  test('ruleLabels overrides the Monitoring labels', () => {
    const { chart } = stack(OBJECTIVES, { ruleLabels: { prometheus: 'ml' } });
    const rule = only(synth(chart), 'PrometheusRule', 'fraud-detector-alerts');
    expect(rule.metadata.labels.prometheus).toBe('ml');
    expect(rule.metadata.labels.release).toBeUndefined();
  });

  test('every alert has severity and namespace labels, model where one model is concerned, and summary, description, runbook_url', () => {
    const { chart } = stack({
      ...OBJECTIVES, inferenceLog: { destination: 's3://mlops-inference-log' }, shadow: { model: registry.model('fraud-detector', { alias: 'challenger' }) },
    }, { driftMonitors: [hourlyDrift()], registries: [{ name: 'mlflow', namespace: 'mlops' }], availabilityObjective: 0.999 });
    const alerts = allRules(synth(chart)).filter((r) => r.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(ALERT_NAMES.length);
    for (const alert of alerts) {
      expect(['critical', 'warning', 'info']).toContain(alert.labels.severity);
      expect(alert.labels.namespace).toBe('mlops');
      if (alert.alert !== 'ModelRegistryDown') expect(alert.labels.model).toBe('fraud-detector');
      expect(Object.keys(alert.annotations).sort()).toEqual(['description', 'runbook_url', 'summary']);
      expect(alert.annotations.runbook_url).toBe(`${DEFAULT_RUNBOOK_URL}#${alert.alert.toLowerCase()}`);
    }
  });

  test('names recording rules level:metric:operations and records quantiles and ratios by namespace and model', () => {
    const { chart } = stack(OBJECTIVES, { availabilityObjective: 0.999 });
    const objects = synth(chart);
    for (const r of allRules(objects).filter((rule) => rule.record)) expect(r.record).toMatch(/^[a-z_]+:[a-z_]+:[a-z0-9_]+$/);
    const records = allRules([only(objects, 'PrometheusRule', 'fraud-detector-alerts')]).filter((r) => r.record);
    expect(records.map((r) => r.record)).toEqual(expect.arrayContaining([
      'model:mlops_inference_requests:rate_5m',
      'model:mlops_inference_requests:rate_1h',
      'model:mlops_inference_requests:error_ratio_5m',
      'model:mlops_inference_request_duration_seconds:p50_5m',
      'model:mlops_inference_request_duration_seconds:p90_5m',
      'model:mlops_inference_request_duration_seconds:p99_5m',
      'model:mlops_inference_requests:error_ratio_1h',
      'model:mlops_inference_requests:error_ratio_3d',
    ]));
    for (const r of records) {
      expect(r.record).toMatch(/^model:mlops_inference_[a-z_]+:[a-z0-9_]+$/);
      expect(r.expr).toContain('sum by (namespace, model');
      expect(r.expr).toContain('namespace="mlops",model="fraud-detector"');
    }
  });

  test('compares p99 latency and the error ratio with the service\'s objectives', () => {
    // GIVEN a 250 ms p99 objective and 1 % errors
    const { chart } = stack({ latencyObjective: Duration.millis(250), errorRateObjective: 0.01 });
    // WHEN
    const objects = synth(chart);
    const [latency] = alertRules(objects, 'ModelHighLatency');
    const [errors] = alertRules(objects, 'ModelHighErrorRate');
    // THEN
    expect(latency.expr).toBe('model:mlops_inference_request_duration_seconds:p99_5m{namespace="mlops",model="fraud-detector"} > 0.25');
    expect(latency.for).toBe('10m');
    expect(latency.annotations.summary).toBe('Model fraud-detector is slower than its 250ms p99 objective');
    expect(errors.expr).toBe('model:mlops_inference_requests:error_ratio_5m{namespace="mlops",model="fraud-detector"} > 0.01');
    expect(errors.for).toBe('5m');
    expect(errors.labels.severity).toBe('critical');
  });

  test('counts only 5xx answers as errors', () => {
    const { chart } = stack();
    const [ratio] = allRules(synth(chart)).filter((r) => r.record === 'model:mlops_inference_requests:error_ratio_5m');
    expect(ratio.expr).toContain('code=~"5.."');
  });

  test('leaves out latency, error and error-budget alerts without objectives', () => {
    const { chart } = stack({});
    expect(alertNames(synth(chart))).toEqual(['ModelReplicasUnavailable', 'ModelTrafficDrop']);
  });

  test('adds the four SRE workbook burn-rate pairs for an availability objective', () => {
    // GIVEN 99.9 %: a 0.1 % budget
    const { chart } = stack(OBJECTIVES, { availabilityObjective: 0.999 });
    // WHEN
    const burns = alertRules(synth(chart), 'ModelErrorBudgetBurn');
    // THEN
    expect(burns.map((b) => [b.labels.long_window, b.labels.short_window, b.labels.severity, b.for])).toEqual([
      ['1h', '5m', 'critical', '2m'],
      ['6h', '30m', 'critical', '15m'],
      ['1d', '2h', 'warning', '1h'],
      ['3d', '6h', 'warning', '3h'],
    ]);
    expect(burns.map((b) => b.expr)).toEqual([0.0144, 0.006, 0.003, 0.001].map((threshold, i) => {
      const [long, short] = [['1h', '5m'], ['6h', '30m'], ['1d', '2h'], ['3d', '6h']][i];
      return `model:mlops_inference_requests:error_ratio_${long}{namespace="mlops",model="fraud-detector"} > ${threshold}\n`
        + `and\nmodel:mlops_inference_requests:error_ratio_${short}{namespace="mlops",model="fraud-detector"} > ${threshold}`;
    }));
  });

  test('a per-service availability objective overrides the stack\'s', () => {
    const chart = newChart();
    const a = new ModelService(chart, 'a', { runtime: champion() });
    const b = new ModelService(chart, 'b', { runtime: champion() });
    const alerts = new PrometheusAlerts(chart, 'alerts', { availabilityObjective: 0.99 });
    alerts.addModelService(a);
    alerts.addModelService(b, { availabilityObjective: 0.9995 });
    const objects = synth(chart);
    const page = (name: string) => only(objects, 'PrometheusRule', `${name}-alerts`).spec.groups.flatMap((g: any) => g.rules)
      .find((r: any) => r.alert === 'ModelErrorBudgetBurn').expr as string;
    expect(page('a')).toContain('> 0.144');
    expect(page('b')).toContain('> 0.0072');
  });

  test('writes burn-rate thresholds without floating-point noise for any valid objective', () => {
    fc.assert(fc.property(fc.integer({ min: 9310, max: 9999 }), (tenThousandths) => {
      const objective = tenThousandths / 10_000;
      const chart = newChart();
      const service = new ModelService(chart, 'm', { runtime: champion() });
      new PrometheusAlerts(chart, 'alerts', { modelServices: [service], availabilityObjective: objective });
      const burns = alertRules(synth(chart), 'ModelErrorBudgetBurn');
      burns.forEach((b, i) => {
        const threshold = /> ([0-9.e-]+)\n/.exec(b.expr)![1];
        expect(threshold.length).toBeLessThanOrEqual(14);
        expect(Math.abs(Number(threshold) - [14.4, 6, 3, 1][i] * (1 - objective))).toBeLessThan(1e-12);
      });
    }), { numRuns: 25 });
  });

  test('alerts on traffic falling under a share of the previous hour, and on a vanished series', () => {
    const { chart } = stack({}, { trafficDropRatio: 0.3, trafficDropMinRate: 5 });
    const [drop] = alertRules(synth(chart), 'ModelTrafficDrop');
    expect(drop.expr).toContain('< 0.3 * (model:mlops_inference_requests:rate_1h{namespace="mlops",model="fraud-detector"} offset 5m)');
    expect(drop.expr).toContain('(model:mlops_inference_requests:rate_1h{namespace="mlops",model="fraud-detector"} offset 5m) >= 5');
    expect(drop.expr).toContain('or\n    (model:mlops_inference_requests:rate_1h{namespace="mlops",model="fraud-detector"} offset 5m) * 0');
  });

  test('keeps alerting through an outage until the model has had no traffic for trafficDropRetireAfter', () => {
    // GIVEN a retirement window of 6 hours
    const { chart } = stack({}, { trafficDropMinRate: 5, trafficDropRetireAfter: Duration.hours(6) });

    // WHEN the alert is synthesized
    const [drop] = alertRules(synth(chart), 'ModelTrafficDrop');

    // THEN silence (a zero or absent rate) alerts while the hourly rate reached the minimum within 6 hours
    const peak = 'max_over_time(model:mlops_inference_requests:rate_1h{namespace="mlops",model="fraud-detector"}[6h])';
    expect(drop.expr).toContain('model:mlops_inference_requests:rate_5m{namespace="mlops",model="fraud-detector"} == 0');
    expect(drop.expr).toContain(`${peak} * 0 unless model:mlops_inference_requests:rate_5m{namespace="mlops",model="fraud-detector"}`);
    expect(drop.expr).toContain(`${peak} >= 5`);
    expect(drop.annotations.description).toContain('or none at all after it had traffic within 6h');
  });

  test.each([
    ['an hour', Duration.hours(1)],
    ['a fraction of a minute', Duration.seconds(7230)],
    ['a number', 86400],
  ])('fails on a trafficDropRetireAfter of %s', (_, value) => {
    expect(() => stack({}, { trafficDropRetireAfter: value as Duration })).toThrow(
      /PrometheusAlerts .*: trafficDropRetireAfter \(.*\) is not a Duration of at least 2 hours in whole minutes; use e\.g\. Duration\.days\(1\)/);
  });

  test('watches the Deployment\'s unavailable replicas through kube-state-metrics', () => {
    const { chart } = stack({});
    const [replicas] = alertRules(synth(chart), 'ModelReplicasUnavailable');
    expect(replicas.expr).toContain('kube_deployment_status_replicas_unavailable{namespace="mlops",deployment="fraud-detector"}');
    expect(replicas.expr).toContain('kube_deployment_spec_replicas{namespace="mlops",deployment="fraud-detector"}');
    expect(replicas.for).toBe('15m');
  });

  test('compares pushed accuracy with the floor', () => {
    const { chart } = stack(OBJECTIVES);
    const [accuracy] = alertRules(synth(chart), 'ModelAccuracyDrop');
    expect(accuracy.expr).toBe('min by (namespace, model) (mlops_model_quality{job="mlops-drift",namespace="mlops",model="fraud-detector",metric="accuracy"}) < 0.9');
    expect(accuracy.for).toBeUndefined();
  });

  test('alerts on drift results pushed under the mlops-drift grouping key and on the CronJob\'s jobs', () => {
    // GIVEN a check every 30 minutes
    const chart = newChart();
    const alerts = new PrometheusAlerts(chart, 'alerts');
    // WHEN
    alerts.addDriftMonitor(hourlyDrift({ schedulePeriod: Duration.minutes(30) }));
    const objects = synth(chart);
    // THEN
    const sel = 'job="mlops-drift",namespace="mlops",model="fraud-detector"';
    expect(alertRules(objects, 'ModelDriftDetected')[0].expr).toBe(`max by (namespace, model) (mlops_drift_dataset_drifted{${sel}}) > 0`);
    expect(alertRules(objects, 'ModelFeatureDrift')[0].expr).toBe(`max by (namespace, model, feature, method) (mlops_drift_detected{${sel}}) > 0`);
    const [late, absent] = alertRules(objects, 'ModelDriftCheckStale');
    expect(late.expr).toBe(`time() - min by (namespace, model) (mlops_drift_last_success_timestamp_seconds{${sel}}) > 3600`);
    expect(absent.expr).toBe(`absent(mlops_drift_last_success_timestamp_seconds{${sel}})`);
    expect(absent.for).toBe('1h');
    const [failed] = alertRules(objects, 'ModelDriftCheckFailed');
    expect(failed.expr).toContain('kube_job_status_failed{namespace="mlops"} > 0');
    const [owned] = allRules(objects).filter((r) => r.record === 'cronjob_job:kube_job_status_start_time:max');
    expect(owned.expr).toContain('kube_job_owner{namespace="mlops",owner_kind="CronJob",owner_name="fraud-detector-drift"}');
    expect(owned.labels).toEqual({ cronjob: 'fraud-detector-drift' });
    for (const alert of allRules(objects).filter((r) => r.alert)) expect(alert.labels.cronjob).toBe('fraud-detector-drift');
  });

  test('a sharded drift check judges the dataset on every feature of every shard', () => {
    // GIVEN a check split over three pods, each pushing a group (label shard) for its features
    const chart = newChart();
    const alerts = new PrometheusAlerts(chart, 'alerts');
    // WHEN
    alerts.addDriftMonitor(hourlyDrift({ shardCount: 3, driftShare: 0.3 }));
    const objects = synth(chart);
    // THEN the share is recomputed over all features, not taken from one shard's verdict
    const sel = 'job="mlops-drift",namespace="mlops",model="fraud-detector"';
    expect(alertRules(objects, 'ModelDriftDetected')[0].expr)
      .toBe(`sum by (namespace, model) (mlops_drift_detected{${sel}}) / count by (namespace, model) (mlops_drift_detected{${sel}}) >= 0.3`);
  });

  test('takes the DriftMonitor construct: its CronJob name, schedule period and quality metrics', () => {
    // GIVEN a check every 15 minutes with label and prediction columns
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), accuracyFloor: 0.9 });
    const drift = new DriftMonitor(chart, 'drift', {
      modelService: service,
      reference: DriftData.uri('s3://lake/fraud/reference.parquet'),
      current: DriftData.uri('s3://lake/fraud/dt={{ds}}/part.parquet'),
      schedule: Cron.schedule({ minute: '*/15' }),
      labelColumn: 'is_fraud',
      predictionColumn: 'predicted',
    });
    // WHEN
    new PrometheusAlerts(chart, 'alerts', { modelServices: [service], driftMonitors: [drift] });
    const objects = synth(chart);
    // THEN
    const [late] = alertRules(objects, 'ModelDriftCheckStale');
    expect(late.expr).toMatch(/ > 1800$/);
    expect(late.labels.cronjob).toBe(drift.name);
    expect(only(objects, 'PrometheusRule', `${drift.name}-alerts`).metadata.namespace).toBe('mlops');
    expect(alertRules(objects, 'ModelAccuracyDrop')).toHaveLength(1);
  });

  test('fails at synth when the DriftMonitor of an accuracy floor has no label column', () => {
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), accuracyFloor: 0.9 });
    const drift = new DriftMonitor(chart, 'drift', {
      modelService: service,
      reference: DriftData.uri('s3://lake/fraud/reference.parquet'),
      current: DriftData.uri('s3://lake/fraud/dt={{ds}}/part.parquet'),
    });
    new PrometheusAlerts(chart, 'alerts', { modelServices: [service], driftMonitors: [drift] });
    expect(() => Testing.synth(chart)).toThrow(/accuracyFloor of model service mlops\/fraud-detector \(0\.9\) .*does not check quality/);
  });

  test('alerts when no target of the registry\'s Service is up, or none is scraped', () => {
    const chart = newChart();
    new PrometheusAlerts(chart, 'alerts', { registries: [{ name: 'mlflow', namespace: 'mlops' }] });
    const [down] = alertRules(synth(chart), 'ModelRegistryDown');
    expect(down.expr).toBe('max by (namespace, job) (up{job="mlflow",namespace="mlops"}) == 0\nor\nabsent(up{job="mlflow",namespace="mlops"})');
    expect(down.labels).toEqual({ severity: 'critical', namespace: 'mlops' });
    expect(down.for).toBe('5m');
  });

  test('points runbook_url at a configurable runbooks page and adds alertLabels to every alert', () => {
    const { chart } = stack({}, { runbookUrl: 'https://wiki.example.com/ml/runbooks', alertLabels: { team: 'fraud' } });
    for (const alert of allRules(synth(chart)).filter((r) => r.alert)) {
      expect(alert.annotations.runbook_url).toBe(`https://wiki.example.com/ml/runbooks#${alert.alert.toLowerCase()}`);
      expect(alert.labels.team).toBe('fraud');
    }
  });

  test('accepts the accuracy floor\'s drift monitor added after the service', () => {
    // GIVEN a service with an accuracy floor added first
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), ...OBJECTIVES });
    const alerts = new PrometheusAlerts(chart, 'alerts', { modelServices: [service] });
    // WHEN its drift monitor comes later
    alerts.addDriftMonitor(hourlyDrift());
    // THEN
    expect(() => synth(chart)).not.toThrow();
  });

  test('addX returns the PrometheusRule it adds', () => {
    const chart = newChart();
    const alerts = new PrometheusAlerts(chart, 'alerts');
    const rule = alerts.addRegistry({ name: 'mlflow', namespace: 'mlops' });
    expect(rule.name).toBe('mlflow-alerts');
    expect(alerts.rules).toEqual([rule]);
  });

  test('alerts on a service without serving metrics only through kube-state-metrics', () => {
    // GIVEN a custom server without metrics and the proxy turned off
    const chart = newChart();
    const service: IModelService = { name: 'batch-scorer', namespace: 'mlops', modelName: 'batch-scorer', exportsServingMetrics: false };
    // WHEN
    new PrometheusAlerts(chart, 'alerts', { modelServices: [service] });
    const objects = synth(chart);
    // THEN
    expect(alertNames(objects)).toEqual(['ModelReplicasUnavailable']);
    expect(allRules(objects).filter((r) => r.record)).toEqual([]);
  });
});

describe('PrometheusAlerts validation', () => {
  const dark: IModelService = { name: 'dark', namespace: 'mlops', modelName: 'dark', exportsServingMetrics: false };

  test('fails when a latency objective needs serving metrics the service does not export', () => {
    const chart = newChart();
    expect(() => new PrometheusAlerts(chart, 'alerts', { modelServices: [{ ...dark, latencyObjective: Duration.millis(300) }] })).toThrow(
      'PrometheusAlerts test/alerts: latencyObjective of model service mlops/dark ("300ms") needs the serving metrics (mlops_inference_*), which the service does not export (exportsServingMetrics is false); run the metrics proxy (metricsProxy: true) or declare the runtime\'s own metrics, or drop latencyObjective',
    );
  });

  test('fails when an error-rate objective needs serving metrics the service does not export', () => {
    const chart = newChart();
    expect(() => new PrometheusAlerts(chart, 'alerts', { modelServices: [{ ...dark, errorRateObjective: 0.02 }] }))
      .toThrow(/errorRateObjective of model service mlops\/dark \(0\.02\) needs the serving metrics .*; run the metrics proxy/);
  });

  test('fails when an availability objective needs serving metrics the service does not export', () => {
    const chart = newChart();
    const alerts = new PrometheusAlerts(chart, 'alerts');
    expect(() => alerts.addModelService(dark, { availabilityObjective: 0.999 }))
      .toThrow(/availabilityObjective of model service mlops\/dark \(0\.999\) needs the serving metrics/);
  });

  test('fails at synth when an accuracy floor has no drift monitor of its model', () => {
    // GIVEN
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), accuracyFloor: 0.9 });
    new PrometheusAlerts(chart, 'alerts', { modelServices: [service], driftMonitors: [hourlyDrift({ name: 'churn-drift', modelName: 'churn' })] });
    // WHEN / THEN
    expect(() => Testing.synth(chart)).toThrow(
      'PrometheusAlerts test/alerts: accuracyFloor of model service mlops/fraud-detector (0.9) needs mlops_model_quality{metric="accuracy"} from a drift check, but no drift monitor of model "fraud-detector" in namespace mlops was added; add the model\'s DriftMonitor with label and prediction columns (driftMonitors: [...] or addDriftMonitor), or drop accuracyFloor',
    );
  });

  test('fails at synth with the same message format as the constructors, not wrapped by cdk8s', () => {
    // GIVEN an accuracy floor without a drift monitor: only checkable once every monitor is added
    const chart = newChart();
    const service = new ModelService(chart, 'fraud-detector', { runtime: champion(), accuracyFloor: 0.9 });
    new PrometheusAlerts(chart, 'alerts', { modelServices: [service] });
    // WHEN / THEN the error is the construct's own sentence, as every constructor error is
    expect(() => Testing.synth(chart)).toThrow(/^PrometheusAlerts test\/alerts: accuracyFloor of model service mlops\/fraud-detector \(0\.9\) needs /);
  });

  test('fails at synth when the accuracy floor\'s drift monitor does not check quality', () => {
    const { chart } = stack(OBJECTIVES, { driftMonitors: [hourlyDrift({ reportsQuality: false, qualityMetrics: [] })] });
    expect(() => Testing.synth(chart)).toThrow(/accuracyFloor of model service mlops\/fraud-detector \(0\.9\) .* but drift monitor mlops\/fraud-detector-drift does not check quality \(reportsQuality is false\); give that DriftMonitor the label and prediction columns, or drop accuracyFloor/);
  });

  test('fails at synth when the accuracy floor\'s drift monitor reports regression metrics only', () => {
    const { chart } = stack(OBJECTIVES, { driftMonitors: [hourlyDrift({ qualityMetrics: ['rmse', 'mae'] })] });
    expect(() => Testing.synth(chart)).toThrow(/drift monitor mlops\/fraud-detector-drift reports only rmse, mae; check a classification model/);
  });

  test('fails on an availability objective whose fastest burn-rate alert could never fire', () => {
    const chart = newChart();
    expect(() => new PrometheusAlerts(chart, 'alerts', { availabilityObjective: 0.9 })).toThrow(
      'PrometheusAlerts test/alerts: availabilityObjective (0.9) is not a share between 0.931 and 1 (exclusive); use e.g. 0.999; below 0.931 the fastest burn-rate alert (14.4x the budget) could never fire',
    );
  });

  test.each([
    ['trafficDropRatio', { trafficDropRatio: 1.5 }, /trafficDropRatio \(1\.5\) is not a share between 0 and 1/],
    ['trafficDropMinRate', { trafficDropMinRate: 0 }, /trafficDropMinRate \(0\) is not a positive number/],
    ['runbookUrl', { runbookUrl: 'docs/runbooks.md' }, /runbookUrl \("docs\/runbooks.md"\) is not an http\(s\) address/],
    ['runbookUrl with a fragment', { runbookUrl: 'https://x.example/r#top' }, /runbookUrl .* without a fragment/],
    ['alertLabels overriding severity', { alertLabels: { severity: 'page' } }, /alertLabels\["severity"\] \("page"\) overrides a label every alert sets itself; drop severity/],
    ['alertLabels with a bad name', { alertLabels: { 'team-name': 'x' } }, /alertLabels key \("team-name"\) is not a Prometheus label name/],
    ['ruleLabels', { ruleLabels: { release: 'not ok' } }, /ruleLabels\["release"\] \("not ok"\) is not a valid label value/],
    ['dashboardNamespace', { dashboardNamespace: 'Monitoring' }, /dashboardNamespace \("Monitoring"\) is not a DNS-1123 label/],
  ])('fails on an invalid %s', (_name, props, message) => {
    const chart = newChart();
    expect(() => new PrometheusAlerts(chart, 'alerts', props as PrometheusAlertsProps)).toThrow(message);
  });

  test('fails when two services share a model name in a namespace', () => {
    const chart = newChart();
    const a = new ModelService(chart, 'champion', { runtime: champion(), modelName: 'fraud-detector' });
    const b = new ModelService(chart, 'challenger', { runtime: champion(), modelName: 'fraud-detector' });
    expect(() => new PrometheusAlerts(chart, 'alerts', { modelServices: [a, b] })).toThrow(
      'PrometheusAlerts test/alerts: modelName of model service mlops/challenger ("fraud-detector") is also the model of mlops/champion, so their serving metrics and recording rules would merge; give each service its own modelName',
    );
  });

  test('fails when a service is added twice', () => {
    const chart = newChart();
    const alerts = new PrometheusAlerts(chart, 'alerts');
    const service: IModelService = { name: 'a', namespace: 'mlops', modelName: 'a', exportsServingMetrics: true };
    alerts.addModelService(service);
    expect(() => alerts.addModelService({ ...service, modelName: 'a2' })).toThrow(/PrometheusRule of model service mlops\/a \("mlops\/a-alerts"\) is already the PrometheusRule of model service mlops\/a; add each model service once/);
  });

  test('fails when two drift monitors check the same model', () => {
    const chart = newChart();
    const alerts = new PrometheusAlerts(chart, 'alerts', { driftMonitors: [hourlyDrift()] });
    expect(() => alerts.addDriftMonitor(hourlyDrift({ name: 'fraud-detector-drift-2' }))).toThrow(
      /modelName of drift monitor mlops\/fraud-detector-drift-2 \("fraud-detector"\) is also checked by mlops\/fraud-detector-drift; both push to the same Pushgateway group/,
    );
  });

  test('fails on a drift schedule period under a minute', () => {
    const chart = newChart();
    expect(() => new PrometheusAlerts(chart, 'alerts', { driftMonitors: [hourlyDrift({ schedulePeriod: Duration.seconds(30) })] }))
      .toThrow(/schedulePeriod of drift monitor mlops\/fraud-detector-drift \("30s"\) is not a Duration of at least a minute/);
  });

  test('fails on a registry without a DNS-1123 name', () => {
    const chart = newChart();
    expect(() => new PrometheusAlerts(chart, 'alerts', { registries: [{ name: 'MLflow', namespace: 'mlops' }] }))
      .toThrow(/name of registry in mlops \("MLflow"\) is not a DNS-1123 label/);
  });
});

describe('PrometheusAlerts dashboards', () => {
  test('adds a Grafana dashboard per model as a ConfigMap labelled grafana_dashboard "1"', () => {
    // GIVEN
    const { chart } = stack(OBJECTIVES);
    // WHEN
    const configMap = only(synth(chart), 'ConfigMap', 'fraud-detector-dashboard');
    const dashboard = JSON.parse(configMap.data['mlops-fraud-detector.json']);
    // THEN
    expect(configMap.metadata.labels.grafana_dashboard).toBe('1');
    expect(configMap.metadata.namespace).toBe('mlops');
    expect(dashboard.uid).toBe('mlops-mlops-fraud-detector');
    expect(dashboard.title).toBe('Model fraud-detector (mlops)');
    const panels = dashboard.panels.filter((p: any) => p.type === 'timeseries');
    expect(panels.map((p: any) => p.title)).toEqual([
      'Traffic by status code', 'Errors (5xx share)', 'Latency quantiles', 'Requests in flight', 'Replicas',
      'Drift statistic per feature', 'Drift p-value per feature', 'Drifted share of features', 'Model quality',
      'Time since the last successful drift check',
    ]);
    const exprs = (title: string) => panels.find((p: any) => p.title === title).targets.map((t: any) => t.expr);
    expect(exprs('Latency quantiles')).toEqual([0.5, 0.9, 0.99].map((q) => `histogram_quantile(${q}, sum by (le) (rate(mlops_inference_request_duration_seconds_bucket{namespace="mlops",model="fraud-detector",variant=""}[$__rate_interval])))`));
    expect(exprs('Drift statistic per feature')).toEqual(['max by (feature, method) (mlops_drift_statistic{job="mlops-drift",namespace="mlops",model="fraud-detector"})']);
    expect(exprs('Drift p-value per feature')).toEqual(['max by (feature, method) (mlops_drift_p_value{job="mlops-drift",namespace="mlops",model="fraud-detector"})']);
    const threshold = (title: string) => panels.find((p: any) => p.title === title).fieldConfig.defaults.thresholds.steps[1]?.value;
    expect([threshold('Latency quantiles'), threshold('Errors (5xx share)'), threshold('Model quality')]).toEqual([0.5, 0.05, 0.9]);
    expect(configMap.data).toMatchSnapshot();
  });

  test('lays panels out without overlap', () => {
    const { chart } = stack(OBJECTIVES);
    const dashboard = JSON.parse(only(synth(chart), 'ConfigMap', 'fraud-detector-dashboard').data['mlops-fraud-detector.json']);
    const cells = new Set<string>();
    for (const { gridPos: g } of dashboard.panels) {
      expect(g.x + g.w).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`)).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  test('keeps Grafana uids within 40 characters and distinct for long names', () => {
    const chart = newChart('a-rather-long-namespace-name');
    const long = (name: string): IModelService => ({ name, namespace: 'a-rather-long-namespace-name', modelName: name, exportsServingMetrics: true });
    new PrometheusAlerts(chart, 'alerts', { modelServices: [long('fraud-detector-champion-eu-west'), long('fraud-detector-champion-eu-east')] });
    const uids = synth(chart).filter((o) => o.kind === 'ConfigMap').map((c) => JSON.parse(Object.values<string>(c.data)[0]).uid);
    expect(uids).toHaveLength(2);
    expect(new Set(uids).size).toBe(2);
    for (const uid of uids) expect(uid.length).toBeLessThanOrEqual(40);
  });

  test('puts dashboards in dashboardNamespace, or none with dashboards false', () => {
    const moved = synth(stack({}, { dashboardNamespace: 'monitoring' }).chart);
    expect(only(moved, 'ConfigMap', 'fraud-detector-dashboard').metadata.namespace).toBe('monitoring');
    const none = synth(stack({}, { dashboards: false }).chart);
    expect(none.filter((o) => o.metadata.name === 'fraud-detector-dashboard')).toEqual([]);
  });

  test('shows replicas, drift and quality but no serving panels for a service without serving metrics', () => {
    const chart = newChart();
    new PrometheusAlerts(chart, 'alerts', { modelServices: [{ name: 'batch', namespace: 'mlops', modelName: 'batch', exportsServingMetrics: false }] });
    const dashboard = JSON.parse(only(synth(chart), 'ConfigMap', 'batch-dashboard').data['mlops-batch.json']);
    const titles = dashboard.panels.map((p: any) => p.title);
    expect(titles).not.toContain('Latency quantiles');
    expect(titles).toContain('Drift statistic per feature');
  });
});
