import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { Monitoring, MonitoringSettings } from '../constructs/core/monitoring';
import { dependenciesWithin, describeObject, KubernetesObject, resourceKind, resourceName } from './kubernetes-objects';
import { PendingInputs } from './pending-inputs';

/** Settings every component of this package takes besides its construct's props. */
export interface StackSettings {
  /**
   * Stack-wide monitoring settings (ServiceMonitor and rule labels, scrape interval, where
   * Prometheus runs), as `Monitoring.configure(chart, ...)` sets them for a cdk8s chart. Pass
   * the same value to every component of a stack.
   * Required by every component that writes a ServiceMonitor or PrometheusRule, as Monitoring.configure
   * is for a cdk8s chart; pass `{ serviceMonitorLabels: {} }` for a Prometheus that selects them all.
   * @default - none: such a component fails, naming this argument
   */
  readonly monitoring?: MonitoringSettings;
}

/** A value of the `dependsOn` resource option. */
export type DependsOn = NonNullable<pulumi.ResourceOptions['dependsOn']>;

/** One synthesized object and the Pulumi resource that deploys it. */
export interface KubernetesObjectResource {
  /** The object as the construct synthesized it (pending inputs appear as stand-ins). */
  readonly object: KubernetesObject;
  /** The Pulumi resource, a child of the component. */
  readonly resource: pulumi.CustomResource;
}

/**
 * A private cdk8s App and Chart for one component: the construct synthesizes here exactly as in
 * a cdk8s app (same chart options as the reference stack: explicit namespace, no name hashes).
 */
export function privateChart(id: string, namespace: string | undefined, settings: StackSettings): Chart {
  const chart = new Chart(new App(), constructId(id), { namespace, disableResourceNameHashes: true });
  if (settings.monitoring !== undefined) Monitoring.configure(chart, settings.monitoring);
  return chart;
}

/** A construct id from a Pulumi name (construct ids cannot hold the path separator). */
export function constructId(name: string): string {
  return name.replace(/\//g, '-') || 'default';
}

/** Options of registerObjects. */
export interface RegisterOptions {
  /** Pending inputs whose stand-ins are replaced before registration. */
  readonly pending: PendingInputs;
  /**
   * What every object waits for besides the objects of its own set: the component's
   * `dependsOn` option (resources, lists or Outputs of them) and components it talks to.
   */
  readonly dependsOn: readonly DependsOn[];
}

/**
 * Registers every synthesized object of a chart as its own resource, child of `parent` (which
 * passes its provider down), named `<namespace>/<name>`, after the objects it needs
 * (`dependenciesWithin`). Objects are registered in dependency order, so a dependency always
 * exists as a resource when its dependents name it.
 */
export function registerObjects(parent: pulumi.ComponentResource, chart: Chart, options: RegisterOptions): KubernetesObjectResource[] {
  const objects = chart.toJson() as KubernetesObject[];
  const seen = new Map<string, number>();
  objects.forEach((o, i) => {
    const key = `${resourceKind(o.apiVersion, o.kind).token}::${resourceName(o)}`;
    if (seen.has(key)) throw new Error(`mlops-constructs/pulumi: ${describeObject(o)} is synthesized twice (objects #${seen.get(key)} and #${i})`);
    seen.set(key, i);
  });
  claimObjects(parent, objects);
  const deps = dependenciesWithin(objects);
  const registered: (pulumi.CustomResource | undefined)[] = new Array(objects.length);
  // gatherExplicitDependencies flattens nested lists and Outputs, so the option can be passed as is.
  const external = options.dependsOn;

  const register = (i: number): pulumi.CustomResource => {
    const done = registered[i];
    if (done) return done;
    const obj = objects[i];
    const dependsOn = [...deps[i].map(register), ...external] as pulumi.Input<pulumi.Resource>[];
    const resolved = options.pending.resolve(obj, describeObject(obj)) as Record<string, unknown>;
    const resource = resourceKind(obj.apiVersion, obj.kind).create(resourceName(obj), resolved, {
      parent,
      dependsOn,
      customTimeouts: rolloutTimeouts(obj),
    });
    registered[i] = resource;
    return resource;
  };
  objects.forEach((_, i) => register(i));
  return objects.map((object, i) => ({ object, resource: registered[i]! }));
}

/**
 * The provider waits up to 10 minutes for a Deployment's rollout; a model that may load for
 * longer has a longer progress deadline (ModelService: startup timeout plus 2 minutes), and
 * `pulumi up` must not give up before Kubernetes does.
 */
function rolloutTimeouts(obj: KubernetesObject): pulumi.CustomTimeouts | undefined {
  const spec = obj.spec as { progressDeadlineSeconds?: unknown } | undefined;
  const deadline = obj.kind === 'Deployment' ? spec?.progressDeadlineSeconds : undefined;
  if (typeof deadline !== 'number' || deadline + 60 <= 600) return undefined;
  const timeout = `${deadline + 60}s`;
  return { create: timeout, update: timeout };
}

/** Looks up the resource of an object by kind and name (and namespace, when names repeat). */
export function findResource(resources: readonly KubernetesObjectResource[], kind: string, name: string, namespace?: string): pulumi.CustomResource | undefined {
  return resources.find((r) => r.object.kind === kind && r.object.metadata.name === name
    && (namespace === undefined || r.object.metadata.namespace === namespace))?.resource;
}

/** The defined ones of some `dependsOn` values. */
export function dependencies(...values: (DependsOn | undefined)[]): DependsOn[] {
  return values.filter((v): v is DependsOn => v !== undefined && v !== null);
}

/**
 * Which component registered each Kubernetes object, per provider (the default provider: per
 * engine run, i.e. per resource monitor). Two components that would create the same object
 * (group, kind, namespace, name) on one cluster must fail while the program runs, so that
 * `pulumi preview` (and the preview `pulumi up` starts with) stops before anything is applied,
 * instead of the second create failing on the apiserver after the first one landed.
 */
const claims = new WeakMap<object, Map<string, string>>();
const NO_MONITOR = {};

function claimObjects(parent: pulumi.ComponentResource, objects: readonly KubernetesObject[]): void {
  const internals = parent as unknown as { __pulumiType?: string; __name?: string };
  const owner = `${internals.__pulumiType ?? 'component'} ${internals.__name ?? ''}`.trim();
  const scopeOf = (o: KubernetesObject): object =>
    parent.getProvider(resourceKind(o.apiVersion, o.kind).token) ?? pulumi.runtime.getMonitor() ?? NO_MONITOR;
  const identity = (o: KubernetesObject) => `${o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : 'core'} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  for (const o of objects) {
    const other = claims.get(scopeOf(o))?.get(identity(o));
    if (other !== undefined) {
      throw new Error(`mlops-constructs/pulumi: ${owner} and ${other} would both create ${describeObject(o)}; give one of them another name or namespace`);
    }
  }
  for (const o of objects) {
    const scope = scopeOf(o);
    if (!claims.has(scope)) claims.set(scope, new Map());
    claims.get(scope)!.set(identity(o), owner);
  }
}
