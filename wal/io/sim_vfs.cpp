// wal/io/sim_vfs.cpp — the in-memory disk (the model is described in sim_vfs.hpp).
//
// Layout of the state:
//   live     — path -> entry, what open/list see now;
//   durable  — path -> entry, what a crash leaves (sync_dir copies a directory's entries to it);
//   an entry is a directory or a file; a file entry points to an Inode, shared by both maps (and
//   by open files), which holds the file's bytes as reads see them (`live`), the bytes a crash
//   keeps (`durable`) and the writes in between (`unflushed`, in order: the last one may tear).
// Everything is guarded by State::mutex; files keep the state alive through a shared_ptr.
#include "io/sim_vfs.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_set>

namespace corq::wal {
namespace {

/// A write or an allocate not yet flushed.
struct UnflushedOp {
  std::uint64_t offset;          // write: where; extend: the new size
  std::vector<std::byte> bytes;  // write: what (extend: empty)
  bool extend;
};

struct Inode {
  std::vector<std::byte> live;
  std::vector<std::byte> durable;
  std::vector<UnflushedOp> unflushed;
  int open_files = 0;  // files of the current epoch open on it (they keep it taking space)
};

struct Entry {
  bool directory = false;
  std::shared_ptr<Inode> inode;  // files only
};

using Namespace = std::map<std::string, Entry>;

struct ArmedFault {
  SimFault fault;
  std::uint64_t remaining;  // matches until it fires
  bool fired = false;
};

/// What take_fault decided for one operation.
struct FaultHit {
  int error = 0;
  bool short_write = false;
  bool crash = false;  // a crash point fired: crash the disk (with these) and fail with -EIO
  std::uint64_t crash_seed = 0;
  SimCrashMode crash_mode = SimCrashMode::torn_tail;
};

/// splitmix64: tiny, fast, and the same numbers on every platform and standard library.
std::uint64_t next_random(std::uint64_t &state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// "/a/b" from "a//b/./c/..": absolute, no empty, "." or ".." components.
std::string normalize(const std::string &path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  if (parts.empty()) return "/";
  std::string normalized;
  for (const std::string &part : parts) normalized += "/" + part;
  return normalized;
}

/// Parent of a normalized path other than "/".
std::string parent_of(const std::string &path) {
  const std::size_t slash = path.rfind('/');
  return slash == 0 ? std::string("/") : path.substr(0, slash);
}

std::string base_name(const std::string &path) { return path.substr(path.rfind('/') + 1); }

bool is_directory(const Namespace &names, const std::string &path) {
  if (path == "/") return true;
  const auto found = names.find(path);
  return found != names.end() && found->second.directory;
}

/// 0 if `path`'s parent is a directory of `names`; else -ENOENT (or -ENOTDIR: a file is there).
int check_parent(const Namespace &names, const std::string &path) {
  if (path == "/") return 0;
  const std::string parent = parent_of(path);
  if (is_directory(names, parent)) return 0;
  return names.count(parent) != 0 ? -ENOTDIR : -ENOENT;
}

void apply_op(std::vector<std::byte> &content, const UnflushedOp &op) {
  if (op.extend) {
    if (content.size() < op.offset) content.resize(op.offset);
    return;
  }
  const std::uint64_t end = op.offset + op.bytes.size();
  if (content.size() < end) content.resize(end);
  std::copy(op.bytes.begin(), op.bytes.end(), content.begin() + static_cast<long>(op.offset));
}

/// Sector boundaries strictly inside (offset, offset + bytes).
std::uint64_t inner_sector_boundaries(std::uint64_t offset, std::uint64_t bytes) {
  if (bytes == 0) return 0;
  return (offset + bytes - 1) / sim_sector_bytes - offset / sim_sector_bytes;
}

/// End of a prefix that stops at the k-th sector boundary after `offset` (k = 0: at `offset`),
/// or at the write's end, whichever comes first.
std::uint64_t prefix_end(std::uint64_t offset, std::uint64_t bytes, std::uint64_t k) {
  if (k == 0) return offset;
  const std::uint64_t boundary = (offset / sim_sector_bytes + k) * sim_sector_bytes;
  return std::min(boundary, offset + bytes);
}

bool block_aligned(std::uint64_t value) { return value % block_bytes == 0; }

bool aligned_for_direct(std::uint64_t offset, const iovec *buffers, int count) {
  if (!block_aligned(offset)) return false;
  for (int i = 0; i < count; ++i) {
    if (!block_aligned(reinterpret_cast<std::uintptr_t>(buffers[i].iov_base)) ||
        !block_aligned(buffers[i].iov_len)) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct SimVfs::State {
  mutable std::mutex mutex;
  Namespace live;
  Namespace durable;
  std::vector<std::weak_ptr<Inode>> inodes;    // every inode made; for used_bytes
  std::map<std::string, std::uint64_t> locks;  // path -> token of the file holding it
  std::vector<ArmedFault> faults;
  SimCounters counters;
  std::uint64_t random;     // splitmix64 state for short writes
  std::uint64_t epoch = 0;  // crash() increments it: files of an older epoch are dead
  std::uint64_t next_lock_token = 1;
  std::uint64_t capacity_bytes = 0;
  bool direct_io_supported = true;

  explicit State(std::uint64_t seed) : random(seed) {}

  /// Counts `op` on `path` against every armed fault; the first that fires decides.
  FaultHit take_fault(SimOp op, const std::string &path) {
    FaultHit hit;
    for (ArmedFault &armed : faults) {
      if (armed.fault.op != op) continue;
      if (!armed.fault.path.empty() && armed.fault.path != path) continue;
      const bool fires = armed.fired ? armed.fault.and_after : --armed.remaining == 0;
      if (armed.remaining == 0) armed.fired = true;
      if (fires && hit.error == 0) {
        const SimFault &f = armed.fault;
        hit = f.crash ? FaultHit{-EIO, false, true, f.crash_seed, f.crash_mode}
                      : FaultHit{f.error, f.short_write};
      }
    }
    std::erase_if(faults,
                  [](const ArmedFault &armed) { return armed.fired && !armed.fault.and_after; });
    if (hit.error != 0) ++counters.faults_injected;
    return hit;
  }

  std::uint64_t used_bytes() {
    std::unordered_set<const Inode *> counted;
    std::uint64_t used = 0;
    for (const auto &[path, entry] : live) {
      if (entry.inode && counted.insert(entry.inode.get()).second) used += entry.inode->live.size();
    }
    std::erase_if(inodes, [](const std::weak_ptr<Inode> &weak) { return weak.expired(); });
    for (const std::weak_ptr<Inode> &weak : inodes) {
      const auto inode = weak.lock();
      if (inode && inode->open_files > 0 && counted.insert(inode.get()).second) {
        used += inode->live.size();
      }
    }
    return used;
  }

  /// Whether `inode` may grow to `new_size` bytes within the capacity.
  bool fits(const Inode &inode, std::uint64_t new_size) {
    if (capacity_bytes == 0 || new_size <= inode.live.size()) return true;
    return used_bytes() + (new_size - inode.live.size()) <= capacity_bytes;
  }

  std::shared_ptr<Inode> make_inode() {
    auto inode = std::make_shared<Inode>();
    inodes.push_back(inode);
    return inode;
  }

  /// Finds or (with `create`) makes the file at normalized `path`. 0 or -errno.
  int find_file(const std::string &path, bool create, std::shared_ptr<Inode> &out) {
    if (path == "/") return -EISDIR;
    if (const int parent = check_parent(live, path); parent != 0) return parent;
    auto found = live.find(path);
    if (found == live.end()) {
      if (!create) return -ENOENT;
      found = live.emplace(path, Entry{false, make_inode()}).first;
    }
    if (found->second.directory) return -EISDIR;
    out = found->second.inode;
    return 0;
  }

  /// Makes the file's unflushed operations durable; a failed flush loses them (see the header).
  int flush_file(Inode &inode, const std::string &path) {
    ++counters.flushes;
    const FaultHit hit = take_fault(SimOp::flush, path);
    if (hit.crash) return crash_point(hit);
    if (hit.error == 0) {
      for (const UnflushedOp &op : inode.unflushed) apply_op(inode.durable, op);
    }
    inode.unflushed.clear();
    return hit.error;
  }

  /// Post-crash content: the durable bytes plus a torn prefix of the last unflushed write.
  void tear(Inode &inode, std::uint64_t &crash_random) {
    std::vector<std::byte> content = inode.durable;
    const auto last = std::find_if(inode.unflushed.rbegin(), inode.unflushed.rend(),
                                   [](const UnflushedOp &op) { return !op.extend; });
    if (last != inode.unflushed.rend()) {
      const std::uint64_t bytes = last->bytes.size();
      const std::uint64_t choices = inner_sector_boundaries(last->offset, bytes) + 2;
      const std::uint64_t k = next_random(crash_random) % choices;
      const std::uint64_t end =
          k == choices - 1 ? last->offset + bytes : prefix_end(last->offset, bytes, k);
      UnflushedOp kept{last->offset, {}, false};
      kept.bytes.assign(last->bytes.begin(),
                        last->bytes.begin() + static_cast<long>(end - last->offset));
      if (!kept.bytes.empty()) apply_op(content, kept);
    }
    inode.durable = content;
    inode.live = std::move(content);
    inode.unflushed.clear();
  }

  /// Post-crash content when the disk reorders: any subset of the unflushed operations (and of
  /// the sectors of each write) lands on the durable bytes, in the order they were issued.
  void reorder(Inode &inode, std::uint64_t &crash_random) {
    std::vector<std::byte> content = inode.durable;
    for (const UnflushedOp &op : inode.unflushed) {
      const std::uint64_t choice = next_random(crash_random) % 4;
      if (op.extend) {
        if (choice % 2 == 1) apply_op(content, op);
        continue;
      }
      const std::uint64_t bytes = op.bytes.size();
      const std::uint64_t pieces = inner_sector_boundaries(op.offset, bytes) + 1;
      const std::uint64_t prefix_pieces = choice == 2 ? next_random(crash_random) % pieces : 0;
      for (std::uint64_t k = 0; k < pieces; ++k) {
        // Piece k: from the k-th sector boundary after op.offset (k = 0: op.offset) to the next.
        bool kept = choice == 1 || (choice == 2 && k < prefix_pieces);
        if (choice == 3) kept = next_random(crash_random) % 2 == 1;
        if (!kept) continue;
        const std::uint64_t begin = prefix_end(op.offset, bytes, k);
        const std::uint64_t end = prefix_end(op.offset, bytes, k + 1);
        UnflushedOp piece{begin, {}, false};
        piece.bytes.assign(op.bytes.begin() + static_cast<long>(begin - op.offset),
                           op.bytes.begin() + static_cast<long>(end - op.offset));
        apply_op(content, piece);
      }
    }
    inode.durable = content;
    inode.live = std::move(content);
    inode.unflushed.clear();
  }

  /// A crash point fired inside an operation: the disk crashes now; the operation fails.
  int crash_point(const FaultHit &hit) {
    crash(hit.crash_seed, hit.crash_mode);
    return -EIO;
  }

  void crash(std::uint64_t seed, SimCrashMode mode) {
    ++counters.crashes;
    ++epoch;
    // Entries whose directory did not survive do not either (repeat: a chain of new dirs).
    for (bool pruned = true; pruned;) {
      pruned = false;
      for (auto it = durable.begin(); it != durable.end();) {
        const bool orphan = !is_directory(durable, parent_of(it->first));
        pruned |= orphan;
        it = orphan ? durable.erase(it) : std::next(it);
      }
    }
    std::uint64_t crash_random = seed;
    std::unordered_set<const Inode *> torn;
    for (const auto &[path, entry] : durable) {
      if (!entry.inode || !torn.insert(entry.inode.get()).second) continue;
      if (mode == SimCrashMode::reorder) {
        reorder(*entry.inode, crash_random);
      } else {
        tear(*entry.inode, crash_random);
      }
    }
    live = durable;
    for (const std::weak_ptr<Inode> &weak : inodes) {
      if (const auto inode = weak.lock()) inode->open_files = 0;
    }
    locks.clear();
    faults.clear();
  }
};

namespace {

/// A file of a SimVfs. Dead (every operation -EIO) once its SimVfs crashed.
class SimFile final : public VfsFile {
 public:
  SimFile(std::shared_ptr<SimVfs::State> state, std::shared_ptr<Inode> inode, std::string path,
          OpenFlags flags, std::uint64_t lock_token)
      : state_(std::move(state)),
        inode_(std::move(inode)),
        path_(std::move(path)),
        epoch_(state_->epoch),
        lock_token_(lock_token),
        direct_(flags.direct),
        read_only_(flags.read_only) {
    ++inode_->open_files;
  }

  ~SimFile() override {
    std::lock_guard lock(state_->mutex);
    if (stale()) return;
    --inode_->open_files;
    const auto held = state_->locks.find(path_);
    if (lock_token_ != 0 && held != state_->locks.end() && held->second == lock_token_) {
      state_->locks.erase(held);
    }
  }

  int write(std::uint64_t offset, const iovec *buffers, int buffer_count, bool flush) override {
    std::lock_guard lock(state_->mutex);
    ++state_->counters.writes;
    if (stale()) return -EIO;
    if (read_only_) return -EBADF;
    if (buffer_count < 0 || (direct_ && !aligned_for_direct(offset, buffers, buffer_count))) {
      return -EINVAL;
    }
    std::uint64_t total = 0;
    for (int i = 0; i < buffer_count; ++i) total += buffers[i].iov_len;
    const FaultHit hit = state_->take_fault(SimOp::write, path_);
    if (hit.crash) {
      // Power fails while the write is in the disk's cache: it is there, unflushed, and crashes.
      store(offset, buffers, buffer_count, total);
      return state_->crash_point(hit);
    }
    if (hit.error != 0 && !hit.short_write) return hit.error;
    const std::uint64_t kept = hit.short_write ? short_prefix(offset, total) : total;
    if (!state_->fits(*inode_, offset + kept)) {
      ++state_->counters.faults_injected;
      return -ENOSPC;
    }
    store(offset, buffers, buffer_count, kept);
    if (hit.short_write) return hit.error;
    return flush ? state_->flush_file(*inode_, path_) : 0;
  }

  int flush() override {
    std::lock_guard lock(state_->mutex);
    if (stale()) {
      ++state_->counters.flushes;
      return -EIO;
    }
    return state_->flush_file(*inode_, path_);
  }

  long read(std::uint64_t offset, void *buffer, std::size_t bytes) override {
    std::lock_guard lock(state_->mutex);
    ++state_->counters.reads;
    if (stale()) return -EIO;
    const iovec target{buffer, bytes};
    if (direct_ && !aligned_for_direct(offset, &target, 1)) return -EINVAL;
    if (const FaultHit hit = state_->take_fault(SimOp::read, path_); hit.error != 0) {
      return hit.crash ? state_->crash_point(hit) : hit.error;
    }
    const std::vector<std::byte> &content = inode_->live;
    if (offset >= content.size()) return 0;
    const std::size_t got = std::min<std::uint64_t>(bytes, content.size() - offset);
    std::memcpy(buffer, content.data() + offset, got);
    state_->counters.bytes_read += got;
    return static_cast<long>(got);
  }

  int allocate(std::uint64_t bytes) override {
    std::lock_guard lock(state_->mutex);
    ++state_->counters.allocates;
    if (stale()) return -EIO;
    if (read_only_) return -EBADF;
    if (const FaultHit hit = state_->take_fault(SimOp::allocate, path_); hit.error != 0) {
      return hit.crash ? state_->crash_point(hit) : hit.error;
    }
    if (bytes <= inode_->live.size()) return 0;
    if (!state_->fits(*inode_, bytes)) {
      ++state_->counters.faults_injected;
      return -ENOSPC;
    }
    inode_->live.resize(bytes);
    inode_->unflushed.push_back({bytes, {}, true});
    return 0;
  }

  long long size() override {
    std::lock_guard lock(state_->mutex);
    if (stale()) return -EIO;
    return static_cast<long long>(inode_->live.size());
  }

  bool direct() const override { return direct_; }

 private:
  bool stale() const { return epoch_ != state_->epoch; }

  /// A short write's length: up to a sector boundary (or nothing), never the whole write.
  std::uint64_t short_prefix(std::uint64_t offset, std::uint64_t total) {
    const std::uint64_t k =
        next_random(state_->random) % (inner_sector_boundaries(offset, total) + 1);
    return prefix_end(offset, total, k) - offset;
  }

  /// Stores the first `bytes` of the buffers at `offset` as one unflushed write.
  void store(std::uint64_t offset, const iovec *buffers, int buffer_count, std::uint64_t bytes) {
    UnflushedOp op{offset, {}, false};
    op.bytes.reserve(bytes);
    for (int i = 0; i < buffer_count && op.bytes.size() < bytes; ++i) {
      const auto *first = static_cast<const std::byte *>(buffers[i].iov_base);
      const std::size_t take = std::min<std::uint64_t>(buffers[i].iov_len, bytes - op.bytes.size());
      op.bytes.insert(op.bytes.end(), first, first + take);
    }
    state_->counters.bytes_written += bytes;
    if (bytes == 0) return;
    apply_op(inode_->live, op);
    inode_->unflushed.push_back(std::move(op));
  }

  std::shared_ptr<SimVfs::State> state_;
  std::shared_ptr<Inode> inode_;
  std::string path_;          // normalized, as opened (faults match it)
  std::uint64_t epoch_;       // the state's epoch at open
  std::uint64_t lock_token_;  // non-zero: this file holds the lock of path_
  bool direct_;
  bool read_only_;
};

}  // namespace

SimVfs::SimVfs(std::uint64_t seed) : state_(std::make_shared<State>(seed)) {}

SimVfs::~SimVfs() = default;

int SimVfs::open(const std::string &path, OpenFlags flags, std::unique_ptr<VfsFile> &out) {
  std::unique_ptr<VfsFile> opened;
  {
    std::lock_guard lock(state_->mutex);
    ++state_->counters.opens;
    const std::string normalized = normalize(path);
    if (const FaultHit hit = state_->take_fault(SimOp::open, normalized); hit.error != 0) {
      return hit.crash ? state_->crash_point(hit) : hit.error;
    }
    if (flags.direct && !state_->direct_io_supported) return -EINVAL;
    std::shared_ptr<Inode> inode;
    if (const int found = state_->find_file(normalized, flags.create, inode); found != 0) {
      return found;
    }
    opened = std::make_unique<SimFile>(state_, std::move(inode), normalized, flags, 0);
  }
  // Outside the lock: replacing `out` may close a file of this SimVfs, which takes the lock.
  out = std::move(opened);
  return 0;
}

int SimVfs::list(const std::string &dir, std::vector<std::string> &names) {
  std::lock_guard lock(state_->mutex);
  ++state_->counters.lists;
  const std::string normalized = normalize(dir);
  if (!is_directory(state_->live, normalized)) {
    return state_->live.count(normalized) != 0 ? -ENOTDIR : -ENOENT;
  }
  names.clear();
  for (const auto &[path, entry] : state_->live) {
    if (parent_of(path) == normalized) names.push_back(base_name(path));
  }
  return 0;
}

int SimVfs::remove(const std::string &path) {
  std::lock_guard lock(state_->mutex);
  ++state_->counters.removes;
  const std::string normalized = normalize(path);
  if (normalized == "/") return -EISDIR;
  const auto found = state_->live.find(normalized);
  if (found == state_->live.end()) return -ENOENT;
  if (found->second.directory) return -EISDIR;
  state_->live.erase(found);
  return 0;
}

int SimVfs::rename(const std::string &from, const std::string &to) {
  std::lock_guard lock(state_->mutex);
  ++state_->counters.renames;
  const std::string source = normalize(from);
  const std::string target = normalize(to);
  const auto found = state_->live.find(source);
  if (found == state_->live.end()) return source == "/" ? -EBUSY : -ENOENT;
  if (found->second.directory) return -ENOTSUP;
  if (const int parent = check_parent(state_->live, target); parent != 0) return parent;
  if (is_directory(state_->live, target)) return -EISDIR;
  if (source == target) return 0;
  Entry moved = found->second;
  state_->live.erase(found);
  state_->live[target] = std::move(moved);
  return 0;
}

int SimVfs::make_dir(const std::string &path) {
  std::lock_guard lock(state_->mutex);
  ++state_->counters.make_dirs;
  const std::string normalized = normalize(path);
  if (is_directory(state_->live, normalized)) return 0;
  if (state_->live.count(normalized) != 0) return -EEXIST;
  if (const int parent = check_parent(state_->live, normalized); parent != 0) return parent;
  state_->live.emplace(normalized, Entry{true, nullptr});
  return 0;
}

int SimVfs::remove_dir(const std::string &path) {
  std::lock_guard lock(state_->mutex);
  ++state_->counters.removes;
  const std::string normalized = normalize(path);
  if (normalized == "/") return -EBUSY;
  const auto found = state_->live.find(normalized);
  if (found == state_->live.end()) return -ENOENT;
  if (!found->second.directory) return -ENOTDIR;
  for (const auto &[other, entry] : state_->live) {
    if (other != "/" && parent_of(other) == normalized) return -ENOTEMPTY;
  }
  state_->live.erase(found);
  return 0;
}

int SimVfs::sync_dir(const std::string &dir) {
  std::lock_guard lock(state_->mutex);
  ++state_->counters.sync_dirs;
  const std::string normalized = normalize(dir);
  if (const FaultHit hit = state_->take_fault(SimOp::sync_dir, normalized); hit.error != 0) {
    return hit.crash ? state_->crash_point(hit) : hit.error;
  }
  if (!is_directory(state_->live, normalized)) {
    return state_->live.count(normalized) != 0 ? -ENOTDIR : -ENOENT;
  }
  std::erase_if(state_->durable,
                [&](const auto &item) { return parent_of(item.first) == normalized; });
  for (const auto &[path, entry] : state_->live) {
    if (path != "/" && parent_of(path) == normalized) state_->durable[path] = entry;
  }
  return 0;
}

int SimVfs::lock(const std::string &path, std::unique_ptr<VfsFile> &out) {
  std::unique_ptr<VfsFile> locked;
  {
    std::lock_guard lock(state_->mutex);
    ++state_->counters.locks;
    const std::string normalized = normalize(path);
    std::shared_ptr<Inode> inode;
    if (const int found = state_->find_file(normalized, true, inode); found != 0) return found;
    if (state_->locks.count(normalized) != 0) return -EWOULDBLOCK;
    const std::uint64_t token = state_->next_lock_token++;
    state_->locks[normalized] = token;
    locked = std::make_unique<SimFile>(state_, std::move(inode), normalized, OpenFlags{}, token);
  }
  out = std::move(locked);  // outside the lock, as in open()
  return 0;
}

void SimVfs::inject(const SimFault &fault) {
  std::lock_guard lock(state_->mutex);
  assert(fault.nth >= 1 && fault.error < 0);
  ArmedFault armed{fault, std::max<std::uint64_t>(fault.nth, 1)};
  if (!armed.fault.path.empty()) armed.fault.path = normalize(armed.fault.path);
  state_->faults.push_back(std::move(armed));
}

void SimVfs::fail_write(std::uint64_t nth, int error, bool and_after) {
  inject({SimOp::write, nth, error, and_after, false, {}});
}

void SimVfs::fail_flush(std::uint64_t nth, int error, bool and_after) {
  inject({SimOp::flush, nth, error, and_after, false, {}});
}

void SimVfs::fail_read(std::uint64_t nth, int error, bool and_after) {
  inject({SimOp::read, nth, error, and_after, false, {}});
}

void SimVfs::short_write(std::uint64_t nth, int error) {
  inject({SimOp::write, nth, error, false, true, {}});
}

void SimVfs::crash_at(SimOp op, std::uint64_t nth, std::uint64_t seed, SimCrashMode mode,
                      const std::string &path) {
  SimFault fault{op, nth, -EIO, false, false, path};
  fault.crash = true;
  fault.crash_seed = seed;
  fault.crash_mode = mode;
  inject(fault);
}

void SimVfs::clear_faults() {
  std::lock_guard lock(state_->mutex);
  state_->faults.clear();
}

void SimVfs::set_capacity(std::uint64_t bytes) {
  std::lock_guard lock(state_->mutex);
  state_->capacity_bytes = bytes;
}

std::uint64_t SimVfs::used_bytes() const {
  std::lock_guard lock(state_->mutex);
  return state_->used_bytes();
}

void SimVfs::set_direct_io_supported(bool supported) {
  std::lock_guard lock(state_->mutex);
  state_->direct_io_supported = supported;
}

int SimVfs::flip_bit(const std::string &path, std::uint64_t offset, int bit) {
  std::lock_guard lock(state_->mutex);
  if (bit < 0 || bit > 7) return -EINVAL;
  std::shared_ptr<Inode> inode;
  if (const int found = state_->find_file(normalize(path), false, inode); found != 0) return found;
  if (offset >= inode->live.size()) return -EINVAL;
  const auto mask = static_cast<std::byte>(1u << bit);
  inode->live[offset] ^= mask;
  if (offset < inode->durable.size()) inode->durable[offset] ^= mask;
  // The byte is bad wherever it is about to be written from, too (a flush must not heal it).
  for (UnflushedOp &op : inode->unflushed) {
    if (!op.extend && offset >= op.offset && offset < op.offset + op.bytes.size()) {
      op.bytes[offset - op.offset] ^= mask;
    }
  }
  return 0;
}

void SimVfs::crash(std::uint64_t seed, SimCrashMode mode) {
  std::lock_guard lock(state_->mutex);
  state_->crash(seed, mode);
}

SimCounters SimVfs::counters() const {
  std::lock_guard lock(state_->mutex);
  return state_->counters;
}

int SimVfs::contents(const std::string &path, std::vector<std::byte> &out) const {
  std::lock_guard lock(state_->mutex);
  std::shared_ptr<Inode> inode;
  if (const int found = state_->find_file(normalize(path), false, inode); found != 0) return found;
  out = inode->live;
  return 0;
}

int SimVfs::durable_contents(const std::string &path, std::vector<std::byte> &out) const {
  std::lock_guard lock(state_->mutex);
  std::shared_ptr<Inode> inode;
  if (const int found = state_->find_file(normalize(path), false, inode); found != 0) return found;
  out = inode->durable;
  return 0;
}

bool SimVfs::exists(const std::string &path) const {
  std::lock_guard lock(state_->mutex);
  const std::string normalized = normalize(path);
  return normalized == "/" || state_->live.count(normalized) != 0;
}

}  // namespace corq::wal
