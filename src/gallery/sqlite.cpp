#include "gallery/sqlite.hpp"

#include "clipface/errors.hpp"

namespace clipface::gallery_detail {

Database::Database(const std::string& uri, int flags, std::string label)
    : label_(std::move(label)) {
  const int rc = sqlite3_open_v2(uri.c_str(), &db_, flags | SQLITE_OPEN_URI, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw GalleryError("cannot open gallery database " + label_ + ": " + detail);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Database::~Database() {
  sqlite3_close(db_);
}

void Database::fail(int rc, std::string_view what) const {
  const std::string detail = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  std::string where = " (" + std::string(what) + "): " + detail;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw GalleryError("gallery busy: " + label_ +
                         " is being changed by another process; gave up after " +
                         std::to_string(busy_timeout_ms_) + " ms" + where);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      throw GalleryError("gallery is read-only: cannot write " + label_ + where);
    case SQLITE_NOTADB:
      throw GalleryError("not a clipface gallery: " + label_ + " is not an SQLite database" +
                         where);
    case SQLITE_CORRUPT:
      throw GalleryError("gallery database is corrupt: " + label_ + where);
    case SQLITE_FULL:
      throw GalleryError("disk full while writing " + label_ + where);
    case SQLITE_CANTOPEN:
      throw GalleryError("cannot open gallery database " + label_ + where);
    case SQLITE_IOERR:
      throw GalleryError("I/O error on " + label_ + where);
    default:
      throw GalleryError("gallery database error in " + label_ + where);
  }
}

void Database::exec(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);
  if (rc != SQLITE_OK) fail(rc, sql.substr(0, 60));
}

Statement Database::prepare(std::string_view sql) const {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) fail(rc, sql.substr(0, 60));
  return Statement(*this, stmt);
}

Statement& Statement::bind(int i, std::int64_t v) {
  db_->check(sqlite3_bind_int64(stmt_, i, v), "bind");
  return *this;
}

Statement& Statement::bind(int i, double v) {
  db_->check(sqlite3_bind_double(stmt_, i, v), "bind");
  return *this;
}

Statement& Statement::bind(int i, std::string_view text) {
  db_->check(
      sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT),
      "bind");
  return *this;
}

Statement& Statement::bind_blob(int i, const void* data, std::size_t bytes) {
  db_->check(sqlite3_bind_blob64(stmt_, i, data, bytes, SQLITE_TRANSIENT), "bind");
  return *this;
}

Statement& Statement::bind_null(int i) {
  db_->check(sqlite3_bind_null(stmt_, i), "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string sql = sqlite3_sql(stmt_) ? sqlite3_sql(stmt_) : "";
  sqlite3_reset(stmt_);
  db_->fail(rc, sql.substr(0, 60));
}

std::string Statement::text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), bytes(col)) : std::string();
}

Transaction::Transaction(Database& db, Kind kind) : db_(db) {
  db_.exec(kind == Kind::write ? "BEGIN IMMEDIATE" : "BEGIN");
  open_ = true;
}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace clipface::gallery_detail
