# AArch64 Linux cross build with Debian's g++-aarch64-linux-gnu, run under qemu-user.
# tools/cross-aarch64.sh configures the `aarch64` preset with it; tools/aarch64-sysroot.sh makes the
# private sysroot it links against (corq's arm64 dependencies and GoogleTest; see that script for
# why it is private). Set CORQ_AARCH64_SYSROOT to use another one.
#
# One C library in every process: the cross toolchain's (/usr/aarch64-linux-gnu: loader, libc,
# libstdc++), given to qemu with -L; the sysroot's shared libraries (liburing, mimalloc) through the
# guest's LD_LIBRARY_PATH. ctest and gtest_discover_tests run every test through
# CMAKE_CROSSCOMPILING_EMULATOR; tests that start child processes read it too (tests/support/spawn.hpp).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

if(NOT CORQ_AARCH64_SYSROOT)
  if(DEFINED ENV{CORQ_AARCH64_SYSROOT})
    set(CORQ_AARCH64_SYSROOT "$ENV{CORQ_AARCH64_SYSROOT}")
  else()
    get_filename_component(CORQ_AARCH64_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../../build/aarch64-sysroot"
                           ABSOLUTE)
  endif()
endif()
if(NOT EXISTS "${CORQ_AARCH64_SYSROOT}/stamp")
  message(FATAL_ERROR "no AArch64 sysroot at ${CORQ_AARCH64_SYSROOT}: run tools/aarch64-sysroot.sh")
endif()
# try_compile projects re-read this file; they get the same sysroot through the environment.
set(ENV{CORQ_AARCH64_SYSROOT} "${CORQ_AARCH64_SYSROOT}")

set(CMAKE_FIND_ROOT_PATH "${CORQ_AARCH64_SYSROOT}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# pkg-config looks at the sysroot's .pc files only, and prefixes their paths with it.
set(ENV{PKG_CONFIG_LIBDIR}
    "${CORQ_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${CORQ_AARCH64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CORQ_AARCH64_SYSROOT}")
set(ENV{PKG_CONFIG_PATH} "")

set(CMAKE_CROSSCOMPILING_EMULATOR
    qemu-aarch64 -L /usr/aarch64-linux-gnu
    -E "LD_LIBRARY_PATH=${CORQ_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu")
