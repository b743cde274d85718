// wal/io/psync_vfs.cpp — the portable back end: the real filesystem through plain system calls.
//
// Writes are pwritev2 (positional, gathered) followed by fdatasync when the caller asks for a
// flush; reads are pread; segments are preallocated with fallocate. Every failure is returned as
// -errno, never swallowed: the log decides what is fatal (every write and flush error is).
// EINTR is retried everywhere (a signal is not an I/O error).
//
// The io_uring back end (uring_vfs.cpp) derives from these classes and replaces only file writes
// and flushes.
#include "io/psync_vfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cstring>

namespace corq::wal {
namespace io {
namespace {

/// Bytes of zeros written per call by the fallocate fallback.
constexpr std::size_t zero_chunk_bytes = 64 * 1024;

/// Largest offset the kernel takes (off_t is signed).
constexpr std::uint64_t offset_max = static_cast<std::uint64_t>(LLONG_MAX);

/// open(2) retried on EINTR; returns the fd or -errno.
int open_retrying(const char *path, int flags, mode_t mode = 0) {
  for (;;) {
    const int fd = ::open(path, flags, mode);
    if (fd >= 0) return fd;
    if (errno != EINTR) return -errno;
  }
}

/// Direct + create: create the file without O_DIRECT first (exclusively, so we know whether this
/// call created it), then switch O_DIRECT on with fcntl. A filesystem that refuses O_DIRECT
/// refuses the fcntl with EINVAL; the file is then removed again if it is ours.
int open_direct_creating(const std::string &path, int access_flags) {
  const int fd = open_retrying(path.c_str(), access_flags | O_CREAT | O_EXCL, 0644);
  if (fd == -EEXIST) return open_retrying(path.c_str(), access_flags | O_DIRECT);
  if (fd < 0) return fd;
  const int status = ::fcntl(fd, F_GETFL);
  if (status < 0 || ::fcntl(fd, F_SETFL, status | O_DIRECT) < 0) {
    const int error = -errno;
    ::close(fd);
    ::unlink(path.c_str());
    return error;
  }
  return fd;
}

}  // namespace

std::size_t iovec_bytes(const iovec *buffers, int count) noexcept {
  std::size_t total = 0;
  for (int i = 0; i < count; ++i) total += buffers[i].iov_len;
  return total;
}

std::vector<iovec> iovecs_after(const iovec *buffers, int count, std::size_t bytes) {
  assert(bytes < iovec_bytes(buffers, count));
  std::vector<iovec> rest;
  int first = 0;
  while (first < count && bytes >= buffers[first].iov_len) bytes -= buffers[first++].iov_len;
  rest.assign(buffers + first, buffers + count);
  assert(!rest.empty() && bytes < rest.front().iov_len);
  rest.front().iov_base = static_cast<char *>(rest.front().iov_base) + bytes;
  rest.front().iov_len -= bytes;
  return rest;
}

int zero_fill(int fd, std::uint64_t from, std::uint64_t to) {
  if (from >= to) return 0;
  if (to > offset_max) return -EINVAL;
  const int status = ::fcntl(fd, F_GETFL);
  if (status < 0) return -errno;
  const bool direct = (status & O_DIRECT) != 0;
  if (direct && ::fcntl(fd, F_SETFL, status & ~O_DIRECT) < 0) return -errno;
  const std::vector<char> zeros(zero_chunk_bytes);  // a rare path: once per segment at most
  int result = 0;
  while (from < to && result == 0) {
    const std::size_t chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(to - from, zeros.size()));
    const ssize_t written = ::pwrite(fd, zeros.data(), chunk, static_cast<off_t>(from));
    if (written > 0) from += static_cast<std::uint64_t>(written);
    if (written == 0) result = -EIO;
    if (written < 0 && errno != EINTR) result = -errno;
  }
  if (result == 0 && ::fdatasync(fd) < 0) result = -errno;
  // Restore O_DIRECT even after a failure: the file stays usable for aligned writes.
  if (direct && ::fcntl(fd, F_SETFL, status) < 0 && result == 0) result = -errno;
  return result;
}

// ---- PsyncFile ----

PsyncFile::~PsyncFile() {
  // close() errors are not reported: every write that matters was flushed (and checked) before.
  ::close(fd_);
}

int PsyncFile::write(std::uint64_t offset, const iovec *buffers, int buffer_count, bool flush) {
  if (buffer_count < 0 || buffer_count > IOV_MAX || offset > offset_max) return -EINVAL;
  const std::size_t total = iovec_bytes(buffers, buffer_count);
  std::size_t done = 0;
  std::vector<iovec> rest;  // only after a short write (rare: a signal, a full disk)
  const iovec *pending = buffers;
  int pending_count = buffer_count;
  // Each round writes at least one byte or ends the loop, so it runs at most `total` times.
  while (done < total) {
    const ssize_t written =
        ::pwritev2(fd_, pending, pending_count, static_cast<off_t>(offset + done), 0);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return -errno;
    if (written == 0) return -EIO;  // no progress and no error: give up rather than spin
    done += static_cast<std::size_t>(written);
    if (done < total) {
      rest = iovecs_after(buffers, buffer_count, done);
      pending = rest.data();
      pending_count = static_cast<int>(rest.size());
    }
  }
  return flush ? this->flush() : 0;
}

int PsyncFile::flush() {
  // fdatasync is not retried on failure: after a failed fdatasync Linux may have dropped the
  // dirty pages, so a second call could "succeed" without the data being durable. The error goes
  // up and the log fails stop.
  return ::fdatasync(fd_) < 0 ? -errno : 0;
}

long PsyncFile::read(std::uint64_t offset, void *buffer, std::size_t bytes) {
  if (offset > offset_max) return -EINVAL;
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t got = ::pread(fd_, static_cast<char *>(buffer) + done, bytes - done,
                                static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -errno;
    if (got == 0) break;  // end of file
    done += static_cast<std::size_t>(got);
  }
  return static_cast<long>(done);
}

int PsyncFile::allocate(std::uint64_t bytes) {
  if (bytes > offset_max) return -EINVAL;
  for (;;) {
    if (::fallocate(fd_, 0, 0, static_cast<off_t>(bytes)) == 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EOPNOTSUPP && errno != ENOSYS) return -errno;
    const long long current = size();
    if (current < 0) return static_cast<int>(current);
    return zero_fill(fd_, static_cast<std::uint64_t>(current), bytes);
  }
}

long long PsyncFile::size() {
  struct stat status;
  if (::fstat(fd_, &status) < 0) return -errno;
  return static_cast<long long>(status.st_size);
}

// ---- PsyncVfs ----

std::unique_ptr<VfsFile> PsyncVfs::adopt(int fd, bool direct) {
  return std::make_unique<PsyncFile>(fd, direct);
}

int PsyncVfs::open(const std::string &path, OpenFlags flags, std::unique_ptr<VfsFile> &out) {
  const int access_flags = O_CLOEXEC | (flags.read_only ? O_RDONLY : O_RDWR);
  int fd;
  if (flags.create && flags.direct) {
    fd = open_direct_creating(path, access_flags);
  } else {
    fd = open_retrying(path.c_str(),
                       access_flags | (flags.create ? O_CREAT : 0) | (flags.direct ? O_DIRECT : 0),
                       0644);
  }
  if (fd < 0) return fd;
  out = adopt(fd, flags.direct);
  return 0;
}

int PsyncVfs::list(const std::string &dir, std::vector<std::string> &names) {
  DIR *stream = ::opendir(dir.c_str());
  if (stream == nullptr) return -errno;
  names.clear();
  int result = 0;
  for (;;) {
    errno = 0;
    const dirent *entry = ::readdir(stream);
    if (entry == nullptr) {
      result = errno == 0 ? 0 : -errno;
      break;
    }
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    names.emplace_back(entry->d_name);
  }
  ::closedir(stream);
  return result;
}

int PsyncVfs::remove(const std::string &path) { return ::unlink(path.c_str()) < 0 ? -errno : 0; }

int PsyncVfs::rename(const std::string &from, const std::string &to) {
  return ::rename(from.c_str(), to.c_str()) < 0 ? -errno : 0;
}

int PsyncVfs::remove_dir(const std::string &path) { return ::rmdir(path.c_str()) < 0 ? -errno : 0; }

int PsyncVfs::make_dir(const std::string &path) {
  if (::mkdir(path.c_str(), 0755) == 0) return 0;
  if (errno != EEXIST) return -errno;
  struct stat status;
  if (::stat(path.c_str(), &status) < 0) return -errno;
  return S_ISDIR(status.st_mode) ? 0 : -EEXIST;
}

int PsyncVfs::sync_dir(const std::string &dir) {
  const int fd = open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fd;
  const int result = ::fsync(fd) < 0 ? -errno : 0;
  ::close(fd);
  return result;
}

int PsyncVfs::lock(const std::string &path, std::unique_ptr<VfsFile> &out) {
  const int fd = open_retrying(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fd;
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) break;
    if (errno == EINTR) continue;
    const int error = -errno;
    ::close(fd);
    return error;
  }
  // A plain file, not adopt(): the lock file is never written through the ring.
  out = std::make_unique<PsyncFile>(fd, false);
  return 0;
}

}  // namespace io

std::unique_ptr<Vfs> make_psync_vfs() { return std::make_unique<io::PsyncVfs>(); }

}  // namespace corq::wal
