// tests/crash/crash_child.cpp — the process the crash test kills: `corq_crash_child DIR SEED
// START_ID REPORT_FD BACKEND RECORD_START_ID GROUP_MODE TXN_START_ID`.
//
// Opens DIR (1 MiB segments), declares the durable queue "crash" and the durable stream
// "crash-stream", opens a member of the stream's group of GROUP_MODE, declares the transactions'
// queues "crash-txn-in" and "crash-txn-out" and stream "crash-txn-ledger", and runs until
// SIGKILLed:
//   producer  batches of NOWAIT sends (ids START_ID, START_ID+1, ... — the parent passes the next
//             unused id, so ids never repeat across cycles), then corq_producer_flush; reports
//             "S" before each send and "C" only after the flush returned OK (sometimes a
//             synchronous corq_publish instead; sometimes a few publishes through the fanout
//             exchange "crash-fan" into "crash" and "crash-keep", reported "F" each, synchronous or
//             NOWAIT then corq_wait_durable, "C" after). Holds off while the queue has many ready
//             messages.
//   consumer  consumes with a prefetch window; acks most deliveries (corq_ack or corq_ack_upto),
//             nacks some with delay 0 (they come back), releases some, and holds some unsettled
//             for a while; reports "K" before every ack and, after a corq_sync returned OK, "A" for
//             the acks it covers and "Y".
//   appender  appends records (ids RECORD_START_ID, ...: a sequence of their own) to the stream:
//             single waited corq_stream_append calls and producer batches (waited, or NOWAIT then
//             corq_sync); reports "SA" before each and "SC" with where they went once they are
//             durable. Holds off while a group lags far behind.
//   member    consumes the group "crash-group-GROUP_MODE" like the queue consumer does the queue:
//             reports "GD" for every delivery, acks most (corq_ack or corq_ack_upto, "GK" first),
//             nacks some with delay 0, releases some, holds some for a while, and after a
//             corq_sync returned OK reports "GA" for the acks it covers.
//   transact  publishes transaction inputs (ids TXN_START_ID, ...: a sequence of their own) to
//             "crash-txn-in" in small batches ("TS" before, "TP" once confirmed: a waited send, or
//             NOWAIT and corq_producer_flush, sometimes only after the next transaction, which may
//             then ack inputs not yet confirmed); holds off while the queue has many ready. Takes
//             1..8 of them at a time and in one transaction, for each, publishes an output to
//             "crash-txn-out", appends a record to "crash-txn-ledger" (same id) and acks it, the
//             three kinds of operation in one of three orders; reports "TK" and commits (sometimes
//             after a short sleep, so kills land between the two), "TC" once the commit returned
//             OK. One in eight it aborts instead, after some of the operations, and releases the
//             inputs.
// Every report is one write() of one line to REPORT_FD (see crash_protocol.hpp). Randomness is
// seeded from SEED. Anything unexpected is reported as "E ..." and the child exits with status 3.
#include "crash_protocol.hpp"

#include <corq/corq.h>

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using corq::crash::fanout_exchange_name;
using corq::crash::fanout_routing_key;
using corq::crash::id_header;
using corq::crash::keep_queue_name;
using corq::crash::queue_name;
using corq::crash::record_salt;
using corq::crash::stream_name;
using corq::crash::txn_input_queue_name;
using corq::crash::txn_ledger_name;
using corq::crash::txn_output_queue_name;

int report_fd = -1;

/// Writes one whole line (the caller keeps it under PIPE_BUF); exits if the parent is gone.
void report(std::string line) {
  line += '\n';
  const char *p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(report_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(2);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void fail(const std::string &what, int rc) {
  report("E " + what + ": " + corq_strerror(rc) + " (" + corq_last_error() + ")");
  ::_exit(3);
}

/// Reports `prefix` followed by the items, several lines of at most ~100 items each.
void report_list(const char *prefix, const std::vector<std::string> &items) {
  std::string line;
  std::size_t n = 0;
  for (const std::string &item : items) {
    if (n == 0) line = prefix;
    line += ' ';
    line += item;
    if (++n == 100) {
      report(line);
      n = 0;
    }
  }
  if (n > 0) report(line);
}

void report_ids(const char *prefix, const std::vector<std::uint64_t> &ids) {
  std::vector<std::string> items;
  items.reserve(ids.size());
  for (std::uint64_t id : ids) items.push_back(std::to_string(id));
  report_list(prefix, items);
}

void produce(corq_engine *engine, std::uint64_t seed, std::uint64_t next_id) {
  std::mt19937_64 rng(seed * 1000003 + 1);
  corq_producer *producer = nullptr;
  if (int rc = corq_producer_open(engine, queue_name, &producer); rc != CORQ_OK) {
    fail("producer_open", rc);
  }
  corq_publish_options nowait{};
  nowait.struct_size = sizeof nowait;
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  nowait.timeout_ms = 10000;
  corq_publish_options waiting = nowait;
  waiting.flags = 0;
  std::vector<std::string> payloads;
  std::vector<std::string> numbers;
  std::vector<corq_header> headers;
  std::vector<corq_message> batch;
  for (;;) {
    corq_queue_stats stats{};
    stats.struct_size = sizeof stats;
    if (int rc = corq_queue_stats_get(engine, queue_name, &stats); rc != CORQ_OK) {
      fail("stats", rc);
    }
    if (stats.ready > 3000) {  // keep the backlog (and so the parent's check) small
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (rng() % 20 == 0) {  // a synchronous publish: confirmed when it returns
      // One in four goes to the queue nobody consumes (messages that stay: compaction).
      const char *queue = rng() % 4 == 0 ? keep_queue_name : queue_name;
      const std::uint64_t id = next_id++;
      const std::string body = corq::crash::payload_of(id);
      const std::string number = std::to_string(id);
      const corq_header h{id_header, number.data(), number.size()};
      corq_message m{};
      m.data = body.data();
      m.len = body.size();
      m.headers = &h;
      m.header_count = 1;
      report("S " + number + " " + number);
      if (int rc = corq_publish(engine, queue, &m, &waiting, nullptr); rc != CORQ_OK) {
        fail("publish", rc);
      }
      report("C " + number + " " + number);
      continue;
    }
    if (rng() % 8 == 0) {  // a few publishes through the fanout exchange: a copy in each queue
      const bool wait_each = rng() % 2 == 0;
      const std::uint64_t first = next_id;
      const int count = 1 + static_cast<int>(rng() % 8);
      std::uint64_t last_message_id = 0;
      for (int i = 0; i < count; ++i) {
        const std::uint64_t id = next_id++;
        const std::string body = corq::crash::payload_of(id);
        const std::string number = std::to_string(id);
        const corq_header h{id_header, number.data(), number.size()};
        corq_message m{};
        m.data = body.data();
        m.len = body.size();
        m.headers = &h;
        m.header_count = 1;
        report("F " + number);
        std::uint32_t routed = 0;
        const int rc =
            corq_exchange_publish(engine, fanout_exchange_name, fanout_routing_key, &m,
                                  wait_each ? &waiting : &nowait, &last_message_id, &routed);
        if (rc != CORQ_OK) fail("exchange_publish", rc);
        if (routed != 2) {
          report("E exchange_publish of " + number + " routed " + std::to_string(routed) +
                 " copies, not 2");
          ::_exit(3);
        }
        if (wait_each) report("C " + number + " " + number);
      }
      if (!wait_each) {
        // Everything logged so far is durable once it returns: all of them.
        if (int rc = corq_wait_durable(engine, last_message_id, 10000); rc != CORQ_OK) {
          fail("wait_durable", rc);
        }
        report("C " + std::to_string(first) + " " + std::to_string(next_id - 1));
      }
      continue;
    }
    const std::uint64_t first = next_id;
    const int sends = 1 + static_cast<int>(rng() % 4);
    for (int s = 0; s < sends; ++s) {
      const std::size_t n = 1 + rng() % 64;
      payloads.clear();
      numbers.clear();
      headers.clear();
      batch.clear();
      for (std::size_t i = 0; i < n; ++i) {
        payloads.push_back(corq::crash::payload_of(next_id + i));
        numbers.push_back(std::to_string(next_id + i));
      }
      for (std::size_t i = 0; i < n; ++i) {
        headers.push_back(corq_header{id_header, numbers[i].data(), numbers[i].size()});
      }
      for (std::size_t i = 0; i < n; ++i) {
        corq_message m{};
        m.data = payloads[i].data();
        m.len = payloads[i].size();
        m.headers = &headers[i];
        m.header_count = 1;
        batch.push_back(m);
      }
      report("S " + numbers.front() + " " + numbers.back());
      if (int rc = corq_producer_send(producer, batch.data(), n, &nowait, nullptr); rc != CORQ_OK) {
        fail("producer_send", rc);
      }
      next_id += n;
    }
    if (int rc = corq_producer_flush(producer, 10000); rc != CORQ_OK) fail("producer_flush", rc);
    report("C " + std::to_string(first) + " " + std::to_string(next_id - 1));
    if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
  }
}

struct Held {
  std::uint64_t id;
  std::uint32_t count;
  int hold_rounds;  // > 0: left unsettled for this many more consume rounds
};

void consume(corq_engine *engine, std::uint64_t seed) {
  std::mt19937_64 rng(seed * 1000003 + 2);
  const std::uint32_t prefetch = 16 + static_cast<std::uint32_t>(rng() % 241);
  corq_consumer *consumer = nullptr;
  if (int rc = corq_consumer_open(engine, queue_name, prefetch, &consumer); rc != CORQ_OK) {
    fail("consumer_open", rc);
  }
  std::map<std::uint64_t, Held> outstanding;  // tag -> delivery
  std::set<std::uint64_t> outstanding_ids;
  std::vector<std::uint64_t> acked;  // acked since the last sync
  std::vector<corq_delivery> buffer(prefetch);
  std::size_t sync_every = 50 + rng() % 500;
  auto last_sync = std::chrono::steady_clock::now();

  auto settle_acked = [&](const std::vector<std::uint64_t> &tags) {
    for (std::uint64_t tag : tags) {
      auto it = outstanding.find(tag);
      acked.push_back(it->second.id);
      outstanding_ids.erase(it->second.id);
      outstanding.erase(it);
    }
  };
  // Acks `tags` one by one: "K" for all of them first.
  auto ack_each = [&](const std::vector<std::uint64_t> &tags) {
    if (tags.empty()) return;
    std::vector<std::uint64_t> ids;
    for (std::uint64_t tag : tags) ids.push_back(outstanding.at(tag).id);
    report_ids("K", ids);
    for (std::uint64_t tag : tags) {
      if (int rc = corq_ack(consumer, tag); rc != CORQ_OK) fail("ack", rc);
    }
    settle_acked(tags);
  };
  // corq_ack_upto(upto): acks every outstanding delivery with a tag <= upto, held ones too.
  auto ack_upto = [&](std::uint64_t upto) {
    std::vector<std::uint64_t> tags;
    std::vector<std::uint64_t> ids;
    for (auto it = outstanding.begin(); it != outstanding.end() && it->first <= upto; ++it) {
      tags.push_back(it->first);
      ids.push_back(it->second.id);
    }
    if (tags.empty()) return;
    report_ids("K", ids);
    if (int rc = corq_ack_upto(consumer, upto); rc != CORQ_OK) fail("ack_upto", rc);
    settle_acked(tags);
  };
  auto give_back = [&](std::uint64_t tag, bool nack) {
    auto it = outstanding.find(tag);
    const int rc = nack ? corq_nack(consumer, tag, 0) : corq_release(consumer, tag);
    if (rc != CORQ_OK) fail(nack ? "nack" : "release", rc);
    outstanding_ids.erase(it->second.id);
    outstanding.erase(it);
  };

  for (;;) {
    const std::size_t room = prefetch - outstanding.size();
    const std::size_t want = room == 0 ? 0 : 1 + rng() % room;
    const int n = want == 0 ? 0 : corq_consume(consumer, buffer.data(), want, 20);
    if (n < 0) fail("consume", n);
    std::vector<std::string> delivered;
    std::vector<std::uint64_t> to_ack;
    std::vector<std::uint64_t> to_nack;
    std::vector<std::uint64_t> to_release;
    for (int i = 0; i < n; ++i) {
      const corq_delivery &d = buffer[static_cast<std::size_t>(i)];
      const std::uint64_t id = corq::crash::id_of_payload(d.data, d.len);
      if (id == 0) {
        report("E corrupt payload: message " + std::to_string(d.message_id) + ", " +
               std::to_string(d.len) + " bytes");
        ::_exit(3);
      }
      const std::string number = std::to_string(id);
      // Fanned-out copies carry the routing headers too (the parent knows which ones are).
      if ((d.header_count != 1 && !corq::crash::has_routing_headers(d)) ||
          std::strcmp(d.headers[0].key, id_header) != 0 ||
          std::string(static_cast<const char *>(d.headers[0].value), d.headers[0].value_len) !=
              number) {
        report("E message " + number + ": wrong headers after delivery");
        ::_exit(3);
      }
      if (d.delivery_count < 1) {
        report("E message " + number + ": delivery_count 0");
        ::_exit(3);
      }
      if (!outstanding_ids.insert(id).second) {
        report("E message " + number + " delivered twice at once (tag " + std::to_string(d.tag) +
               ")");
        ::_exit(3);
      }
      outstanding[d.tag] = Held{id, d.delivery_count, 0};
      delivered.push_back(number + ":" + std::to_string(d.message_id) + ":" +
                          std::to_string(d.delivery_count));
      const unsigned r = static_cast<unsigned>(rng() % 100);
      if (r < 72) {
        to_ack.push_back(d.tag);
      } else if (r < 80) {
        to_nack.push_back(d.tag);
      } else if (r < 85) {
        to_release.push_back(d.tag);
      } else {
        outstanding[d.tag].hold_rounds = 1 + static_cast<int>(rng() % 40);
      }
    }
    report_list("D", delivered);
    for (std::uint64_t tag : to_nack) give_back(tag, true);
    for (std::uint64_t tag : to_release) give_back(tag, false);
    // Held deliveries whose time is up: acked (mostly) or nacked.
    for (auto &[tag, held] : outstanding) {
      if (held.hold_rounds > 0 && --held.hold_rounds == 0) {
        if (rng() % 4 == 0) {
          to_nack.push_back(tag);
        } else {
          to_ack.push_back(tag);
        }
      }
    }
    for (std::uint64_t tag : to_nack) {
      if (outstanding.count(tag) != 0) give_back(tag, true);
    }
    if (!to_ack.empty()) {
      if (rng() % 2 == 0) {
        std::vector<std::uint64_t> tags;
        for (std::uint64_t tag : to_ack) {
          if (outstanding.count(tag) != 0) tags.push_back(tag);
        }
        ack_each(tags);
      } else {
        // Covers held deliveries below the highest tag too.
        std::uint64_t upto = 0;
        for (std::uint64_t tag : to_ack) upto = std::max(upto, tag);
        ack_upto(upto);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (acked.size() >= sync_every ||
        (!acked.empty() && now - last_sync > std::chrono::milliseconds(30))) {
      if (int rc = corq_sync(engine, 10000); rc != CORQ_OK) fail("sync", rc);
      report_ids("A", acked);
      report("Y");
      acked.clear();
      sync_every = 50 + rng() % 500;
      last_sync = std::chrono::steady_clock::now();
    }
  }
}

/// The most any group of the stream lags behind its ends.
std::uint64_t worst_group_lag(corq_engine *engine) {
  std::uint64_t worst = 0;
  for (const char *mode : corq::crash::group_modes) {
    corq_group_stats stats{};
    stats.struct_size = sizeof stats;
    const int rc =
        corq_group_stats_get(engine, stream_name, corq::crash::group_name(mode).c_str(), &stats);
    if (rc != CORQ_OK) fail("group_stats", rc);
    worst = std::max(worst, stats.lag);
  }
  return worst;
}

/// Opens a member of the group of `mode` (created with the first member: where it starts is
/// logged then).
corq_consumer *open_member(corq_engine *engine, const char *mode, std::uint32_t prefetch) {
  corq_config *options = corq_config_new();
  corq::crash::set_group_options(options, mode);
  corq_config_set(options, "prefetch", std::to_string(prefetch).c_str());
  corq_consumer *member = nullptr;
  const int rc = corq_group_consumer_open(engine, stream_name,
                                          corq::crash::group_name(mode).c_str(), options, &member);
  corq_config_free(options);
  if (rc != CORQ_OK) fail(std::string("group_consumer_open ") + mode, rc);
  return member;
}

void append_records(corq_engine *engine, std::uint64_t seed, std::uint64_t next_id) {
  std::mt19937_64 rng(seed * 1000003 + 3);
  corq_stream_producer *producer = nullptr;
  if (int rc = corq_stream_producer_open(engine, stream_name, &producer); rc != CORQ_OK) {
    fail("stream_producer_open", rc);
  }
  corq_publish_options nowait{};
  nowait.struct_size = sizeof nowait;
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  nowait.timeout_ms = 10000;
  corq_publish_options waiting = nowait;
  waiting.flags = 0;
  std::vector<std::string> payloads;
  std::vector<std::string> numbers;
  std::vector<corq_header> headers;
  std::vector<corq_message> records;
  for (;;) {
    // Both groups (the one nobody consumes in this cycle too) stay within reach of the check.
    if (worst_group_lag(engine) > corq::crash::group_lag_limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const bool single = rng() % 4 == 0;  // corq_stream_append; else one producer batch
    const std::size_t n = single ? 1 : 1 + rng() % 8;
    const std::uint64_t first = next_id;
    payloads.clear();
    numbers.clear();
    headers.clear();
    records.clear();
    for (std::size_t i = 0; i < n; ++i) {
      payloads.push_back(corq::crash::payload_of(first + i, record_salt));
      numbers.push_back(std::to_string(first + i));
    }
    for (std::size_t i = 0; i < n; ++i) {
      headers.push_back(corq_header{id_header, numbers[i].data(), numbers[i].size()});
    }
    for (std::size_t i = 0; i < n; ++i) {
      corq_message m{};
      m.data = payloads[i].data();
      m.len = payloads[i].size();
      m.headers = &headers[i];
      m.header_count = 1;
      records.push_back(m);
    }
    const std::optional<std::string> key = corq::crash::record_key_of(first);
    const void *key_data = key ? key->data() : nullptr;
    const std::size_t key_len = key ? key->size() : 0;
    std::uint32_t partition = 0;
    std::uint64_t offset = 0;
    report("SA " + numbers.front() + " " + numbers.back());
    if (single) {
      const int rc = corq_stream_append(engine, stream_name, key_data, key_len, &records[0],
                                        &waiting, &partition, &offset);
      if (rc != CORQ_OK) fail("stream_append", rc);
    } else {
      // Some batches NOWAIT: durable once a later corq_sync returned (it syncs the streams too).
      const bool wait = rng() % 4 != 0;
      const int rc = corq_stream_producer_send(producer, key_data, key_len, records.data(), n,
                                               wait ? &waiting : &nowait, &partition, &offset);
      if (rc != CORQ_OK) fail("stream_producer_send", rc);
      if (!wait) {
        if (int sync = corq_sync(engine, 10000); sync != CORQ_OK) fail("sync (stream)", sync);
      }
    }
    next_id += n;
    report("SC " + std::to_string(partition) + " " + std::to_string(offset) + " " +
           numbers.front() + " " + numbers.back());
    // A few hundred records a second: appends and acks are in flight at every kill; more would
    // mostly slow every reopen (each group ack is a record of the engine's log, and its
    // compaction keeps them all so far).
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 16000));
  }
}

/// One delivery the member has not settled yet.
struct HeldRecord {
  std::string place;  // "<partition>:<offset>"
  int hold_rounds;    // > 0: left unsettled for this many more consume rounds
};

/// The value of header `key` of a delivery, or nullopt.
std::optional<std::string> header_of(const corq_delivery &d, const char *key) {
  for (std::size_t i = 0; i < d.header_count; ++i) {
    if (std::strcmp(d.headers[i].key, key) == 0) {
      return std::string(static_cast<const char *>(d.headers[i].value), d.headers[i].value_len);
    }
  }
  return std::nullopt;
}

void consume_group(corq_engine *engine, std::uint64_t seed, corq_consumer *member,
                   std::uint32_t prefetch) {
  std::mt19937_64 rng(seed * 1000003 + 4);
  std::map<std::uint64_t, HeldRecord> outstanding;  // tag -> delivery
  std::set<std::string> outstanding_places;
  std::vector<std::string> acked;  // places acked since the last sync
  std::vector<corq_delivery> buffer(prefetch);
  std::size_t sync_every = 20 + rng() % 200;
  auto last_sync = std::chrono::steady_clock::now();

  auto settle_acked = [&](const std::vector<std::uint64_t> &tags) {
    for (std::uint64_t tag : tags) {
      auto it = outstanding.find(tag);
      acked.push_back(it->second.place);
      outstanding_places.erase(it->second.place);
      outstanding.erase(it);
    }
  };
  // Acks `tags` one by one, or (upto) with one corq_ack_upto of the highest: every outstanding
  // delivery with a tag up to it, held ones too. "GK" for all of them first.
  auto ack = [&](std::vector<std::uint64_t> tags, bool upto) {
    if (tags.empty()) return;
    const std::uint64_t highest = *std::max_element(tags.begin(), tags.end());
    if (upto) {
      tags.clear();
      for (auto it = outstanding.begin(); it != outstanding.end() && it->first <= highest; ++it) {
        tags.push_back(it->first);
      }
    }
    std::vector<std::string> places;
    for (std::uint64_t tag : tags) places.push_back(outstanding.at(tag).place);
    report_list("GK", places);
    if (upto) {
      if (int rc = corq_ack_upto(member, highest); rc != CORQ_OK) fail("group ack_upto", rc);
    } else {
      for (std::uint64_t tag : tags) {
        if (int rc = corq_ack(member, tag); rc != CORQ_OK) fail("group ack", rc);
      }
    }
    settle_acked(tags);
  };
  auto give_back = [&](std::uint64_t tag, bool nack) {
    auto it = outstanding.find(tag);
    const int rc = nack ? corq_nack(member, tag, 0) : corq_release(member, tag);
    if (rc != CORQ_OK) fail(nack ? "group nack" : "group release", rc);
    outstanding_places.erase(it->second.place);
    outstanding.erase(it);
  };

  for (;;) {
    const std::size_t room = prefetch - outstanding.size();
    const std::size_t want = room == 0 ? 0 : 1 + rng() % room;
    const int n = want == 0 ? 0 : corq_consume(member, buffer.data(), want, 20);
    if (n < 0) fail("group consume", n);
    std::vector<std::string> delivered;
    std::vector<std::uint64_t> to_ack;
    std::vector<std::uint64_t> to_nack;
    std::vector<std::uint64_t> to_release;
    for (int i = 0; i < n; ++i) {
      const corq_delivery &d = buffer[static_cast<std::size_t>(i)];
      const std::uint64_t id = corq::crash::id_of_payload(d.data, d.len, record_salt);
      const std::optional<std::string> partition = header_of(d, "x-stream-partition");
      const std::string place = partition.value_or("?") + ":" + std::to_string(d.message_id);
      if (id == 0) {
        report("E group: corrupt record at " + place + ", " + std::to_string(d.len) + " bytes");
        ::_exit(3);
      }
      const std::string number = std::to_string(id);
      if (!partition || header_of(d, "x-stream-offset") != std::to_string(d.message_id) ||
          header_of(d, id_header) != number) {
        report("E group: record " + number + " at " + place + ": wrong headers");
        ::_exit(3);
      }
      if (!outstanding_places.insert(place).second) {
        report("E group: " + place + " delivered twice at once (tag " + std::to_string(d.tag) +
               ")");
        ::_exit(3);
      }
      outstanding[d.tag] = HeldRecord{place, 0};
      delivered.push_back(place + ":" + number);
      const unsigned r = static_cast<unsigned>(rng() % 100);
      if (r < 75) {
        to_ack.push_back(d.tag);
      } else if (r < 85) {
        to_nack.push_back(d.tag);
      } else if (r < 88) {
        to_release.push_back(d.tag);
      } else {
        outstanding[d.tag].hold_rounds = 1 + static_cast<int>(rng() % 10);
      }
    }
    report_list("GD", delivered);
    for (std::uint64_t tag : to_nack) give_back(tag, true);
    for (std::uint64_t tag : to_release) give_back(tag, false);
    to_nack.clear();
    // Held deliveries whose time is up: acked (mostly) or nacked.
    for (auto &[tag, held] : outstanding) {
      if (held.hold_rounds > 0 && --held.hold_rounds == 0) {
        (rng() % 4 == 0 ? to_nack : to_ack).push_back(tag);
      }
    }
    for (std::uint64_t tag : to_nack) give_back(tag, true);
    ack(to_ack, rng() % 2 == 0);
    const auto now = std::chrono::steady_clock::now();
    if (acked.size() >= sync_every ||
        (!acked.empty() && now - last_sync > std::chrono::milliseconds(30))) {
      if (int rc = corq_sync(engine, 10000); rc != CORQ_OK) fail("sync (group)", rc);
      report_list("GA", acked);
      acked.clear();
      sync_every = 20 + rng() % 200;
      last_sync = std::chrono::steady_clock::now();
    }
  }
}

/// The transactions' thread (see the top of the file): one thread, since a transaction acks
/// deliveries of the consumers of the thread that uses it (DESIGN §8).
class Transactor {
 public:
  Transactor(corq_engine *engine, std::uint64_t seed, std::uint64_t next_id)
      : engine_(engine), rng_(seed * 1000003 + 6), next_id_(next_id) {
    if (int rc = corq_producer_open(engine, txn_input_queue_name, &producer_); rc != CORQ_OK) {
      fail("txn producer_open", rc);
    }
    const int rc =
        corq_consumer_open(engine, txn_input_queue_name, corq::crash::txn_prefetch, &consumer_);
    if (rc != CORQ_OK) fail("txn consumer_open", rc);
    nowait_.struct_size = sizeof nowait_;
    nowait_.flags = CORQ_PUBLISH_NOWAIT;
    nowait_.timeout_ms = 10000;
    waiting_ = nowait_;
    waiting_.flags = 0;
  }

  [[noreturn]] void run() {
    std::vector<corq_delivery> buffer(corq::crash::txn_inputs_max);
    for (;;) {
      publish_inputs();
      const std::size_t want = 1 + rng_() % corq::crash::txn_inputs_max;
      const int n = corq_consume(consumer_, buffer.data(), want, 20);
      if (n < 0) fail("txn consume", n);
      if (n > 0) transact(buffer.data(), static_cast<std::size_t>(n));
      flush_inputs();  // after the transaction: it may have acked inputs not yet confirmed
      // A few hundred transactions a second: commits are in flight at every kill; more would
      // mostly grow what every reopen recovers and every check takes.
      std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 8000));
    }
  }

 private:
  /// One operation of a transaction: what, of which input.
  enum class Op { publish, append, ack };
  /// The most inputs one send publishes.
  static constexpr std::size_t input_batch_max = 8;

  /// Publishes 1..8 inputs unless the queue has enough ready; reports "TS", and "TP" once they
  /// are confirmed (now, or at the next flush_inputs).
  void publish_inputs() {
    corq_queue_stats stats{};
    stats.struct_size = sizeof stats;
    if (int rc = corq_queue_stats_get(engine_, txn_input_queue_name, &stats); rc != CORQ_OK) {
      fail("txn stats", rc);
    }
    if (stats.ready > corq::crash::txn_input_ready_limit) return;
    const std::size_t n = 1 + rng_() % input_batch_max;
    const std::uint64_t first = next_id_;
    std::vector<std::string> payloads;
    std::vector<std::string> numbers;
    for (std::size_t i = 0; i < n; ++i) {
      payloads.push_back(corq::crash::payload_of(first + i, corq::crash::txn_input_salt));
      numbers.push_back(std::to_string(first + i));
    }
    std::vector<corq_header> headers;
    std::vector<corq_message> batch;
    for (std::size_t i = 0; i < n; ++i) {
      headers.push_back(corq_header{id_header, numbers[i].data(), numbers[i].size()});
    }
    for (std::size_t i = 0; i < n; ++i) batch.push_back(message_of(payloads[i], headers[i]));
    const unsigned how = static_cast<unsigned>(rng_() % 4);  // 0: waited; 1: flushed later
    report("TS " + numbers.front() + " " + numbers.back());
    const int rc =
        corq_producer_send(producer_, batch.data(), n, how == 0 ? &waiting_ : &nowait_, nullptr);
    if (rc != CORQ_OK) fail("txn producer_send", rc);
    next_id_ += n;
    if (how == 0) {
      report("TP " + numbers.front() + " " + numbers.back());
      return;
    }
    if (unflushed_first_ == 0) unflushed_first_ = first;
    if (how != 1) flush_inputs();
  }

  /// Confirms the inputs sent NOWAIT: corq_producer_flush, then "TP".
  void flush_inputs() {
    if (unflushed_first_ == 0) return;
    if (int rc = corq_producer_flush(producer_, 10000); rc != CORQ_OK) fail("txn flush", rc);
    report("TP " + std::to_string(unflushed_first_) + " " + std::to_string(next_id_ - 1));
    unflushed_first_ = 0;
  }

  /// One transaction over these deliveries: committed ("TK", "TC"), or aborted after some of its
  /// operations and the deliveries released.
  void transact(const corq_delivery *deliveries, std::size_t n) {
    std::vector<std::uint64_t> ids;
    for (std::size_t i = 0; i < n; ++i) ids.push_back(input_id(deliveries[i]));
    std::vector<std::pair<Op, std::size_t>> ops;
    const unsigned order = static_cast<unsigned>(rng_() % 3);
    if (order == 0) {  // input by input
      for (std::size_t i = 0; i < n; ++i) {
        for (Op op : {Op::publish, Op::append, Op::ack}) ops.emplace_back(op, i);
      }
    } else {  // kind by kind: the acks first, or last
      const std::array<Op, 3> kinds = order == 1 ? std::array{Op::ack, Op::publish, Op::append}
                                                 : std::array{Op::append, Op::publish, Op::ack};
      for (Op op : kinds) {
        for (std::size_t i = 0; i < n; ++i) ops.emplace_back(op, i);
      }
    }
    const bool abort = rng_() % 8 == 0;
    const std::size_t done = abort ? rng_() % (ops.size() + 1) : ops.size();
    corq_txn *txn = nullptr;
    if (int rc = corq_txn_begin(engine_, &txn); rc != CORQ_OK) fail("txn_begin", rc);
    for (std::size_t k = 0; k < done; ++k)
      add(txn, ops[k].first, deliveries[ops[k].second], ids[ops[k].second]);
    if (abort) {
      corq_txn_abort(txn);
      for (std::size_t i = 0; i < n; ++i) {
        if (int rc = corq_release(consumer_, deliveries[i].tag); rc != CORQ_OK) {
          fail("txn release after abort", rc);
        }
      }
      return;
    }
    report_ids("TK", ids);
    if (rng_() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 3000));
    if (int rc = corq_txn_commit(txn, 10000); rc != CORQ_OK) fail("txn_commit", rc);
    report_ids("TC", ids);
  }

  /// Adds one operation for input `id` (delivered as `d`) to the transaction.
  void add(corq_txn *txn, Op op, const corq_delivery &d, std::uint64_t id) {
    if (op == Op::ack) {
      if (int rc = corq_txn_ack(txn, consumer_, d.tag); rc != CORQ_OK) fail("txn_ack", rc);
      return;
    }
    const bool output = op == Op::publish;
    const std::string body = corq::crash::payload_of(
        id, output ? corq::crash::txn_output_salt : corq::crash::txn_ledger_salt);
    const std::string number = std::to_string(id);
    const corq_header h{id_header, number.data(), number.size()};
    const corq_message m = message_of(body, h);
    const int rc = output ? corq_txn_publish(txn, "", txn_output_queue_name, &m, &waiting_)
                          : corq_txn_append(txn, txn_ledger_name, nullptr, 0, &m, &waiting_);
    if (rc != CORQ_OK) fail(output ? "txn_publish" : "txn_append", rc);
  }

  /// The id of an input delivery, whose payload and header must be intact.
  static std::uint64_t input_id(const corq_delivery &d) {
    const std::uint64_t id = corq::crash::id_of_payload(d.data, d.len, corq::crash::txn_input_salt);
    if (id == 0) {
      report("E txn: corrupt input: message " + std::to_string(d.message_id) + ", " +
             std::to_string(d.len) + " bytes");
      ::_exit(3);
    }
    const std::string number = std::to_string(id);
    if (d.header_count != 1 || std::strcmp(d.headers[0].key, id_header) != 0 ||
        std::string(static_cast<const char *>(d.headers[0].value), d.headers[0].value_len) !=
            number) {
      report("E txn: input " + number + ": wrong headers after delivery");
      ::_exit(3);
    }
    return id;
  }

  static corq_message message_of(const std::string &body, const corq_header &h) {
    corq_message m{};
    m.data = body.data();
    m.len = body.size();
    m.headers = &h;
    m.header_count = 1;
    return m;
  }

  corq_engine *engine_;
  std::mt19937_64 rng_;
  std::uint64_t next_id_;
  std::uint64_t unflushed_first_ = 0;  // the first input sent NOWAIT and not yet flushed (0: none)
  corq_producer *producer_ = nullptr;
  corq_consumer *consumer_ = nullptr;
  corq_publish_options nowait_{};
  corq_publish_options waiting_{};
};

}  // namespace

int main(int argc, char **argv) {
  if (argc != 9) {
    std::fprintf(stderr,
                 "usage: %s DIR SEED START_ID REPORT_FD BACKEND RECORD_START_ID GROUP_MODE "
                 "TXN_START_ID\n",
                 argv[0]);
    return 2;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
  ::alarm(120);                        // nor run away if the parent forgets us
  const char *dir = argv[1];
  const std::uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  const std::uint64_t start_id = std::strtoull(argv[3], nullptr, 10);
  report_fd = std::atoi(argv[4]);
  const char *backend = argv[5];
  const std::uint64_t record_start_id = std::strtoull(argv[6], nullptr, 10);
  const char *group_mode = argv[7];
  const std::uint64_t txn_start_id = std::strtoull(argv[8], nullptr, 10);

  corq_config *options = corq_config_new();
  corq::crash::set_engine_options(options, backend);
  corq_engine *engine = nullptr;
  const int rc = corq_open(dir, options, &engine);
  corq_config_free(options);
  if (rc != CORQ_OK) fail("corq_open", rc);
  corq_config *queue = corq_config_new();
  corq::crash::set_queue_options(queue);
  int declared = CORQ_OK;
  for (const char *q : {queue_name, keep_queue_name, txn_input_queue_name, txn_output_queue_name}) {
    if (declared == CORQ_OK) declared = corq_queue_declare(engine, q, queue);
  }
  corq_config_free(queue);
  if (declared != CORQ_OK) fail("declare", declared);
  // Durable: after the first child they are recovered, and declaring them again is a no-op.
  declared = corq_exchange_declare(engine, fanout_exchange_name, "fanout", nullptr);
  for (const char *q : {queue_name, keep_queue_name}) {
    if (declared == CORQ_OK) declared = corq_bind(engine, fanout_exchange_name, q, "", nullptr, 0);
  }
  if (declared != CORQ_OK) fail("declare the fanout exchange", declared);
  corq_config *stream = corq_config_new();
  corq::crash::set_stream_options(stream);
  declared = corq_stream_declare(engine, stream_name, stream);
  corq_config_free(stream);
  if (declared != CORQ_OK) fail("stream_declare", declared);
  corq_config *ledger = corq_config_new();
  corq::crash::set_txn_ledger_options(ledger);
  declared = corq_stream_declare(engine, txn_ledger_name, ledger);
  corq_config_free(ledger);
  if (declared != CORQ_OK) fail("stream_declare (txn ledger)", declared);
  // Both groups exist from the first child on (opening a member creates its group; closing it
  // releases nothing, as it took nothing), so the appender holds off for either.
  for (const char *mode : corq::crash::group_modes) {
    if (int rc = corq_consumer_close(open_member(engine, mode, 1)); rc != CORQ_OK) {
      fail("consumer_close", rc);
    }
  }
  std::mt19937_64 rng(seed * 1000003 + 5);
  const std::uint32_t member_prefetch = 16 + static_cast<std::uint32_t>(rng() % 241);
  corq_consumer *member = open_member(engine, group_mode, member_prefetch);
  report("O");

  std::thread producer([&] { produce(engine, seed, start_id); });
  std::thread appender([&] { append_records(engine, seed, record_start_id); });
  std::thread group_consumer([&] { consume_group(engine, seed, member, member_prefetch); });
  std::thread transactor([&] { Transactor(engine, seed, txn_start_id).run(); });
  consume(engine, seed);  // never returns (nor do the threads)
  producer.join();
  appender.join();
  group_consumer.join();
  transactor.join();
  return 0;
}
