#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite.
# Ends with one line "N passed, M failed" (test targets). Exit status is
# non-zero when anything failed to build or pass.
#
#   bash tools/test.sh                 # the suite
#   bash tools/test.sh --config=asan   # the suite under AddressSanitizer
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

# A disk cache shared by every checkout on this machine keeps rebuilds cheap.
CACHE_FLAGS=(--disk_cache="${HOME}/.cache/vigil/bazel-disk-cache")
LOG="$(mktemp -t vigil-test.XXXXXX)"
trap 'rm -f "$LOG"' EXIT

bazel test "${CACHE_FLAGS[@]}" --test_summary=short --keep_going "$@" //... 2>&1 | tee "$LOG"
bazel_rc=${PIPESTATUS[0]}

# A separate workspace using Vigil through local_repository, the way other
# projects do (the root's //... skips it, see .bazelignore). Its status lines
# ("//:name  PASSED ...") join the main suite's in $LOG.
(cd examples/external &&
  bazel test "${CACHE_FLAGS[@]}" --test_summary=short --keep_going "$@" //...) 2>&1 | tee -a "$LOG"
external_rc=${PIPESTATUS[0]}
if [ "$external_rc" -ne 0 ]; then
  bazel_rc=$external_rc
fi

# Bazel prints one status line per test target: "//pkg:name  PASSED in 1.2s".
passed=$(grep -E '^//[^ ]+ +(\(cached\) )?PASSED' "$LOG" | wc -l)
failed=$(grep -E '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|FLAKY|INCOMPLETE|NO STATUS|FAILED TO BUILD)' "$LOG" | wc -l)
if [ "$bazel_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # Build errors outside any test target (e.g. a broken library) still fail.
  failed=1
fi

# Individual test cases, from the JUnit XML Bazel keeps per test target.
cases=0
case_failures=0
if [ -d bazel-testlogs ]; then
  while IFS= read -r xml; do
    t=$(grep -o '<testsuites[^>]*tests="[0-9]*"' "$xml" | head -1 | grep -o 'tests="[0-9]*"' | grep -o '[0-9]*')
    f=$(grep -o '<testsuites[^>]*failures="[0-9]*"' "$xml" | head -1 | grep -o 'failures="[0-9]*"' | grep -o '[0-9]*')
    cases=$((cases + ${t:-0}))
    case_failures=$((case_failures + ${f:-0}))
  done < <(find -L bazel-testlogs -name test.xml 2>/dev/null)
fi
if [ -d examples/external/bazel-testlogs ]; then
  while IFS= read -r xml; do
    t=$(grep -o '<testsuites[^>]*tests="[0-9]*"' "$xml" | head -1 | grep -o 'tests="[0-9]*"' | grep -o '[0-9]*')
    f=$(grep -o '<testsuites[^>]*failures="[0-9]*"' "$xml" | head -1 | grep -o 'failures="[0-9]*"' | grep -o '[0-9]*')
    cases=$((cases + ${t:-0}))
    case_failures=$((case_failures + ${f:-0}))
  done < <(find -L examples/external/bazel-testlogs -name test.xml 2>/dev/null)
fi
echo "test cases: $((cases - case_failures)) of ${cases} passed in $((passed + failed)) test targets"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$bazel_rc" -eq 0 ]
