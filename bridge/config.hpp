// bridge/config.hpp — corq-bridge's config: the text format parsed into what the bridge runs.
//
// The format (bridge/README.md has a full example): lines of `key = value` in sections; `#` or
// `;` at the start of a line makes it a comment; blank lines are ignored; values are taken as
// written (no quoting), trimmed of surrounding blanks.
//   [nats]            the connection: servers, credentials, TLS, timeouts
//   [outbound NAME]   one rule: a local queue or stream -> a JetStream subject
//   [inbound NAME]    one rule: a JetStream durable pull consumer -> a local queue or stream
// Every key is checked: an unknown key, a missing required one, a bad number, a rule name used
// twice or a server URL that is not nats:// or tls:// fails the parse, and the error names the
// line. Secrets (password, token) are never echoed in an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace corq::bridge {

/// [nats]: how to reach and authenticate to the cluster.
struct NatsConfig {
  std::vector<std::string> servers;  // nats://host:port or tls://host:port, no user:pass@
  std::string name = "corq-bridge";  // connection name the servers show
  // Credentials: at most one of user+password, token, creds (a .creds file: JWT and seed), nkey.
  std::string user, password;  // password or password_file
  std::string token;           // token or token_file
  std::string creds_file;
  std::string nkey_public, nkey_seed_file;
  // TLS: tls_ca turns it on (servers verified against that CA); a client certificate when the
  // servers ask for one.
  std::string tls_ca, tls_cert, tls_key, tls_hostname;
  bool tls = false;  // tls_ca set, or a tls:// server
  std::int64_t connect_timeout_ms = 5000;
  std::int64_t reconnect_wait_ms = 500;      // between reconnect attempts (libnats adds jitter)
  std::int64_t jetstream_timeout_ms = 5000;  // JetStream API calls (stream info, consumer create)
  // libnats writes each publish to the socket at once instead of letting its flusher thread
  // gather them (up to 1 ms later): about 0.5 ms less per publish at p50, about 50% more client
  // CPU per message (bench/README.md, corq-bridge).
  bool send_asap = false;
};

/// Where a rule reads or writes locally: a queue, or a stream.
struct LocalEnd {
  std::string queue;  // exactly one of queue and stream is set
  std::string stream;
  bool is_stream() const { return !stream.empty(); }
  const std::string &name() const { return is_stream() ? stream : queue; }
};

/// [outbound NAME]
struct OutboundConfig {
  std::string name;
  LocalEnd from;
  std::string subject;                     // the JetStream subject every message is published to
  std::uint32_t max_in_flight = 256;       // unconfirmed publishes (and held deliveries), 1..65536
  std::int64_t publish_timeout_ms = 5000;  // a publish not acked by then is failed and resent
  std::int64_t lease_ms = 60000;           // held deliveries' leases are kept this far ahead
  std::int64_t retry_backoff_ms = 100;     // first wait before a resend; doubles
  std::int64_t retry_backoff_max_ms = 5000;  // up to this
  std::string group;  // from a stream: the consumer group (default "corq-bridge.NAME")
};

/// [inbound NAME]
struct InboundConfig {
  std::string name;
  std::string jetstream;       // the JetStream stream
  std::string durable;         // its durable pull consumer (created when missing)
  std::string filter_subject;  // optional
  LocalEnd to;
  std::uint32_t batch = 256;  // messages per fetch and per corq transaction, 1..4096
  std::int64_t fetch_wait_ms = 500;
  std::int64_t ack_wait_ms = 30000;        // the consumer's AckWait when the bridge creates it
  std::int64_t commit_timeout_ms = 30000;  // a local commit's wait for room and durability
  std::int64_t retry_backoff_ms = 100;
  std::int64_t retry_backoff_max_ms = 5000;
  std::string key = "subject";  // into a stream: the record key ("subject" or "none")
};

struct BridgeConfig {
  NatsConfig nats;
  std::vector<OutboundConfig> outbound;
  std::vector<InboundConfig> inbound;
};

/// Parses config text (file names in it are relative to the working directory). Reads
/// password_file and token_file. Returns false with `error` set ("line N: ...").
bool parse_config(const std::string &text, BridgeConfig &out, std::string &error);

/// The name of the queue holding an inbound rule's high-water mark.
std::string hwm_queue_name(const std::string &rule);

}  // namespace corq::bridge
