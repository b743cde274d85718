// bench/cli/perf_report.cpp — the end-of-run summary and JSON object.
#include "perf_report.hpp"

#include "json_string.hpp"

#include <corq/corq.h>

#include <algorithm>
#include <cstdio>

namespace corq::perf {
namespace {

double per_second(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

std::string number(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

const char *loop_mode(const PerfOptions &o) { return o.rate_per_s > 0 ? "open" : "closed"; }

std::string parameters_json(const PerfOptions &o) {
  std::string out = "{";
  out += "\"producers\":" + std::to_string(o.producers);
  out += ",\"consumers\":" + std::to_string(o.consumers);
  out += ",\"queues\":" + std::to_string(o.queues);
  out += ",\"fanout\":" + std::to_string(o.fanout);
  out += ",\"size_bytes\":" + std::to_string(o.size_bytes);
  out += ",\"batch\":" + std::to_string(o.batch);
  out += ",\"prefetch\":" + std::to_string(o.prefetch);
  out += ",\"ack_batch\":" + std::to_string(o.ack_batch);
  out += ",\"rate_per_s\":" + number(o.rate_per_s, 3);
  out += ",\"loop\":" + json_string(loop_mode(o));
  out += ",\"duration_s\":" + number(o.duration_s, 3);
  out += ",\"warmup_s\":" + number(o.warmup_s, 3);
  out += std::string(",\"durable\":") + (o.durable ? "true" : "false");
  out += ",\"dir\":" + (o.dir.empty() ? std::string("null") : json_string(o.dir));
  out += ",\"sync\":" + (o.dir.empty() ? std::string("null") : json_string(o.sync));
  out += std::string(",\"nowait\":") + (o.nowait ? "true" : "false");
  out += ",\"flush_every\":" + std::to_string(o.flush_every);
  return out + "}";
}

}  // namespace

LatencySummary summarize_latency(const RunResult &result) {
  const LatencyHistogram &h = result.latency_ns;
  const auto us = [&](std::uint64_t ns) {
    return static_cast<double>(std::min(ns, result.latency_max_ns)) / 1e3;
  };
  return LatencySummary{us(h.value_at_percentile(50)),
                        us(h.value_at_percentile(90)),
                        us(h.value_at_percentile(99)),
                        us(h.value_at_percentile(99.9)),
                        us(result.latency_max_ns),
                        h.mean() / 1e3,
                        h.count()};
}

std::string format_summary(const PerfOptions &o, const RunResult &r) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "corq-perf %s: %u producer(s), %u consumer(s), %u queue(s), %llu B messages, "
                "batch %u, prefetch %u, ack %s, %s loop",
                corq_version_string(), o.producers, o.consumers, o.queues,
                static_cast<unsigned long long>(o.size_bytes), o.batch, o.prefetch,
                o.ack_batch == 1 ? "each" : ("upto/" + std::to_string(o.ack_batch)).c_str(),
                loop_mode(o));
  out += line;
  if (o.fanout > 1) out += ", fan-out to " + std::to_string(o.fanout) + " queues";
  if (o.rate_per_s > 0) out += " at " + number(o.rate_per_s, 0) + " msg/s";
  out += o.dir.empty() ? ", in-memory" : ", dir " + o.dir + ", sync " + o.sync;
  if (o.durable) out += ", durable";
  if (o.nowait) out += ", nowait";
  out += "\n";
  const double consumed_per_s = per_second(r.consumed, r.measured_s);
  const double published_per_s = per_second(r.published, r.measured_s);
  const double bytes = static_cast<double>(o.size_bytes);
  std::snprintf(line, sizeof line,
                "measured   %.1f s after %.1f s warmup\n"
                "published  %llu msgs  %.0f msg/s  %.2f MB/s\n"
                "consumed   %llu msgs  %.0f msg/s  %.2f MB/s\n",
                r.measured_s, o.warmup_s, static_cast<unsigned long long>(r.published),
                published_per_s, published_per_s * bytes / 1e6,
                static_cast<unsigned long long>(r.consumed), consumed_per_s,
                consumed_per_s * bytes / 1e6);
  out += line;
  if (r.latency_measured && r.latency_ns.count() != 0) {
    const LatencySummary l = summarize_latency(r);
    std::snprintf(line, sizeof line,
                  "latency    p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  "
                  "(%llu messages%s)\n",
                  l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us,
                  static_cast<unsigned long long>(l.count),
                  o.rate_per_s > 0 ? ", from intended send times" : "");
    out += line;
  } else if (!r.latency_measured) {
    out += "latency    not measured: messages under 8 bytes cannot carry a timestamp\n";
  } else {
    out += "latency    no message sent in the measured window was delivered\n";
  }
  if (r.full_retries != 0) {
    out += "queue full: " + std::to_string(r.full_retries) + " sends waited out a whole " +
           "publish timeout and were retried\n";
  }
  if (r.not_drained != 0) {
    out += "not drained: " + std::to_string(r.not_drained) + " messages were still queued " +
           "when the drain timed out (their latency is not counted)\n";
  }
  return out;
}

std::string format_json(const PerfOptions &o, const RunResult &r) {
  const double consumed_per_s = per_second(r.consumed, r.measured_s);
  const double published_per_s = per_second(r.published, r.measured_s);
  const double bytes = static_cast<double>(o.size_bytes);
  std::string out = "{\"tool\":\"corq-perf\"";
  out += ",\"corq_version\":" + json_string(corq_version_string());
  out += ",\"parameters\":" + parameters_json(o);
  out += ",\"measured_s\":" + number(r.measured_s, 3);
  out += ",\"published\":" + std::to_string(r.published);
  out += ",\"consumed\":" + std::to_string(r.consumed);
  out += ",\"published_per_s\":" + number(published_per_s, 1);
  out += ",\"consumed_per_s\":" + number(consumed_per_s, 1);
  out += ",\"mb_per_s\":" + number(consumed_per_s * bytes / 1e6, 3);
  out += ",\"published_mb_per_s\":" + number(published_per_s * bytes / 1e6, 3);
  out += ",\"published_total\":" + std::to_string(r.published_total);
  out += ",\"consumed_total\":" + std::to_string(r.consumed_total);
  out += ",\"not_drained\":" + std::to_string(r.not_drained);
  out += ",\"full_retries\":" + std::to_string(r.full_retries);
  out +=
      std::string(",\"coordinated_omission_corrected\":") + (o.rate_per_s > 0 ? "true" : "false");
  if (r.latency_measured && r.latency_ns.count() != 0) {
    const LatencySummary l = summarize_latency(r);
    out += ",\"latency_us\":{\"p50\":" + number(l.p50_us, 3) + ",\"p90\":" + number(l.p90_us, 3) +
           ",\"p99\":" + number(l.p99_us, 3) + ",\"p999\":" + number(l.p999_us, 3) +
           ",\"max\":" + number(l.max_us, 3) + ",\"mean\":" + number(l.mean_us, 3) +
           ",\"count\":" + std::to_string(l.count) + "}";
  } else {
    out += ",\"latency_us\":null,\"latency_note\":";
    out += json_string(r.latency_measured ? "no message sent in the window was delivered"
                                          : "messages under 8 bytes carry no timestamp");
  }
  return out + "}\n";
}

}  // namespace corq::perf
