#!/usr/bin/env bash
# Installs the Debian packages corq needs to build, test and benchmark, and only those that are
# missing. Run as root or with sudo available. Usage: tools/install-deps.sh [build|test|bench|cross|profile]...
# With no argument it installs what `build` and `test` need.
set -euo pipefail

build_pkgs=(cmake g++ make ccache pkg-config liburing-dev libmimalloc-dev libconcurrentqueue-dev
            libgtest-dev libgmock-dev libbenchmark-dev libboost-dev libcli11-dev
            libreaderwriterqueue-dev libck-dev libnats-dev)
# nats-server and openssl: the bridge tests start a 3-node JetStream cluster with TLS certificates
# they make themselves (tests/bridge/).
test_pkgs=(clang libclang-rt-dev python3 valgrind nats-server openssl)
# The Rust binding's tests need cargo; a machine with a rustup toolchain on PATH keeps it.
command -v cargo >/dev/null 2>&1 || test_pkgs+=(cargo)
# The Go binding (examples/go): Debian's Go toolchain, cgo and the race detector; no module proxy.
test_pkgs+=(golang-go)
# The Node.js binding (examples/node): node and npm (its one dependency, koffi, comes from the npm
# registry); a machine with its own Node.js on PATH keeps it.
command -v node >/dev/null 2>&1 || test_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || test_pkgs+=(npm)
# The Python binding installs into a virtual environment of Debian's own interpreter, offline.
test_pkgs+=(python3-venv python3-setuptools python3-wheel python3-pip)
# mypy checks the Python package's type hints (ctest python_types).
test_pkgs+=(mypy)
# The peers the benchmark suite compares against (servers run on 127.0.0.1 only) and their clients.
# strace: bench/peers/run.sh --verify-fsync counts each system's flushes.
bench_pkgs=(python3-matplotlib rabbitmq-server librabbitmq-dev redis-server libhiredis-dev
            librocksdb-dev libsqlite3-dev sqlite3 strace)
cross_pkgs=(g++-aarch64-linux-gnu qemu-user googletest)
# perf/profile.sh: perf record (flame graphs) and valgrind's callgrind (instruction counts).
profile_pkgs=(linux-perf valgrind python3)

want=()
[ $# -eq 0 ] && set -- build test
for group in "$@"; do
  case "$group" in
    build) want+=("${build_pkgs[@]}") ;;
    test) want+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    bench) want+=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
    cross) want+=("${cross_pkgs[@]}") ;;
    profile) want+=("${profile_pkgs[@]}") ;;
    *) echo "install-deps: unknown group '$group' (build|test|bench|cross|profile)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# De-duplicate while keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "install-deps: not root and no sudo; install these Debian packages: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
