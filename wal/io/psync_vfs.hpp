// wal/io/psync_vfs.hpp — the portable back end's classes (internal to wal/io).
//
// The log only sees make_psync_vfs() (vfs.hpp). This header exists so that the io_uring back end
// can reuse everything that is not a file write: UringVfs derives from PsyncVfs and only replaces
// how files are wrapped (adopt), and UringFile derives from PsyncFile and only replaces write and
// flush. Opening, reading, allocating, listing, renaming, locking are written once, here.
//
// Thread-safety: a PsyncVfs has no state; any thread may call anything, concurrently. A PsyncFile
// is an fd: positional writes and reads (pwritev2/pread) of disjoint ranges may run concurrently;
// the log has one writer per file anyway.
#pragma once

#include "io/vfs.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corq::wal::io {

/// Total bytes of `count` buffers.
std::size_t iovec_bytes(const iovec *buffers, int count) noexcept;

/// `buffers` minus their first `bytes` bytes (for finishing a short write): a copy, trimmed.
/// Precondition: bytes < iovec_bytes(buffers, count).
std::vector<iovec> iovecs_after(const iovec *buffers, int count, std::size_t bytes);

/// Writes zeros over [from, to) of `fd` and fdatasyncs them: the fallback of allocate() where the
/// filesystem has no fallocate (EOPNOTSUPP). Writes through the page cache even when `fd` is
/// O_DIRECT (O_DIRECT is cleared for the duration with fcntl: the range need not be aligned).
/// Returns 0 or -errno (-ENOSPC when the disk fills: space is then partly taken, size grown).
int zero_fill(int fd, std::uint64_t from, std::uint64_t to);

/// A file of the real filesystem: one fd, closed by the destructor.
class PsyncFile : public VfsFile {
 public:
  /// Takes ownership of `fd`.
  PsyncFile(int fd, bool direct) noexcept : fd_(fd), direct_(direct) {}
  ~PsyncFile() override;
  PsyncFile(const PsyncFile &) = delete;
  PsyncFile &operator=(const PsyncFile &) = delete;

  /// pwritev2 until every byte is written (short writes continue where they stopped; a write that
  /// makes no progress is -EIO), then fdatasync if `flush`.
  int write(std::uint64_t offset, const iovec *buffers, int buffer_count, bool flush) override;
  int flush() override;
  /// pread until `bytes` are read or the end of the file.
  long read(std::uint64_t offset, void *buffer, std::size_t bytes) override;
  /// fallocate(fd, 0, 0, bytes): reserves the blocks AND extends the size to `bytes` (never
  /// shrinks) — preallocated segments are `segment_bytes` long from the start. Without fallocate
  /// (EOPNOTSUPP: some network and FUSE filesystems) the missing tail is written with zeros and
  /// flushed, which reserves the space just as well, only slower (once per segment).
  int allocate(std::uint64_t bytes) override;
  long long size() override;
  bool direct() const override { return direct_; }

  int fd() const noexcept { return fd_; }

 private:
  int fd_;
  bool direct_;
};

/// The real filesystem, with plain system calls.
class PsyncVfs : public Vfs {
 public:
  const char *name() const override { return "psync"; }

  /// O_CLOEXEC, O_RDWR (O_RDONLY if read_only), O_CREAT (mode 0644) if create, O_DIRECT if direct.
  /// A filesystem that refuses O_DIRECT gives -EINVAL, and a file this call created for it is
  /// removed again (so a failed probe leaves nothing behind).
  int open(const std::string &path, OpenFlags flags, std::unique_ptr<VfsFile> &out) override;
  int list(const std::string &dir, std::vector<std::string> &names) override;
  int remove(const std::string &path) override;
  int rename(const std::string &from, const std::string &to) override;
  /// mkdir 0755; 0 if a directory is already there (-EEXIST if something else is).
  int make_dir(const std::string &path) override;
  int remove_dir(const std::string &path) override;
  int sync_dir(const std::string &dir) override;
  /// open(O_RDWR|O_CREAT) + flock(LOCK_EX|LOCK_NB). flock locks belong to the open file
  /// description: a second lock() of the same path conflicts even within one process, and a
  /// child forked while the lock is held shares it (the fd is O_CLOEXEC, so exec drops it).
  int lock(const std::string &path, std::unique_ptr<VfsFile> &out) override;

 protected:
  /// Wraps a freshly opened fd (owned from here on) as this Vfs's file type.
  virtual std::unique_ptr<VfsFile> adopt(int fd, bool direct);
};

}  // namespace corq::wal::io
