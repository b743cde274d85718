// engine/durability/records.cpp — names and human-readable forms of the engine's log records.
#include "durability/records.hpp"

// GCC 12 reports false -Wrestrict overlaps inside std::string appends here (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

namespace corq::core::records {

const char *type_name(std::uint8_t type) noexcept {
  switch (type) {
    case declare: return "declare";
    case remove_queue: return "delete";
    case publish: return "publish";
    case remove: return "remove";
    case deliver: return "deliver";
    case retry: return "retry";
    case dead_letter: return "dead_letter";
    case redrive: return "redrive";
    case checkpoint: return "checkpoint";
    case dedup: return "dedup";
    case publish_fanout: return "publish_fanout";
    case declare_exchange: return "declare_exchange";
    case delete_exchange: return "delete_exchange";
    case bind: return "bind";
    case unbind: return "unbind";
    case publish_priority: return "publish_priority";
    case publish_fanout_priority: return "publish_fanout_priority";
    case declare_stream: return "declare_stream";
    case delete_stream: return "delete_stream";
    case declare_group: return "declare_group";
    case delete_group: return "delete_group";
    case group_progress: return "group_progress";
    case txn_append: return "txn_append";
    case txn_applied: return "txn_applied";
    case txn_commit: return "txn_commit";
    default: return "unknown";
  }
}

namespace {

std::string printable(std::string_view s, std::size_t max = 64) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

void id_list(Reader &r, std::string &out) {
  const std::uint32_t n = r.u32();
  out += " n=" + std::to_string(n) + " ids=[";
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    if (i == 16) {
      out += ",...";
      break;
    }
    if (i != 0) out += ',';
    out += std::to_string(r.u64());
  }
  out += ']';
}

/// The end both publish records share: dedup id, headers, payload.
void message_rest(Reader &r, std::string &out) {
  const std::string_view dedup_id = r.str16();
  if (!dedup_id.empty()) out += " dedup_id=\"" + printable(dedup_id) + "\"";
  const std::uint16_t headers = r.u16();
  for (std::uint16_t i = 0; i < headers && r.ok(); ++i) {
    const std::string_view key = r.str16();
    const std::string_view value = r.str32();
    out += " " + printable(key) + "=\"" + printable(value) + "\"";
  }
  const auto body = r.rest();
  out += " payload_bytes=" + std::to_string(body.size());
  out += " payload=\"" + printable({reinterpret_cast<const char *>(body.data()), body.size()}, 32) +
         "\"";
}

}  // namespace

std::string describe(std::uint8_t type, std::span<const std::byte> payload) {
  Reader r(payload);
  std::string out = type_name(type);
  if (type == publish_priority || type == publish_fanout_priority) {
    // A priority, then the fields of the record without one.
    out += " priority=" + std::to_string(r.u8());
    type = type == publish_priority ? publish : publish_fanout;
  }
  switch (type) {
    case declare: {
      out += " qid=" + std::to_string(r.u32());
      out += " name=" + printable(r.str16());
      std::string options(r.str32());
      for (char &c : options) c = c == '\n' ? ' ' : c;
      out += " options=\"" + printable(options, 400) + "\"";
      break;
    }
    case remove_queue: out += " qid=" + std::to_string(r.u32()); break;
    case publish: {
      out += " qid=" + std::to_string(r.u32());
      out += " id=" + std::to_string(r.u64());
      out += " published_at_ms=" + std::to_string(r.i64());
      out += " expires_at_ms=" + std::to_string(r.i64());
      out += " due_ms=" + std::to_string(r.i64());
      out += " delivery_count=" + std::to_string(r.u32());
      out += " failed_attempts=" + std::to_string(r.u32());
      message_rest(r, out);
      break;
    }
    case publish_fanout: {
      out += " id=" + std::to_string(r.u64());
      const std::uint16_t n = r.u16();
      out += " queues=[";
      for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        if (i != 0) out += ',';
        out += std::to_string(r.u32());
        out += ":expires_at_ms=" + std::to_string(r.i64());
      }
      out += ']';
      out += " published_at_ms=" + std::to_string(r.i64());
      out += " due_ms=" + std::to_string(r.i64());
      message_rest(r, out);
      break;
    }
    case remove:
    case deliver:
      out += " qid=" + std::to_string(r.u32());
      id_list(r, out);
      break;
    case retry:
      out += " qid=" + std::to_string(r.u32());
      out += " id=" + std::to_string(r.u64());
      out += " failed_attempts=" + std::to_string(r.u32());
      out += " due_ms=" + std::to_string(r.i64());
      break;
    case dead_letter:
      out += " from_qid=" + std::to_string(r.u32());
      out += " to_qid=" + std::to_string(r.u32());
      out += " id=" + std::to_string(r.u64());
      out += " time_ms=" + std::to_string(r.i64());
      out += " expires_at_ms=" + std::to_string(r.i64());
      out += " reason=" + printable(r.str16());
      out += " origin=" + printable(r.str16());
      out += " detail=\"" + printable(r.str16()) + "\"";
      break;
    case redrive:
      out += " from_qid=" + std::to_string(r.u32());
      out += " to_qid=" + std::to_string(r.u32());
      out += " id=" + std::to_string(r.u64());
      out += " expires_at_ms=" + std::to_string(r.i64());
      break;
    case checkpoint:
      out += " next_message_id=" + std::to_string(r.u64());
      out += " next_qid=" + std::to_string(r.u32());
      if (r.remaining() >= 4) out += " next_xid=" + std::to_string(r.u32());
      if (r.remaining() >= 4) out += " next_sid=" + std::to_string(r.u32());
      if (r.remaining() >= 32) {
        out += " txn_committed=" + std::to_string(r.u64());
        out += " txn_aborted=" + std::to_string(r.u64());
        out += " txn_failed=" + std::to_string(r.u64());
        out += " txn_counted_through=" + std::to_string(r.u64());
      }
      break;
    case declare_exchange: {
      out += " xid=" + std::to_string(r.u32());
      out += " name=" + printable(r.str16());
      out += " type=" + std::to_string(r.u8());
      std::string options(r.str32());
      for (char &c : options) c = c == '\n' ? ' ' : c;
      out += " options=\"" + printable(options, 400) + "\"";
      break;
    }
    case delete_exchange: out += " xid=" + std::to_string(r.u32()); break;
    case declare_stream: {
      out += " sid=" + std::to_string(r.u32());
      out += " name=" + printable(r.str16());
      std::string options(r.str32());
      for (char &c : options) c = c == '\n' ? ' ' : c;
      out += " options=\"" + printable(options, 400) + "\"";
      break;
    }
    case delete_stream: out += " sid=" + std::to_string(r.u32()); break;
    case declare_group: {
      out += " sid=" + std::to_string(r.u32());
      out += " group=" + printable(r.str16());
      std::string options(r.str32());
      for (char &c : options) c = c == '\n' ? ' ' : c;
      out += " options=\"" + printable(options, 400) + "\"";
      break;
    }
    case delete_group:
      out += " sid=" + std::to_string(r.u32());
      out += " group=" + printable(r.str16());
      break;
    case group_progress: {
      out += " sid=" + std::to_string(r.u32());
      out += " group=" + printable(r.str16());
      const std::uint8_t kind = r.u8();
      out += " partition=" + std::to_string(r.u32());
      const std::uint64_t a = r.u64(), b = r.u64();
      if (kind == 0) {
        out += " settled=" + std::to_string(a) + " committed=" + std::to_string(b);
        if (r.remaining() >= 8) out += " generation=" + std::to_string(r.u64());
      } else if (kind == 1) {
        out += " reset committed=" + std::to_string(a) + " generation=" + std::to_string(b);
      } else if (kind == 2) {
        out += " offset=" + std::to_string(a) + " failed=" + std::to_string(b);
      } else if (kind == 3) {
        out += " copy committed=" + std::to_string(a) + " generation=" + std::to_string(b);
      } else if (kind == 4) {
        out += " copy settled=" + std::to_string(a) + " generation=" + std::to_string(b);
      } else {
        out += " copy offset=" + std::to_string(a) + " failed=" + std::to_string(b & 255) +
               " generation=" + std::to_string(b >> 8);
      }
      break;
    }
    case txn_append: {
      out += " txn=" + std::to_string(r.u64());
      out += " sid=" + std::to_string(r.u32());
      out += " partition=" + std::to_string(r.u32());
      const std::uint32_t key = r.u32();
      if (key != 0) {
        out += " key=\"" + printable(r.take_view(key - 1)) + "\"";
      }
      const std::string_view dedup_id = r.str16();
      if (!dedup_id.empty()) out += " dedup_id=\"" + printable(dedup_id) + "\"";
      out += " headers=" + std::to_string(r.u16());
      break;
    }
    case txn_applied: {
      out += " txn=" + std::to_string(r.u64());
      const std::uint32_t n = r.u32();
      out += " sids=";
      for (std::uint32_t i = 0; i < n && r.ok(); ++i)
        out += (i ? "," : "") + std::to_string(r.u32());
      break;
    }
    case txn_commit: out += " txn=" + std::to_string(r.u64()); break;
    case bind:
    case unbind: {
      out += " source_xid=" + std::to_string(r.u32());
      out += r.u8() == 0 ? " queue_qid=" : " exchange_xid=";
      out += std::to_string(r.u32());
      out += " key=\"" + printable(r.str16()) + "\"";
      const std::uint16_t n = r.u16();
      for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        out += " " + printable(r.str16());
        const bool has_value = r.u8() != 0;
        const std::string_view value = r.str32();
        out += has_value ? "=\"" + printable(value) + "\"" : std::string("(present)");
      }
      break;
    }
    case dedup: {
      out += " qid=" + std::to_string(r.u32());
      const std::uint32_t n = r.u32();
      out += " n=" + std::to_string(n);
      for (std::uint32_t i = 0; i < n && i < 8 && r.ok(); ++i) {
        const std::uint64_t id = r.u64();
        r.i64();
        out += " " + printable(r.str16()) + "->" + std::to_string(id);
      }
      break;
    }
    default: out += " type=" + std::to_string(type); return out;
  }
  if (!r.ok()) out += " (TRUNCATED)";
  return out;
}

}  // namespace corq::core::records
