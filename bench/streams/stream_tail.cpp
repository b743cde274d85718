// bench/streams/stream_tail.cpp — tail following: one thread appends, another on the other core
// reads what was just appended; records per second end to end, next to a producer and a consumer
// on a queue in the same rounds.
//
// Scenarios (benchmark names `tail/<path>`):
//   stream_reader   appender: corq_stream_producer_send of 64 records (no key) on CPU 0; reader:
//                   corq_stream_read(reader, out, 256, 10 ms) on CPU 1, opened at "latest" before
//                   the run, following the tail (a partition reader: the group row follows).
//   stream_group    the same appender; on CPU 1 a consumer-group member (ordered mode, prefetch
//                   256, start=latest) with corq_consume(member, out, 256, 10 ms) and one
//                   corq_ack_upto per call: the target row (a group's tail reading
//                   >= 0.5x the queue's consume + ack below).
//   queue_consumer  baseline: corq_producer_send of 64 on CPU 0; corq_consume(c, out, 256, 10 ms)
//                   with prefetch 256 and one corq_ack_upto per call on CPU 1 (the later
//                   target compares a group's tail reading with this consume + ack).
//
// Each repetition opens a fresh in-memory engine. The stream (one partition, retention_records 1M,
// discard=old) first gets `tail_warmup` records on the main thread — it reaches its retention, so
// the run deletes as it appends, and its chunk memory has been allocated once — then the reader
// opens at "latest". The queue (default options, max_length 1M) gets the same number of messages
// pushed through it (published and consumed, 64 at a time: its ring's pages committed). Then both
// threads start behind a StartGate, and the time runs from the gate to the moment the reading side
// has seen the last of `tail_records`. Both sides wait inside corq when there is nothing to read
// (the reader's EventCount, the consumer's wait: spin, yield, futex).
//
// Every record carries its sequence number in its first 8 bytes, and the reader checks it against
// the record's offset; every message must arrive in order, and no record may be skipped.
//
// Flow control. The queue's producer waits inside corq_producer_send when the queue holds
// max_length (1M) messages, so a queue's end-to-end rate is that of the slower side. A stream has
// no back-pressure: an appender that gets more than the retention (1M records) ahead of its reader
// deletes records the reader has not read yet, and the reader skips them
// (corq_stream_reader_skipped) — in a trial run without flow control, the appender outran the
// reader and the reader skipped about 4 % of the records, which would make "records/s end to end"
// count records nobody read. The stream has no call that waits for a reader, nor one that tells an
// appender how far behind its readers are, so the benchmark does it by hand, as an application
// that must not lose records would: the reader publishes its next offset after every read, and
// every 1,024 records the appender reads it and, while it is more than `tail_window` (7/8 of the
// retention) ahead, waits (Backoff: spin, then yield). The appender can then never be a whole
// retention ahead, so nothing is skipped (checked), and the stream's rate is also that of the
// slower side. `throttled` counts the checks at which the appender had to wait.
#include "stream_harness.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace corq::bench::streams {
namespace {

enum class Path { stream, group, queue };
constexpr const char *target_name = "tail";

struct TailOutcome {
  double seconds = 0;         // gate to the reading side's last record
  double append_seconds = 0;  // gate to the appending side's last call
  std::uint64_t records = 0;
  std::uint64_t reads = 0;        // read / consume calls that returned records
  std::uint64_t empty_reads = 0;  // calls that returned none (timed out or woke up empty)
  std::uint64_t skipped = 0;      // stream: records retention deleted before the reader got them
  std::uint64_t throttled = 0;    // stream: flow checks at which the appender waited for the reader
  std::uint64_t full_retries = 0;  // queue: sends retried after CORQ_EFULL
  std::uint64_t preemptions = 0;   // both threads, during the run
  bool pinned = false;
  std::string error{};
};

/// What the two threads of a run share: failures (so the other side stops waiting) and, for the
/// stream, the reader's next offset (the benchmark's own flow control, see above).
struct Shared {
  alignas(64) std::atomic<std::uint64_t> reader_next{0};
  alignas(64) std::atomic<bool> appender_failed{false};
  std::atomic<bool> reader_failed{false};
};

/// Flow control of the stream's appender: whether it may append the records up to `end` (an
/// offset), waiting while that is more than tail_window ahead of the reader.
std::string wait_for_reader(const Shared &shared, std::uint64_t end, std::uint64_t &throttled) {
  if (end - shared.reader_next.load(std::memory_order_acquire) <= tail_window) return {};
  ++throttled;
  Backoff backoff;
  while (end - shared.reader_next.load(std::memory_order_acquire) > tail_window) {
    if (shared.reader_failed.load(std::memory_order_relaxed)) return "appender: the reader failed";
    backoff.wait();
  }
  return {};
}

/// Appends (stream) or publishes (queue) records first..first+count-1, batch_records per call.
/// With `shared` (the stream's measured run), record k goes to offset `base` + k and the appender
/// keeps within tail_window of the reader.
std::string append_range(Path path, corq_stream_producer *stream_producer,
                         corq_producer *queue_producer, std::uint64_t first, std::uint64_t count,
                         std::uint64_t &full_retries, const Shared *shared = nullptr,
                         std::uint64_t base = 0, std::uint64_t *throttled = nullptr) {
  if (count % batch_records != 0) return "append_range: a count that is not a multiple of 64";
  Batch batch(batch_records);
  for (std::uint64_t next = first; next < first + count; next += batch_records) {
    batch.number(next);
    if (shared != nullptr && next % flow_check_records == 0) {
      const std::uint64_t end = base + std::min(next + flow_check_records, first + count);
      if (std::string error = wait_for_reader(*shared, end, *throttled); !error.empty())
        return error;
    }
    if (path == Path::stream) {
      const int rc = corq_stream_producer_send(stream_producer, nullptr, 0, batch.messages(),
                                               batch.size(), nullptr, nullptr, nullptr);
      if (rc != CORQ_OK) return corq_failure("corq_stream_producer_send", rc);
      continue;
    }
    int rc = corq_producer_send(queue_producer, batch.messages(), batch.size(), nullptr, nullptr);
    for (unsigned retries = 0; rc == CORQ_EFULL && retries < full_retries_max; ++retries) {
      ++full_retries;
      rc = corq_producer_send(queue_producer, batch.messages(), batch.size(), nullptr, nullptr);
    }
    if (rc != CORQ_OK) return corq_failure("corq_producer_send", rc);
  }
  return {};
}

/// Reads the stream from `base` (the reader's start offset) until it has seen `count` records,
/// publishing its next offset after every read; each record's payload must carry its
/// offset - base, and none may be skipped.
std::string read_tail(corq_stream_reader *reader, std::uint64_t base, std::uint64_t count,
                      Shared &shared, TailOutcome &run) {
  std::vector<corq_stream_record> records(read_max);
  std::uint64_t next = base;  // the next offset expected
  std::uint64_t got = 0;      // records read
  const std::uint64_t end = base + count;
  auto idle_since = std::chrono::steady_clock::now();
  while (next < end) {
    const int n = corq_stream_read(reader, records.data(), records.size(), wait_timeout_ms);
    if (n < 0) return corq_failure("corq_stream_read", n);
    if (n == 0) {
      ++run.empty_reads;
      if (shared.appender_failed.load(std::memory_order_relaxed))
        return "reader: the appender failed";
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_since).count() >
          idle_limit_s)
        return "reader: no record for 10 s";
      continue;
    }
    ++run.reads;
    got += static_cast<std::uint64_t>(n);
    idle_since = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const corq_stream_record &r = records[static_cast<std::size_t>(i)];
      if (r.offset < next || r.offset >= end) return "reader: a record came twice or past the end";
      next = r.offset + 1;  // a gap is what retention deleted under the reader (counted below)
      if (r.len != payload_bytes || sequence_of(r.data) != r.offset - base)
        return "reader: record " + std::to_string(r.offset) + " has the wrong payload";
    }
    shared.reader_next.store(next, std::memory_order_release);
  }
  run.skipped = corq_stream_reader_skipped(reader);
  if (got + run.skipped != count || run.skipped != 0)
    return "reader: read " + std::to_string(got) + " and skipped " + std::to_string(run.skipped) +
           " records of " + std::to_string(count);
  return {};
}

/// Consumes `count` messages carrying first..first+count-1, in order, one corq_ack_upto per call.
std::string consume_range(corq_consumer *consumer, std::uint64_t first, std::uint64_t count,
                          const Shared *shared, TailOutcome *run) {
  std::vector<corq_delivery> deliveries(read_max);
  auto idle_since = std::chrono::steady_clock::now();
  for (std::uint64_t expected = first; expected < first + count;) {
    const int n = corq_consume(consumer, deliveries.data(), deliveries.size(), wait_timeout_ms);
    if (n < 0) return corq_failure("corq_consume", n);
    if (n == 0) {
      if (run != nullptr) ++run->empty_reads;
      if (shared != nullptr && shared->appender_failed.load(std::memory_order_relaxed))
        return "consumer: the producer failed";
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_since).count() >
          idle_limit_s)
        return "consumer: no message for 10 s";
      continue;
    }
    if (run != nullptr) ++run->reads;
    idle_since = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i, ++expected) {
      const corq_delivery &d = deliveries[static_cast<std::size_t>(i)];
      if (d.len != payload_bytes || sequence_of(d.data) != expected)
        return "consumer: messages lost, duplicated or out of order";
    }
    if (const int rc = corq_ack_upto(consumer, deliveries[static_cast<std::size_t>(n - 1)].tag);
        rc != CORQ_OK)
      return corq_failure("corq_ack_upto", rc);
  }
  return {};
}

/// A group member's side of the stream run: consumes `count` records from offset `base` on, in
/// order (one partition, ordered mode), one corq_ack_upto per call, publishing its progress for
/// the appender's flow control.
std::string consume_group(corq_consumer *member, std::uint64_t base, std::uint64_t count,
                          Shared &shared, TailOutcome &run) {
  std::vector<corq_delivery> deliveries(read_max);
  auto idle_since = std::chrono::steady_clock::now();
  for (std::uint64_t expected = 0; expected < count;) {
    const int n = corq_consume(member, deliveries.data(), deliveries.size(), wait_timeout_ms);
    if (n < 0) return corq_failure("corq_consume (group)", n);
    if (n == 0) {
      ++run.empty_reads;
      if (shared.appender_failed.load(std::memory_order_relaxed))
        return "member: the appender failed";
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_since).count() >
          idle_limit_s)
        return "member: no record for 10 s";
      continue;
    }
    ++run.reads;
    idle_since = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i, ++expected) {
      const corq_delivery &d = deliveries[static_cast<std::size_t>(i)];
      if (d.message_id != base + expected || d.len != payload_bytes ||
          sequence_of(d.data) != expected)
        return "member: records lost, duplicated or out of order";
    }
    if (const int rc = corq_ack_upto(member, deliveries[static_cast<std::size_t>(n - 1)].tag);
        rc != CORQ_OK)
      return corq_failure("corq_ack_upto (group)", rc);
    shared.reader_next.store(base + expected, std::memory_order_release);
  }
  return {};
}

/// Runs `append` on CPU 0 and `read` on CPU 1, released together; each returns an error text.
template <class Append, class Read>
void run_pair(TailOutcome &run, Shared &shared, Append &&append, Read &&read) {
  StartGate gate(2);
  FinishLine appended, finish;
  std::string append_error, read_error;  // each written by its thread only, read after join
  bool pinned_appender = false, pinned_reader = false;
  std::uint64_t appender_preemptions = 0, reader_preemptions = 0;
  std::thread appender([&] {
    pinned_appender = pin_current_thread(0);
    gate.arrive_and_wait();
    const std::uint64_t before = preemptions_of_this_thread();
    append_error = append();
    if (!append_error.empty()) shared.appender_failed.store(true, std::memory_order_relaxed);
    appended.record();
    appender_preemptions = preemptions_of_this_thread() - before;
  });
  std::thread reader([&] {
    pinned_reader = pin_current_thread(1);
    gate.arrive_and_wait();
    const std::uint64_t before = preemptions_of_this_thread();
    read_error = read();
    if (!read_error.empty()) shared.reader_failed.store(true, std::memory_order_relaxed);
    finish.record();
    reader_preemptions = preemptions_of_this_thread() - before;
  });
  const auto start = gate.open();
  appender.join();
  reader.join();
  run.seconds = finish.seconds_since(start);
  run.append_seconds = appended.seconds_since(start);
  run.error = !append_error.empty() ? append_error : read_error;
  run.pinned = pinned_appender && pinned_reader;
  run.preemptions = appender_preemptions + reader_preemptions;
}

/// The stream rows: a producer appends, and a partition reader (Path::stream) or a consumer-group
/// member (Path::group) opened at the tail after the warm-up follows it.
TailOutcome run_stream_once(const StreamScale &scale, Path path) {
  TailOutcome run;
  run.records = scale.tail_records;
  BenchEngine engine;
  if (run.error = engine.open(); !run.error.empty()) return run;
  if (run.error = engine.declare_stream(target_name); !run.error.empty()) return run;
  corq_stream_producer *producer = nullptr;
  if (const int rc = corq_stream_producer_open(engine.get(), target_name, &producer);
      rc != CORQ_OK) {
    run.error = corq_failure("corq_stream_producer_open", rc);
    return run;
  }
  std::uint64_t unused = 0;
  run.error = append_range(Path::stream, producer, nullptr, 0, scale.tail_warmup, unused);
  corq_stream_reader *reader = nullptr;
  corq_consumer *member = nullptr;
  if (run.error.empty() && path == Path::stream) {
    if (const int rc = corq_stream_reader_open(engine.get(), target_name, 0, "latest", &reader);
        rc != CORQ_OK)
      run.error = corq_failure("corq_stream_reader_open", rc);
  } else if (run.error.empty()) {
    corq_config *config = corq_config_new();
    corq_config_set(config, "start", "latest");
    corq_config_set(config, "prefetch", std::to_string(prefetch).c_str());
    const int rc = corq_group_consumer_open(engine.get(), target_name, "g", config, &member);
    corq_config_free(config);
    if (rc != CORQ_OK) run.error = corq_failure("corq_group_consumer_open", rc);
  }
  if (run.error.empty()) {
    const std::uint64_t base = scale.tail_warmup;  // one partition: offsets count every append
    Shared shared;
    shared.reader_next.store(base);
    run_pair(
        run, shared,
        [&] {
          std::uint64_t no_retries = 0;
          // Sequence numbers restart at 0: the follower checks payload == offset - base.
          return append_range(Path::stream, producer, nullptr, 0, scale.tail_records, no_retries,
                              &shared, base, &run.throttled);
        },
        [&] {
          return reader != nullptr ? read_tail(reader, base, scale.tail_records, shared, run)
                                   : consume_group(member, base, scale.tail_records, shared, run);
        });
  }
  if (reader != nullptr) corq_stream_reader_close(reader);
  if (member != nullptr) corq_consumer_close(member);
  corq_stream_producer_close(producer);
  return run;
}

TailOutcome run_queue_once(const StreamScale &scale) {
  TailOutcome run;
  run.records = scale.tail_records;
  BenchEngine engine;
  if (run.error = engine.open(); !run.error.empty()) return run;
  if (run.error = engine.declare_queue(target_name); !run.error.empty()) return run;
  corq_producer *producer = nullptr;
  corq_consumer *consumer = nullptr;
  if (const int rc = corq_producer_open(engine.get(), target_name, &producer); rc != CORQ_OK) {
    run.error = corq_failure("corq_producer_open", rc);
    return run;
  }
  if (const int rc = corq_consumer_open(engine.get(), target_name, prefetch, &consumer);
      rc != CORQ_OK) {
    corq_producer_close(producer);
    run.error = corq_failure("corq_consumer_open", rc);
    return run;
  }
  // Warm-up on this thread: 64 in, 64 out, until tail_warmup went through.
  std::uint64_t retries = 0;
  for (std::uint64_t done = 0; done < scale.tail_warmup && run.error.empty();
       done += batch_records) {
    run.error = append_range(Path::queue, nullptr, producer, done, batch_records, retries);
    if (run.error.empty())
      run.error = consume_range(consumer, done, batch_records, nullptr, nullptr);
  }
  if (run.error.empty()) {
    Shared shared;
    run_pair(
        run, shared,
        [&] {
          return append_range(Path::queue, nullptr, producer, 0, scale.tail_records,
                              run.full_retries);
        },
        [&] { return consume_range(consumer, 0, scale.tail_records, &shared, &run); });
  }
  corq_consumer_close(consumer);
  corq_producer_close(producer);
  return run;
}

void report(benchmark::State &state, const TailOutcome &run) {
  state.SetIterationTime(run.seconds > 0 ? run.seconds : 1e-9);
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  const auto n = static_cast<double>(run.records);
  state.counters["records_per_s"] = n / run.seconds;
  state.counters["ns_per_record"] = run.seconds * 1e9 / n;
  state.counters["append_records_per_s"] = n / run.append_seconds;
  state.counters["read_lag_ms"] = (run.seconds - run.append_seconds) * 1e3;
  state.counters["records"] = n;
  state.counters["records_per_read"] =
      run.reads == 0
          ? 0
          : static_cast<double>(run.records - run.skipped) / static_cast<double>(run.reads);
  state.counters["empty_reads"] = static_cast<double>(run.empty_reads);
  state.counters["skipped"] = static_cast<double>(run.skipped);
  state.counters["throttled"] = static_cast<double>(run.throttled);
  state.counters["full_retries"] = static_cast<double>(run.full_retries);
  state.counters["preemptions"] = static_cast<double>(run.preemptions);
  state.counters["pinned"] = run.pinned ? 1 : 0;
}

void register_path(const char *name, Path path, const StreamScale &scale) {
  const auto body = [=](benchmark::State &state) {
    for (auto _ : state) {
      report(state, path == Path::queue ? run_queue_once(scale) : run_stream_once(scale, path));
    }
  };
  configure_stream_run(benchmark::RegisterBenchmark(name, body));
}

}  // namespace

void register_tail_round(const StreamScale &scale) {
  register_path("tail/stream_reader", Path::stream, scale);
  register_path("tail/stream_group", Path::group, scale);
  register_path("tail/queue_consumer", Path::queue, scale);
}

}  // namespace corq::bench::streams
