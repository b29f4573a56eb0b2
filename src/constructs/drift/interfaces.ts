import { Duration } from 'cdk8s';

/**
 * What alerting and the Pulumi layer need to know of a scheduled drift check. The cdk8s
 * `DriftMonitor` implements it.
 */
export interface IDriftMonitor {
  /** Kubernetes name of the CronJob. */
  readonly name: string;
  /** Namespace of the CronJob and of the checked model. */
  readonly namespace: string;
  /** Value of the `model` grouping label of the pushed drift metrics. */
  readonly modelName: string;
  /** Time between two scheduled runs (the shortest gap for irregular schedules). */
  readonly schedulePeriod: Duration;
  /** True when label and prediction columns are checked, so `mlops_model_quality` is pushed. */
  readonly reportsQuality: boolean;
  /** Quality metrics pushed (e.g. accuracy, f1 or rmse, mae). */
  readonly qualityMetrics: string[];
  /** Kubernetes name of the Service of the Pushgateway that receives the metrics. */
  readonly pushgatewayJob: string;
  /** Share of drifted features (0..1] at which the dataset counts as drifted. */
  readonly driftShare: number;
  /**
   * Pods that split the features (an Indexed Job); each pushes its own group with label
   * `shard`, and its dataset verdict covers only its features.
   */
  readonly shardCount: number;
}

/** The fields of IDriftMonitor, for components that implement it by copying them from a DriftMonitor. */
export const DRIFT_MONITOR_FIELDS = [
  'name', 'namespace', 'modelName', 'schedulePeriod', 'reportsQuality', 'qualityMetrics', 'pushgatewayJob', 'driftShare', 'shardCount',
] as const satisfies readonly (keyof IDriftMonitor)[];
