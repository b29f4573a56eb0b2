#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what the suite needs (npm packages,
# Debian packages, the Python virtualenv), then runs every tier. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

# Custom resources are validated against the upstream CRDs (prometheus-operator v0.93.0,
# KEDA v2.20.2), which scripts/setup-kubernetes.sh fetches from the Go module proxy into the
# cache beside the control plane it builds. MLOPS_CRDS_DIR, when set, overrides them.
if [[ -n "${MLOPS_CRDS_DIR:-}" && ! -d "$MLOPS_CRDS_DIR" ]]; then
  echo "test-all: MLOPS_CRDS_DIR=$MLOPS_CRDS_DIR is not a directory" >&2
  exit 2
fi

echo "== npm packages"
bash scripts/setup-node.sh
echo "== Debian packages (PostgreSQL, Prometheus, Pushgateway, Alertmanager)"
bash scripts/setup-debian.sh
echo "== Python virtualenvs (.venv: MLflow, scikit-learn, scipy; .tools/checkov: checkov)"
bash scripts/setup-python.sh
echo "== Go tools (actionlint, kube-score, from the Go module proxy)"
bash scripts/setup-go-tools.sh
echo "== Kubernetes control plane and CRDs (built from the Go module proxy; cold: tens of minutes)"
bash scripts/setup-kubernetes.sh
echo "== SeaweedFS S3 gateway (built from the Go module proxy)"
bash scripts/setup-seaweedfs.sh
echo "== Pulumi CLI, language host and Kubernetes provider (built from the Go module proxy; cold: about 20 CPU-minutes)"
bash scripts/setup-pulumi.sh

mkdir -p .cache
rm -f .cache/jest-unit.json .cache/jest-rehearsal.json .cache/jest-controlplane.json .cache/jest-pulumi.json
echo "== unit, snapshot, schema and property tests"
npm run --silent test:unit -- --json --outputFile=.cache/jest-unit.json
echo "== rehearsal tests (real programs)"
npm run --silent test:rehearsal -- --json --outputFile=.cache/jest-rehearsal.json
echo "== control-plane tests (real etcd, kube-apiserver, controllers, scheduler)"
npm run --silent test:controlplane -- --json --outputFile=.cache/jest-controlplane.json
echo "== Pulumi engine tests (real CLI, language host and provider on the real control plane)"
npm run --silent test:pulumi -- --json --outputFile=.cache/jest-pulumi.json
echo "== node tests (the harness as the node of the real control plane; the reference stack end to end)"
rm -f .cache/jest-node.json
npx jest -c jest.node.config.js --runInBand --json --outputFile=.cache/jest-node.json
echo "== all tiers passed in $((SECONDS - started)) s"
# One plain closing line over every tier, from jest's own JSON reports.
node -e '
  const tiers = [".cache/jest-unit.json", ".cache/jest-rehearsal.json", ".cache/jest-controlplane.json", ".cache/jest-pulumi.json", ".cache/jest-node.json"].map((f) => require("./" + f));
  const sum = (k) => tiers.reduce((n, t) => n + t[k], 0);
  console.log(`tests: ${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed, ${sum("numPendingTests")} skipped`);
'

