import { LABELS, SHADOW_METRICS, SHADOW_OUTCOMES, SHADOW_SKIP_REASONS } from '../../../contract';
import { familyHeader, sampleLine } from '../../shared/prometheus-text';

const { comparisonsTotal, skippedTotal, absDifferenceSum, absDifferenceCount } = SHADOW_METRICS;

export type ShadowOutcome = (typeof SHADOW_OUTCOMES)[keyof typeof SHADOW_OUTCOMES];

const OUTCOMES: readonly ShadowOutcome[] = Object.values(SHADOW_OUTCOMES);

export type ShadowSkipReason = (typeof SHADOW_SKIP_REASONS)[keyof typeof SHADOW_SKIP_REASONS];

const SKIP_REASONS: readonly ShadowSkipReason[] = Object.values(SHADOW_SKIP_REASONS);

/**
 * The shadow's metrics (SHADOW_METRICS in src/contract.ts) on the champion's proxy, in the
 * text format it appends to its /metrics. Every outcome is exported from the start at 0, so
 * the alerts' ratios see the first failure instead of a series that appears.
 */
export class ShadowMetrics {
  private readonly comparisons = new Map<ShadowOutcome, number>(OUTCOMES.map((o) => [o, 0]));
  private readonly skipped = new Map<ShadowSkipReason, number>(SKIP_REASONS.map((r) => [r, 0]));
  private differenceSum = 0;
  private differenceCount = 0;

  constructor(private readonly modelName: string) {}

  countComparison(outcome: ShadowOutcome): void {
    this.comparisons.set(outcome, this.comparisons.get(outcome)! + 1);
  }

  countSkipped(reason: ShadowSkipReason): void {
    this.skipped.set(reason, this.skipped.get(reason)! + 1);
  }

  addDifferences(sum: number, count: number): void {
    this.differenceSum += sum;
    this.differenceCount += count;
  }

  /** The comparisons counted with `outcome` so far. */
  comparisonsOf(outcome: ShadowOutcome): number {
    return this.comparisons.get(outcome)!;
  }

  render(): string {
    const model = { [LABELS.model]: this.modelName };
    const lines: string[] = familyHeader(comparisonsTotal, 'counter',
      'Requests mirrored to the shadow challenger, by how its answer compared with the champion\'s: agree, disagree, challenger_failed, incomparable.');
    for (const outcome of OUTCOMES) lines.push(sampleLine(comparisonsTotal, { ...model, [LABELS.outcome]: outcome }, this.comparisons.get(outcome)!));
    lines.push(
      ...familyHeader(skippedTotal, 'counter', 'Requests sampled for the shadow but not mirrored: in_flight_limit (too many mirrors in flight), body_too_large (over the capture limit). Not counted: requests whose client left before the answer, and those arriving while the proxy stops.'),
      ...SKIP_REASONS.map((reason) => sampleLine(skippedTotal, { ...model, [LABELS.reason]: reason }, this.skipped.get(reason)!)),
      ...familyHeader(absDifferenceSum, 'counter', 'Sum of |champion - challenger| over the compared numeric predictions (with a tolerance).'),
      sampleLine(absDifferenceSum, model, this.differenceSum),
      ...familyHeader(absDifferenceCount, 'counter', 'Numeric predictions compared into the absolute-difference sum.'),
      sampleLine(absDifferenceCount, model, this.differenceCount),
    );
    return lines.join('\n') + '\n';
  }
}
