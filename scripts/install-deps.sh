#!/usr/bin/env bash
# Installs the Debian 12 packages joule's build, tests and tools need.
# Idempotent: skips apt entirely when everything is already there.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config git clang clang-format
  libcjson-dev libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev zlib1g-dev
  curl ca-certificates python3
  chromium  # headless screenshot test of the HTML report (tests/test_report.c skips without it)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
