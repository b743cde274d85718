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

}  // namespace corq::core::records
