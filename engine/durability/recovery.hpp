// engine/durability/recovery.hpp — rebuilding durable queues from the log.
//
// Replay is one pass over the records in LSN order into a RecoveredState: the declared queues
// (by queue id) with their dedup windows, and every live message by (queue id, message id) — a
// fan-out puts copies of one id into several queues — with its counts and its due time. Records
// about a queue or a message that is not (or no longer) known are skipped: the log's head may have
// been released by a checkpoint, which only ever releases records about messages that are gone (see
// ledger.hpp), and re-logs the declarations it needs. At the end the engine creates the queues and
// hands them their messages (Engine::install): ready ones in id order (publish order), delayed ones
// to the timer wheels with their due times, in-flight ones (delivered, never settled) ready again
// with their delivery counts kept.
#pragma once

#include "durability/topology_records.hpp"
#include "options/options.hpp"
#include "queue/message.hpp"

#include <log/log.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace corq::core {

struct RecoveredDedup {
  std::uint64_t message_id;
  std::int64_t recorded_ms;
};

struct RecoveredQueue {
  std::string name;
  QueueOptions options;
  std::unordered_map<std::string, RecoveredDedup> dedup;
};

struct RecoveredMessage {
  Message *message;     // owned by the state until installed
  std::uint32_t qid;    // the queue it is in now
  std::int64_t due_ms;  // 0: ready; else delayed until then (unix ms)
  wal::Lsn lsn;         // its latest publish record: what keeps it recoverable
};

struct MessageTail;  // recovery.cpp

struct RecoveredExchange {
  std::string name;
  std::uint8_t type;  // routing::ExchangeType
  ExchangeOptions options;
};

struct RecoveredStream {
  std::string name;
  StreamOptions options;
};

/// A consumer group of a durable stream: its definition and, per partition, the committed offset,
/// the offsets settled above it and the failed attempts of records not settled yet.
struct RecoveredGroupPartition {
  std::uint64_t generation = 0;  // bumped by every reset (creation, seek)
  std::uint64_t committed = 0;
  std::set<std::uint64_t> settled;
  std::map<std::uint64_t, std::uint32_t> failed;
};
struct RecoveredGroup {
  GroupOptions options;
  std::map<std::uint32_t, RecoveredGroupPartition> partitions;
};

/// A live message's name in the log: its queue and its id.
struct MessageKey {
  std::uint32_t qid;
  std::uint64_t id;
  bool operator==(const MessageKey &) const = default;
};
/// Consecutive ids of one queue hash to consecutive values: ids are handed out in publish order,
/// so the records of a recovery insert and look up neighbouring buckets (cache lines already
/// near) instead of a random one per record, which made a recovery of 1M messages ~3x slower.
/// Queues are spread apart by a large odd multiplier.
struct MessageKeyHash {
  std::size_t operator()(const MessageKey &k) const noexcept {
    return static_cast<std::size_t>(k.id + std::uint64_t{k.qid} * 0x9e3779b97f4a7c15ull);
  }
};

/// A committed transaction's record for a durable stream (records::txn_append), kept until the
/// streams are open: recovery appends it again if the stream's log does not name the transaction.
struct RecoveredTxnAppend {
  std::uint64_t txn_id;
  std::uint32_t sid, partition;
  bool has_key;
  std::string key, dedup_id;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload;
};

/// Transactions since the data directory was created (records.hpp, checkpoint): what the last
/// checkpoint that carried the counters said, and the txn_commit records it had not counted.
struct RecoveredTxnCounters {
  /// A checkpoint carried the counters (false: none did — a log from before they were kept, or
  /// no checkpoint yet; aborted and failed are then unknown, 0 here).
  bool from_checkpoint = false;
  std::uint64_t committed = 0, aborted = 0, failed = 0;  // as that checkpoint counted them
  wal::Lsn counted_through = 0;                          // its txn_counted_through
  /// LSNs of the txn_commit records after counted_through, in log order. Some may come before the
  /// checkpoint's own record (logged while it was being built), so they are kept until it is
  /// read (8 bytes per commit logged between two checkpoints, at most).
  std::vector<wal::Lsn> commits_after;
  std::uint64_t committed_total() const noexcept { return committed + commits_after.size(); }
};

struct RecoveredState {
  RecoveredState() = default;
  ~RecoveredState();
  RecoveredState(const RecoveredState &) = delete;
  RecoveredState &operator=(const RecoveredState &) = delete;

  /// Applies one record. Returns 0, or -EBADMSG with `error` set (a record that passed its checksum
  /// but does not decode: a format mismatch, reported as corruption), or -ENOMEM.
  int apply(const wal::RecoveredRecord &record);

  std::map<std::uint32_t, RecoveredQueue> queues;
  /// A multimap: a fan-out copy dead-lettered or redriven into a queue that holds another copy of
  /// the same message makes two live messages with one key. Records about such a key (remove,
  /// deliver, retry, moves) apply to one of them: they are the same message, so at worst a count
  /// or a header set is swapped between the two copies, and none is lost.
  std::unordered_multimap<MessageKey, RecoveredMessage, MessageKeyHash> messages;
  std::map<std::uint32_t, RecoveredExchange> exchanges;  // by xid
  /// Live bindings, by their record's bytes (a bind and its unbind encode the same).
  std::map<std::string, records::Binding> bindings;
  std::map<std::uint32_t, RecoveredStream> streams;  // durable streams, by sid
  std::map<std::pair<std::uint32_t, std::string>, RecoveredGroup> groups;  // by (sid, group)
  /// Transactions' stream records in log order, and the transactions known applied
  /// (txn_applied records): those are not appended again.
  std::vector<RecoveredTxnAppend> txn_appends;
  std::set<std::uint64_t> txns_applied;
  RecoveredTxnCounters txn_counters;
  std::uint64_t next_message_id = 1;
  std::uint32_t next_qid = 1;
  std::uint32_t next_xid = 1;
  std::uint32_t next_sid = 1;
  std::uint64_t records = 0;
  std::string error;

 private:
  int apply_publish(const wal::RecoveredRecord &record);
  int apply_publish_fanout(const wal::RecoveredRecord &record);
  /// What a publish record says of one copy besides its queue, id and content.
  struct CopyState {
    std::int64_t published_at_ms = 0, expires_at_ms = 0, due_ms = 0;
    std::uint32_t delivery_count = 0, failed_attempts = 0;
    std::uint32_t priority = 0;  // the *_priority record types
  };
  /// Builds and adds one copy from a publish or publish_fanout record. 0 or -ENOMEM.
  int add_copy(const wal::RecoveredRecord &record, std::uint32_t qid, std::uint64_t id,
               const CopyState &state, const MessageTail &tail);
  int apply_topology(const wal::RecoveredRecord &record);
  int apply_stream(const wal::RecoveredRecord &record);
  int apply_group(const wal::RecoveredRecord &record);
  int apply_txn(const wal::RecoveredRecord &record);
  /// Forgets the bindings for which `gone` is true.
  template <class Gone>
  void drop_bindings(Gone &&gone) {
    std::erase_if(bindings, [&](const auto &entry) { return gone(entry.second); });
  }
  int apply_dead_letter(const wal::RecoveredRecord &record);
  /// Moves one message of (from, id) to queue `to`; the message, or nullptr if none.
  RecoveredMessage *move(std::uint32_t from, std::uint32_t to, std::uint64_t id);
  /// Adds a message at `key` (another copy if the key is taken).
  RecoveredMessage *put(const MessageKey &key, const RecoveredMessage &m);
  void drop(const MessageKey &key);
  int bad(const wal::RecoveredRecord &record, const char *what);
};

}  // namespace corq::core
