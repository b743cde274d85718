// corq/corq.hpp — header-only C++20 RAII wrapper over the C API (corq.h).
//
//   corq::Engine engine = corq::Engine::in_memory();
//   engine.declare("jobs", {{"max_attempts", "5"}, {"lease_ms", "10000"}});
//   engine.publish("jobs", "hello");
//   corq::Consumer consumer = engine.consumer("jobs", /*prefetch=*/64);
//   while (auto delivery = consumer.consume_one(1000)) {
//     handle(delivery->text());
//     consumer.ack(*delivery);
//   }
//
// Streams (corq.h "Streams"): retained, partitioned logs read by offset.
//
//   engine.declare_stream("events", {{"partitions", "3"}, {"durable", "false"}});
//   corq::Appended at = engine.append("events", "order placed", /*key=*/"order-42");
//   corq::StreamReader reader = engine.stream_reader("events", at.partition, "earliest");
//   for (const corq::StreamRecord &record : reader.read(/*max=*/64, /*timeout_ms=*/1000))
//     handle(record.offset(), record.key(), record.text());  // views valid until the next read
//
// Transactions (corq.h "Transactions"): consume, transform, produce, and ack the input — all or
// nothing. Leaving the scope without commit() aborts.
//
//   corq::Consumer in = engine.consumer("orders", 64);
//   while (auto delivery = in.consume_one(1000)) {
//     corq::Transaction txn = engine.transaction();
//     txn.publish(/*exchange=*/"", /*routing_key=*/"invoices", invoice_for(delivery->text()));
//     txn.append("ledger", delivery->text(), /*key=*/"customer-7");
//     txn.ack(in, *delivery);
//     txn.commit(/*timeout_ms=*/5000);
//   }
//
// Failures throw corq::Error, which carries the CORQ_E* code and the detail message. Timeouts are
// not failures: consume returns no delivery, read returns no record. Handles close in their
// destructors; they are movable, not copyable. Thread-safety is the C API's: an Engine may be
// shared by threads; a Producer, a Consumer, a StreamProducer or a StreamReader is used by one
// thread at a time (Consumer::wakeup and StreamReader::wakeup from any thread); a Transaction by
// the thread that uses the consumers whose deliveries it acks.
#pragma once

#include <corq/corq.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corq {

/// A failed corq call: `code()` is the CORQ_E* value, `what()` is "<strerror>: <detail>".
class Error : public std::runtime_error {
 public:
  Error(int code, std::string_view detail)
      : std::runtime_error(std::string(corq_strerror(code)) + ": " + std::string(detail)),
        code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

/// Throws corq::Error for a negative return code (with the thread's detail message); returns `rc`.
inline int check(int rc) {
  if (rc < 0) throw Error(rc, corq_last_error());
  return rc;
}

/// The linked library's version string.
inline std::string_view version() { return corq_version_string(); }

/// Options as key/value pairs, e.g. {{"max_length", "1000"}, {"overflow", "reject"}}.
using Options = std::initializer_list<std::pair<std::string_view, std::string_view>>;

namespace detail {
/// A corq_config built from Options, freed on scope exit.
class ConfigHolder {
 public:
  explicit ConfigHolder(Options options) : config_(corq_config_new()) {
    if (config_ == nullptr) throw Error(CORQ_ENOMEM, "corq_config_new");
    for (const auto &[key, value] : options) {
      const std::string k(key), v(value);
      const int rc = corq_config_set(config_, k.c_str(), v.c_str());
      if (rc < 0) {
        Error error(rc, corq_last_error());
        corq_config_free(config_);
        throw error;
      }
    }
  }
  ~ConfigHolder() { corq_config_free(config_); }
  ConfigHolder(const ConfigHolder &) = delete;
  ConfigHolder &operator=(const ConfigHolder &) = delete;
  const corq_config *get() const noexcept { return config_; }

 private:
  corq_config *config_;
};
}  // namespace detail

/// Per-publish settings (see corq_publish_options).
struct PublishOptions {
  std::uint32_t flags = 0;          // CORQ_PUBLISH_NOWAIT, CORQ_PUBLISH_MANDATORY
  std::int32_t timeout_ms = 30000;  // overflow=block: longest wait for space
  std::int64_t delay_ms = 0;        // > 0: delivered after this delay
  std::int64_t ttl_ms = 0;          // > 0: overrides the queue's message_ttl_ms
  std::int32_t priority = 0;        // queues with max_priority: higher first

  corq_publish_options c() const noexcept {
    return {sizeof(corq_publish_options), flags, timeout_ms, delay_ms, ttl_ms, priority};
  }
};

/// A message to publish: views of the caller's bytes, copied by corq during the call.
struct Message {
  std::string_view data;
  std::span<const corq_header> headers = {};
  const char *dedup_id = nullptr;

  corq_message c() const noexcept {
    return {data.data(), data.size(), headers.data(), headers.size(), dedup_id};
  }
};

/// A delivery: zero-copy views valid until it is settled or its consumer closes.
/// Same layout as corq_delivery (a Consumer fills an array of them directly).
struct Delivery {
  corq_delivery raw{};

  std::uint64_t tag() const noexcept { return raw.tag; }
  std::uint64_t message_id() const noexcept { return raw.message_id; }
  std::span<const std::byte> data() const noexcept {
    return {static_cast<const std::byte *>(raw.data), raw.len};
  }
  std::string_view text() const noexcept { return {static_cast<const char *>(raw.data), raw.len}; }
  std::span<const corq_header> headers() const noexcept { return {raw.headers, raw.header_count}; }
  /// The value of header `key`, if present.
  std::optional<std::string_view> header(std::string_view key) const noexcept {
    for (const corq_header &h : headers()) {
      if (key == h.key) return std::string_view(static_cast<const char *>(h.value), h.value_len);
    }
    return std::nullopt;
  }
  std::uint32_t delivery_count() const noexcept { return raw.delivery_count; }
  std::int64_t published_at_ms() const noexcept { return raw.published_at_ms; }
};
static_assert(sizeof(Delivery) == sizeof(corq_delivery));

/// Receives deliveries from one queue through a prefetch window. One thread at a time.
class Consumer {
 public:
  Consumer() = default;
  explicit Consumer(corq_consumer *handle) noexcept : handle_(handle) {}
  Consumer(Consumer &&o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  Consumer &operator=(Consumer &&o) noexcept {
    if (this != &o) {
      close();
      handle_ = std::exchange(o.handle_, nullptr);
    }
    return *this;
  }
  ~Consumer() { close(); }

  /// Fills `out` with up to out.size() deliveries, waiting up to timeout_ms (-1: no limit) for the
  /// first; returns how many (0 on timeout). Throws corq::Error (CORQ_ECLOSED after wakeup).
  std::size_t consume(std::span<Delivery> out, std::int32_t timeout_ms) {
    return static_cast<std::size_t>(check(corq_consume(
        handle_, reinterpret_cast<corq_delivery *>(out.data()), out.size(), timeout_ms)));
  }
  /// One delivery, or nullopt on timeout.
  std::optional<Delivery> consume_one(std::int32_t timeout_ms) {
    Delivery d;
    if (consume(std::span<Delivery>(&d, 1), timeout_ms) == 0) return std::nullopt;
    return d;
  }

  void ack(const Delivery &d) { ack(d.tag()); }
  void ack(std::uint64_t tag) { check(corq_ack(handle_, tag)); }
  void ack_upto(std::uint64_t tag) { check(corq_ack_upto(handle_, tag)); }
  /// A failed attempt; delay_ms -1 uses the queue's backoff.
  void nack(const Delivery &d, std::int64_t delay_ms = -1) {
    check(corq_nack(handle_, d.tag(), delay_ms));
  }
  void release(const Delivery &d) { check(corq_release(handle_, d.tag())); }
  void reject(const Delivery &d, const char *reason = nullptr) {
    check(corq_reject(handle_, d.tag(), reason));
  }
  void extend(const Delivery &d, std::int64_t lease_ms) {
    check(corq_extend(handle_, d.tag(), lease_ms));
  }
  /// Any thread: makes consume throw CORQ_ECLOSED from now on (settling still works).
  void wakeup() { check(corq_consumer_wakeup(handle_)); }
  /// Any thread, one-shot: the consume waiting now (or else the next one) returns no delivery at
  /// once; the consumer stays usable.
  void interrupt() { check(corq_consumer_interrupt(handle_)); }
  /// Releases unsettled deliveries and frees the handle (also done by the destructor).
  void close() noexcept {
    if (handle_ != nullptr) corq_consumer_close(std::exchange(handle_, nullptr));
  }
  corq_consumer *handle() const noexcept { return handle_; }

 private:
  corq_consumer *handle_ = nullptr;
};

/// Publishes batches to one queue. One thread at a time.
class Producer {
 public:
  Producer() = default;
  explicit Producer(corq_producer *handle) noexcept : handle_(handle) {}
  Producer(Producer &&o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  Producer &operator=(Producer &&o) noexcept {
    if (this != &o) {
      close();
      handle_ = std::exchange(o.handle_, nullptr);
    }
    return *this;
  }
  ~Producer() { close(); }

  /// Sends a batch (atomic: all or none); returns the first message id.
  std::uint64_t send(std::span<const corq_message> messages, const PublishOptions &options = {}) {
    const corq_publish_options o = options.c();
    std::uint64_t first = 0;
    check(corq_producer_send(handle_, messages.data(), messages.size(), &o, &first));
    return first;
  }
  std::uint64_t send(const Message &message, const PublishOptions &options = {}) {
    const corq_message m = message.c();
    return send(std::span<const corq_message>(&m, 1), options);
  }
  /// Waits until everything sent is durable.
  void flush(std::int32_t timeout_ms = -1) { check(corq_producer_flush(handle_, timeout_ms)); }
  void close() noexcept {
    if (handle_ != nullptr) corq_producer_close(std::exchange(handle_, nullptr));
  }
  corq_producer *handle() const noexcept { return handle_; }

 private:
  corq_producer *handle_ = nullptr;
};

/// Where an append went: the record's partition and offset (for a deduplicated append, the
/// original's).
struct Appended {
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
};

/// Where a stream producer's batch went: its partition and the offset of its first record (the
/// others follow consecutively).
struct AppendedBatch {
  std::uint32_t partition = 0;
  std::uint64_t first_offset = 0;
};

namespace detail {
/// The C key of an optional key: NULL for none; never NULL for a key, even an empty one (a
/// default-constructed string_view has a NULL data(), which the C API would read as "no key").
inline const void *key_pointer(const std::optional<std::string_view> &key) noexcept {
  if (!key) return nullptr;
  return key->data() != nullptr ? static_cast<const void *>(key->data()) : "";
}
}  // namespace detail

/// A stream record: zero-copy views valid until its reader's next read or close.
/// Same layout as corq_stream_record (a StreamReader fills an array of them directly).
struct StreamRecord {
  corq_stream_record raw{};

  std::uint32_t partition() const noexcept { return raw.partition; }
  std::uint64_t offset() const noexcept { return raw.offset; }
  /// The append time, unix ms (non-decreasing within a partition).
  std::int64_t timestamp_ms() const noexcept { return raw.timestamp_ms; }
  /// The key, or nullopt for a record appended without one ("" is a key).
  std::optional<std::string_view> key() const noexcept {
    if (raw.key == nullptr) return std::nullopt;
    return std::string_view(static_cast<const char *>(raw.key), raw.key_len);
  }
  std::span<const std::byte> data() const noexcept {
    return {static_cast<const std::byte *>(raw.data), raw.len};
  }
  std::string_view text() const noexcept { return {static_cast<const char *>(raw.data), raw.len}; }
  std::span<const corq_header> headers() const noexcept { return {raw.headers, raw.header_count}; }
  /// The value of header `key`, if present.
  std::optional<std::string_view> header(std::string_view key) const noexcept {
    for (const corq_header &h : headers()) {
      if (key == h.key) return std::string_view(static_cast<const char *>(h.value), h.value_len);
    }
    return std::nullopt;
  }
};
static_assert(sizeof(StreamRecord) == sizeof(corq_stream_record));

/// Appends atomic batches to one stream, each batch to one partition. One thread at a time.
class StreamProducer {
 public:
  StreamProducer() = default;
  explicit StreamProducer(corq_stream_producer *handle) noexcept : handle_(handle) {}
  StreamProducer(StreamProducer &&o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  StreamProducer &operator=(StreamProducer &&o) noexcept {
    if (this != &o) {
      close();
      handle_ = std::exchange(o.handle_, nullptr);
    }
    return *this;
  }
  ~StreamProducer() { close(); }

  /// Appends `messages` (at least one) as one batch, all or none, to the partition `key` picks
  /// (nullopt: the next in round robin); every record carries the key. A dedup_id on the first
  /// message names the batch (the others' must be null). Of the options, flags and timeout_ms
  /// apply; a delay, TTL or priority is CORQ_EINVAL.
  AppendedBatch send(std::span<const corq_message> messages,
                     std::optional<std::string_view> key = std::nullopt,
                     const PublishOptions &options = {}) {
    const corq_publish_options o = options.c();
    AppendedBatch b;
    check(corq_stream_producer_send(handle_, detail::key_pointer(key), key ? key->size() : 0,
                                    messages.data(), messages.size(), &o, &b.partition,
                                    &b.first_offset));
    return b;
  }
  AppendedBatch send(const Message &message, std::optional<std::string_view> key = std::nullopt,
                     const PublishOptions &options = {}) {
    const corq_message m = message.c();
    return send(std::span<const corq_message>(&m, 1), key, options);
  }
  void close() noexcept {
    if (handle_ != nullptr) corq_stream_producer_close(std::exchange(handle_, nullptr));
  }
  corq_stream_producer *handle() const noexcept { return handle_; }

 private:
  corq_stream_producer *handle_ = nullptr;
};

/// Reads one partition of a stream from a start position on, and follows its tail. One thread at
/// a time, except wakeup (any thread).
class StreamReader {
 public:
  StreamReader() = default;
  explicit StreamReader(corq_stream_reader *handle) noexcept : handle_(handle) {}
  StreamReader(StreamReader &&o) noexcept
      : handle_(std::exchange(o.handle_, nullptr)), buffer_(std::move(o.buffer_)) {}
  StreamReader &operator=(StreamReader &&o) noexcept {
    if (this != &o) {
      close();
      handle_ = std::exchange(o.handle_, nullptr);
      buffer_ = std::move(o.buffer_);
    }
    return *this;
  }
  ~StreamReader() { close(); }

  /// Fills `out` with up to out.size() (at least 1) records from the reader's position, waiting
  /// up to timeout_ms (0 polls, -1: no limit) for the first; returns how many (0 on timeout or
  /// after wakeup). The records are valid until the next read or close. Throws corq::Error
  /// (CORQ_ENOENT once the stream is deleted, CORQ_ECLOSED once the engine is closed).
  std::size_t read(std::span<StreamRecord> out, std::int32_t timeout_ms) {
    return static_cast<std::size_t>(check(corq_stream_read(
        handle_, reinterpret_cast<corq_stream_record *>(out.data()), out.size(), timeout_ms)));
  }
  /// Up to `max` (at least 1) records in a buffer of the reader's own; empty on timeout or after
  /// wakeup. The span and the records are valid until the next read or close.
  std::span<const StreamRecord> read(std::size_t max, std::int32_t timeout_ms) {
    buffer_.resize(max == 0 ? 1 : max);  // max 0 still reaches corq, which refuses it
    const std::size_t n = read(std::span<StreamRecord>(buffer_.data(), max), timeout_ms);
    return {buffer_.data(), n};
  }
  /// Records retention deleted before this reader read them.
  std::uint64_t skipped() const noexcept { return corq_stream_reader_skipped(handle_); }
  /// Any thread: a waiting read returns no record at once (or the next read that would wait).
  void wakeup() { check(corq_stream_reader_wakeup(handle_)); }
  /// Frees the handle (also done by the destructor); the records read become invalid.
  void close() noexcept {
    if (handle_ != nullptr) corq_stream_reader_close(std::exchange(handle_, nullptr));
  }
  corq_stream_reader *handle() const noexcept { return handle_; }

 private:
  corq_stream_reader *handle_ = nullptr;
  std::vector<StreamRecord> buffer_;
};

/// An open transaction (corq.h "Transactions", DESIGN.md §8), from Engine::transaction(): it
/// gathers publishes, stream appends and acks of deliveries held by Consumers (queue consumers and
/// group members alike), and commit() applies all of them atomically — after a crash all of them
/// exist or none does. Until commit nothing of it is visible: its messages are not delivered, its
/// records not readable, its acks not applied (the deliveries stay in flight, leases running).
///
/// An operation that corq refuses at once (bad argument, unknown queue, exchange, stream or tag, a
/// message over max_message_bytes, a limit passed) throws corq::Error and is not part of the
/// transaction, which stays usable. commit() and abort() end it: whatever commit() returns or
/// throws, and after abort(), the object is empty, and publish, append, ack and commit on an empty
/// Transaction (also a moved-from or default-constructed one) throw corq::Error with
/// CORQ_ECLOSED without calling corq. The destructor aborts a transaction that was not committed.
///
/// Move-only. One thread at a time: the thread that uses the consumers whose deliveries it acks.
/// It may outlive its Engine: once the engine is closed, corq has aborted it, its operations throw
/// CORQ_ECLOSED, and the destructor (or abort()) frees it.
class Transaction {
 public:
  /// commit()'s default timeout: the same as PublishOptions::timeout_ms.
  static constexpr std::int32_t commit_timeout_ms_default = 30000;

  /// An empty transaction (every operation throws CORQ_ECLOSED); Engine::transaction() begins one.
  Transaction() = default;
  /// Takes ownership of a transaction begun with corq_txn_begin (nullptr: an empty one).
  explicit Transaction(corq_txn *handle) noexcept : handle_(handle) {}
  Transaction(Transaction &&o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  /// Aborts this transaction if it is open, then takes `o`'s.
  Transaction &operator=(Transaction &&o) noexcept {
    if (this != &o) {
      abort();
      handle_ = std::exchange(o.handle_, nullptr);
    }
    return *this;
  }
  Transaction(const Transaction &) = delete;
  Transaction &operator=(const Transaction &) = delete;
  /// Aborts the transaction unless it was committed or aborted.
  ~Transaction() { abort(); }

  /// Adds a publish: exchange "" sends to the queue `routing_key` names (CORQ_ENOENT at once if
  /// there is none), any other exchange routes at commit as Engine::publish_to_exchange does (all
  /// matched queues or none). Of the options, flags (CORQ_PUBLISH_MANDATORY; NOWAIT is ignored),
  /// delay_ms, ttl_ms and priority apply; timeout_ms is commit()'s. The message is copied.
  /// Throws corq::Error: CORQ_EINVAL, CORQ_ENOENT, CORQ_EUNROUTABLE, CORQ_ETOOBIG (the message,
  /// 65,536 operations or max_txn_bytes), CORQ_ENOMEM, CORQ_ESTATE (in use by another thread),
  /// CORQ_ECLOSED (empty, or the engine was closed).
  void publish(const std::string &exchange, const std::string &routing_key, const Message &message,
               const PublishOptions &options = {}) {
    const corq_message m = message.c();
    const corq_publish_options o = options.c();
    check(corq_txn_publish(live(), exchange.c_str(), routing_key.c_str(), &m, &o));
  }
  void publish(const std::string &exchange, const std::string &routing_key, std::string_view data,
               const PublishOptions &options = {}) {
    publish(exchange, routing_key, Message{data}, options);
  }

  /// Adds a stream append of one record, in the argument order of Engine::append: the partition
  /// is picked at commit from `key` as Engine::append picks it (nullopt: round robin), its offset
  /// assigned at commit (not returned). Options: flags only (delay, TTL or priority:
  /// CORQ_EINVAL). Throws corq::Error: CORQ_EINVAL, CORQ_ENOENT (no such stream), CORQ_ETOOBIG,
  /// CORQ_ENOMEM, CORQ_ESTATE, CORQ_ECLOSED.
  void append(const std::string &stream, const Message &message,
              std::optional<std::string_view> key = std::nullopt,
              const PublishOptions &options = {}) {
    const corq_message m = message.c();
    const corq_publish_options o = options.c();
    check(corq_txn_append(live(), stream.c_str(), detail::key_pointer(key), key ? key->size() : 0,
                          &m, &o));
  }
  void append(const std::string &stream, std::string_view data,
              std::optional<std::string_view> key = std::nullopt,
              const PublishOptions &options = {}) {
    append(stream, Message{data}, key, options);
  }

  /// Adds the ack of the delivery `consumer` (a queue consumer or a group member) holds now with
  /// this tag; it stays in flight until commit. Throws corq::Error: CORQ_ESTATE (not a delivery
  /// the consumer holds now, or already acked in this transaction), CORQ_EINVAL (a closed or
  /// moved-from consumer, a consumer of another engine), CORQ_ECLOSED.
  void ack(const Consumer &consumer, std::uint64_t tag) {
    check(corq_txn_ack(live(), consumer.handle(), tag));
  }
  void ack(const Consumer &consumer, const Delivery &delivery) { ack(consumer, delivery.tag()); }

  /// Applies everything, or nothing, and ends the transaction (the object is empty afterwards,
  /// whatever happens). timeout_ms bounds the wait for room under overflow=block and the wait for
  /// durability (-1: no limit). Throws corq::Error with nothing applied: CORQ_ESTATE (an acked
  /// delivery is no longer held: lease expired, settled, consumer closed), CORQ_ENOENT (a target
  /// was deleted), CORQ_EUNROUTABLE, CORQ_EFULL, CORQ_ETOOBIG, CORQ_ENOSPC, CORQ_EFAILED — the
  /// acked deliveries then stay held; CORQ_ETIMEDOUT or CORQ_EFAILED while waiting for durability:
  /// the outcome is unknown but never partial; CORQ_ECLOSED: empty, or the engine was closed.
  void commit(std::int32_t timeout_ms = commit_timeout_ms_default) {
    corq_txn *spent = live();
    handle_ = nullptr;  // corq_txn_commit frees the transaction whatever it returns
    check(corq_txn_commit(spent, timeout_ms));
  }

  /// Discards the transaction (its acks are not applied: the deliveries stay held) and leaves the
  /// object empty. On an empty Transaction a no-op. Never throws.
  void abort() noexcept {
    if (handle_ != nullptr) corq_txn_abort(std::exchange(handle_, nullptr));
  }

  /// Whether the transaction is open (begun, not yet committed, aborted or moved from).
  explicit operator bool() const noexcept { return handle_ != nullptr; }
  /// The C handle, still owned by this object (nullptr when empty).
  corq_txn *handle() const noexcept { return handle_; }

 private:
  /// The handle for one operation; throws CORQ_ECLOSED (without calling corq) when empty.
  corq_txn *live() {
    if (handle_ == nullptr) {
      throw Error(CORQ_ECLOSED, "the transaction is no longer open (committed, aborted or moved)");
    }
    return handle_;
  }

  corq_txn *handle_ = nullptr;
};

/// An engine: the queues, exchanges and streams. Thread-safe. Closing (destructor or close()) wakes
/// blocked consumers and stream readers.
class Engine {
 public:
  /// Opens an engine on `dir` (nullptr: in-memory) with engine options.
  static Engine open(const char *dir, Options options = {}) {
    detail::ConfigHolder config(options);
    corq_engine *handle = nullptr;
    check(corq_open(dir, config.get(), &handle));
    return Engine(handle);
  }
  static Engine in_memory(Options options = {}) { return open(nullptr, options); }

  Engine() = default;
  explicit Engine(corq_engine *handle) noexcept : handle_(handle) {}
  Engine(Engine &&o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  Engine &operator=(Engine &&o) noexcept {
    if (this != &o) {
      close();
      handle_ = std::exchange(o.handle_, nullptr);
    }
    return *this;
  }
  ~Engine() { close(); }

  /// The data directory's UUID (corq_engine_id), or this in-memory engine's.
  std::string id() const {
    char out[37];
    check(corq_engine_id(handle_, out));
    return out;
  }

  void declare(const std::string &queue, Options options = {}) {
    detail::ConfigHolder config(options);
    check(corq_queue_declare(handle_, queue.c_str(), config.get()));
  }
  void remove(const std::string &queue) { check(corq_queue_delete(handle_, queue.c_str())); }
  std::uint64_t purge(const std::string &queue) {
    std::uint64_t purged = 0;
    check(corq_queue_purge(handle_, queue.c_str(), &purged));
    return purged;
  }

  /// Publishes one message; returns its id.
  std::uint64_t publish(const std::string &queue, const Message &message,
                        const PublishOptions &options = {}) {
    const corq_message m = message.c();
    const corq_publish_options o = options.c();
    std::uint64_t id = 0;
    check(corq_publish(handle_, queue.c_str(), &m, &o, &id));
    return id;
  }
  std::uint64_t publish(const std::string &queue, std::string_view data,
                        const PublishOptions &options = {}) {
    return publish(queue, Message{data}, options);
  }
  // ---- exchanges (corq.h, "Pub/sub routing") ----
  /// type: "direct", "fanout", "topic" or "headers".
  void declare_exchange(const std::string &exchange, const std::string &type,
                        Options options = {}) {
    detail::ConfigHolder config(options);
    check(corq_exchange_declare(handle_, exchange.c_str(), type.c_str(), config.get()));
  }
  void remove_exchange(const std::string &exchange) {
    check(corq_exchange_delete(handle_, exchange.c_str()));
  }
  void bind(const std::string &exchange, const std::string &queue, const std::string &key = {},
            std::span<const corq_header> arguments = {}) {
    check(corq_bind(handle_, exchange.c_str(), queue.c_str(), key.c_str(), arguments.data(),
                    arguments.size()));
  }
  void unbind(const std::string &exchange, const std::string &queue, const std::string &key = {},
              std::span<const corq_header> arguments = {}) {
    check(corq_unbind(handle_, exchange.c_str(), queue.c_str(), key.c_str(), arguments.data(),
                      arguments.size()));
  }
  void bind_exchange(const std::string &source, const std::string &destination,
                     const std::string &key = {}, std::span<const corq_header> arguments = {}) {
    check(corq_exchange_bind(handle_, source.c_str(), destination.c_str(), key.c_str(),
                             arguments.data(), arguments.size()));
  }
  void unbind_exchange(const std::string &source, const std::string &destination,
                       const std::string &key = {}, std::span<const corq_header> arguments = {}) {
    check(corq_exchange_unbind(handle_, source.c_str(), destination.c_str(), key.c_str(),
                               arguments.data(), arguments.size()));
  }
  /// What an exchange publish did: the message's id and how many queues took it.
  struct Routed {
    std::uint64_t message_id = 0;
    std::uint32_t queues = 0;
  };
  Routed publish_to_exchange(const std::string &exchange, const std::string &routing_key,
                             const Message &message, const PublishOptions &options = {}) {
    const corq_message m = message.c();
    const corq_publish_options o = options.c();
    Routed r;
    check(corq_exchange_publish(handle_, exchange.c_str(), routing_key.c_str(), &m, &o,
                                &r.message_id, &r.queues));
    return r;
  }
  corq_exchange_stats exchange_stats(const std::string &exchange) {
    corq_exchange_stats s{};
    s.struct_size = sizeof(s);
    check(corq_exchange_stats_get(handle_, exchange.c_str(), &s));
    return s;
  }

  // ---- streams (corq.h, "Streams") ----
  /// Options: partitions, retention_ms, retention_bytes, retention_records, discard, ... (on a
  /// disk engine durable=false: durable streams answer CORQ_EUNSUPPORTED until they are built).
  void declare_stream(const std::string &stream, Options options = {}) {
    detail::ConfigHolder config(options);
    check(corq_stream_declare(handle_, stream.c_str(), config.get()));
  }
  void remove_stream(const std::string &stream) {
    check(corq_stream_delete(handle_, stream.c_str()));
  }
  /// Appends one record to the partition `key` picks (Kafka's murmur2 partitioner; nullopt: round
  /// robin). Of the options, flags and timeout_ms apply; a delay, TTL or priority is CORQ_EINVAL.
  Appended append(const std::string &stream, const Message &message,
                  std::optional<std::string_view> key = std::nullopt,
                  const PublishOptions &options = {}) {
    const corq_message m = message.c();
    const corq_publish_options o = options.c();
    Appended a;
    check(corq_stream_append(handle_, stream.c_str(), detail::key_pointer(key),
                             key ? key->size() : 0, &m, &o, &a.partition, &a.offset));
    return a;
  }
  Appended append(const std::string &stream, std::string_view data,
                  std::optional<std::string_view> key = std::nullopt,
                  const PublishOptions &options = {}) {
    return append(stream, Message{data}, key, options);
  }
  StreamProducer stream_producer(const std::string &stream) {
    corq_stream_producer *p = nullptr;
    check(corq_stream_producer_open(handle_, stream.c_str(), &p));
    return StreamProducer(p);
  }
  /// A reader of `partition` from `start`: "earliest", "latest", "offset:N" or "time:MS".
  StreamReader stream_reader(const std::string &stream, std::uint32_t partition = 0,
                             const std::string &start = "earliest") {
    corq_stream_reader *r = nullptr;
    check(corq_stream_reader_open(handle_, stream.c_str(), partition, start.c_str(), &r));
    return StreamReader(r);
  }
  corq_stream_stats stream_stats(const std::string &stream) {
    corq_stream_stats s{};
    s.struct_size = sizeof(s);
    check(corq_stream_stats_get(handle_, stream.c_str(), &s));
    return s;
  }
  /// A member of consumer group `group` of `stream`: a Consumer whose deliveries are the
  /// stream's records (message_id is the offset; headers add x-stream-partition, x-stream-offset,
  /// x-stream-key). Options (the first member's define the group): mode, prefetch, start,
  /// max_attempts, retry_delay_ms, retry_backoff, retry_delay_max_ms, lease_ms,
  /// dead_letter_queue.
  Consumer group_consumer(const std::string &stream, const std::string &group,
                          Options options = {}) {
    detail::ConfigHolder config(options);
    corq_consumer *c = nullptr;
    check(corq_group_consumer_open(handle_, stream.c_str(), group.c_str(), config.get(), &c));
    return Consumer(c);
  }
  /// Moves the group on `partition` (-1: all) to `start` (earliest, latest, offset:N, time:MS).
  void group_seek(const std::string &stream, const std::string &group, const std::string &start,
                  std::int32_t partition = -1) {
    check(corq_group_seek(handle_, stream.c_str(), group.c_str(), partition, start.c_str()));
  }
  void group_delete(const std::string &stream, const std::string &group) {
    check(corq_group_delete(handle_, stream.c_str(), group.c_str()));
  }
  corq_group_stats group_stats(const std::string &stream, const std::string &group) {
    corq_group_stats s{};
    s.struct_size = sizeof(s);
    check(corq_group_stats_get(handle_, stream.c_str(), group.c_str(), &s));
    return s;
  }

  void wait_durable(std::uint64_t message_id, std::int32_t timeout_ms = -1) {
    check(corq_wait_durable(handle_, message_id, timeout_ms));
  }
  void sync(std::int32_t timeout_ms = -1) { check(corq_sync(handle_, timeout_ms)); }

  Producer producer(const std::string &queue) {
    corq_producer *p = nullptr;
    check(corq_producer_open(handle_, queue.c_str(), &p));
    return Producer(p);
  }
  /// Begins a transaction (see Transaction): aborted by its destructor unless committed. Throws
  /// corq::Error: CORQ_ENOMEM, CORQ_ECLOSED, CORQ_EINVAL (a closed or moved-from Engine).
  Transaction transaction() {
    corq_txn *t = nullptr;
    check(corq_txn_begin(handle_, &t));
    return Transaction(t);
  }
  Consumer consumer(const std::string &queue, std::uint32_t prefetch) {
    corq_consumer *c = nullptr;
    check(corq_consumer_open(handle_, queue.c_str(), prefetch, &c));
    return Consumer(c);
  }

  corq_queue_stats stats(const std::string &queue) {
    corq_queue_stats s{};
    s.struct_size = sizeof(s);
    check(corq_queue_stats_get(handle_, queue.c_str(), &s));
    return s;
  }
  std::string stats_json() {
    char *json = nullptr;
    check(corq_stats_json(handle_, &json));
    std::string text(json);
    corq_free(json);
    return text;
  }
  /// Moves dead letters back to their origin (to_queue nullopt) or to `to_queue`; returns how many.
  std::uint64_t redrive(const std::string &from_queue,
                        std::optional<std::string> to_queue = std::nullopt,
                        std::uint64_t max_messages = 0) {
    std::uint64_t moved = 0;
    check(corq_redrive(handle_, from_queue.c_str(), to_queue ? to_queue->c_str() : nullptr,
                       max_messages, &moved));
    return moved;
  }
  void close() noexcept {
    if (handle_ != nullptr) corq_close(std::exchange(handle_, nullptr));
  }
  corq_engine *handle() const noexcept { return handle_; }

 private:
  corq_engine *handle_ = nullptr;
};

}  // namespace corq
