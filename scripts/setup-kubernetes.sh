#!/usr/bin/env bash
# The Kubernetes control plane of the control-plane test tier, built from the Go module proxy:
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl v1.37.2 (tools/kubernetes)
# and etcd v3.6.16 (tools/etcd), plus the upstream CRDs the suite validates against
# (prometheus-operator v0.93.0, KEDA v2.20.2), fetched with `go mod download`, and the
# prometheus-operator v0.93.0 program itself (tools/prometheus-operator), which the node tier runs,
# and the Prometheus it is built against, 3.13.1 (tools/prometheus; Kubernetes service discovery
# only), which the node tier's end-to-end test runs with the operator's configuration.
#
# A cold build is tens of CPU-minutes, so the binaries live outside the clone in a version-keyed
# directory (MLOPS_CACHE, default ~/.cache/mlops-constructs) and Go's own module and build caches
# stay at their default places: a fresh clone on the same machine finds everything warm.
# Only what is missing is built, and every build is announced.
#
# Prints nothing but progress; the paths are fixed (see test/controlplane/binaries.ts):
#   $MLOPS_CACHE/kubernetes-v1.37.2/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $MLOPS_CACHE/etcd-v3.6.16/bin/etcd
#   $MLOPS_CACHE/prometheus-operator-v0.93.0/bin/operator
#   $MLOPS_CACHE/prometheus-v3.13.1/bin/prometheus
#   $MLOPS_CACHE/crds/{prometheus-operator-v0.93.0,keda-v2.20.2}/*.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

KUBERNETES_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
PROMETHEUS_OPERATOR_VERSION=v0.93.0
PROMETHEUS_VERSION=v3.13.1
KEDA_VERSION=v2.20.2
CACHE="${MLOPS_CACHE:-$HOME/.cache/mlops-constructs}"

command -v go >/dev/null || { echo "setup-kubernetes: go is not installed (needed to build Kubernetes ${KUBERNETES_VERSION})" >&2; exit 1; }
export GOFLAGS=-mod=mod

# --- CRDs: the upstream releases' own files, copied out of the module cache. ---
copy_crds() { # module@version, directory inside the module, destination
  local module="$1" inner="$2" dest="$3"
  if compgen -G "$dest/*.yaml" >/dev/null; then return; fi
  echo "setup-kubernetes: fetching CRDs from $module"
  local dir
  # Outside any module, so no go.mod or go.sum of the repository is touched.
  dir="$(cd / && GOFLAGS= go mod download -json "$module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$dir/$inner" ]] || { echo "setup-kubernetes: $module has no $inner" >&2; exit 1; }
  mkdir -p "$dest.tmp"
  cp "$dir/$inner"/*.yaml "$dest.tmp/"
  chmod 644 "$dest.tmp"/*.yaml
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
}
copy_crds "github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION}" \
  example/prometheus-operator-crd "$CACHE/crds/prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}"
copy_crds "github.com/kedacore/keda/v2@${KEDA_VERSION}" config/crd/bases "$CACHE/crds/keda-${KEDA_VERSION}"

# --- Kubernetes: one `go build` for whatever is missing. ---
KBIN="$CACHE/kubernetes-${KUBERNETES_VERSION}/bin"
missing=()
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [[ -x "$KBIN/$cmd" ]] || missing+=("$cmd")
done
if ((${#missing[@]})); then
  echo "setup-kubernetes: building ${missing[*]} ${KUBERNETES_VERSION} into $KBIN (cold: tens of CPU-minutes)"
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags=""
  # The same stamps hack/lib/version.sh writes, so `kubectl version` and /version tell the truth.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=${KUBERNETES_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  pkgs=()
  for cmd in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  mkdir -p "$KBIN.tmp"
  started=$SECONDS
  (cd "$REPO/tools/kubernetes" && go build -trimpath -ldflags "-s -w${ldflags}" -o "$KBIN.tmp/" "${pkgs[@]}")
  mkdir -p "$KBIN"
  for cmd in "${missing[@]}"; do mv "$KBIN.tmp/$cmd" "$KBIN/$cmd"; done
  rmdir "$KBIN.tmp"
  echo "setup-kubernetes: built ${missing[*]} in $((SECONDS - started)) s"
else
  echo "setup-kubernetes: Kubernetes ${KUBERNETES_VERSION} binaries are built ($KBIN)"
fi

# --- etcd ---
EBIN="$CACHE/etcd-${ETCD_VERSION}/bin"
if [[ ! -x "$EBIN/etcd" ]]; then
  echo "setup-kubernetes: building etcd ${ETCD_VERSION} into $EBIN"
  started=$SECONDS
  mkdir -p "$EBIN"
  (cd "$REPO/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$EBIN/etcd.tmp" .)
  mv "$EBIN/etcd.tmp" "$EBIN/etcd"
  echo "setup-kubernetes: built etcd in $((SECONDS - started)) s"
else
  echo "setup-kubernetes: etcd ${ETCD_VERSION} is built ($EBIN)"
fi

# --- prometheus-operator (the node tier turns the stack's ServiceMonitors and rules into its config) ---
POBIN="$CACHE/prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}/bin"
if [[ ! -x "$POBIN/operator" ]]; then
  echo "setup-kubernetes: building prometheus-operator ${PROMETHEUS_OPERATOR_VERSION} into $POBIN"
  started=$SECONDS
  mkdir -p "$POBIN"
  # The stamp upstream's Makefile writes: the operator names its config-reloader image after it.
  version="-X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v}"
  (cd "$REPO/tools/prometheus-operator" && go build -trimpath -ldflags "-s -w ${version}" -o "$POBIN/operator.tmp" \
    github.com/prometheus-operator/prometheus-operator/cmd/operator)
  mv "$POBIN/operator.tmp" "$POBIN/operator"
  echo "setup-kubernetes: built prometheus-operator in $((SECONDS - started)) s"
else
  echo "setup-kubernetes: prometheus-operator ${PROMETHEUS_OPERATOR_VERSION} is built ($POBIN)"
fi

# --- Prometheus (the node tier's end-to-end test scrapes the stack with the operator's config) ---
# Debian's prometheus is built without Kubernetes service discovery, which every scrape job the
# operator writes uses. The build tags keep that one discoverer and drop the cloud ones.
PBIN="$CACHE/prometheus-${PROMETHEUS_VERSION}/bin"
if [[ ! -x "$PBIN/prometheus" ]]; then
  echo "setup-kubernetes: building prometheus ${PROMETHEUS_VERSION} (Kubernetes service discovery only) into $PBIN"
  started=$SECONDS
  mkdir -p "$PBIN"
  version="-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}"
  (cd "$REPO/tools/prometheus" && go build -trimpath -tags remove_all_sd,enable_kubernetes_sd -ldflags "-s -w ${version}" \
    -o "$PBIN/prometheus.tmp" github.com/prometheus/prometheus/cmd/prometheus)
  mv "$PBIN/prometheus.tmp" "$PBIN/prometheus"
  echo "setup-kubernetes: built prometheus in $((SECONDS - started)) s"
else
  echo "setup-kubernetes: prometheus ${PROMETHEUS_VERSION} is built ($PBIN)"
fi

# Each version output is read whole before its first line is printed: `cmd | head -1` lets head
# exit early, the writer dies of SIGPIPE, and pipefail turns that into exit 141 (seen in CI).
first_line() { local out; out="$("$@")"; printf '%s\n' "${out%%$'\n'*}"; }
first_line "$KBIN/kubectl" version --client
first_line "$EBIN/etcd" --version
first_line "$PBIN/prometheus" --version
