//go:build tools

// Package tools keeps SeaweedFS's command in this module's requirements; the build names the
// package itself (github.com/seaweedfs/seaweedfs/weed).
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
