// engine/queue/message.cpp — building, copying and freeing message blocks.
#include "queue/message.hpp"

#include "options/options.hpp"
#include "queue/block_cache.hpp"

#include <mimalloc.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace corq::core {
namespace {

// Blocks of up to block_cache::block_bytes are recycled through block_cache (see there); bigger
// ones come from mimalloc (per-thread heaps; blocks freed by the consumer's thread go back to the
// producer's heap without a global lock). Sanitizer builds use the C allocator instead, which ASan
// and TSan intercept: they can then see use-after-free in message memory, and the reuse of a block
// across threads (mimalloc synchronizes that in code TSan cannot see).
#if defined(CORQ_SYSTEM_ALLOCATOR)
void *allocate_large(std::size_t bytes) noexcept { return std::malloc(bytes); }
void free_large(void *block) noexcept { std::free(block); }
#else
void *allocate_large(std::size_t bytes) noexcept { return mi_malloc(bytes); }
void free_large(void *block) noexcept { mi_free(block); }
#endif

/// memcpy, but payloads of 8 to 16 bytes (ids, counters, small events) are copied inline as two
/// overlapping 8-byte moves instead of through a call into libc (about 20 instructions each).
inline void copy_payload(std::byte *to, const void *from, std::size_t len) noexcept {
  if (len >= 8 && len <= 16) {
    const auto *src = static_cast<const std::byte *>(from);
    std::memcpy(to, src, 8);
    std::memcpy(to + len - 8, src + len - 8, 8);
  } else if (len != 0) {
    std::memcpy(to, from, len);
  }
}

/// A block for `bytes` of message: the cache's fixed size when it fits. free_message finds the
/// way back from the message's own block_bytes(), which is the `bytes` asked for here.
void *allocate_block(std::size_t bytes) noexcept {
  if (bytes <= block_cache::block_bytes) [[likely]]
    return block_cache::take_from<0>();
  if (bytes <= block_cache::wide_block_bytes) return block_cache::take_from<1>();
  return allocate_large(bytes);
}

/// Gives a block of `bytes` back where allocate_block took it from.
void free_block(void *block, std::size_t bytes) noexcept {
  if (bytes <= block_cache::block_bytes) [[likely]] {
    block_cache::give_to<0>(block);
  } else if (bytes <= block_cache::wide_block_bytes) {
    block_cache::give_to<1>(block);
  } else {
    free_large(block);
  }
}

constexpr std::string_view death_prefix = "x-death-";

/// The first bytes of a shared body's block, where an owned block has its Message: the number of
/// Messages pointing at it and the block's size. The rest of the block is unchanged (headers at
/// sizeof(Message), payload at the copies' payload_offset).
struct SharedBody {
  std::atomic<std::uint32_t> references;
  std::uint32_t block_bytes;
};
static_assert(sizeof(SharedBody) <= sizeof(Message));

SharedBody *shared_body_of(const Message &m) noexcept {
  return reinterpret_cast<SharedBody *>(const_cast<std::byte *>(m.body()));
}

/// A Message block pointing at `body`, with `fields`' id, times, counts and layout.
Message *make_shared_copy(const Message &fields, std::byte *body) noexcept {
  auto *block = static_cast<std::byte *>(allocate_block(sizeof(Message) + sizeof(void *)));
  if (block == nullptr) return nullptr;
  auto *copy = ::new (block) Message(fields);
  copy->next = nullptr;
  copy->flags = static_cast<std::uint16_t>(copy->flags | Message::shared_body);
  std::memcpy(block + sizeof(Message), &body, sizeof body);
  return copy;
}

}  // namespace

namespace {

/// Fills a block's header table and header bytes one header at a time, then the payload: the heart
/// of every constructor. open() sizes the block from totals the caller adds up, so no constructor
/// needs a table of views first.
class BlockWriter {
 public:
  /// A block for `header_count` headers whose keys and values take `header_bytes` (keys without
  /// their NULs) and `payload_len` bytes of payload; ids, times and counts zero. False when out of
  /// memory.
  bool open(std::size_t header_count, std::size_t header_bytes, std::size_t payload_len) noexcept {
    const std::size_t payload_offset =
        sizeof(Message) + header_count * sizeof(corq_header) + header_bytes + header_count;
    auto *block = static_cast<std::byte *>(allocate_block(payload_offset + payload_len));
    if (block == nullptr) return false;
    message_ = ::new (block) Message{};
    message_->payload_len = static_cast<std::uint32_t>(payload_len);
    message_->payload_offset = static_cast<std::uint32_t>(payload_offset);
    message_->header_count = static_cast<std::uint16_t>(header_count);
    slot_ = reinterpret_cast<corq_header *>(message_ + 1);
    cursor_ = reinterpret_cast<char *>(slot_ + header_count);
    return true;
  }
  void add(std::string_view key, std::string_view value) noexcept {
    std::memcpy(cursor_, key.data(), key.size());
    cursor_[key.size()] = '\0';
    slot_->key = cursor_;
    cursor_ += key.size() + 1;
    if (!value.empty()) std::memcpy(cursor_, value.data(), value.size());
    slot_->value = cursor_;
    slot_->value_len = value.size();
    cursor_ += value.size();
    ++slot_;
  }
  Message *finish(const void *payload) noexcept {
    copy_payload(reinterpret_cast<std::byte *>(message_) + message_->payload_offset, payload,
                 message_->payload_len);
    return message_;
  }

 private:
  Message *message_ = nullptr;
  corq_header *slot_ = nullptr;
  char *cursor_ = nullptr;
};

}  // namespace

Message *build_message(const HeaderView *headers, std::size_t header_count, const void *payload,
                       std::size_t payload_len) {
  std::size_t header_bytes = 0;
  for (std::size_t i = 0; i < header_count; ++i)
    header_bytes += headers[i].key.size() + headers[i].value.size();
  BlockWriter writer;
  if (!writer.open(header_count, header_bytes, payload_len)) return nullptr;
  for (std::size_t i = 0; i < header_count; ++i) writer.add(headers[i].key, headers[i].value);
  return writer.finish(payload);
}

namespace {

/// A published message's block: its own headers (validated: at most headers_max, keys
/// NUL-terminated), then `extra` (the routing stamp), written straight into the block without a
/// table of views.
Message *build_published(const corq_message &m, const HeaderView *extra,
                         std::size_t extra_count) noexcept {
  std::size_t key_lens[headers_max];
  std::size_t header_bytes = 0;
  for (std::size_t i = 0; i < m.header_count; ++i) {
    key_lens[i] = std::strlen(m.headers[i].key);
    header_bytes += key_lens[i] + m.headers[i].value_len;
  }
  for (std::size_t i = 0; i < extra_count; ++i)
    header_bytes += extra[i].key.size() + extra[i].value.size();
  BlockWriter writer;
  if (!writer.open(m.header_count + extra_count, header_bytes, m.len)) return nullptr;
  for (std::size_t i = 0; i < m.header_count; ++i) {
    writer.add({m.headers[i].key, key_lens[i]},
               {static_cast<const char *>(m.headers[i].value), m.headers[i].value_len});
  }
  for (std::size_t i = 0; i < extra_count; ++i) writer.add(extra[i].key, extra[i].value);
  return writer.finish(m.data);
}

}  // namespace

namespace {

std::string_view value_of(const corq_header &h) {
  return {static_cast<const char *>(h.value), h.value_len};
}

}  // namespace

std::string_view Message::header(std::string_view key, bool &found) const noexcept {
  const corq_header *h = headers();
  for (std::uint32_t i = 0; i < header_count; ++i) {
    if (key == h[i].key) {
      found = true;
      return value_of(h[i]);
    }
  }
  found = false;
  return {};
}

int validate_message(const corq_message &m, std::uint64_t max_message_bytes, const char *&error) {
  if (m.data == nullptr && m.len != 0)
    return error = "message data is NULL but len > 0", CORQ_EINVAL;
  if (m.len > max_message_bytes)
    return error = "message payload exceeds max_message_bytes", CORQ_ETOOBIG;
  if (m.header_count > headers_max) return error = "message has more than 64 headers", CORQ_EINVAL;
  if (m.header_count != 0 && m.headers == nullptr) {
    return error = "message headers is NULL but header_count > 0", CORQ_EINVAL;
  }
  std::size_t header_bytes = 0;
  for (std::size_t i = 0; i < m.header_count; ++i) {
    const corq_header &h = m.headers[i];
    if (h.key == nullptr) return error = "a header key is NULL", CORQ_EINVAL;
    const std::size_t key_len = strnlen(h.key, header_key_bytes_max + 1);
    if (key_len == 0 || key_len > header_key_bytes_max) {
      return error = "a header key is empty or longer than 255 bytes", CORQ_EINVAL;
    }
    if (h.value == nullptr && h.value_len != 0) {
      return error = "a header value is NULL but value_len > 0", CORQ_EINVAL;
    }
    header_bytes += key_len + h.value_len;
  }
  if (header_bytes > max_message_bytes)
    return error = "message headers exceed max_message_bytes", CORQ_ETOOBIG;
  if (m.dedup_id != nullptr) {
    const std::size_t id_len = strnlen(m.dedup_id, dedup_id_bytes_max + 1);
    if (id_len == 0 || id_len > dedup_id_bytes_max) {
      return error = "dedup_id is empty or longer than 255 bytes", CORQ_EINVAL;
    }
  }
  return CORQ_OK;
}

Message *make_message(const corq_message &m, std::uint64_t id, std::int64_t published_at_ms,
                      std::int64_t expires_at_ms) {
  Message *message = nullptr;
  if (m.header_count == 0) {
    // The common case: a header line and the payload, every field written once.
    auto *block = static_cast<std::byte *>(allocate_block(sizeof(Message) + m.len));
    if (block == nullptr) return nullptr;
    message = ::new (block) Message{nullptr,
                                    id,
                                    published_at_ms,
                                    expires_at_ms,
                                    0,
                                    static_cast<std::uint32_t>(m.len),
                                    static_cast<std::uint32_t>(sizeof(Message)),
                                    0,
                                    0,
                                    0,
                                    0,
                                    0};
    copy_payload(block + sizeof(Message), m.data, m.len);
    return message;
  } else {
    message = build_published(m, nullptr, 0);
  }
  if (message == nullptr) return nullptr;
  message->id = id;
  message->published_at_ms = published_at_ms;
  message->expires_at_ms = expires_at_ms;
  return message;
}

Message *make_routed_message(const corq_message &m, const RoutingStamp &stamp, std::uint64_t id,
                             std::int64_t published_at_ms, std::int64_t expires_at_ms) {
  const HeaderView stamp_headers[routing_headers_max] = {{"x-exchange", stamp.exchange},
                                                         {"x-routing-key", stamp.routing_key}};
  Message *message = build_published(m, stamp_headers, routing_headers_max);
  if (message == nullptr) return nullptr;
  message->id = id;
  message->published_at_ms = published_at_ms;
  message->expires_at_ms = expires_at_ms;
  return message;
}

Message *make_dead_letter(const Message &original, const DeathNote &note) {
  std::uint64_t previous_deaths = 0;
  bool found = false;
  const std::string_view count_text = original.header("x-death-count", found);
  if (found)
    std::from_chars(count_text.data(), count_text.data() + count_text.size(), previous_deaths);
  const std::string count = std::to_string(previous_deaths + 1);
  const std::string time = std::to_string(note.time_ms);

  // Original headers minus the old x-death-*, then the new ones.
  HeaderView views[headers_max + routing_headers_max + death_headers_max];
  std::size_t n = 0;
  const corq_header *h = original.headers();
  for (std::uint32_t i = 0; i < original.header_count; ++i) {
    const std::string_view key = h[i].key;
    if (key.substr(0, death_prefix.size()) == death_prefix) continue;
    views[n++] = {key, value_of(h[i])};
  }
  views[n++] = {"x-death-reason", note.reason};
  views[n++] = {"x-death-queue", note.origin_queue};
  views[n++] = {"x-death-count", count};
  views[n++] = {"x-death-time-ms", time};
  if (!note.detail.empty()) views[n++] = {"x-death-detail", note.detail};

  Message *message = build_message(views, n, original.payload(), original.payload_len);
  if (message == nullptr) return nullptr;
  message->id = original.id;
  message->published_at_ms = original.published_at_ms;
  // The move keeps the original's place in the log: its publish record still recovers it.
  message->log_bucket = original.log_bucket;
  message->flags =
      static_cast<std::uint16_t>(original.flags & (Message::shared_id | Message::priority_mask));
  return message;
}

Message *copy_message(const Message &original) {
  if (original.has_shared_body()) {
    // One more reference on a body someone already holds: relaxed is enough (as for shared_ptr).
    shared_body_of(original)->references.fetch_add(1, std::memory_order_relaxed);
    Message *copy = make_shared_copy(original, const_cast<std::byte *>(original.body()));
    if (copy == nullptr)
      shared_body_of(original)->references.fetch_sub(1, std::memory_order_relaxed);
    return copy;
  }
  auto *copy = static_cast<Message *>(allocate_block(original.block_bytes()));
  if (copy == nullptr) return nullptr;
  std::memcpy(static_cast<void *>(copy), &original, original.block_bytes());
  // Header pointers point into the block: rebase them onto the copy.
  const auto shift =
      reinterpret_cast<const char *>(copy) - reinterpret_cast<const char *>(&original);
  auto *headers = reinterpret_cast<corq_header *>(copy + 1);
  for (std::uint32_t i = 0; i < copy->header_count; ++i) {
    headers[i].key += shift;
    headers[i].value = static_cast<const char *>(headers[i].value) + shift;
  }
  copy->next = nullptr;
  return copy;
}

bool share_message(Message *original, Message **out, std::size_t count) {
  auto *body = reinterpret_cast<std::byte *>(original);
  std::size_t made = 0;
  for (; made < count; ++made) {
    out[made] = make_shared_copy(*original, body);
    if (out[made] == nullptr) break;
  }
  if (made < count) {
    for (std::size_t i = 0; i < made; ++i) free_block(out[i], out[i]->block_bytes());
    return false;
  }
  // The original's header line becomes the body's: the copies have all they need of it.
  const auto body_bytes = static_cast<std::uint32_t>(original->block_bytes());
  ::new (body) SharedBody{static_cast<std::uint32_t>(count), body_bytes};
  return true;
}

void free_message(Message *message) noexcept {
  if (message->has_shared_body()) {
    SharedBody *body = shared_body_of(*message);
    // acq_rel: every copy's reads of the body happen before the last copy frees it.
    if (body->references.fetch_sub(1, std::memory_order_acq_rel) == 1)
      free_block(body, body->block_bytes);
  }
  free_block(message, message->block_bytes());
}

}  // namespace corq::core
