import { LABELS, SERVING_METRICS as S } from '../../contract';
import { excerpt, request } from './http';

/** The canary's serving metrics over a window, from Prometheus. NaN where there is no data. */
export interface CanaryHealth {
  readonly requests: number;
  readonly errorRatio: number;
  readonly p99Seconds: number;
}

/**
 * The canary's pods are `<deployment>-canary-<replicaset hash>-<suffix>`, a name no pod of the
 * stable Deployment (`<deployment>-<hash>-<suffix>`) has; Prometheus adds `pod` on scrape.
 */
export function canaryPodRegex(deployment: string): string {
  return `${deployment}-canary-[a-z0-9]+-[a-z0-9]+`;
}

/** The three PromQL queries of canaryHealth (exported for the tests and the runbook). */
export function canaryQueries(namespace: string, model: string, deployment: string, windowSeconds: number): { requests: string; errorRatio: string; p99: string } {
  const sel = `${LABELS.namespace}="${namespace}",${LABELS.model}="${model}",pod=~"${canaryPodRegex(deployment)}"`;
  const w = `${Math.max(1, Math.round(windowSeconds))}s`;
  const total = `sum(increase(${S.requestsTotal}{${sel}}[${w}]))`;
  return {
    requests: total,
    errorRatio: `(sum(increase(${S.requestsTotal}{${sel},${LABELS.code}=~"5.."}[${w}])) or vector(0)) / ${total}`,
    p99: `histogram_quantile(0.99, sum by (le) (increase(${S.requestDurationSeconds}_bucket{${sel}}[${w}])))`,
  };
}

/** Runs an instant query; the value of its single sample, NaN when the result is empty. */
export async function instantQuery(prometheusUrl: string, query: string): Promise<number> {
  const url = `${prometheusUrl.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  const answer = await request(url, { timeoutMs: 15_000 });
  if (answer.status !== 200) throw new Error(`Prometheus answered ${answer.status} to ${query}: ${excerpt(answer.body)}`);
  const parsed = JSON.parse(answer.body);
  if (parsed.status !== 'success') throw new Error(`Prometheus refused ${query}: ${parsed.error ?? excerpt(answer.body)}`);
  const result = parsed.data?.result ?? [];
  if (result.length === 0) return NaN;
  if (result.length > 1) throw new Error(`Prometheus returned ${result.length} series for ${query}, expected one`);
  return Number(result[0].value[1]);
}

export async function canaryHealth(prometheusUrl: string, namespace: string, model: string, deployment: string, windowSeconds: number): Promise<CanaryHealth> {
  const q = canaryQueries(namespace, model, deployment, windowSeconds);
  const [requests, errorRatio, p99Seconds] = await Promise.all([q.requests, q.errorRatio, q.p99].map((query) => instantQuery(prometheusUrl, query)));
  return { requests, errorRatio, p99Seconds };
}
