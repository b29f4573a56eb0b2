#!/usr/bin/env bash
# Go tools the test suite runs, built from the Go module proxy into .tools/ (gitignored):
# actionlint lints the example GitHub Actions workflow (test/ci-workflow.test.ts).
# Idempotent: a tool already built at the pinned version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ACTIONLINT_VERSION=v1.7.12
TOOLS="$PWD/.tools"
if [[ -x "$TOOLS/actionlint" ]] && "$TOOLS/actionlint" -version 2>/dev/null | head -1 | grep -qx "${ACTIONLINT_VERSION}"; then
  echo "setup-go-tools: actionlint ${ACTIONLINT_VERSION} is installed"
  exit 0
fi
command -v go >/dev/null || { echo "setup-go-tools: go is not installed (needed to build actionlint ${ACTIONLINT_VERSION})" >&2; exit 1; }
mkdir -p "$TOOLS"
GOBIN="$TOOLS" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
"$TOOLS/actionlint" -version | head -1
