// engine/durability/stream_records.hpp — the engine log's records about durable streams
// (records.hpp lists their layout): declarations and deletions. The streams' records themselves
// live in a log of each stream's own (stream/stream_log.hpp).
#pragma once

#include "options/options.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
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

}  // namespace corq::core::records
