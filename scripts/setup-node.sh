#!/usr/bin/env bash
# Installs the npm dependencies from package-lock.json, unless node_modules already matches it.
set -euo pipefail
cd "$(dirname "$0")/.."
STAMP=node_modules/.lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "setup-node: node_modules is up to date"
  exit 0
fi
# npm 11 does not run install scripts it has not been told about; none is needed here
# (@pulumi/kubernetes' would only download a provider plugin, esbuild ships its binary as a package).
npm ci --no-audit --no-fund
echo "$want" > "$STAMP"
