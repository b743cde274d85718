// bench/peers/peer_corq_stream.cpp — corq's durable streams doing the work-queue scenario the way
// Redis Streams does it (peer_redis.cpp: XADD with appendfsync always, XREADGROUP + XACK): one
// durable stream of one partition on a disk engine with sync=always, each producer batch appended
// atomically through a corq_stream_producer (returns once durable), and a consumer group in
// `shared` mode (every member reads the partition; each record acked on its own, as XACK does) —
// the records stay in the stream after they are acked, as Redis keeps its entries.
#include <corq/corq.h>

#include <string>

#include "peer.hpp"

namespace corq::peers {
namespace {

void check(int rc, const char *what) {
  if (rc < 0) {
    throw PeerError(std::string(what) + ": " + corq_strerror(rc) + " (" + corq_last_error() + ")");
  }
}

constexpr const char *group_name = "peers";

class StreamProducer final : public PeerProducer {
 public:
  StreamProducer(corq_engine *engine, const std::string &stream) {
    check(corq_stream_producer_open(engine, stream.c_str(), &producer_),
          "corq_stream_producer_open");
  }
  ~StreamProducer() override { corq_stream_producer_close(producer_); }
  StreamProducer(const StreamProducer &) = delete;
  StreamProducer &operator=(const StreamProducer &) = delete;

  void publish_confirmed(const std::vector<const unsigned char *> &payloads,
                         std::size_t size) override {
    records_.assign(payloads.size(), corq_message{});
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      records_[i].data = payloads[i];
      records_[i].len = size;
    }
    // sync=always: returns once the batch (one atomic log batch) is durable.
    check(corq_stream_producer_send(producer_, nullptr, 0, records_.data(), records_.size(),
                                    nullptr, nullptr, nullptr),
          "corq_stream_producer_send");
  }

 private:
  corq_stream_producer *producer_ = nullptr;
  std::vector<corq_message> records_;
};

class GroupConsumer final : public PeerConsumer {
 public:
  GroupConsumer(corq_engine *engine, const std::string &stream, std::uint32_t prefetch,
                std::size_t size)
      : size_(size), buffer_(prefetch) {
    corq_config *options = corq_config_new();
    if (options == nullptr) throw PeerError("corq_config_new: out of memory");
    int rc = corq_config_set(options, "mode", "shared");
    const std::string window = std::to_string(prefetch);
    if (rc == 0) rc = corq_config_set(options, "prefetch", window.c_str());
    if (rc == 0) rc = corq_config_set(options, "dead_letter_queue", "");
    if (rc == 0)
      rc = corq_group_consumer_open(engine, stream.c_str(), group_name, options, &member_);
    corq_config_free(options);
    check(rc, "corq_group_consumer_open");
  }
  ~GroupConsumer() override { corq_consumer_close(member_); }
  GroupConsumer(const GroupConsumer &) = delete;
  GroupConsumer &operator=(const GroupConsumer &) = delete;

  std::size_t fetch(std::vector<Delivery> &out, std::size_t max, int timeout_ms) override {
    out.clear();
    const int n = corq_consume(member_, buffer_.data(), std::min(max, buffer_.size()), timeout_ms);
    check(n, "corq_consume");
    for (int i = 0; i < n; ++i) {
      Delivery d;
      decode_payload(buffer_[i].data, buffer_[i].len, size_, d);  // before the ack frees it
      d.tag = buffer_[i].tag;
      d.redelivered = buffer_[i].delivery_count > 1;
      out.push_back(std::move(d));
    }
    return static_cast<std::size_t>(n);
  }
  void ack(const Delivery &d) override { check(corq_ack(member_, d.tag), "corq_ack"); }

 private:
  corq_consumer *member_ = nullptr;
  std::size_t size_;
  std::vector<corq_delivery> buffer_;
};

class StreamSystem final : public PeerSystem {
 public:
  explicit StreamSystem(const PeerOptions &o) : options_(o) {}
  ~StreamSystem() override { teardown(); }
  StreamSystem(const StreamSystem &) = delete;
  StreamSystem &operator=(const StreamSystem &) = delete;

  std::string durability() const override {
    return "sync=always: each batch appended once its group commit is flushed (write + "
           "fdatasync of the stream's log); group acks logged, not waited for";
  }
  void setup() override {
    corq_config *engine_options = corq_config_new();
    if (engine_options == nullptr) throw PeerError("corq_config_new: out of memory");
    int rc = corq_config_set(engine_options, "sync", "always");
    if (rc == 0) rc = corq_config_set(engine_options, "io_backend", options_.io_backend.c_str());
    if (rc == 0) rc = corq_open(options_.dir.c_str(), engine_options, &engine_);
    corq_config_free(engine_options);
    check(rc, "corq_open");
    corq_config *stream_options = corq_config_new();
    if (stream_options == nullptr) throw PeerError("corq_config_new: out of memory");
    rc = corq_config_set(stream_options, "durable", "true");
    if (rc == 0) rc = corq_stream_declare(engine_, options_.queue.c_str(), stream_options);
    corq_config_free(stream_options);
    check(rc, "corq_stream_declare");
  }
  std::unique_ptr<PeerProducer> open_producer(std::size_t) override {
    return std::make_unique<StreamProducer>(engine_, options_.queue);
  }
  std::unique_ptr<PeerConsumer> open_consumer(std::size_t) override {
    return std::make_unique<GroupConsumer>(engine_, options_.queue, options_.prefetch,
                                           options_.size);
  }
  void teardown() noexcept override {
    if (engine_ != nullptr) {
      corq_stream_delete(engine_, options_.queue.c_str());
      corq_close(engine_);
    }
    engine_ = nullptr;
  }

 private:
  PeerOptions options_;
  corq_engine *engine_ = nullptr;
};

}  // namespace

std::unique_ptr<PeerSystem> make_corq_stream(const PeerOptions &options) {
  return std::make_unique<StreamSystem>(options);
}

}  // namespace corq::peers
