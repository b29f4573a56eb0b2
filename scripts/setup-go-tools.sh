#!/usr/bin/env bash
# Go tools the test suite runs, built from the Go module proxy into .tools/ (gitignored):
# actionlint lints the example GitHub Actions workflow (test/ci-workflow.test.ts); kube-score
# scores the synthesized reference stack (test/scanners.test.ts).
# Idempotent: a tool already built at the pinned version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ACTIONLINT_VERSION=v1.7.12
KUBE_SCORE_VERSION=v1.20.0
TOOLS="$PWD/.tools"

# kube-score prints "development" as its version when built with go install, so the module
# version recorded in the binary (go version -m) tells which one is there.
# Version outputs are captured whole before they are matched: `cmd | grep -q` or `cmd | head -1`
# stop reading early, the writer dies of SIGPIPE and pipefail turns that into exit 141.
installed_kube_score="$(go version -m "$TOOLS/kube-score" 2>/dev/null || true)"
if [[ -x "$TOOLS/kube-score" ]] && grep -qE "^\s+mod\s+github.com/zegl/kube-score\s+${KUBE_SCORE_VERSION}\s" <<<"$installed_kube_score"; then
  echo "setup-go-tools: kube-score ${KUBE_SCORE_VERSION} is installed"
else
  command -v go >/dev/null || { echo "setup-go-tools: go is not installed (needed to build kube-score ${KUBE_SCORE_VERSION})" >&2; exit 1; }
  mkdir -p "$TOOLS"
  GOBIN="$TOOLS" GOFLAGS=-mod=mod go install "github.com/zegl/kube-score/cmd/kube-score@${KUBE_SCORE_VERSION}"
  echo "setup-go-tools: built kube-score ${KUBE_SCORE_VERSION}"
fi

installed_actionlint="$("$TOOLS/actionlint" -version 2>/dev/null || true)"
if [[ -x "$TOOLS/actionlint" ]] && [[ "${installed_actionlint%%$'\n'*}" == "${ACTIONLINT_VERSION}" ]]; then
  echo "setup-go-tools: actionlint ${ACTIONLINT_VERSION} is installed"
  exit 0
fi
command -v go >/dev/null || { echo "setup-go-tools: go is not installed (needed to build actionlint ${ACTIONLINT_VERSION})" >&2; exit 1; }
mkdir -p "$TOOLS"
GOBIN="$TOOLS" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
installed_actionlint="$("$TOOLS/actionlint" -version)"
echo "setup-go-tools: built actionlint ${installed_actionlint%%$'\n'*}"
