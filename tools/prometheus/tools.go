//go:build tools

// Package tools keeps Prometheus's command in this module's requirements; the build names the
// package itself (github.com/prometheus/prometheus/cmd/prometheus) with the build tags
// remove_all_sd,enable_kubernetes_sd: Kubernetes service discovery only.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
