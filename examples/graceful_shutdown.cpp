// graceful_shutdown.cpp — stopping consumer threads without losing or redoing work (C++ wrapper).
//
// Worker threads block in Consumer::consume. To stop them, the main thread (in a service: the
// thread that sees SIGTERM) sets a flag and calls Consumer::wakeup on each consumer: the blocked
// consume returns at once with CORQ_ECLOSED, and so does every later one — but settling still
// works. So each worker finishes the task it is on, acks it, releases the tasks it took but has not
// started (ready again at once, not counted as a failed attempt) and exits; then the consumers and
// the engine close. Nothing is lost and nothing is left in flight: every task is either acked or
// ready for the next run.
//
// Build and run: cmake --build build/release --target example_graceful_shutdown &&
// build/release/examples/example_graceful_shutdown. Exit status 0 when every outcome is as
// expected.
#include <corq/corq.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int task_count = 1000;
constexpr int worker_count = 2;
constexpr std::uint32_t prefetch = 8;
constexpr auto work_time = std::chrono::microseconds(200);
constexpr auto stop_wait_max = std::chrono::seconds(10);  // bound on waiting for progress

std::atomic<bool> stopping{false};
std::atomic<int> processed{0};

struct WorkerTally {
  std::uint64_t acked = 0;
  std::uint64_t released = 0;
  bool failed = false;
};

// One worker: takes batches until woken up; on stop, releases what it has not started.
void work(corq::Consumer &consumer, WorkerTally &tally) {
  std::array<corq::Delivery, prefetch> batch;
  for (;;) {
    std::size_t n = 0;
    try {
      n = consumer.consume(batch, /*timeout_ms=*/-1);  // until a task, wakeup or engine close
    } catch (const corq::Error &error) {
      if (error.code() == CORQ_ECLOSED) return;  // woken up: this worker holds nothing now
      throw;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (stopping.load(std::memory_order_relaxed)) {
        consumer.release(batch[i]);  // not started: hand it back for the next run
        ++tally.released;
        continue;
      }
      std::this_thread::sleep_for(work_time);  // the task itself
      consumer.ack(batch[i]);
      ++tally.acked;
      processed.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

// A thread body may not let an exception escape (std::terminate): record it instead.
void run_worker(corq::Consumer &consumer, WorkerTally &tally) {
  try {
    work(consumer, tally);
  } catch (const corq::Error &error) {
    std::fprintf(stderr, "worker: %s\n", error.what());
    tally.failed = true;
  }
}

bool expect(bool condition, const char *what) {
  if (!condition) std::fprintf(stderr, "unexpected outcome: %s\n", what);
  return condition;
}

void publish_tasks(corq::Engine &engine) {
  std::vector<std::string> texts;
  std::vector<corq_message> messages;
  texts.reserve(task_count);
  for (int i = 0; i < task_count; ++i) texts.push_back("task-" + std::to_string(i));
  for (const std::string &text : texts) messages.push_back(corq::Message{text}.c());
  corq::Producer producer = engine.producer("tasks");
  producer.send(messages);  // one atomic batch
}

int run() {
  corq::Engine engine = corq::Engine::in_memory();
  engine.declare("tasks");
  publish_tasks(engine);

  std::vector<corq::Consumer> consumers;
  for (int i = 0; i < worker_count; ++i) consumers.push_back(engine.consumer("tasks", prefetch));
  std::vector<WorkerTally> tallies(worker_count);
  std::vector<std::thread> workers;
  for (int i = 0; i < worker_count; ++i) {
    workers.emplace_back(run_worker, std::ref(consumers[i]), std::ref(tallies[i]));
  }

  // Let the workers get going, then shut down in the middle of the work.
  const auto give_up = std::chrono::steady_clock::now() + stop_wait_max;
  while (processed.load() < task_count / 4 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stopping.store(true);
  for (corq::Consumer &consumer : consumers) consumer.wakeup();  // any thread may call it
  for (std::thread &worker : workers) worker.join();
  consumers.clear();  // close: would release anything still unsettled (nothing is)

  std::uint64_t acked = 0, released = 0;
  bool ok = true;
  for (const WorkerTally &tally : tallies) {
    acked += tally.acked;
    released += tally.released;
    ok = expect(!tally.failed, "no worker failed") && ok;
  }
  const corq_queue_stats stats = engine.stats("tasks");
  std::printf("acked %llu, released %llu, ready for the next run %llu\n",
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(released),
              static_cast<unsigned long long>(stats.ready));
  ok = expect(acked >= task_count / 4 && acked < task_count, "stopped in the middle") && ok;
  ok = expect(stats.acked == acked && stats.released == released, "counters agree") && ok;
  ok = expect(stats.in_flight == 0 && stats.consumers == 0, "nothing left in flight") && ok;
  ok = expect(stats.acked + stats.ready == task_count, "every task acked or ready") && ok;
  engine.close();
  if (ok) std::printf("graceful_shutdown: ok\n");
  return ok ? 0 : 1;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const corq::Error &error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 1;
  }
}
