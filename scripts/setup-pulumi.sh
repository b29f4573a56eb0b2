#!/usr/bin/env bash
# The Pulumi engine of the Pulumi engine test tier (test/pulumi-engine), built from the Go
# module proxy with the pinned wrapper modules in tools/:
#   pulumi                      CLI v3.248.0 (tools/pulumi), the @pulumi/pulumi dev dependency's version
#   pulumi-language-nodejs      the Node.js language host of sdk v3.68.0 (tools/pulumi-language-nodejs);
#                               newer hosts are a module of their own that the proxy does not serve
#   pulumi-resource-kubernetes  the Kubernetes provider v4.25.0 (tools/pulumi-kubernetes), the
#                               @pulumi/kubernetes dev dependency's version
#
# A cold build is tens of CPU-minutes, so the binaries live outside the clone in version-keyed
# directories (MLOPS_CACHE, default ~/.cache/mlops-constructs) and Go's own module and build
# caches stay at their default places: a fresh clone on the same machine finds everything warm.
# Only what is missing is built, and every build is announced with the time it took.
#
# The paths are fixed (see test/pulumi-engine/engine.ts):
#   $MLOPS_CACHE/pulumi-v3.248.0/bin/pulumi
#   $MLOPS_CACHE/pulumi-language-nodejs-v3.68.0/bin/pulumi-language-nodejs
#   $MLOPS_CACHE/pulumi-kubernetes-v4.25.0/bin/pulumi-resource-kubernetes
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

PULUMI_VERSION=v3.248.0
LANGUAGE_HOST_VERSION=v3.68.0
KUBERNETES_PROVIDER_VERSION=v4.25.0
# The provider module at the commit tagged v4.25.0 (the proxy serves no tagged version of it).
KUBERNETES_PROVIDER_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0-20260115033456-f47bc2d6f199
CACHE="${MLOPS_CACHE:-$HOME/.cache/mlops-constructs}"

command -v go >/dev/null || { echo "setup-pulumi: go is not installed (needed to build the Pulumi CLI ${PULUMI_VERSION})" >&2; exit 1; }
export GOFLAGS=-mod=mod

# Each dependency's version must be the one the wrappers pin, or the tier tests another engine.
for pkg in pulumi:${PULUMI_VERSION#v} kubernetes:${KUBERNETES_PROVIDER_VERSION#v}; do
  installed="$(node -p "require('@pulumi/${pkg%%:*}/package.json').version" 2>/dev/null || true)"
  if [[ "$installed" != "${pkg#*:}" ]]; then
    echo "setup-pulumi: node_modules has @pulumi/${pkg%%:*} ${installed:-(none)}, the tier builds ${pkg#*:}; run npm ci" >&2
    exit 1
  fi
done

# build NAME DIR FUNCTION: runs FUNCTION OUTPUT-FILE unless DIR/NAME is there, timing it.
build() {
  local name="$1" dir="$2" how="$3"
  if [[ -x "$dir/$name" ]]; then
    echo "setup-pulumi: $name is built ($dir)"
    return
  fi
  echo "setup-pulumi: building $name into $dir (cold: minutes of CPU)"
  local started=$SECONDS
  mkdir -p "$dir"
  "$how" "$dir/$name.tmp"
  mv "$dir/$name.tmp" "$dir/$name"
  echo "setup-pulumi: built $name in $((SECONDS - started)) s"
}

cli_build() {
  (cd "$REPO/tools/pulumi" && go build -trimpath -o "$1" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}
build pulumi "$CACHE/pulumi-${PULUMI_VERSION}/bin" cli_build

language_host_build() {
  (cd "$REPO/tools/pulumi-language-nodejs" && go build -trimpath -o "$1" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${LANGUAGE_HOST_VERSION}" \
    github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs)
}
build pulumi-language-nodejs "$CACHE/pulumi-language-nodejs-${LANGUAGE_HOST_VERSION}/bin" language_host_build

# The provider's main package embeds schema-embed.json and terraform-mapping-embed.json, which
# its `go generate` (generate.go) writes beside it. That cannot run in the read-only module
# cache, so the package is copied from the downloaded module into a build directory that holds
# the wrapper's go.mod and go.sum, and generated there.
provider_build() {
  local out="$1" build="$CACHE/pulumi-kubernetes-${KUBERNETES_PROVIDER_VERSION}/build" dir
  dir="$(cd "$REPO/tools/pulumi-kubernetes" && go mod download -json "$KUBERNETES_PROVIDER_MODULE" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [[ -f "$dir/cmd/pulumi-resource-kubernetes/main.go" ]] || { echo "setup-pulumi: $KUBERNETES_PROVIDER_MODULE has no cmd/pulumi-resource-kubernetes" >&2; exit 1; }
  rm -rf "$build" && mkdir -p "$build"
  cp "$REPO/tools/pulumi-kubernetes/go.mod" "$REPO/tools/pulumi-kubernetes/go.sum" "$build/"
  cp "$dir/cmd/pulumi-resource-kubernetes/"{main.go,generate.go,schema.json,terraform-mapping.json} "$build/"
  chmod u+w "$build"/*
  (cd "$build" && VERSION="${KUBERNETES_PROVIDER_VERSION#v}" go run generate.go)
  (cd "$build" && go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${KUBERNETES_PROVIDER_VERSION#v}" \
    -o "$out" .)
  rm -rf "$build"
}
build pulumi-resource-kubernetes "$CACHE/pulumi-kubernetes-${KUBERNETES_PROVIDER_VERSION}/bin" provider_build

"$CACHE/pulumi-${PULUMI_VERSION}/bin/pulumi" version
