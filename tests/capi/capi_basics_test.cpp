// The C API's always-available parts: version, error names, thread-local error detail.
#include "capi/error.hpp"

#include <corq/corq.h>
#include <corq/corq.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

namespace {

TEST(CapiBasics, version_matches_the_header) {
  EXPECT_EQ(corq_version(), static_cast<uint32_t>(CORQ_VERSION));
  EXPECT_STREQ(corq_version_string(), CORQ_VERSION_STRING);
  EXPECT_EQ(corq::version(), CORQ_VERSION_STRING);
}

TEST(CapiBasics, every_code_has_a_distinct_name_and_unknown_codes_are_named_too) {
  const int codes[] = {CORQ_OK,        CORQ_EINVAL,  CORQ_ENOMEM,  CORQ_EIO,
                       CORQ_ENOSPC,    CORQ_ENOENT,  CORQ_EEXIST,  CORQ_EFULL,
                       CORQ_ETIMEDOUT, CORQ_ESTATE,  CORQ_ECLOSED, CORQ_EBUSY,
                       CORQ_ECORRUPT,  CORQ_EFAILED, CORQ_ETOOBIG, CORQ_EUNSUPPORTED};
  for (int a : codes) {
    ASSERT_NE(corq_strerror(a), nullptr);
    EXPECT_EQ(std::strncmp(corq_strerror(a), "CORQ_", 5), 0);
    if (a != CORQ_OK) {
      EXPECT_LT(a, 0);
    }
    for (int b : codes) {
      if (a != b) {
        EXPECT_STRNE(corq_strerror(a), corq_strerror(b));
      }
    }
  }
  EXPECT_STREQ(corq_strerror(12345), "CORQ_E?: unknown error code");
}

TEST(CapiBasics, last_error_is_per_thread_and_truncates_long_details) {
  EXPECT_EQ(corq::capi::fail(CORQ_EINVAL, "bad queue name"), CORQ_EINVAL);
  EXPECT_STREQ(corq_last_error(), "bad queue name");
  std::thread([] { EXPECT_STREQ(corq_last_error(), ""); }).join();
  corq::capi::fail(CORQ_EINVAL, std::string(10'000, 'x'));
  EXPECT_EQ(std::strlen(corq_last_error()), 512u);
  corq::capi::clear_error();
  EXPECT_STREQ(corq_last_error(), "");
}

TEST(CapiBasics, cpp_check_throws_error_with_code) {
  corq::capi::fail(CORQ_EFULL, "queue 'jobs' is full");
  try {
    corq::check(CORQ_EFULL);
    FAIL() << "check did not throw";
  } catch (const corq::Error &e) {
    EXPECT_EQ(e.code(), CORQ_EFULL);
    EXPECT_NE(std::string(e.what()).find("queue 'jobs' is full"), std::string::npos);
  }
  EXPECT_EQ(corq::check(3), 3);
}

}  // namespace
