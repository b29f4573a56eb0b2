import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { DRIFT_METRICS as D, DRIFT_PUSH_JOB, SERVING_METRICS as S } from '../../contract';
import * as k8s from '../core/k8s';
import { IModelService } from '../serving/interfaces';
import { invalidProp, isDnsLabel, requireDnsLabel, requireLabels } from '../core/validation';
import { workloadLabels } from '../core/workload';

/** Properties of a ModelDashboard. */
export interface ModelDashboardProps {
  /** The model service the dashboard shows. */
  readonly service: IModelService;
  /** Namespace of the ConfigMap: where the Grafana dashboard sidecar looks. @default - the service's namespace */
  readonly namespace?: string;
  /** Labels of the ConfigMap besides `grafana_dashboard: "1"`. @default {} */
  readonly labels?: Record<string, string>;
}

const KIND = 'ModelDashboard';
/** Label the Grafana sidecar of kube-prometheus-stack (and the grafana chart) selects dashboards by. */
export const GRAFANA_DASHBOARD_LABEL = 'grafana_dashboard';
// Grafana refuses dashboard uids longer than 40 characters.
const MAX_UID_LENGTH = 40;

/**
 * A Grafana dashboard of one model as a ConfigMap labelled `grafana_dashboard: "1"`:
 * traffic, errors, latency quantiles, replicas, drift statistic and p-value per feature, and
 * quality. Queries read the raw contract metrics, so the dashboard works without the
 * PrometheusAlerts recording rules.
 */
export class ModelDashboard extends Construct {
  /** Name of the ConfigMap. */
  public readonly name: string;
  /** Namespace of the ConfigMap. */
  public readonly namespace: string;
  /** Grafana uid of the dashboard (stable: bookmarks and links use it). */
  public readonly uid: string;
  /** The dashboard JSON model. */
  public readonly dashboard: Record<string, unknown>;
  /** The ConfigMap. */
  public readonly configMap: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: ModelDashboardProps) {
    super(scope, id);
    const service = props?.service;
    if (service === undefined || service === null || typeof service !== 'object' || !isDnsLabel(service.name) || !isDnsLabel(service.namespace)) {
      throw invalidProp(KIND, this, 'service', service === undefined ? undefined : { name: service?.name, namespace: service?.namespace },
        'is not a model service with a DNS-1123 name and namespace', 'pass a ModelService (or an IModelService of the Pulumi layer)');
    }
    this.namespace = requireDnsLabel(KIND, this, 'namespace', props.namespace ?? service.namespace);
    const labels = props.labels === undefined ? {} : requireLabels(KIND, this, 'labels', props.labels);
    if (GRAFANA_DASHBOARD_LABEL in labels) {
      throw invalidProp(KIND, this, `labels["${GRAFANA_DASHBOARD_LABEL}"]`, labels[GRAFANA_DASHBOARD_LABEL], 'is set by the dashboard itself', 'drop it from labels');
    }
    this.name = `${service.name}-dashboard`;
    this.uid = dashboardUid(service.namespace, service.name);
    this.dashboard = modelDashboardJson(service, this.uid);
    this.configMap = new k8s.KubeConfigMap(this, 'Resource', {
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: workloadLabels(service.name, 'dashboard', { ...labels, [GRAFANA_DASHBOARD_LABEL]: '1' }).labels,
      },
      data: { [`${service.namespace}-${service.name}.json`]: JSON.stringify(this.dashboard, undefined, 2) },
    });
  }
}

/** `mlops-<namespace>-<name>`, shortened with a hash when Grafana's 40-character limit needs it. */
function dashboardUid(namespace: string, name: string): string {
  const plain = `mlops-${namespace}-${name}`;
  if (plain.length <= MAX_UID_LENGTH) return plain;
  const hash = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 8);
  return `${plain.slice(0, MAX_UID_LENGTH - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

interface Target { readonly expr: string; readonly legend: string }
interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly unit: string;
  readonly targets: Target[];
  /** A red line at this value (an objective or a floor). */
  readonly threshold?: number;
  readonly width?: number;
  readonly min?: number;
  readonly max?: number;
}

function modelDashboardJson(service: IModelService, uid: string): Record<string, unknown> {
  const q = (value: string) => JSON.stringify(value);
  const sel = `namespace=${q(service.namespace)},model=${q(service.modelName)}`;
  const driftSel = `job=${q(DRIFT_PUSH_JOB)},${sel}`;
  const deploymentSel = `namespace=${q(service.namespace)},deployment=${q(service.name)}`;
  const requests = `${S.requestsTotal}{${sel}}`;
  const rows: Array<{ title: string; panels: PanelSpec[] }> = [];

  if (service.exportsServingMetrics) {
    const quantile = (qq: number) => `histogram_quantile(${qq}, sum by (le) (rate(${S.requestDurationSeconds}_bucket{${sel}}[$__rate_interval])))`;
    rows.push({
      title: 'Serving',
      panels: [
        {
          title: 'Traffic by status code', unit: 'reqps',
          description: 'Inference requests answered per second, by the HTTP status code the client got.',
          targets: [{ expr: `sum by (code) (rate(${requests}[$__rate_interval]))`, legend: '{{code}}' }],
        },
        {
          title: 'Errors (5xx share)', unit: 'percentunit', min: 0, threshold: service.errorRateObjective,
          description: 'Share of requests answered with a 5xx status; the red line is the error-rate objective.',
          targets: [{
            expr: `(sum(rate(${S.requestsTotal}{${sel},code=~"5.."}[$__rate_interval])) or vector(0)) / sum(rate(${requests}[$__rate_interval]))`,
            legend: 'error ratio',
          }],
        },
        {
          title: 'Latency quantiles', unit: 's', min: 0, threshold: service.latencyObjective === undefined ? undefined : service.latencyObjective.toMilliseconds() / 1000,
          description: 'p50, p90 and p99 request duration from the histogram; the red line is the p99 objective.',
          targets: [
            { expr: quantile(0.5), legend: 'p50' },
            { expr: quantile(0.9), legend: 'p90' },
            { expr: quantile(0.99), legend: 'p99' },
          ],
        },
        {
          title: 'Requests in flight', unit: 'short', min: 0,
          description: 'Requests received and not yet answered, summed over the pods.',
          targets: [{ expr: `sum(${S.requestsInFlight}{${sel}})`, legend: 'in flight' }],
        },
      ],
    });
  }
  rows.push({
    title: 'Replicas',
    panels: [{
      title: 'Replicas', unit: 'short', min: 0, width: 24,
      description: 'Available and unavailable replicas of the Deployment (kube-state-metrics).',
      targets: [
        { expr: `max(kube_deployment_status_replicas_available{${deploymentSel}})`, legend: 'available' },
        { expr: `max(kube_deployment_status_replicas_unavailable{${deploymentSel}})`, legend: 'unavailable' },
        { expr: `max(kube_deployment_spec_replicas{${deploymentSel}})`, legend: 'desired' },
      ],
    }],
  });
  rows.push({
    title: 'Drift and quality',
    panels: [
      {
        title: 'Drift statistic per feature', unit: 'short',
        description: 'Test statistic of the last drift check per feature (KS D, chi-square, distance...).',
        targets: [{ expr: `max by (feature, method) (${D.statistic}{${driftSel}})`, legend: '{{feature}} ({{method}})' }],
      },
      {
        title: 'Drift p-value per feature', unit: 'short', min: 0, max: 1,
        description: 'p-value of the last drift check per feature, for tests that have one; low means drifted.',
        targets: [{ expr: `max by (feature, method) (${D.pValue}{${driftSel}})`, legend: '{{feature}} ({{method}})' }],
      },
      {
        title: 'Drifted share of features', unit: 'percentunit', min: 0, max: 1,
        description: 'Share of features drifted in the last check, and whether the dataset as a whole drifted (1).',
        targets: [
          { expr: `max(${D.share}{${driftSel}})`, legend: 'drifted share' },
          { expr: `max(${D.datasetDrifted}{${driftSel}})`, legend: 'dataset drifted' },
        ],
      },
      {
        title: 'Model quality', unit: 'short', threshold: service.accuracyFloor,
        description: 'Quality on labelled production data from the last drift check; the red line is the accuracy floor.',
        targets: [{ expr: `max by (metric) (${D.modelQuality}{${driftSel}})`, legend: '{{metric}}' }],
      },
      {
        title: 'Time since the last successful drift check', unit: 's', min: 0, width: 24,
        description: 'Age of the last drift check that completed.',
        targets: [{ expr: `time() - max(${D.lastSuccessTimestampSeconds}{${driftSel}})`, legend: 'age' }],
      },
    ],
  });

  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    for (const spec of row.panels) {
      const w = spec.width ?? 12;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push(panel(id++, spec, { h: 8, w, x, y }));
      x += w;
    }
    y += 8;
  }

  return {
    uid,
    title: `Model ${service.modelName} (${service.namespace})`,
    description: `Serving, drift and quality of model ${service.modelName}, generated by mlops-constructs.`,
    tags: ['mlops', 'model'],
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    timezone: 'browser',
    graphTooltip: 1,
    templating: {
      list: [{ name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', hide: 0, current: {} }],
    },
    annotations: { list: [] },
    panels,
  };
}

function panel(id: number, spec: PanelSpec, gridPos: Record<string, number>): Record<string, unknown> {
  const steps: Array<{ color: string; value: number | null }> = [{ color: 'green', value: null }];
  if (spec.threshold !== undefined) steps.push({ color: 'red', value: spec.threshold });
  return {
    id,
    type: 'timeseries',
    title: spec.title,
    description: spec.description,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos,
    targets: spec.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: { type: 'prometheus', uid: '${datasource}' },
      expr: t.expr,
      legendFormat: t.legend,
      range: true,
    })),
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        ...(spec.min !== undefined ? { min: spec.min } : {}),
        ...(spec.max !== undefined ? { max: spec.max } : {}),
        thresholds: { mode: 'absolute', steps },
        custom: { thresholdsStyle: { mode: spec.threshold !== undefined ? 'line' : 'off' } },
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'none' } },
  };
}

