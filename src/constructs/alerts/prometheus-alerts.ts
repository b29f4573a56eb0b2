import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { DRIFT_METRICS as D, DRIFT_PUSH_JOB, INFERENCE_LOG_METRICS as L, INFERENCE_LOG_OUTCOMES, LABELS, PROMOTION_METRICS as P, SERVING_METRICS as S, SHADOW_METRICS as SH, SHADOW_OUTCOMES } from '../../contract';
import { IDriftMonitor } from '../drift/interfaces';
import { IModelPromotion } from '../promotion/interfaces';
import { ModelDashboard } from './grafana-dashboard';
import { IModelService } from '../serving/interfaces';
import { Monitoring } from '../core/monitoring';
import { claimObjectNames } from '../core/object-names';
import { describe, invalidProp, isDnsLabel, requireDnsLabel, requireLabels } from '../core/validation';
import { workloadLabels } from '../core/workload';
import { PrometheusRule, PrometheusRuleSpecGroups, PrometheusRuleSpecGroupsRulesExpr } from '../../imports/monitoring.coreos.com';

/**
 * What PrometheusAlerts needs of a model registry: the Service Prometheus scrapes it
 * through. The cdk8s `ModelRegistry` satisfies it, and so does `{ name, namespace }`.
 */
export interface IMonitoredRegistry {
  /** Kubernetes name of the registry's Service; the `job` label of its scraped targets. */
  readonly name: string;
  /** Namespace of that Service. */
  readonly namespace: string;
}

/** Options of one model service's alerts. */
export interface ModelServiceAlertOptions {
  /**
   * Availability SLO over 30 days (share of requests that do not fail with 5xx), e.g. 0.999;
   * turns on ModelErrorBudgetBurn. @default - PrometheusAlertsProps.availabilityObjective
   */
  readonly availabilityObjective?: number;
}

/** Properties of PrometheusAlerts. */
export interface PrometheusAlertsProps {
  /** Model services to alert on (latency, errors, traffic, replicas, accuracy, error budget). @default [] */
  readonly modelServices?: IModelService[];
  /** Scheduled drift checks to alert on (dataset and feature drift, stale or failed checks). @default [] */
  readonly driftMonitors?: IDriftMonitor[];
  /** Model registries to alert on when no replica is up. @default [] */
  readonly registries?: IMonitoredRegistry[];
  /** Promotion relays to alert on (a promotion that failed, a webhook not registered). @default [] */
  readonly promotions?: IModelPromotion[];
  /**
   * Availability SLO over 30 days of every model service, e.g. 0.999: adds multi-window,
   * multi-burn-rate ModelErrorBudgetBurn alerts (the SRE workbook's 14.4/6/3/1).
   * @default - none: no error-budget alerts
   */
  readonly availabilityObjective?: number;
  /**
   * Address of the runbooks page; each alert's `runbook_url` is this plus `#<alert name in
   * lowercase>`. @default DEFAULT_RUNBOOK_URL
   */
  readonly runbookUrl?: string;
  /** Labels of every PrometheusRule, for a kube-prometheus-stack `ruleSelector`. @default - Monitoring.of(scope).ruleLabels */
  readonly ruleLabels?: Record<string, string>;
  /** Extra labels of every alert, e.g. `{ team: 'fraud' }` for Alertmanager routing. @default {} */
  readonly alertLabels?: Record<string, string>;
  /** ModelTrafficDrop fires when the 5-minute request rate falls below this share of the previous hour's. @default 0.5 */
  readonly trafficDropRatio?: number;
  /** Requests per second the previous hour must have averaged for ModelTrafficDrop to apply. @default 0.1 */
  readonly trafficDropMinRate?: number;
  /**
   * How long a model may receive no traffic at all before ModelTrafficDrop takes it as retired
   * and stops alerting; until then an outage keeps the alert firing. At least 2 hours.
   * @default Duration.days(1)
   */
  readonly trafficDropRetireAfter?: Duration;
  /**
   * ModelInferenceLogDropping fires when more than this share of a model's sampled records
   * were dropped (storage slow, down or refusing) over 15 minutes, for 15 minutes.
   * @default 0.01
   */
  readonly inferenceLogDropShare?: number;
  /** A Grafana dashboard ConfigMap per model service. @default true */
  readonly dashboards?: boolean;
  /** Namespace of the dashboard ConfigMaps (where the Grafana sidecar looks). @default - each model's namespace */
  readonly dashboardNamespace?: string;
}

/** Where runbook_url annotations point unless `runbookUrl` is set: docs/runbooks.md of this repository. */
export const DEFAULT_RUNBOOK_URL = 'https://github.com/mlops-constructs/mlops-constructs/blob/main/docs/runbooks.md';

/** One rule of a group, as in a Prometheus rule file. */
interface Rule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface Group {
  readonly name: string;
  readonly rules: Rule[];
}

/**
 * The multi-window, multi-burn-rate pairs of the SRE workbook (chapter 5, "Alerting on
 * SLOs") for a 30-day budget: 2 % of it spent in 1 h or 5 % in 6 h pages; 10 % in 1 d or
 * 10 % in 3 d opens a ticket. The short window makes the alert stop soon after the burn
 * does; `for` only rides over a single bad evaluation.
 */
const BURN_RATES = [
  { factor: 14.4, long: '1h', short: '5m', for: '2m', severity: 'critical' },
  { factor: 6, long: '6h', short: '30m', for: '15m', severity: 'critical' },
  { factor: 3, long: '1d', short: '2h', for: '1h', severity: 'warning' },
  { factor: 1, long: '3d', short: '6h', for: '3h', severity: 'warning' },
] as const;
const SLO_WINDOWS = ['30m', '1h', '2h', '6h', '1d', '3d'] as const;

const KIND = 'PrometheusAlerts';
const PROM_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED_ALERT_LABELS = ['severity', 'namespace', 'model', 'alertname'];

interface ServiceEntry { readonly service: IModelService; readonly availabilityObjective?: number }

/**
 * Prometheus alerting and recording rules for model services, drift checks and model
 * registries, as PrometheusRule objects (one per service, drift monitor and registry, in
 * its namespace) labelled for the stack's `ruleSelector`; plus a Grafana dashboard per
 * model service. Synth fails when an alert needs a metric that nothing exports.
 */
export class PrometheusAlerts extends Construct {
  /** The PrometheusRule objects created so far. */
  public readonly rules: PrometheusRule[] = [];
  /** The dashboards created so far. */
  public readonly dashboards: ModelDashboard[] = [];

  private readonly services: ServiceEntry[] = [];
  private readonly driftMonitors: IDriftMonitor[] = [];
  /** `namespace/name` of every PrometheusRule, to what it alerts on. */
  private readonly ruleNames = new Map<string, string>();
  private readonly runbookUrl: string;
  private readonly ruleLabels: Record<string, string>;
  private readonly alertLabels: Record<string, string>;
  private readonly availabilityObjective?: number;
  private readonly trafficDropRatio: number;
  private readonly inferenceLogDropShare: number;
  private readonly trafficDropMinRate: number;
  private readonly trafficDropRetireAfter: string;
  private readonly createDashboards: boolean;
  private readonly dashboardNamespace?: string;

  constructor(scope: Construct, id: string, props: PrometheusAlertsProps = {}) {
    super(scope, id);
    const p = props ?? {};
    const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(KIND, this, field, value, problem, fix);

    this.runbookUrl = p.runbookUrl ?? DEFAULT_RUNBOOK_URL;
    if (typeof this.runbookUrl !== 'string' || !/^https?:\/\/[^\s#]+$/.test(this.runbookUrl)) {
      throw fail('runbookUrl', p.runbookUrl, 'is not an http(s) address without a fragment', 'pass the address of your runbooks page, e.g. "https://git.example.com/ml/platform/blob/main/docs/runbooks.md"; the alert anchor is appended');
    }
    this.ruleLabels = requireLabels(KIND, this, 'ruleLabels', p.ruleLabels ?? Monitoring.of(this).ruleLabels);
    this.alertLabels = p.alertLabels ?? {};
    if (this.alertLabels === null || typeof this.alertLabels !== 'object' || Array.isArray(this.alertLabels)) {
      throw fail('alertLabels', p.alertLabels, 'is not a map of label names to values', 'pass e.g. { team: "fraud" }');
    }
    for (const [key, value] of Object.entries(this.alertLabels)) {
      if (!PROM_LABEL_NAME.test(key) || key.startsWith('__')) {
        throw fail(`alertLabels key`, key, 'is not a Prometheus label name', 'use letters, digits and "_", not starting with a digit or "__"');
      }
      if (RESERVED_ALERT_LABELS.includes(key)) {
        throw fail(`alertLabels["${key}"]`, value, 'overrides a label every alert sets itself', `drop ${key} from alertLabels`);
      }
      if (typeof value !== 'string' || value.length === 0) {
        throw fail(`alertLabels["${key}"]`, value, 'is not a non-empty string', 'quote the value');
      }
    }
    this.availabilityObjective = p.availabilityObjective === undefined ? undefined : this.checkAvailability('availabilityObjective', p.availabilityObjective);
    this.trafficDropRatio = p.trafficDropRatio ?? 0.5;
    if (typeof this.trafficDropRatio !== 'number' || !(this.trafficDropRatio > 0 && this.trafficDropRatio < 1)) {
      throw fail('trafficDropRatio', p.trafficDropRatio, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.5 to alert when traffic halves');
    }
    this.inferenceLogDropShare = p.inferenceLogDropShare ?? 0.01;
    if (typeof this.inferenceLogDropShare !== 'number' || !(this.inferenceLogDropShare > 0 && this.inferenceLogDropShare < 1)) {
      throw fail('inferenceLogDropShare', p.inferenceLogDropShare, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.01 to alert when more than 1 % of sampled records are lost');
    }
    this.trafficDropMinRate = p.trafficDropMinRate ?? 0.1;
    if (typeof this.trafficDropMinRate !== 'number' || !(this.trafficDropMinRate > 0) || !Number.isFinite(this.trafficDropMinRate)) {
      throw fail('trafficDropMinRate', p.trafficDropMinRate, 'is not a positive number of requests per second', 'use e.g. 0.1 so models with a trickle of traffic do not alert');
    }
    const retireAfter = p.trafficDropRetireAfter ?? Duration.days(1);
    if (!(retireAfter instanceof Duration) || !(retireAfter.toSeconds() >= 7200) || retireAfter.toSeconds() % 60 !== 0) {
      throw fail('trafficDropRetireAfter', p.trafficDropRetireAfter, 'is not a Duration of at least 2 hours in whole minutes',
        'use e.g. Duration.days(1); shorter would forget an outage before the hourly baseline does');
    }
    this.trafficDropRetireAfter = promDuration(retireAfter.toSeconds());
    this.createDashboards = p.dashboards ?? true;
    if (typeof this.createDashboards !== 'boolean') throw fail('dashboards', p.dashboards, 'is not a boolean', 'pass true or false');
    if (p.dashboardNamespace !== undefined) this.dashboardNamespace = requireDnsLabel(KIND, this, 'dashboardNamespace', p.dashboardNamespace);

    for (const [field, list] of [['modelServices', p.modelServices], ['driftMonitors', p.driftMonitors], ['registries', p.registries], ['promotions', p.promotions]] as const) {
      if (list !== undefined && !Array.isArray(list)) throw fail(field, list, 'is not a list', `pass an array, e.g. ${field}: [...]`);
    }
    (p.modelServices ?? []).forEach((service) => this.addModelService(service));
    (p.driftMonitors ?? []).forEach((monitor) => this.addDriftMonitor(monitor));
    (p.registries ?? []).forEach((registry) => this.addRegistry(registry));
    (p.promotions ?? []).forEach((promotion) => this.addPromotion(promotion));

    // Which drift monitor reports a model's quality is only known once everything was added.
    // The one check that must wait for synth: a drift monitor may be added after the service.
    // It throws the construct's own sentences, so its errors read like every constructor's
    // instead of coming wrapped in cdk8s's "Validation failed" list.
    this.node.addValidation({
      validate: () => {
        const problems = this.qualitySourceProblems();
        if (problems.length > 0) throw new Error(problems.join('\n'));
        return [];
      },
    });
  }

  /**
   * Alerts on a model service: ModelHighLatency (with a latency objective),
   * ModelHighErrorRate (with an error-rate objective), ModelTrafficDrop, ModelReplicasUnavailable,
   * ModelAccuracyDrop (with an accuracy floor; needs a DriftMonitor of the model that checks
   * quality), ModelErrorBudgetBurn (with an availability objective) and ModelInferenceLogDropping
   * (with an inference log). Returns the PrometheusRule.
   */
  public addModelService(service: IModelService, options: ModelServiceAlertOptions = {}): PrometheusRule {
    const where = this.checkSubject('model service', service);
    const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(KIND, this, `${field} of model service ${where}`, value, problem, fix);
    if (typeof service.modelName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(service.modelName)) {
      throw fail('modelName', service.modelName, 'is not a usable metric label value', 'use at most 63 letters, digits, "_", "." or "-"');
    }
    const twin = this.services.find((e) => e.service.namespace === service.namespace && e.service.modelName === service.modelName);
    if (twin) {
      throw fail('modelName', service.modelName, `is also the model of ${twin.service.namespace}/${twin.service.name}, so their serving metrics and recording rules would merge`,
        'give each service its own modelName');
    }
    const latency = service.latencyObjective;
    if (latency !== undefined && (!(latency instanceof Duration) || !(latency.toMilliseconds() > 0))) {
      throw fail('latencyObjective', latency, 'is not a positive Duration', 'use e.g. Duration.millis(500)');
    }
    for (const field of ['errorRateObjective', 'accuracyFloor'] as const) {
      const value = service[field];
      if (value !== undefined && (typeof value !== 'number' || !(value > 0 && value < 1))) {
        throw fail(field, value, 'is not a share between 0 and 1 (exclusive)', 'use e.g. 0.05 for 5 %');
      }
    }
    const availability = options.availabilityObjective === undefined
      ? this.availabilityObjective
      : this.checkAvailability(`availabilityObjective of model service ${where}`, options.availabilityObjective);
    if (!service.exportsServingMetrics) {
      const noMetrics = 'needs the serving metrics (mlops_inference_*), which the service does not export (exportsServingMetrics is false)';
      const fix = (field: string) => `run the metrics proxy (metricsProxy: true) or declare the runtime's own metrics, or drop ${field}`;
      if (latency !== undefined) throw fail('latencyObjective', `${latency.toMilliseconds()}ms`, noMetrics, fix('latencyObjective'));
      if (service.errorRateObjective !== undefined) throw fail('errorRateObjective', service.errorRateObjective, noMetrics, fix('errorRateObjective'));
      if (availability !== undefined) throw fail('availabilityObjective', availability, noMetrics, fix('availabilityObjective'));
    }

    const entry: ServiceEntry = { service, availabilityObjective: availability };
    this.services.push(entry);
    const rule = this.addRule(`Service.${service.namespace}.${service.name}`, service.namespace, service.name, `model service ${where}`, this.serviceGroups(entry));
    if (this.createDashboards) {
      this.dashboards.push(new ModelDashboard(this, `Dashboard.${service.namespace}.${service.name}`, {
        service,
        namespace: this.dashboardNamespace,
      }));
      claimObjectNames(KIND, this);
    }
    return rule;
  }

  /**
   * Alerts on a scheduled drift check: ModelDriftDetected, ModelFeatureDrift,
   * ModelDriftCheckStale and ModelDriftCheckFailed. Returns the PrometheusRule.
   */
  public addDriftMonitor(monitor: IDriftMonitor): PrometheusRule {
    const where = this.checkSubject('drift monitor', monitor);
    const fail = (field: string, value: unknown, problem: string, fix: string) => invalidProp(KIND, this, `${field} of drift monitor ${where}`, value, problem, fix);
    if (typeof monitor.modelName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(monitor.modelName)) {
      throw fail('modelName', monitor.modelName, 'is not a usable metric label value', 'use at most 63 letters, digits, "_", "." or "-"');
    }
    const period = monitor.schedulePeriod;
    if (!(period instanceof Duration) || !(period.toSeconds() >= 60)) {
      throw fail('schedulePeriod', period instanceof Duration ? `${period.toSeconds()}s` : period, 'is not a Duration of at least a minute', 'use the gap between two scheduled runs, e.g. Duration.hours(1)');
    }
    const twin = this.driftMonitors.find((m) => m.namespace === monitor.namespace && m.modelName === monitor.modelName);
    if (twin) {
      throw fail('modelName', monitor.modelName, `is also checked by ${twin.namespace}/${twin.name}; both push to the same Pushgateway group and overwrite each other`,
        'check each model with one DriftMonitor');
    }
    this.driftMonitors.push(monitor);
    return this.addRule(`Drift.${monitor.namespace}.${monitor.name}`, monitor.namespace, monitor.name, `drift monitor ${where}`, [driftGroup(monitor, this.annotator(), this.alertLabels)]);
  }

  /** ModelRegistryDown for a model registry: no target of its Service up. Returns the PrometheusRule. */
  public addRegistry(registry: IMonitoredRegistry): PrometheusRule {
    const where = this.checkSubject('registry', registry);
    return this.addRule(`Registry.${registry.namespace}.${registry.name}`, registry.namespace, registry.name, `registry ${where}`,
      [registryGroup(registry, this.annotator(), this.alertLabels)]);
  }

  /**
   * ModelPromotionFailed for each model of a promotion relay (its last promotion failed: CI
   * past its retries, a refused rollout, a stopped canary) and ModelPromotionWebhookUnregistered
   * (the relay is down or has not registered its webhook: promotions go unseen). Returns the PrometheusRule.
   */
  public addPromotion(promotion: IModelPromotion): PrometheusRule {
    const where = this.checkSubject('promotion relay', promotion);
    const models = promotion.promotedModels;
    if (!Array.isArray(models) || models.length === 0) {
      throw invalidProp(KIND, this, `promotedModels of promotion relay ${where}`, models, 'is empty', 'pass the ModelPromotion itself, which lists its models');
    }
    return this.addRule(`Promotion.${promotion.namespace}.${promotion.name}`, promotion.namespace, promotion.name, `promotion relay ${where}`,
      [promotionGroup(promotion, this.annotator(), this.alertLabels)]);
  }

  private checkSubject(what: string, subject: { name: string; namespace: string } | undefined): string {
    if (subject === undefined || subject === null || typeof subject !== 'object') {
      throw invalidProp(KIND, this, what, subject, 'is not an object', `pass the ${what} construct (or an object with name and namespace)`);
    }
    if (!isDnsLabel(subject.namespace)) {
      throw invalidProp(KIND, this, `namespace of ${what} ${describe(subject.name)}`, subject.namespace, 'is not a DNS-1123 label', 'pass the construct itself, whose namespace is set');
    }
    if (!isDnsLabel(subject.name)) {
      throw invalidProp(KIND, this, `name of ${what} in ${subject.namespace}`, subject.name, 'is not a DNS-1123 label', 'pass the construct itself, whose Kubernetes name is validated');
    }
    return `${subject.namespace}/${subject.name}`;
  }

  private checkAvailability(field: string, value: unknown): number {
    // Below this a 14.4x burn would need more than 100 % errors: the page could never fire.
    const lowest = 1 - 1 / BURN_RATES[0].factor;
    if (typeof value !== 'number' || !(value > lowest && value < 1)) {
      throw invalidProp(KIND, this, field, value, `is not a share between ${lowest.toFixed(3)} and 1 (exclusive)`,
        'use e.g. 0.999; below 0.931 the fastest burn-rate alert (14.4x the budget) could never fire');
    }
    return value;
  }

  private addRule(id: string, namespace: string, name: string, subject: string, groups: Group[]): PrometheusRule {
    Monitoring.requireSelectorLabels(KIND, this, 'PrometheusRule', this.ruleLabels);
    const ruleName = `${name}-alerts`;
    const key = `${namespace}/${ruleName}`;
    const taken = this.ruleNames.get(key);
    if (taken !== undefined) {
      throw invalidProp(KIND, this, `PrometheusRule of ${subject}`, key, `is already the PrometheusRule of ${taken}`,
        taken === subject ? `add each ${subject.split(' ').slice(0, -1).join(' ')} once` : 'give the two objects different names');
    }
    this.ruleNames.set(key, subject);
    const rule = new PrometheusRule(this, id, {
      metadata: {
        name: ruleName,
        namespace,
        labels: { ...workloadLabels(name, 'alerts').labels, ...this.ruleLabels },
      },
      spec: {
        groups: groups.map((group): PrometheusRuleSpecGroups => ({
          name: group.name,
          rules: group.rules.map((r) => ({
            record: r.record,
            alert: r.alert,
            expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr),
            for: r.for,
            labels: r.labels,
            annotations: r.annotations,
          })),
        })),
      },
    });
    this.rules.push(rule);
    claimObjectNames(KIND, this);
    return rule;
  }

  private annotator(): Annotator {
    return (alert, summary, description) => ({ summary, description, runbook_url: `${this.runbookUrl}#${alert.toLowerCase()}` });
  }

  private serviceGroups(entry: ServiceEntry): Group[] {
    const { service } = entry;
    const annotate = this.annotator();
    const base = { namespace: service.namespace, model: service.modelName, ...this.alertLabels };
    const sel = matchers({ namespace: service.namespace, model: service.modelName });
    // The serving series of the champion have no variant label; a shadow challenger's have one,
    // so the recording rules over raw series take only the champion's.
    const raw = matchers({ namespace: service.namespace, model: service.modelName, [LABELS.variant]: '' });
    const prefix = `${service.namespace}/${service.name}`;
    // Annotation templates only see the expression's labels, not the rule's: name the model literally.
    const m = service.modelName;
    const ns = service.namespace;
    const groups: Group[] = [];
    const serving: Rule[] = [];

    if (service.exportsServingMetrics) {
      // Recording rules first: a group evaluates in order, so the alerts below see this round's values.
      serving.push(
        { record: 'model:mlops_inference_requests:rate_5m', expr: `sum by (namespace, model) (rate(${S.requestsTotal}{${raw}}[5m]))` },
        { record: 'model:mlops_inference_requests:rate_1h', expr: `sum by (namespace, model) (rate(${S.requestsTotal}{${raw}}[1h]))` },
        { record: 'model:mlops_inference_requests:error_ratio_5m', expr: errorRatio(raw, '5m') },
        ...[0.5, 0.9, 0.99].map((q) => ({
          record: `model:mlops_inference_request_duration_seconds:p${Math.round(q * 100)}_5m`,
          expr: `histogram_quantile(${q}, sum by (namespace, model, le) (rate(${S.requestDurationSeconds}_bucket{${raw}}[5m])))`,
        })),
      );
      if (service.latencyObjective !== undefined) {
        const seconds = service.latencyObjective.toMilliseconds() / 1000;
        const objective = humanDuration(service.latencyObjective.toMilliseconds());
        serving.push({
          alert: 'ModelHighLatency',
          expr: `model:mlops_inference_request_duration_seconds:p99_5m{${sel}} > ${num(seconds)}`,
          for: '10m',
          labels: { severity: 'warning', ...base },
          annotations: annotate('ModelHighLatency',
            `Model ${m} is slower than its ${objective} p99 objective`,
            `p99 latency of model ${m} in ${ns} has been {{ $value | humanizeDuration }} over 5-minute windows for 10 minutes; the objective is ${objective}.`),
        });
      }
      if (service.errorRateObjective !== undefined) {
        const objective = percent(service.errorRateObjective);
        serving.push({
          alert: 'ModelHighErrorRate',
          expr: `model:mlops_inference_requests:error_ratio_5m{${sel}} > ${num(service.errorRateObjective)}`,
          for: '5m',
          labels: { severity: 'critical', ...base },
          annotations: annotate('ModelHighErrorRate',
            `Model ${m} fails more requests than its ${objective} objective`,
            `{{ $value | humanizePercentage }} of requests to model ${m} in ${ns} were answered with 5xx over the last 5 minutes, for 5 minutes; the objective is ${objective}.`),
        });
      }
      // Two ways traffic can be gone. A drop: the 5-minute rate under a share of the hour
      // before the current window. An outage: no request at all (or no series left to scrape)
      // while the model had traffic within trafficDropRetireAfter; without this branch the
      // hourly baseline itself falls to zero after an hour of silence and the alert would
      // resolve while the model still receives nothing. Both branches keep the labels
      // {namespace, model}, so the alert fires on without a gap from one to the other.
      const rate5m = `model:mlops_inference_requests:rate_5m{${sel}}`;
      const baseline = `(model:mlops_inference_requests:rate_1h{${sel}} offset 5m)`;
      const recentPeak = `max_over_time(model:mlops_inference_requests:rate_1h{${sel}}[${this.trafficDropRetireAfter}])`;
      serving.push({
        alert: 'ModelTrafficDrop',
        expr: [
          '(',
          '  (',
          `    ${rate5m}`,
          '    or',
          `    ${baseline} * 0`,
          '  )',
          `  < ${num(this.trafficDropRatio)} * ${baseline}`,
          '  and',
          `  ${baseline} >= ${num(this.trafficDropMinRate)}`,
          ')',
          'or',
          '(',
          '  (',
          `    ${rate5m} == 0`,
          '    or',
          `    ${recentPeak} * 0 unless ${rate5m}`,
          '  )',
          '  and',
          `  ${recentPeak} >= ${num(this.trafficDropMinRate)}`,
          ')',
        ].join('\n'),
        for: '10m',
        labels: { severity: 'warning', ...base },
        annotations: annotate('ModelTrafficDrop',
          `Traffic to model ${m} dropped`,
          `Model ${m} in ${ns} has received {{ $value | humanize }} requests/s over the last 5 minutes: under ${percent(this.trafficDropRatio)} of its rate in the hour before, or none at all after it had traffic within ${this.trafficDropRetireAfter}.`),
      });
    }

    const deployment = matchers({ namespace: service.namespace, deployment: service.name });
    serving.push({
      alert: 'ModelReplicasUnavailable',
      expr: [
        `max by (namespace, deployment) (kube_deployment_status_replicas_unavailable{${deployment}})`,
        '/',
        `max by (namespace, deployment) (kube_deployment_spec_replicas{${deployment}})`,
        '> 0',
      ].join('\n'),
      for: '15m',
      labels: { severity: 'warning', ...base },
      annotations: annotate('ModelReplicasUnavailable',
        `Replicas of model ${m} are unavailable`,
        `{{ $value | humanizePercentage }} of the replicas of Deployment ${ns}/${service.name} have been unavailable for 15 minutes.`),
    });
    groups.push({ name: `${prefix}/serving`, rules: serving });

    if (service.inferenceLog !== undefined) {
      const dropped = matchers({ namespace: service.namespace, model: service.modelName });
      const droppedOutcomes = Object.values(INFERENCE_LOG_OUTCOMES).filter((o) => o !== INFERENCE_LOG_OUTCOMES.written).join('|');
      const share = percent(this.inferenceLogDropShare);
      groups.push({
        name: `${prefix}/inference-log`,
        rules: [{
          alert: 'ModelInferenceLogDropping',
          expr: [
            `sum by (namespace, model) (rate(${L.recordsTotal}{${dropped},${LABELS.outcome}=~"${droppedOutcomes}"}[15m]))`,
            '/',
            `sum by (namespace, model) (rate(${L.recordsTotal}{${dropped}}[15m]))`,
            `> ${num(this.inferenceLogDropShare)}`,
          ].join('\n'),
          for: '15m',
          labels: { severity: 'warning', ...base },
          annotations: annotate('ModelInferenceLogDropping',
            `The inference log of model ${m} is losing records`,
            `{{ $value | humanizePercentage }} of the sampled requests of model ${m} in ${ns} were not written to s3://${service.inferenceLog.bucket}${service.inferenceLog.prefix ? `/${service.inferenceLog.prefix}` : ''} over the last 15 minutes (more than ${share}, for 15 minutes); drift checks of this period see less traffic than the model served.`),
        }],
      });
    }

    if (service.shadow !== undefined) groups.push(this.shadowGroup(service, base, `${prefix}/shadow`));

    if (service.accuracyFloor !== undefined) {
      const quality = matchers({ job: DRIFT_PUSH_JOB, namespace: service.namespace, model: service.modelName, metric: 'accuracy' });
      groups.push({
        name: `${prefix}/quality`,
        rules: [{
          alert: 'ModelAccuracyDrop',
          expr: `min by (namespace, model) (${D.modelQuality}{${quality}}) < ${num(service.accuracyFloor)}`,
          // No `for`: the value is a batch result that stays the same until the next check.
          labels: { severity: 'critical', ...base },
          annotations: annotate('ModelAccuracyDrop',
            `Accuracy of model ${m} is below its ${num(service.accuracyFloor)} floor`,
            `The last quality check of model ${m} in ${ns} measured accuracy {{ printf "%.3g" $value }} on labelled production data, below the floor of ${num(service.accuracyFloor)}.`),
        }],
      });
    }

    if (entry.availabilityObjective !== undefined) {
      const budget = 1 - entry.availabilityObjective;
      const slo: Rule[] = SLO_WINDOWS.map((w) => ({ record: `model:mlops_inference_requests:error_ratio_${w}`, expr: errorRatio(raw, w) }));
      for (const b of BURN_RATES) {
        const threshold = num(b.factor * budget);
        const daysLeft = 30 / b.factor;
        slo.push({
          alert: 'ModelErrorBudgetBurn',
          expr: [
            `model:mlops_inference_requests:error_ratio_${b.long}{${sel}} > ${threshold}`,
            'and',
            `model:mlops_inference_requests:error_ratio_${b.short}{${sel}} > ${threshold}`,
          ].join('\n'),
          for: b.for,
          labels: { severity: b.severity, ...base, long_window: b.long, short_window: b.short },
          annotations: annotate('ModelErrorBudgetBurn',
            `Model ${m} is burning its error budget ${num(b.factor)}x too fast`,
            `Model ${m} in ${ns} answered {{ $value | humanizePercentage }} of requests with 5xx over the last ${b.long} (and over ${b.short}): `
            + `a burn rate of ${num(b.factor)} against the ${percent(budget)} error budget of its ${percent(entry.availabilityObjective)} availability objective; at this rate the 30-day budget lasts ${daysLeft >= 2 ? `${Math.round(daysLeft)} days` : `${Math.round(daysLeft * 24)} hours`}.`),
        });
      }
      groups.push({ name: `${prefix}/slo`, rules: slo });
    }
    return groups;
  }

  /** Alerts on a shadow challenger: ModelShadowErrors and ModelShadowDisagreement, from the champion proxy's comparisons. */
  private shadowGroup(service: IModelService, base: Record<string, string>, name: string): Group {
    const shadow = service.shadow!;
    const annotate = this.annotator();
    const sel = matchers({ namespace: service.namespace, model: service.modelName });
    const m = service.modelName;
    const ns = service.namespace;
    const O = SHADOW_OUTCOMES;
    const rate = (outcomes: string, window: string) => `sum by (namespace, model) (rate(${SH.comparisonsTotal}{${sel},${LABELS.outcome}=~"${outcomes}"}[${window}]))`;
    const failedShare = service.errorRateObjective ?? 0.05;
    return {
      name,
      rules: [
        { record: 'model:mlops_shadow_agreement:ratio_1h', expr: `${rate(O.agree, '1h')}\n/\n${rate(`${O.agree}|${O.disagree}`, '1h')}` },
        {
          alert: 'ModelShadowErrors',
          expr: [rate(O.challengerFailed, '15m'), '/', rate(Object.values(O).join('|'), '15m'), `> ${num(failedShare)}`].join('\n'),
          for: '15m',
          labels: { severity: 'warning', ...base },
          annotations: annotate('ModelShadowErrors',
            `The shadow challenger of model ${m} fails`,
            `{{ $value | humanizePercentage }} of the requests mirrored to ${shadow.name} in ${ns} over the last 15 minutes got an error, a timeout or no answer (more than ${percent(failedShare)}, for 15 minutes); the challenger is not fit to promote.`),
        },
        {
          alert: 'ModelShadowDisagreement',
          expr: [
            `model:mlops_shadow_agreement:ratio_1h{${sel}} < ${num(shadow.agreementFloor)}`,
            'and',
            // An hour with a handful of comparisons says little.
            `sum by (namespace, model) (increase(${SH.comparisonsTotal}{${sel},${LABELS.outcome}=~"${O.agree}|${O.disagree}"}[1h])) >= 20`,
          ].join('\n'),
          for: '30m',
          labels: { severity: 'info', ...base },
          annotations: annotate('ModelShadowDisagreement',
            `The shadow challenger of model ${m} disagrees with the champion`,
            `Over the last hour only {{ $value | humanizePercentage }} of the requests mirrored to ${shadow.name} in ${ns} got ${shadow.regression ? 'predictions within the tolerance of' : 'the same predictions as'} the champion's (floor ${percent(shadow.agreementFloor)}).`),
        },
      ],
    };
  }

  private qualitySourceProblems(): string[] {
    const problems: string[] = [];
    for (const { service } of this.services) {
      if (service.accuracyFloor === undefined) continue;
      const where = `${service.namespace}/${service.name}`;
      const monitor = this.driftMonitors.find((m) => m.namespace === service.namespace && m.modelName === service.modelName);
      const field = `accuracyFloor of model service ${where}`;
      const needs = `needs ${D.modelQuality}{metric="accuracy"} from a drift check`;
      if (monitor === undefined) {
        problems.push(invalidProp(KIND, this, field, service.accuracyFloor,
          `${needs}, but no drift monitor of model ${describe(service.modelName)} in namespace ${service.namespace} was added`,
          'add the model\'s DriftMonitor with label and prediction columns (driftMonitors: [...] or addDriftMonitor), or drop accuracyFloor').message);
      } else if (!monitor.reportsQuality) {
        problems.push(invalidProp(KIND, this, field, service.accuracyFloor,
          `${needs}, but drift monitor ${monitor.namespace}/${monitor.name} does not check quality (reportsQuality is false)`,
          'give that DriftMonitor the label and prediction columns, or drop accuracyFloor').message);
      } else if (!monitor.qualityMetrics.includes('accuracy')) {
        problems.push(invalidProp(KIND, this, field, service.accuracyFloor,
          `${needs}, but drift monitor ${monitor.namespace}/${monitor.name} reports only ${monitor.qualityMetrics.join(', ') || 'no metrics'}`,
          'check a classification model (accuracy is pushed for classifiers), or drop accuracyFloor').message);
      }
    }
    return problems;
  }
}

type Annotator = (alert: string, summary: string, description: string) => Record<string, string>;

function driftGroup(monitor: IDriftMonitor, annotate: Annotator, alertLabels: Record<string, string>): Group {
  const sel = matchers({ job: DRIFT_PUSH_JOB, namespace: monitor.namespace, model: monitor.modelName });
  const nsSel = matchers({ namespace: monitor.namespace });
  const base = { namespace: monitor.namespace, model: monitor.modelName, cronjob: monitor.name, ...alertLabels };
  const periodSeconds = monitor.schedulePeriod.toSeconds();
  const m = monitor.modelName;
  const ns = monitor.namespace;
  const cj = monitor.name;
  const twoPeriods = promDuration(2 * periodSeconds);
  const ownedJobs = `cronjob_job:kube_job_status_start_time:max{${matchers({ namespace: monitor.namespace, cronjob: monitor.name })}}`;
  return {
    name: `${monitor.namespace}/${monitor.name}/drift`,
    rules: [
      {
        // Start time of every Job the CronJob created, labelled with the CronJob, so the
        // alert below can pick the newest run.
        record: 'cronjob_job:kube_job_status_start_time:max',
        expr: [
          `max by (namespace, job_name) (kube_job_status_start_time{${nsSel}})`,
          `* on (namespace, job_name) group_left ()`,
          `max by (namespace, job_name) (kube_job_owner{${matchers({ namespace: monitor.namespace, owner_kind: 'CronJob', owner_name: monitor.name })}})`,
        ].join('\n'),
        labels: { cronjob: monitor.name },
      },
      {
        alert: 'ModelDriftDetected',
        // No `for` on drift results: they are batch results, constant until the next run.
        // A sharded check's pods each judge only their features, so across shards the
        // dataset verdict is recomputed from every feature's result.
        expr: monitor.shardCount > 1
          ? `sum by (namespace, model) (${D.detected}{${sel}}) / count by (namespace, model) (${D.detected}{${sel}}) >= ${monitor.driftShare}`
          : `max by (namespace, model) (${D.datasetDrifted}{${sel}}) > 0`,
        labels: { severity: 'warning', ...base },
        annotations: annotate('ModelDriftDetected',
          `Data drift detected for model ${m}`,
          `The last drift check of model ${m} in ${ns} (CronJob ${cj}) found the current data drifted from the reference.`),
      },
      {
        alert: 'ModelFeatureDrift',
        expr: `max by (namespace, model, feature, method) (${D.detected}{${sel}}) > 0`,
        labels: { severity: 'info', ...base },
        annotations: annotate('ModelFeatureDrift',
          `Feature {{ $labels.feature }} of model ${m} drifted`,
          `The last drift check of model ${m} in ${ns} (CronJob ${cj}) found feature {{ $labels.feature }} drifted ({{ $labels.method }} test).`),
      },
      {
        alert: 'ModelDriftCheckStale',
        // The threshold already waits two schedule periods. `min`: with an Indexed Job every
        // shard pushes its own group (label shard), and one shard failing is a stale check.
        expr: `time() - min by (namespace, model) (${D.lastSuccessTimestampSeconds}{${sel}}) > ${2 * periodSeconds}`,
        // `reason` tells the two rules of this alert apart (and promtool's duplicate check).
        labels: { severity: 'warning', ...base, reason: 'late' },
        annotations: annotate('ModelDriftCheckStale',
          `Drift checks of model ${m} are not succeeding`,
          `The last successful drift check of model ${m} in ${ns} (CronJob ${cj}) was {{ $value | humanizeDuration }} ago, more than two schedule periods (${twoPeriods}).`),
      },
      {
        alert: 'ModelDriftCheckStale',
        expr: `absent(${D.lastSuccessTimestampSeconds}{${sel}})`,
        for: twoPeriods,
        labels: { severity: 'warning', ...base, reason: 'absent' },
        annotations: annotate('ModelDriftCheckStale',
          `Drift checks of model ${m} are not succeeding`,
          `No drift check of model ${m} in ${ns} (CronJob ${cj}) has reported success for ${twoPeriods}: ${D.lastSuccessTimestampSeconds} is absent.`),
      },
      {
        alert: 'ModelDriftCheckFailed',
        // The newest Job of the CronJob ended without success; older failed Jobs kept in the
        // history do not count once a later run succeeded.
        expr: [
          '(',
          `  max by (namespace, job_name) (kube_job_status_failed{${nsSel}} > 0)`,
          `  unless on (namespace, job_name) (kube_job_status_succeeded{${nsSel}} > 0)`,
          `  unless on (namespace, job_name) (kube_job_status_active{${nsSel}} > 0)`,
          ')',
          'and on (namespace, job_name)',
          '(',
          `  ${ownedJobs}`,
          `  == on (namespace, cronjob) group_left ()`,
          `  max by (namespace, cronjob) (${ownedJobs})`,
          ')',
        ].join('\n'),
        labels: { severity: 'warning', ...base },
        annotations: annotate('ModelDriftCheckFailed',
          `Drift check of model ${m} failed`,
          `Job ${ns}/{{ $labels.job_name }}, the latest run of CronJob ${cj}, failed: the drift of model ${m} is not being checked.`),
      },
    ],
  };
}

function registryGroup(registry: IMonitoredRegistry, annotate: Annotator, alertLabels: Record<string, string>): Group {
  const up = `up{${matchers({ job: registry.name, namespace: registry.namespace })}}`;
  const where = `${registry.namespace}/${registry.name}`;
  return {
    name: `${registry.namespace}/${registry.name}/registry`,
    rules: [{
      alert: 'ModelRegistryDown',
      expr: `max by (namespace, job) (${up}) == 0\nor\nabsent(${up})`,
      for: '5m',
      labels: { severity: 'critical', namespace: registry.namespace, ...alertLabels },
      annotations: annotate('ModelRegistryDown',
        `Model registry ${where} is down`,
        `No target of the model registry ${where} (Service ${registry.name}) has been up for 5 minutes: model servers that start now cannot load their model, and training runs cannot log or register models.`),
    }],
  };
}

function promotionGroup(promotion: IModelPromotion, annotate: Annotator, alertLabels: Record<string, string>): Group {
  const where = `${promotion.namespace}/${promotion.name}`;
  const job = { job: promotion.name, namespace: promotion.namespace };
  const up = `up{${matchers(job)}}`;
  return {
    name: `${where}/promotion`,
    rules: [
      ...promotion.promotedModels.map((model): Rule => ({
        alert: 'ModelPromotionFailed',
        expr: `max by (namespace, model) (${P.failed}{${matchers({ ...job, model })}}) > 0`,
        labels: { severity: 'warning', namespace: promotion.namespace, model, ...alertLabels },
        annotations: annotate('ModelPromotionFailed',
          `Promotion of ${model} failed`,
          `The last promotion of ${model} by the relay ${where} failed, so the version its alias points to is not deployed: the CI delivery failed past its retries, the apiserver refused the rollout, or the canary was stopped and scaled to zero. The relay's log (event promotion_failed) and, for a rollout, the Deployment's events say why.`),
      })),
      {
        alert: 'ModelPromotionWebhookUnregistered',
        expr: `max by (namespace, job) (${P.webhookRegistered}{${matchers(job)}}) == 0\nor\nabsent(${up} == 1)`,
        for: '15m',
        labels: { severity: 'warning', namespace: promotion.namespace, ...alertLabels },
        annotations: annotate('ModelPromotionWebhookUnregistered',
          `Promotion relay ${where} is not receiving promotions`,
          `For 15 minutes the promotion relay ${where} has been down or has not registered its webhook in MLflow: alias changes of ${promotion.promotedModels.join(', ')} deploy nothing.`),
      },
    ],
  };
}

/** Share of requests answered 5xx over `window`; 0 (not absent) when none failed, NaN without traffic. */
function errorRatio(sel: string, window: string): string {
  const total = `sum by (namespace, model) (rate(${S.requestsTotal}{${sel}}[${window}]))`;
  return [
    '(',
    `  sum by (namespace, model) (rate(${S.requestsTotal}{${sel},code=~"5.."}[${window}]))`,
    '  or',
    `  ${total} * 0`,
    ')',
    '/',
    total,
  ].join('\n');
}

function matchers(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',');
}

/** A number as PromQL and people read it: no binary floating-point noise (14.4 * 0.001 is 0.0144). */
function num(value: number): string {
  return String(Number(value.toPrecision(12)));
}

function percent(share: number): string {
  return `${num(share * 100)}%`;
}

function humanDuration(ms: number): string {
  return ms < 1000 ? `${num(ms)}ms` : `${num(ms / 1000)}s`;
}

/** Seconds as a Prometheus duration: 7200 -> 2h, 5400 -> 1h30m. */
function promDuration(seconds: number): string {
  const units: Array<[string, number]> = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  let rest = Math.round(seconds);
  let out = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out || '0s';
}
