#!/usr/bin/env bash
# SeaweedFS's `weed`, whose S3 gateway the rehearsal tier runs as a real S3-compatible object
# store (test/support/s3-server.ts), built from the Go module proxy with the pinned wrapper
# module tools/seaweedfs: github.com/seaweedfs/seaweedfs at the commit the proxy serves,
# v0.0.0-20261109003541-7506e5f91cd6 (SeaweedFS 4.53).
#
# A cold build is minutes of CPU, so the binary lives outside the clone in a version-keyed
# directory (MLOPS_CACHE, default ~/.cache/mlops-constructs) and Go's own module and build
# caches stay at their default places: a fresh clone on the same machine finds it warm.
# It is built only when missing, and the build is announced with the time it took.
#
# The path is fixed (see test/support/s3-server.ts):
#   $MLOPS_CACHE/seaweedfs-v0.0.0-20261109003541-7506e5f91cd6/bin/weed
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
CACHE="${MLOPS_CACHE:-$HOME/.cache/mlops-constructs}"

command -v go >/dev/null || { echo "setup-seaweedfs: go is not installed (needed to build SeaweedFS ${SEAWEEDFS_VERSION})" >&2; exit 1; }
export GOFLAGS=-mod=mod

BIN="$CACHE/seaweedfs-${SEAWEEDFS_VERSION}/bin"
if [[ ! -x "$BIN/weed" ]]; then
  echo "setup-seaweedfs: building weed ${SEAWEEDFS_VERSION} into $BIN (cold: about 10 minutes on 2 cores)"
  started=$SECONDS
  mkdir -p "$BIN"
  # The stamp upstream's docker/Makefile writes, so `weed version` names the commit it was built from.
  commit="-X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=${SEAWEEDFS_VERSION##*-}"
  (cd "$REPO/tools/seaweedfs" && go build -trimpath -ldflags "-s -w ${commit}" -o "$BIN/weed.tmp" \
    github.com/seaweedfs/seaweedfs/weed)
  mv "$BIN/weed.tmp" "$BIN/weed"
  echo "setup-seaweedfs: built weed in $((SECONDS - started)) s"
else
  echo "setup-seaweedfs: weed ${SEAWEEDFS_VERSION} is built ($BIN)"
fi

# Read whole, never piped into head or grep: an early reader's exit kills the writer with
# SIGPIPE, and pipefail turns that into exit 141 (seen in CI). `weed version` also prints an
# advertisement on stderr, so only its "version ..." line is shown.
if ! out="$("$BIN/weed" version 2>&1)"; then
  printf 'setup-seaweedfs: %s version failed:\n%s\n' "$BIN/weed" "$out" >&2
  exit 1
fi
version=""
while IFS= read -r line; do
  if [[ "$line" == version* ]]; then version="$line"; fi
done <<<"$out"
[[ -n "$version" ]] || { printf 'setup-seaweedfs: %s version printed no version:\n%s\n' "$BIN/weed" "$out" >&2; exit 1; }
echo "setup-seaweedfs: weed $version"
