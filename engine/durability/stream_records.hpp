// engine/durability/stream_records.hpp — the engine log's records about durable streams
// (records.hpp lists their layout): declarations and deletions. The streams' records themselves
// live in a log of each stream's own (stream/stream_log.hpp).
#pragma once

#include "options/options.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corq::core::records {

/// declare_stream: u32 sid, str16 name, str32 options.
void encode_stream_declare(std::vector<std::byte> &out, std::uint32_t sid, const std::string &name,
                           const StreamOptions &options);
/// False with `error` for a record that does not decode or options that do not parse.
bool decode_stream_declare(std::span<const std::byte> in, std::uint32_t &sid, std::string &name,
                           StreamOptions &options, std::string &error);

/// delete_stream: u32 sid.
void encode_stream_delete(std::vector<std::byte> &out, std::uint32_t sid);

/// declare_group: u32 sid, str16 group, str32 options.
void encode_group_declare(std::vector<std::byte> &out, std::uint32_t sid, const std::string &group,
                          const GroupOptions &options);
bool decode_group_declare(std::span<const std::byte> in, std::uint32_t &sid, std::string &group,
                          GroupOptions &options, std::string &error);
/// delete_group: u32 sid, str16 group.
void encode_group_delete(std::vector<std::byte> &out, std::uint32_t sid, const std::string &group);

/// group_progress's kinds (records.hpp).
enum class Progress : std::uint8_t {
  settle = 0,
  reset = 1,
  failed = 2,
  snapshot_committed = 3,
  snapshot_settled = 4,
  snapshot_failed = 5
};
struct GroupProgress {
  std::uint32_t sid = 0;
  std::string group;
  Progress kind = Progress::settle;
  std::uint32_t partition = 0;
  std::uint64_t a = 0, b = 0;
  /// A settle's generation (logs before it lacks it: has_generation false).
  std::uint64_t generation = 0;
  bool has_generation = false;
};
/// `generation` (settles only; nullptr: none) goes after b.
void encode_group_progress(std::vector<std::byte> &out, std::uint32_t sid, std::string_view group,
                           Progress kind, std::uint32_t partition, std::uint64_t a, std::uint64_t b,
                           const std::uint64_t *generation = nullptr);
bool decode_group_progress(std::span<const std::byte> in, GroupProgress &out);

}  // namespace corq::core::records
