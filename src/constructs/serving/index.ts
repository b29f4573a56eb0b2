// serving/: ModelService, its runtimes and autoscaling metrics (NetworkPeer is core's).
export * from './inference-log';
export * from './interfaces';
export * from './model-service';
export * from './scaling-metric';
export * from './serving-runtime';
export * from './shadow';
