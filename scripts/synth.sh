#!/usr/bin/env bash
# The main job from a fresh clone: installs npm packages if needed, bundles the runtime
# programs and runs `cdk8s synth` of the reference stack (examples/) into dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-node.sh
npm run --silent synth
ls -l dist/
