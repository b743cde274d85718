// engine/capi/error.cpp — error names, corq_strerror and the thread-local corq_last_error detail.
#include "capi/error.hpp"

#include <corq/corq.h>

#include <algorithm>
#include <cstring>

namespace corq::capi {
namespace {

/// Longest detail message kept; a longer one is truncated (bounded, no allocation).
constexpr std::size_t detail_bytes_max = 512;

thread_local char last_error_detail[detail_bytes_max + 1] = "";

}  // namespace

int fail(int code, std::string_view detail) noexcept {
  const std::size_t n = std::min(detail.size(), detail_bytes_max);
  std::memcpy(last_error_detail, detail.data(), n);
  last_error_detail[n] = '\0';
  return code;
}

void clear_error() noexcept { last_error_detail[0] = '\0'; }

}  // namespace corq::capi

extern "C" {

uint32_t corq_version(void) { return CORQ_VERSION; }

const char *corq_version_string(void) { return CORQ_VERSION_STRING; }

const char *corq_strerror(int code) {
  switch (code) {
    case CORQ_OK: return "CORQ_OK: success";
    case CORQ_EINVAL: return "CORQ_EINVAL: invalid argument";
    case CORQ_ENOMEM: return "CORQ_ENOMEM: out of memory";
    case CORQ_EIO: return "CORQ_EIO: I/O error";
    case CORQ_ENOSPC: return "CORQ_ENOSPC: no space left on device";
    case CORQ_ENOENT: return "CORQ_ENOENT: no such queue, exchange, binding or directory";
    case CORQ_EEXIST: return "CORQ_EEXIST: queue exists with different options";
    case CORQ_EFULL: return "CORQ_EFULL: queue full";
    case CORQ_ETIMEDOUT: return "CORQ_ETIMEDOUT: timed out";
    case CORQ_ESTATE: return "CORQ_ESTATE: invalid state (unknown or settled tag)";
    case CORQ_ECLOSED: return "CORQ_ECLOSED: closed or woken up";
    case CORQ_EBUSY: return "CORQ_EBUSY: data directory in use by another process";
    case CORQ_ECORRUPT: return "CORQ_ECORRUPT: log corrupt";
    case CORQ_EFAILED: return "CORQ_EFAILED: engine failed (fail-stop after an I/O error)";
    case CORQ_ETOOBIG: return "CORQ_ETOOBIG: message too big";
    case CORQ_EUNSUPPORTED: return "CORQ_EUNSUPPORTED: not supported";
    case CORQ_EUNROUTABLE: return "CORQ_EUNROUTABLE: no queue took the message";
    default: return "CORQ_E?: unknown error code";
  }
}

const char *corq_last_error(void) { return corq::capi::last_error_detail; }

}  // extern "C"
