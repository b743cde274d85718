// engine/stream/group.hpp — consumer groups: a stream read through the ordinary consumer calls,
// with leases, retries, dead letters and committed offsets (DESIGN.md §7 "Consumer groups").
//
// A Group is the shared state of one (stream, group name): per partition a cursor (the next offset
// never handed out), the committed offset (the first not settled), the offsets settled above it,
// the records waiting for a retry (offset -> due time) and, in key_ordered mode, the records the
// cursor passed while their key was busy. A GroupMember is a corq_consumer: its window maps tags
// to deliveries, each pinning the chunk its record lives in (deliveries are zero-copy; only the
// header array, which adds x-stream-partition, x-stream-offset and x-stream-key, is per delivery).
//
// Modes:
//   ordered      each partition has one owner at a time; a member reads its partitions in offset
//                order, and a partition with a record waiting for its retry delivers nothing newer
//                until that record is delivered again. Partitions are spread evenly (each member
//                ⌊P/M⌋ or ⌈P/M⌉); a join or leave moves the fewest, and a moving partition pauses
//                until its deliveries are settled or released (no stop-the-world rebalance).
//   shared       every member reads every partition; each record is settled on its own.
//   key_ordered  shared, but at most one record per key is out (in flight or waiting for a retry),
//                and a key's records go out in offset order.
//
// Concurrency: everything about a group happens under its mutex (members' consume and settle
// calls, the scheduler's lease expiry and retry timers, seek, stats). Appends never take it: a
// member that found nothing waits on the stream's activity event count, which appends and every
// group change notify. Lock order: a group's mutex, then a partition's (chunk lookups).
#pragma once

#include "consumer/consumer_base.hpp"
#include "durability/recovery.hpp"
#include "durability/stream_records.hpp"
#include "options/options.hpp"
#include "stream/stream.hpp"

#include <corq/corq.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace corq::core {
class Engine;
class Journal;
class Queue;
}  // namespace corq::core

namespace corq::core::stream {

class GroupMember;

/// One delivery out of a member's window: what it names, the record's counts so far, and what
/// keeps its memory valid (the chunk's pin, the header array with the x-stream-* headers).
struct OutDelivery {
  // expired: its lease ended; readable until the member's next consume. held: a transaction's
  // commit acks it (engine/txn/): no lease expiry, no other settle, until the commit ends.
  enum class State : std::uint8_t { free, out, expired, held };
  State state = State::free;
  std::uint64_t tag = 0;
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  std::uint64_t epoch = 0;
  std::int64_t lease_deadline_ms = 0;
  std::uint32_t delivered = 0;  // deliveries of the record, this one included
  std::uint32_t failed = 0;     // failed attempts before this delivery
  bool has_key = false;
  std::string key;              // key_ordered bookkeeping (a copy)
  corq_stream_record record{};  // the record's views (into `chunk`)
  std::shared_ptr<Chunk> chunk;
  std::vector<corq_header> headers;
  char partition_text[12] = {};
  char offset_text[24] = {};
};

class Group {
 public:
  /// A new group starting at options.start on every partition. `dead_letters` may be null (none).
  Group(Engine &engine, std::shared_ptr<Stream> stream, std::string name, GroupOptions options,
        std::string dead_letter_name);
  Group(const Group &) = delete;
  Group &operator=(const Group &) = delete;

  const std::string &name() const noexcept { return name_; }
  const GroupOptions &options() const noexcept { return options_; }
  Stream &stream() noexcept { return *stream_; }
  bool deleted() const noexcept { return deleted_.load(std::memory_order_acquire); }
  /// corq_group_delete: members' next calls get CORQ_ENOENT.
  void mark_deleted() noexcept;

  /// corq_group_seek: moves `partition` (-1: every one) to `start` (earliest, latest, offset:N,
  /// time:MS). Deliveries out for the moved partitions become stale (settling them is
  /// CORQ_ESTATE). CORQ_OK or CORQ_EINVAL with `error`.
  int seek(std::int32_t partition, std::string_view start, std::string &error);
  corq_group_stats stats();
  /// Each partition's committed offset (the first not settled), after catching up with retention.
  std::vector<std::uint64_t> committed_offsets();
  std::uint32_t members();

  /// The scheduler: expires leases (a failed attempt each) and wakes members when retries fall
  /// due. Returns when it is next due (INT64_MAX: nothing timed).
  std::int64_t scheduler_pass(std::int64_t now_ms);

  // ---- durable groups (a durable stream's on a disk engine) ----
  /// True when the group's progress goes to the engine's log.
  bool durable() const noexcept { return journal_ != nullptr; }
  /// A new durable group: logs its definition and where each partition starts, and waits until
  /// that is durable. CORQ_OK or the log's error.
  int log_declaration(std::string &error);
  /// corq_group_delete of a durable group: logs it and waits.
  int log_deletion(std::string &error);
  /// Recovery: the state the log had (before any member joins).
  void restore(const std::map<std::uint32_t, RecoveredGroupPartition> &partitions);
  /// A checkpoint's records of this group: its definition and its whole progress.
  void encode_state(std::vector<std::vector<std::byte>> &payloads,
                    std::vector<std::uint8_t> &types);

 private:
  friend class GroupMember;

  /// A record waiting for its retry (or handed back): its counts and key, kept until it goes out
  /// again (then its delivery carries them).
  struct RecordState {
    std::uint32_t failed = 0;     // failed attempts (nacks, lease expiries)
    std::uint32_t delivered = 0;  // deliveries (released ones too)
    bool has_key = false;         // key_ordered: the key it holds while waiting
    std::string key;
  };
  struct PartitionState {
    std::uint64_t cursor = 0;                       // the next offset never handed out
    std::uint64_t committed = 0;                    // the first offset not settled
    std::set<std::uint64_t> settled;                // settled offsets above `committed`
    std::map<std::uint64_t, std::int64_t> retries;  // offset -> when it may go out again
    std::map<std::uint64_t, std::string> waiting;   // key_ordered: passed while the key was busy
    std::unordered_map<std::uint64_t, RecordState> records;  // the offsets in `retries`
    std::shared_ptr<Chunk> cursor_chunk;  // the chunk of the last cursor delivery (no lookup)
    std::uint32_t in_flight = 0;
    const GroupMember *owner = nullptr;   // ordered: who reads it now
    const GroupMember *target = nullptr;  // ordered: who should (a move waits for in_flight == 0)
    std::uint64_t epoch = 0;              // bumped by seek: older deliveries are stale
    // After recovery: offsets up to `recovered_through` may be in `settled` before the cursor
    // reaches them (the cursor skips those), and records not settled keep their failed attempts.
    std::uint64_t recovered_through = 0;
    std::unordered_map<std::uint64_t, std::uint32_t> recovered_failed;
    /// Durable groups: bumped by each reset of the partition (creation, seek), so a checkpoint's
    /// copy taken before a seek never undoes it at recovery (records.hpp, group_progress).
    std::uint64_t generation = 1;
  };

  // All of these run with mutex_ held.
  void join_locked(GroupMember *member);
  void leave_locked(GroupMember *member, std::int64_t now_ms);
  void rebalance_locked();
  /// Moves `ps` past what retention deleted (counted as skipped when never delivered).
  void catch_up_locked(std::uint32_t partition, PartitionState &ps);
  void settle_offset_locked(PartitionState &ps, std::uint64_t offset);
  /// A delivery goes back to wait until `due_ms` (a release: now; a failed attempt: its backoff),
  /// its counts and key kept in `records`.
  void requeue_locked(const OutDelivery &d, std::int64_t due_ms);
  /// A delivery left for good (acked, dead-lettered): its key's hold, and the committed offset.
  void settle_delivery_locked(const OutDelivery &d);
  /// A failed attempt: a retry after `delay_ms` (-1: the backoff), or a dead letter past
  /// max_attempts. Returns true if it was dead-lettered.
  bool fail_locked(OutDelivery &d, std::int64_t delay_ms, std::int64_t now_ms);
  void dead_letter_locked(const corq_stream_record &record, std::string_view reason,
                          std::string_view detail, std::int64_t now_ms);
  std::int64_t backoff_ms(std::uint32_t failed) const noexcept;
  bool key_busy(const std::string &key) const {
    auto it = busy_keys_.find(key);
    return it != busy_keys_.end() && it->second != 0;
  }
  void hold_key(const std::string &key) { ++busy_keys_[key]; }
  void free_key(const std::string &key) {
    auto it = busy_keys_.find(key);
    if (it != busy_keys_.end() && --it->second == 0) busy_keys_.erase(it);
  }
  /// Wakes waiting members (they look again).
  void wake_members() noexcept;
  /// A durable group: one group_progress record (lazy, like an ack).
  void log_progress_locked(records::Progress kind, std::uint32_t partition, std::uint64_t a,
                           std::uint64_t b);
  std::uint32_t index_of(const PartitionState &ps) const noexcept {
    return static_cast<std::uint32_t>(&ps - partitions_.data());
  }

  Engine &engine_;
  const std::shared_ptr<Stream> stream_;
  const std::string name_;
  const GroupOptions options_;
  const std::string dead_letter_name_;
  std::atomic<bool> deleted_{false};

  std::mutex mutex_;
  std::vector<PartitionState> partitions_;
  std::vector<GroupMember *> members_;                        // in join order
  std::unordered_map<std::string, std::uint32_t> busy_keys_;  // key_ordered: records out per key
  std::int64_t last_pass_ms_ = 0;
  std::uint64_t delivered_ = 0, acked_ = 0, nacked_ = 0, dead_lettered_ = 0, skipped_ = 0;
  Journal *const journal_;                   // non-null: durable (see durable())
  std::vector<std::byte> progress_scratch_;  // mutex_
};

/// A member of a group: what a corq_consumer from corq_group_consumer_open points at.
class GroupMember : public ConsumerBase {
 public:
  /// Joins `group` (holds a handle on the engine until closed).
  GroupMember(Engine &engine, std::shared_ptr<Group> group, std::uint32_t prefetch);
  ~GroupMember();
  GroupMember(const GroupMember &) = delete;
  GroupMember &operator=(const GroupMember &) = delete;

  int consume(corq_delivery *out, std::size_t max, std::int32_t timeout_ms);
  int ack(std::uint64_t tag);
  int ack_upto(std::uint64_t tag);
  int nack(std::uint64_t tag, std::int64_t delay_ms);
  int release(std::uint64_t tag);
  int reject(std::uint64_t tag, const char *reason);
  int extend(std::uint64_t tag, std::int64_t lease_ms);
  void wakeup() noexcept;
  /// Any thread, one-shot: the consume call waiting now, or else the next one, returns 0.
  void interrupt() noexcept;
  /// Leaves the group: unsettled deliveries are released.
  void close();
  Engine &engine() noexcept { return engine_; }

  // ---- transactions (engine/txn/), the member's thread ----
  /// What a transaction's ack of a group delivery logs and applies.
  struct TxnAck {
    std::uint32_t sid = 0;  // 0: a transient stream's group (nothing logged)
    std::string group;
    std::uint32_t partition = 0;
    std::uint64_t offset = 0, generation = 0;
  };
  /// corq_txn_ack's check: CORQ_OK if `tag` is a delivery out now, else CORQ_ESTATE (detail set).
  int txn_check(std::uint64_t tag);
  /// The commit takes the delivery (held: out of the lease's and other settles' reach) and says
  /// what to log. CORQ_OK, or CORQ_ESTATE / CORQ_ENOENT with the detail set.
  int txn_claim(std::uint64_t tag, TxnAck &out);
  /// The commit failed: the delivery is out again (its lease expires at the next pass if it ran
  /// out meanwhile).
  void txn_unclaim(std::uint64_t tag);
  /// The commit is logged: the delivery is acked (unless a seek made it stale meanwhile).
  void txn_complete_ack(std::uint64_t tag);

 private:
  friend class Group;

  using Slot = OutDelivery;

  /// Why a call must stop: CORQ_ENOENT (group or stream deleted), CORQ_ECLOSED, or CORQ_OK.
  int stopped() const noexcept;
  /// Hands out up to `max` deliveries (group mutex held).
  std::size_t take_locked(corq_delivery *out, std::size_t max, std::int64_t now_ms);
  /// Takes from one partition; returns how many.
  std::size_t take_from_locked(std::uint32_t partition, corq_delivery *out, std::size_t max,
                               std::int64_t now_ms);
  /// Delivers `offset` of `partition` into out (false if retention already deleted it).
  /// `previous`: the counts of a record going out again (nullptr: its first delivery).
  bool deliver_locked(std::uint32_t partition, std::uint64_t offset, corq_delivery &out,
                      std::int64_t now_ms, const Group::RecordState *previous);
  /// The slot of `tag`, or an error code: CORQ_ESTATE (unknown, settled, expired, or stale after
  /// a seek — a stale one is dropped here).
  int find_locked(std::uint64_t tag, const char *operation, Slot *&slot);
  /// Removes the slot of a settled delivery from the window and the partition's count.
  void drop_slot_locked(Slot &slot);
  /// Returns a slot to the free stack (its pin released).
  void free_slot_locked(Slot &slot);
  bool owns_locked(std::uint32_t partition);

  Engine &engine_;
  const std::shared_ptr<Group> group_;
  const std::uint32_t prefetch_;
  // The window: `prefetch` slots reused in place (their header vectors keep their capacity), a
  // stack of free ones, and the expired ones waiting for the next consume. A tag is
  // sequence << slot_bits_ | slot, so tags grow and a stale tag never matches a reused slot.
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint32_t> expired_slots_;
  std::vector<std::uint32_t> covered_;  // ack_upto's scratch
  const std::uint32_t slot_bits_;
  std::uint64_t next_sequence_ = 1;
  std::uint32_t next_partition_ = 0;  // where the next take starts (round robin)
  int load_error_ = 0;  // group mutex: a record could not be read back from the stream's log
  std::uint32_t load_error_partition_ = 0;  // group mutex: of this partition
  std::atomic<bool> woken_{false};
  std::atomic<bool> interrupted_{false};  // corq_consumer_interrupt, taken by one consume
};

}  // namespace corq::core::stream
