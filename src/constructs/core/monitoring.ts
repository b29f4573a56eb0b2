import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { invalidProp, requireLabels } from './validation';

const CONTEXT_KEY = 'mlops-constructs:monitoring';

/** Monitoring settings shared by every construct below a scope. */
export interface MonitoringSettings {
  /**
   * Labels every ServiceMonitor carries, so a kube-prometheus-stack `serviceMonitorSelector`
   * picks them up, e.g. `{ release: 'kube-prometheus-stack' }`.
   * @default {}
   */
  readonly serviceMonitorLabels?: Record<string, string>;
  /**
   * Labels every PrometheusRule carries, for a `ruleSelector`.
   * @default - the same as serviceMonitorLabels
   */
  readonly ruleLabels?: Record<string, string>;
  /** How often Prometheus scrapes model metrics. @default Duration.seconds(30) */
  readonly scrapeInterval?: Duration;
  /** Namespace Prometheus runs in, for NetworkPolicies that let it scrape. @default 'monitoring' */
  readonly prometheusNamespace?: string;
  /**
   * Pod labels of the Prometheus server, for NetworkPolicies that let it scrape.
   * @default { 'app.kubernetes.io/name': 'prometheus' }
   */
  readonly prometheusPodLabels?: Record<string, string>;
}

/** Stack-wide monitoring settings, set once on an App or Chart and read by every construct below it. */
export class Monitoring {
  /**
   * Sets the settings for everything that will be added below `scope`. Call it before adding
   * constructs to the scope.
   */
  public static configure(scope: Construct, settings: MonitoringSettings): void {
    if (settings.serviceMonitorLabels) requireLabels('Monitoring', scope, 'serviceMonitorLabels', settings.serviceMonitorLabels);
    if (settings.ruleLabels) requireLabels('Monitoring', scope, 'ruleLabels', settings.ruleLabels);
    if (settings.prometheusPodLabels) requireLabels('Monitoring', scope, 'prometheusPodLabels', settings.prometheusPodLabels);
    if (scope.node.children.length > 0) {
      throw new Error(`Monitoring ${scope.node.path || '<app>'}: configure() was called after constructs were added (${scope.node.children.map((c) => c.node.id).join(', ')}); call it first so every construct sees the same settings`);
    }
    scope.node.setContext(CONTEXT_KEY, settings);
  }

  /**
   * Throws when a construct would write a ServiceMonitor or PrometheusRule without selector
   * labels while Monitoring.configure was never called above `scope`: a kube-prometheus-stack
   * Prometheus selects them by a label (`release: <its release>`) and ignores unlabelled ones
   * without a word, so the stack would deploy with no monitoring at all. An explicit
   * `Monitoring.configure(chart, { serviceMonitorLabels: {} })` says the Prometheus selects all.
   */
  public static requireSelectorLabels(kind: string, scope: Construct, object: 'ServiceMonitor' | 'PrometheusRule', labels: Record<string, string>): void {
    if (Object.keys(labels).length > 0 || scope.node.tryGetContext(CONTEXT_KEY) !== undefined) return;
    const field = object === 'ServiceMonitor' ? 'serviceMonitorLabels' : 'ruleLabels';
    throw invalidProp(kind, scope, field, undefined,
      `leaves the ${object} without labels and Monitoring.configure was not called for this stack; a kube-prometheus-stack Prometheus selects ${object}s by a label such as release: <its release> and ignores the others without a word`,
      'call Monitoring.configure(chart, { serviceMonitorLabels: { release: "<your release>" } }) before adding constructs (a Pulumi component: pass monitoring), ' +
        'or Monitoring.configure(chart, { serviceMonitorLabels: {} }) if your Prometheus selects every ServiceMonitor and rule');
  }

  /** The settings in force at `scope`, with defaults filled in. */
  public static of(scope: Construct): Required<MonitoringSettings> {
    const settings = (scope.node.tryGetContext(CONTEXT_KEY) ?? {}) as MonitoringSettings;
    const serviceMonitorLabels = settings.serviceMonitorLabels ?? {};
    return {
      serviceMonitorLabels,
      ruleLabels: settings.ruleLabels ?? serviceMonitorLabels,
      scrapeInterval: settings.scrapeInterval ?? Duration.seconds(30),
      prometheusNamespace: settings.prometheusNamespace ?? 'monitoring',
      prometheusPodLabels: settings.prometheusPodLabels ?? { 'app.kubernetes.io/name': 'prometheus' },
    };
  }
}
