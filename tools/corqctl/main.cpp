// corqctl — operate a corq data directory from a shell.
//
//   corqctl verify DIR   check every segment header, frame and checksum of the log in DIR
//   corqctl dump DIR     print every frame and record of the log, human-readable
//
// Exit codes: 0 ok; 1 the log is corrupt (the first corruption's file and offset are printed);
// 2 bad usage; 3 the directory cannot be read (missing, permissions, I/O error).
// Both commands only read: they are safe on a directory in use, though they then see a moving tail.
#include "durability/records.hpp"
#include "io/vfs.hpp"
#include "log/scanner.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using namespace corq::wal;

constexpr int exit_ok = 0;
constexpr int exit_corrupt = 1;
constexpr int exit_usage = 2;
constexpr int exit_unreadable = 3;

void usage(std::FILE *to) {
  std::fputs(
      "usage: corqctl <command> [args]\n"
      "\n"
      "commands:\n"
      "  verify DIR   check every checksum of the write-ahead log in DIR\n"
      "  dump DIR     print the log's frames and records\n"
      "  help         this text\n"
      "\n"
      "exit codes: 0 ok, 1 corrupt log, 2 bad usage, 3 directory unreadable\n",
      to);
}

int report_scan_error(int rc, const ScanResult &result, const std::string &dir) {
  if (rc == -EBADMSG) {
    std::fprintf(stderr, "corqctl: %s: CORRUPT: %s\n", dir.c_str(), result.error.c_str());
    return exit_corrupt;
  }
  std::fprintf(stderr, "corqctl: %s: cannot read: %s\n", dir.c_str(), std::strerror(-rc));
  return exit_unreadable;
}

int verify(const std::string &dir) {
  const auto vfs = make_psync_vfs();
  std::uint64_t records = 0, frames = 0;
  ScanVisitor visitor;
  visitor.record = [&](const RecoveredRecord &) { return ++records, 0; };
  visitor.frame = [&](const FrameInfo &) { ++frames; };
  ScanResult result;
  if (const int rc = scan_log(*vfs, dir, visitor, result); rc != 0)
    return report_scan_error(rc, result, dir);
  std::printf(
      "%s: ok: %zu segments, %llu frames, %llu records, last lsn %llu%s\n", dir.c_str(),
      result.segments.size(), static_cast<unsigned long long>(frames),
      static_cast<unsigned long long>(records), static_cast<unsigned long long>(result.last_lsn),
      result.torn_tail ? " (torn tail: an unconfirmed last write will be cut off at open)" : "");
  return exit_ok;
}

int dump(const std::string &dir) {
  const auto vfs = make_psync_vfs();
  ScanVisitor visitor;
  visitor.frame = [](const FrameInfo &f) {
    std::printf("frame segment=%llu offset=%llu bytes=%u records=%u first_lsn=%llu\n",
                static_cast<unsigned long long>(f.segment_id),
                static_cast<unsigned long long>(f.offset), f.frame_bytes, f.record_count,
                static_cast<unsigned long long>(f.first_lsn));
  };
  visitor.record = [](const RecoveredRecord &r) {
    // The engine's records, decoded (durability/records.hpp): queue ids, message ids, headers.
    std::printf("  lsn=%llu bytes=%zu %s\n", static_cast<unsigned long long>(r.lsn),
                r.payload.size(), corq::core::records::describe(r.type, r.payload).c_str());
    return 0;
  };
  ScanResult result;
  if (const int rc = scan_log(*vfs, dir, visitor, result); rc != 0)
    return report_scan_error(rc, result, dir);
  std::printf("end: last lsn %llu, next write at segment %llu offset %llu%s\n",
              static_cast<unsigned long long>(result.last_lsn),
              static_cast<unsigned long long>(result.tail_segment_id),
              static_cast<unsigned long long>(result.tail_offset),
              result.torn_tail ? " (torn tail)" : "");
  return exit_ok;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return exit_usage;
  }
  const std::string_view command = argv[1];
  if (command == "help" || command == "--help" || command == "-h") {
    usage(stdout);
    return exit_ok;
  }
  if ((command == "verify" || command == "dump") && argc == 3 &&
      std::string_view(argv[2]) != "--help") {
    return command == "verify" ? verify(argv[2]) : dump(argv[2]);
  }
  if ((command == "verify" || command == "dump") && argc == 3) {
    std::printf("usage: corqctl %s DIR\n", argv[1]);
    return exit_ok;
  }
  std::fprintf(stderr, "corqctl: unknown command or wrong arguments: '%s'\n\n", argv[1]);
  usage(stderr);
  return exit_usage;
}
