// corq-bridge's config parser (bridge/config.hpp), white-box and without a cluster: one test per
// rule of the text format, named after it. Good input parses to the right values and defaults;
// every bad input fails with an error that names its line ("line N: ...") when one line is at
// fault, and no error ever repeats a secret (a password or a token, written in the config, in a
// server URL or in a password_file / token_file).
#include <gtest/gtest.h>

#include <fstream>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "config.hpp"
#include "support/temp_dir.hpp"

namespace {

using corq::bridge::BridgeConfig;
using corq::bridge::parse_config;

/// What parse_config made of a text.
struct Parsed {
  bool ok = false;
  BridgeConfig config;
  std::string error;
};

Parsed parse(const std::string &text) {
  Parsed p;
  p.ok = parse_config(text, p.config, p.error);
  return p;
}

/// The smallest valid config, one section per vector: [nats], [outbound out1], [inbound in1].
/// Tests add lines at the end of one of them (valid_with) so that the line they add has a known
/// number.
enum class At { nats, outbound, inbound };

struct Doc {
  std::string text;
  int line = 0;  // the line number of the first added line
};

Doc valid_with(At at, std::initializer_list<std::string> added) {
  std::vector<std::vector<std::string>> sections = {
      {"[nats]", "servers = nats://127.0.0.1:4222"},
      {"[outbound out1]", "queue = jobs", "subject = corq.jobs"},
      {"[inbound in1]", "jetstream = ORDERS", "durable = bridge", "queue = orders"},
  };
  Doc doc;
  int line = 0;
  for (std::size_t s = 0; s < sections.size(); ++s) {
    for (const std::string &l : sections[s]) {
      doc.text += l + "\n";
      ++line;
    }
    if (s == static_cast<std::size_t>(at)) {
      doc.line = line + 1;
      for (const std::string &l : added) {
        doc.text += l + "\n";
        ++line;
      }
    }
  }
  return doc;
}

std::string line_prefix(int line) { return "line " + std::to_string(line) + ": "; }

/// The parse fails, its error starts with "line N: " and contains `fragment`.
void expect_error_at(const std::string &text, int line, const std::string &fragment) {
  const Parsed p = parse(text);
  EXPECT_FALSE(p.ok) << text;
  EXPECT_EQ(p.error.rfind(line_prefix(line), 0), 0u) << "error: " << p.error << "\ntext:\n" << text;
  EXPECT_NE(p.error.find(fragment), std::string::npos)
      << "error: " << p.error << "\nexpected to contain: " << fragment;
}

/// The parse fails with an error about the whole config (no line is at fault).
void expect_whole_error(const std::string &text, const std::string &fragment) {
  const Parsed p = parse(text);
  EXPECT_FALSE(p.ok) << text;
  EXPECT_NE(p.error.rfind("line ", 0), 0u) << "error: " << p.error;
  EXPECT_NE(p.error.find(fragment), std::string::npos)
      << "error: " << p.error << "\nexpected to contain: " << fragment;
}

Parsed expect_ok(const std::string &text) {
  Parsed p = parse(text);
  EXPECT_TRUE(p.ok) << p.error << "\ntext:\n" << text;
  return p;
}

void write_file(const std::string &path, const std::string &content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

constexpr const char *secret = "Zq7-s3cret-Xv";

void expect_no_secret(const Parsed &p) {
  EXPECT_EQ(p.error.find(secret), std::string::npos) << "the secret leaked: " << p.error;
  // Not even a part of it.
  EXPECT_EQ(p.error.find("s3cret"), std::string::npos) << "the secret leaked: " << p.error;
}

// ---- good input ----------------------------------------------------------------------------

TEST(BridgeConfig, FullConfigWithEveryKeyParsesToItsValues) {
  const std::string text =
      "[nats]\n"
      "servers = nats://n1.example:4222, tls://n2.example:4223 ,nats://[::1]:4224\n"
      "name = billing-bridge\n"
      "user = alice\n"
      "password = pw-1\n"
      "tls_ca = /etc/ca.pem\n"
      "tls_cert = /etc/cert.pem\n"
      "tls_key = /etc/key.pem\n"
      "tls_hostname = nats.example\n"
      "connect_timeout_ms = 1500\n"
      "reconnect_wait_ms = 250\n"
      "jetstream_timeout_ms = 7000\n"
      "[outbound from-stream]\n"
      "stream = events\n"
      "subject = corq.events.all\n"
      "group = my-group\n"
      "max_in_flight = 64\n"
      "publish_timeout_ms = 2000\n"
      "lease_ms = 90000\n"
      "retry_backoff_ms = 50\n"
      "retry_backoff_max_ms = 800\n"
      "[outbound from-queue]\n"
      "queue = jobs\n"
      "subject = corq.jobs\n"
      "[inbound orders]\n"
      "jetstream = ORDERS\n"
      "durable = corq-orders\n"
      "filter_subject = orders.*.created\n"
      "stream = orders-log\n"
      "batch = 100\n"
      "fetch_wait_ms = 250\n"
      "ack_wait_ms = 45000\n"
      "commit_timeout_ms = 9000\n"
      "retry_backoff_ms = 20\n"
      "retry_backoff_max_ms = 400\n"
      "key = none\n";
  const Parsed p = expect_ok(text);
  const auto &n = p.config.nats;
  EXPECT_EQ(n.servers, (std::vector<std::string>{"nats://n1.example:4222", "tls://n2.example:4223",
                                                 "nats://[::1]:4224"}));
  EXPECT_EQ(n.name, "billing-bridge");
  EXPECT_EQ(n.user, "alice");
  EXPECT_EQ(n.password, "pw-1");
  EXPECT_EQ(n.tls_ca, "/etc/ca.pem");
  EXPECT_EQ(n.tls_cert, "/etc/cert.pem");
  EXPECT_EQ(n.tls_key, "/etc/key.pem");
  EXPECT_EQ(n.tls_hostname, "nats.example");
  EXPECT_TRUE(n.tls);
  EXPECT_EQ(n.connect_timeout_ms, 1500);
  EXPECT_EQ(n.reconnect_wait_ms, 250);
  EXPECT_EQ(n.jetstream_timeout_ms, 7000);

  ASSERT_EQ(p.config.outbound.size(), 2u);
  const auto &s = p.config.outbound[0];
  EXPECT_EQ(s.name, "from-stream");
  EXPECT_TRUE(s.from.is_stream());
  EXPECT_EQ(s.from.stream, "events");
  EXPECT_EQ(s.from.queue, "");
  EXPECT_EQ(s.from.name(), "events");
  EXPECT_EQ(s.subject, "corq.events.all");
  EXPECT_EQ(s.group, "my-group");
  EXPECT_EQ(s.max_in_flight, 64u);
  EXPECT_EQ(s.publish_timeout_ms, 2000);
  EXPECT_EQ(s.lease_ms, 90000);
  EXPECT_EQ(s.retry_backoff_ms, 50);
  EXPECT_EQ(s.retry_backoff_max_ms, 800);
  const auto &q = p.config.outbound[1];
  EXPECT_EQ(q.name, "from-queue");
  EXPECT_FALSE(q.from.is_stream());
  EXPECT_EQ(q.from.queue, "jobs");
  EXPECT_EQ(q.from.name(), "jobs");
  EXPECT_EQ(q.subject, "corq.jobs");
  EXPECT_EQ(q.group, "");  // a queue source has no consumer group

  ASSERT_EQ(p.config.inbound.size(), 1u);
  const auto &i = p.config.inbound[0];
  EXPECT_EQ(i.name, "orders");
  EXPECT_EQ(i.jetstream, "ORDERS");
  EXPECT_EQ(i.durable, "corq-orders");
  EXPECT_EQ(i.filter_subject, "orders.*.created");
  EXPECT_TRUE(i.to.is_stream());
  EXPECT_EQ(i.to.stream, "orders-log");
  EXPECT_EQ(i.batch, 100u);
  EXPECT_EQ(i.fetch_wait_ms, 250);
  EXPECT_EQ(i.ack_wait_ms, 45000);
  EXPECT_EQ(i.commit_timeout_ms, 9000);
  EXPECT_EQ(i.retry_backoff_ms, 20);
  EXPECT_EQ(i.retry_backoff_max_ms, 400);
  EXPECT_EQ(i.key, "none");
}

TEST(BridgeConfig, KeysLeftOutTakeTheirDefaults) {
  const Parsed p = expect_ok(valid_with(At::nats, {}).text);
  const auto &n = p.config.nats;
  EXPECT_EQ(n.servers, std::vector<std::string>{"nats://127.0.0.1:4222"});
  EXPECT_EQ(n.name, "corq-bridge");
  EXPECT_EQ(n.user, "");
  EXPECT_EQ(n.password, "");
  EXPECT_EQ(n.token, "");
  EXPECT_EQ(n.creds_file, "");
  EXPECT_EQ(n.nkey_public, "");
  EXPECT_EQ(n.nkey_seed_file, "");
  EXPECT_EQ(n.tls_ca, "");
  EXPECT_FALSE(n.tls);
  EXPECT_EQ(n.connect_timeout_ms, 5000);
  EXPECT_EQ(n.reconnect_wait_ms, 500);
  EXPECT_EQ(n.jetstream_timeout_ms, 5000);

  ASSERT_EQ(p.config.outbound.size(), 1u);
  const auto &o = p.config.outbound[0];
  EXPECT_EQ(o.name, "out1");
  EXPECT_EQ(o.from.queue, "jobs");
  EXPECT_EQ(o.subject, "corq.jobs");
  EXPECT_EQ(o.max_in_flight, 256u);
  EXPECT_EQ(o.publish_timeout_ms, 5000);
  EXPECT_EQ(o.lease_ms, 60000);
  EXPECT_EQ(o.retry_backoff_ms, 100);
  EXPECT_EQ(o.retry_backoff_max_ms, 5000);
  EXPECT_EQ(o.group, "");

  ASSERT_EQ(p.config.inbound.size(), 1u);
  const auto &i = p.config.inbound[0];
  EXPECT_EQ(i.name, "in1");
  EXPECT_EQ(i.jetstream, "ORDERS");
  EXPECT_EQ(i.durable, "bridge");
  EXPECT_EQ(i.filter_subject, "");
  EXPECT_EQ(i.to.queue, "orders");
  EXPECT_FALSE(i.to.is_stream());
  EXPECT_EQ(i.batch, 256u);
  EXPECT_EQ(i.fetch_wait_ms, 500);
  EXPECT_EQ(i.ack_wait_ms, 30000);
  EXPECT_EQ(i.commit_timeout_ms, 30000);
  EXPECT_EQ(i.retry_backoff_ms, 100);
  EXPECT_EQ(i.retry_backoff_max_ms, 5000);
  EXPECT_EQ(i.key, "subject");
}

TEST(BridgeConfig, OneRuleOfEitherDirectionIsEnough) {
  expect_ok("[nats]\nservers = nats://h:4222\n[outbound o]\nqueue = q\nsubject = s\n");
  expect_ok(
      "[nats]\nservers = nats://h:4222\n[inbound i]\njetstream = J\ndurable = d\nqueue = q\n");
  // [nats] may come after the rules.
  expect_ok("[outbound o]\nqueue = q\nsubject = s\n[nats]\nservers = nats://h:4222\n");
}

TEST(BridgeConfig, CommentsBlankLinesAndWhitespaceAreIgnored) {
  const std::string text =
      "# a comment\n"
      "; another comment\n"
      "\n"
      "   \t \n"
      "  # an indented comment\n"
      "\t; an indented comment\n"
      "  [ nats ]  \r\n"
      "servers=nats://h:4222\r\n"
      "\tname\t=\t  spaced name  \t\n"
      "[outbound   o1 ]\n"
      "  queue =    jobs\n"
      "subject   = a.b\n"
      "# servers = tls://ignored:1\n"
      "; queue = ignored";  // no newline at the end
  const Parsed p = expect_ok(text);
  EXPECT_EQ(p.config.nats.servers, std::vector<std::string>{"nats://h:4222"});
  EXPECT_EQ(p.config.nats.name, "spaced name");
  ASSERT_EQ(p.config.outbound.size(), 1u);
  EXPECT_EQ(p.config.outbound[0].name, "o1");
  EXPECT_EQ(p.config.outbound[0].from.queue, "jobs");
  EXPECT_EQ(p.config.outbound[0].subject, "a.b");
  EXPECT_FALSE(p.config.nats.tls);
}

TEST(BridgeConfig, ValuesAreTakenAsWrittenWithoutInlineCommentsOrQuotes) {
  // Only a whole line is a comment: a '#' after a value belongs to the value.
  const Parsed p = expect_ok(valid_with(At::nats, {"name = east # primary"}).text);
  EXPECT_EQ(p.config.nats.name, "east # primary");
  const Parsed quoted = expect_ok(valid_with(At::nats, {"name = \"quoted\""}).text);
  EXPECT_EQ(quoted.config.nats.name, "\"quoted\"");
  // A value may hold '=' (the first one separates key and value).
  const Parsed eq = expect_ok(valid_with(At::nats, {"user = u", "password = a=b=="}).text);
  EXPECT_EQ(eq.config.nats.password, "a=b==");
  // Hence a subject followed by a comment is a subject with blanks.
  expect_error_at("[nats]\nservers = nats://h:4222\n[outbound o]\nqueue = q\nsubject = a.b # c\n",
                  5, "'subject' must be a NATS subject");
}

TEST(BridgeConfig, ParsingResetsTheOutputFirst) {
  BridgeConfig config;
  std::string error;
  ASSERT_TRUE(parse_config(valid_with(At::nats, {"name = first"}).text, config, error)) << error;
  ASSERT_TRUE(parse_config("[nats]\nservers = nats://h:1\n[outbound o]\nqueue = q\nsubject = s\n",
                           config, error))
      << error;
  EXPECT_EQ(config.nats.name, "corq-bridge");
  EXPECT_EQ(config.nats.servers, std::vector<std::string>{"nats://h:1"});
  EXPECT_EQ(config.outbound.size(), 1u);
  EXPECT_TRUE(config.inbound.empty());
}

// ---- sections ------------------------------------------------------------------------------

TEST(BridgeConfig, UnknownSectionIsRefused) {
  expect_error_at(valid_with(At::inbound, {"[exchange x]"}).text, 10,
                  "unknown section [exchange x]");
  expect_error_at(valid_with(At::inbound, {"[]"}).text, 10, "unknown section");
  expect_error_at(valid_with(At::inbound, {"[Nats]"}).text, 10, "unknown section [Nats]");
}

TEST(BridgeConfig, SectionHeaderMustEndWithBracket) {
  expect_error_at(valid_with(At::inbound, {"[outbound x"}).text, 10, "must end with ']'");
  expect_error_at(valid_with(At::inbound, {"["}).text, 10, "must end with ']'");
}

TEST(BridgeConfig, NatsSectionTwiceIsRefused) {
  expect_error_at(valid_with(At::inbound, {"[nats]"}).text, 10, "[nats] appears twice");
}

TEST(BridgeConfig, NatsSectionWithANameIsRefused) {
  expect_error_at("[nats main]\nservers = nats://h:4222\n", 1, "[nats] takes no name");
}

TEST(BridgeConfig, RuleNameMustBe1To100NameCharacters) {
  for (const std::string &header :
       std::vector<std::string>{"[outbound]", "[outbound a b]", "[inbound a/b]", "[inbound a*]",
                                "[outbound " + std::string(101, 'r') + "]"}) {
    expect_error_at(valid_with(At::inbound, {header}).text, 10,
                    "the name must be 1-100 characters of [A-Za-z0-9._:-]");
  }
  const std::string longest(100, 'r');
  const Parsed p = expect_ok(
      valid_with(At::inbound, {"[outbound " + longest + "]", "queue = q", "subject = s"}).text);
  ASSERT_EQ(p.config.outbound.size(), 2u);
  EXPECT_EQ(p.config.outbound[1].name, longest);
  expect_ok(valid_with(At::inbound, {"[outbound aZ09._:-]", "queue = q", "subject = s"}).text);
}

TEST(BridgeConfig, RuleNameUsedTwiceIsRefused) {
  expect_error_at(valid_with(At::inbound, {"[outbound out1]"}).text, 10,
                  "rule name 'out1' is used twice");
  // Outbound and inbound rules share one namespace (the names make group and queue names).
  expect_error_at(valid_with(At::inbound, {"[inbound out1]"}).text, 10,
                  "rule name 'out1' is used twice");
  expect_error_at(valid_with(At::inbound, {"[outbound in1]"}).text, 10,
                  "rule name 'in1' is used twice");
}

TEST(BridgeConfig, KeyBeforeAnySectionIsRefused) {
  expect_error_at("# header\n\nservers = nats://h:4222\n[nats]\n", 3,
                  "'servers' before any section");
}

TEST(BridgeConfig, KeySetTwiceInASectionIsRefused) {
  expect_error_at(valid_with(At::nats, {"name = a", "name = b"}).text, 4, "'name' is set twice");
  expect_error_at(valid_with(At::outbound, {"queue = other"}).text, 6, "'queue' is set twice");
  expect_error_at(valid_with(At::inbound, {"durable = other"}).text, 10, "'durable' is set twice");
  // The same key in two sections is no repeat.
  expect_ok(valid_with(At::inbound, {"retry_backoff_ms = 7"}).text);
}

TEST(BridgeConfig, LineWithoutEqualsIsRefused) {
  expect_error_at(valid_with(At::nats, {"name"}).text, 3, "expected 'key = value'");
  expect_error_at(valid_with(At::outbound, {"max_in_flight 5"}).text, 6, "expected 'key = value'");
}

TEST(BridgeConfig, EmptyValueIsRefused) {
  expect_error_at(valid_with(At::nats, {"name ="}).text, 3, "'name' has no value");
  expect_error_at(valid_with(At::outbound, {"group = \t "}).text, 6, "'group' has no value");
  expect_error_at(valid_with(At::inbound, {"filter_subject="}).text, 10,
                  "'filter_subject' has no value");
}

TEST(BridgeConfig, UnknownKeyInNatsIsRefused) {
  expect_error_at(valid_with(At::nats, {"server = nats://h:1"}).text, 3,
                  "unknown key 'server' in [nats]");
  // Keys of the other sections do not belong here either.
  expect_error_at(valid_with(At::nats, {"queue = q"}).text, 3, "unknown key 'queue' in [nats]");
}

TEST(BridgeConfig, UnknownKeyInOutboundIsRefused) {
  expect_error_at(valid_with(At::outbound, {"batch = 5"}).text, 6,
                  "unknown key 'batch' in [outbound out1]");
  expect_error_at(valid_with(At::outbound, {"Subject = x"}).text, 6,
                  "unknown key 'Subject' in [outbound out1]");
}

TEST(BridgeConfig, UnknownKeyInInboundIsRefused) {
  expect_error_at(valid_with(At::inbound, {"subject = a.b"}).text, 10,
                  "unknown key 'subject' in [inbound in1]");
  expect_error_at(valid_with(At::inbound, {"group = g"}).text, 10,
                  "unknown key 'group' in [inbound in1]");
}

// ---- numbers: each numeric key, its range, and what is not a number --------------------------

struct NumericKey {
  At at;
  const char *key;
  std::int64_t min, max;
  // A line the key's extreme values need beside them (the backoff pair must stay ordered).
  const char *companion_at_min;
  const char *companion_at_max;
};

// gtest prints a parameter in the test's listing; the key says it all.
void PrintTo(const NumericKey &k, std::ostream *os) { *os << k.key; }

class BridgeConfigNumber : public ::testing::TestWithParam<NumericKey> {};

std::int64_t numeric_field(const BridgeConfig &c, At at, const std::string &key) {
  if (at == At::nats) {
    if (key == "connect_timeout_ms") return c.nats.connect_timeout_ms;
    if (key == "reconnect_wait_ms") return c.nats.reconnect_wait_ms;
    if (key == "jetstream_timeout_ms") return c.nats.jetstream_timeout_ms;
  } else if (at == At::outbound) {
    const auto &o = c.outbound.at(0);
    if (key == "max_in_flight") return o.max_in_flight;
    if (key == "publish_timeout_ms") return o.publish_timeout_ms;
    if (key == "lease_ms") return o.lease_ms;
    if (key == "retry_backoff_ms") return o.retry_backoff_ms;
    if (key == "retry_backoff_max_ms") return o.retry_backoff_max_ms;
  } else {
    const auto &i = c.inbound.at(0);
    if (key == "batch") return i.batch;
    if (key == "fetch_wait_ms") return i.fetch_wait_ms;
    if (key == "ack_wait_ms") return i.ack_wait_ms;
    if (key == "commit_timeout_ms") return i.commit_timeout_ms;
    if (key == "retry_backoff_ms") return i.retry_backoff_ms;
    if (key == "retry_backoff_max_ms") return i.retry_backoff_max_ms;
  }
  ADD_FAILURE() << "no field for " << key;
  return -1;
}

TEST_P(BridgeConfigNumber, AcceptsItsRangeAndRefusesTheRestNamingTheRange) {
  const NumericKey k = GetParam();
  const std::string key = k.key;
  const auto set = [&](const std::string &value) { return key + " = " + value; };
  const std::string range = "'" + key + "' must be an integer from " + std::to_string(k.min) +
                            " to " + std::to_string(k.max);

  const Parsed at_min =
      expect_ok(valid_with(k.at, {set(std::to_string(k.min)), k.companion_at_min}).text);
  if (at_min.ok) {
    EXPECT_EQ(numeric_field(at_min.config, k.at, key), k.min);
  }
  const Parsed at_max =
      expect_ok(valid_with(k.at, {set(std::to_string(k.max)), k.companion_at_max}).text);
  if (at_max.ok) {
    EXPECT_EQ(numeric_field(at_max.config, k.at, key), k.max);
  }

  for (const std::string &bad : std::vector<std::string>{
           std::to_string(k.min - 1), std::to_string(k.max + 1), "-1", "abc", "12x", "1.5", "+5",
           "1e3", "0x10", "1 000", "9999999999999999999999"}) {
    const Doc d = valid_with(k.at, {set(bad)});
    SCOPED_TRACE(key + " = " + bad);
    expect_error_at(d.text, d.line, range);
  }
}

std::string numeric_key_name(const ::testing::TestParamInfo<NumericKey> &info) {
  const char *section = info.param.at == At::nats       ? "nats_"
                        : info.param.at == At::outbound ? "outbound_"
                                                        : "inbound_";
  return section + std::string(info.param.key);
}

constexpr std::int64_t day_ms = 86400000;

INSTANTIATE_TEST_SUITE_P(
    EachKey, BridgeConfigNumber,
    ::testing::Values(
        NumericKey{At::nats, "connect_timeout_ms", 1, 600000, "", ""},
        NumericKey{At::nats, "reconnect_wait_ms", 1, 600000, "", ""},
        NumericKey{At::nats, "jetstream_timeout_ms", 1, 600000, "", ""},
        NumericKey{At::outbound, "max_in_flight", 1, 65536, "", ""},
        NumericKey{At::outbound, "publish_timeout_ms", 1, 600000, "", ""},
        NumericKey{At::outbound, "lease_ms", 1000, day_ms, "", ""},
        NumericKey{At::outbound, "retry_backoff_ms", 1, 600000, "",
                   "retry_backoff_max_ms = 600000"},
        NumericKey{At::outbound, "retry_backoff_max_ms", 1, 3600000, "retry_backoff_ms = 1", ""},
        NumericKey{At::inbound, "batch", 1, 4096, "", ""},
        NumericKey{At::inbound, "fetch_wait_ms", 1, 60000, "", ""},
        NumericKey{At::inbound, "ack_wait_ms", 1000, day_ms, "", ""},
        NumericKey{At::inbound, "commit_timeout_ms", 1, 600000, "", ""},
        NumericKey{At::inbound, "retry_backoff_ms", 1, 600000, "", "retry_backoff_max_ms = 600000"},
        NumericKey{At::inbound, "retry_backoff_max_ms", 1, 3600000, "retry_backoff_ms = 1", ""}),
    numeric_key_name);

TEST(BridgeConfig, RetryBackoffMaxBelowRetryBackoffIsRefused) {
  // The error names the rule's header line: the pair is wrong, not one line of it.
  expect_error_at(
      valid_with(At::outbound, {"retry_backoff_ms = 200", "retry_backoff_max_ms = 199"}).text, 3,
      "[outbound out1] retry_backoff_max_ms is below retry_backoff_ms");
  expect_error_at(
      valid_with(At::inbound, {"retry_backoff_ms = 200", "retry_backoff_max_ms = 199"}).text, 6,
      "[inbound in1] retry_backoff_max_ms is below retry_backoff_ms");
  // Against the default maximum (5000) too.
  expect_error_at(valid_with(At::outbound, {"retry_backoff_ms = 5001"}).text, 3,
                  "retry_backoff_max_ms is below retry_backoff_ms");
  // Equal is fine.
  expect_ok(
      valid_with(At::outbound, {"retry_backoff_ms = 300", "retry_backoff_max_ms = 300"}).text);
}

// ---- servers -------------------------------------------------------------------------------

TEST(BridgeConfig, ServersMissingIsRefused) {
  expect_whole_error("[nats]\nname = x\n[outbound o]\nqueue = q\nsubject = s\n",
                     "the config needs [nats] with servers");
  expect_whole_error("[outbound o]\nqueue = q\nsubject = s\n",
                     "the config needs [nats] with servers");
}

TEST(BridgeConfig, ServersListingNoServerIsRefused) {
  expect_error_at("[nats]\nservers = ,\n", 2, "'servers' lists no server");
  expect_error_at("[nats]\nservers =  , ,  \n", 2, "'servers' lists no server");
}

TEST(BridgeConfig, ServersListIsCommaSeparatedAndTrimmed) {
  const Parsed p = expect_ok(
      "[nats]\nservers = nats://a:1 ,  nats://b:2,,nats://c:3,\n[outbound o]\nqueue = q\n"
      "subject = s\n");
  EXPECT_EQ(p.config.nats.servers,
            (std::vector<std::string>{"nats://a:1", "nats://b:2", "nats://c:3"}));
}

Doc with_servers(const std::string &servers) {
  return {"[nats]\nservers = " + servers + "\n[outbound o]\nqueue = q\nsubject = s\n", 2};
}

TEST(BridgeConfig, ServerUrlSchemeOtherThanNatsOrTlsIsRefused) {
  for (const std::string &url :
       std::vector<std::string>{"http://h:4222", "https://h:4222", "ws://h:4222", "h:4222",
                                "NATS://h:4222", "nats:/h:4222", "127.0.0.1"}) {
    SCOPED_TRACE(url);
    expect_error_at(with_servers(url).text, 2, "must start with nats:// or tls://");
  }
  // One bad server in a list is enough.
  expect_error_at(with_servers("nats://a:1, http://b:2").text, 2,
                  "server URL 'http://b:2' must start with nats:// or tls://");
}

TEST(BridgeConfig, NatsAndTlsSchemesAreAccepted) {
  for (const std::string &url :
       std::vector<std::string>{"nats://h:4222", "tls://h:4222", "nats://h", "tls://h",
                                "nats://10.0.0.1:1", "nats://h.example.com:65535"}) {
    SCOPED_TRACE(url);
    const Parsed p = expect_ok(with_servers(url).text);
    EXPECT_EQ(p.config.nats.servers, std::vector<std::string>{url});
  }
}

TEST(BridgeConfig, TlsSchemeTurnsTlsOn) {
  EXPECT_FALSE(expect_ok(with_servers("nats://h:4222").text).config.nats.tls);
  EXPECT_TRUE(expect_ok(with_servers("tls://h:4222").text).config.nats.tls);
  // One tls:// server turns it on for the connection.
  EXPECT_TRUE(expect_ok(with_servers("nats://a:1, tls://b:2").text).config.nats.tls);
}

TEST(BridgeConfig, BracketedIpv6HostIsAccepted) {
  for (const std::string &url : std::vector<std::string>{
           "nats://[::1]:4222", "tls://[::1]:4222", "nats://[::1]", "nats://[fe80::1:2]:65535"}) {
    SCOPED_TRACE(url);
    expect_ok(with_servers(url).text);
  }
  expect_error_at(with_servers("nats://[::1:4222").text, 2, "unclosed '['");
  expect_error_at(with_servers("nats://[::1]4222").text, 2, "must be scheme://host[:port]");
  expect_error_at(with_servers("nats://[]:4222").text, 2, "has no host");
}

TEST(BridgeConfig, ServerUrlWithBadPortIsRefused) {
  for (const std::string &url : std::vector<std::string>{
           "nats://h:0", "nats://h:70000", "nats://h:65536", "nats://h:abc",
           "nats://h:", "nats://h:123456", "nats://h:-1", "nats://h:42a", "nats://[::1]:0",
           "nats://[::1]:70000", "nats://[::1]:", "tls://[::1]:abc"}) {
    SCOPED_TRACE(url);
    expect_error_at(with_servers(url).text, 2, "server URL '" + url + "' has a bad port");
  }
}

TEST(BridgeConfig, ServerUrlWithoutHostOrWithAPathIsRefused) {
  expect_error_at(with_servers("nats://").text, 2, "has no host");
  expect_error_at(with_servers("nats://:4222").text, 2, "has no host");
  expect_error_at(with_servers("nats://h:4222/path").text, 2, "must be scheme://host[:port]");
}

TEST(BridgeConfig, ServerUrlWithCredentialsIsRefusedWithoutEchoingThem) {
  const std::string pass = secret;
  for (const std::string &url : std::vector<std::string>{
           "nats://alice:" + pass + "@h:4222", "tls://alice:" + pass + "@h:4222",
           "nats://" + pass + "@h:4222", "nats://alice:" + pass + "@[::1]:4222",
           // A URL that is wrong in another way too: still not echoed.
           "http://alice:" + pass + "@h:4222", "nats://alice:" + pass + "@h:0"}) {
    SCOPED_TRACE(url);
    const Parsed p = parse(with_servers("nats://ok:1, " + url).text);
    EXPECT_FALSE(p.ok);
    EXPECT_EQ(p.error.rfind("line 2: server URL ", 0), 0u) << p.error;
    expect_no_secret(p);
    EXPECT_EQ(p.error.find("alice"), std::string::npos) << p.error;
  }
  const Parsed p = parse(with_servers("nats://alice:" + pass + "@h:4222").text);
  EXPECT_NE(p.error.find("must not carry credentials"), std::string::npos) << p.error;
}

// ---- outbound ------------------------------------------------------------------------------

TEST(BridgeConfig, OutboundNeedsExactlyOneOfQueueAndStream) {
  const std::string nats = "[nats]\nservers = nats://h:4222\n";
  expect_error_at(nats + "[outbound o]\nsubject = s\n", 3,
                  "[outbound o] needs exactly one of queue and stream");
  expect_error_at(nats + "[outbound o]\nqueue = q\nstream = s\nsubject = s\n[outbound p]\n", 3,
                  "[outbound o] needs exactly one of queue and stream");
  expect_ok(nats + "[outbound o]\nstream = st\nsubject = s\n");
}

TEST(BridgeConfig, OutboundNeedsSubject) {
  expect_error_at("[nats]\nservers = nats://h:4222\n\n[outbound o]\nqueue = q\n", 4,
                  "[outbound o] needs subject");
  // The check runs when the section ends, before the next one starts.
  expect_error_at("[outbound o]\nqueue = q\n[nats]\nservers = nats://h:4222\n", 1,
                  "[outbound o] needs subject");
}

TEST(BridgeConfig, LocalQueueAndStreamNamesAreCorqNames) {
  const std::string nats = "[nats]\nservers = nats://h:4222\n";
  for (const std::string &name :
       std::vector<std::string>{"a b", "a/b", "a*", "é", std::string(201, 'q')}) {
    SCOPED_TRACE(name);
    expect_error_at(nats + "[outbound o]\nqueue = " + name + "\n", 4,
                    "'queue' must be a corq name");
    expect_error_at(nats + "[outbound o]\nstream = " + name + "\n", 4,
                    "'stream' must be a corq name");
    expect_error_at(nats + "[outbound o]\ngroup = " + name + "\n", 4,
                    "'group' must be a corq name");
    expect_error_at(nats + "[inbound i]\nqueue = " + name + "\n", 4, "'queue' must be a corq name");
    expect_error_at(nats + "[inbound i]\nstream = " + name + "\n", 4,
                    "'stream' must be a corq name");
  }
  const std::string longest(200, 'q');
  const Parsed p = expect_ok(nats + "[outbound o]\nqueue = " + longest + "\nsubject = s\n");
  EXPECT_EQ(p.config.outbound.at(0).from.queue, longest);
}

TEST(BridgeConfig, SubjectWithWildcardsBlanksOrEmptyTokensIsRefused) {
  const std::string head = "[nats]\nservers = nats://h:4222\n[outbound o]\nqueue = q\n";
  for (const std::string &subject : std::vector<std::string>{
           "a.*", "a.>", "*", ">", "a*", "a>b", "a b", "a\tb", "a..b", ".a", "a.", "."}) {
    SCOPED_TRACE(subject);
    expect_error_at(head + "subject = " + subject + "\n", 5,
                    "'subject' must be a NATS subject without wildcards or blanks");
  }
  for (const std::string &subject :
       std::vector<std::string>{"a", "a.b.c", "corq-jobs_1.x:y", "A.B"}) {
    SCOPED_TRACE(subject);
    EXPECT_EQ(expect_ok(head + "subject = " + subject + "\n").config.outbound.at(0).subject,
              subject);
  }
}

TEST(BridgeConfig, GroupDefaultsToCorqBridgeDotRuleNameForAStreamSource) {
  const std::string nats = "[nats]\nservers = nats://h:4222\n";
  const Parsed p = expect_ok(nats + "[outbound audit.v2]\nstream = events\nsubject = s\n");
  EXPECT_EQ(p.config.outbound.at(0).group, "corq-bridge.audit.v2");
  // Set explicitly, it is kept.
  const Parsed q = expect_ok(nats + "[outbound o]\nstream = events\nsubject = s\ngroup = mine\n");
  EXPECT_EQ(q.config.outbound.at(0).group, "mine");
  // A queue source gets none.
  const Parsed r = expect_ok(nats + "[outbound o]\nqueue = jobs\nsubject = s\n");
  EXPECT_EQ(r.config.outbound.at(0).group, "");
}

TEST(BridgeConfig, SendAsapIsTrueOrFalse) {
  const std::string head = "[nats]\nservers = nats://h:4222\n";
  const std::string rule = "[outbound o]\nqueue = q\nsubject = s\n";
  EXPECT_FALSE(expect_ok(head + rule).config.nats.send_asap);
  EXPECT_TRUE(expect_ok(head + "send_asap = true\n" + rule).config.nats.send_asap);
  EXPECT_FALSE(expect_ok(head + "send_asap = false\n" + rule).config.nats.send_asap);
  expect_error_at(head + "send_asap = yes\n" + rule, 3, "'send_asap' must be true or false");
}

TEST(BridgeConfig, GroupOnAQueueSourceIsRefused) {
  expect_error_at(
      "[nats]\nservers = nats://h:4222\n[outbound o]\nqueue = jobs\nsubject = s\n"
      "group = mine\n",
      3, "[outbound o] group applies only to a stream source");
}

TEST(BridgeConfig, KeyOnAQueueTargetIsRefused) {
  expect_error_at(
      "[nats]\nservers = nats://h:4222\n[inbound i]\njetstream = J\ndurable = d\n"
      "queue = q\nkey = none\n",
      3, "[inbound i] key applies only to a stream target");
}

TEST(BridgeConfig, AServerUrlWithATabOrControlCharacterIsRefused) {
  for (const std::string &url :
       {std::string("nats://h\t:4222"), std::string("nats://h\x01:4222")}) {
    const Parsed p = parse("[nats]\nservers = " + url + "\n[outbound o]\nqueue = q\nsubject = s\n");
    EXPECT_FALSE(p.ok);
    EXPECT_NE(p.error.find("line 2:"), std::string::npos) << p.error;
  }
}

// ---- inbound -------------------------------------------------------------------------------

TEST(BridgeConfig, InboundNeedsJetstreamAndDurable) {
  const std::string nats = "[nats]\nservers = nats://h:4222\n";
  expect_error_at(nats + "[inbound i]\ndurable = d\nqueue = q\n", 3,
                  "[inbound i] needs jetstream (the JetStream stream)");
  expect_error_at(nats + "[inbound i]\njetstream = J\nqueue = q\n", 3,
                  "[inbound i] needs durable (the JetStream consumer)");
}

TEST(BridgeConfig, InboundNeedsExactlyOneOfQueueAndStream) {
  const std::string nats = "[nats]\nservers = nats://h:4222\n";
  expect_error_at(nats + "[inbound i]\njetstream = J\ndurable = d\n", 3,
                  "[inbound i] needs exactly one of queue and stream");
  expect_error_at(nats + "[inbound i]\njetstream = J\ndurable = d\nqueue = q\nstream = s\n", 3,
                  "[inbound i] needs exactly one of queue and stream");
}

TEST(BridgeConfig, JetstreamAndDurableNamesWithDotsOrWildcardsAreRefused) {
  for (const std::string &name :
       std::vector<std::string>{"ORDERS.v2", "A*", "A>", "A B", "a/b", std::string(256, 'J')}) {
    SCOPED_TRACE(name);
    expect_error_at(valid_with(At::outbound, {}).text + "[inbound i]\njetstream = " + name + "\n",
                    11, "'jetstream' must be a JetStream stream name");
    expect_error_at(valid_with(At::outbound, {}).text + "[inbound i]\ndurable = " + name + "\n", 11,
                    "'durable' must be a JetStream consumer name");
  }
  const std::string longest(255, 'J');
  const Parsed p = expect_ok("[nats]\nservers = nats://h:1\n[inbound i]\njetstream = " + longest +
                             "\ndurable = " + longest + "\nqueue = q\n");
  EXPECT_EQ(p.config.inbound.at(0).jetstream, longest);
  EXPECT_EQ(p.config.inbound.at(0).durable, longest);
}

TEST(BridgeConfig, FilterSubjectTakesStarTokensAndALastGreaterThanToken) {
  for (const std::string &filter :
       std::vector<std::string>{"a.*.c", "a.>", ">", "*", "*.*", "a.b", "*.>", "a"}) {
    SCOPED_TRACE(filter);
    EXPECT_EQ(expect_ok(valid_with(At::inbound, {"filter_subject = " + filter}).text)
                  .config.inbound.at(0)
                  .filter_subject,
              filter);
  }
  for (const std::string &filter : std::vector<std::string>{
           "a.>.c", ">.a", "a>", "a*", "a.b*", "*a", "a..b", ".a", "a.", "a b", "a.*x", "."}) {
    SCOPED_TRACE(filter);
    expect_error_at(valid_with(At::inbound, {"filter_subject = " + filter}).text, 10,
                    "'filter_subject' is not a NATS subject");
  }
}

TEST(BridgeConfig, KeyIsSubjectOrNone) {
  const std::string into_stream =
      "[nats]\nservers = nats://h:4222\n[inbound i]\njetstream = J\ndurable = d\nstream = s\n";
  EXPECT_EQ(expect_ok(into_stream + "key = subject\n").config.inbound.at(0).key, "subject");
  EXPECT_EQ(expect_ok(into_stream + "key = none\n").config.inbound.at(0).key, "none");
  for (const std::string &key : std::vector<std::string>{"Subject", "NONE", "id", "subject none"}) {
    SCOPED_TRACE(key);
    expect_error_at(valid_with(At::inbound, {"key = " + key}).text, 10,
                    "'key' must be subject or none");
  }
}

// ---- credentials and TLS -------------------------------------------------------------------

TEST(BridgeConfig, EachKindOfCredentialsAloneIsAccepted) {
  const Parsed up = expect_ok(valid_with(At::nats, {"user = u", "password = p"}).text);
  EXPECT_EQ(up.config.nats.user, "u");
  EXPECT_EQ(up.config.nats.password, "p");
  EXPECT_EQ(expect_ok(valid_with(At::nats, {"token = t"}).text).config.nats.token, "t");
  EXPECT_EQ(expect_ok(valid_with(At::nats, {"creds = /c.creds"}).text).config.nats.creds_file,
            "/c.creds");
  const Parsed nk =
      expect_ok(valid_with(At::nats, {"nkey_public = UABC", "nkey_seed_file = /seed"}).text);
  EXPECT_EQ(nk.config.nats.nkey_public, "UABC");
  EXPECT_EQ(nk.config.nats.nkey_seed_file, "/seed");
}

TEST(BridgeConfig, MoreThanOneKindOfCredentialsIsRefused) {
  const std::vector<std::vector<std::string>> mixes = {
      {"user = u", "password = p", "token = t"},
      {"token = t", "creds = /c"},
      {"creds = /c", "nkey_public = U", "nkey_seed_file = /s"},
      {"user = u", "password = p", "nkey_public = U", "nkey_seed_file = /s"},
      {"user = u", "password = p", "creds = /c"},
  };
  for (const auto &mix : mixes) {
    std::string text = "[nats]\nservers = nats://h:4222\n";
    for (const std::string &l : mix) text += l + "\n";
    text += "[outbound o]\nqueue = q\nsubject = s\n";
    SCOPED_TRACE(text);
    expect_whole_error(text, "[nats] sets more than one kind of credentials");
  }
}

TEST(BridgeConfig, UserWithoutPasswordIsRefused) {
  expect_whole_error(valid_with(At::nats, {"user = u"}).text,
                     "[nats] user and password (or password_file) go together");
  expect_whole_error(valid_with(At::nats, {"password = p"}).text,
                     "[nats] user and password (or password_file) go together");
}

TEST(BridgeConfig, PasswordAndPasswordFileTogetherAreRefused) {
  expect_whole_error(
      valid_with(At::nats, {"user = u", "password = p", "password_file = /nonexistent"}).text,
      "[nats] sets both password and password_file");
}

TEST(BridgeConfig, TokenAndTokenFileTogetherAreRefused) {
  expect_whole_error(valid_with(At::nats, {"token = t", "token_file = /nonexistent"}).text,
                     "[nats] sets both token and token_file");
}

TEST(BridgeConfig, PasswordFileIsReadWithoutItsTrailingNewline) {
  corq::test::TempDir dir;
  const std::string path = dir.path() + "/password";
  for (const std::string &ending : std::vector<std::string>{"", "\n", "\r\n", "\n\n"}) {
    write_file(path, std::string("pw with = and # and spaces ") + ending);
    const Parsed p = expect_ok(valid_with(At::nats, {"user = u", "password_file = " + path}).text);
    EXPECT_EQ(p.config.nats.password, "pw with = and # and spaces ");
  }
}

TEST(BridgeConfig, PasswordFileMissingOrEmptyIsRefused) {
  corq::test::TempDir dir;
  const std::string missing = dir.path() + "/missing";
  expect_whole_error(valid_with(At::nats, {"user = u", "password_file = " + missing}).text,
                     "[nats] password_file: cannot read '" + missing + "'");
  const std::string empty = dir.path() + "/empty";
  for (const std::string &content : std::vector<std::string>{"", "\n", "\r\n"}) {
    write_file(empty, content);
    expect_whole_error(valid_with(At::nats, {"user = u", "password_file = " + empty}).text,
                       "[nats] password_file: '" + empty + "' is empty");
  }
}

TEST(BridgeConfig, TokenFileIsReadWithoutItsTrailingNewline) {
  corq::test::TempDir dir;
  const std::string path = dir.path() + "/token";
  write_file(path, "tok-123\n");
  EXPECT_EQ(expect_ok(valid_with(At::nats, {"token_file = " + path}).text).config.nats.token,
            "tok-123");
}

TEST(BridgeConfig, TokenFileMissingOrEmptyIsRefused) {
  corq::test::TempDir dir;
  const std::string missing = dir.path() + "/missing";
  expect_whole_error(valid_with(At::nats, {"token_file = " + missing}).text,
                     "[nats] token_file: cannot read '" + missing + "'");
  const std::string empty = dir.path() + "/empty";
  write_file(empty, "\n");
  expect_whole_error(valid_with(At::nats, {"token_file = " + empty}).text,
                     "[nats] token_file: '" + empty + "' is empty");
}

TEST(BridgeConfig, NkeyPublicWithoutSeedFileIsRefused) {
  expect_whole_error(valid_with(At::nats, {"nkey_public = UABC"}).text,
                     "[nats] nkey_public and nkey_seed_file go together");
  expect_whole_error(valid_with(At::nats, {"nkey_seed_file = /seed"}).text,
                     "[nats] nkey_public and nkey_seed_file go together");
}

TEST(BridgeConfig, TlsCertWithoutTlsKeyIsRefused) {
  expect_whole_error(valid_with(At::nats, {"tls_ca = /ca", "tls_cert = /cert"}).text,
                     "[nats] tls_cert and tls_key go together");
  expect_whole_error(valid_with(At::nats, {"tls_ca = /ca", "tls_key = /key"}).text,
                     "[nats] tls_cert and tls_key go together");
}

TEST(BridgeConfig, TlsCertWithoutTlsIsRefused) {
  expect_whole_error(valid_with(At::nats, {"tls_cert = /cert", "tls_key = /key"}).text,
                     "[nats] tls_cert needs tls_ca or tls:// servers");
  // Either turns TLS on, and then a client certificate is fine.
  const Parsed ca =
      expect_ok(valid_with(At::nats, {"tls_cert = /cert", "tls_key = /key", "tls_ca = /ca"}).text);
  EXPECT_TRUE(ca.config.nats.tls);
  expect_ok(
      "[nats]\nservers = tls://h:4222\ntls_cert = /cert\ntls_key = /key\n"
      "[outbound o]\nqueue = q\nsubject = s\n");
}

TEST(BridgeConfig, TlsCaTurnsTlsOn) {
  const Parsed p = expect_ok(valid_with(At::nats, {"tls_ca = /ca.pem"}).text);
  EXPECT_TRUE(p.config.nats.tls);
  EXPECT_EQ(p.config.nats.tls_ca, "/ca.pem");
}

TEST(BridgeConfig, NoRulesAtAllIsRefused) {
  expect_whole_error("[nats]\nservers = nats://h:4222\n",
                     "the config has no [outbound NAME] or [inbound NAME] rule");
  expect_whole_error("", "the config needs [nats] with servers");
}

// ---- secrets -------------------------------------------------------------------------------

TEST(BridgeConfig, SecretsNeverAppearInErrors) {
  const std::string s = secret;
  corq::test::TempDir dir;
  const std::string password_file = dir.path() + "/password";
  write_file(password_file, s + "\n");
  const std::string token_file = dir.path() + "/token";
  write_file(token_file, s + "\n");
  struct Case {
    std::string text;
    int line;  // 0: an error about the whole config
  };
  const std::string rule = "[outbound o]\nqueue = q\nsubject = s\n";
  const std::vector<Case> cases = {
      // Errors on the line that carries the secret.
      {"[nats]\nservers = nats://h:1\nuser = u\npassword = a\npassword = " + s + "\n", 5},
      {"[nats]\nservers = nats://h:1\ntoken = a\ntoken = " + s + "\n", 4},
      {"password = " + s + "\n[nats]\n", 1},
      {"token = " + s + "\n[nats]\n", 1},
      {"[nats]\nservers = nats://h:1\n" + rule + "password = " + s + "\n", 6},
      {"[nats]\nservers = nats://h:1\n" + rule + "token = " + s + "\n", 6},
      {"[nats]\nservers = nats://h:1\n[inbound i]\ntoken = " + s + "\n", 4},
      {"[nats]\nservers = nats://h:1\npassword " + s + "\n", 3},
      {"[nats]\nservers = nats://h:1\ntoken " + s + "\n", 3},
      {"[nats]\nservers = nats://u:" + s + "@h:1\n", 2},
      // Forgetting the '=' before a token that ends in '=' (base64) must not echo the token.
      {"[nats]\nservers = nats://h:1\ntoken " + s + "==\n", 3},
      {"[nats]\nservers = nats://h:1\ntoken: " + s + "=\n", 3},
      {"[nats]\nservers = nats://h:1\npassword " + s + "=\n", 3},
      {"token " + s + "=\n[nats]\n", 1},
      // Errors about the whole config, with the secret set.
      {"[nats]\nservers = nats://h:1\ntoken = " + s + "\nuser = u\npassword = " + s + "\n" + rule,
       0},
      {"[nats]\nservers = nats://h:1\nuser = u\npassword = " + s +
           "\npassword_file = " + password_file + "\n" + rule,
       0},
      {"[nats]\nservers = nats://h:1\ntoken = " + s + "\ntoken_file = " + token_file + "\n" + rule,
       0},
      {"[nats]\nservers = nats://h:1\npassword = " + s + "\n" + rule, 0},
      {"[nats]\nservers = nats://h:1\nuser = u\npassword_file = " + password_file +
           "\ntoken_file = " + token_file + "\n" + rule,
       0},
      {"[nats]\nservers = nats://h:1\npassword_file = " + password_file + "\n" + rule, 0},
      {"[nats]\nservers = nats://h:1\ntoken = " + s + "\n", 0},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.text);
    const Parsed p = parse(c.text);
    EXPECT_FALSE(p.ok);
    if (c.line > 0) {
      EXPECT_EQ(p.error.rfind(line_prefix(c.line), 0), 0u) << p.error;
    } else {
      EXPECT_NE(p.error.rfind("line ", 0), 0u) << p.error;
    }
    expect_no_secret(p);
  }
}

TEST(BridgeConfig, KeyMustBeOneWord) {
  // A line whose key has blanks or punctuation is not echoed (it may be a secret missing its '=').
  expect_error_at(valid_with(At::nats, {"connect timeout ms = 5"}).text, 3,
                  "expected 'key = value'");
  expect_error_at(valid_with(At::nats, {"name: x = y"}).text, 3, "expected 'key = value'");
  expect_error_at(valid_with(At::nats, {"= value"}).text, 3, "expected 'key = value'");
  expect_error_at("token abc=\n[nats]\n", 1, "expected 'key = value'");
  const Parsed p = parse(valid_with(At::nats, {"connect timeout ms = 5"}).text);
  EXPECT_EQ(p.error.find("timeout"), std::string::npos) << p.error;
}

}  // namespace
