// bridge/config.cpp — the config text parser (format: config.hpp, bridge/README.md).
#include "config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace corq::bridge {

namespace {

std::string trim(const std::string &s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

/// A name corq accepts for a queue: 1-200 bytes of [A-Za-z0-9._:-]. Rule names use the same
/// alphabet (they become part of queue and group names), at most 100 bytes.
bool valid_name(const std::string &s, std::size_t max_bytes) {
  if (s.empty() || s.size() > max_bytes) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// A config key: one word of [A-Za-z0-9_] (every key is; anything else is not echoed in errors).
bool valid_key(const std::string &s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

/// A NATS subject to publish to: tokens separated by '.', none empty, no wildcards, no blanks.
bool valid_publish_subject(const std::string &s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '*' || c == '>' || static_cast<unsigned char>(c) < 0x21)
      return false;
    if (c == '.' && i + 1 < s.size() && s[i + 1] == '.') return false;
  }
  return true;
}

/// A subject filter: as a subject, but '*' may be a whole token and '>' the whole last token.
bool valid_filter_subject(const std::string &s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string token =
        s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (token.empty()) return false;
    const bool last = dot == std::string::npos;
    if (token != "*" && !(token == ">" && last)) {
      for (const char c : token) {
        if (c == '*' || c == '>' || static_cast<unsigned char>(c) < 0x21) return false;
      }
    }
    if (last) return true;
    start = dot + 1;
  }
}

/// nats://host:port or tls://host:port (port optional; no credentials in the URL: they would end
/// up in libnats's error texts and in ps output of the tool).
bool valid_server_url(const std::string &url, bool &tls, std::string &why) {
  std::string rest;
  if (url.rfind("nats://", 0) == 0) {
    rest = url.substr(7);
    tls = false;
  } else if (url.rfind("tls://", 0) == 0) {
    rest = url.substr(6);
    tls = true;
  } else {
    why = "must start with nats:// or tls://";
    return false;
  }
  if (rest.find('@') != std::string::npos) {
    why = "must not carry credentials (use user, password_file, token_file or creds)";
    return false;
  }
  const bool blank = std::any_of(rest.begin(), rest.end(),
                                 [](char c) { return static_cast<unsigned char>(c) <= 0x20; });
  if (rest.find('/') != std::string::npos || blank) {
    why = "must be scheme://host[:port]";
    return false;
  }
  std::string host = rest;
  std::string port;
  if (!rest.empty() && rest[0] == '[') {  // [IPv6]:port
    const auto close = rest.find(']');
    if (close == std::string::npos) {
      why = "has an unclosed '['";
      return false;
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        why = "must be scheme://host[:port]";
        return false;
      }
      port = rest.substr(close + 2);
      if (port.empty()) port = "x";
    }
  } else if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) port = "x";
  }
  if (!port.empty() &&
      (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
       std::stoul(port) == 0 || std::stoul(port) > 65535)) {
    why = "has a bad port";
    return false;
  }
  if (host.empty()) {
    why = "has no host";
    return false;
  }
  return true;
}

bool read_secret_file(const std::string &path, std::string &out, std::string &why) {
  std::ifstream in(path);
  if (!in) {
    why = "cannot read '" + path + "'";
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out.empty()) {
    why = "'" + path + "' is empty";
    return false;
  }
  return true;
}

bool parse_i64(const std::string &text, std::int64_t min, std::int64_t max, std::int64_t &out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 18)
    return false;
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  if (v < min || v > max) return false;
  out = v;
  return true;
}

constexpr std::int64_t day_ms = 24LL * 3600 * 1000;

/// One section being filled: its keys, each with a setter that checks the value.
struct Section {
  std::string title;
  int line = 0;
  std::set<std::string> seen;
};

}  // namespace

std::string hwm_queue_name(const std::string &rule) { return "corq-bridge." + rule + ".hwm"; }

bool parse_config(const std::string &text, BridgeConfig &out, std::string &error) {
  out = BridgeConfig{};
  enum class Kind { none, nats, outbound, inbound } kind = Kind::none;
  bool have_nats = false;
  Section section;
  std::set<std::string> rule_names;
  bool key_set = false;  // [inbound] key given (only for a stream target)
  std::string password_file, token_file;
  int line_no = 0;
  auto fail = [&](const std::string &why) {
    error = "line " + std::to_string(line_no) + ": " + why;
    return false;
  };

  // Checks the section just ended: its required keys and combinations.
  auto finish_section = [&]() -> bool {
    const int saved = line_no;
    line_no = section.line;
    bool ok = true;
    if (kind == Kind::outbound) {
      OutboundConfig &r = out.outbound.back();
      if (r.from.queue.empty() == r.from.stream.empty())
        ok = fail("[" + section.title + "] needs exactly one of queue and stream");
      else if (r.subject.empty())
        ok = fail("[" + section.title + "] needs subject");
      else if (r.retry_backoff_max_ms < r.retry_backoff_ms)
        ok = fail("[" + section.title + "] retry_backoff_max_ms is below retry_backoff_ms");
      if (ok && !r.from.is_stream() && !r.group.empty())
        ok = fail("[" + section.title + "] group applies only to a stream source");
      if (ok && r.from.is_stream() && r.group.empty()) r.group = "corq-bridge." + r.name;
    } else if (kind == Kind::inbound) {
      InboundConfig &r = out.inbound.back();
      if (r.to.queue.empty() == r.to.stream.empty())
        ok = fail("[" + section.title + "] needs exactly one of queue and stream");
      else if (r.jetstream.empty())
        ok = fail("[" + section.title + "] needs jetstream (the JetStream stream)");
      else if (r.durable.empty())
        ok = fail("[" + section.title + "] needs durable (the JetStream consumer)");
      else if (r.retry_backoff_max_ms < r.retry_backoff_ms)
        ok = fail("[" + section.title + "] retry_backoff_max_ms is below retry_backoff_ms");
      else if (!r.to.is_stream() && key_set)
        ok = fail("[" + section.title + "] key applies only to a stream target");
    }
    line_no = saved;
    return ok;
  };

  std::istringstream in(text);
  std::string raw;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']') return fail("a section header must end with ']'");
      if (!finish_section()) return false;
      const std::string title = trim(line.substr(1, line.size() - 2));
      section = Section{title, line_no, {}};
      key_set = false;
      const auto space = title.find_first_of(" \t");
      const std::string type = title.substr(0, space);
      const std::string name = space == std::string::npos ? "" : trim(title.substr(space));
      if (type == "nats") {
        if (!name.empty()) return fail("[nats] takes no name");
        if (have_nats) return fail("[nats] appears twice");
        have_nats = true;
        kind = Kind::nats;
      } else if (type == "outbound" || type == "inbound") {
        if (!valid_name(name, 100))
          return fail("[" + type + " NAME]: the name must be 1-100 characters of [A-Za-z0-9._:-]");
        if (!rule_names.insert(name).second) return fail("rule name '" + name + "' is used twice");
        if (type == "outbound") {
          kind = Kind::outbound;
          out.outbound.emplace_back().name = name;
        } else {
          kind = Kind::inbound;
          out.inbound.emplace_back().name = name;
        }
      } else {
        return fail("unknown section [" + title + "] (nats, outbound NAME, inbound NAME)");
      }
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) return fail("expected 'key = value'");
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    // Only a one-word key is ever echoed: "token abc=" (a base64 token whose '=' was forgotten)
    // would otherwise come back as the key "token abc" in the errors below.
    if (!valid_key(key))
      return fail("expected 'key = value' with a key of [A-Za-z0-9_] (the line is not echoed)");
    if (kind == Kind::none) return fail("'" + key + "' before any section");
    if (!section.seen.insert(key).second) return fail("'" + key + "' is set twice");
    if (value.empty()) return fail("'" + key + "' has no value");

    auto ms = [&](std::int64_t &field, std::int64_t min, std::int64_t max) {
      if (!parse_i64(value, min, max, field))
        return fail("'" + key + "' must be an integer from " + std::to_string(min) + " to " +
                    std::to_string(max));
      return true;
    };
    auto local_name = [&](std::string &field) {
      if (!valid_name(value, 200))
        return fail("'" + key + "' must be a corq name: 1-200 characters of [A-Za-z0-9._:-]");
      field = value;
      return true;
    };

    if (kind == Kind::nats) {
      NatsConfig &n = out.nats;
      if (key == "servers") {
        std::stringstream list(value);
        std::string item;
        while (std::getline(list, item, ',')) {
          item = trim(item);
          if (item.empty()) continue;
          bool tls = false;
          std::string why;
          // The URL is echoed only when it carries no credentials.
          if (!valid_server_url(item, tls, why))
            return fail("server URL " +
                        (item.find('@') == std::string::npos ? "'" + item + "' " : std::string()) +
                        why);
          if (tls) n.tls = true;
          n.servers.push_back(item);
        }
        if (n.servers.empty()) return fail("'servers' lists no server");
      } else if (key == "name") {
        n.name = value;
      } else if (key == "user") {
        n.user = value;
      } else if (key == "password") {
        n.password = value;
      } else if (key == "password_file") {
        password_file = value;
      } else if (key == "token") {
        n.token = value;
      } else if (key == "token_file") {
        token_file = value;
      } else if (key == "creds") {
        n.creds_file = value;
      } else if (key == "nkey_public") {
        n.nkey_public = value;
      } else if (key == "nkey_seed_file") {
        n.nkey_seed_file = value;
      } else if (key == "tls_ca") {
        n.tls_ca = value;
        n.tls = true;
      } else if (key == "tls_cert") {
        n.tls_cert = value;
      } else if (key == "tls_key") {
        n.tls_key = value;
      } else if (key == "tls_hostname") {
        n.tls_hostname = value;
      } else if (key == "connect_timeout_ms") {
        if (!ms(n.connect_timeout_ms, 1, 600000)) return false;
      } else if (key == "reconnect_wait_ms") {
        if (!ms(n.reconnect_wait_ms, 1, 600000)) return false;
      } else if (key == "jetstream_timeout_ms") {
        if (!ms(n.jetstream_timeout_ms, 1, 600000)) return false;
      } else if (key == "send_asap") {
        if (value != "true" && value != "false") return fail("'send_asap' must be true or false");
        n.send_asap = value == "true";
      } else {
        return fail("unknown key '" + key + "' in [nats]");
      }
    } else if (kind == Kind::outbound) {
      OutboundConfig &r = out.outbound.back();
      std::int64_t v = 0;
      if (key == "queue") {
        if (!local_name(r.from.queue)) return false;
      } else if (key == "stream") {
        if (!local_name(r.from.stream)) return false;
      } else if (key == "subject") {
        if (!valid_publish_subject(value))
          return fail("'subject' must be a NATS subject without wildcards or blanks");
        r.subject = value;
      } else if (key == "group") {
        if (!local_name(r.group)) return false;
      } else if (key == "max_in_flight") {
        if (!ms(v, 1, 65536)) return false;
        r.max_in_flight = static_cast<std::uint32_t>(v);
      } else if (key == "publish_timeout_ms") {
        if (!ms(r.publish_timeout_ms, 1, 600000)) return false;
      } else if (key == "lease_ms") {
        if (!ms(r.lease_ms, 1000, day_ms)) return false;
      } else if (key == "retry_backoff_ms") {
        if (!ms(r.retry_backoff_ms, 1, 600000)) return false;
      } else if (key == "retry_backoff_max_ms") {
        if (!ms(r.retry_backoff_max_ms, 1, 3600000)) return false;
      } else {
        return fail("unknown key '" + key + "' in [" + section.title + "]");
      }
    } else {
      InboundConfig &r = out.inbound.back();
      std::int64_t v = 0;
      if (key == "jetstream") {
        if (!valid_name(value, 255) || value.find('.') != std::string::npos)
          return fail("'jetstream' must be a JetStream stream name (no '.', '*', '>' or blanks)");
        r.jetstream = value;
      } else if (key == "durable") {
        if (!valid_name(value, 255) || value.find('.') != std::string::npos)
          return fail("'durable' must be a JetStream consumer name (no '.', '*', '>' or blanks)");
        r.durable = value;
      } else if (key == "filter_subject") {
        if (!valid_filter_subject(value)) return fail("'filter_subject' is not a NATS subject");
        r.filter_subject = value;
      } else if (key == "queue") {
        if (!local_name(r.to.queue)) return false;
      } else if (key == "stream") {
        if (!local_name(r.to.stream)) return false;
      } else if (key == "batch") {
        if (!ms(v, 1, 4096)) return false;
        r.batch = static_cast<std::uint32_t>(v);
      } else if (key == "fetch_wait_ms") {
        if (!ms(r.fetch_wait_ms, 1, 60000)) return false;
      } else if (key == "ack_wait_ms") {
        if (!ms(r.ack_wait_ms, 1000, day_ms)) return false;
      } else if (key == "commit_timeout_ms") {
        if (!ms(r.commit_timeout_ms, 1, 600000)) return false;
      } else if (key == "retry_backoff_ms") {
        if (!ms(r.retry_backoff_ms, 1, 600000)) return false;
      } else if (key == "retry_backoff_max_ms") {
        if (!ms(r.retry_backoff_max_ms, 1, 3600000)) return false;
      } else if (key == "key") {
        if (value != "subject" && value != "none") return fail("'key' must be subject or none");
        r.key = value;
        key_set = true;
      } else {
        return fail("unknown key '" + key + "' in [" + section.title + "]");
      }
    }
  }
  ++line_no;
  if (!finish_section()) return false;

  NatsConfig &n = out.nats;
  line_no = 0;
  auto whole = [&](const std::string &why) {
    error = why;
    return false;
  };
  if (!have_nats || n.servers.empty()) return whole("the config needs [nats] with servers");
  if (out.outbound.empty() && out.inbound.empty())
    return whole("the config has no [outbound NAME] or [inbound NAME] rule");
  if (!password_file.empty() && !n.password.empty())
    return whole("[nats] sets both password and password_file");
  if (!token_file.empty() && !n.token.empty())
    return whole("[nats] sets both token and token_file");
  std::string why;
  if (!password_file.empty() && !read_secret_file(password_file, n.password, why))
    return whole("[nats] password_file: " + why);
  if (!token_file.empty() && !read_secret_file(token_file, n.token, why))
    return whole("[nats] token_file: " + why);
  const int methods = (!n.user.empty() || !n.password.empty() ? 1 : 0) +
                      (!n.token.empty() ? 1 : 0) + (!n.creds_file.empty() ? 1 : 0) +
                      (!n.nkey_public.empty() || !n.nkey_seed_file.empty() ? 1 : 0);
  if (methods > 1)
    return whole(
        "[nats] sets more than one kind of credentials (user/password, token, creds, nkey)");
  if (n.user.empty() != n.password.empty())
    return whole("[nats] user and password (or password_file) go together");
  if (n.nkey_public.empty() != n.nkey_seed_file.empty())
    return whole("[nats] nkey_public and nkey_seed_file go together");
  if (n.tls_cert.empty() != n.tls_key.empty())
    return whole("[nats] tls_cert and tls_key go together");
  if (!n.tls_cert.empty() && !n.tls) return whole("[nats] tls_cert needs tls_ca or tls:// servers");
  return true;
}

}  // namespace corq::bridge
