// tests/routing/request_reply_test.cpp — corq_request / corq_respond (DESIGN.md §6
// "Request-reply"): responses correlated to their request, no responder, timeouts, late responses
// dropped and counted, a gone reply queue, concurrent requesters, bad input.
#include "routing/exchange_helpers.hpp"

#include <atomic>
#include <thread>

namespace corq::test {
namespace {

using namespace std::chrono_literals;

struct ReplyFree {
  void operator()(corq_reply *r) const noexcept { corq_reply_free(r); }
};
using ReplyPtr = std::unique_ptr<corq_reply, ReplyFree>;

std::string text_of(const corq_reply &r) {
  return r.len == 0 ? std::string() : std::string(static_cast<const char *>(r.data), r.len);
}

/// Sends a request; returns the code and the reply (NULL on error).
int try_request(corq_engine *e, const char *exchange, const char *key, std::string_view body,
                std::int32_t timeout_ms, ReplyPtr &out) {
  const corq_message m = message(body);
  corq_reply *reply = reinterpret_cast<corq_reply *>(0x1);  // must come back NULL on error
  const int rc = corq_request(e, exchange, key, &m, timeout_ms, &reply);
  out.reset(rc == CORQ_OK ? reply : nullptr);
  if (rc != CORQ_OK && reply != nullptr) throw std::runtime_error("*reply not NULL on an error");
  return rc;
}

/// A responder thread: answers every request on `queue` with "re:" + its payload, until stopped.
class Responder {
 public:
  Responder(corq_engine *e, const std::string &queue) : consumer_(open_consumer(e, queue, 64)) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        std::vector<corq_delivery> got = consume(consumer_.get(), 16, 20);
        for (const corq_delivery &d : got) {
          const std::string answer = "re:" + payload(d);
          const corq_message m = message(answer);
          must(corq_respond(consumer_.get(), d.tag, &m), "respond");
        }
      }
    });
  }
  ~Responder() {
    stop_.store(true);
    thread_.join();
  }

 private:
  ConsumerPtr consumer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::uint64_t request_counter(corq_engine *e, const std::string &name) {
  char *json = nullptr;
  must(corq_stats_json(e, &json), "stats_json");
  const std::string text = json;
  corq_free(json);
  const std::size_t at = text.find("\"" + name + "\":", text.find("\"requests\":"));
  if (at == std::string::npos) throw std::runtime_error("no " + name + " in " + text);
  return std::strtoull(text.c_str() + at + name.size() + 3, nullptr, 10);
}

class RequestReply : public ::testing::Test {
 protected:
  EnginePtr engine = open_engine();
  corq_engine *e() { return engine.get(); }
};

TEST_F(RequestReply, a_request_gets_its_response_with_the_correlation_id) {
  must_declare(e(), "rpc");
  must_declare_exchange(e(), "services", "direct");
  must_bind(e(), "services", "rpc", "echo");
  Responder responder(e(), "rpc");
  ReplyPtr reply;
  EXPECT_CORQ_OK(try_request(e(), "services", "echo", "ping", 5000, reply));
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(text_of(*reply), "re:ping");
  bool correlated = false;
  for (std::size_t i = 0; i < reply->header_count; ++i)
    correlated |= std::string(reply->headers[i].key) == "x-correlation-id";
  EXPECT_TRUE(correlated);
  EXPECT_CORQ_OK(try_request(e(), "", "rpc", "direct", 5000, reply));  // the default exchange
  EXPECT_EQ(text_of(*reply), "re:direct");
  EXPECT_EQ(request_counter(e(), "replied"), 2u);
}

TEST_F(RequestReply, a_request_no_queue_takes_fails_at_once_as_unroutable) {
  must_declare_exchange(e(), "services", "direct");
  ReplyPtr reply;
  EXPECT_CORQ_FAILS(CORQ_EUNROUTABLE, try_request(e(), "services", "nobody", "x", -1, reply));
  EXPECT_CORQ_FAILS(CORQ_EUNROUTABLE, try_request(e(), "", "no-such-queue", "x", -1, reply));
  EXPECT_CORQ_FAILS(CORQ_ENOENT, try_request(e(), "no-such-exchange", "k", "x", -1, reply));
}

TEST_F(RequestReply, a_request_without_a_response_times_out) {
  must_declare(e(), "rpc");  // nobody consumes it
  ReplyPtr reply;
  EXPECT_CORQ_FAILS(CORQ_ETIMEDOUT, try_request(e(), "", "rpc", "x", 50, reply));
  EXPECT_EQ(request_counter(e(), "timed_out"), 1u);
}

TEST_F(RequestReply, a_late_response_is_dropped_and_never_answers_a_later_request) {
  must_declare(e(), "rpc");
  ReplyPtr reply;
  EXPECT_CORQ_FAILS(CORQ_ETIMEDOUT, try_request(e(), "", "rpc", "first", 20, reply));
  {
    // The slow responder answers the abandoned request now.
    ConsumerPtr slow = open_consumer(e(), "rpc");
    const corq_delivery d = must_consume_one(slow.get(), 1000);
    const corq_message late = message("late answer");
    EXPECT_CORQ_OK(corq_respond(slow.get(), d.tag, &late));
  }
  Responder responder(e(), "rpc");
  EXPECT_CORQ_OK(try_request(e(), "", "rpc", "second", 5000, reply));
  EXPECT_EQ(text_of(*reply), "re:second");
  EXPECT_EQ(request_counter(e(), "late_replies_dropped"), 1u);
}

TEST_F(RequestReply, concurrent_requesters_each_get_their_own_response) {
  must_declare(e(), "rpc");
  Responder responder(e(), "rpc");
  constexpr int threads = 4, requests = 50;
  std::atomic<int> wrong{0};
  std::vector<std::thread> requesters;
  for (int t = 0; t < threads; ++t) {
    requesters.emplace_back([&, t] {
      for (int i = 0; i < requests; ++i) {
        const std::string body = numbered("t" + std::to_string(t) + ".", i);
        ReplyPtr reply;
        if (try_request(e(), "", "rpc", body, 10000, reply) != CORQ_OK ||
            text_of(*reply) != "re:" + body)
          ++wrong;
      }
    });
  }
  for (std::thread &t : requesters) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(request_counter(e(), "replied"), std::uint64_t{threads * requests});
}

TEST_F(RequestReply, responding_to_a_delivery_that_is_no_request_is_einval_and_acks_nothing) {
  must_declare(e(), "plain");
  publish(e(), "plain", "not a request");
  ConsumerPtr c = open_consumer(e(), "plain");
  const corq_delivery d = must_consume_one(c.get());
  const corq_message answer = message("?");
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_respond(c.get(), d.tag, &answer));
  EXPECT_EQ(stats(e(), "plain").in_flight, 1u);
  EXPECT_CORQ_OK(corq_ack(c.get(), d.tag));  // still held: the failed respond settled nothing
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_respond(c.get(), d.tag, &answer));
}

TEST_F(RequestReply, a_response_whose_reply_queue_is_gone_is_dropped_counted_and_acked) {
  must_declare(e(), "rpc");
  std::thread requester([&] {
    ReplyPtr reply;
    try_request(e(), "", "rpc", "x", 300, reply);  // times out: its reply queue will be gone
  });
  ConsumerPtr c = open_consumer(e(), "rpc");
  const corq_delivery d = must_consume_one(c.get(), 5000);
  const std::optional<std::string> reply_to = header_value(d, "x-reply-to");
  ASSERT_TRUE(reply_to.has_value());
  must(corq_queue_delete(e(), reply_to->c_str()), "delete the reply queue");
  const corq_message answer = message("nobody listens");
  EXPECT_CORQ_OK(corq_respond(c.get(), d.tag, &answer));
  EXPECT_EQ(stats(e(), "rpc").acked, 1u);
  EXPECT_EQ(request_counter(e(), "responses_dropped"), 1u);
  requester.join();
}

TEST_F(RequestReply, closing_the_engine_ends_a_waiting_request_with_eclosed) {
  must_declare(e(), "rpc");
  corq_engine *raw = engine.get();
  ProducerPtr keep = open_producer(raw, "rpc");  // keeps the engine allocated after close
  std::atomic<int> rc{CORQ_OK};
  std::thread requester([&] {
    ReplyPtr reply;
    rc = try_request(raw, "", "rpc", "x", -1, reply);
  });
  std::this_thread::sleep_for(100ms);
  must(corq_close(engine.release()), "close");
  requester.join();
  EXPECT_EQ(rc.load(), CORQ_ECLOSED);
}

TEST_F(RequestReply, bad_arguments_are_refused) {
  must_declare(e(), "rpc");
  const corq_message m = message("x");
  corq_reply *reply = nullptr;
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_request(e(), "", "rpc", &m, 10, nullptr));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_request(nullptr, "", "rpc", &m, 10, &reply));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_request(e(), nullptr, "rpc", &m, 10, &reply));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_request(e(), "", "rpc", nullptr, 10, &reply));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_request(e(), "", "rpc", &m, -2, &reply));
  EXPECT_EQ(reply, nullptr);
  std::vector<corq_header> many(63, header("h", "v"));
  const corq_message crowded = message("x", many);
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_request(e(), "", "rpc", &crowded, 10, &reply));
  ConsumerPtr c = open_consumer(e(), "rpc");
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_respond(nullptr, 1, &m));
  EXPECT_CORQ_FAILS(CORQ_EINVAL, corq_respond(c.get(), 1, nullptr));
  EXPECT_CORQ_FAILS(CORQ_ESTATE, corq_respond(c.get(), 12345, &m));
  corq_reply_free(nullptr);  // a no-op
}

}  // namespace
}  // namespace corq::test
