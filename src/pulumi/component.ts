import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { Chart } from 'cdk8s';
import { asResourceError } from './errors';
import { PendingInputs } from './pending-inputs';
import { dependencies, DependsOn, findResource, KubernetesObjectResource, privateChart, registerObjects, StackSettings } from './synthesis';

/** How a component builds its construct. */
export interface ComponentSpec<C> {
  /** Namespace of the private chart (where objects without their own namespace go). @default - none */
  readonly namespace?: string;
  /** Id of the private chart; the construct's errors name it as the first path segment. */
  readonly chartId: string;
  /** The component's stack settings (monitoring). */
  readonly settings: StackSettings;
  /** What every object waits for besides the component's own `dependsOn` option. @default [] */
  readonly dependsOn?: readonly (DependsOn | undefined)[];
  /**
   * Creates the construct in the chart. Pulumi inputs that are not known yet enter it through
   * `pending`, whose checks name `scope()` (the construct once it exists) in their errors.
   */
  readonly build: (chart: Chart, pending: PendingInputs, scope: () => Chart | C) => C;
  /** The component's outputs, from the construct. */
  readonly outputs: (construct: C) => pulumi.Inputs;
}

/**
 * The skeleton of every component of this package: the type token, a private cdk8s chart in
 * which the construct synthesizes exactly as in a cdk8s app, one child resource per
 * synthesized object (registered in dependency order, with the component's provider and
 * `dependsOn`), the outputs, and errors as `pulumi.ResourceError` naming the component.
 */
export abstract class KubernetesComponent<C> extends pulumi.ComponentResource {
  /** Every synthesized object with its resource, in synthesis order. */
  public readonly resources: readonly KubernetesObjectResource[];
  /** The construct the objects come from. */
  protected readonly construct: C;
  /** The private chart the construct synthesizes in. */
  protected readonly chart: Chart;

  protected constructor(type: string, name: string, opts: pulumi.ComponentResourceOptions, spec: ComponentSpec<C>) {
    super(type, name, {}, opts);
    const pending = new PendingInputs(this);
    this.chart = this.guard(() => privateChart(spec.chartId, spec.namespace, spec.settings));
    let construct: C | undefined;
    this.construct = construct = this.guard(() => spec.build(this.chart, pending, () => construct ?? this.chart));
    this.resources = this.guard(() => registerObjects(this, this.chart, {
      pending,
      dependsOn: dependencies(opts.dependsOn, ...(spec.dependsOn ?? [])),
    }));
    this.registerOutputs(spec.outputs(this.construct));
  }

  /**
   * The resource of a synthesized object, e.g. `resource('Deployment')`.
   * @param name @default - the component's main object
   * @param namespace @default - the component's namespace, if it has one
   */
  public resource(kind: string, name?: string, namespace?: string): pulumi.CustomResource | undefined {
    const main = this.mainObject();
    return findResource(this.resources, kind, name ?? main?.name ?? '', namespace ?? main?.namespace);
  }

  /** Name and namespace of the objects `resource()` finds by default. */
  protected mainObject(): { readonly name: string; readonly namespace: string } | undefined {
    return undefined;
  }

  /** The typed resource of the component's `kind` object (its main one). */
  protected typed<T extends pulumi.CustomResource>(kind: string): T {
    const found = this.resource(kind);
    if (found === undefined) throw new pulumi.ResourceError(`mlops-constructs/pulumi: no ${kind} ${this.mainObject()?.name ?? ''} was synthesized`, this);
    return found as T;
  }

  /** Runs `f`, turning what it throws into a ResourceError of this component. */
  protected guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw asResourceError(e, this);
    }
  }
}

/** A component whose construct's main object is named and namespaced like the construct. */
export abstract class WorkloadComponent<C extends { readonly name: string; readonly namespace: string }> extends KubernetesComponent<C> {
  protected mainObject(): { readonly name: string; readonly namespace: string } {
    return { name: this.construct.name, namespace: this.construct.namespace };
  }
}

/** A component that serves through a Deployment and a Service of its name. */
export abstract class ServingComponent<C extends { readonly name: string; readonly namespace: string }> extends WorkloadComponent<C> {
  /** The Deployment. */
  public get deployment(): Deployment {
    return this.typed<Deployment>('Deployment');
  }

  /** The Service clients call. */
  public get service(): Service {
    return this.typed<Service>('Service');
  }
}

/** `F` when it lists every key of `T`, else never: a field added to an interface must be copied too. */
type EveryKey<T, F extends readonly (keyof T)[]> = Exclude<keyof T, F[number]> extends never ? F : never;

/** Copies the fields of interface `T` from the construct onto the component that implements it too. */
export function copyFields<T extends object, F extends readonly (keyof T)[]>(target: T, source: T, fields: EveryKey<T, F>): void {
  for (const field of fields) Object.defineProperty(target, field, { value: source[field], enumerable: true, writable: false });
}

/** The typed resource classes the components expose. */
export type Deployment = k8s.apps.v1.Deployment;
/** The typed Service resource. */
export type Service = k8s.core.v1.Service;
/** The typed CronJob resource. */
export type CronJob = k8s.batch.v1.CronJob;
