// tests/sim/process_vfs.hpp — one simulated process's view of the simulated disk.
//
// corq-sim runs an engine (a "process") on a wal::SimVfs, crashes the disk and opens a new engine
// on what survived. The old engine is still alive in memory after the crash and may try to touch
// the disk (its writer, its scheduler's checkpoints, corq_close). A real process cannot: it died
// with the power. ProcessVfs makes that so: every operation of the engine goes through it, under
// one mutex, and once the disk crashed — by kill() or by a crash point armed on the SimVfs firing
// inside one of this process's operations — every later operation returns -EIO, files opened
// before included. (The SimVfs already kills the files of before a crash; this also stops the
// dead process from creating, renaming or removing files on the rebooted disk.)
//
// Thread-safety: all operations of a ProcessVfs and its files are serialized by its mutex (the
// SimVfs below serializes them anyway). The SimVfs must outlive the ProcessVfs and its files.
#pragma once

#include <io/sim_vfs.hpp>

#include <cerrno>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace corq::sim {

class ProcessVfs final : public wal::Vfs {
 public:
  explicit ProcessVfs(wal::SimVfs &disk) : state_(std::make_shared<State>(disk)) {}

  /// Power loss now, with this process alive: the disk crashes (seed, mode) and the process dies.
  void kill(std::uint64_t seed, wal::SimCrashMode mode) {
    std::lock_guard lock(state_->mutex);
    if (!state_->dead) state_->disk.crash(seed, mode);
    state_->dead = true;
  }

  /// Whether the disk crashed under this process (kill(), or a crash point firing).
  bool dead() const {
    std::lock_guard lock(state_->mutex);
    return state_->dead_now();
  }

  const char *name() const override { return "sim-process"; }

  int open(const std::string &path, wal::OpenFlags flags,
           std::unique_ptr<wal::VfsFile> &out) override {
    std::unique_ptr<wal::VfsFile> inner;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->dead_now()) return -EIO;
      if (const int rc = state_->disk.open(path, flags, inner); rc != 0) return rc;
    }
    out = std::make_unique<File>(state_, std::move(inner));
    return 0;
  }
  int lock(const std::string &path, std::unique_ptr<wal::VfsFile> &out) override {
    std::unique_ptr<wal::VfsFile> inner;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->dead_now()) return -EIO;
      if (const int rc = state_->disk.lock(path, inner); rc != 0) return rc;
    }
    out = std::make_unique<File>(state_, std::move(inner));
    return 0;
  }
  int list(const std::string &dir, std::vector<std::string> &names) override {
    return state_->run([&] { return state_->disk.list(dir, names); });
  }
  int remove(const std::string &path) override {
    return state_->run([&] { return state_->disk.remove(path); });
  }
  int rename(const std::string &from, const std::string &to) override {
    return state_->run([&] { return state_->disk.rename(from, to); });
  }
  int remove_dir(const std::string &path) override {
    return state_->run([&] { return state_->disk.remove_dir(path); });
  }
  int make_dir(const std::string &path) override {
    return state_->run([&] { return state_->disk.make_dir(path); });
  }
  int sync_dir(const std::string &dir) override {
    return state_->run([&] { return state_->disk.sync_dir(dir); });
  }

 private:
  struct State {
    explicit State(wal::SimVfs &d) : disk(d), crashes_at_birth(d.counters().crashes) {}
    /// Under `mutex`: dead once the disk crashed after this process started.
    bool dead_now() {
      if (!dead && disk.counters().crashes != crashes_at_birth) dead = true;
      return dead;
    }
    /// Runs one operation unless dead; a crash point firing inside it kills the process.
    template <typename Op>
    auto run(Op op) -> decltype(op()) {
      std::lock_guard lock(mutex);
      if (dead_now()) return -EIO;
      return op();
    }
    mutable std::mutex mutex;
    wal::SimVfs &disk;
    const std::uint64_t crashes_at_birth;
    bool dead = false;
  };

  class File final : public wal::VfsFile {
   public:
    File(std::shared_ptr<State> state, std::unique_ptr<wal::VfsFile> inner)
        : state_(std::move(state)), inner_(std::move(inner)) {}
    int write(std::uint64_t offset, const iovec *buffers, int count, bool flush) override {
      return state_->run([&] { return inner_->write(offset, buffers, count, flush); });
    }
    int flush() override {
      return state_->run([&] { return inner_->flush(); });
    }
    long read(std::uint64_t offset, void *buffer, std::size_t bytes) override {
      return state_->run([&]() -> long { return inner_->read(offset, buffer, bytes); });
    }
    int allocate(std::uint64_t bytes) override {
      return state_->run([&] { return inner_->allocate(bytes); });
    }
    long long size() override {
      return state_->run([&]() -> long long { return inner_->size(); });
    }
    bool direct() const override { return inner_->direct(); }

   private:
    std::shared_ptr<State> state_;
    std::unique_ptr<wal::VfsFile> inner_;
  };

  std::shared_ptr<State> state_;
};

}  // namespace corq::sim
