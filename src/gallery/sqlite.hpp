// A thin RAII layer over the SQLite C API for the gallery: connections, prepared statements,
// transactions, and SQLite result codes turned into GalleryError messages people can act on.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace clipface::gallery_detail {

class Statement;

class Database {
 public:
  // flags: SQLITE_OPEN_* (no CREATE unless asked). `label` names the file in error messages.
  Database(const std::string& uri, int flags, std::string label);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& label() const { return label_; }
  void exec(const std::string& sql);
  Statement prepare(std::string_view sql) const;
  std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  bool read_only() const { return sqlite3_db_readonly(db_, "main") == 1; }
  void set_busy_timeout(int ms) {
    busy_timeout_ms_ = ms;
    sqlite3_busy_timeout(db_, ms);
  }
  int busy_timeout() const { return busy_timeout_ms_; }

  // Throws GalleryError describing `rc` (busy, read-only, foreign, corrupt, full, ...).
  [[noreturn]] void fail(int rc, std::string_view what) const;
  void check(int rc, std::string_view what) const {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) fail(rc, what);
  }

 private:
  sqlite3* db_ = nullptr;
  std::string label_;
  int busy_timeout_ms_ = 0;
};

class Statement {
 public:
  Statement(const Database& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  Statement& bind(int i, std::int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Statement& bind(int i, double v);
  Statement& bind(int i, std::string_view text);
  Statement& bind_blob(int i, const void* data, std::size_t bytes);
  Statement& bind_null(int i);

  // True while a row is available; false when done. Throws GalleryError on failure.
  bool step();
  void run() {
    while (step()) {
    }
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  const void* blob(int col) const { return sqlite3_column_blob(stmt_, col); }
  std::size_t bytes(int col) const {
    return static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
  }

 private:
  const Database* db_;
  sqlite3_stmt* stmt_;
};

// BEGIN (deferred, for reads) or BEGIN IMMEDIATE (takes the write lock now, waiting up to the busy
// timeout). Rolls back unless commit() was called.
class Transaction {
 public:
  enum class Kind { read, write };
  Transaction(Database& db, Kind kind);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool open_ = false;
};

}  // namespace clipface::gallery_detail
