#!/usr/bin/env bash
# Creates or refreshes the repository's Python virtualenv (.venv, ignored by git) from
# python/requirements.txt, and checkov's own (.tools/checkov) from python/requirements-checkov.txt.
# A stamp of the requirements' hash skips the install when nothing changed, so repeated test
# runs on one machine do not reinstall MLflow.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "setup-python: $PYTHON is older than 3.10; set PYTHON to a newer interpreter" >&2
  exit 2
fi

# checkov's pins clash with MLflow's, so it gets a virtualenv of its own.
CHECKOV_REQ=python/requirements-checkov.txt
CHECKOV_VENV=.tools/checkov
checkov_want="$(sha256sum "$CHECKOV_REQ" | cut -d' ' -f1)"
if [[ -x "$CHECKOV_VENV/bin/checkov" && -f "$CHECKOV_VENV/.requirements.sha256" && "$(cat "$CHECKOV_VENV/.requirements.sha256")" == "$checkov_want" ]]; then
  echo "setup-python: $CHECKOV_VENV is up to date"
else
  mkdir -p .tools
  [[ -x "$CHECKOV_VENV/bin/python" ]] || "$PYTHON" -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$CHECKOV_REQ"
  echo "$checkov_want" > "$CHECKOV_VENV/.requirements.sha256"
  echo "setup-python: installed checkov $("$CHECKOV_VENV/bin/checkov" --version) into $CHECKOV_VENV"
fi

REQ=python/requirements.txt
VENV=.venv
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "setup-python: $VENV is up to date"
  exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
echo "$want" > "$STAMP"
echo "setup-python: installed $(wc -l < "$REQ") pinned lines into $VENV"
