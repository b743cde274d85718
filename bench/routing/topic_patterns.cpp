// bench/routing/topic_patterns.cpp — the topic scenario's binding patterns and routing keys (see
// routing_harness.hpp, TopicSet).
//
// Vocabulary of a realistic event bus: keys are `region.service.entity.event` with an optional
// fifth word, the severity (`eu.svc03.order.created`, `us.svc05.payment.failed.error`). The ten hot
// patterns each own one service (svc00..svc09), so a key matches exactly the hot pattern of its
// service. Filler patterns are drawn at random (fixed seed) over all 100 services, 6 regions, 8
// entities, 6 events and 3 severities in twelve shapes of 3–5 words — literals, '*' and '#' at the
// front, in the middle and at the end — and a drawn pattern that matches any published key is
// dropped, so the filler never routes a published message.
#include "routing_harness.hpp"

#include <algorithm>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace corq::bench::routing {
namespace {

std::vector<std::string> words_of(const std::string &text) {
  std::vector<std::string> words;
  if (text.empty()) return words;  // "" is zero words
  std::size_t from = 0;
  for (;;) {
    const std::size_t dot = text.find('.', from);
    words.push_back(text.substr(from, dot == std::string::npos ? std::string::npos : dot - from));
    if (dot == std::string::npos) return words;
    from = dot + 1;
  }
}

bool matches_from(const std::vector<std::string> &pattern, std::size_t p,
                  const std::vector<std::string> &key, std::size_t k) {
  if (p == pattern.size()) return k == key.size();
  if (pattern[p] == "#") {
    return matches_from(pattern, p + 1, key, k) ||
           (k < key.size() && matches_from(pattern, p, key, k + 1));
  }
  if (k == key.size()) return false;
  return (pattern[p] == "*" || pattern[p] == key[k]) && matches_from(pattern, p + 1, key, k + 1);
}

/// splitmix64: a small deterministic generator (the sets must be the same in every run).
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  template <class Words>
  const std::string &pick(const Words &words) noexcept {
    return words[next() % words.size()];
  }

 private:
  std::uint64_t state_;
};

const std::array<std::string, 6> regions{"eu", "us", "ap", "sa", "af", "me"};
const std::array<std::string, 8> entities{"order",    "payment", "user",   "invoice",
                                          "shipment", "cart",    "refund", "stock"};
const std::array<std::string, 6> events{"created", "updated", "deleted",
                                        "failed",  "shipped", "paid"};
const std::array<std::string, 3> severities{"info", "warn", "error"};

std::string service(std::uint64_t n) {
  return std::string("svc") + static_cast<char>('0' + n / 10) + static_cast<char>('0' + n % 10);
}

struct Hot {
  const char *pattern;
  std::array<const char *, 4> keys;  // published keys this pattern (alone) matches
};

// One per service svc00..svc09, each of another shape; bound to queue index % hot_queues.
const std::array<Hot, 10> hot_patterns{{
    {"eu.svc00.order.created",
     {"eu.svc00.order.created", "eu.svc00.order.created", "eu.svc00.order.created",
      "eu.svc00.order.created"}},
    {"*.svc01.payment.failed",
     {"eu.svc01.payment.failed", "us.svc01.payment.failed", "ap.svc01.payment.failed",
      "sa.svc01.payment.failed"}},
    {"us.svc02.*.created",
     {"us.svc02.order.created", "us.svc02.user.created", "us.svc02.cart.created",
      "us.svc02.stock.created"}},
    {"#.svc03.#",
     {"eu.svc03.order.created", "us.svc03.user.deleted.warn", "ap.svc03.cart.updated",
      "sa.svc03.refund.paid.info"}},
    {"*.svc04.#",
     {"eu.svc04.invoice.paid", "us.svc04.order.shipped.info", "ap.svc04.user.created",
      "me.svc04.stock.updated"}},
    {"eu.svc05.#.error",
     {"eu.svc05.order.failed.error", "eu.svc05.payment.failed.error", "eu.svc05.user.deleted.error",
      "eu.svc05.cart.updated.error"}},
    {"*.svc06.*.*",
     {"eu.svc06.order.created", "us.svc06.refund.paid", "ap.svc06.shipment.shipped",
      "af.svc06.user.updated"}},
    {"us.svc07.payment.#",
     {"us.svc07.payment.created", "us.svc07.payment.failed.error", "us.svc07.payment.paid",
      "us.svc07.payment.updated.info"}},
    {"#.svc08.*.failed",
     {"eu.svc08.order.failed", "us.svc08.payment.failed", "ap.svc08.shipment.failed",
      "sa.svc08.user.failed"}},
    {"*.svc09.order.*.error",
     {"eu.svc09.order.failed.error", "us.svc09.order.deleted.error", "ap.svc09.order.updated.error",
      "me.svc09.order.created.error"}},
}};

/// One filler pattern of a random shape (3–5 words).
std::string draw_filler(Random &random) {
  const std::string r = random.pick(regions);
  const std::string s = service(random.next() % 100);
  const std::string e = random.pick(entities);
  const std::string v = random.pick(events);
  const std::string sev = random.pick(severities);
  switch (random.next() % 12) {
    case 0: return r + "." + s + "." + e + "." + v;
    case 1: return "*." + s + "." + e + "." + v;
    case 2: return r + "." + s + ".*." + v;
    case 3: return r + "." + s + "." + e + ".#";
    case 4: return r + "." + s + "." + e + "." + v + "." + sev;
    case 5: return "#." + s + "." + e + "." + v;
    case 6: return r + ".*." + e + "." + v + "." + sev;
    case 7: return r + "." + s + "." + e;
    case 8: return "*." + s + ".*." + v + "." + sev;
    case 9: return r + "." + s + ".#." + sev;
    case 10: return "#." + e + "." + v + "." + sev;
    default: return r + ".*." + e + ".#";
  }
}

}  // namespace

bool topic_matches(const std::string &pattern, const std::string &key) {
  return matches_from(words_of(pattern), 0, words_of(key), 0);
}

TopicSet make_topic_set(std::size_t total_bindings) {
  if (total_bindings < hot_patterns.size())
    throw std::logic_error("the topic set needs at least the ten hot patterns");
  TopicSet set;
  set.hot_queues = 4;
  set.filler_queues = 8;
  for (std::size_t i = 0; i < hot_patterns.size(); ++i) {
    set.hot.emplace_back(hot_patterns[i].pattern);
    set.hot_queue.push_back(i % set.hot_queues);
  }
  // Consecutive publishes go to different services (and queues): key j of every pattern in turn.
  for (std::size_t j = 0; j < 4; ++j)
    for (const Hot &hot : hot_patterns) set.keys.emplace_back(hot.keys[j]);
  for (const std::string &key : set.keys) {
    std::size_t matched = 0;
    for (const std::string &pattern : set.hot) matched += topic_matches(pattern, key) ? 1 : 0;
    if (matched != 1)
      throw std::logic_error("topic set: key '" + key + "' matches " + std::to_string(matched) +
                             " hot patterns, not 1");
  }
  constexpr std::size_t fresh_key_count = 65'536;
  set.fresh_keys.reserve(fresh_key_count);
  for (std::size_t i = 0; i < fresh_key_count; ++i) {
    const std::size_t h = 1 + i % 9;  // the nine hot patterns with a wildcard
    const std::vector<std::string> pattern = words_of(hot_patterns[h].pattern);
    std::vector<std::string> words = words_of(hot_patterns[h].keys[(i / 9) % 4]);
    const auto wildcard = std::find_if(pattern.begin(), pattern.end(),
                                       [](const std::string &w) { return w == "*" || w == "#"; });
    std::string &fresh = words[static_cast<std::size_t>(wildcard - pattern.begin())];
    fresh = std::to_string(i);
    fresh.insert(fresh.begin(), 'w');
    std::string key = words[0];
    for (std::size_t w = 1; w < words.size(); ++w) key.append(1, '.').append(words[w]);
    if (!topic_matches(hot_patterns[h].pattern, key))
      throw std::logic_error("topic set: fresh key '" + key + "' lost its hot pattern");
    set.fresh_keys.push_back(std::move(key));
  }
  std::unordered_set<std::string> seen(set.hot.begin(), set.hot.end());
  Random random(0x636f7271'726f7574ULL);
  const std::size_t wanted = total_bindings - set.hot.size();
  for (std::uint64_t draws = 0; set.filler.size() < wanted; ++draws) {
    if (draws > 100 * wanted + 1000) throw std::logic_error("topic set: too few distinct patterns");
    std::string pattern = draw_filler(random);
    if (seen.count(pattern) != 0) continue;
    bool matches_a_key = false;
    for (const std::string &key : set.keys) {
      if (topic_matches(pattern, key)) {
        matches_a_key = true;
        break;
      }
    }
    if (matches_a_key) continue;
    seen.insert(pattern);
    set.filler.push_back(std::move(pattern));
  }
  return set;
}

}  // namespace corq::bench::routing
