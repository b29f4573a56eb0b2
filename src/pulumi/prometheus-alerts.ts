import * as pulumi from '@pulumi/pulumi';
import { KubernetesComponent } from './component';
import { constructId, StackSettings } from './synthesis';
import { PrometheusAlerts as PrometheusAlertsConstruct, PrometheusAlertsProps } from '../constructs/alerts/prometheus-alerts';

/** Arguments of a PrometheusAlerts component: the construct's props (model services, drift monitors and registries may be Pulumi components). */
export interface PrometheusAlertsArgs extends PrometheusAlertsProps, StackSettings {}

/** `namespace/name` of a PrometheusRule or dashboard ConfigMap. */
export interface ObjectName {
  readonly namespace: string;
  readonly name: string;
}

/**
 * The PrometheusAlerts construct as a Pulumi component (`mlops:index:PrometheusAlerts`): one
 * PrometheusRule per model service, drift monitor and registry, and a dashboard ConfigMap per
 * model service, each a child resource. Subjects are fixed at construction (the construct's
 * `add*()` methods have no Pulumi counterpart: the objects are registered at once).
 */
export class PrometheusAlerts extends KubernetesComponent<PrometheusAlertsConstruct> {
  /** The PrometheusRules. */
  public readonly ruleNames: readonly ObjectName[];
  /** The Grafana dashboard ConfigMaps. */
  public readonly dashboardNames: readonly ObjectName[];

  constructor(name: string, args: PrometheusAlertsArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    super('mlops:index:PrometheusAlerts', name, opts, {
      // Rules live in their subjects' namespaces; the chart's namespace is never used.
      chartId: 'alerts',
      settings: args,
      build: (chart) => {
        const { monitoring: _monitoring, ...props } = args;
        return new PrometheusAlertsConstruct(chart, constructId(name), props);
      },
      outputs: (c) => ({
        ruleNames: ruleNames(c).map((r) => `${r.namespace}/${r.name}`),
        dashboardNames: dashboardNames(c).map((d) => `${d.namespace}/${d.name}`),
      }),
    });
    this.ruleNames = ruleNames(this.construct);
    this.dashboardNames = dashboardNames(this.construct);
  }
}

function ruleNames(c: PrometheusAlertsConstruct): ObjectName[] {
  return c.rules.map((r) => ({ namespace: r.metadata.namespace!, name: r.name }));
}

function dashboardNames(c: PrometheusAlertsConstruct): ObjectName[] {
  return c.dashboards.map((d) => ({ namespace: d.namespace, name: d.name }));
}
