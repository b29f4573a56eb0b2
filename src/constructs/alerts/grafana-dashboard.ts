import { createHash } from 'crypto';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as grafana from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as units from '@grafana/grafana-foundation-sdk/units';
import { Construct } from 'constructs';
import { DRIFT_METRICS as D, DRIFT_PUSH_JOB, INFERENCE_LOG_METRICS as L, SERVING_METRICS as S, SHADOW_METRICS as SH, SHADOW_OUTCOMES, SHADOW_VARIANT } from '../../contract';
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
/** Name of the dashboard's data source variable; every panel and query reads through it. */
const DATASOURCE_VARIABLE = 'datasource';
const PANEL_HEIGHT = 8;

/**
 * A Grafana dashboard of one model as a ConfigMap labelled `grafana_dashboard: "1"`:
 * traffic, errors, latency quantiles, replicas, drift statistic and p-value per feature, and
 * quality. Built with Grafana's own typed builders (@grafana/grafana-foundation-sdk, the
 * classic dashboard JSON model that file provisioning and the dashboard sidecar load), so
 * every field is one Grafana's schema declares. Queries read the raw contract metrics, so the
 * dashboard works without the PrometheusAlerts recording rules.
 */
export class ModelDashboard extends Construct {
  /** Name of the ConfigMap. */
  public readonly name: string;
  /** Namespace of the ConfigMap. */
  public readonly namespace: string;
  /** Grafana uid of the dashboard (stable: bookmarks and links use it). */
  public readonly uid: string;
  /** The dashboard JSON model, as the SDK's builders built it. */
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
    // Typed as a plain record: the package's .d.ts never names an SDK type, so users' projects
    // (classic node resolution cannot see the SDK's exports-only subpaths) need not resolve it.
    this.dashboard = { ...modelDashboard(service, this.uid) };
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
  /** Columns of Grafana's 24-column grid. @default 12 */
  readonly width?: number;
  readonly min?: number;
  readonly max?: number;
}
interface RowSpec { readonly title: string; readonly panels: PanelSpec[] }

/** What the dashboard shows, row by row; modelDashboard() turns it into Grafana's model. */
function rowSpecs(service: IModelService): RowSpec[] {
  const q = (value: string) => JSON.stringify(value);
  const modelSel = `namespace=${q(service.namespace)},model=${q(service.modelName)}`;
  // The champion's serving series have no variant label; a shadow challenger's have one.
  const sel = `${modelSel},variant=""`;
  const driftSel = `job=${q(DRIFT_PUSH_JOB)},${modelSel}`;
  const deploymentSel = `namespace=${q(service.namespace)},deployment=${q(service.name)}`;
  const requests = `${S.requestsTotal}{${sel}}`;
  const rows: RowSpec[] = [];

  if (service.exportsServingMetrics) {
    const quantile = (qq: number) => `histogram_quantile(${qq}, sum by (le) (rate(${S.requestDurationSeconds}_bucket{${sel}}[$__rate_interval])))`;
    rows.push({
      title: 'Serving',
      panels: [
        {
          title: 'Traffic by status code', unit: units.RequestsPerSecond,
          description: 'Inference requests answered per second, by the HTTP status code the client got.',
          targets: [{ expr: `sum by (code) (rate(${requests}[$__rate_interval]))`, legend: '{{code}}' }],
        },
        {
          title: 'Errors (5xx share)', unit: units.PercentUnit, min: 0, threshold: service.errorRateObjective,
          description: 'Share of requests answered with a 5xx status; the red line is the error-rate objective.',
          targets: [{
            expr: `(sum(rate(${S.requestsTotal}{${sel},code=~"5.."}[$__rate_interval])) or vector(0)) / sum(rate(${requests}[$__rate_interval]))`,
            legend: 'error ratio',
          }],
        },
        {
          title: 'Latency quantiles', unit: units.Seconds, min: 0, threshold: service.latencyObjective === undefined ? undefined : service.latencyObjective.toMilliseconds() / 1000,
          description: 'p50, p90 and p99 request duration from the histogram; the red line is the p99 objective.',
          targets: [
            { expr: quantile(0.5), legend: 'p50' },
            { expr: quantile(0.9), legend: 'p90' },
            { expr: quantile(0.99), legend: 'p99' },
          ],
        },
        {
          title: 'Requests in flight', unit: units.Short, min: 0,
          description: 'Requests received and not yet answered, summed over the pods.',
          targets: [{ expr: `sum(${S.requestsInFlight}{${sel}})`, legend: 'in flight' }],
        },
      ],
    });
  }
  if (service.inferenceLog !== undefined) {
    rows.push({
      title: 'Inference log',
      panels: [
        {
          title: 'Logged records by outcome', unit: units.Short,
          description: 'Rows of sampled requests per second: written to storage, or dropped (buffer full while storage is slow or down, upload failed).',
          targets: [{ expr: `sum by (outcome) (rate(${L.recordsTotal}{${modelSel}}[$__rate_interval]))`, legend: '{{outcome}}' }],
        },
        {
          title: 'Records waiting in the proxies', unit: units.Short, min: 0,
          description: 'Records buffered in the metrics proxies, not yet acknowledged by storage.',
          targets: [{ expr: `sum(${L.bufferedRecords}{${modelSel}})`, legend: 'buffered' }],
        },
      ],
    });
  }
  if (service.shadow !== undefined) {
    const challenger = `${modelSel},variant=${q(SHADOW_VARIANT)}`;
    const compared = `${SH.comparisonsTotal}{${modelSel},outcome=~"${SHADOW_OUTCOMES.agree}|${SHADOW_OUTCOMES.disagree}"}`;
    const p99 = (selector: string) => `histogram_quantile(0.99, sum by (le) (rate(${S.requestDurationSeconds}_bucket{${selector}}[$__rate_interval])))`;
    rows.push({
      title: `Shadow challenger (${service.shadow.name})`,
      panels: [
        {
          title: 'Agreement with the champion', unit: units.PercentUnit, min: 0, max: 1, threshold: service.shadow.agreementFloor,
          description: 'Share of mirrored requests whose challenger predictions agreed with the champion\'s; the red line is the agreement floor.',
          targets: [{ expr: `sum(rate(${SH.comparisonsTotal}{${modelSel},outcome="${SHADOW_OUTCOMES.agree}"}[$__rate_interval])) / sum(rate(${compared}[$__rate_interval]))`, legend: 'agreement' }],
        },
        {
          title: 'Mirrored requests by outcome', unit: units.RequestsPerSecond,
          description: 'Requests mirrored to the challenger per second, by how the answers compared; skipped: sampled but not mirrored (too many in flight).',
          targets: [
            { expr: `sum by (outcome) (rate(${SH.comparisonsTotal}{${modelSel}}[$__rate_interval]))`, legend: '{{outcome}}' },
            { expr: `sum(rate(${SH.skippedTotal}{${modelSel}}[$__rate_interval]))`, legend: 'skipped' },
          ],
        },
        {
          title: 'p99 latency: champion and challenger', unit: units.Seconds, min: 0,
          description: 'p99 request duration of each, as their own metrics proxies measure it.',
          targets: [{ expr: p99(sel), legend: 'champion' }, { expr: p99(challenger), legend: 'challenger' }],
        },
        ...(service.shadow.regression ? [{
          title: 'Mean absolute difference of predictions', unit: units.Short, min: 0,
          description: 'Mean |champion - challenger| over the compared predictions.',
          targets: [{ expr: `sum(rate(${SH.absDifferenceSum}{${modelSel}}[$__rate_interval])) / sum(rate(${SH.absDifferenceCount}{${modelSel}}[$__rate_interval]))`, legend: 'mean |difference|' }],
        }] : []),
      ],
    });
  }
  rows.push({
    title: 'Replicas',
    panels: [{
      title: 'Replicas', unit: units.Short, min: 0, width: 24,
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
        title: 'Drift statistic per feature', unit: units.Short,
        description: 'Test statistic of the last drift check per feature (KS D, chi-square, distance...).',
        targets: [{ expr: `max by (feature, method) (${D.statistic}{${driftSel}})`, legend: '{{feature}} ({{method}})' }],
      },
      {
        title: 'Drift p-value per feature', unit: units.Short, min: 0, max: 1,
        description: 'p-value of the last drift check per feature, for tests that have one; low means drifted.',
        targets: [{ expr: `max by (feature, method) (${D.pValue}{${driftSel}})`, legend: '{{feature}} ({{method}})' }],
      },
      {
        title: 'Drifted share of features', unit: units.PercentUnit, min: 0, max: 1,
        description: 'Share of features drifted in the last check, and whether the dataset as a whole drifted (1).',
        targets: [
          { expr: `max(${D.share}{${driftSel}})`, legend: 'drifted share' },
          { expr: `max(${D.datasetDrifted}{${driftSel}})`, legend: 'dataset drifted' },
        ],
      },
      {
        title: 'Model quality', unit: units.Short, threshold: service.accuracyFloor,
        description: 'Quality on labelled production data from the last drift check; the red line is the accuracy floor.',
        targets: [{ expr: `max by (metric) (${D.modelQuality}{${driftSel}})`, legend: '{{metric}}' }],
      },
      {
        title: 'Time since the last successful drift check', unit: units.Seconds, min: 0, width: 24,
        description: 'Age of the last drift check that completed.',
        targets: [{ expr: `time() - max(${D.lastSuccessTimestampSeconds}{${driftSel}})`, legend: 'age' }],
      },
    ],
  });
  return rows;
}

/**
 * Grafana's dashboard model of the rows. Rows are expanded: a row's panels follow it in the
 * dashboard's own panel list (Grafana keeps `row.panels` for collapsed rows), and the builder
 * lays them out left to right under their row.
 */
function modelDashboard(service: IModelService, uid: string): grafana.Dashboard {
  const datasource: common.DataSourceRef = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` };
  const builder = new grafana.DashboardBuilder(`Model ${service.modelName} (${service.namespace})`)
    .uid(uid)
    .description(`Serving, drift and quality of model ${service.modelName}, generated by mlops-constructs.`)
    .tags(['mlops', 'model'])
    .editable()
    .version(1)
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .tooltip(grafana.DashboardCursorSync.Crosshair)
    .withVariable(new grafana.DatasourceVariableBuilder(DATASOURCE_VARIABLE)
      .label('Data source')
      .type('prometheus')
      .hide(grafana.VariableHide.DontHide));
  let id = 1;
  for (const row of rowSpecs(service)) {
    builder.withRow(new grafana.RowBuilder(row.title).id(id++).collapsed(false));
    for (const spec of row.panels) builder.withPanel(panel(id++, spec, datasource));
  }
  return builder.build();
}

function panel(id: number, spec: PanelSpec, datasource: common.DataSourceRef): timeseries.PanelBuilder {
  const steps: grafana.Threshold[] = [{ color: 'green', value: null }];
  if (spec.threshold !== undefined) steps.push({ color: 'red', value: spec.threshold });
  const builder = new timeseries.PanelBuilder()
    .id(id)
    .title(spec.title)
    .description(spec.description)
    .datasource(datasource)
    .height(PANEL_HEIGHT)
    .span(spec.width ?? 12)
    .unit(spec.unit)
    .thresholds(new grafana.ThresholdsConfigBuilder().mode(grafana.ThresholdsMode.Absolute).steps(steps))
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder()
      .mode(spec.threshold !== undefined ? common.GraphThresholdsStyleMode.Line : common.GraphThresholdsStyleMode.Off))
    .legend(new common.VizLegendOptionsBuilder().displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).showLegend(true))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.None));
  if (spec.min !== undefined) builder.min(spec.min);
  if (spec.max !== undefined) builder.max(spec.max);
  spec.targets.forEach((target, i) => builder.withTarget(new prometheus.DataqueryBuilder()
    .refId(String.fromCharCode(65 + i))
    .datasource(datasource)
    // Hand-written PromQL: Grafana's visual query builder would rewrite it.
    .editorMode(prometheus.QueryEditorMode.Code)
    .expr(target.expr)
    .legendFormat(target.legend)
    .range()));
  return builder;
}
