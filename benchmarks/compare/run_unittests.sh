#!/usr/bin/env bash
# Runs the harness's Python unit tests (standard library only), from Bazel
# (runfiles) or by hand.
set -euo pipefail
if [ -n "${TEST_SRCDIR:-}" ]; then
  cd "${TEST_SRCDIR}/${TEST_WORKSPACE}/benchmarks/compare"
else
  cd "$(dirname "$0")"
fi
exec python3 -m unittest -v compare_test 2>&1
