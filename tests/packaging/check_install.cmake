# Run by ctest (tests/packaging/CMakeLists.txt) as `cmake -P`: installs the build in BUILD_DIR into
# WORK_DIR/prefix, builds CONSUMER_DIR's program against that prefix through find_package(corq) and
# through pkg-config, and runs each build; with -DCARGO=... also the Rust binding's pubsub example
# (-DRUST_DIR=examples/rust), linked through pkg-config. Any failed step fails the test with its
# output.
foreach(var BUILD_DIR WORK_DIR CONSUMER_DIR LIBDIR GENERATOR C_COMPILER PKG_CONFIG VERSION)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_install.cmake: -D${var}=... is required")
  endif()
endforeach()

# Runs a command; stops with its output when it fails.
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}")
  endif()
  message(STATUS "${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
# The library's components (what a library package and its -dev package hold): the test needs
# only the library built, not the tools and benchmarks that a plain `cmake --install` also copies.
foreach(component runtime development)
  step("cmake --install --component ${component}"
       ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --component ${component})
endforeach()

foreach(file include/corq/corq.h ${LIBDIR}/libcorq.so ${LIBDIR}/libcorq.a
        ${LIBDIR}/cmake/corq/corqConfig.cmake ${LIBDIR}/pkgconfig/corq.pc)
  if(NOT EXISTS "${prefix}/${file}")
    message(FATAL_ERROR "the install has no ${file}")
  endif()
endforeach()

# 1. CMake: find_package(corq CONFIG REQUIRED) from the prefix only (no package registry).
set(cmake_build "${WORK_DIR}/find_package")
step("configure with find_package(corq)"
     ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${cmake_build}" -G "${GENERATOR}"
     -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=${C_COMPILER}
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
file(STRINGS "${cmake_build}/CMakeCache.txt" corq_dir REGEX "^corq_DIR:")
if(NOT corq_dir STREQUAL "corq_DIR:PATH=${prefix}/${LIBDIR}/cmake/corq")
  message(FATAL_ERROR "find_package found corq outside the prefix: ${corq_dir}")
endif()
step("build with find_package(corq)" ${CMAKE_COMMAND} --build "${cmake_build}")
step("run corq::corq (shared)" "${cmake_build}/consumer_shared")
step("run corq::corq_static" "${cmake_build}/consumer_static")

# 2. pkg-config: flags from the installed corq.pc (the system's .pc files stay visible for
# liburing, which corq.pc requires).
set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")
step("pkg-config --modversion corq" ${PKG_CONFIG} --modversion corq)
string(STRIP "${step_output}" pc_version)
if(NOT pc_version STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config says corq ${pc_version}, the build is ${VERSION}")
endif()
step("pkg-config --cflags --libs corq" ${PKG_CONFIG} --cflags --libs corq)
string(STRIP "${step_output}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
# corq.pc is relocatable (its prefix is relative to its own folder): its -I and -L must resolve
# into this prefix although it was configured for another.
set(include_ok FALSE)
set(lib_ok FALSE)
foreach(flag IN LISTS pc_flags)
  if(flag MATCHES "^-I(.*)")
    file(REAL_PATH "${CMAKE_MATCH_1}" dir)
    if(dir STREQUAL "${prefix}/include")
      set(include_ok TRUE)
    endif()
  elseif(flag MATCHES "^-L(.*)")
    file(REAL_PATH "${CMAKE_MATCH_1}" dir)
    if(dir STREQUAL "${prefix}/${LIBDIR}")
      set(lib_ok TRUE)
    endif()
  endif()
endforeach()
if(NOT include_ok OR NOT lib_ok)
  message(FATAL_ERROR "corq.pc does not point into the prefix ${prefix}: ${pc_flags}")
endif()
set(pc_program "${WORK_DIR}/pkg_config_consumer")
step("build with pkg-config"
     ${C_COMPILER} "${CONSUMER_DIR}/main.c" -o "${pc_program}" ${pc_flags}
     "-Wl,-rpath,${prefix}/${LIBDIR}")
step("run the pkg-config build" "${pc_program}")
# 3. pkg-config --static: the private libraries of corq.pc are enough to link libcorq.a into a C
# program (its own -lcorq replaced by the archive, which the shared library would shadow).
step("pkg-config --static --libs corq" ${PKG_CONFIG} --static --cflags --libs corq)
string(STRIP "${step_output}" pc_static_flags)
separate_arguments(pc_static_flags UNIX_COMMAND "${pc_static_flags}")
list(TRANSFORM pc_static_flags REPLACE "^-lcorq$" "${prefix}/${LIBDIR}/libcorq.a")
set(pc_static_program "${WORK_DIR}/pkg_config_static_consumer")
step("build with pkg-config --static"
     ${C_COMPILER} "${CONSUMER_DIR}/main.c" -o "${pc_static_program}" ${pc_static_flags})
step("run the pkg-config --static build" "${pc_static_program}")

# 4. The Rust binding (examples/rust) against the installed corq, found by its build.rs through the
# pkg-config program alone (CORQ_LIB_DIR empty): its pubsub example must build, run and load the
# prefix's libcorq.so (the rpath build.rs records), not the build tree's. Only when -DCARGO is given.
if(DEFINED CARGO AND NOT "${CARGO}" STREQUAL "")
  set(ENV{CORQ_LIB_DIR} "")
  set(ENV{CARGO_TARGET_DIR} "${WORK_DIR}/rust-target")
  step("cargo run --example pubsub against the install"
       ${CARGO} run --offline --quiet --manifest-path "${RUST_DIR}/Cargo.toml" --example pubsub)
  step("readelf the Rust example" readelf -d "${WORK_DIR}/rust-target/debug/examples/pubsub")
  string(FIND "${step_output}" "${prefix}/${LIBDIR}" at)
  if(at LESS 0)
    message(FATAL_ERROR "the Rust example's rpath is not the prefix's ${prefix}/${LIBDIR}:\n${step_output}")
  endif()
endif()
message(STATUS "corq ${VERSION} installs and builds through find_package and pkg-config")
