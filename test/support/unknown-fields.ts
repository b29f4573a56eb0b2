// Moved to src/testing (the mlops-constructs/testing entry point); re-exported for the existing tests.
export * from '../../src/testing/unknown-fields';
