import { Chart, Testing } from 'cdk8s';
import { Monitoring } from '../../src';
import { synthObjects } from '../../src/testing';

/**
 * A fresh chart in namespace `mlops` with stable (hash-free) names, whose Prometheus selects
 * every ServiceMonitor and rule (Monitoring.configure with no labels; a test may configure again).
 */
export function newChart(namespace: string | null = 'mlops'): Chart {
  const app = Testing.app();
  const chart = new Chart(app, 'test', { namespace: namespace ?? undefined, disableResourceNameHashes: true });
  Monitoring.configure(chart, { serviceMonitorLabels: {} });
  return chart;
}

/** Synthesized objects of a chart, typed loosely so a test reaches into any field. */
export function synth(chart: Chart): any[] {
  return synthObjects(chart);
}

/** The one object of this kind (and name, if given); fails when there is not exactly one. */
export function only(objects: any[], kind: string, name?: string): any {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${kind}${name ? ` named ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`);
  }
  return found[0];
}

/** A container of a pod template by name. */
export function container(workload: any, name: string): any {
  const spec = workload.spec.template?.spec ?? workload.spec.jobTemplate.spec.template.spec;
  const found = spec.containers.find((c: any) => c.name === name);
  if (!found) throw new Error(`no container ${name} in ${workload.kind}/${workload.metadata.name}`);
  return found;
}
