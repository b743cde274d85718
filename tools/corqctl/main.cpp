// tools/corqctl/main.cpp — corqctl, the operator's command line for a corq data directory.
//
// This file is the command line only: CLI11 declares every command, its arguments and its help,
// then one run_* function does the work — read_commands.hpp for the commands that read the log
// without the directory's lock (inspect, verify, dump, stats, dlq list), write_commands.hpp for
// the ones that open the engine and so need the lock (publish, consume, purge, dlq redrive).
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

namespace {

using namespace corqctl;

constexpr const char *exit_codes_text =
    "Exit codes: 0 ok; 1 corrupt log (the first corruption's file and offset are printed); 2 bad "
    "usage or bad input; 3 directory missing, unreadable or not a corq data directory; 4 directory "
    "locked by another process (a running service); 5 no such queue or exchange; 6 the engine "
    "refused or failed the operation (queue full, unroutable with --mandatory, disk full, I/O "
    "error).";

constexpr const char *lock_text =
    "Reading commands (inspect, verify, dump, stats, dlq list) take no lock: they rebuild the "
    "state from the log read-only and work while a service has the directory open. Writing "
    "commands (publish, consume, purge, dlq redrive) open the engine, which takes the "
    "directory's lock: they fail with exit code 4 while another process holds it.";

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
                              "bindings; segments and bytes on disk",
                              false);
  add_dir(inspect, a);
  inspect->callback([&a] { a.run = [&a] { return run_inspect(a.dir); }; });

  CLI::App *verify = command(app, "verify",
                             "check every segment header, checksum and record of the log; on "
                             "corruption print the file and offset and exit 1",
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
                            "per-queue gauges, durable exchanges and their bindings, and the "
                            "log's size: a table, JSON, or Prometheus text exposition format",
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
