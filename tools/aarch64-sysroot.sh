#!/usr/bin/env bash
# Makes the private AArch64 sysroot the cross build links against (cmake/toolchains/
# aarch64-linux-gnu.cmake reads it): corq's arm64 dependencies from Debian, and GoogleTest built for
# aarch64 from Debian's sources. Usage: tools/aarch64-sysroot.sh [DIR]  (default build/aarch64-sysroot)
#
# Why a private sysroot and not `dpkg --add-architecture arm64` + `apt-get install liburing-dev:arm64`:
# the arm64 -dev packages pull in libc6:arm64, which lands in /usr/lib/aarch64-linux-gnu. Under
# `qemu-aarch64 -L /usr/aarch64-linux-gnu` the guest's loader then takes libc.so.6 from there but
# ld-linux and libstdc++ from the cross toolchain's copy: two glibc builds in one process, and the
# ring stress tests hang. Here nothing is installed on the machine: the .debs are fetched with a
# private apt state (the machine's sources, architecture arm64) and unpacked with dpkg-deb -x into
# DIR; libc, libstdc++ and the loader stay the cross toolchain's (/usr/aarch64-linux-gnu), one copy.
#
# What DIR holds afterwards:
#   usr/include, usr/lib/aarch64-linux-gnu   liburing 2 and mimalloc 2.0 (arm64), headers, .pc, CMake
#   usr/share/cmake/CLI11, usr/include/CLI   CLI11 (architecture all, header-only)
#   usr/lib/cmake/GTest, usr/lib/libg*.a     GoogleTest + GoogleMock for aarch64 (Release, static)
#   stamp                                    what it was made from; a different stamp rebuilds it
# The first run takes ~1 minute (download ~300 kB, GoogleTest build); later runs check the stamp only.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$(realpath -m "${1:-build/aarch64-sysroot}")
triple=aarch64-linux-gnu
packages=(liburing2 liburing-dev libmimalloc2.0 libmimalloc-dev libcli11-dev)
googletest_src=/usr/src/googletest

# The versions the machine's apt would fetch for arm64 are those of the installed amd64 packages
# (same sources), so the stamp is taken from the installed ones: no network needed to see it is current.
version_of() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
stamp="$($triple-g++ --version | head -1) | liburing-dev $(version_of liburing-dev) | libmimalloc-dev $(version_of libmimalloc-dev) | libcli11-dev $(version_of libcli11-dev) | googletest $(version_of googletest) | $(sha1sum "$0" | cut -c1-12)"
if [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

echo "aarch64-sysroot: making $dir"
rm -rf "$dir"
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs"
: >"$dir/apt/status"
# A private apt state: the machine's sources, arm64 only, an empty dpkg status, no lock taken on
# the machine's apt. Nothing is installed.
apt_opts=(-o APT::Architecture=arm64 -o "APT::Architectures::=arm64"
          -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache"
          -o "Dir::State::status=$dir/apt/status" -o Debug::NoLocking=1)
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" -qq update
(cd "$dir/debs" && apt-get "${apt_opts[@]}" -qq download "${packages[@]}")
for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir"; done
rm -rf "$dir/apt" "$dir/usr/share/man" "$dir/usr/share/doc"

# GoogleTest + GoogleMock for aarch64 from Debian's sources, installed into the sysroot.
[ -f "$googletest_src/CMakeLists.txt" ] ||
  { echo "aarch64-sysroot: $googletest_src missing (Debian package googletest)" >&2; exit 1; }
cmake -S "$googletest_src" -B "$dir/gtest-build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=$triple-gcc -DCMAKE_CXX_COMPILER=$triple-g++ \
  -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_INSTALL_PREFIX="$dir/usr" -DCMAKE_INSTALL_LIBDIR=lib >"$dir/gtest-build.log" 2>&1 &&
  cmake --build "$dir/gtest-build" -j "$(nproc)" >>"$dir/gtest-build.log" 2>&1 &&
  cmake --install "$dir/gtest-build" >>"$dir/gtest-build.log" 2>&1 ||
  { cat "$dir/gtest-build.log"; echo "aarch64-sysroot: GoogleTest build failed" >&2; exit 1; }
rm -rf "$dir/gtest-build" "$dir/gtest-build.log"

echo "$stamp" >"$dir/stamp"
echo "aarch64-sysroot: ready ($(ls "$dir/debs" | tr '\n' ' '))"
