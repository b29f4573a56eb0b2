/**
 * The Prometheus text exposition format 0.0.4, the one every Prometheus scrapes and the
 * Pushgateway accepts: written by the metrics proxy (/metrics) and the drift checker (push).
 */

export const TEXT_FORMAT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

/** A label value inside double quotes: backslash, double quote and line feed escaped, as the format defines. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value (or `le` bound): the format spells the non-finite values +Inf, -Inf and NaN. */
export function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

/** `{a="x",b="y"}` in the order given, or nothing when there are no labels. */
export function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
}

/** One sample line, e.g. `mlops_drift_share 0.5` or `mlops_drift_rows{dataset="current"} 100`. */
export function sampleLine(name: string, labels: Labels, value: number): string {
  return `${name}${formatLabels(labels)} ${formatValue(value)}`;
}

/** The `# HELP` and `# TYPE` lines that open a metric family; help text escapes backslash and line feed. */
export function familyHeader(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): string[] {
  return [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
}
