import * as pulumi from '@pulumi/pulumi';
import { copyFields, CronJob, WorkloadComponent } from './component';
import { constructId, StackSettings } from './synthesis';
import { requirePinnedImage } from '../constructs/core/validation';
import { DriftMonitor as DriftMonitorConstruct, DriftMonitorProps } from '../constructs/drift/drift-monitor';
import { DRIFT_MONITOR_FIELDS, IDriftMonitor } from '../constructs/drift/interfaces';
import { IPushgateway, Pushgateway } from '../constructs/drift/pushgateway';
import { DriftCheckerBundle, IDriftCheckerBundle } from '../constructs/drift/checker-bundle';

/** Arguments of a DriftMonitor component: the construct's props, with Pulumi inputs where values are computed. */
export interface DriftMonitorArgs extends Omit<DriftMonitorProps, 'image'>, StackSettings {
  /** Image that runs the checker (a stock Node.js image). @default Images.NODE */
  readonly image?: pulumi.Input<string>;
}

// The IDriftMonitor fields are copied from the construct (copyFields), declared here by merging.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface DriftMonitor extends IDriftMonitor {}

/**
 * The DriftMonitor construct as a Pulumi component (`mlops:index:DriftMonitor`): the CronJob
 * and, unless given, the checker's ConfigMap (`checkerBundle`) and the Pushgateway (Deployment,
 * Service, ServiceMonitor) its results go to, each a child resource. Takes a Pulumi
 * ModelService as `modelService`. A second monitor in the same namespace passes
 * `pushgateway: first.pushgateway, checkerBundle: first.checkerBundle`, as cdk8s monitors of one
 * chart share `Pushgateway.of(chart)` and `DriftCheckerBundle.of(chart, namespace)`; without
 * them its registration fails, naming the object both would create.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class DriftMonitor extends WorkloadComponent<DriftMonitorConstruct> implements IDriftMonitor {
  /** Where the checks push their results: the Pushgateway this component deployed, or the one passed in. */
  public readonly pushgateway: IPushgateway;
  /** The ConfigMap the checks run the checker from: the one this component deployed, or the one passed in. */
  public readonly checkerBundle: IDriftCheckerBundle;

  constructor(name: string, args: DriftMonitorArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // The checked model's namespace is the chart's, where a default Pushgateway is created.
    const namespace = args.modelService?.namespace;
    super('mlops:index:DriftMonitor', name, opts, {
      chartId: namespace ?? 'default',
      namespace,
      settings: args,
      build: (chart, pending, scope) => {
        const { image, monitoring: _monitoring, ...props } = args;
        return new DriftMonitorConstruct(chart, constructId(name), {
          ...props,
          image: pending.image(image, (resolved) => requirePinnedImage('DriftMonitor', scope(), 'image', resolved)),
        });
      },
      outputs: (c) => ({ name: c.name, namespace: c.namespace, pushgatewayUrl: (args.pushgateway ?? Pushgateway.of(c)).url }),
    });
    copyFields<IDriftMonitor, typeof DRIFT_MONITOR_FIELDS>(this, this.construct, DRIFT_MONITOR_FIELDS);
    this.pushgateway = args.pushgateway ?? Pushgateway.of(this.chart);
    const bundle = args.checkerBundle ?? DriftCheckerBundle.of(this.chart, this.construct.namespace);
    // A plain object: the construct itself stays in this component's private chart.
    this.checkerBundle = { configMapName: bundle.configMapName, namespace: bundle.namespace };
  }

  /** The CronJob of the checks. */
  public get cronJob(): CronJob {
    return this.typed<CronJob>('CronJob');
  }
}
