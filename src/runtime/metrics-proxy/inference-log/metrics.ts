import { INFERENCE_LOG_METRICS, INFERENCE_LOG_OUTCOMES, LABELS, MODEL_INFO_METRIC } from '../../../contract';
import { escapeLabelValue, familyHeader } from '../../shared/prometheus-text';
import type { Part } from './extract';

const { recordsTotal, unparsedTotal, objectsTotal, bufferedRecords } = INFERENCE_LOG_METRICS;

export type Outcome = (typeof INFERENCE_LOG_OUTCOMES)[keyof typeof INFERENCE_LOG_OUTCOMES];

const OUTCOMES: readonly Outcome[] = Object.values(INFERENCE_LOG_OUTCOMES);
const PARTS: readonly Part[] = ['request', 'response'];

/**
 * The inference log's own metrics (INFERENCE_LOG_METRICS in src/contract.ts), in the text
 * format the proxy appends to its /metrics. Every outcome and part is exported from the start
 * at 0, so `rate()` and `increase()` see the first drop instead of a series that appears.
 */
export class InferenceLogMetrics {
  private readonly records = new Map<Outcome, number>(OUTCOMES.map((o) => [o, 0]));
  private readonly unparsed = new Map<Part, number>(PARTS.map((p) => [p, 0]));
  private objects = 0;
  private readonly modelLabel: string;

  /** @param buffered the records held right now, read at each render */
  constructor(modelName: string, private readonly buffered: () => number) {
    this.modelLabel = `${LABELS.model}="${escapeLabelValue(modelName)}"`;
  }

  countRecords(outcome: Outcome, count: number): void {
    if (count > 0) this.records.set(outcome, this.records.get(outcome)! + count);
  }

  countUnparsed(part: Part): void {
    this.unparsed.set(part, this.unparsed.get(part)! + 1);
  }

  countObject(): void {
    this.objects += 1;
  }

  /** The records counted with `outcome` so far. */
  recordsOf(outcome: Outcome): number {
    return this.records.get(outcome)!;
  }

  render(): string {
    const model = this.modelLabel;
    const lines: string[] = familyHeader(recordsTotal, 'counter',
      'Inference-log records (rows of sampled requests), by what became of them: written, dropped_buffer_full, dropped_upload_failed.');
    for (const outcome of OUTCOMES) lines.push(`${recordsTotal}{${model},${LABELS.outcome}="${outcome}"} ${this.records.get(outcome)}`);
    lines.push(...familyHeader(unparsedTotal, 'counter',
      'Sampled request or response bodies the inference log could not read as a known format (or larger than the capture limit); logged without their columns.'));
    for (const part of PARTS) lines.push(`${unparsedTotal}{${model},${LABELS.part}="${part}"} ${this.unparsed.get(part)}`);
    lines.push(
      ...familyHeader(objectsTotal, 'counter', 'Inference-log objects written to storage.'),
      `${objectsTotal}{${model}} ${this.objects}`,
      ...familyHeader(bufferedRecords, 'gauge', 'Inference-log records held in memory: waiting for their object, or in an object being uploaded.'),
      `${bufferedRecords}{${model}} ${this.buffered()}`,
    );
    return lines.join('\n') + '\n';
  }
}

/**
 * `mlops_model_info{model="m",version="v"} 1` with its HELP and TYPE: the version a pod
 * serves, which dashboards join on. Exported by itself so the proxy can show the version with
 * the inference log off.
 */
export function renderModelInfo(modelName: string, version: string): string {
  return [
    ...familyHeader(MODEL_INFO_METRIC, 'gauge', 'The model version this pod serves (1), resolved at pod start when the model is served by alias.'),
    `${MODEL_INFO_METRIC}{${LABELS.model}="${escapeLabelValue(modelName)}",${LABELS.version}="${escapeLabelValue(version)}"} 1`,
  ].join('\n') + '\n';
}
