// wal/io/vfs.hpp — everything the log asks of the operating system, behind one interface.
//
// The log never calls open/pwrite/fdatasync itself: it goes through a Vfs (like SQLite's VFS), so
// the same log code runs on
//   * PsyncVfs   — pwritev2 + fdatasync (the portable back end, always available);
//   * UringVfs   — io_uring: registered files and buffers, one write SQE per commit, then an
//                  inline fdatasync (not IORING_OP_FSYNC: see uring_vfs.cpp), no SQPOLL (chosen
//                  automatically when io_uring can be set up);
//   * SimVfs     — an in-memory disk for tests: it remembers which writes were flushed, injects
//                  failures (EIO, ENOSPC, short writes) on the n-th operation, and on a simulated
//                  crash drops unflushed writes and tears the last sector — deterministic per seed.
//
// Errors are returned as negative errno values (-EIO, -ENOSPC, ...), liburing style; 0 is success.
// A Vfs is used by one thread at a time per file (the log's writer thread), except where noted.
#pragma once

#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corq::wal {

/// Sector size the log aligns every write to (and the unit a crash may tear). 4 KiB: the logical
/// block size of NVMe drives and what O_DIRECT needs on every common filesystem.
inline constexpr std::size_t block_bytes = 4096;

/// An open file of a Vfs. Offsets and lengths of writes are multiples of block_bytes when the file
/// was opened with direct I/O, and buffers are block-aligned.
class VfsFile {
 public:
  virtual ~VfsFile() = default;
  /// Writes the buffers at `offset`, all of them, and — if `flush` — makes them durable (fdatasync
  /// semantics: the whole file) before returning.
  /// Returns 0, or -errno (a short write that cannot be completed is -EIO).
  virtual int write(std::uint64_t offset, const iovec *buffers, int buffer_count, bool flush) = 0;
  /// write() of one buffer that lies inside buffer `index` of the Vfs's registration (see
  /// Vfs::register_buffers): io_uring submits it as a fixed-buffer write (no page pinning per
  /// request). Back ends without registration just write it.
  virtual int write_registered(std::uint64_t offset, const iovec &buffer, int index, bool flush) {
    (void)index;
    return write(offset, &buffer, 1, flush);
  }
  /// Makes every completed write durable.
  virtual int flush() = 0;
  /// Reads up to `bytes` at `offset`; returns the count read (0 at end of file) or -errno.
  virtual long read(std::uint64_t offset, void *buffer, std::size_t bytes) = 0;
  /// Reserves space up to `bytes` (fallocate mode 0: the file grows to `bytes`, zero-filled) so
  /// later writes within it cannot hit ENOSPC. The log relies on segments being that long.
  virtual int allocate(std::uint64_t bytes) = 0;
  /// Current size in bytes (>= 0) or -errno.
  virtual long long size() = 0;
  /// Whether the file is open with O_DIRECT (buffers must then be aligned to block_bytes).
  virtual bool direct() const = 0;
};

/// How to open a file.
struct OpenFlags {
  bool create = false;  // create if missing
  bool direct = false;  // O_DIRECT; the Vfs may refuse with -EINVAL (filesystem without it)
  bool read_only = false;
};

class Vfs {
 public:
  virtual ~Vfs() = default;
  /// "psync", "io_uring" or "sim": shown in logs and stats.
  virtual const char *name() const = 0;

  virtual int open(const std::string &path, OpenFlags flags, std::unique_ptr<VfsFile> &out) = 0;
  /// Names (not paths) of the entries of `dir`, unsorted; -errno on failure.
  virtual int list(const std::string &dir, std::vector<std::string> &names) = 0;
  virtual int remove(const std::string &path) = 0;
  /// Atomically renames (replacing `to`); durable once sync_dir(dir) returns.
  virtual int rename(const std::string &from, const std::string &to) = 0;
  virtual int make_dir(const std::string &path) = 0;  // 0 if it already exists
  /// Removes an empty directory (-ENOTEMPTY if it is not); durable once sync_dir(parent) returns.
  virtual int remove_dir(const std::string &path) {
    (void)path;
    return -ENOTSUP;
  }
  /// fsync of a directory: makes creations, renames and removals in it durable.
  virtual int sync_dir(const std::string &dir) = 0;
  /// Takes an exclusive lock on `path` (created if missing) for the life of `out`:
  /// -EWOULDBLOCK (or -EAGAIN) if another process holds it.
  virtual int lock(const std::string &path, std::unique_ptr<VfsFile> &out) = 0;

  /// Registers the buffers writes will come from (replacing any earlier registration; count 0
  /// drops it), so VfsFile::write_registered can use them by index. The caller keeps them
  /// allocated while registered, and never names one in write_registered after reallocating it.
  /// -ENOTSUP: this back end has no registration (psync, sim); other -errno: not registered.
  virtual int register_buffers(const iovec *buffers, int count) {
    (void)buffers;
    (void)count;
    return -ENOTSUP;
  }
  /// Writes submitted from registered buffers so far (stats).
  virtual std::uint64_t registered_writes() const { return 0; }
};

/// The real filesystem with pwritev2 + fdatasync. Never fails to construct.
std::unique_ptr<Vfs> make_psync_vfs();

/// The real filesystem through io_uring. Returns nullptr and sets `error` (-errno) when io_uring
/// cannot be set up here (EPERM under seccomp, ENOSYS on old kernels, kernel.io_uring_disabled);
/// callers then fall back to make_psync_vfs().
std::unique_ptr<Vfs> make_uring_vfs(int &error);

}  // namespace corq::wal
