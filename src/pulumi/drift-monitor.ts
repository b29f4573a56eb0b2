import * as pulumi from '@pulumi/pulumi';
import { Duration } from 'cdk8s';
import { IDriftMonitor } from '../constructs/drift/interfaces';
import { DriftMonitor as DriftMonitorConstruct, DriftMonitorProps } from '../constructs/drift/drift-monitor';
import { IPushgateway, Pushgateway } from '../constructs/drift/pushgateway';
import { requirePinnedImage } from '../constructs/core/validation';
import { PendingInputs } from './pending-inputs';
import { constructId, dependencies, findResource, KubernetesObjectResource, privateChart, registerObjects, StackSettings } from './synthesis';

/** Arguments of a DriftMonitor component: the construct's props, with Pulumi inputs where values are computed. */
export interface DriftMonitorArgs extends Omit<DriftMonitorProps, 'image'>, StackSettings {
  /** Image that runs the checker (a stock Node.js image). @default Images.NODE */
  readonly image?: pulumi.Input<string>;
}

/**
 * The DriftMonitor construct as a Pulumi component (`mlops:index:DriftMonitor`): the CronJob,
 * its checker ConfigMap and, unless `pushgateway` is given, the Pushgateway (Deployment,
 * Service, ServiceMonitor) its results go to, each a child resource. Takes a Pulumi
 * ModelService as `modelService`. A second monitor in the same namespace passes
 * `pushgateway: first.pushgateway`, as cdk8s monitors of one chart share `Pushgateway.of(chart)`.
 */
export class DriftMonitor extends pulumi.ComponentResource implements IDriftMonitor {
  public readonly name: string;
  public readonly namespace: string;
  public readonly modelName: string;
  public readonly schedulePeriod: Duration;
  public readonly reportsQuality: boolean;
  public readonly qualityMetrics: string[];
  public readonly pushgatewayJob: string;
  public readonly driftShare: number;
  public readonly shardCount: number;
  /** Where the checks push their results: the Pushgateway this component deployed, or the one passed in. */
  public readonly pushgateway: IPushgateway;
  /** Every synthesized object with its resource, in synthesis order. */
  public readonly resources: readonly KubernetesObjectResource[];

  constructor(name: string, args: DriftMonitorArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super('mlops:index:DriftMonitor', name, {}, opts);
    const pending = new PendingInputs();
    // The checked model's namespace is the chart's, where a default Pushgateway is created.
    const namespace = args.modelService?.namespace;
    const chart = privateChart(namespace ?? 'default', namespace, args);
    let construct: DriftMonitorConstruct | undefined;
    const { image, monitoring: _monitoring, ...props } = args;
    construct = new DriftMonitorConstruct(chart, constructId(name), {
      ...props,
      image: pending.image(image, (resolved) => requirePinnedImage('DriftMonitor', construct ?? chart, 'image', resolved)),
    });
    this.name = construct.name;
    this.namespace = construct.namespace;
    this.modelName = construct.modelName;
    this.schedulePeriod = construct.schedulePeriod;
    this.reportsQuality = construct.reportsQuality;
    this.qualityMetrics = construct.qualityMetrics;
    this.pushgatewayJob = construct.pushgatewayJob;
    this.driftShare = construct.driftShare;
    this.shardCount = construct.shardCount;
    this.pushgateway = args.pushgateway ?? Pushgateway.of(chart);
    this.resources = registerObjects(this, chart, { pending, dependsOn: dependencies(opts.dependsOn) });
    this.registerOutputs({ name: this.name, namespace: this.namespace, pushgatewayUrl: this.pushgateway.url });
  }

  /** The resource of a synthesized object, e.g. `resource('CronJob')`. */
  public resource(kind: string, name: string = this.name): pulumi.CustomResource | undefined {
    return findResource(this.resources, kind, name, this.namespace);
  }
}
