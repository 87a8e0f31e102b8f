#!/usr/bin/env bash
# Formats every C++ file of the project with clang-format (Google style, see
# .clang-format). `tools/format.sh --check` only reports files that differ.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.h' '*.cc' | grep -v '^third_party/')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
      echo "needs formatting: $f"
      bad=1
    fi
  done
  exit $bad
fi
clang-format -i "${files[@]}"
