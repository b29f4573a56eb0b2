import { App, Chart, Testing } from 'cdk8s';

/** A fresh chart in namespace `mlops` with stable (hash-free) names. */
export function newChart(namespace: string | null = 'mlops'): Chart {
  const app = Testing.app();
  return new Chart(app, 'test', { namespace: namespace ?? undefined, disableResourceNameHashes: true });
}

/** Synthesized objects of a chart. */
export function synth(chart: Chart): any[] {
  return Testing.synth(chart);
}

/** Synthesized objects of every chart of an app. */
export function synthApp(app: App): any[] {
  return app.charts.flatMap((chart) => Testing.synth(chart));
}

/** The one object of this kind (and name, if given); fails when there is not exactly one. */
export function only(objects: any[], kind: string, name?: string): any {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`);
  }
  return found[0];
}

/**
 * Replaces bundled runtime programs in ConfigMaps by their size, so snapshots pin the
 * manifest shape and not the bundle's bytes (the pod annotation already pins its hash).
 */
export function redactBundles(objects: any[]): any[] {
  return objects.map((o) => {
    const annotations = o.spec?.template?.metadata?.annotations ?? o.spec?.jobTemplate?.spec?.template?.metadata?.annotations;
    if (annotations) {
      const copy = JSON.parse(JSON.stringify(o));
      const target = copy.spec.template?.metadata?.annotations ?? copy.spec.jobTemplate.spec.template.metadata.annotations;
      for (const key of Object.keys(target)) {
        if (key.endsWith('-sha256')) target[key] = '<sha256 of the bundle>';
      }
      return copy;
    }
    if (o.kind !== 'ConfigMap' || !o.data) return o;
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries<string>(o.data)) {
      data[key] = key.endsWith('.js') ? `<bundled program, ${value.length > 0 ? 'non-empty' : 'EMPTY'}>` : value;
    }
    return { ...o, data };
  });
}

/** A container of a pod template by name. */
export function container(workload: any, name: string): any {
  const spec = workload.spec.template?.spec ?? workload.spec.jobTemplate.spec.template.spec;
  const found = spec.containers.find((c: any) => c.name === name);
  if (!found) throw new Error(`no container ${name} in ${workload.kind}/${workload.metadata.name}`);
  return found;
}
