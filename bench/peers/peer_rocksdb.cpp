// bench/peers/peer_rocksdb.cpp — RocksDB used as a queue table, every write a WriteBatch with
// WriteOptions::sync = true (the WAL is fsynced before Write returns):
//   publish: one batch of B Puts, key = producer index (1 byte) + sequence (8 bytes, big endian);
//   claim:   under one in-process lock, a consumer takes up to prefetch rows past each producer's
//            claim cursor (a producer commits its batches in order, so a row can never appear
//            behind its producer's cursor) — the claim is in memory, like a broker's delivery;
//   ack:     each message's row is deleted; the deletes of one fetch are one synced WriteBatch.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <mutex>

#include "peer.hpp"

namespace corq::peers {
namespace {

void check(const rocksdb::Status &s, const char *what) {
  if (!s.ok()) throw PeerError(std::string(what) + ": " + s.ToString());
}

std::string row_key(std::size_t producer, std::uint64_t seq) {
  std::string key(9, '\0');
  key[0] = static_cast<char>(producer);
  for (int i = 0; i < 8; ++i) key[1 + i] = static_cast<char>((seq >> (56 - 8 * i)) & 0xffu);
  return key;
}

/// The shared claim state: per producer, the key of the next row no consumer has claimed.
struct Claims {
  std::mutex mutex;
  std::vector<std::uint64_t> next_seq;
  std::size_t round_robin = 0;
};

class RocksProducer final : public PeerProducer {
 public:
  RocksProducer(rocksdb::DB *db, std::size_t index) : db_(db), index_(index) { sync_.sync = true; }
  void publish_confirmed(const std::vector<const unsigned char *> &payloads,
                         std::size_t size) override {
    rocksdb::WriteBatch batch;
    for (const unsigned char *p : payloads) {
      check(batch.Put(row_key(index_, seq_++),
                      rocksdb::Slice(reinterpret_cast<const char *>(p), size)),
            "WriteBatch::Put");
    }
    check(db_->Write(sync_, &batch), "DB::Write(sync=true)");
  }

 private:
  rocksdb::DB *db_;
  std::size_t index_;
  std::uint64_t seq_ = 0;
  rocksdb::WriteOptions sync_;
};

class RocksConsumer final : public TableConsumer {
 public:
  RocksConsumer(rocksdb::DB *db, Claims &claims, std::size_t size)
      : db_(db), claims_(claims), size_(size) {
    sync_.sync = true;
  }

  void ack(const Delivery &d) override { check(deletes_.Delete(d.key), "WriteBatch::Delete"); }
  void end_acks() override {
    check(db_->Write(sync_, &deletes_), "DB::Write(sync=true)");
    deletes_.Clear();
  }

 private:
  void claim(std::vector<Delivery> &out, std::size_t max) override {
    std::lock_guard<std::mutex> lock(claims_.mutex);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::size_t producers = claims_.next_seq.size();
    for (std::size_t k = 0; k < producers && out.size() < max; ++k) {
      const std::size_t p = (claims_.round_robin + k) % producers;
      for (it->Seek(row_key(p, claims_.next_seq[p])); it->Valid() && out.size() < max; it->Next()) {
        const rocksdb::Slice key = it->key();
        if (key.size() != 9 || static_cast<unsigned char>(key[0]) != p) break;
        Delivery d;
        decode_payload(it->value().data(), it->value().size(), size_, d);
        d.key = key.ToString();
        std::uint64_t seq = 0;
        for (int i = 0; i < 8; ++i) seq = (seq << 8) | static_cast<unsigned char>(key[1 + i]);
        claims_.next_seq[p] = seq + 1;
        out.push_back(std::move(d));
      }
    }
    check(it->status(), "Iterator");
    claims_.round_robin = (claims_.round_robin + 1) % producers;
  }

  rocksdb::DB *db_;
  Claims &claims_;
  std::size_t size_;
  rocksdb::WriteOptions sync_;
  rocksdb::WriteBatch deletes_;
};

class RocksSystem final : public PeerSystem {
 public:
  explicit RocksSystem(const PeerOptions &o) : options_(o) {}
  ~RocksSystem() override { teardown(); }

  std::string durability() const override {
    return "WriteBatch with WriteOptions.sync=true (WAL fsynced before Write returns) for "
           "publishes and for each fetch's deletes";
  }
  void setup() override {
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    rocksdb::DB *db = nullptr;
    check(rocksdb::DB::Open(db_options, options_.dir, &db), "DB::Open");
    db_.reset(db);
    claims_.next_seq.assign(options_.producers, 0);
  }
  std::unique_ptr<PeerProducer> open_producer(std::size_t index) override {
    return std::make_unique<RocksProducer>(db_.get(), index);
  }
  std::unique_ptr<PeerConsumer> open_consumer(std::size_t) override {
    return std::make_unique<RocksConsumer>(db_.get(), claims_, options_.size);
  }
  void teardown() noexcept override { db_.reset(); }

 private:
  PeerOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  Claims claims_;
};

}  // namespace

std::unique_ptr<PeerSystem> make_rocksdb(const PeerOptions &options) {
  return std::make_unique<RocksSystem>(options);
}

}  // namespace corq::peers
