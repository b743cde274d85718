// tests/wal/vfs_test.cpp — the three Vfs back ends.
//
// RealVfsTest runs every test against the psync and the io_uring back end, each in a fresh
// directory under $TMPDIR (io_uring tests are skipped, with the reason, where the ring cannot be
// set up). SimVfsTest proves the in-memory disk's model: what survives a crash, what a torn write
// leaves, every fault it injects, and that all of it is the same for the same seed.
#include "io/vfs.hpp"
#include "io/psync_vfs.hpp"
#include "io/sim_vfs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace corq::wal {
namespace {

// ---- helpers ----

/// A fresh directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "corq-vfs-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::string &path() const { return path_; }
  std::string operator/(const std::string &name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// A block-aligned buffer holding a pattern that differs per `seed` and per position.
class Buffer {
 public:
  explicit Buffer(std::size_t bytes, unsigned seed = 1)
      : bytes_(bytes),
        data_(static_cast<std::byte *>(std::aligned_alloc(
            block_bytes, (bytes + block_bytes - 1) / block_bytes * block_bytes + block_bytes))) {
    for (std::size_t i = 0; i < bytes; ++i) {
      data_.get()[i] = static_cast<std::byte>((seed * 131 + i * 7 + i / 509) & 0xff);
    }
  }
  std::byte *data() const { return data_.get(); }
  std::size_t size() const { return bytes_; }
  iovec iov() const { return {data_.get(), bytes_}; }
  std::vector<std::byte> bytes() const { return {data_.get(), data_.get() + bytes_}; }

 private:
  struct Free {
    void operator()(std::byte *pointer) const { std::free(pointer); }
  };
  std::size_t bytes_;
  std::unique_ptr<std::byte, Free> data_;
};

int write_buffer(VfsFile &file, std::uint64_t offset, const Buffer &buffer, bool flush) {
  const iovec iov = buffer.iov();
  return file.write(offset, &iov, 1, flush);
}

/// The whole file, read through the Vfs file (block-sized, aligned reads).
std::vector<std::byte> read_all(VfsFile &file) {
  const long long size = file.size();
  if (size < 0) return {};
  Buffer buffer(static_cast<std::size_t>(size) + block_bytes);
  const long got =
      file.read(0, buffer.data(),
                (static_cast<std::size_t>(size) + block_bytes - 1) / block_bytes * block_bytes);
  if (got < 0) return {};
  return {buffer.data(), buffer.data() + got};
}

std::vector<std::byte> slice(const std::vector<std::byte> &bytes, std::size_t from,
                             std::size_t count) {
  return {bytes.begin() + static_cast<long>(from),
          bytes.begin() + static_cast<long>(std::min(bytes.size(), from + count))};
}

/// "f7" from ("f", 7). (Not `"f" + std::to_string(7)`: GCC 12 -O2 warns falsely on it.)
std::string numbered(const char *prefix, std::size_t number) {
  std::string name = prefix;
  name += std::to_string(number);
  return name;
}

/// A fault on `op`: the `nth` from now fails with `error`.
SimFault fault_on(SimOp op, std::uint64_t nth, int error) {
  SimFault fault;
  fault.op = op;
  fault.nth = nth;
  fault.error = error;
  return fault;
}

bool all_zero(const std::vector<std::byte> &bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// ---- the real back ends ----

class RealVfsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed: " << std::strerror(errno);
    if (GetParam() == "psync") {
      vfs_ = make_psync_vfs();
      return;
    }
    int error = 0;
    vfs_ = make_uring_vfs(error);
    if (vfs_ == nullptr) {
      GTEST_SKIP() << "io_uring cannot be set up here: " << std::strerror(-error)
                   << " (seccomp, kernel.io_uring_disabled or an old kernel)";
    }
  }

  std::unique_ptr<VfsFile> create(const std::string &name, bool direct = false) {
    std::unique_ptr<VfsFile> file;
    const int opened = vfs_->open(dir_ / name, {.create = true, .direct = direct}, file);
    EXPECT_EQ(opened, 0) << name << ": " << std::strerror(-opened);
    return file;
  }

  TempDir dir_;
  std::unique_ptr<Vfs> vfs_;
};

INSTANTIATE_TEST_SUITE_P(Backends, RealVfsTest, ::testing::Values("psync", "io_uring"),
                         [](const auto &info) { return info.param; });

TEST_P(RealVfsTest, name_is_the_back_end) { EXPECT_EQ(vfs_->name(), GetParam()); }

TEST_P(RealVfsTest, gathered_writes_read_back_after_flush_and_reopen) {
  const Buffer first(4096, 1), second(8192, 2), third(4096, 3), fourth(4096, 4);
  {
    auto file = create("segment");
    ASSERT_NE(file, nullptr);
    EXPECT_FALSE(file->direct());
    const iovec pieces[] = {first.iov(), second.iov(), third.iov()};
    ASSERT_EQ(file->write(0, pieces, 3, /*flush=*/true), 0);
    ASSERT_EQ(write_buffer(*file, 16384, fourth, /*flush=*/false), 0);
    ASSERT_EQ(file->flush(), 0);
    EXPECT_EQ(file->size(), 20480);
  }
  std::unique_ptr<VfsFile> file;
  ASSERT_EQ(vfs_->open(dir_ / "segment", {.read_only = true}, file), 0);
  const std::vector<std::byte> content = read_all(*file);
  ASSERT_EQ(content.size(), 20480u);
  EXPECT_EQ(slice(content, 0, 4096), first.bytes());
  EXPECT_EQ(slice(content, 4096, 8192), second.bytes());
  EXPECT_EQ(slice(content, 12288, 4096), third.bytes());
  EXPECT_EQ(slice(content, 16384, 4096), fourth.bytes());
}

TEST_P(RealVfsTest, writes_at_offsets_overwrite_only_their_range) {
  auto file = create("segment");
  const Buffer base(16384, 5), patch(4096, 6);
  ASSERT_EQ(write_buffer(*file, 0, base, true), 0);
  ASSERT_EQ(write_buffer(*file, 8192, patch, true), 0);
  const std::vector<std::byte> content = read_all(*file);
  ASSERT_EQ(content.size(), 16384u);
  EXPECT_EQ(slice(content, 0, 8192), slice(base.bytes(), 0, 8192));
  EXPECT_EQ(slice(content, 8192, 4096), patch.bytes());
  EXPECT_EQ(slice(content, 12288, 4096), slice(base.bytes(), 12288, 4096));
}

TEST_P(RealVfsTest, read_stops_at_end_of_file_and_returns_zero_past_it) {
  auto file = create("segment");
  const Buffer data(8192, 7);
  ASSERT_EQ(write_buffer(*file, 0, data, false), 0);
  Buffer into(8192);
  EXPECT_EQ(file->read(4096, into.data(), 8192), 4096);
  EXPECT_EQ(file->read(8192, into.data(), 4096), 0);
  EXPECT_EQ(file->read(1 << 20, into.data(), 4096), 0);
}

TEST_P(RealVfsTest, empty_write_with_flush_succeeds) {
  auto file = create("segment");
  EXPECT_EQ(file->write(0, nullptr, 0, true), 0);
  EXPECT_EQ(file->flush(), 0);
  EXPECT_EQ(file->size(), 0);
}

TEST_P(RealVfsTest, direct_io_round_trip_with_aligned_buffers) {
  std::unique_ptr<VfsFile> file;
  const int opened = vfs_->open(dir_ / "direct", {.create = true, .direct = true}, file);
  if (opened == -EINVAL) GTEST_SKIP() << dir_.path() << ": this filesystem refuses O_DIRECT";
  ASSERT_EQ(opened, 0) << std::strerror(-opened);
  EXPECT_TRUE(file->direct());
  ASSERT_EQ(file->allocate(1 << 20), 0);
  const Buffer first(4096, 8), second(3 * 4096, 9);
  const iovec pieces[] = {first.iov(), second.iov()};
  ASSERT_EQ(file->write(65536, pieces, 2, true), 0);
  Buffer into(4 * 4096);
  ASSERT_EQ(file->read(65536, into.data(), into.size()), static_cast<long>(into.size()));
  const std::vector<std::byte> got = into.bytes();
  EXPECT_EQ(slice(got, 0, 4096), first.bytes());
  EXPECT_EQ(slice(got, 4096, 3 * 4096), second.bytes());
  EXPECT_EQ(file->size(), 1 << 20);
}

TEST_P(RealVfsTest, misaligned_direct_write_is_refused_with_einval) {
  std::unique_ptr<VfsFile> file;
  const int opened = vfs_->open(dir_ / "direct", {.create = true, .direct = true}, file);
  if (opened == -EINVAL) GTEST_SKIP() << dir_.path() << ": this filesystem refuses O_DIRECT";
  ASSERT_EQ(opened, 0);
  const Buffer data(4096, 10);
  const iovec misaligned{data.data() + 1, 4095};
  EXPECT_EQ(file->write(0, &misaligned, 1, true), -EINVAL);
}

TEST_P(RealVfsTest, allocate_reserves_space_and_extends_the_size_never_shrinking) {
  auto file = create("segment");
  ASSERT_EQ(file->allocate(1 << 20), 0);
  EXPECT_EQ(file->size(), 1 << 20);
  struct stat status;
  ASSERT_EQ(::stat((dir_ / "segment").c_str(), &status), 0);
  EXPECT_GE(static_cast<long long>(status.st_blocks) * 512, 1 << 20) << "blocks not reserved";
  const std::vector<std::byte> content = read_all(*file);
  EXPECT_TRUE(all_zero(content));
  ASSERT_EQ(file->allocate(4096), 0);
  EXPECT_EQ(file->size(), 1 << 20);
  const Buffer data(4096, 11);
  ASSERT_EQ(write_buffer(*file, 8192, data, true), 0);
  EXPECT_EQ(file->size(), 1 << 20);
}

TEST_P(RealVfsTest, open_without_create_of_a_missing_file_is_enoent) {
  std::unique_ptr<VfsFile> file;
  EXPECT_EQ(vfs_->open(dir_ / "missing", {}, file), -ENOENT);
  EXPECT_EQ(vfs_->open(dir_ / "no/such/dir", {.create = true}, file), -ENOENT);
  EXPECT_EQ(file, nullptr);
}

TEST_P(RealVfsTest, write_to_read_only_file_reports_the_write_error_not_the_cancelled_flush) {
  create("segment").reset();
  std::unique_ptr<VfsFile> file;
  ASSERT_EQ(vfs_->open(dir_ / "segment", {.read_only = true}, file), 0);
  const Buffer data(4096, 12);
  EXPECT_EQ(write_buffer(*file, 0, data, /*flush=*/true), -EBADF);
  EXPECT_EQ(write_buffer(*file, 0, data, /*flush=*/false), -EBADF);
  // The back end is still usable after a failed write.
  auto other = create("other");
  EXPECT_EQ(write_buffer(*other, 0, data, true), 0);
}

TEST_P(RealVfsTest, directory_operations_list_rename_remove_and_sync) {
  ASSERT_EQ(vfs_->make_dir(dir_ / "log"), 0);
  EXPECT_EQ(vfs_->make_dir(dir_ / "log"), 0) << "an existing directory is fine";
  create("log/a").reset();
  create("log/b").reset();
  EXPECT_EQ(vfs_->make_dir(dir_ / "log/a"), -EEXIST) << "a file is in the way";
  EXPECT_EQ(vfs_->make_dir(dir_ / "none/x"), -ENOENT);

  std::vector<std::string> names;
  ASSERT_EQ(vfs_->list(dir_ / "log", names), 0);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));

  ASSERT_EQ(vfs_->rename(dir_ / "log/a", dir_ / "log/b"), 0) << "rename replaces the target";
  ASSERT_EQ(vfs_->list(dir_ / "log", names), 0);
  EXPECT_EQ(names, (std::vector<std::string>{"b"}));
  EXPECT_EQ(vfs_->rename(dir_ / "log/a", dir_ / "log/c"), -ENOENT);
  EXPECT_EQ(vfs_->sync_dir(dir_ / "log"), 0);

  EXPECT_EQ(vfs_->remove(dir_ / "log/b"), 0);
  EXPECT_EQ(vfs_->remove(dir_ / "log/b"), -ENOENT);
  ASSERT_EQ(vfs_->list(dir_ / "log", names), 0);
  EXPECT_TRUE(names.empty());
  EXPECT_EQ(vfs_->sync_dir(dir_ / "log"), 0);
  EXPECT_EQ(vfs_->sync_dir(dir_ / "missing"), -ENOENT);
  EXPECT_EQ(vfs_->list(dir_ / "missing", names), -ENOENT);
}

TEST_P(RealVfsTest, second_lock_in_the_same_process_is_refused_until_the_first_closes) {
  // flock locks belong to the open file description: a second open() conflicts even in-process.
  std::unique_ptr<VfsFile> first, second;
  ASSERT_EQ(vfs_->lock(dir_ / "LOCK", first), 0);
  EXPECT_EQ(vfs_->lock(dir_ / "LOCK", second), -EWOULDBLOCK);
  first.reset();
  EXPECT_EQ(vfs_->lock(dir_ / "LOCK", second), 0);
}

TEST_P(RealVfsTest, lock_held_by_another_process_is_refused_until_it_exits) {
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  const std::string path = dir_ / "LOCK";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child takes the lock with its own open, reports, and holds it until told to exit.
    auto vfs = make_psync_vfs();
    std::unique_ptr<VfsFile> held;
    const char status = vfs->lock(path, held) == 0 ? 'L' : 'E';
    char ignored;
    const bool ok = ::write(ready[1], &status, 1) == 1 && ::read(release[0], &ignored, 1) >= 0;
    ::_exit(ok ? 0 : 1);
  }
  char status = 0;
  ASSERT_EQ(::read(ready[0], &status, 1), 1);
  ASSERT_EQ(status, 'L') << "the child could not take the lock";
  std::unique_ptr<VfsFile> mine;
  EXPECT_EQ(vfs_->lock(path, mine), -EWOULDBLOCK);
  ASSERT_EQ(::write(release[1], "x", 1), 1);
  int exit_status = 0;
  ASSERT_EQ(::waitpid(child, &exit_status, 0), child);
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0);
  EXPECT_EQ(vfs_->lock(path, mine), 0) << "the lock dies with its process";
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
}

TEST_P(RealVfsTest, more_files_than_registered_slots_all_write) {
  // io_uring registers 64 files; the others go by their plain fd. Both must work.
  constexpr int files_count = 80;
  std::vector<std::unique_ptr<VfsFile>> files;
  for (int i = 0; i < files_count; ++i) files.push_back(create(numbered("f", i)));
  for (int i = 0; i < files_count; ++i) {
    const Buffer data(4096, static_cast<unsigned>(i));
    ASSERT_EQ(write_buffer(*files[static_cast<std::size_t>(i)], 0, data, true), 0) << i;
  }
  for (int i = 0; i < files_count; ++i) {
    EXPECT_EQ(read_all(*files[static_cast<std::size_t>(i)]),
              Buffer(4096, static_cast<unsigned>(i)).bytes())
        << i;
  }
  // Slots freed by closing files are reused.
  files.clear();
  auto again = create("again");
  const Buffer data(4096, 99);
  EXPECT_EQ(write_buffer(*again, 0, data, true), 0);
}

TEST_P(RealVfsTest, short_write_is_continued_and_its_final_error_reported) {
  // RLIMIT_FSIZE cuts a write short at the limit and fails the rest with EFBIG: the back end must
  // neither report the short write as success nor lose the error. In a child, so the limit and
  // the ignored SIGXFSZ stay there.
  const std::string path = dir_ / "limited";
  const std::string backend = GetParam();
  constexpr rlim_t limit_bytes = 6000;
  int result_pipe[2];
  ASSERT_EQ(::pipe(result_pipe), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    int error = 0;
    auto vfs = backend == "psync" ? make_psync_vfs() : make_uring_vfs(error);
    std::unique_ptr<VfsFile> file;
    int result = vfs == nullptr ? error : vfs->open(path, {.create = true}, file);
    const rlimit limit{limit_bytes, limit_bytes};
    if (result == 0) result = ::setrlimit(RLIMIT_FSIZE, &limit) == 0 ? 0 : -errno;
    if (result == 0) result = write_buffer(*file, 0, Buffer(8192, 13), true);
    ::_exit(::write(result_pipe[1], &result, sizeof result) == sizeof result ? 0 : 1);
  }
  int result = 0;
  ASSERT_EQ(::read(result_pipe[0], &result, sizeof result), static_cast<ssize_t>(sizeof result));
  int exit_status = 0;
  ASSERT_EQ(::waitpid(child, &exit_status, 0), child);
  ::close(result_pipe[0]);
  ::close(result_pipe[1]);
  EXPECT_EQ(result, -EFBIG) << std::strerror(-result);
  std::unique_ptr<VfsFile> file;
  ASSERT_EQ(vfs_->open(path, {.read_only = true}, file), 0);
  const std::vector<std::byte> content = read_all(*file);
  ASSERT_EQ(content.size(), limit_bytes) << "the short write's prefix is on disk";
  EXPECT_EQ(content, slice(Buffer(8192, 13).bytes(), 0, limit_bytes));
}

// ---- psync internals ----

TEST(PsyncVfsTest, iovecs_after_skips_whole_and_partial_buffers) {
  char a[10], b[20], c[30];
  const iovec buffers[] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
  EXPECT_EQ(io::iovec_bytes(buffers, 3), 60u);
  std::vector<iovec> rest = io::iovecs_after(buffers, 3, 4);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].iov_base, a + 4);
  EXPECT_EQ(rest[0].iov_len, 6u);
  rest = io::iovecs_after(buffers, 3, 10);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].iov_base, b);
  rest = io::iovecs_after(buffers, 3, 45);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].iov_base, c + 15);
  EXPECT_EQ(rest[0].iov_len, 15u);
}

TEST(PsyncVfsTest, zero_fill_fallback_extends_with_zeros_keeping_data_and_o_direct) {
  // The fallback of allocate() on filesystems without fallocate, exercised directly.
  TempDir dir;
  auto vfs = make_psync_vfs();
  for (const bool direct : {false, true}) {
    std::unique_ptr<VfsFile> file;
    const std::string path = dir / (direct ? "direct" : "buffered");
    const int opened = vfs->open(path, {.create = true, .direct = direct}, file);
    if (direct && opened == -EINVAL) continue;  // no O_DIRECT here: the buffered case suffices
    ASSERT_EQ(opened, 0);
    const Buffer data(4096, 14);
    ASSERT_EQ(write_buffer(*file, 0, data, true), 0);
    const int fd = dynamic_cast<io::PsyncFile &>(*file).fd();
    ASSERT_EQ(io::zero_fill(fd, 4096, 3 * 4096 + 100), 0);
    EXPECT_EQ(file->size(), 3 * 4096 + 100);
    EXPECT_EQ(((::fcntl(fd, F_GETFL) & O_DIRECT) != 0), direct) << "O_DIRECT restored";
    std::unique_ptr<VfsFile> reader;
    ASSERT_EQ(vfs->open(path, {.read_only = true}, reader), 0);
    const std::vector<std::byte> content = read_all(*reader);
    ASSERT_EQ(content.size(), 3u * 4096 + 100);
    EXPECT_EQ(slice(content, 0, 4096), data.bytes());
    EXPECT_TRUE(all_zero(slice(content, 4096, content.size())));
    EXPECT_EQ(io::zero_fill(fd, 100, 50), 0) << "an empty range is nothing to do";
  }
}

TEST(PsyncVfsTest, direct_open_creating_leaves_a_usable_direct_file) {
  // open(create + direct) creates without O_DIRECT, then switches it on: both must hold after.
  TempDir dir;
  auto vfs = make_psync_vfs();
  std::unique_ptr<VfsFile> file;
  const int opened = vfs->open(dir / "new", {.create = true, .direct = true}, file);
  if (opened == -EINVAL) GTEST_SKIP() << dir.path() << ": this filesystem refuses O_DIRECT";
  ASSERT_EQ(opened, 0);
  const int fd = dynamic_cast<io::PsyncFile &>(*file).fd();
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_DIRECT, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  std::unique_ptr<VfsFile> existing;
  ASSERT_EQ(vfs->open(dir / "new", {.create = true, .direct = true}, existing), 0)
      << "an existing file opens too";
}

// ---- the simulated disk ----

class SimVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sim_.make_dir("/db"), 0);
    ASSERT_EQ(sim_.sync_dir("/"), 0);
  }

  /// A file whose name is durable (created, then its directory synced).
  std::unique_ptr<VfsFile> create_durable(const std::string &path) {
    std::unique_ptr<VfsFile> file;
    EXPECT_EQ(sim_.open(path, {.create = true}, file), 0);
    EXPECT_EQ(sim_.sync_dir("/db"), 0);
    return file;
  }

  std::vector<std::byte> contents(const std::string &path) {
    std::vector<std::byte> bytes;
    EXPECT_EQ(sim_.contents(path, bytes), 0) << path;
    return bytes;
  }

  SimVfs sim_{42};
};

TEST_F(SimVfsTest, name_is_sim) { EXPECT_STREQ(sim_.name(), "sim"); }

TEST_F(SimVfsTest, flushed_writes_survive_a_crash) {
  auto file = create_durable("/db/f");
  const Buffer first(8192, 1), second(4096, 2);
  ASSERT_EQ(write_buffer(*file, 0, first, /*flush=*/true), 0);
  ASSERT_EQ(write_buffer(*file, 8192, second, /*flush=*/false), 0);
  ASSERT_EQ(file->flush(), 0);
  sim_.crash(7);
  const std::vector<std::byte> after = contents("/db/f");
  ASSERT_EQ(after.size(), 12288u);
  EXPECT_EQ(slice(after, 0, 8192), first.bytes());
  EXPECT_EQ(slice(after, 8192, 4096), second.bytes());
}

/// The scenario of the tearing tests: one flushed block, then two unflushed writes.
struct TornScenario {
  Buffer flushed{4096, 1};
  Buffer dropped{4096, 2};  // at 4096, unflushed, not the last: always lost
  Buffer last{8192, 3};     // at 8192, unflushed, the last: a torn prefix may stay
};

std::vector<std::byte> crash_torn_scenario(const TornScenario &scenario, std::uint64_t seed) {
  SimVfs sim(1);
  EXPECT_EQ(sim.make_dir("/db"), 0);
  std::unique_ptr<VfsFile> file;
  EXPECT_EQ(sim.open("/db/f", {.create = true}, file), 0);
  EXPECT_EQ(sim.sync_dir("/db"), 0);
  EXPECT_EQ(sim.sync_dir("/"), 0);
  EXPECT_EQ(write_buffer(*file, 0, scenario.flushed, true), 0);
  EXPECT_EQ(write_buffer(*file, 4096, scenario.dropped, false), 0);
  EXPECT_EQ(write_buffer(*file, 8192, scenario.last, false), 0);
  sim.crash(seed);
  std::vector<std::byte> after;
  EXPECT_EQ(sim.contents("/db/f", after), 0);
  return after;
}

TEST_F(SimVfsTest, crash_drops_unflushed_writes_and_keeps_whole_sectors_of_the_last_one) {
  const TornScenario scenario;
  std::set<std::size_t> kept_sizes;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const std::vector<std::byte> after = crash_torn_scenario(scenario, seed);
    ASSERT_GE(after.size(), 4096u) << seed;
    EXPECT_EQ(slice(after, 0, 4096), scenario.flushed.bytes()) << "flushed data intact, " << seed;
    if (after.size() == 4096) {
      kept_sizes.insert(0);
      continue;
    }
    // Something of the last write stayed: a whole-sector prefix of it, and nothing of the other.
    ASSERT_GT(after.size(), 8192u) << seed;
    const std::size_t kept = after.size() - 8192;
    EXPECT_EQ(kept % sim_sector_bytes, 0u) << seed;
    EXPECT_LE(kept, scenario.last.size()) << seed;
    EXPECT_TRUE(all_zero(slice(after, 4096, 4096))) << "the earlier unflushed write is gone";
    EXPECT_EQ(slice(after, 8192, kept), slice(scenario.last.bytes(), 0, kept)) << seed;
    kept_sizes.insert(kept);
  }
  EXPECT_TRUE(kept_sizes.count(0)) << "some crash keeps nothing";
  EXPECT_TRUE(kept_sizes.count(scenario.last.size())) << "some crash keeps all of it";
  EXPECT_GE(kept_sizes.size(), 8u) << "and many keep a torn prefix";
}

/// Three unflushed 4 KiB writes after one flushed block, crashed in reorder mode.
std::vector<std::byte> crash_reordered(std::uint64_t seed) {
  SimVfs sim(1);
  EXPECT_EQ(sim.make_dir("/db"), 0);
  std::unique_ptr<VfsFile> file;
  EXPECT_EQ(sim.open("/db/f", {.create = true}, file), 0);
  EXPECT_EQ(sim.sync_dir("/db"), 0);
  EXPECT_EQ(sim.sync_dir("/"), 0);
  EXPECT_EQ(write_buffer(*file, 0, Buffer(4096, 1), true), 0);
  for (unsigned w = 1; w <= 3; ++w)
    EXPECT_EQ(write_buffer(*file, 4096 * w, Buffer(4096, 1 + w), false), 0);
  sim.crash(seed, SimCrashMode::reorder);
  std::vector<std::byte> after;
  EXPECT_EQ(sim.contents("/db/f", after), 0);
  return after;
}

TEST_F(SimVfsTest, reorder_crash_keeps_any_subset_of_unflushed_sectors_and_all_flushed_data) {
  bool later_without_earlier = false;
  bool all_kept = false;
  bool sector_hole = false;  // a write with a lost sector before a kept one
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    std::vector<std::byte> after = crash_reordered(seed);
    ASSERT_GE(after.size(), 4096u) << seed;
    EXPECT_EQ(slice(after, 0, 4096), Buffer(4096, 1).bytes()) << "flushed data intact, " << seed;
    after.resize(4 * 4096);
    std::vector<bool> kept_write(4, false);
    for (unsigned w = 1; w <= 3; ++w) {
      const std::vector<std::byte> expected = Buffer(4096, 1 + w).bytes();
      bool hole = false;
      for (std::size_t sector = 0; sector < 4096 / sim_sector_bytes; ++sector) {
        const std::size_t at = sector * sim_sector_bytes;
        const auto got = slice(after, 4096 * w + at, sim_sector_bytes);
        const bool is_new = got == slice(expected, at, sim_sector_bytes);
        // Every sector is either the write's or what was there before (zeros): never a mix.
        EXPECT_TRUE(is_new || all_zero(got)) << "seed " << seed << " write " << w;
        if (is_new && hole) sector_hole = true;
        hole |= !is_new;
        if (is_new) kept_write[w] = true;
      }
    }
    later_without_earlier |= kept_write[3] && !kept_write[1];
    all_kept |= kept_write[1] && kept_write[2] && kept_write[3];
  }
  EXPECT_TRUE(later_without_earlier) << "a later write survives an earlier lost one";
  EXPECT_TRUE(all_kept);
  EXPECT_TRUE(sector_hole) << "sectors of one write survive out of order";
}

TEST_F(SimVfsTest, reorder_crash_is_the_same_for_the_same_seed) {
  for (std::uint64_t seed = 0; seed < 20; ++seed)
    EXPECT_EQ(crash_reordered(seed), crash_reordered(seed));
}

TEST_F(SimVfsTest, crash_at_a_write_stores_it_unflushed_then_crashes_inside_it) {
  auto file = create_durable("/db/f");
  ASSERT_EQ(write_buffer(*file, 0, Buffer(4096, 1), true), 0);
  sim_.crash_at(SimOp::write, 2, 9);
  ASSERT_EQ(write_buffer(*file, 4096, Buffer(4096, 2), true), 0)
      << "the first write is not the 2nd";
  EXPECT_EQ(write_buffer(*file, 8192, Buffer(8192, 3), true), -EIO);
  EXPECT_EQ(sim_.counters().crashes, 1u);
  EXPECT_EQ(file->flush(), -EIO) << "the file is from before the crash";
  const std::vector<std::byte> after = contents("/db/f");
  ASSERT_GE(after.size(), 8192u);
  EXPECT_EQ(slice(after, 4096, 4096), Buffer(4096, 2).bytes()) << "flushed before the crash point";
  EXPECT_LE(after.size(), 16384u);
  EXPECT_EQ(after.size() % sim_sector_bytes, 0u) << "at most a whole-sector prefix of the write";
}

TEST_F(SimVfsTest, crash_at_a_flush_or_a_sync_dir_crashes_before_it_takes_effect) {
  auto file = create_durable("/db/f");
  ASSERT_EQ(write_buffer(*file, 0, Buffer(4096, 1), false), 0);
  sim_.crash_at(SimOp::flush, 1, 3, SimCrashMode::reorder);
  EXPECT_EQ(file->flush(), -EIO);
  EXPECT_EQ(sim_.counters().crashes, 1u);
  const std::vector<std::byte> after = contents("/db/f");
  EXPECT_TRUE(after.empty() || after == Buffer(4096, 1).bytes() || after.size() == 4096u);

  std::unique_ptr<VfsFile> other;
  ASSERT_EQ(sim_.open("/db/g", {.create = true}, other), 0);
  sim_.crash_at(SimOp::sync_dir, 1, 4, SimCrashMode::torn_tail, "/db");
  EXPECT_EQ(sim_.sync_dir("/db"), -EIO);
  EXPECT_FALSE(sim_.exists("/db/g")) << "the name never became durable";
  EXPECT_EQ(sim_.counters().crashes, 2u);
}

TEST_F(SimVfsTest, torn_overwrite_keeps_old_bytes_after_the_tear) {
  auto file = create_durable("/db/f");
  const Buffer old_bytes(8192, 4), new_bytes(8192, 5);
  ASSERT_EQ(write_buffer(*file, 0, old_bytes, true), 0);
  ASSERT_EQ(write_buffer(*file, 0, new_bytes, false), 0);
  sim_.crash(3);
  const std::vector<std::byte> after = contents("/db/f");
  ASSERT_EQ(after.size(), 8192u);
  std::size_t torn_at = 0;
  while (torn_at < 8192 && after[torn_at] == new_bytes.data()[torn_at]) ++torn_at;
  // Allow for bytes that happen to be equal in both patterns: the tear is at a sector boundary.
  torn_at = torn_at / sim_sector_bytes * sim_sector_bytes;
  EXPECT_EQ(slice(after, 0, torn_at), slice(new_bytes.bytes(), 0, torn_at));
  EXPECT_EQ(slice(after, torn_at, 8192), slice(old_bytes.bytes(), torn_at, 8192));
}

TEST_F(SimVfsTest, reads_see_unflushed_writes_before_a_crash) {
  auto file = create_durable("/db/f");
  const Buffer data(4096, 6);
  ASSERT_EQ(write_buffer(*file, 0, data, false), 0);
  EXPECT_EQ(read_all(*file), data.bytes());
  std::vector<std::byte> durable;
  ASSERT_EQ(sim_.durable_contents("/db/f", durable), 0);
  EXPECT_TRUE(durable.empty());
}

TEST_F(SimVfsTest, file_created_without_sync_dir_disappears_in_a_crash) {
  std::unique_ptr<VfsFile> file;
  ASSERT_EQ(sim_.open("/db/new", {.create = true}, file), 0);
  const Buffer data(4096, 7);
  ASSERT_EQ(write_buffer(*file, 0, data, true), 0) << "data flushed, name not";
  sim_.crash(1);
  EXPECT_FALSE(sim_.exists("/db/new"));
}

TEST_F(SimVfsTest, rename_without_sync_dir_is_undone_by_a_crash_and_kept_with_it) {
  auto file = create_durable("/db/tmp");
  const Buffer data(4096, 8);
  ASSERT_EQ(write_buffer(*file, 0, data, true), 0);
  ASSERT_EQ(sim_.rename("/db/tmp", "/db/final"), 0);
  EXPECT_TRUE(sim_.exists("/db/final"));
  EXPECT_FALSE(sim_.exists("/db/tmp"));
  sim_.crash(1);
  EXPECT_TRUE(sim_.exists("/db/tmp"));
  EXPECT_FALSE(sim_.exists("/db/final"));

  ASSERT_EQ(sim_.rename("/db/tmp", "/db/final"), 0);
  ASSERT_EQ(sim_.sync_dir("/db"), 0);
  sim_.crash(2);
  EXPECT_FALSE(sim_.exists("/db/tmp"));
  EXPECT_EQ(contents("/db/final"), data.bytes());
}

TEST_F(SimVfsTest, remove_without_sync_dir_is_undone_by_a_crash_and_kept_with_it) {
  auto file = create_durable("/db/old");
  const Buffer data(4096, 9);
  ASSERT_EQ(write_buffer(*file, 0, data, true), 0);
  file.reset();
  ASSERT_EQ(sim_.remove("/db/old"), 0);
  EXPECT_FALSE(sim_.exists("/db/old"));
  sim_.crash(1);
  EXPECT_EQ(contents("/db/old"), data.bytes()) << "the removal was not durable";
  ASSERT_EQ(sim_.remove("/db/old"), 0);
  ASSERT_EQ(sim_.sync_dir("/db"), 0);
  sim_.crash(2);
  EXPECT_FALSE(sim_.exists("/db/old"));
}

TEST_F(SimVfsTest, directory_not_synced_in_its_parent_vanishes_with_its_files) {
  ASSERT_EQ(sim_.make_dir("/db/sub"), 0);
  std::unique_ptr<VfsFile> file;
  ASSERT_EQ(sim_.open("/db/sub/f", {.create = true}, file), 0);
  ASSERT_EQ(sim_.sync_dir("/db/sub"), 0) << "the file is durable in sub, but sub is not in db";
  sim_.crash(1);
  EXPECT_FALSE(sim_.exists("/db/sub"));
  EXPECT_FALSE(sim_.exists("/db/sub/f"));
  EXPECT_TRUE(sim_.exists("/db"));
}

TEST_F(SimVfsTest, allocate_extends_the_size_durably_only_once_flushed) {
  auto file = create_durable("/db/seg");
  ASSERT_EQ(file->allocate(65536), 0);
  EXPECT_EQ(file->size(), 65536);
  ASSERT_EQ(file->allocate(4096), 0);
  EXPECT_EQ(file->size(), 65536) << "never shrinks";
  sim_.crash(1);
  EXPECT_TRUE(contents("/db/seg").empty()) << "the unflushed allocation was lost";
  ASSERT_EQ(sim_.open("/db/seg", {}, file), 0);
  ASSERT_EQ(file->allocate(65536), 0);
  ASSERT_EQ(file->flush(), 0);
  sim_.crash(2);
  const std::vector<std::byte> after = contents("/db/seg");
  EXPECT_EQ(after.size(), 65536u);
  EXPECT_TRUE(all_zero(after));
}

TEST_F(SimVfsTest, nth_write_fails_once_or_from_then_on) {
  auto file = create_durable("/db/f");
  const Buffer data(4096, 10);
  sim_.fail_write(2, -EIO);
  EXPECT_EQ(write_buffer(*file, 0, data, false), 0);
  EXPECT_EQ(write_buffer(*file, 4096, data, false), -EIO);
  EXPECT_EQ(write_buffer(*file, 8192, data, false), 0) << "fired once";
  EXPECT_EQ(file->size(), 12288) << "the failed write stored nothing";
  EXPECT_TRUE(all_zero(slice(contents("/db/f"), 4096, 4096)));

  sim_.fail_write(2, -ENOSPC, /*and_after=*/true);
  EXPECT_EQ(write_buffer(*file, 0, data, false), 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(write_buffer(*file, 0, data, false), -ENOSPC);
  sim_.clear_faults();
  EXPECT_EQ(write_buffer(*file, 0, data, false), 0);
  EXPECT_EQ(sim_.counters().faults_injected, 6u);
}

TEST_F(SimVfsTest, failed_flush_loses_the_writes_even_if_a_later_flush_succeeds) {
  // Linux after a failed fsync: the dirty pages may be gone from the disk's point of view, and a
  // second fsync returns 0. The sim does the same, so the log's fail-stop is tested for real.
  auto file = create_durable("/db/f");
  const Buffer first(4096, 11), second(4096, 12);
  sim_.fail_flush(1, -EIO);
  ASSERT_EQ(write_buffer(*file, 0, first, false), 0);
  EXPECT_EQ(file->flush(), -EIO);
  EXPECT_EQ(file->flush(), 0);
  EXPECT_EQ(read_all(*file), first.bytes()) << "still readable before the crash";
  ASSERT_EQ(write_buffer(*file, 4096, second, true), 0);
  sim_.crash(5);
  const std::vector<std::byte> after = contents("/db/f");
  ASSERT_EQ(after.size(), 8192u);
  EXPECT_TRUE(all_zero(slice(after, 0, 4096))) << "the write whose flush failed is lost";
  EXPECT_EQ(slice(after, 4096, 4096), second.bytes());
}

TEST_F(SimVfsTest, write_with_flush_counts_its_flush_and_fails_with_it) {
  auto file = create_durable("/db/f");
  const Buffer data(4096, 13);
  sim_.fail_flush(2, -EIO);
  ASSERT_EQ(write_buffer(*file, 0, data, true), 0);
  EXPECT_EQ(write_buffer(*file, 4096, data, true), -EIO);
  const SimCounters counters = sim_.counters();
  EXPECT_EQ(counters.writes, 2u);
  EXPECT_EQ(counters.flushes, 2u);
  std::vector<std::byte> durable;
  ASSERT_EQ(sim_.durable_contents("/db/f", durable), 0);
  EXPECT_EQ(durable.size(), 4096u);
}

TEST_F(SimVfsTest, short_write_stores_a_whole_sector_prefix_and_fails) {
  std::set<std::uint64_t> prefixes;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    SimVfs sim(seed);
    std::unique_ptr<VfsFile> file;
    ASSERT_EQ(sim.open("/f", {.create = true}, file), 0);
    const Buffer data(8192, 14);
    sim.short_write(1);
    EXPECT_EQ(write_buffer(*file, 4096, data, true), -EIO);
    const long long size = file->size();
    const std::uint64_t kept = size == 0 ? 0 : static_cast<std::uint64_t>(size) - 4096;
    EXPECT_LT(kept, data.size()) << "a short write is short";
    EXPECT_EQ(kept % sim_sector_bytes, 0u);
    std::vector<std::byte> content;
    ASSERT_EQ(sim.contents("/f", content), 0);
    if (kept > 0) {
      EXPECT_EQ(slice(content, 4096, kept), slice(data.bytes(), 0, kept));
    }
    EXPECT_EQ(sim.counters().flushes, 0u) << "no flush after a failed write";
    prefixes.insert(kept);
  }
  EXPECT_GE(prefixes.size(), 5u) << "the prefix varies with the seed";
}

TEST_F(SimVfsTest, capacity_makes_allocate_and_growing_writes_fail_with_enospc_until_freed) {
  sim_.set_capacity(1 << 20);
  auto first = create_durable("/db/a");
  auto second = create_durable("/db/b");
  ASSERT_EQ(first->allocate(512 << 10), 0);
  EXPECT_EQ(second->allocate(768 << 10), -ENOSPC);
  EXPECT_EQ(second->size(), 0);
  const Buffer data(4096, 15);
  EXPECT_EQ(write_buffer(*first, 0, data, true), 0) << "inside its allocation: no new space";
  ASSERT_EQ(second->allocate(512 << 10), 0);
  EXPECT_EQ(sim_.used_bytes(), 1u << 20);
  EXPECT_EQ(write_buffer(*second, 512 << 10, data, false), -ENOSPC) << "growing past capacity";
  first.reset();
  ASSERT_EQ(sim_.remove("/db/a"), 0);
  EXPECT_EQ(sim_.used_bytes(), 512u << 10);
  EXPECT_EQ(write_buffer(*second, 512 << 10, data, false), 0) << "space freed";
}

TEST_F(SimVfsTest, removed_file_still_open_keeps_its_space) {
  sim_.set_capacity(64 << 10);
  auto file = create_durable("/db/a");
  ASSERT_EQ(file->allocate(64 << 10), 0);
  ASSERT_EQ(sim_.remove("/db/a"), 0);
  EXPECT_EQ(sim_.used_bytes(), 64u << 10);
  const Buffer data(4096, 16);
  EXPECT_EQ(write_buffer(*file, 0, data, false), 0) << "an unlinked open file stays writable";
  file.reset();
  EXPECT_EQ(sim_.used_bytes(), 0u);
}

TEST_F(SimVfsTest, flipped_bit_shows_in_reads_and_survives_a_crash) {
  auto file = create_durable("/db/f");
  const Buffer data(4096, 17);
  ASSERT_EQ(write_buffer(*file, 0, data, true), 0);
  ASSERT_EQ(sim_.flip_bit("/db/f", 100, 3), 0);
  std::vector<std::byte> expected = data.bytes();
  expected[100] ^= std::byte{8};
  EXPECT_EQ(read_all(*file), expected);
  sim_.crash(1);
  EXPECT_EQ(contents("/db/f"), expected);
  EXPECT_EQ(sim_.flip_bit("/db/f", 4096, 0), -EINVAL) << "past the end";
  EXPECT_EQ(sim_.flip_bit("/db/f", 0, 8), -EINVAL);
  EXPECT_EQ(sim_.flip_bit("/db/none", 0, 0), -ENOENT);
}

TEST_F(SimVfsTest, nth_read_fails) {
  auto file = create_durable("/db/f");
  const Buffer data(4096, 18);
  ASSERT_EQ(write_buffer(*file, 0, data, true), 0);
  Buffer into(4096);
  sim_.fail_read(1, -EIO);
  EXPECT_EQ(file->read(0, into.data(), 4096), -EIO);
  EXPECT_EQ(file->read(0, into.data(), 4096), 4096);
  EXPECT_EQ(into.bytes(), data.bytes());
}

TEST_F(SimVfsTest, faults_on_allocate_sync_dir_and_open_and_per_path) {
  auto a = create_durable("/db/a");
  auto b = create_durable("/db/b");
  sim_.inject(fault_on(SimOp::allocate, 1, -ENOSPC));
  EXPECT_EQ(a->allocate(4096), -ENOSPC);
  EXPECT_EQ(a->allocate(4096), 0);

  std::unique_ptr<VfsFile> file;
  ASSERT_EQ(sim_.open("/db/c", {.create = true}, file), 0);
  sim_.inject(fault_on(SimOp::sync_dir, 1, -EIO));
  EXPECT_EQ(sim_.sync_dir("/db"), -EIO);
  sim_.crash(1);
  EXPECT_FALSE(sim_.exists("/db/c")) << "a failed sync_dir made nothing durable";

  sim_.inject(fault_on(SimOp::open, 1, -EMFILE));
  EXPECT_EQ(sim_.open("/db/a", {}, file), -EMFILE);
  ASSERT_EQ(sim_.open("/db/a", {}, a), 0);
  ASSERT_EQ(sim_.open("/db/b", {}, b), 0);

  const Buffer data(4096, 19);
  SimFault on_b = fault_on(SimOp::write, 1, -EIO);
  on_b.and_after = true;
  on_b.path = "db//b";
  sim_.inject(on_b);
  EXPECT_EQ(write_buffer(*a, 0, data, false), 0) << "another file";
  EXPECT_EQ(write_buffer(*b, 0, data, false), -EIO);
  EXPECT_EQ(write_buffer(*a, 0, data, false), 0);
}

TEST_F(SimVfsTest, direct_files_check_alignment_and_direct_io_can_be_refused) {
  std::unique_ptr<VfsFile> file;
  ASSERT_EQ(sim_.open("/db/d", {.create = true, .direct = true}, file), 0);
  EXPECT_TRUE(file->direct());
  const Buffer data(8192, 20);
  EXPECT_EQ(write_buffer(*file, 0, data, true), 0);
  const iovec misaligned_address{data.data() + 512, 4096};
  EXPECT_EQ(file->write(0, &misaligned_address, 1, true), -EINVAL);
  const iovec misaligned_length{data.data(), 4000};
  EXPECT_EQ(file->write(0, &misaligned_length, 1, true), -EINVAL);
  EXPECT_EQ(write_buffer(*file, 512, data, true), -EINVAL) << "misaligned offset";
  Buffer into(4096);
  EXPECT_EQ(file->read(100, into.data(), 4096), -EINVAL);
  EXPECT_EQ(file->read(4096, into.data(), 4096), 4096);

  sim_.set_direct_io_supported(false);
  EXPECT_EQ(sim_.open("/db/d", {.direct = true}, file), -EINVAL);
  EXPECT_EQ(sim_.open("/db/d", {}, file), 0);
}

TEST_F(SimVfsTest, files_from_before_a_crash_are_dead_and_change_nothing) {
  auto file = create_durable("/db/f");
  const Buffer data(4096, 21);
  ASSERT_EQ(write_buffer(*file, 0, data, true), 0);
  sim_.crash(1);
  EXPECT_EQ(write_buffer(*file, 0, Buffer(4096, 22), true), -EIO);
  EXPECT_EQ(file->flush(), -EIO);
  EXPECT_EQ(file->allocate(1 << 20), -EIO);
  EXPECT_EQ(file->size(), -EIO);
  Buffer into(4096);
  EXPECT_EQ(file->read(0, into.data(), 4096), -EIO);
  EXPECT_EQ(contents("/db/f"), data.bytes());
}

TEST_F(SimVfsTest, lock_conflicts_until_released_or_crashed) {
  std::unique_ptr<VfsFile> first, second;
  ASSERT_EQ(sim_.lock("/db/LOCK", first), 0);
  EXPECT_EQ(sim_.lock("/db/LOCK", second), -EWOULDBLOCK);
  first.reset();
  ASSERT_EQ(sim_.lock("/db/LOCK", second), 0);
  sim_.crash(1);  // the holder "died"
  std::unique_ptr<VfsFile> third, fourth;
  ASSERT_EQ(sim_.lock("/db/LOCK", third), 0);
  second.reset();  // the dead holder's close must not free the new holder's lock
  EXPECT_EQ(sim_.lock("/db/LOCK", fourth), -EWOULDBLOCK);
}

TEST_F(SimVfsTest, paths_are_normalized_and_checked_like_a_filesystem) {
  std::unique_ptr<VfsFile> file;
  ASSERT_EQ(sim_.open("db//x/../f", {.create = true}, file), 0);
  EXPECT_TRUE(sim_.exists("/db/f"));
  EXPECT_EQ(sim_.open("/db/none/f", {.create = true}, file), -ENOENT);
  EXPECT_EQ(sim_.open("/db/f/g", {.create = true}, file), -ENOTDIR);
  EXPECT_EQ(sim_.open("/db", {}, file), -EISDIR);
  EXPECT_EQ(sim_.open("/db/missing", {}, file), -ENOENT);
  EXPECT_EQ(sim_.make_dir("/db"), 0);
  EXPECT_EQ(sim_.make_dir("/db/f"), -EEXIST);
  EXPECT_EQ(sim_.remove("/db"), -EISDIR);
  EXPECT_EQ(sim_.remove("/db/missing"), -ENOENT);
  EXPECT_EQ(sim_.rename("/db/missing", "/db/x"), -ENOENT);
  EXPECT_EQ(sim_.rename("/db/f", "/nowhere/x"), -ENOENT);
  std::vector<std::string> names;
  EXPECT_EQ(sim_.list("/db/f", names), -ENOTDIR);
  EXPECT_EQ(sim_.list("/none", names), -ENOENT);
  ASSERT_EQ(sim_.list("/", names), 0);
  EXPECT_EQ(names, (std::vector<std::string>{"db"}));
  ASSERT_EQ(sim_.list("/db", names), 0);
  EXPECT_EQ(names, (std::vector<std::string>{"f"}));
  ASSERT_EQ(sim_.open("/db/f", {.read_only = true}, file), 0);
  EXPECT_EQ(write_buffer(*file, 0, Buffer(4096, 23), false), -EBADF);
}

/// Several files, many unflushed writes, some flushed: the post-crash bytes of every file.
std::vector<std::vector<std::byte>> crash_busy_disk(std::uint64_t crash_seed) {
  SimVfs sim(9);
  EXPECT_EQ(sim.make_dir("/db"), 0);
  std::vector<std::unique_ptr<VfsFile>> files(4);
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(sim.open(numbered("/db/f", i), {.create = true}, files[i]), 0);
  }
  EXPECT_EQ(sim.sync_dir("/db"), 0);
  EXPECT_EQ(sim.sync_dir("/"), 0);
  for (unsigned round = 0; round < 12; ++round) {
    for (std::size_t i = 0; i < files.size(); ++i) {
      const Buffer data(4096 * (1 + round % 3), round * 10 + static_cast<unsigned>(i));
      EXPECT_EQ(write_buffer(*files[i], 4096ull * round, data, round % 4 == 0), 0);
    }
  }
  sim.crash(crash_seed);
  std::vector<std::vector<std::byte>> after(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(sim.contents(numbered("/db/f", i), after[i]), 0);
  }
  return after;
}

TEST_F(SimVfsTest, crash_is_deterministic_per_seed) {
  std::set<std::vector<std::vector<std::byte>>> outcomes;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const auto first = crash_busy_disk(seed);
    EXPECT_EQ(crash_busy_disk(seed), first) << "seed " << seed;
    outcomes.insert(first);
  }
  EXPECT_GT(outcomes.size(), 1u) << "different seeds tear differently";
}

TEST_F(SimVfsTest, counters_count_every_operation) {
  auto file = create_durable("/db/f");
  const Buffer data(4096, 24);
  ASSERT_EQ(write_buffer(*file, 0, data, true), 0);
  ASSERT_EQ(write_buffer(*file, 4096, data, false), 0);
  ASSERT_EQ(file->flush(), 0);
  Buffer into(4096);
  ASSERT_EQ(file->read(0, into.data(), 4096), 4096);
  ASSERT_EQ(file->allocate(65536), 0);
  std::vector<std::string> names;
  ASSERT_EQ(sim_.list("/db", names), 0);
  ASSERT_EQ(sim_.rename("/db/f", "/db/g"), 0);
  ASSERT_EQ(sim_.remove("/db/g"), 0);
  std::unique_ptr<VfsFile> lock;
  ASSERT_EQ(sim_.lock("/db/LOCK", lock), 0);
  sim_.crash(1);
  const SimCounters counters = sim_.counters();
  EXPECT_EQ(counters.opens, 1u);
  EXPECT_EQ(counters.writes, 2u);
  EXPECT_EQ(counters.bytes_written, 8192u);
  EXPECT_EQ(counters.flushes, 2u);
  EXPECT_EQ(counters.reads, 1u);
  EXPECT_EQ(counters.bytes_read, 4096u);
  EXPECT_EQ(counters.allocates, 1u);
  EXPECT_EQ(counters.sync_dirs, 2u);  // SetUp's and create_durable's
  EXPECT_EQ(counters.lists, 1u);
  EXPECT_EQ(counters.renames, 1u);
  EXPECT_EQ(counters.removes, 1u);
  EXPECT_EQ(counters.make_dirs, 1u);
  EXPECT_EQ(counters.locks, 1u);
  EXPECT_EQ(counters.crashes, 1u);
  EXPECT_EQ(counters.faults_injected, 0u);
}

TEST_F(SimVfsTest, threads_write_their_own_files_concurrently) {
  constexpr int threads_count = 4;
  constexpr int blocks_per_thread = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([this, t] {
      std::unique_ptr<VfsFile> file;
      ASSERT_EQ(sim_.open(numbered("/db/t", static_cast<std::size_t>(t)), {.create = true}, file),
                0);
      for (int block = 0; block < blocks_per_thread; ++block) {
        const Buffer data(4096, static_cast<unsigned>(t * 1000 + block));
        ASSERT_EQ(write_buffer(*file, 4096ull * block, data, block % 10 == 9), 0);
      }
    });
  }
  for (std::thread &thread : threads) thread.join();
  EXPECT_EQ(sim_.counters().writes, static_cast<std::uint64_t>(threads_count * blocks_per_thread));
  for (int t = 0; t < threads_count; ++t) {
    const std::vector<std::byte> content = contents(numbered("/db/t", static_cast<std::size_t>(t)));
    ASSERT_EQ(content.size(), 4096u * blocks_per_thread);
    EXPECT_EQ(slice(content, 4096 * 57, 4096), Buffer(4096, t * 1000 + 57).bytes());
  }
}

}  // namespace
}  // namespace corq::wal
