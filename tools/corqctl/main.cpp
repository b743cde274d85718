// tools/corqctl/main.cpp — corqctl, the operator's command line for a corq data directory.
//
// This file is the command line only: CLI11 declares every command, its arguments and its help,
// then one run_* function does the work — read_commands.hpp for the commands that read the log
// without the directory's lock (inspect, verify, dump, stats, dlq list, stream read),
// write_commands.hpp for the ones that open the engine and so need the lock (publish, consume,
// purge, dlq redrive, group seek).
// Exit codes (exit_codes.hpp) are the same for every command and listed in every help text.
#include "exit_codes.hpp"
#include "read_commands.hpp"
#include "text.hpp"
#include "write_commands.hpp"

#include <CLI/CLI.hpp>

#include <corq/corq.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

namespace {

using namespace corqctl;

constexpr const char *exit_codes_text =
    "Exit codes: 0 ok; 1 corrupt log (the first corruption's file and offset are printed); 2 bad "
    "usage or bad input (a bad start position, a partition the stream does not have, an offset "
    "past a partition's end); 3 directory missing, unreadable or not a corq data directory; 4 "
    "directory locked by another process (a running service); 5 no such queue or exchange (or "
    "stream, or consumer group); 6 the engine refused or failed the operation (queue full, "
    "unroutable with --mandatory, disk full, I/O error).";

constexpr const char *lock_text =
    "Reading commands (inspect, verify, dump, stats, dlq list, stream read) take no lock: they "
    "rebuild the state from the log (and the streams' logs) read-only and work while a service "
    "has the directory open. Writing commands (publish, consume, purge, dlq redrive, group seek) "
    "open the engine, which takes the directory's lock: they fail with exit code 4 while another "
    "process holds it.";

constexpr const char *start_text =
    "earliest (the first retained record), latest (the end: the next record appended), offset:N "
    "(from offset N; below the first retained offset: from there), time:MS (the first record "
    "whose timestamp, unix ms, is >= MS)";

/// CLI11's check of a start position: the syntax corq_stream_reader_open and corq_group_seek
/// accept (whether an offset is past a partition's end is the directory's to say).
std::string check_start(const std::string &start) {
  auto number = [](std::string_view digits, std::uint64_t max) {
    if (digits.empty() || digits.size() > 19) return false;
    std::uint64_t n = 0;
    for (const char c : digits) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n <= max;
  };
  const std::string_view s = start;
  if (s == "earliest" || s == "latest") return {};
  if (s.starts_with("offset:") && number(s.substr(7), UINT64_MAX)) return {};
  if (s.starts_with("time:") && number(s.substr(5), INT64_MAX)) return {};
  return "bad start '" + printable(s, 64) +
         "' (expected earliest, latest, offset:N or time:MS, N and MS decimal)";
}

/// Everything the parsed command line fills in; one command runs per invocation.
struct Arguments {
  std::string dir;
  std::string queue;
  std::string exchange;
  std::string to_queue;
  std::uint64_t max_messages = 0;
  std::uint64_t list_max = 100;
  std::size_t preview_bytes = preview_bytes_default;
  bool json = false, prometheus = false;
  bool ack = false, release = false;
  std::vector<std::string> engine_options;
  PublishArgs publish;
  std::string publish_data;
  ConsumeArgs consume;
  StreamReadArgs stream_read;
  GroupSeekArgs group_seek;
  std::function<int()> run;
};

CLI::App *command(CLI::App &parent, const char *name, const std::string &description,
                  bool needs_lock) {
  CLI::App *sub = parent.add_subcommand(
      name, description + (needs_lock ? " [needs the lock: exit 4 while a service has DIR open]"
                                      : " [reads without the lock]"));
  sub->footer(std::string(exit_codes_text));
  return sub;
}

void add_dir(CLI::App *sub, Arguments &a) {
  sub->add_option("DIR", a.dir, "the data directory")->required();
}

void add_queue(CLI::App *sub, std::string &queue, const char *what) {
  sub->add_option("QUEUE", queue, what)->required();
}

void add_engine_options(CLI::App *sub, Arguments &a) {
  sub->add_option("-o,--engine-option", a.engine_options,
                  "engine option for corq_open, KEY=VALUE (e.g. segment_bytes=1048576); "
                  "repeatable")
      ->allow_extra_args(false);
}

EngineTarget target(const Arguments &a) { return EngineTarget{a.dir, a.engine_options}; }

void add_read_commands(CLI::App &app, Arguments &a) {
  CLI::App *inspect = command(app, "inspect",
                              "queues with their options, ready / in-flight / delayed counts, "
                              "dead-letter depth; durable exchanges with their options and "
                              "bindings; durable streams with their options, partitions (first "
                              "and end offsets, records, bytes) and consumer groups (mode, "
                              "committed offset and lag per partition); segments and bytes on "
                              "disk",
                              false);
  add_dir(inspect, a);
  inspect->callback([&a] { a.run = [&a] { return run_inspect(a.dir); }; });

  CLI::App *verify = command(app, "verify",
                             "check every segment header, checksum and record of the log and of "
                             "every durable stream's log; on corruption print the file and offset "
                             "and exit 1",
                             false);
  add_dir(verify, a);
  verify->callback([&a] { a.run = [&a] { return run_verify(a.dir); }; });

  CLI::App *dump =
      command(app, "dump", "print the log's frames and records, human-readable", false);
  add_dir(dump, a);
  CLI::Option *dump_queue =
      dump->add_option("-q,--queue", a.queue, "only the records about this queue");
  dump->add_option("-x,--exchange", a.exchange,
                   "only the records about this exchange (declaration, deletion, bindings from "
                   "or to it)")
      ->excludes(dump_queue);
  dump->callback([&a] { a.run = [&a] { return run_dump(a.dir, a.queue, a.exchange); }; });

  CLI::App *stats = command(app, "stats",
                            "per-queue gauges, durable exchanges and their bindings, durable "
                            "streams' partitions and their groups' committed offsets and lag, "
                            "transactions committed, aborted and failed since the directory was "
                            "created, and the log's size: tables, JSON, or Prometheus text "
                            "exposition format",
                            false);
  add_dir(stats, a);
  CLI::Option *json = stats->add_flag("--json", a.json, "one JSON object");
  stats
      ->add_flag("--prometheus", a.prometheus,
                 "Prometheus text format (corq_queue_ready{queue=\"q\"} ...)")
      ->excludes(json);
  stats->callback([&a] {
    a.run = [&a] {
      return run_stats(a.dir, a.json         ? StatsFormat::json
                              : a.prometheus ? StatsFormat::prometheus
                                             : StatsFormat::text);
    };
  });
}

void add_dlq_commands(CLI::App &app, Arguments &a) {
  CLI::App *dlq = app.add_subcommand("dlq", "dead-letter queues: list (browse), redrive");
  dlq->require_subcommand(1);
  dlq->footer(std::string(exit_codes_text));

  CLI::App *list = command(*dlq, "list",
                           "browse a dead-letter queue without consuming: id, size, delivery "
                           "count, x-death-* headers, a payload preview",
                           false);
  add_dir(list, a);
  add_queue(list, a.queue, "the dead-letter queue (e.g. orders.dlq)");
  list->add_option("--max", a.list_max, "show at most N messages (0: all)")->capture_default_str();
  list->add_option("--preview-bytes", a.preview_bytes, "payload bytes to show")
      ->capture_default_str();
  list->callback(
      [&a] { a.run = [&a] { return run_dlq_list(a.dir, a.queue, a.list_max, a.preview_bytes); }; });

  CLI::App *redrive = command(*dlq, "redrive",
                              "move ready messages from a dead-letter queue back to the queue "
                              "each came from (x-death-queue), or to --to",
                              true);
  add_dir(redrive, a);
  add_queue(redrive, a.queue, "the dead-letter queue");
  redrive->add_option("--to", a.to_queue, "move them to this queue instead");
  redrive->add_option("--max", a.max_messages, "move at most N messages (0: all)")
      ->capture_default_str();
  add_engine_options(redrive, a);
  redrive->callback([&a] {
    a.run = [&a] { return run_redrive(target(a), a.queue, a.to_queue, a.max_messages); };
  });
}

void add_stream_commands(CLI::App &app, Arguments &a) {
  CLI::App *streams = app.add_subcommand("stream", "durable streams: read (replay records)");
  streams->require_subcommand(1);
  streams->footer(std::string(exit_codes_text));
  CLI::App *read = command(*streams, "read",
                           "print a durable stream's records from a position on, without "
                           "consuming: partition, offset, timestamp, key, headers, a payload "
                           "preview; every partition merged by timestamp unless --partition",
                           false);
  add_dir(read, a);
  StreamReadArgs &r = a.stream_read;
  read->add_option("STREAM", r.stream, "the stream")->required();
  read->add_option("-p,--partition", r.partition, "only this partition (0, 1, ...)")
      ->check(CLI::NonNegativeNumber);
  read->add_option("--from", r.from, std::string("where to start: ") + start_text)
      ->capture_default_str()
      ->check(CLI::Validator(check_start, "START"));
  read->add_option("--max", r.max_records, "show at most N records (0: all)")
      ->capture_default_str();
  read->add_flag("--json", r.json, "one JSON object (values escaped as in the text)");
  read->add_option("--preview-bytes", a.preview_bytes, "payload and header value bytes to show")
      ->capture_default_str();
  read->callback([&a] {
    a.stream_read.preview_bytes = a.preview_bytes;
    a.run = [&a] { return run_stream_read(a.dir, a.stream_read); };
  });

  CLI::App *groups = app.add_subcommand("group", "consumer groups of durable streams: seek");
  groups->require_subcommand(1);
  groups->footer(std::string(exit_codes_text));
  CLI::App *seek = command(*groups, "seek",
                           "move a consumer group to START on every partition or on one "
                           "(corq_group_seek): the group's committed offset moves there, so the "
                           "next service to open the directory delivers from there (replay, or "
                           "skip ahead)",
                           true);
  add_dir(seek, a);
  GroupSeekArgs &g = a.group_seek;
  seek->add_option("STREAM", g.stream, "the stream")->required();
  seek->add_option("GROUP", g.group, "the consumer group")->required();
  seek->add_option("START", g.start, start_text)
      ->required()
      ->check(CLI::Validator(check_start, "START"));
  seek->add_option("-p,--partition", g.partition, "only this partition (default: every one)")
      ->check(CLI::NonNegativeNumber);
  add_engine_options(seek, a);
  seek->callback([&a] { a.run = [&a] { return run_group_seek(target(a), a.group_seek); }; });
}

void add_publish(CLI::App &app, Arguments &a) {
  CLI::App *publish = command(app, "publish",
                              "publish one message to a queue, or through an exchange with "
                              "--exchange (waits until it is durable); DATA, or stdin when DATA "
                              "is '-' or missing",
                              true);
  add_dir(publish, a);
  // One positional for both: a queue is the default exchange's routing key, as in AMQP.
  add_queue(publish, a.publish.queue, "the queue; with --exchange, the routing key ('' for none)");
  publish->add_option("DATA", a.publish_data, "the payload; '-' or none: read stdin");
  publish->add_option("-H,--header", a.publish.headers, "a header KEY=VALUE; repeatable")
      ->allow_extra_args(false);
  CLI::Option *exchange =
      publish->add_option("-x,--exchange", a.publish.exchange,
                          "publish through this exchange (corq_exchange_publish; '' is the "
                          "default exchange), QUEUE being the routing key");
  publish
      ->add_flag("--mandatory", a.publish.mandatory,
                 "with --exchange: fail (exit 6, nothing stored) when no queue takes the "
                 "message, instead of dropping it")
      ->needs(exchange);
  publish
      ->add_flag("--declare", a.publish.declare,
                 "declare the queue with default options if it is missing")
      ->excludes(exchange);
  publish->add_option("--dedup-id", a.publish.dedup_id, "deduplication id");
  publish->add_option("--delay-ms", a.publish.delay_ms, "deliverable only after this delay")
      ->check(CLI::NonNegativeNumber);
  publish->add_option("--ttl-ms", a.publish.ttl_ms, "time to live (0: the queue's default)")
      ->check(CLI::NonNegativeNumber);
  add_engine_options(publish, a);
  publish->callback([&a, publish] {
    a.publish.through_exchange = publish->count("--exchange") != 0;
    a.publish.data_from_stdin = publish->count("DATA") == 0 || a.publish_data == "-";
    if (!a.publish.data_from_stdin) a.publish.data = a.publish_data;
    a.run = [&a] { return run_publish(target(a), a.publish); };
  });
}

void add_consume(CLI::App &app, Arguments &a) {
  CLI::App *consume = command(app, "consume",
                              "take up to --max messages, print them, then release them (the "
                              "default: they stay in the queue) or ack them (--ack: gone)",
                              true);
  add_dir(consume, a);
  add_queue(consume, a.consume.queue, "the queue");
  consume->add_option("--max", a.consume.max_messages, "take at most N messages (1-65536)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 65536u));
  consume->add_option("--wait-ms", a.consume.wait_ms, "wait this long for the first message")
      ->capture_default_str()
      ->check(CLI::Range(0, 3'600'000));
  CLI::Option *ack = consume->add_flag("--ack", a.ack, "ack them: they leave the queue");
  consume->add_flag("--release", a.release, "release them: back to the queue (default)")
      ->excludes(ack);
  consume->add_flag("--raw", a.consume.raw, "print only the payloads, each followed by a newline");
  consume->add_option("--preview-bytes", a.preview_bytes, "payload bytes to show")
      ->capture_default_str();
  add_engine_options(consume, a);
  consume->callback([&a] {
    a.consume.settle = a.ack ? Settle::ack : Settle::release;
    a.consume.preview_bytes = a.preview_bytes;
    a.run = [&a] { return run_consume(target(a), a.consume); };
  });
}

void add_write_commands(CLI::App &app, Arguments &a) {
  CLI::App *purge = command(app, "purge", "drop every ready message of a queue", true);
  add_dir(purge, a);
  add_queue(purge, a.queue, "the queue");
  add_engine_options(purge, a);
  purge->callback([&a] { a.run = [&a] { return run_purge(target(a), a.queue); }; });
  add_publish(app, a);
  add_consume(app, a);
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app("corqctl " + std::string(corq_version_string()) +
                   " — operate a corq data directory from a shell.\n" + lock_text,
               "corqctl");
  app.footer(std::string(exit_codes_text));
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("corqctl ") + corq_version_string());
  Arguments a;
  add_read_commands(app, a);
  add_dlq_commands(app, a);
  add_stream_commands(app, a);
  add_write_commands(app, a);
  // `corqctl help` as older versions spelled it.
  if (argc == 2 && std::strcmp(argv[1], "help") == 0) {
    std::fputs(app.help().c_str(), stdout);
    return exit_ok;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    const int code = app.exit(e);  // prints the help, or the error and a hint
    return code == 0 ? exit_ok : exit_usage;
  }
  return a.run ? a.run() : exit_usage;
}
