import { performance } from 'node:perf_hooks';
import { LABELS, SERVING_METRICS } from '../../contract';
import { escapeLabelValue, familyHeader, formatValue } from '../shared/prometheus-text';

const { requestsTotal, requestDurationSeconds: duration, requestsInFlight } = SERVING_METRICS;

/**
 * The uniform serving metrics of one model (SERVING_METRICS in src/contract.ts): a request
 * counter by status code, a latency histogram and an in-flight gauge.
 */
export class ServingMetrics {
  private readonly requestsByCode = new Map<string, number>();
  /** Per-bucket counts, not cumulative; the last slot is +Inf. */
  private readonly bucketCounts: number[];
  private durationSum = 0;
  private durationCount = 0;
  private inFlight = 0;
  private readonly modelLabel: string;

  /** `variant`: a shadow challenger's SHADOW_VARIANT, added to every serving series; a champion has none. */
  constructor(modelName: string, private readonly buckets: readonly number[], variant?: string) {
    this.bucketCounts = new Array<number>(buckets.length + 1).fill(0);
    this.modelLabel = `${LABELS.model}="${escapeLabelValue(modelName)}"${variant === undefined ? '' : `,${LABELS.variant}="${escapeLabelValue(variant)}"`}`;
  }

  requestStarted(): void {
    this.inFlight += 1;
  }

  /** Ends one request begun with `requestStarted`: counts its code and observes its duration. */
  requestEnded(code: string, seconds: number): void {
    this.inFlight -= 1;
    this.requestsByCode.set(code, (this.requestsByCode.get(code) ?? 0) + 1);
    let slot = 0;
    while (slot < this.buckets.length && seconds > this.buckets[slot]) slot += 1;
    this.bucketCounts[slot] += 1;
    this.durationSum += seconds;
    this.durationCount += 1;
  }

  /** The metrics in text exposition format 0.0.4, process metrics included. */
  render(): string {
    const model = this.modelLabel;
    const lines: string[] = familyHeader(requestsTotal, 'counter',
      'Inference requests answered, by HTTP status code sent to the client (499: client closed the connection first).');
    for (const code of [...this.requestsByCode.keys()].sort()) {
      lines.push(`${requestsTotal}{${model},${LABELS.code}="${escapeLabelValue(code)}"} ${this.requestsByCode.get(code)}`);
    }

    lines.push(...familyHeader(duration, 'histogram', 'Time from request arrival to the end of the response sent to the client.'));
    let cumulative = 0;
    this.buckets.forEach((bound, slot) => {
      cumulative += this.bucketCounts[slot];
      lines.push(`${duration}_bucket{${model},le="${formatValue(bound)}"} ${cumulative}`);
    });
    cumulative += this.bucketCounts[this.buckets.length];
    lines.push(
      `${duration}_bucket{${model},le="+Inf"} ${cumulative}`,
      `${duration}_sum{${model}} ${formatValue(this.durationSum)}`,
      `${duration}_count{${model}} ${this.durationCount}`,
      ...familyHeader(requestsInFlight, 'gauge', 'Inference requests received and not yet answered.'),
      `${requestsInFlight}{${model}} ${this.inFlight}`,
    );

    const cpu = process.cpuUsage();
    lines.push(
      '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
      '# TYPE process_cpu_seconds_total counter',
      `process_cpu_seconds_total ${formatValue((cpu.user + cpu.system) / 1e6)}`,
      '# HELP process_resident_memory_bytes Resident memory size in bytes.',
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
      '# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.',
      '# TYPE process_start_time_seconds gauge',
      `process_start_time_seconds ${formatValue(Math.floor(performance.timeOrigin) / 1000)}`,
    );
    return lines.join('\n') + '\n';
  }
}
