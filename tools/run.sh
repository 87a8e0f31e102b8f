#!/usr/bin/env bash
# Installs what is missing, builds Vigil optimised and starts the monitor on
# 127.0.0.1:9090 with the embedded default configuration (it scrapes its own
# /metrics and loads a sample rule file), storing data under ./data.
# Extra arguments go to `vigil serve`, e.g. --config.file=prometheus.yml.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
bazel build --disk_cache="${HOME}/.cache/vigil/bazel-disk-cache" -c opt //server:vigil

cat <<MSG

Vigil is starting on http://127.0.0.1:9090
  status:   curl -s http://127.0.0.1:9090/-/ready
  query:    curl -s 'http://127.0.0.1:9090/api/v1/query?query=up'
  metrics:  curl -s http://127.0.0.1:9090/metrics
  data:     ./data     (stop with Ctrl-C)

MSG
exec bazel-bin/server/vigil serve \
  --web.listen-address=127.0.0.1:9090 \
  --storage.tsdb.path=./data "$@"
