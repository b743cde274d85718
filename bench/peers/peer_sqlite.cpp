// bench/peers/peer_sqlite.cpp — SQLite used as a queue table, journal_mode=WAL and synchronous=FULL
// (the WAL is fsynced at every commit); one connection per thread:
//   publish: one transaction (BEGIN IMMEDIATE) inserting B rows into
//            queue(id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB) — AUTOINCREMENT so an id is
//            never reused, and writers are serialized, so ids become visible in increasing order;
//   claim:   under one in-process lock, a consumer selects up to prefetch rows past the claim
//            cursor (the highest id claimed) — the claim is in memory, like a broker's delivery;
//   ack:     each message's row is deleted; the deletes of one fetch are one transaction.
#include <sqlite3.h>

#include <mutex>

#include "peer.hpp"

namespace corq::peers {
namespace {

constexpr int busy_timeout_ms = 60000;

class Connection {
 public:
  explicit Connection(const std::string &path) {
    const int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      const std::string what = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      throw PeerError("sqlite3_open_v2(" + path + "): " + what);
    }
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
  }
  ~Connection() {
    for (sqlite3_stmt *s : statements_) sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  void exec(const char *sql) {
    char *message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string what = message != nullptr ? message : sqlite3_errmsg(db_);
      sqlite3_free(message);
      throw PeerError(std::string(sql) + ": " + what);
    }
  }
  sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) fail(sql);
    statements_.push_back(s);
    return s;
  }
  /// Steps a statement that returns no rows, then resets it.
  void run(sqlite3_stmt *s) {
    if (sqlite3_step(s) != SQLITE_DONE) fail(sqlite3_sql(s));
    sqlite3_reset(s);
  }
  [[noreturn]] void fail(const char *sql) const {
    throw PeerError(std::string(sql) + ": " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3 *db_ = nullptr;
  std::vector<sqlite3_stmt *> statements_;
};

struct Claims {
  std::mutex mutex;
  sqlite3_int64 last_claimed = 0;
};

class SqliteProducer final : public PeerProducer {
 public:
  explicit SqliteProducer(const std::string &path) : conn_(path) {
    begin_ = conn_.prepare("BEGIN IMMEDIATE");
    insert_ = conn_.prepare("INSERT INTO queue(body) VALUES (?)");
    commit_ = conn_.prepare("COMMIT");
  }
  void publish_confirmed(const std::vector<const unsigned char *> &payloads,
                         std::size_t size) override {
    conn_.run(begin_);
    for (const unsigned char *p : payloads) {
      sqlite3_bind_blob(insert_, 1, p, static_cast<int>(size), SQLITE_STATIC);
      conn_.run(insert_);
    }
    conn_.run(commit_);
  }

 private:
  Connection conn_;
  sqlite3_stmt *begin_, *insert_, *commit_;
};

class SqliteConsumer final : public TableConsumer {
 public:
  SqliteConsumer(const std::string &path, Claims &claims, std::size_t size)
      : conn_(path), claims_(claims), size_(size) {
    select_ = conn_.prepare("SELECT id, body FROM queue WHERE id > ? ORDER BY id LIMIT ?");
    begin_ = conn_.prepare("BEGIN IMMEDIATE");
    delete_ = conn_.prepare("DELETE FROM queue WHERE id = ?");
    commit_ = conn_.prepare("COMMIT");
  }

  void ack(const Delivery &d) override { acked_.push_back(static_cast<sqlite3_int64>(d.tag)); }
  void end_acks() override {
    conn_.run(begin_);
    for (const sqlite3_int64 id : acked_) {
      sqlite3_bind_int64(delete_, 1, id);
      conn_.run(delete_);
    }
    conn_.run(commit_);
    acked_.clear();
  }

 private:
  void claim(std::vector<Delivery> &out, std::size_t max) override {
    std::lock_guard<std::mutex> lock(claims_.mutex);
    sqlite3_bind_int64(select_, 1, claims_.last_claimed);
    sqlite3_bind_int64(select_, 2, static_cast<sqlite3_int64>(max));
    int rc;
    while ((rc = sqlite3_step(select_)) == SQLITE_ROW) {
      Delivery d;
      d.tag = static_cast<std::uint64_t>(sqlite3_column_int64(select_, 0));
      decode_payload(sqlite3_column_blob(select_, 1),
                     static_cast<std::size_t>(sqlite3_column_bytes(select_, 1)), size_, d);
      claims_.last_claimed = static_cast<sqlite3_int64>(d.tag);
      out.push_back(std::move(d));
    }
    sqlite3_reset(select_);
    if (rc != SQLITE_DONE) conn_.fail("SELECT id, body FROM queue");
  }

  Connection conn_;
  Claims &claims_;
  std::size_t size_;
  sqlite3_stmt *select_, *begin_, *delete_, *commit_;
  std::vector<sqlite3_int64> acked_;
};

class SqliteSystem final : public PeerSystem {
 public:
  explicit SqliteSystem(const PeerOptions &o) : options_(o), path_(o.dir + "/queue.db") {}

  std::string durability() const override {
    return "journal_mode=WAL, synchronous=FULL (WAL fsynced at every commit); one transaction per "
           "published batch and per fetch's deletes";
  }
  void setup() override {
    Connection conn(path_);
    conn.exec("DROP TABLE IF EXISTS queue");
    conn.exec("CREATE TABLE queue(id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)");
  }
  std::unique_ptr<PeerProducer> open_producer(std::size_t) override {
    return std::make_unique<SqliteProducer>(path_);
  }
  std::unique_ptr<PeerConsumer> open_consumer(std::size_t) override {
    return std::make_unique<SqliteConsumer>(path_, claims_, options_.size);
  }
  void teardown() noexcept override {}

 private:
  PeerOptions options_;
  std::string path_;
  Claims claims_;
};

}  // namespace

std::unique_ptr<PeerSystem> make_sqlite(const PeerOptions &options) {
  return std::make_unique<SqliteSystem>(options);
}

}  // namespace corq::peers
