// wal/io/sim_vfs.hpp — an in-memory disk that remembers what is durable, fails on command and
// crashes on command; for tests and for the deterministic simulator.
//
// The model (what a careful storage engine must assume of a real disk and filesystem):
//   * File data. Every file has its durable bytes and its unflushed writes. flush() (or a write
//     with flush = true) makes the file's unflushed writes durable — data and size, like
//     fdatasync. A failed flush does NOT keep them for a retry: like Linux after a failed fsync,
//     the writes stay visible to reads but are lost to the disk, and a later successful flush
//     does not bring them back.
//   * Directories. Creating, renaming and removing a file (and making a directory) change what
//     list/open see at once, but become durable only when sync_dir() of the parent directory
//     returns (sync_dir copies that directory's entries, as they are now, to the durable state).
//     A rename across directories needs both directories synced.
//   * Crash. crash(seed) drops every unflushed write — except that the LAST unflushed write of
//     each file may leave a torn prefix: whole 512-byte sectors of it (sector boundaries counted
//     from the start of the file), from none to all, chosen by the seed. Directory changes not
//     synced are undone. Open files and locks of "before the crash" are dead: their operations
//     return -EIO (the process that held them is gone). Armed faults are cleared. Then the
//     SimVfs is used again, like the disk after a reboot.
//     SimCrashMode::reorder is the harsher disk that reorders writes in its cache: ANY subset of
//     each file's unflushed writes survives, not just a prefix — each one is, by the seed, lost,
//     kept whole, kept as a prefix of whole sectors, or kept as an arbitrary subset of its sectors
//     (in its own order: a later write that survives lands over an earlier one), and each
//     unflushed extension of a file's size survives or not. Flushed data is never touched.
//   * Crash points. crash_at() arms a crash INSIDE an operation, like a power loss while the
//     process is in the middle of it: a write's bytes are stored (unflushed, even if the write
//     asked for a flush), then the disk crashes and the write returns -EIO; any other operation
//     crashes before it takes effect and returns -EIO. This is how a test crashes a log between its
//     write and its flush, deterministically.
//   * Direct I/O. Files opened with `direct` check what O_DIRECT would: offsets, lengths and
//     buffer addresses of reads and writes must be multiples of block_bytes (-EINVAL otherwise).
//     set_direct_io_supported(false) makes open(direct) fail with -EINVAL, like tmpfs before 6.6.
//   * Space. With a capacity set, allocate() and writes that grow a file past it fail with
//     -ENOSPC; removing files frees their space (once no open file holds them).
//
// Paths: one tree with a root "/" that always exists; relative paths are taken from the root, and
// "//", "/./" and "x/.." are folded. Parents must exist (open, make_dir and rename return -ENOENT
// otherwise). Directories can be made and listed but not removed or renamed (-EISDIR / -ENOTSUP):
// the log needs neither.
//
// Determinism: the same operations with the same seeds give the same bytes, always (a splitmix64
// generator, not <random>'s distributions, whose results differ between standard libraries).
//
// Thread-safety: every operation of the SimVfs and of its files takes one mutex, so tests may use
// it from several threads. Files may outlive the SimVfs (they share its state).
#pragma once

#include "io/vfs.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace corq::wal {

/// The sector a crash may tear a write at (the unit of torn writes, smaller than a block).
inline constexpr std::size_t sim_sector_bytes = 512;

/// Operations faults can be armed on.
enum class SimOp : std::uint8_t { write, flush, read, allocate, sync_dir, open };

/// What a crash keeps of unflushed writes (see the top of this file).
enum class SimCrashMode : std::uint8_t {
  torn_tail,  // all lost but a whole-sector prefix of each file's last unflushed write
  reorder,    // an arbitrary subset of the unflushed writes (and of their sectors) survives
};

/// How many of each operation the SimVfs served (failed ones included).
struct SimCounters {
  std::uint64_t opens = 0;
  std::uint64_t writes = 0;
  std::uint64_t bytes_written = 0;  // bytes stored (a short write counts its prefix)
  std::uint64_t flushes = 0;        // flush() calls and writes with flush = true
  std::uint64_t reads = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t allocates = 0;
  std::uint64_t sync_dirs = 0;
  std::uint64_t lists = 0;
  std::uint64_t renames = 0;
  std::uint64_t removes = 0;
  std::uint64_t make_dirs = 0;
  std::uint64_t locks = 0;
  std::uint64_t crashes = 0;
  std::uint64_t faults_injected = 0;  // operations failed on purpose (armed faults, capacity)
};

/// A fault to arm: the `nth` matching operation from now (1 = the next one) fails with `error`;
/// with `and_after`, every matching operation after it fails too, until clear_faults() or crash().
struct SimFault {
  SimOp op = SimOp::write;
  std::uint64_t nth = 1;
  int error = -EIO;
  bool and_after = false;
  /// Writes only: store a prefix first — whole sectors, none to all but the last, chosen by the
  /// SimVfs's seed — then fail with `error` (a write cut short by a failing disk).
  bool short_write = false;
  /// Only operations on this file (the path it was opened by) or directory; empty: any.
  std::string path;
  /// A crash point instead of an error: the matching operation crashes the disk (see crash_at);
  /// `error` is then ignored (the operation returns -EIO) and so are short_write and and_after.
  bool crash = false;
  std::uint64_t crash_seed = 0;
  SimCrashMode crash_mode = SimCrashMode::torn_tail;
};

class SimVfs final : public Vfs {
 public:
  /// `seed` drives the choices of short writes; crash() takes its own seed.
  explicit SimVfs(std::uint64_t seed = 1);
  ~SimVfs() override;
  SimVfs(const SimVfs &) = delete;
  SimVfs &operator=(const SimVfs &) = delete;

  const char *name() const override { return "sim"; }
  int open(const std::string &path, OpenFlags flags, std::unique_ptr<VfsFile> &out) override;
  int list(const std::string &dir, std::vector<std::string> &names) override;
  int remove(const std::string &path) override;
  int rename(const std::string &from, const std::string &to) override;
  int make_dir(const std::string &path) override;
  int remove_dir(const std::string &path) override;
  int sync_dir(const std::string &dir) override;
  /// -EWOULDBLOCK while another lock of `path` (from this SimVfs) is alive; crash() frees all.
  int lock(const std::string &path, std::unique_ptr<VfsFile> &out) override;

  // ---- faults ----

  /// Arms a fault (see SimFault). Several may be armed; each counts its own matches.
  void inject(const SimFault &fault);
  /// Shorthands: the n-th write/flush/read from now fails with `error`.
  void fail_write(std::uint64_t nth, int error, bool and_after = false);
  void fail_flush(std::uint64_t nth, int error, bool and_after = false);
  void fail_read(std::uint64_t nth, int error, bool and_after = false);
  /// The n-th write from now stores a prefix (whole sectors, shorter than asked) and fails.
  void short_write(std::uint64_t nth, int error = -EIO);
  /// Arms a crash point: the `nth` operation `op` from now (on `path` if not empty) crashes the
  /// disk as crash(seed, mode) would, in the middle of that operation (see the top of this file).
  void crash_at(SimOp op, std::uint64_t nth, std::uint64_t seed,
                SimCrashMode mode = SimCrashMode::torn_tail, const std::string &path = {});
  /// Disarms every fault (the capacity stays).
  void clear_faults();
  /// Total bytes of files (durable or not) the disk may hold; 0 = unlimited (the default).
  void set_capacity(std::uint64_t bytes);
  /// Bytes the files take now (sizes of every named or open file).
  std::uint64_t used_bytes() const;
  void set_direct_io_supported(bool supported);
  /// Flips bit `bit` (0-7) of byte `offset` of `path`, both in what reads see now and in what
  /// survives a crash (media corruption). -ENOENT, -EISDIR, -EINVAL (offset past the end).
  int flip_bit(const std::string &path, std::uint64_t offset, int bit);

  // ---- crash ----

  /// Simulates power loss and reboot (see the top of this file). Deterministic per seed and mode.
  void crash(std::uint64_t seed, SimCrashMode mode = SimCrashMode::torn_tail);

  // ---- inspection (no counters, no faults) ----

  SimCounters counters() const;
  /// The bytes reads see now. -ENOENT, -EISDIR.
  int contents(const std::string &path, std::vector<std::byte> &out) const;
  /// The bytes a crash that tears nothing would leave (durable data; the file's name may still
  /// be non-durable). -ENOENT, -EISDIR.
  int durable_contents(const std::string &path, std::vector<std::byte> &out) const;
  bool exists(const std::string &path) const;

  struct State;  // shared with its files (defined in sim_vfs.cpp)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace corq::wal
