/**
 * What PrometheusAlerts needs of a promotion relay: where it runs and which models it promotes.
 * The cdk8s `ModelPromotion` implements it, and so does the Pulumi component. This file is the
 * part of promotion/ that alerts/ may import.
 */
export interface IModelPromotion {
  /** Kubernetes name of the relay's Deployment and Service (the `job` of its scraped metrics). */
  readonly name: string;
  /** Namespace of the relay. */
  readonly namespace: string;
  /** Registered model names the relay promotes (the `model` label of its metrics). */
  readonly promotedModels: readonly string[];
}
