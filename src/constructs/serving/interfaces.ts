import { Duration } from 'cdk8s';
import { SecretKeySelector } from '../core/workload-props';

/** Where a model service's inference log is written (ModelService `inferenceLog`), for the drift checks that read it. */
export interface InferenceLogLocation {
  readonly bucket: string;
  /** Key prefix without a trailing slash; may be empty. */
  readonly prefix: string;
  /** The `model=` segment of the keys (the service's modelName). */
  readonly modelName: string;
  readonly s3EndpointUrl?: string;
  readonly s3Region: string;
  readonly s3AccessKeyId?: SecretKeySelector;
  readonly s3SecretAccessKey?: SecretKeySelector;
}

/** What alerts and dashboards need of a model service's shadow challenger (ModelService `shadow`). */
export interface ShadowInfo {
  /** Name of the challenger's Deployment and Service. */
  readonly name: string;
  /** ModelShadowDisagreement fires when fewer than this share of compared requests agreed over an hour. */
  readonly agreementFloor: number;
  /** True when predictions are compared within a tolerance (regression), false for equality. */
  readonly regression: boolean;
}

/**
 * What other constructs (alerts, drift checks, Pulumi components) need to know of a model
 * service. The cdk8s `ModelService` implements it, and so does the Pulumi component. This file
 * is the part of serving/ that drift/ and alerts/ may import.
 */
export interface IModelService {
  /** Kubernetes name of the Deployment and the Service. */
  readonly name: string;
  /** Namespace everything lives in. */
  readonly namespace: string;
  /** Value of the `model` label on the serving metrics. */
  readonly modelName: string;
  /** True when the pods export the contract serving metrics (through the proxy or mapped). */
  readonly exportsServingMetrics: boolean;
  /** p99 latency the service should stay under, if set. */
  readonly latencyObjective?: Duration;
  /** Share of requests that may fail (0..1), if set. */
  readonly errorRateObjective?: number;
  /** Lowest acceptable accuracy (0..1) on labelled production data, if set. */
  readonly accuracyFloor?: number;
  /** Where the metrics proxy logs sampled requests and predictions, if it does. */
  readonly inferenceLog?: InferenceLogLocation;
  /** The shadow challenger the metrics proxy mirrors requests to, if any. */
  readonly shadow?: ShadowInfo;
}

/** The fields of IModelService, for components that implement it by copying them from a ModelService. */
export const MODEL_SERVICE_FIELDS = [
  'name', 'namespace', 'modelName', 'exportsServingMetrics', 'latencyObjective', 'errorRateObjective', 'accuracyFloor', 'inferenceLog', 'shadow',
] as const satisfies readonly (keyof IModelService)[];
