#!/bin/sh
# The Rust binding's whole check (ctest `rust_binding`, examples/CMakeLists.txt): tests (unit,
# integration, doc), the examples, the bench at a tiny scale, and clippy with warnings as errors
# where clippy is installed. Offline: the crate has no dependencies. Usage: check.sh [CARGO]
# (run in examples/rust; corq is found as build.rs says: CORQ_LIB_DIR, else pkg-config).
set -eu
cargo=${1:-cargo}
"$cargo" test --offline
"$cargo" run --offline --example work_queue
"$cargo" run --offline --example pubsub
"$cargo" run --offline --example bench -- --mode both --messages 6400
if "$cargo" clippy --version >/dev/null 2>&1; then
  "$cargo" clippy --offline --all-targets -- -D warnings
else
  echo "check.sh: no cargo clippy here, lint skipped"
fi
