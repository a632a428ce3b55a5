#include "serve/side_db.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "clipface/errors.hpp"

namespace clipface::serve_detail {
using gallery_detail::Database;
using gallery_detail::Transaction;

std::unique_ptr<Database> open_side_db(const std::filesystem::path& path, const std::string& format,
                                       int version, const std::string& schema, bool create) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (!exists && !create) {
    throw GalleryError("no " + path.filename().string() + " in " + path.parent_path().string());
  }
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
  if (create) flags |= SQLITE_OPEN_CREATE;
  auto db = std::make_unique<Database>(path.string(), flags, path.string());
  db->set_busy_timeout(10000);
  db->exec("PRAGMA journal_mode = WAL");
  // A commit survives the process being killed (the WAL is in the OS's cache at once); it waits
  // for the disk only at checkpoints.
  db->exec("PRAGMA synchronous = NORMAL");
  Transaction txn(*db, Transaction::Kind::write);
  auto has_meta = db->prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  if (!has_meta.step()) {
    auto any = db->prepare("SELECT count(*) FROM sqlite_master");
    any.step();
    if (any.int64(0) != 0) {
      throw GalleryError(path.string() + " is an SQLite database of something else, not a " +
                         format);
    }
    db->exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;" +
             schema);
    db->prepare("INSERT INTO meta(key, value) VALUES ('format', ?), ('schema', ?)")
        .bind(1, format)
        .bind(2, std::to_string(version))
        .run();
    db->exec("PRAGMA user_version = " + std::to_string(version));
  } else {
    auto stmt = db->prepare("SELECT value FROM meta WHERE key = 'format'");
    if (!stmt.step() || stmt.text(0) != format) {
      throw GalleryError(path.string() + " is not a " + format);
    }
    auto v = db->prepare("PRAGMA user_version");
    v.step();
    if (v.int64(0) > version) {
      throw GalleryError(path.string() + " has schema version " + std::to_string(v.int64(0)) +
                         ", newer than this clipface understands (" + std::to_string(version) +
                         "); upgrade clipface");
    }
  }
  txn.commit();
  return db;
}

std::string utc_now() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t seconds = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace clipface::serve_detail
