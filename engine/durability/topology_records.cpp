// engine/durability/topology_records.cpp — see topology_records.hpp.
#include "durability/topology_records.hpp"

#include "durability/records.hpp"

#include <algorithm>

namespace corq::core::records {

std::string encode_option_lines(const OptionMap &map) {
  std::string text;
  for (const auto &[key, value] : map) text += key + "=" + value + "\n";
  return text;
}

bool decode_option_lines(std::string_view text, OptionMap &out) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return false;
    out.insert_or_assign(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    start = end + 1;
  }
  return true;
}

void encode_exchange_declare(std::vector<std::byte> &out, std::uint32_t xid, std::string_view name,
                             std::uint8_t type, const ExchangeOptions &options) {
  Writer w(out);
  w.u32(xid);
  w.str16(name);
  w.u8(type);
  w.str32(encode_option_lines(exchange_options_map(options)));
}

bool decode_exchange_declare(std::span<const std::byte> in, std::uint32_t &xid, std::string &name,
                             std::uint8_t &type, ExchangeOptions &options, std::string &error) {
  Reader r(in);
  xid = r.u32();
  name = std::string(r.str16());
  type = r.u8();
  const std::string_view text = r.str32();
  if (!r.ok() || xid == 0) return error = "truncated", false;
  OptionMap map;
  if (!decode_option_lines(text, map)) return error = "option line without '='", false;
  return parse_exchange_options(map, true, options, error);
}

void encode_binding(std::vector<std::byte> &out, const Binding &binding) {
  std::vector<const routing::OwnedArgument *> sorted;
  for (const auto &a : binding.arguments) sorted.push_back(&a);
  std::sort(sorted.begin(), sorted.end(), [](auto *a, auto *b) { return *a < *b; });
  Writer w(out);
  w.u32(binding.source_xid);
  w.u8(binding.to_exchange ? 1 : 0);
  w.u32(binding.destination_id);
  w.str16(binding.key);
  w.u16(static_cast<std::uint16_t>(sorted.size()));
  for (const routing::OwnedArgument *a : sorted) {
    w.str16(a->key);
    w.u8(a->has_value ? 1 : 0);
    w.str32(a->value);
  }
}

bool decode_binding(std::span<const std::byte> in, Binding &out) {
  Reader r(in);
  out.source_xid = r.u32();
  out.to_exchange = r.u8() != 0;
  out.destination_id = r.u32();
  out.key = std::string(r.str16());
  const std::uint16_t n = r.u16();
  out.arguments.clear();
  for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
    routing::OwnedArgument a;
    a.key = std::string(r.str16());
    a.has_value = r.u8() != 0;
    a.value = std::string(r.str32());
    out.arguments.push_back(std::move(a));
  }
  return r.ok() && r.remaining() == 0;
}

}  // namespace corq::core::records
