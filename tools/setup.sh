#!/usr/bin/env bash
# Installs every Debian package Vigil's build, tests and benchmarks need.
# Idempotent and silent when everything is already present. Needs root (or
# sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
  # Toolchain and build.
  bazel-bootstrap g++ git ca-certificates
  # Libraries (wrapped in third_party/system/BUILD.system).
  libabsl-dev librocksdb-dev libre2-dev libboost-dev libyaml-cpp-dev
  nlohmann-json3-dev libsnappy-dev libprotobuf-dev protobuf-compiler
  zlib1g-dev libzstd-dev liblz4-dev libbz2-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # Real peers for integration tests and the comparison harness.
  prometheus prometheus-alertmanager victoria-metrics prometheus-node-exporter
  # Harness tooling: HTTP from scripts, charts.
  curl python3 gnuplot-nox clang-format
  # Test certificates for the TLS tests in net/.
  openssl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "setup: installing ${#missing[@]} missing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages of the peers start services on install on some
# systems; Vigil's tests start their own instances on loopback ports.
for svc in prometheus prometheus-alertmanager victoria-metrics prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done
echo "setup: done" >&2
