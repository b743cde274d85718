// tests/fuzz/fuzz_options.cpp — option parsing: corq_config_set, corq_open's engine options and
// corq_queue_declare's queue options (engine/options/), on arbitrary keys, values and names.
//
// Input: byte 0 picks the mode — 0: engine options (corq_open(NULL, ...)); 1: queue options on an
// in-memory engine; 2: queue options on a durable engine over a wal::SimVfs, then closed and
// reopened; 3: engine options of a durable engine over a wal::SimVfs. The rest is text: the first
// line is the queue name (modes 1 and 2), every further line "key=value" (a line without '=' is a
// key with an empty value).
//
// What must hold:
//   * corq_config_set accepts exactly the documented keys with values their parser accepts
//     (CORQ_EINVAL otherwise, nothing stored).
//   * corq_open / corq_queue_declare return 0 or CORQ_EINVAL (with a detail message); whenever
//     core::parse_*_options rejects the options, the call does too.
//   * Declared options survive their own text form: parse_queue_options(queue_options_map(o)) == o
//     (that text is what the log stores); declaring again with the same config is idempotent (0),
//     also after a durable queue was recovered from the log.
#include "fuzz_input.hpp"

#include "engine/testing.hpp"
#include "options/options.hpp"

#include <io/sim_vfs.hpp>

#include <memory>
#include <string>
#include <vector>

namespace corq::fuzz {
namespace {

constexpr std::size_t lines_max = 32;
constexpr std::uint64_t sim_segment_bytes_max = 4ull << 20;  // the SimVfs holds files in memory

struct Parsed {
  std::string queue;
  std::vector<std::pair<std::string, std::string>> pairs;
};

Parsed parse_lines(std::string_view text, bool has_name) {
  Parsed out;
  bool first = has_name;
  for (std::size_t n = 0; n < lines_max && !text.empty(); ++n) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (first) {
      out.queue = std::string(line);
      first = false;
      continue;
    }
    const std::size_t eq = line.find('=');
    out.pairs.emplace_back(std::string(line.substr(0, eq)),
                           eq == std::string_view::npos ? "" : std::string(line.substr(eq + 1)));
  }
  return out;
}

struct ConfigDeleter {
  void operator()(corq_config *c) const { corq_config_free(c); }
};
using ConfigPtr = std::unique_ptr<corq_config, ConfigDeleter>;

/// A config from the pairs, checking corq_config_set against the list of keys; `map` gets what
/// was stored (the last value of each accepted key).
ConfigPtr make_config(const Parsed &parsed, core::OptionMap &map) {
  ConfigPtr config(corq_config_new());
  if (config == nullptr) fuzz_fail("corq_config_new", CORQ_ENOMEM);
  for (const auto &[key, value] : parsed.pairs) {
    const int rc = corq_config_set(config.get(), key.c_str(), value.c_str());
    // The C API sees the key up to its first NUL byte.
    const std::string c_key(key.c_str());
    const bool known = core::is_engine_option(c_key) || core::is_queue_option(c_key);
    // A known key with a value that can never be valid for it is refused too (nothing stored).
    std::string error;
    const bool accepted = known && core::check_option_value(c_key, value.c_str(), error);
    if (accepted != (rc == CORQ_OK))
      fuzz_fail("corq_config_set disagrees with the key list and the value parser", rc);
    expect_rc("corq_config_set", rc, {CORQ_EINVAL});
    if (rc == CORQ_OK) map.insert_or_assign(c_key, std::string(value.c_str()));
  }
  return config;
}

void check_failure_detail(const char *call, int rc) {
  expect_rc(call, rc, {CORQ_EINVAL});
  if (rc != CORQ_OK && corq_last_error()[0] == '\0') fuzz_fail("an error without detail", rc);
}

bool all_keys(const core::OptionMap &map, bool (*is_key)(std::string_view)) {
  for (const auto &entry : map)
    if (!is_key(entry.first)) return false;
  return true;
}

void engine_options_in_memory(const Parsed &parsed) {
  core::OptionMap map;
  ConfigPtr config = make_config(parsed, map);
  corq_engine *engine = nullptr;
  const int rc = corq_open(nullptr, config.get(), &engine);
  check_failure_detail("corq_open", rc);
  core::EngineOptions options;
  std::string error;
  const bool valid =
      all_keys(map, core::is_engine_option) && core::parse_engine_options(map, options, error);
  if (valid != (rc == CORQ_OK)) fuzz_fail("corq_open disagrees with parse_engine_options", rc);
  if (engine != nullptr) expect_rc("corq_close", corq_close(engine), {});
}

/// Declares `name` with the config and checks what must hold of a declared queue.
int declare_and_check(corq_engine *engine, const Parsed &parsed, bool durable_default) {
  core::OptionMap map;
  ConfigPtr config = make_config(parsed, map);
  const int rc = corq_queue_declare(engine, parsed.queue.c_str(), config.get());
  check_failure_detail("corq_queue_declare", rc == CORQ_EEXIST ? CORQ_OK : rc);
  core::QueueOptions options;
  std::string error;
  const bool parsed_ok = all_keys(map, core::is_queue_option) &&
                         core::parse_queue_options(map, durable_default, options, error);
  if (!parsed_ok && rc == CORQ_OK) fuzz_fail("declare accepted options the parser rejects", rc);
  if (rc != CORQ_OK) return rc;
  core::QueueOptions again;
  if (!core::parse_queue_options(core::queue_options_map(options), false, again, error) ||
      !(again == options))
    fuzz_fail("queue options do not survive their text form", -1);
  expect_rc("corq_queue_declare (again)",
            corq_queue_declare(engine, parsed.queue.c_str(), config.get()), {});
  corq_queue_stats stats{};
  stats.struct_size = sizeof stats;
  expect_rc("corq_queue_stats_get", corq_queue_stats_get(engine, parsed.queue.c_str(), &stats), {});
  return rc;
}

void queue_options_in_memory(const Parsed &parsed) {
  corq_engine *engine = nullptr;
  expect_rc("corq_open", corq_open(nullptr, nullptr, &engine), {});
  declare_and_check(engine, parsed, false);
  expect_rc("corq_close", corq_close(engine), {});
}

int open_sim(wal::SimVfs &vfs, const corq_config *config, corq_engine **engine) {
  return corq::testing::open_on_vfs("/data", config, &vfs, engine);
}

void queue_options_durable(const Parsed &parsed) {
  wal::SimVfs vfs(1);
  ConfigPtr engine_config(corq_config_new());
  expect_rc("config", corq_config_set(engine_config.get(), "segment_bytes", "1MiB"), {});
  corq_engine *engine = nullptr;
  expect_rc("open_on_vfs", open_sim(vfs, engine_config.get(), &engine), {});
  const int rc = declare_and_check(engine, parsed, true);
  expect_rc("corq_close", corq_close(engine), {});
  if (rc != CORQ_OK) return;
  // The declaration was logged: after a reopen the same declaration is idempotent.
  expect_rc("open_on_vfs (reopen)", open_sim(vfs, engine_config.get(), &engine), {});
  core::OptionMap map;
  ConfigPtr config = make_config(parsed, map);
  const int again = corq_queue_declare(engine, parsed.queue.c_str(), config.get());
  if (again != CORQ_OK) fuzz_fail("a recovered queue has other options than declared", again);
  expect_rc("corq_close", corq_close(engine), {});
}

void engine_options_durable(const Parsed &parsed) {
  core::OptionMap map;
  ConfigPtr config = make_config(parsed, map);
  core::EngineOptions options;
  std::string error;
  const bool valid =
      all_keys(map, core::is_engine_option) && core::parse_engine_options(map, options, error);
  // Segments live in memory on the SimVfs: keep them small (the real limit is tested in mode 0).
  if (valid && options.segment_bytes > sim_segment_bytes_max) return;
  wal::SimVfs vfs(1);
  corq_engine *engine = nullptr;
  const int rc = open_sim(vfs, config.get(), &engine);
  check_failure_detail("open_on_vfs", rc);
  if (valid != (rc == CORQ_OK)) fuzz_fail("open_on_vfs disagrees with parse_engine_options", rc);
  if (engine != nullptr) expect_rc("corq_close", corq_close(engine), {});
}

}  // namespace
}  // namespace corq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace corq::fuzz;
  Input in(data, size);
  const unsigned mode = in.u8() % 4;
  const Parsed parsed = parse_lines(in.rest(), mode == 1 || mode == 2);
  switch (mode) {
    case 0: engine_options_in_memory(parsed); break;
    case 1: queue_options_in_memory(parsed); break;
    case 2: queue_options_durable(parsed); break;
    default: engine_options_durable(parsed); break;
  }
  return 0;
}
