#!/bin/sh
# The Go binding's whole check (ctest `go_binding`, examples/go/CMakeLists.txt): gofmt, go vet, the
# tests and runnable examples, the same under the race detector, and the bench at a tiny scale.
# Offline: the module has no dependencies. Usage: check.sh [GO] (run in examples/go; corq is found
# through pkg-config, so PKG_CONFIG_PATH names the folder of a corq.pc). -count=1: a cached test
# result would not notice a rebuilt libcorq.so.
set -eu
go=${1:-go}
unformatted=$("$("$go" env GOROOT)/bin/gofmt" -l .)
if [ -n "$unformatted" ]; then
  echo "check.sh: not gofmt-formatted: $unformatted" >&2
  exit 1
fi
"$go" vet ./...
"$go" test -count=1 ./...
"$go" test -race -count=1 ./...
"$go" run ./cmd/corq-bench --mode all --messages 6400
