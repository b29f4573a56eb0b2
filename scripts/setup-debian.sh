#!/usr/bin/env bash
# Installs the Debian packages the rehearsal tests run for real (PostgreSQL, Prometheus,
# Pushgateway, Alertmanager, iproute2 for network namespaces). Skips apt when all are present.
set -euo pipefail
PACKAGES=(postgresql prometheus prometheus-pushgateway prometheus-alertmanager iproute2 nginx)
missing=()
for pkg in "${PACKAGES[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == *"install ok installed"* ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-debian: all packages present"
  exit 0
fi
SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
echo "setup-debian: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packaged services must not start on install: tests start their own instances on loopback.
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
$SUDO rm -f /usr/sbin/policy-rc.d
echo "setup-debian: done"
