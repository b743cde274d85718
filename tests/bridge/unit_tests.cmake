# tests/bridge/unit_tests.cmake — corq-bridge's unit suites, which need no NATS cluster (label
# unit; every ctest name starts with bridge_). Included by tests/bridge/CMakeLists.txt.
#   bridge_config_test     the config parser (bridge/config.hpp), white-box: one test per rule of
#                          the text format, every error naming its line, no secret in any error.
#   bridge_bad_input_test  bad input to the C API of corq/bridge.h on an in-memory engine: the
#                          documented codes and details, and a failed start consumes nothing.
if(CORQ_HAVE_BRIDGE)
  add_executable(bridge_config_test ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp)
  target_link_libraries(bridge_config_test PRIVATE corq_bridge_config GTest::gtest
                                                   GTest::gtest_main corq_warnings)

  add_executable(bridge_bad_input_test ${CMAKE_CURRENT_LIST_DIR}/bad_input_test.cpp)
  target_link_libraries(bridge_bad_input_test PRIVATE corq_bridge corq GTest::gtest
                                                      GTest::gtest_main corq_warnings)

  foreach(test bridge_config_test bridge_bad_input_test)
    target_include_directories(${test} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    # GCC 12 reports false -Wrestrict overlaps inside std::string concatenations (GCC bug 105329).
    target_compile_options(${test} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)
    gtest_discover_tests(${test} TEST_PREFIX "bridge_" PROPERTIES LABELS "unit"
                         DISCOVERY_TIMEOUT 120)
  endforeach()
endif()
