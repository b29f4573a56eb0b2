// The cdk8s constructs, one folder per capability (docs/architecture.md, "Layers"). Each
// folder's index.ts says what it makes public; nothing else re-exports.
export * from './core';
export * from './serving';
export * from './registry';
export * from './drift';
export * from './alerts';
export * from './promotion';
