#!/usr/bin/env bash
# One command for the side-by-side report: installs what is missing, builds
# Vigil optimised, then runs every scenario against Vigil, Prometheus and
# VictoriaMetrics. The report lands in benchmarks/compare/out/<timestamp>/.
# Arguments go to compare.py (see `python3 benchmarks/compare/compare.py -h`),
# e.g. --systems vigil,prometheus --scenarios query.
set -euo pipefail
cd "$(dirname "$0")/../.."
export VIGIL_COMPARE_STARTED="$(date +%s.%N)"
bash tools/setup.sh
# VIGIL_DISK_CACHE="" (or a fresh directory) measures a cold build.
bazel build --disk_cache="${VIGIL_DISK_CACHE-${HOME}/.cache/vigil/bazel-disk-cache}" -c opt //server:vigil
# The bazel-out symlink follows whichever output base ran last; ask Bazel.
VIGIL_BIN="${VIGIL_BIN:-$(bazel info -c opt bazel-bin 2>/dev/null)/server/vigil}"
export VIGIL_BIN
exec python3 benchmarks/compare/compare.py "$@"
