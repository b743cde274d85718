// tests/fuzz/fuzz_log_recovery.cpp — the log reader and recovery on arbitrary bytes.
//
// The input is a data directory: segment files on a wal::SimVfs (an in-memory disk), scanned with
// wal::scan_log and replayed record by record into a core::RecoveredState (what the engine does at
// corq_open), and — when the first byte says so — opened as a real engine with
// corq::testing::open_on_vfs, used a little, closed and opened again.
//
// What must hold, whatever the bytes:
//   * scan_log returns 0 or -EBADMSG (with a message naming the file); replay returns 0, -EBADMSG
//     with the record's error, or -ENOMEM; nothing crashes, reads out of bounds or leaks.
//   * corq_open returns 0 or a documented error (CORQ_ECORRUPT, CORQ_EIO, CORQ_ENOSPC,
//     CORQ_ENOMEM, CORQ_EINVAL) with a detail message; an engine that opened works: its queues can
//     be consumed and published to, and after it closes the directory opens again (a log that
//     recovered once recovers again — what it wrote itself is never called corrupt).
//
// Input format: byte 0 = flags (bit 0: also open an engine; bit 1: sync=none; bit 2: fix the
// checksums — see fix_checksums), byte 1 = the first segment id - 1; then the segment files' bytes,
// one after another, separated by `separator` (file k gets the name of segment first_id + k). An
// input that is one real segment file (see make_seeds.cpp) therefore replays a real log.
#include "fuzz_input.hpp"

#include "durability/recovery.hpp"
#include "engine/testing.hpp"

#include <io/sim_vfs.hpp>
#include <log/scanner.hpp>
#include <record/crc32c.hpp>
#include <record/format.hpp>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace corq::fuzz {
namespace {

constexpr const char *dir = "/data";
constexpr std::string_view separator = "\n--CORQ-SEGMENT--\n";
constexpr std::size_t segment_files_max = 4;
constexpr std::size_t messages_per_queue_max = 64;

/// A fuzzer cannot forge CRC32C, so random changes to a record never get past the frame check. With
/// this fix-up the segment header's crc and the crc of every frame (a frame magic at a block
/// boundary, in bounds) are recomputed, and mutated records reach the decoders of recovery.
void fix_checksums(std::string &file) {
  if (file.size() >= sizeof(wal::SegmentHeader)) {
    wal::SegmentHeader header;
    std::memcpy(&header, file.data(), sizeof header);
    header.header_crc = 0;
    header.header_crc = wal::crc32c(0, &header, sizeof header);
    std::memcpy(file.data(), &header, sizeof header);
  }
  constexpr std::size_t crc_from = 8;  // the crc covers the frame from its frame_bytes field on
  for (std::size_t at = wal::block_bytes; at + sizeof(wal::FrameHeader) <= file.size();
       at += wal::block_bytes) {
    wal::FrameHeader frame;
    std::memcpy(&frame, file.data() + at, sizeof frame);
    if (frame.magic != wal::frame_magic || frame.frame_bytes < sizeof frame ||
        frame.frame_bytes > file.size() - at)
      continue;
    frame.crc = wal::crc32c(0, file.data() + at + crc_from, frame.frame_bytes - crc_from);
    std::memcpy(file.data() + at, &frame, sizeof frame);
  }
}

/// Writes the input's segment files into `dir` on `vfs`.
void write_segments(wal::SimVfs &vfs, std::uint64_t first_id, std::string_view files, bool fix) {
  if (vfs.make_dir(dir) != 0) fuzz_fail("make_dir on a fresh SimVfs", -1);
  for (std::size_t k = 0; k < segment_files_max && !files.empty(); ++k) {
    const std::size_t end = files.find(separator);
    std::string bytes(files.substr(0, end));
    if (fix) fix_checksums(bytes);
    files =
        end == std::string_view::npos ? std::string_view() : files.substr(end + separator.size());
    std::unique_ptr<wal::VfsFile> file;
    const std::string path = std::string(dir) + "/" + wal::segment_file_name(first_id + k);
    if (vfs.open(path, wal::OpenFlags{.create = true}, file) != 0) fuzz_fail("SimVfs open", -1);
    iovec buffer{bytes.data(), bytes.size()};
    if (!bytes.empty() && file->write(0, &buffer, 1, true) != 0) fuzz_fail("SimVfs write", -1);
  }
  if (vfs.sync_dir(dir) != 0) fuzz_fail("SimVfs sync_dir", -1);
}

/// The reader and the replay on their own: what corq_open does before it builds queues.
void scan_and_replay(wal::SimVfs &vfs) {
  core::RecoveredState state;
  int replay_rc = 0;
  wal::ScanVisitor visitor;
  visitor.record = [&](const wal::RecoveredRecord &record) {
    replay_rc = state.apply(record);
    return replay_rc;
  };
  wal::ScanResult result;
  const int rc = wal::scan_log(vfs, dir, visitor, result);
  if (replay_rc != 0) {
    if (rc != replay_rc) fuzz_fail("scan_log did not return the visitor's error", rc);
    if (replay_rc != -EBADMSG && replay_rc != -ENOMEM) fuzz_fail("replay: undocumented error", rc);
    if (state.error.empty()) fuzz_fail("replay failed without an error message", rc);
    return;
  }
  if (rc == -EBADMSG) {
    if (result.error.find(".wal") == std::string::npos) fuzz_fail("corruption names no file", rc);
    return;
  }
  if (rc != 0) fuzz_fail("scan_log: undocumented error", rc);
  if (result.tail_segment_id != 0 && result.tail_offset < wal::block_bytes)
    fuzz_fail("scan_log: tail offset inside the segment header", rc);
}

/// Consumes (and acks) what each queue holds, publishes one message to each, reads the stats.
void use_engine(corq_engine *engine) {
  char *json = nullptr;
  expect_rc("corq_stats_json", corq_stats_json(engine, &json), {CORQ_ENOMEM});
  std::string text = json == nullptr ? "" : json;
  corq_free(json);
  // Queue names appear in the JSON as "name":{ ... }; rather than parse it, try the names that
  // the seeds use plus their dead-letter queues.
  for (const char *queue : {"q", "jobs", "q.dlq", "jobs.dlq", "other"}) {
    if (text.find(std::string("\"") + queue + "\"") == std::string::npos) continue;
    corq_consumer *consumer = nullptr;
    if (expect_rc("corq_consumer_open", corq_consumer_open(engine, queue, 16, &consumer),
                  {CORQ_ENOENT, CORQ_EFAILED}) != CORQ_OK)
      continue;
    corq_delivery out[16];
    for (std::size_t taken = 0; taken < messages_per_queue_max;) {
      const int n = corq_consume(consumer, out, 16, 0);
      if (n <= 0) {
        expect_rc("corq_consume", n, {CORQ_EFAILED, CORQ_ENOENT});
        break;
      }
      for (int i = 0; i < n; ++i)
        expect_rc("corq_ack", corq_ack(consumer, out[i].tag), {CORQ_EFAILED});
      taken += static_cast<std::size_t>(n);
    }
    expect_rc("corq_consumer_close", corq_consumer_close(consumer), {});
    corq_message m{};
    m.data = "after recovery";
    m.len = 14;
    corq_publish_options o{};
    o.struct_size = sizeof o;
    o.timeout_ms = 0;
    expect_rc("corq_publish", corq_publish(engine, queue, &m, &o, nullptr),
              {CORQ_EFULL, CORQ_ENOSPC, CORQ_EFAILED, CORQ_ETOOBIG});
  }
  expect_rc("corq_sync", corq_sync(engine, -1), {CORQ_EFAILED});
}

int open_engine(wal::SimVfs &vfs, bool sync_none, corq_engine **engine) {
  corq_config *config = corq_config_new();
  if (config == nullptr) fuzz_fail("corq_config_new", CORQ_ENOMEM);
  expect_rc("config", corq_config_set(config, "segment_bytes", "1MiB"), {});
  expect_rc("config", corq_config_set(config, "clock", "manual"), {});
  if (sync_none) expect_rc("config", corq_config_set(config, "sync", "none"), {});
  const int rc = corq::testing::open_on_vfs(dir, config, &vfs, engine);
  corq_config_free(config);
  return rc;
}

void open_use_and_reopen(wal::SimVfs &vfs, bool sync_none) {
  corq_engine *engine = nullptr;
  const int rc = open_engine(vfs, sync_none, &engine);
  expect_rc("open_on_vfs", rc, {CORQ_ECORRUPT, CORQ_EIO, CORQ_ENOSPC, CORQ_ENOMEM});
  if (rc != CORQ_OK) {
    if (engine != nullptr) fuzz_fail("a failed open set *out", rc);
    if (corq_last_error()[0] == '\0') fuzz_fail("a failed open left no detail", rc);
    return;
  }
  use_engine(engine);
  expect_rc("corq_close", corq_close(engine), {});
  // What the engine wrote itself must recover.
  const int again = open_engine(vfs, sync_none, &engine);
  if (again != CORQ_OK) fuzz_fail("the second open of a log that opened failed", again);
  expect_rc("corq_close", corq_close(engine), {});
}

}  // namespace
}  // namespace corq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace corq::fuzz;
  Input in(data, size);
  const std::uint8_t flags = in.u8();
  const std::uint64_t first_id = std::uint64_t{in.u8()} + 1;
  corq::wal::SimVfs vfs(1);
  write_segments(vfs, first_id, in.rest(), (flags & 4) != 0);
  scan_and_replay(vfs);
  if ((flags & 1) != 0) open_use_and_reopen(vfs, (flags & 2) != 0);
  return 0;
}
