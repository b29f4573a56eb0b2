// serving/: ModelService, its runtimes, autoscaling metrics and network peers.
export * from './interfaces';
export * from './model-service';
export * from './network-peer';
export * from './scaling-metric';
export * from './serving-runtime';
