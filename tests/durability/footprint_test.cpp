// tests/durability/footprint_test.cpp — what a durable engine's data directory takes on disk, as
// `du` counts it (allocated blocks: a preallocated segment counts whole however little of it is
// written): a fresh directory with a few messages is one segment; after many segments' worth of
// publish + ack, once checkpoints have released what was settled, at most two (the segment being
// written and one spare) — plus 1 MiB for everything else. Both back ends.
#include "engine/helpers.hpp"

#include "io/vfs.hpp"

#include <corq/corq.h>

#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace corq::test {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t mib = std::uint64_t{1} << 20;
/// The allowance for everything but segments (the LOCK file, the directory itself).
constexpr std::uint64_t slack_bytes = mib;
/// How long a test gives the checkpointer (every 200 ms) to release settled segments.
constexpr auto release_wait_max = std::chrono::seconds(10);

/// A fresh data directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "corq-footprint-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string data() const { return path_ + "/data"; }

 private:
  std::string path_;
};

/// Bytes `dir` and its files take on disk (st_blocks, like du).
std::uint64_t disk_bytes(const std::string &dir) {
  const auto allocated = [](const std::string &path) -> std::uint64_t {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
  };
  std::uint64_t total = allocated(dir);
  for (const auto &entry : fs::directory_iterator(dir)) total += allocated(entry.path().string());
  return total;
}

class Footprint : public ::testing::TestWithParam<const char *> {
 protected:
  void SetUp() override {
    if (std::string(GetParam()) != "io_uring") return;
    int error = 0;
    if (corq::wal::make_uring_vfs(error) == nullptr) {
      GTEST_SKIP() << "io_uring cannot be set up here: " << std::strerror(-error);
    }
  }
  EnginePtr open(std::uint64_t segment_bytes) {
    ConfigPtr config =
        make_config({{"io_backend", GetParam()}, {"segment_bytes", std::to_string(segment_bytes)}});
    corq_engine *engine = nullptr;
    must(corq_open(tmp_.data().c_str(), config.get(), &engine), "corq_open");
    return EnginePtr(engine);
  }
  TempDir tmp_;
};

INSTANTIATE_TEST_SUITE_P(Backends, Footprint, ::testing::Values("psync", "io_uring"));

TEST_P(Footprint, a_fresh_directory_with_a_thousand_small_messages_takes_one_segment) {
  const std::uint64_t segment_bytes = 4 * mib;
  EnginePtr engine = open(segment_bytes);
  must_declare(engine.get(), "q");
  ProducerPtr producer = open_producer(engine.get(), "q");
  corq_publish_options nowait = publish_options();
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  const std::string body(64, 'f');
  const corq_message one = message(body);
  for (int i = 0; i < 1000; ++i) {
    must(corq_producer_send(producer.get(), &one, 1, &nowait, nullptr), "send");
  }
  must(corq_producer_flush(producer.get(), -1), "flush");
  must(corq_sync(engine.get(), -1), "sync");
  EXPECT_LE(disk_bytes(tmp_.data()), segment_bytes + slack_bytes);
  producer.reset();
  engine.reset();
  EXPECT_LE(disk_bytes(tmp_.data()), segment_bytes + slack_bytes);
}

TEST_P(Footprint, churn_of_many_segments_of_publish_and_ack_ends_within_two_segments) {
  const std::uint64_t segment_bytes = mib;  // the smallest the engine takes: many rolls, fast
  EnginePtr engine = open(segment_bytes);
  must_declare(engine.get(), "q");
  ProducerPtr producer = open_producer(engine.get(), "q");
  ConsumerPtr consumer = open_consumer(engine.get(), "q", 256);
  corq_publish_options nowait = publish_options();
  nowait.flags = CORQ_PUBLISH_NOWAIT;
  const std::string body(400, 'c');
  std::vector<corq_message> batch(64, message(body));
  // ~20 MB of records through 1 MiB segments.
  for (int round = 0; round < 640; ++round) {
    must(corq_producer_send(producer.get(), batch.data(), batch.size(), &nowait, nullptr), "send");
    std::vector<corq_delivery> got = consume(consumer.get(), batch.size(), 5000);
    ASSERT_EQ(got.size(), batch.size());
    must(corq_ack_upto(consumer.get(), got.back().tag), "ack_upto");
  }
  must(corq_producer_flush(producer.get(), -1), "flush");
  must(corq_sync(engine.get(), -1), "sync");
  // Everything is settled: the next checkpoints release every sealed segment.
  const auto deadline = std::chrono::steady_clock::now() + release_wait_max;
  std::uint64_t bytes = disk_bytes(tmp_.data());
  while (bytes > 2 * segment_bytes + slack_bytes && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    bytes = disk_bytes(tmp_.data());
  }
  EXPECT_LE(bytes, 2 * segment_bytes + slack_bytes);
  consumer.reset();
  producer.reset();
  engine.reset();
  EXPECT_LE(disk_bytes(tmp_.data()), 2 * segment_bytes + slack_bytes);
}

}  // namespace
}  // namespace corq::test
