import { DRIFT_DATASETS, DRIFT_METRICS, DRIFT_PUSH_JOB, LABELS } from '../../contract';
import type { CheckResult } from './check';
import { RunError } from './errors';
import { httpRequest, readText, sleep } from './io/http';
import { TEXT_FORMAT_CONTENT_TYPE, familyHeader, sampleLine } from '../shared/prometheus-text';

/**
 * The contract metrics (DRIFT_METRICS in src/contract.ts) in Prometheus text format, PUT to a
 * Pushgateway under the grouping key job=DRIFT_PUSH_JOB, namespace, model. PUT replaces the whole
 * group, so features that disappeared from the check do not linger as stale series.
 * Only a completed check is pushed: a failed run pushes nothing, so
 * mlops_drift_last_success_timestamp_seconds ages and the staleness alert fires.
 */

export interface PushTarget {
  /** Pushgateway base URL, e.g. http://pushgateway:9091 */
  readonly url: string;
  readonly namespace: string;
  readonly model: string;
  /** Shard of an Indexed Job: its own group (shard="i"), so shards do not replace each other's metrics. */
  readonly shard?: number;
}

/** One grouping-key label in the URL path; values with "/" (or empty) go base64url-encoded, as the Pushgateway defines. */
function groupingSegment(name: string, value: string): string {
  if (value === '' || value.includes('/')) return `${name}@base64/${Buffer.from(value).toString('base64url') || '='}`;
  return `${name}/${encodeURIComponent(value)}`;
}

export function pushUrl(target: PushTarget): string {
  const base = target.url.replace(/\/+$/, '');
  const group = [
    groupingSegment(LABELS.job, DRIFT_PUSH_JOB),
    groupingSegment(LABELS.namespace, target.namespace),
    groupingSegment(LABELS.model, target.model),
    ...(target.shard !== undefined ? [groupingSegment(LABELS.shard, String(target.shard))] : []),
  ];
  return `${base}/metrics/${group.join('/')}`;
}

/** The exposition for one check; timestamps are seconds since the epoch. */
export function renderMetrics(result: CheckResult, durationSeconds: number, nowSeconds: number): string {
  const lines: string[] = [];
  const family = (name: string, help: string, samples: Array<[Record<string, string>, number]>) => {
    if (samples.length === 0) return;
    lines.push(...familyHeader(name, 'gauge', help));
    for (const [labels, value] of samples) lines.push(sampleLine(name, labels, value));
  };
  const byFeature = (pick: (f: CheckResult['features'][number]) => number | null) => result.features
    .map((f): [Record<string, string>, number | null] => [{ [LABELS.feature]: f.feature, [LABELS.method]: f.method }, pick(f)])
    .filter((s): s is [Record<string, string>, number] => s[1] !== null);

  family(DRIFT_METRICS.pValue, 'p-value of the feature\'s drift test (tests with a p-value only).', byFeature((f) => f.pValue));
  family(DRIFT_METRICS.statistic, 'Statistic or distance of the feature\'s drift test.', byFeature((f) => f.statistic));
  family(DRIFT_METRICS.detected, '1 when the feature drifted, else 0.', byFeature((f) => (f.drifted ? 1 : 0)));
  family(DRIFT_METRICS.share, 'Share of features that drifted, 0..1.', [[{}, result.driftShare]]);
  family(DRIFT_METRICS.datasetDrifted, '1 when the drifted share reached the dataset threshold, else 0.', [[{}, result.drifted ? 1 : 0]]);
  family(DRIFT_METRICS.rows, 'Rows used by the check, per dataset.',
    DRIFT_DATASETS.map((dataset): [Record<string, string>, number] => [{ [LABELS.dataset]: dataset }, result.rows[dataset]]));
  family(DRIFT_METRICS.lastSuccessTimestampSeconds, 'When the last drift check completed.', [[{}, nowSeconds]]);
  family(DRIFT_METRICS.checkDurationSeconds, 'How long the last drift check took.', [[{}, durationSeconds]]);
  // PUT replaces the group: a run that checked clears the flag of an earlier one that found no data.
  family(DRIFT_METRICS.dataMissing, '1 when the last run found no current data (exit 3), else 0.', [[{}, 0]]);
  if (result.quality) {
    family(DRIFT_METRICS.modelQuality, 'Model quality on the current data with labels.',
      Object.entries(result.quality).map(([metric, value]): [Record<string, string>, number] => [{ [LABELS.metric]: metric }, value]));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What a run that found no current data pushes: the flag alone, sent with POST, which replaces
 * only the metrics of the same name in the group. The last real verdict and its
 * mlops_drift_last_success_timestamp_seconds stay as they were (no "no drift" for this
 * period), so the staleness alert still fires if the data never comes.
 */
export function renderDataMissing(): string {
  return `${[...familyHeader(DRIFT_METRICS.dataMissing, 'gauge', '1 when the last run found no current data (exit 3), else 0.'), sampleLine(DRIFT_METRICS.dataMissing, {}, 1)].join('\n')}\n`;
}

export interface PushOptions {
  /** PUT (default) replaces the whole group; POST only the metrics of the same names. */
  readonly method?: 'PUT' | 'POST';
  /** Attempts in all (network errors and 5xx are retried). */
  readonly attempts?: number;
  /** First backoff in ms; doubles after each failure. */
  readonly backoffMs?: number;
  readonly timeoutMs?: number;
}

/** PUTs the metrics; throws RunError (exit 1) when the Pushgateway does not accept them. */
export async function pushMetrics(target: PushTarget, body: string, options: PushOptions = {}): Promise<void> {
  const url = pushUrl(target);
  const attempts = options.attempts ?? 5;
  let backoff = options.backoffMs ?? 500;
  let lastError: unknown;
  let made = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    made = attempt;
    try {
      // One attempt per call: the backoff schedule here is the push's own.
      const response = await httpRequest(url, {
        method: options.method ?? 'PUT', body, attempts: 1, timeoutMs: options.timeoutMs ?? 10_000,
        headers: { 'content-type': TEXT_FORMAT_CONTENT_TYPE },
      });
      await readText(response);
      return;
    } catch (err) {
      lastError = err;
      // A 4xx (e.g. 400 for a malformed push) will not get better by retrying.
      if ((err as { exitCode?: number }).exitCode === 2) break;
    }
    if (attempt < attempts) {
      await sleep(backoff);
      backoff *= 2;
    }
  }
  throw new RunError(`cannot push metrics to the Pushgateway at ${target.url} after ${made} attempt${made === 1 ? '' : 's'}: ${(lastError as Error).message}`, { cause: lastError });
}
