//go:build tools

// Package tools keeps the operator's command in this module's requirements; the build names
// the package itself (github.com/prometheus-operator/prometheus-operator/cmd/operator).
package tools

import _ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
