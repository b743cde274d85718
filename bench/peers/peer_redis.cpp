// bench/peers/peer_redis.cpp — Redis Streams with hiredis: XADD (a confirmed batch is B pipelined
// XADDs, every reply awaited), XREADGROUP with COUNT = prefetch, and one XACK per message
// (pipelined per fetch, every reply awaited and checked to be 1). The server runs with appendonly
// yes and appendfsync always (bench/peers/servers.sh), so it fsyncs its AOF before it replies.
#include <hiredis/hiredis.h>

#include <cstring>
#include <string>

#include "peer.hpp"

namespace corq::peers {
namespace {

constexpr const char *group = "corq-peers";

struct ReplyFree {
  void operator()(redisReply *r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

class Connection {
 public:
  explicit Connection(const PeerOptions &o) {
    timeval tv{10, 0};
    ctx_ = redisConnectWithTimeout(o.host.c_str(), o.port, tv);
    if (ctx_ == nullptr) throw PeerError("redisConnect: out of memory");
    if (ctx_->err != 0) {
      const std::string what = ctx_->errstr;
      redisFree(ctx_);
      throw PeerError("redisConnect: " + what);
    }
  }
  ~Connection() { redisFree(ctx_); }
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  /// Reads the next pipelined reply; a connection or server error fails the run.
  Reply next_reply(const char *what) {
    void *raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      throw PeerError(std::string(what) + ": " + ctx_->errstr);
    }
    Reply r(static_cast<redisReply *>(raw));
    if (r->type == REDIS_REPLY_ERROR) throw PeerError(std::string(what) + ": " + r->str);
    return r;
  }
  void append(int argc, const char **argv, const std::size_t *lens, const char *what) {
    if (redisAppendCommandArgv(ctx_, argc, argv, lens) != REDIS_OK) {
      throw PeerError(std::string(what) + ": " + ctx_->errstr);
    }
  }
  Reply command(int argc, const char **argv, const std::size_t *lens, const char *what) {
    append(argc, argv, lens, what);
    return next_reply(what);
  }

 private:
  redisContext *ctx_ = nullptr;
};

class RedisProducer final : public PeerProducer {
 public:
  explicit RedisProducer(const PeerOptions &o) : conn_(o), stream_(o.queue) {}

  void publish_confirmed(const std::vector<const unsigned char *> &payloads,
                         std::size_t size) override {
    for (const unsigned char *p : payloads) {
      const char *argv[] = {"XADD", stream_.c_str(), "*", "d", reinterpret_cast<const char *>(p)};
      const std::size_t lens[] = {4, stream_.size(), 1, 1, size};
      conn_.append(5, argv, lens, "XADD");
    }
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      const Reply r = conn_.next_reply("XADD");
      if (r->type != REDIS_REPLY_STRING) throw PeerError("XADD: unexpected reply type");
    }
  }

 private:
  Connection conn_;
  std::string stream_;
};

class RedisConsumer final : public PeerConsumer {
 public:
  RedisConsumer(const PeerOptions &o, std::size_t index)
      : conn_(o), stream_(o.queue), name_("consumer-" + std::to_string(index)), size_(o.size) {}

  std::size_t fetch(std::vector<Delivery> &out, std::size_t max, int timeout_ms) override {
    out.clear();
    const std::string count = std::to_string(max), block = std::to_string(timeout_ms);
    const char *argv[] = {"XREADGROUP", "GROUP",         group,   name_.c_str(),
                          "COUNT",      count.c_str(),   "BLOCK", block.c_str(),
                          "STREAMS",    stream_.c_str(), ">"};
    std::size_t lens[11];
    for (int i = 0; i < 11; ++i) lens[i] = std::strlen(argv[i]);
    const Reply r = conn_.command(11, argv, lens, "XREADGROUP");
    if (r->type == REDIS_REPLY_NIL) return 0;  // timed out
    // [[stream, [[id, [field, value]], ...]]]
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 || r->element[0]->elements != 2) {
      throw PeerError("XREADGROUP: unexpected reply shape");
    }
    const redisReply *entries = r->element[0]->element[1];
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply *entry = entries->element[i];
      if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
          entry->element[1]->type != REDIS_REPLY_ARRAY || entry->element[1]->elements != 2) {
        throw PeerError("XREADGROUP: unexpected entry shape");
      }
      const redisReply *value = entry->element[1]->element[1];
      Delivery d;
      decode_payload(value->str, value->len, size_, d);
      d.key.assign(entry->element[0]->str, entry->element[0]->len);
      out.push_back(std::move(d));
    }
    return out.size();
  }
  void ack(const Delivery &d) override {
    const char *argv[] = {"XACK", stream_.c_str(), group, d.key.c_str()};
    const std::size_t lens[] = {4, stream_.size(), std::strlen(group), d.key.size()};
    conn_.append(4, argv, lens, "XACK");
    ++pending_acks_;
  }
  void end_acks() override {
    for (; pending_acks_ > 0; --pending_acks_) {
      const Reply r = conn_.next_reply("XACK");
      if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        throw PeerError("XACK: the entry was not pending (acked twice or unknown)");
      }
    }
  }

 private:
  Connection conn_;
  std::string stream_, name_;
  std::size_t size_;
  std::size_t pending_acks_ = 0;
};

class RedisSystem final : public PeerSystem {
 public:
  explicit RedisSystem(const PeerOptions &o) : options_(o) {}
  ~RedisSystem() override { teardown(); }

  std::string durability() const override {
    return "appendonly yes, appendfsync always: the AOF is fsynced before replies are sent";
  }
  void setup() override {
    admin_ = std::make_unique<Connection>(options_);
    const std::string &s = options_.queue;
    const char *del[] = {"DEL", s.c_str()};
    const std::size_t del_lens[] = {3, s.size()};
    admin_->command(2, del, del_lens, "DEL");
    const char *create[] = {"XGROUP", "CREATE", s.c_str(), group, "$", "MKSTREAM"};
    std::size_t lens[6];
    for (int i = 0; i < 6; ++i) lens[i] = std::strlen(create[i]);
    admin_->command(6, create, lens, "XGROUP CREATE");
  }
  std::unique_ptr<PeerProducer> open_producer(std::size_t) override {
    return std::make_unique<RedisProducer>(options_);
  }
  std::unique_ptr<PeerConsumer> open_consumer(std::size_t index) override {
    return std::make_unique<RedisConsumer>(options_, index);
  }
  void teardown() noexcept override {
    if (!admin_) return;
    try {
      const char *del[] = {"DEL", options_.queue.c_str()};
      const std::size_t lens[] = {3, options_.queue.size()};
      admin_->command(2, del, lens, "DEL");
    } catch (const std::exception &) {
      // best effort: the server's data directory is removed by the suite anyway
    }
    admin_.reset();
  }

 private:
  PeerOptions options_;
  std::unique_ptr<Connection> admin_;
};

}  // namespace

std::unique_ptr<PeerSystem> make_redis(const PeerOptions &options) {
  return std::make_unique<RedisSystem>(options);
}

}  // namespace corq::peers
