// engine/engine/engine_id.cpp — the data directory's identity (corq_engine_id, DESIGN.md §9).
//
// corq-bridge names every message it forwards "<engine id>/<queue>/<message id>", so the id must
// be the same for as long as the directory lives and differ between directories: a random UUID
// (version 4), made when a directory first opens without one and kept in DIR/ENGINE_ID. It is
// written as a new file that is flushed, then renamed into place, then the directory flushed: a
// crash leaves either no ENGINE_ID (the next open makes one; nothing was forwarded under the lost
// id, since corq_engine_id could not have returned it before the rename was durable) or the whole
// file. A file that is there but not a UUID was damaged outside corq: the open fails with
// CORQ_ECORRUPT rather than silently taking a new identity (which would let resends past the
// broker's duplicate window).
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "corq/corq.h"
#include "engine/engine.hpp"

namespace corq::core {

namespace {

constexpr std::size_t uuid_chars = 36;
constexpr const char *id_file = "ENGINE_ID";

/// 36 characters, 8-4-4-4-12 lowercase hex digits.
bool is_uuid(const char *text, std::size_t length) {
  if (length != uuid_chars) return false;
  for (std::size_t i = 0; i < uuid_chars; ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string make_engine_uuid() {
  std::array<unsigned char, 16> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // No getrandom (very old kernels): the random_device of the C++ library.
      std::random_device device;
      for (auto &b : bytes) b = static_cast<unsigned char>(device());
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char text[uuid_chars + 1];
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return std::string(text, uuid_chars);
}

int Engine::load_engine_id(std::string &error) {
  const std::string path = dir_ + "/" + id_file;
  std::unique_ptr<wal::VfsFile> file;
  int rc =
      files_->open(path, wal::OpenFlags{.create = false, .direct = false, .read_only = true}, file);
  if (rc == 0) {
    char text[uuid_chars + 2] = {};
    const long n = file->read(0, text, sizeof text);
    if (n < 0) {
      error = "cannot read '" + path + "': " + std::strerror(static_cast<int>(-n));
      return CORQ_EIO;
    }
    std::size_t length = static_cast<std::size_t>(n);
    if (length > 0 && text[length - 1] == '\n') --length;
    if (!is_uuid(text, length)) {
      error = "'" + path + "' does not hold an engine id (a UUID); it was changed outside corq";
      return CORQ_ECORRUPT;
    }
    engine_id_.assign(text, uuid_chars);
    return CORQ_OK;
  }
  if (rc != -ENOENT) {
    error = "cannot open '" + path + "': " + std::strerror(-rc);
    return CORQ_EIO;
  }
  const std::string id = make_engine_uuid();
  const std::string line = id + "\n";
  const std::string temp = path + ".tmp";
  rc =
      files_->open(temp, wal::OpenFlags{.create = true, .direct = false, .read_only = false}, file);
  if (rc == 0) {
    iovec buffer{const_cast<char *>(line.data()), line.size()};
    rc = file->write(0, &buffer, 1, /*flush=*/true);
    file.reset();
  }
  if (rc == 0) rc = files_->rename(temp, path);
  if (rc == 0) rc = files_->sync_dir(dir_);
  if (rc != 0) {
    error = "cannot write '" + path + "': " + std::strerror(-rc);
    return rc == -ENOSPC ? CORQ_ENOSPC : CORQ_EIO;
  }
  engine_id_ = id;
  return CORQ_OK;
}

}  // namespace corq::core
