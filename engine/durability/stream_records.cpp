// engine/durability/stream_records.cpp — encoding the engine log's stream records.
#include "durability/stream_records.hpp"

#include "durability/records.hpp"
#include "durability/topology_records.hpp"

namespace corq::core::records {

void encode_stream_declare(std::vector<std::byte> &out, std::uint32_t sid, const std::string &name,
                           const StreamOptions &options) {
  Writer w(out);
  w.u32(sid);
  w.str16(name);
  w.str32(encode_option_lines(stream_options_map(options)));
}

bool decode_stream_declare(std::span<const std::byte> in, std::uint32_t &sid, std::string &name,
                           StreamOptions &options, std::string &error) {
  Reader r(in);
  sid = r.u32();
  name = std::string(r.str16());
  const std::string_view text = r.str32();
  if (!r.ok() || sid == 0) return error = "truncated", false;
  OptionMap map;
  if (!decode_option_lines(text, map)) return error = "option line without '='", false;
  return parse_stream_options(map, true, options, error);
}

void encode_stream_delete(std::vector<std::byte> &out, std::uint32_t sid) {
  Writer w(out);
  w.u32(sid);
}

void encode_group_declare(std::vector<std::byte> &out, std::uint32_t sid, const std::string &group,
                          const GroupOptions &options) {
  Writer w(out);
  w.u32(sid);
  w.str16(group);
  w.str32(encode_option_lines(group_options_map(options)));
}

bool decode_group_declare(std::span<const std::byte> in, std::uint32_t &sid, std::string &group,
                          GroupOptions &options, std::string &error) {
  Reader r(in);
  sid = r.u32();
  group = std::string(r.str16());
  const std::string_view text = r.str32();
  if (!r.ok() || sid == 0) return error = "truncated", false;
  OptionMap map;
  if (!decode_option_lines(text, map)) return error = "option line without '='", false;
  return parse_group_options(map, options, error);
}

void encode_group_delete(std::vector<std::byte> &out, std::uint32_t sid, const std::string &group) {
  Writer w(out);
  w.u32(sid);
  w.str16(group);
}

void encode_group_progress(std::vector<std::byte> &out, std::uint32_t sid, std::string_view group,
                           Progress kind, std::uint32_t partition, std::uint64_t a, std::uint64_t b,
                           const std::uint64_t *generation) {
  Writer w(out);
  w.u32(sid);
  w.str16(group);
  w.u8(static_cast<std::uint8_t>(kind));
  w.u32(partition);
  w.u64(a);
  w.u64(b);
  if (generation != nullptr) w.u64(*generation);
}

bool decode_group_progress(std::span<const std::byte> in, GroupProgress &out) {
  Reader r(in);
  out.sid = r.u32();
  out.group = std::string(r.str16());
  const std::uint8_t kind = r.u8();
  out.partition = r.u32();
  out.a = r.u64();
  out.b = r.u64();
  if (!r.ok() || kind > 5) return false;
  out.kind = static_cast<Progress>(kind);
  out.has_generation = r.remaining() >= 8;
  out.generation = out.has_generation ? r.u64() : 0;
  return r.ok();
}

}  // namespace corq::core::records
