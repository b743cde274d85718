// engine/capi/error.hpp — how the C API reports a failure: a code plus a thread-local detail.
#pragma once

#include <string_view>

namespace corq::capi {

/// Records `detail` as the calling thread's last error and returns `code`, so a C API function can
/// write `return fail(CORQ_EINVAL, "queue name is NULL");`. Never throws, never allocates after the
/// thread's first call (the buffer is fixed; longer details are truncated).
int fail(int code, std::string_view detail) noexcept;

/// Clears the calling thread's detail message.
void clear_error() noexcept;

}  // namespace corq::capi
