// The Kubernetes API classes: src/imports/k8s.ts, generated from the OpenAPI document of the
// pinned kube-apiserver (scripts/import-k8s.js; see docs/architecture.md, "Kubernetes types").
export * from '../../imports/k8s';
