export * from './constructs';
// The names that cross a boundary (metrics, labels, environment, bundles, the checker's flags).
export * from './contract';
