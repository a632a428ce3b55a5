// audit.db: one row per API request, appended as the request finishes.
#include "clipface/audit_log.hpp"

#include <mutex>

#include "serve/side_db.hpp"

namespace clipface {
using gallery_detail::Database;

namespace {

constexpr const char* kFormat = "clipface-audit";
constexpr int kVersion = 1;
constexpr const char* kSchema = R"sql(
CREATE TABLE entries(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time TEXT NOT NULL,
  key_id TEXT NOT NULL,
  remote TEXT NOT NULL,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  target TEXT NOT NULL,
  subject TEXT NOT NULL,
  status INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  faces INTEGER NOT NULL,
  duration_ms REAL NOT NULL);
CREATE INDEX entries_by_time ON entries(time);
)sql";

}  // namespace

nlohmann::json to_json(const AuditEntry& e) {
  return {{"id", e.id},           {"time", e.time},       {"key_id", e.key_id},
          {"remote", e.remote},   {"method", e.method},   {"route", e.route},
          {"target", e.target},   {"subject", e.subject}, {"status", e.status},
          {"outcome", e.outcome}, {"faces", e.faces},     {"duration_ms", e.duration_ms}};
}

struct AuditLog::Impl {
  std::unique_ptr<Database> db;
  mutable std::mutex mutex;
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditLog::AuditLog(AuditLog&&) noexcept = default;
AuditLog& AuditLog::operator=(AuditLog&&) noexcept = default;
AuditLog::~AuditLog() = default;

AuditLog AuditLog::open(const std::filesystem::path& dir, bool create) {
  auto impl = std::make_unique<Impl>();
  impl->db = serve_detail::open_side_db(dir / kAuditDbName, kFormat, kVersion, kSchema, create);
  return AuditLog(std::move(impl));
}

void AuditLog::append(AuditEntry e) {
  if (e.time.empty()) e.time = serve_detail::utc_now();
  std::lock_guard lock(impl_->mutex);
  auto stmt = impl_->db->prepare(
      "INSERT INTO entries(time, key_id, remote, method, route, target, subject, status, outcome, "
      "faces, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  stmt.bind(1, e.time)
      .bind(2, e.key_id)
      .bind(3, e.remote)
      .bind(4, e.method)
      .bind(5, e.route)
      .bind(6, e.target)
      .bind(7, e.subject)
      .bind(8, e.status)
      .bind(9, e.outcome)
      .bind(10, e.faces)
      .bind(11, e.duration_ms)
      .run();
}

std::vector<AuditEntry> AuditLog::query(const AuditQuery& q) const {
  std::lock_guard lock(impl_->mutex);
  // The newest `limit` matching entries, then put back in time order.
  std::string sql =
      "SELECT * FROM (SELECT id, time, key_id, remote, method, route, target, subject, status, "
      "outcome, faces, duration_ms FROM entries WHERE time >= ? AND (? = '' OR key_id = ?) AND "
      "(? = '' OR ',' || subject || ',' LIKE '%,' || ? || ',%' ESCAPE '\\') ORDER BY id DESC";
  if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
  sql += ") ORDER BY id";
  // LIKE wildcards in a subject's name are meant literally.
  std::string subject;
  for (char c : q.subject) {
    if (c == '%' || c == '_' || c == '\\') subject += '\\';
    subject += c;
  }
  auto stmt = impl_->db->prepare(sql);
  stmt.bind(1, q.since).bind(2, q.key_id).bind(3, q.key_id).bind(4, q.subject).bind(5, subject);
  std::vector<AuditEntry> out;
  while (stmt.step()) {
    AuditEntry e;
    e.id = stmt.int64(0);
    e.time = stmt.text(1);
    e.key_id = stmt.text(2);
    e.remote = stmt.text(3);
    e.method = stmt.text(4);
    e.route = stmt.text(5);
    e.target = stmt.text(6);
    e.subject = stmt.text(7);
    e.status = static_cast<int>(stmt.int64(8));
    e.outcome = stmt.text(9);
    e.faces = static_cast<int>(stmt.int64(10));
    e.duration_ms = stmt.real(11);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace clipface
