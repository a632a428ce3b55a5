// The audit log of a recognition service, `audit.db` beside the gallery: who (key id) did what
// (method, route, subject, outcome) and when, for every request to the API (every write and every
// search). It holds no biometric data (no images, crops, embeddings or boxes), so deleting a
// person leaves their audit trail but no trace of their face.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clipface {

struct AuditEntry {
  std::int64_t id = 0;
  std::string time;     // UTC, ISO 8601 with milliseconds (set by the log when empty)
  std::string key_id;   // "" without a key (auth off, or none presented)
  std::string remote;   // client address
  std::string method;   // GET, POST, ...
  std::string route;    // the route's template, e.g. /api/v1/recognition/faces/{image_id}
  std::string target;   // the path and query as asked
  std::string subject;  // subject(s) concerned: added, deleted, renamed, or recognized (comma list)
  int status = 0;       // HTTP status
  std::string outcome;  // "ok" or the error message
  int faces = 0;        // faces involved (found, added or removed)
  double duration_ms = 0;
};

// One entry as a JSON object (the field names above), for `clipface audit --json` and the API.
nlohmann::json to_json(const AuditEntry& entry);

struct AuditQuery {
  std::string since;    // entries at or after this ISO 8601 time ("" = all)
  std::string key_id;   // "" = any key
  std::string subject;  // "" = any; otherwise entries naming this subject
  int limit = 100;      // newest entries, returned oldest first; 0 = no limit
};

class AuditLog {
 public:
  // Opens (creating) `dir`/audit.db. GalleryError when it cannot.
  static AuditLog open(const std::filesystem::path& dir, bool create = true);
  AuditLog(AuditLog&&) noexcept;
  AuditLog& operator=(AuditLog&&) noexcept;
  ~AuditLog();

  // Appends one entry (committed before it returns). Safe to call from several threads.
  void append(AuditEntry entry);
  std::vector<AuditEntry> query(const AuditQuery& query) const;

 private:
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

inline constexpr const char* kAuditDbName = "audit.db";

}  // namespace clipface
