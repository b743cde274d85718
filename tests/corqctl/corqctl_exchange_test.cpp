// tests/corqctl/corqctl_exchange_test.cpp — corqctl on a directory with exchanges and bindings
// (issue #16): the reading commands list the durable topology the log holds — and only that — and
// `publish --exchange` routes through an exchange. As corqctl_test.cpp: the directory is built with
// the C API, the real corqctl runs as a child process, effects are read back through the C API.
//
// The topology directory (CorqctlTopology), all durable unless said:
//   queues inventory, email, analytics, lost; a temporary subscriber queue (transient)
//   orders.events  topic, alternate_exchange=unrouted
//     -> queue inventory "order.*", -> queue email "order.created", -> exchange audit "order.#",
//     -> the temporary queue "#" (transient: a durable exchange to a transient queue)
//     -> queue lost "order.cancelled" (unbound again)
//   audit          fanout, internal      -> queue analytics ""
//   unrouted       fanout                -> queue lost ""
//   by-format      headers               -> queue email "" x-match=any format=pdf user (NULL)
//   empty          direct, no bindings
//   scratch        direct, durable=false (not in the log)
//   gone           direct, deleted (with its binding to inventory)
// One message ("order 1") published through orders.events with key order.created: a copy in
// inventory, email and analytics (one publish_fanout record); inventory's copy then delivered and
// never settled (in flight there, and only there).
#include "corqctl_run.hpp"

#include <regex>

namespace {

using namespace corqctl_test;

constexpr int exit_failed = 6;

class CorqctlTopology : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.root().empty()) << "mkdtemp: " << std::strerror(errno);
    dir_ = scratch_.root() / "data";
    corq_engine *engine = open_engine(dir_);
    ASSERT_NE(engine, nullptr);
    for (const char *queue : {"inventory", "email", "analytics", "lost"})
      ASSERT_EQ(corq_queue_declare(engine, queue, nullptr), CORQ_OK) << corq_last_error();
    char temp[64];
    ASSERT_EQ(corq_queue_declare_temp(engine, nullptr, temp, sizeof temp), CORQ_OK)
        << corq_last_error();
    declare(engine, "orders.events", "topic", {{"alternate_exchange", "unrouted"}});
    declare(engine, "audit", "fanout", {{"internal", "true"}});
    declare(engine, "unrouted", "fanout", {});
    declare(engine, "by-format", "headers", {});
    declare(engine, "empty", "direct", {});
    declare(engine, "scratch", "direct", {{"durable", "false"}});
    declare(engine, "gone", "direct", {});
    bind(engine, "orders.events", "inventory", "order.*");
    bind(engine, "orders.events", "email", "order.created");
    ASSERT_EQ(corq_exchange_bind(engine, "orders.events", "audit", "order.#", nullptr, 0), CORQ_OK)
        << corq_last_error();
    bind(engine, "orders.events", temp, "#");
    bind(engine, "orders.events", "lost", "order.cancelled");
    ASSERT_EQ(corq_unbind(engine, "orders.events", "lost", "order.cancelled", nullptr, 0), CORQ_OK)
        << corq_last_error();
    bind(engine, "audit", "analytics", "");
    bind(engine, "unrouted", "lost", "");
    static const char any[] = "any", pdf[] = "pdf";
    const corq_header arguments[] = {{"x-match", any, 3}, {"format", pdf, 3}, {"user", nullptr, 0}};
    ASSERT_EQ(corq_bind(engine, "by-format", "email", "", arguments, 3), CORQ_OK)
        << corq_last_error();
    bind(engine, "scratch", "inventory", "k");
    bind(engine, "gone", "inventory", "k");
    ASSERT_EQ(corq_exchange_delete(engine, "gone"), CORQ_OK) << corq_last_error();

    const std::string data = "order 1";
    const corq_message message{data.data(), data.size(), nullptr, 0, nullptr};
    uint32_t routed = 0;
    ASSERT_EQ(corq_exchange_publish(engine, "orders.events", "order.created", &message, nullptr,
                                    nullptr, &routed),
              CORQ_OK)
        << corq_last_error();
    ASSERT_EQ(routed, 4u);  // inventory, email, analytics (through audit), the temporary queue
    corq_consumer *consumer = nullptr;
    ASSERT_EQ(corq_consumer_open(engine, "inventory", 1, &consumer), CORQ_OK);
    corq_delivery delivery;
    ASSERT_EQ(corq_consume(consumer, &delivery, 1, 1000), 1);
    corq_consumer_close(consumer);  // releases it, which the log does not record
    ASSERT_EQ(corq_close(engine), CORQ_OK);
  }

  static void declare(corq_engine *engine, const char *name, const char *type,
                      const std::vector<std::pair<const char *, const char *>> &options) {
    corq_config *config = corq_config_new();
    for (const auto &[key, value] : options) corq_config_set(config, key, value);
    ASSERT_EQ(corq_exchange_declare(engine, name, type, config), CORQ_OK) << corq_last_error();
    corq_config_free(config);
  }
  static void bind(corq_engine *engine, const char *exchange, const char *queue, const char *key) {
    ASSERT_EQ(corq_bind(engine, exchange, queue, key, nullptr, 0), CORQ_OK) << corq_last_error();
  }

  Outcome run(const std::vector<std::string> &args, const std::string &input = {}) {
    return corqctl(scratch_.root(), args, input);
  }
  std::string dir() const { return dir_.string(); }

  Scratch scratch_;
  fs::path dir_;
};

// ---- reading commands ---------------------------------------------------------------------------

TEST_F(CorqctlTopology, inspect_lists_durable_exchanges_with_options_and_bindings) {
  const Outcome r = run({"inspect", dir()});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(contains(r.out, "exchanges: 5\n")) << describe(r);
  EXPECT_TRUE(contains(r.out,
                       "exchange orders.events\n  type: topic\n"
                       "  options: alternate_exchange=unrouted durable=true internal=false\n"
                       "  bindings: 3\n"
                       "    -> queue email key=\"order.created\"\n"
                       "    -> queue inventory key=\"order.*\"\n"
                       "    -> exchange audit key=\"order.#\"\n"))
      << describe(r);
  EXPECT_TRUE(contains(r.out,
                       "exchange audit\n  type: fanout\n"
                       "  options: alternate_exchange= durable=true internal=true\n"
                       "  bindings: 1\n    -> queue analytics key=\"\"\n"))
      << describe(r);
  // Arguments sorted by key; a NULL value (presence only) is not an empty one.
  EXPECT_TRUE(contains(r.out,
                       "exchange by-format\n  type: headers\n"
                       "  options: alternate_exchange= durable=true internal=false\n"
                       "  bindings: 1\n    -> queue email key=\"\" arguments: format=\"pdf\" "
                       "user (present) x-match=\"any\"\n"))
      << describe(r);
  EXPECT_TRUE(contains(r.out, "exchange empty\n  type: direct\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "  bindings: 0\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "exchange unrouted\n")) << describe(r);
  // Not in the log: the transient exchange, the deleted one, the unbound binding, the binding to
  // the transient (temporary) queue.
  EXPECT_FALSE(contains(r.out, "scratch")) << describe(r);
  EXPECT_FALSE(contains(r.out, "gone")) << describe(r);
  EXPECT_FALSE(contains(r.out, "order.cancelled")) << describe(r);
  EXPECT_FALSE(contains(r.out, "corq.gen-")) << describe(r);
  // The fanned-out copies are settled one by one: only inventory's is in flight.
  EXPECT_TRUE(contains(r.out, "queue inventory\n")) << describe(r);
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("queue inventory\n.*\n  messages: 0 ready \\(0 bytes\\), 1 in flight")))
      << describe(r);
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("queue email\n.*\n  messages: 1 ready \\(7 bytes\\), 0 in flight")))
      << describe(r);
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("queue analytics\n.*\n  messages: 1 ready \\(7 bytes\\), 0 in flight")))
      << describe(r);

  const Outcome verify = run({"verify", dir()});
  ASSERT_EQ(verify.exit_code, exit_ok) << describe(verify);
  EXPECT_TRUE(contains(verify.out, "8 queues, 3 live messages, 5 exchanges, 6 bindings"))
      << describe(verify);
}

TEST_F(CorqctlTopology, inspect_shows_what_corq_open_recovers) {
  corq_engine *engine = open_engine(dir_);
  ASSERT_NE(engine, nullptr);
  corq_exchange_stats stats{};
  stats.struct_size = sizeof stats;
  ASSERT_EQ(corq_exchange_stats_get(engine, "orders.events", &stats), CORQ_OK);
  EXPECT_EQ(stats.bindings, 3u);
  EXPECT_EQ(corq_exchange_stats_get(engine, "scratch", &stats), CORQ_ENOENT);
  EXPECT_EQ(corq_exchange_stats_get(engine, "gone", &stats), CORQ_ENOENT);
  corq_close(engine);
}

TEST_F(CorqctlTopology, stats_table_json_and_prometheus_show_exchanges) {
  const Outcome text = run({"stats", dir()});
  ASSERT_EQ(text.exit_code, exit_ok) << describe(text);
  EXPECT_TRUE(std::regex_search(
      text.out, std::regex("\nexchange +type +durable +internal +bindings +alternate_exchange\n")))
      << describe(text);
  EXPECT_TRUE(std::regex_search(text.out,
                                std::regex("\norders\\.events +topic +true +false +3 +unrouted\n")))
      << describe(text);
  EXPECT_TRUE(std::regex_search(text.out, std::regex("\naudit +fanout +true +true +1 +-\n")))
      << describe(text);

  const Outcome json = run({"stats", dir(), "--json"});
  ASSERT_EQ(json.exit_code, exit_ok) << describe(json);
  EXPECT_TRUE(contains(json.out,
                       "\"orders.events\":{\"type\":\"topic\",\"durable\":true,\"internal\":false,"
                       "\"alternate_exchange\":\"unrouted\",\"bindings\":3}"))
      << describe(json);
  EXPECT_TRUE(contains(json.out,
                       "\"audit\":{\"type\":\"fanout\",\"durable\":true,\"internal\":true,"
                       "\"alternate_exchange\":null,\"bindings\":1}"))
      << describe(json);
  EXPECT_TRUE(
      contains(json.out,
               "{\"source\":\"by-format\",\"destination_type\":\"queue\",\"destination\":"
               "\"email\",\"key\":\"\",\"arguments\":[{\"key\":\"format\",\"value\":\"pdf\"},"
               "{\"key\":\"user\",\"value\":null},{\"key\":\"x-match\",\"value\":\"any\"}]}"))
      << describe(json);
  EXPECT_TRUE(contains(json.out,
                       "{\"source\":\"orders.events\",\"destination_type\":\"exchange\","
                       "\"destination\":\"audit\",\"key\":\"order.#\",\"arguments\":[]}"))
      << describe(json);
  // The queues' fields are as they were; the new objects come after them.
  EXPECT_TRUE(contains(json.out, "\"email\":{\"ready\":1,\"in_flight\":0,")) << describe(json);
  EXPECT_TRUE(
      std::regex_search(json.out, std::regex("\\},\"exchanges\":\\{.*\\},\"bindings\":\\[")))
      << describe(json);
  EXPECT_FALSE(contains(json.out, "scratch")) << describe(json);

  const Outcome prom = run({"stats", dir(), "--prometheus"});
  ASSERT_EQ(prom.exit_code, exit_ok) << describe(prom);
  EXPECT_TRUE(contains(prom.out, "# TYPE corq_exchange_bindings gauge\n")) << describe(prom);
  EXPECT_TRUE(
      contains(prom.out, "corq_exchange_bindings{exchange=\"orders.events\",type=\"topic\"} 3\n"))
      << describe(prom);
  EXPECT_TRUE(contains(prom.out, "corq_exchange_bindings{exchange=\"empty\",type=\"direct\"} 0\n"))
      << describe(prom);
  const std::regex line_format(
      R"re((# HELP [a-z_]+ .+)|(# TYPE [a-z_]+ gauge)|([a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+(\.[0-9]+)?))re");
  std::istringstream lines(prom.out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(std::regex_match(line, line_format)) << line;
}

TEST_F(CorqctlTopology, dump_filters_by_exchange_and_by_queue) {
  const Outcome x = run({"dump", dir(), "--exchange", "orders.events"});
  ASSERT_EQ(x.exit_code, exit_ok) << describe(x);
  EXPECT_TRUE(contains(x.out, " declare_exchange ")) << describe(x);
  EXPECT_TRUE(contains(x.out, " bind ")) << describe(x);
  EXPECT_TRUE(contains(x.out, " unbind ")) << describe(x);
  EXPECT_FALSE(contains(x.out, " publish")) << describe(x);  // a fan-out names its queues only
  EXPECT_FALSE(contains(x.out, " declare ")) << describe(x);

  const Outcome audit = run({"dump", dir(), "-x", "audit"});
  ASSERT_EQ(audit.exit_code, exit_ok) << describe(audit);
  // Its declaration, the binding into it and the one out of it.
  const std::regex bind_record(" bind ");
  const auto binds =
      std::distance(std::sregex_iterator(audit.out.begin(), audit.out.end(), bind_record),
                    std::sregex_iterator());
  EXPECT_EQ(binds, 2) << describe(audit);

  // A queue's records include the fan-out publish that reached it and its bindings, and no
  // exchange declaration (whose exchange id may equal the queue's id).
  const Outcome q = run({"dump", dir(), "--queue", "analytics"});
  ASSERT_EQ(q.exit_code, exit_ok) << describe(q);
  EXPECT_TRUE(contains(q.out, " publish_fanout ")) << describe(q);
  EXPECT_TRUE(contains(q.out, " bind ")) << describe(q);
  EXPECT_FALSE(contains(q.out, " declare_exchange ")) << describe(q);
  const Outcome lost = run({"dump", dir(), "--queue", "lost"});
  ASSERT_EQ(lost.exit_code, exit_ok) << describe(lost);
  EXPECT_FALSE(contains(lost.out, " publish_fanout ")) << describe(lost);

  const Outcome none = run({"dump", dir(), "--exchange", "nope"});
  EXPECT_EQ(none.exit_code, exit_no_queue) << describe(none);
  EXPECT_TRUE(contains(none.err, "no exchange 'nope' in the log")) << describe(none);
  EXPECT_EQ(run({"dump", dir(), "--exchange", "scratch"}).exit_code, exit_no_queue);
}

// ---- publish --exchange -------------------------------------------------------------------------

TEST_F(CorqctlTopology, publish_through_an_exchange_routes_to_every_matching_queue) {
  const Outcome r = run({"publish", dir(), "order.created", "--exchange", "orders.events", "-H",
                         "trace=abc", "order 2"});
  ASSERT_EQ(r.exit_code, exit_ok) << describe(r);
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("published message [0-9]+ \\(7 bytes\\) through exchange orders.events "
                        "with key \"order.created\": routed to 3 queues\n")))
      << describe(r);
  EXPECT_EQ(stats_of(dir_, "inventory").ready, 2u);  // the in-flight one is ready again
  EXPECT_EQ(stats_of(dir_, "email").ready, 2u);
  EXPECT_EQ(stats_of(dir_, "analytics").ready, 2u);
  const Outcome list = run({"dlq", "list", dir(), "email"});
  EXPECT_TRUE(contains(list.out,
                       "  trace: abc\n  x-exchange: orders.events\n"
                       "  x-routing-key: order.created\n  data: \"order 2\""))
      << describe(list);

  // Unmatched: to the alternate exchange, which routes to lost.
  const Outcome alt =
      run({"publish", dir(), "refund.created", "-x", "orders.events", "--mandatory", "-"}, "r");
  ASSERT_EQ(alt.exit_code, exit_ok) << describe(alt);
  EXPECT_TRUE(contains(alt.out, "routed to 1 queues\n")) << describe(alt);
  EXPECT_EQ(stats_of(dir_, "lost").ready, 1u);

  // Headers exchange: the headers choose, the key does not matter.
  const Outcome pdf =
      run({"publish", dir(), "", "--exchange", "by-format", "-H", "format=pdf", "invoice"});
  ASSERT_EQ(pdf.exit_code, exit_ok) << describe(pdf);
  EXPECT_TRUE(contains(pdf.out, "with key \"\": routed to 1 queues")) << describe(pdf);
  EXPECT_EQ(stats_of(dir_, "email").ready, 3u);

  // The default exchange: the key names the queue.
  const Outcome by_name = run({"publish", dir(), "lost", "--exchange", "", "x"});
  ASSERT_EQ(by_name.exit_code, exit_ok) << describe(by_name);
  EXPECT_TRUE(contains(by_name.out, "through the default exchange with key \"lost\": routed to 1"))
      << describe(by_name);
  EXPECT_EQ(stats_of(dir_, "lost").ready, 2u);
}

TEST_F(CorqctlTopology, publish_unroutable_is_dropped_and_said_or_refused_with_mandatory) {
  const Outcome dropped = run({"publish", dir(), "k", "--exchange", "empty", "x"});
  ASSERT_EQ(dropped.exit_code, exit_ok) << describe(dropped);
  EXPECT_TRUE(contains(dropped.out, "routed to 0 queues (unroutable: dropped; --mandatory"))
      << describe(dropped);

  const Outcome refused = run({"publish", dir(), "k", "--exchange", "empty", "--mandatory", "x"});
  EXPECT_EQ(refused.exit_code, exit_failed) << describe(refused);
  EXPECT_TRUE(contains(refused.err, "routed the message to no queue")) << describe(refused);
  EXPECT_TRUE(refused.out.empty()) << describe(refused);

  const Outcome no_queue = run({"publish", dir(), "nope", "--exchange", "", "--mandatory", "x"});
  EXPECT_EQ(no_queue.exit_code, exit_failed) << describe(no_queue);
  for (const char *queue : {"inventory", "email", "analytics", "lost"})
    EXPECT_EQ(stats_of(dir_, queue).ready, std::string(queue) == "lost" ? 0u : 1u) << queue;
}

TEST_F(CorqctlTopology, publish_bad_input_through_an_exchange) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    const char *error;  // in stderr
  };
  const std::string long_key(256, 'k');
  const std::vector<Case> cases = {
      {{"publish", dir(), "k", "--exchange", "nope", "x"}, exit_no_queue, "nope"},
      {{"publish", dir(), "k", "--exchange", "scratch", "x"}, exit_no_queue, "scratch"},
      {{"publish", dir(), "k", "--exchange", "audit", "x"}, exit_usage, "internal"},
      {{"publish", dir(), long_key, "--exchange", "orders.events", "x"}, exit_usage, "255"},
      {{"publish", dir(), "k", "--exchange", "bad name!", "x"}, exit_usage, "exchange"},
      {{"publish", dir(), "inventory", "--mandatory", "x"}, exit_usage, "--exchange"},
      {{"publish", dir(), "k", "--exchange", "empty", "--declare", "x"}, exit_usage, "--declare"},
      {{"publish", dir(), "--exchange"}, exit_usage, "exchange"},
      {{"dump", dir(), "--queue", "email", "--exchange", "audit"}, exit_usage, "excludes"},
  };
  for (const Case &c : cases) {
    const Outcome r = run(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args[3] << "\n" << describe(r);
    EXPECT_TRUE(contains(r.err, c.error)) << c.error << "\n" << describe(r);
  }
  EXPECT_EQ(stats_of(dir_, "inventory").ready, 1u);  // nothing was published
}

TEST_F(CorqctlTopology, publish_through_an_exchange_needs_the_lock) {
  corq_engine *holder = open_engine(dir_);
  ASSERT_NE(holder, nullptr);
  const Outcome r = run({"publish", dir(), "order.created", "--exchange", "orders.events", "x"});
  EXPECT_EQ(r.exit_code, exit_locked) << describe(r);
  const Outcome inspect = run({"inspect", dir()});
  EXPECT_EQ(inspect.exit_code, exit_ok) << describe(inspect);
  EXPECT_TRUE(contains(inspect.out, "exchange orders.events\n")) << describe(inspect);
  corq_close(holder);
}

TEST(CorqctlExchangeHelp, publish_help_explains_exchange_and_mandatory) {
  Scratch scratch;
  const Outcome r = corqctl(scratch.root(), {"publish", "--help"});
  EXPECT_EQ(r.exit_code, exit_ok) << describe(r);
  for (const char *text : {"--exchange", "--mandatory", "routing key"})
    EXPECT_TRUE(contains(r.out, text)) << text << "\n" << describe(r);
  const Outcome dump = corqctl(scratch.root(), {"dump", "--help"});
  EXPECT_TRUE(contains(dump.out, "--exchange")) << describe(dump);
  EXPECT_TRUE(contains(dump.out, "5 no such queue or exchange")) << describe(dump);
}

}  // namespace
