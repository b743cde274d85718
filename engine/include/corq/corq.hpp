// corq/corq.hpp — header-only C++ wrapper over the C API (corq.h).
//
// Errors become exceptions of type corq::Error carrying the C code and the detail message.
#pragma once

#include <corq/corq.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace corq {

/// A failed corq call: `code()` is the CORQ_E* value, `what()` is "<strerror>: <detail>".
class Error : public std::runtime_error {
 public:
  Error(int code, std::string_view detail)
      : std::runtime_error(std::string(corq_strerror(code)) + ": " + std::string(detail)),
        code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

/// Throws corq::Error for a negative return code (with the thread's detail message); returns `rc`.
inline int check(int rc) {
  if (rc < 0) throw Error(rc, corq_last_error());
  return rc;
}

/// The linked library's version string.
inline std::string_view version() { return corq_version_string(); }

}  // namespace corq
