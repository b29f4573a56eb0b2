// The one place that reaches into cdk8s-plus-28: its generated Kubernetes 1.28 API classes.
// cdk8s-plus-28 is unmaintained upstream; moving to a newer line changes this import only.
export * from 'cdk8s-plus-28/lib/imports/k8s';
