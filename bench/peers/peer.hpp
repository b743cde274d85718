// bench/peers/peer.hpp — what a system must offer to run the durable work-queue scenario, and the
// message layout every system carries.
//
// The scenario (workload.cpp) drives a PeerSystem: P producer threads each open a PeerProducer and
// publish batches of B messages, each batch's confirms awaited before the next; C consumer threads
// each open a PeerConsumer, fetch up to `prefetch` messages, ack each one and then finish the acks
// of that fetch (end_acks: where a system that answers acks, or commits them, does so). A producer
// or consumer handle belongs to the thread that opened it (connections and SQLite handles are not
// shared between threads).
//
// Every payload starts with a header the harness writes and checks on the other side: the message
// id (0..N), the publish time (steady clock, ns; producers and consumers are in one process) and a
// pattern over the rest of the payload derived from the id, so a corrupted or truncated payload is
// caught, not only a lost or duplicated id.
#ifndef CORQ_BENCH_PEERS_PEER_HPP
#define CORQ_BENCH_PEERS_PEER_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace corq::peers {

/// Bytes of the header at the start of every payload: id (8) and publish time (8), little endian.
inline constexpr std::size_t header_bytes = 16;
/// The longest a consumer's fetch waits for its first message (it then re-checks whether to stop).
inline constexpr int fetch_timeout_ms = 100;
/// How long a table-backed consumer (RocksDB, SQLite) sleeps after finding nothing to claim.
inline constexpr int table_poll_interval_us = 1000;

/// What the command line chose for one run.
struct PeerOptions {
  std::string system;  // corq-durable, corq-transient, rabbitmq-classic, ...
  std::string dir;     // data directory for embedded systems (corq-durable, rocksdb, sqlite)
  std::string host = "127.0.0.1";
  int port = 0;                      // server systems (rabbitmq-*, redis)
  std::string queue = "corq-peers";  // queue / stream / table name on the server
  std::size_t producers = 2;
  std::size_t consumers = 2;
  std::size_t size = 64;    // payload bytes (>= header_bytes)
  std::size_t batch = 100;  // messages per confirmed publish batch
  std::uint32_t prefetch = 100;
  std::uint64_t messages = 100000;
  double timeout_s = 600;           // the whole run's limit; past it the run fails
  std::string io_backend = "auto";  // corq-durable: the engine's io_backend option
};

/// A failure of a system (connection, protocol, I/O): the run stops and reports it.
class PeerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One message as a consumer got it: what the header said, and the system's handle to ack it.
struct Delivery {
  std::uint64_t id = 0;
  std::uint64_t published_ns = 0;
  bool payload_ok = false;  // length and pattern as published
  bool redelivered =
      false;              // the system marked it as delivered before (AMQP redelivered, corq count)
  std::uint64_t tag = 0;  // delivery tag, row id, corq tag
  std::string key;        // stream entry id (Redis), row key (RocksDB)
};

/// Writes the header and pattern for message `id` published at `now_ns` into payload[0..size).
void encode_payload(std::uint64_t id, std::uint64_t now_ns, unsigned char *payload,
                    std::size_t size) noexcept;
/// Reads the header of data[0..len) into d (id, published_ns) and checks len == size and the
/// pattern.
void decode_payload(const void *data, std::size_t len, std::size_t size, Delivery &d) noexcept;

class PeerProducer {
 public:
  virtual ~PeerProducer() = default;
  /// Publishes payloads[0..count) (each `size` bytes) and returns once the system confirmed every
  /// one of them as durable (or, for a transient system, accepted). Throws PeerError.
  virtual void publish_confirmed(const std::vector<const unsigned char *> &payloads,
                                 std::size_t size) = 0;
};

class PeerConsumer {
 public:
  virtual ~PeerConsumer() = default;
  /// Appends up to `max` deliveries to out (cleared first); waits up to timeout_ms for the first.
  /// Returns how many (0 on timeout). Throws PeerError.
  virtual std::size_t fetch(std::vector<Delivery> &out, std::size_t max, int timeout_ms) = 0;
  /// Acks one delivery of the last fetch (each message is acked on its own).
  virtual void ack(const Delivery &d) = 0;
  /// Called after the acks of one fetch: a system whose acks have replies or commits completes
  /// them here. Throws PeerError (e.g. an ack the system did not know).
  virtual void end_acks() {}
};

/// A consumer of a table-backed system (RocksDB, SQLite): nothing wakes it, so fetch polls its
/// claim — every table_poll_interval_us until it claims a row or timeout_ms has passed.
class TableConsumer : public PeerConsumer {
 public:
  std::size_t fetch(std::vector<Delivery> &out, std::size_t max, int timeout_ms) final {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    out.clear();
    while (true) {
      claim(out, max);
      if (!out.empty() || std::chrono::steady_clock::now() >= deadline) return out.size();
      std::this_thread::sleep_for(std::chrono::microseconds(table_poll_interval_us));
    }
  }

 private:
  /// Appends up to `max` rows no other consumer has claimed to out, without waiting.
  virtual void claim(std::vector<Delivery> &out, std::size_t max) = 0;
};

class PeerSystem {
 public:
  virtual ~PeerSystem() = default;
  /// Human-readable description of the durability setting, for the report.
  virtual std::string durability() const = 0;
  /// Creates the queue (empty). Called once before any producer or consumer opens.
  virtual void setup() = 0;
  /// Opens a handle for the calling thread; `index` is 0..producers-1 or 0..consumers-1.
  virtual std::unique_ptr<PeerProducer> open_producer(std::size_t index) = 0;
  virtual std::unique_ptr<PeerConsumer> open_consumer(std::size_t index) = 0;
  /// Removes the queue and frees what setup made (best effort; never throws).
  virtual void teardown() noexcept = 0;
};

/// The systems compiled into this binary (those whose client libraries were found at build time).
std::vector<std::string> systems_built();
/// Makes the named system; throws PeerError for an unknown or not-built one.
std::unique_ptr<PeerSystem> make_system(const PeerOptions &options);

// One factory per system; each lives in its peer_*.cpp, compiled only when its library was found.
std::unique_ptr<PeerSystem> make_corq(const PeerOptions &options, bool durable);
std::unique_ptr<PeerSystem> make_corq_stream(const PeerOptions &options);
std::unique_ptr<PeerSystem> make_rabbitmq(const PeerOptions &options, bool quorum);
std::unique_ptr<PeerSystem> make_redis(const PeerOptions &options);
std::unique_ptr<PeerSystem> make_rocksdb(const PeerOptions &options);
std::unique_ptr<PeerSystem> make_sqlite(const PeerOptions &options);

}  // namespace corq::peers

#endif  // CORQ_BENCH_PEERS_PEER_HPP
