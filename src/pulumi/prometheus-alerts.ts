import * as pulumi from '@pulumi/pulumi';
import { PrometheusAlerts as PrometheusAlertsConstruct, PrometheusAlertsProps } from '../constructs/alerts/prometheus-alerts';
import { PendingInputs } from './pending-inputs';
import { constructId, dependencies, findResource, KubernetesObjectResource, privateChart, registerObjects, StackSettings } from './synthesis';

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
export class PrometheusAlerts extends pulumi.ComponentResource {
  /** The PrometheusRules. */
  public readonly ruleNames: readonly ObjectName[];
  /** The Grafana dashboard ConfigMaps. */
  public readonly dashboardNames: readonly ObjectName[];
  /** Every synthesized object with its resource, in synthesis order. */
  public readonly resources: readonly KubernetesObjectResource[];

  constructor(name: string, args: PrometheusAlertsArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    super('mlops:index:PrometheusAlerts', name, {}, opts);
    // Rules live in their subjects' namespaces; the chart's namespace is never used.
    const chart = privateChart('alerts', undefined, args);
    const { monitoring: _monitoring, ...props } = args;
    const construct = new PrometheusAlertsConstruct(chart, constructId(name), props);
    this.resources = registerObjects(this, chart, { pending: new PendingInputs(), dependsOn: dependencies(opts.dependsOn) });
    this.ruleNames = construct.rules.map((r) => ({ namespace: r.metadata.namespace!, name: r.name }));
    this.dashboardNames = construct.dashboards.map((d) => ({ namespace: d.namespace, name: d.name }));
    this.registerOutputs({
      ruleNames: this.ruleNames.map((r) => `${r.namespace}/${r.name}`),
      dashboardNames: this.dashboardNames.map((d) => `${d.namespace}/${d.name}`),
    });
  }

  /** The resource of a synthesized object, e.g. `resource('PrometheusRule', 'fraud-detector-alerts')`. */
  public resource(kind: string, name: string, namespace?: string): pulumi.CustomResource | undefined {
    return findResource(this.resources, kind, name, namespace);
  }
}
