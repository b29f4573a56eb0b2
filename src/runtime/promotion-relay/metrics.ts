import { LABELS, PROMOTION_DELIVERY_OUTCOMES, PROMOTION_LABELS, PROMOTION_METRICS as M } from '../../contract';
import { familyHeader, sampleLine } from '../shared/prometheus-text';

type Key = string;

/** The relay's metrics (PROMOTION_METRICS), rendered in the text format. */
export class RelayMetrics {
  private readonly deliveries = new Map<string, number>();
  private readonly actions = new Map<Key, { labels: Record<string, string>; value: number }>();
  private readonly retries = new Map<Key, { labels: Record<string, string>; value: number }>();
  private readonly failedModels = new Map<string, number>();
  private readonly lastSuccess = new Map<string, number>();
  private readonly canaries = new Map<string, string>();
  private registered = 0;

  constructor(models: readonly string[]) {
    // Every series exists from the start, so rate() and the alert see a 0 before the first event.
    for (const outcome of Object.values(PROMOTION_DELIVERY_OUTCOMES)) this.deliveries.set(outcome, 0);
    for (const model of models) this.failedModels.set(model, 0);
  }

  public delivery(outcome: string): void {
    this.deliveries.set(outcome, (this.deliveries.get(outcome) ?? 0) + 1);
  }

  public action(model: string, action: string, outcome: 'succeeded' | 'failed' | 'unchanged'): void {
    const labels = { [LABELS.model]: model, [PROMOTION_LABELS.action]: action, [LABELS.outcome]: outcome };
    bump(this.actions, labels);
    if (outcome === 'failed') this.failedModels.set(model, 1);
    else {
      this.failedModels.set(model, 0);
      this.lastSuccess.set(model, Date.now() / 1000);
    }
  }

  public retry(model: string, action: string): void {
    bump(this.retries, { [LABELS.model]: model, [PROMOTION_LABELS.action]: action });
  }

  /** Marks a model failed without a new action (a failed canary found at start). */
  public markFailed(model: string): void {
    this.failedModels.set(model, 1);
  }

  public canary(model: string, version: string | undefined): void {
    if (version === undefined) this.canaries.delete(model);
    else this.canaries.set(model, version);
  }

  public webhookRegistered(yes: boolean): void {
    this.registered = yes ? 1 : 0;
  }

  public get isRegistered(): boolean {
    return this.registered === 1;
  }

  public render(): string {
    const lines: string[] = [];
    lines.push(...familyHeader(M.deliveriesTotal, 'counter', 'Requests to the webhook path, by outcome.'));
    for (const [outcome, v] of this.deliveries) lines.push(sampleLine(M.deliveriesTotal, { [LABELS.outcome]: outcome }, v));
    lines.push(...familyHeader(M.actionsTotal, 'counter', 'Promotions acted on, by model, action and outcome.'));
    for (const { labels, value } of this.actions.values()) lines.push(sampleLine(M.actionsTotal, labels, value));
    lines.push(...familyHeader(M.retriesTotal, 'counter', 'Failed attempts that were retried.'));
    for (const { labels, value } of this.retries.values()) lines.push(sampleLine(M.retriesTotal, labels, value));
    lines.push(...familyHeader(M.failed, 'gauge', '1 while the model\'s last promotion failed.'));
    for (const [model, v] of this.failedModels) lines.push(sampleLine(M.failed, { [LABELS.model]: model }, v));
    lines.push(...familyHeader(M.canaryActive, 'gauge', '1 while a canary of this version bakes.'));
    for (const [model, version] of this.canaries) lines.push(sampleLine(M.canaryActive, { [LABELS.model]: model, [LABELS.version]: version }, 1));
    lines.push(...familyHeader(M.webhookRegistered, 'gauge', '1 once the relay\'s webhook is registered in MLflow.'));
    lines.push(sampleLine(M.webhookRegistered, {}, this.registered));
    lines.push(...familyHeader(M.lastSuccessTimestampSeconds, 'gauge', 'Unix time of the model\'s last successful promotion.'));
    for (const [model, v] of this.lastSuccess) lines.push(sampleLine(M.lastSuccessTimestampSeconds, { [LABELS.model]: model }, v));
    return `${lines.join('\n')}\n`;
  }
}

function bump(map: Map<Key, { labels: Record<string, string>; value: number }>, labels: Record<string, string>): void {
  const key = JSON.stringify(labels);
  const entry = map.get(key);
  if (entry) entry.value += 1;
  else map.set(key, { labels, value: 1 });
}
