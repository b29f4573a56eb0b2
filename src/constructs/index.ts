export * from './images';
export * from './model-reference';
export * from './model-service';
export * from './monitoring';
export * from './network-peer';
export * from './quantities';
export * from './scaling-metric';
export * from './serving-runtime';
export { DEFAULT_USER_ID } from './security';
