// engine/durability/topology_records.hpp — the log records of durable exchanges and bindings
// (records.hpp lists their layout): encoding for the engine and its checkpoints, decoding for
// recovery.
#pragma once

#include "options/options.hpp"
#include "routing/binding_argument.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace corq::core::records {

/// A bind or unbind record's content.
struct Binding {
  std::uint32_t source_xid = 0;
  bool to_exchange = false;          // the destination is an exchange (else a queue)
  std::uint32_t destination_id = 0;  // its xid or qid
  std::string key;
  std::vector<routing::OwnedArgument> arguments;
};

void encode_exchange_declare(std::vector<std::byte> &out, std::uint32_t xid, std::string_view name,
                             std::uint8_t type, const ExchangeOptions &options);
/// The arguments are written sorted: the same binding always encodes to the same bytes.
void encode_binding(std::vector<std::byte> &out, const Binding &binding);

/// False when the bytes do not decode (a format mismatch: reported as corruption).
bool decode_exchange_declare(std::span<const std::byte> in, std::uint32_t &xid, std::string &name,
                             std::uint8_t &type, ExchangeOptions &options, std::string &error);
bool decode_binding(std::span<const std::byte> in, Binding &out);

/// "key=value\n"... for declaration records, and back.
std::string encode_option_lines(const OptionMap &map);
bool decode_option_lines(std::string_view text, OptionMap &out);

}  // namespace corq::core::records
