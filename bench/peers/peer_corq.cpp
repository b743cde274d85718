// bench/peers/peer_corq.cpp — corq through its public C API: a disk engine with sync=always (every
// confirmed batch waited for by corq_producer_send + corq_producer_flush) or an in-memory engine.
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

class CorqProducer final : public PeerProducer {
 public:
  CorqProducer(corq_engine *engine, const std::string &queue) {
    check(corq_producer_open(engine, queue.c_str(), &producer_), "corq_producer_open");
  }
  ~CorqProducer() override { corq_producer_close(producer_); }
  CorqProducer(const CorqProducer &) = delete;
  CorqProducer &operator=(const CorqProducer &) = delete;

  void publish_confirmed(const std::vector<const unsigned char *> &payloads,
                         std::size_t size) override {
    messages_.assign(payloads.size(), corq_message{});
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      messages_[i].data = payloads[i];
      messages_[i].len = size;
    }
    // With sync=always the send returns once the batch is durable; the flush makes the confirm
    // explicit (and is immediate when there is nothing left to wait for).
    check(corq_producer_send(producer_, messages_.data(), messages_.size(), nullptr, nullptr),
          "corq_producer_send");
    check(corq_producer_flush(producer_, 30000), "corq_producer_flush");
  }

 private:
  corq_producer *producer_ = nullptr;
  std::vector<corq_message> messages_;
};

class CorqConsumer final : public PeerConsumer {
 public:
  CorqConsumer(corq_engine *engine, const std::string &queue, std::uint32_t prefetch,
               std::size_t size)
      : size_(size), buffer_(prefetch) {
    check(corq_consumer_open(engine, queue.c_str(), prefetch, &consumer_), "corq_consumer_open");
  }
  ~CorqConsumer() override { corq_consumer_close(consumer_); }
  CorqConsumer(const CorqConsumer &) = delete;
  CorqConsumer &operator=(const CorqConsumer &) = delete;

  std::size_t fetch(std::vector<Delivery> &out, std::size_t max, int timeout_ms) override {
    out.clear();
    const int n =
        corq_consume(consumer_, buffer_.data(), std::min(max, buffer_.size()), timeout_ms);
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
  void ack(const Delivery &d) override { check(corq_ack(consumer_, d.tag), "corq_ack"); }

 private:
  corq_consumer *consumer_ = nullptr;
  std::size_t size_;
  std::vector<corq_delivery> buffer_;
};

class CorqSystem final : public PeerSystem {
 public:
  CorqSystem(const PeerOptions &o, bool durable) : options_(o), durable_(durable) {}
  ~CorqSystem() override { teardown(); }
  CorqSystem(const CorqSystem &) = delete;
  CorqSystem &operator=(const CorqSystem &) = delete;

  std::string durability() const override {
    return durable_ ? "sync=always: each batch confirmed once its group commit is flushed "
                      "(write + fdatasync); acks logged, not waited for"
                    : "in-memory engine (no durability), for reference";
  }
  void setup() override {
    corq_config *engine_options = corq_config_new();
    if (engine_options == nullptr) throw PeerError("corq_config_new: out of memory");
    int rc = durable_ ? corq_config_set(engine_options, "sync", "always") : 0;
    if (rc == 0 && durable_)
      rc = corq_config_set(engine_options, "io_backend", options_.io_backend.c_str());
    if (rc == 0)
      rc = corq_open(durable_ ? options_.dir.c_str() : nullptr, engine_options, &engine_);
    corq_config_free(engine_options);
    check(rc, "corq_open");
    corq_config *queue_options = corq_config_new();
    if (queue_options == nullptr) throw PeerError("corq_config_new: out of memory");
    rc = corq_config_set(queue_options, "durable", durable_ ? "true" : "false");
    if (rc == 0) rc = corq_config_set(queue_options, "dead_letter_queue", "");
    // Room for every message of the run (the default max_length is 1000000).
    const std::string length = std::to_string(options_.messages + 1);
    if (rc == 0) rc = corq_config_set(queue_options, "max_length", length.c_str());
    if (rc == 0) rc = corq_config_set(queue_options, "max_bytes", "64GiB");
    if (rc == 0) rc = corq_queue_declare(engine_, options_.queue.c_str(), queue_options);
    corq_config_free(queue_options);
    check(rc, "corq_queue_declare");
  }
  std::unique_ptr<PeerProducer> open_producer(std::size_t) override {
    return std::make_unique<CorqProducer>(engine_, options_.queue);
  }
  std::unique_ptr<PeerConsumer> open_consumer(std::size_t) override {
    return std::make_unique<CorqConsumer>(engine_, options_.queue, options_.prefetch,
                                          options_.size);
  }
  void teardown() noexcept override {
    if (engine_ != nullptr) corq_close(engine_);
    engine_ = nullptr;
  }

 private:
  PeerOptions options_;
  bool durable_;
  corq_engine *engine_ = nullptr;
};

}  // namespace

std::unique_ptr<PeerSystem> make_corq(const PeerOptions &options, bool durable) {
  return std::make_unique<CorqSystem>(options, durable);
}

}  // namespace corq::peers
