#!/bin/bash
# Lays out an offline GOPATH holding Prometheus 2.42's tsdb package and the
# modules it needs that Debian's golang-*-dev packages (/usr/share/gocode)
# do not ship, from local git checkouts. Nothing is downloaded.
#
#   benchmarks/peers/setup_prom_gopath.sh MIRRORS GOPATH_DIR
#
# MIRRORS holds one git checkout (or bare repo) per project, named
# owner+name/repo (the layout of /work/.mirror): prometheus/prometheus,
# oklog/ulid, dennwc/varint, edsrzf/mmap-go, golang/snappy, grafana/regexp,
# uber-go/atomic, golang/exp. cespare/xxhash/v2 is taken from MIRRORS too
# when present, else from /tmp/promparse_gopath.
set -euo pipefail
MIRRORS=${1:?mirror directory}
OUT=${2:?GOPATH directory to create}
SRC=$OUT/src
rm -rf "$OUT"
mkdir -p "$SRC"
extract() {  # mirror ref destination [paths...]
  mkdir -p "$SRC/$3"
  git -C "$MIRRORS/$1/repo" archive "$2" "${@:4}" | tar -x -C "$SRC/$3"
}
# Versions are those of Prometheus v2.42.0's go.mod.
extract prometheus+prometheus v2.42.0 github.com/prometheus/prometheus \
  tsdb model storage util ':(exclude)tsdb/testdata' ':(exclude)*_test.go'
extract oklog+ulid v1.3.1 github.com/oklog/ulid
extract dennwc+varint v1.0.0 github.com/dennwc/varint
extract edsrzf+mmap-go v1.1.0 github.com/edsrzf/mmap-go
extract golang+snappy v0.0.4 github.com/golang/snappy
extract grafana+regexp 6b5c0a4cb7fd github.com/grafana/regexp
extract uber-go+atomic v1.10.0 go.uber.org/atomic
extract golang+exp d38c7dcee874 golang.org/x/exp
if [ -d "$MIRRORS/cespare+xxhash/repo" ]; then
  extract cespare+xxhash v2.2.0 github.com/cespare/xxhash/v2
else
  mkdir -p "$SRC/github.com/cespare/xxhash"
  cp -r /tmp/promparse_gopath/src/github.com/cespare/xxhash/v2 \
    "$SRC/github.com/cespare/xxhash/"
fi
P=$SRC/github.com/prometheus/prometheus
# tsdb only needs four config types; the real package imports every service
# discovery mechanism.
mkdir -p "$P/config"
cat >"$P/config/config.go" <<'GO'
// Package config stands in for Prometheus's config package with only the
// types tsdb refers to.
package config

type Config struct{ StorageConfig StorageConfig }

type StorageConfig struct {
	TSDBConfig      *TSDBConfig
	ExemplarsConfig *ExemplarsConfig
}

type TSDBConfig struct{ OutOfOrderTimeWindow int64 }

type ExemplarsConfig struct{ MaxExemplars int64 }
GO
# Test-only helpers that pull in goleak; the protobuf exposition parser
# (unused here) pulls in gogo/protobuf.
rm -rf "$P/util/testutil" "$P/util/teststorage" \
  "$P/tsdb/tsdbutil/dir_locker_testutil.go"
rm -f "$P/model/textparse/protobufparse.go"
sed -i '/case "application\/vnd.google.protobuf"/,+1d' \
  "$P/model/textparse/interface.go"
echo "GOPATH ready: $OUT"
