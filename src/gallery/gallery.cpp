#include "clipface/gallery.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "clipface/errors.hpp"
#include "gallery/face_rows.hpp"
#include "gallery/gallery_impl.hpp"
#include "gallery/schema.hpp"
#include "gallery/sqlite.hpp"
#include "gallery/vector_index.hpp"

namespace clipface {
namespace fs = std::filesystem;
using gallery_detail::Database;
using gallery_detail::IndexStamp;
using gallery_detail::kUnitTolerance;
using gallery_detail::Statement;
using gallery_detail::Transaction;
using gallery_detail::vector_norm;
using gallery_detail::VectorIndex;

namespace {

using gallery_detail::kSchemaVersion;
constexpr int kBaseSchemaVersion = 1;  // what kSchema creates; migrations (schema.hpp) do the rest
constexpr const char* kFormat = "clipface-gallery";

constexpr const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE people(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE TABLE images(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL);
-- AUTOINCREMENT: a face id is never reused, so an index built before a removal can never name
-- the wrong person.
CREATE TABLE faces(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  box_x REAL NOT NULL, box_y REAL NOT NULL, box_w REAL NOT NULL, box_h REAL NOT NULL,
  landmarks TEXT NOT NULL,
  score REAL NOT NULL,
  crop BLOB,
  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE INDEX faces_by_person ON faces(person_id);
CREATE INDEX faces_by_image ON faces(image_id);
CREATE TABLE embeddings(
  face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
  vector BLOB NOT NULL);
)sql";

std::string random_id() {
  std::random_device rd;
  std::ostringstream out;
  for (int i = 0; i < 4; ++i) out << std::hex << rd();
  return out.str();
}

// SQLite URI with the characters that mean something in a URI escaped.
std::string file_uri(const fs::path& path, const std::string& query) {
  std::string uri = "file:";
  for (char c : fs::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      uri += buf;
    } else {
      uri += c;
    }
  }
  return query.empty() ? uri : uri + "?" + query;
}

bool writable_dir(const fs::path& dir) {
  return ::access(dir.c_str(), W_OK) == 0;
}

// Removes leftovers of processes that died while writing (they may hold biometric data).
void remove_dead_temporaries(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto marker = name.rfind(".tmp-");
    const auto creating = name.rfind(".creating-");
    const auto at = marker != std::string::npos     ? marker + 5
                    : creating != std::string::npos ? creating + 10
                                                    : std::string::npos;
    if (at == std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + at));
    if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
      fs::remove(entry.path(), ec);
    }
  }
}

}  // namespace

Gallery::Gallery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gallery::Gallery(Gallery&&) noexcept = default;
Gallery& Gallery::operator=(Gallery&&) noexcept = default;

Gallery::~Gallery() {
  if (!impl_) return;
  try {
    flush();
  } catch (const std::exception& e) {
    spdlog::warn("gallery {}: index not saved ({}); it will be rebuilt on next open",
                 impl_->dir.string(), e.what());
  }
}

Gallery Gallery::create(const fs::path& dir, const EmbedderInfo& model,
                        const GalleryOptions& options) {
  if (model.name.empty() || model.dim <= 0) {
    throw InputError("cannot create gallery " + dir.string() +
                     ": the embedding model needs a name and a positive dimension");
  }
  VectorIndex::validate(model.dim, options.index_factory, options.search_params);
  const fs::path db_path = dir / kGalleryDbName;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw GalleryError("cannot create gallery " + dir.string() + ": it is a file, not a folder");
  }
  if (fs::exists(db_path, ec)) {
    throw GalleryError("cannot create gallery " + dir.string() +
                       ": a gallery already exists there");
  }
  fs::create_directories(dir, ec);
  if (ec) throw GalleryError("cannot create gallery folder " + dir.string() + ": " + ec.message());
  if (!writable_dir(dir)) {
    throw GalleryError("cannot create gallery " + dir.string() + ": the folder is read-only");
  }

  // Build the database under a temporary name and link it into place: a gallery.db is either
  // complete or absent, and of two processes creating the same gallery only one wins.
  const fs::path temp =
      dir / (std::string(kGalleryDbName) + ".creating-" + std::to_string(::getpid()));
  fs::remove(temp, ec);
  {
    Database db(file_uri(temp, ""), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, temp.string());
    db.exec("PRAGMA journal_mode = DELETE");
    Transaction txn(db, Transaction::Kind::write);
    db.exec(kSchema);
    auto put = db.prepare("INSERT INTO meta(key, value) VALUES (?, ?)");
    auto set = [&](const std::string& key, const std::string& value) {
      put.reset();
      put.bind(1, key).bind(2, value).run();
    };
    set("format", kFormat);
    set("schema", std::to_string(kBaseSchemaVersion));
    set("gallery_id", random_id());
    set("model_name", model.name);
    set("model_checksum", model.checksum);
    set("crop_style", model.crop_style);
    set("dim", std::to_string(model.dim));
    set("input_size", std::to_string(model.input_size));
    set("random_weights", model.random_weights ? "1" : "0");
    set("index_factory", options.index_factory);
    set("search_params", options.search_params);
    set("generation", "0");
    db.exec("PRAGMA user_version = " + std::to_string(kBaseSchemaVersion));
    gallery_detail::run_migrations(db, kBaseSchemaVersion);
    txn.commit();
    // WAL: readers never block the writer, and a commit is one append.
    db.exec("PRAGMA journal_mode = WAL");
  }
  const bool linked = ::link(temp.c_str(), db_path.c_str()) == 0;
  const int link_errno = errno;
  fs::remove(temp, ec);
  if (!linked) {
    throw GalleryError("cannot create gallery " + dir.string() + ": " +
                       (link_errno == EEXIST ? std::string("a gallery already exists there")
                                             : std::string(std::strerror(link_errno))));
  }
  return open(dir, GalleryMode::write);
}

Gallery Gallery::open(const fs::path& dir, const OpenOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->db_path = dir / kGalleryDbName;
  impl->index_path = dir / kGalleryIndexName;
  impl->mode = options.mode;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    throw GalleryError("no gallery at " + dir.string() + ": folder not found");
  if (!fs::is_directory(dir, ec)) {
    throw GalleryError("not a clipface gallery: " + dir.string() + " is a file, not a folder");
  }
  if (!fs::exists(impl->db_path, ec)) {
    throw GalleryError("not a clipface gallery: " + dir.string() + " has no " + kGalleryDbName);
  }
  const bool dir_writable = writable_dir(dir);
  const std::string label = impl->db_path.string();
  if (options.mode == GalleryMode::write) {
    if (!dir_writable || ::access(impl->db_path.c_str(), W_OK) != 0) {
      throw GalleryError("gallery is read-only: cannot write to " + dir.string() +
                         " (open it for reading only to search)");
    }
    impl->db =
        std::make_unique<Database>(file_uri(impl->db_path, ""), SQLITE_OPEN_READWRITE, label);
    if (impl->db->read_only()) {
      throw GalleryError("gallery is read-only: cannot write to " + label);
    }
  } else {
    // On a read-only disk SQLite cannot create the WAL's shared-memory file; `immutable` reads the
    // file as it is (a cleanly closed gallery has everything in gallery.db).
    impl->db = std::make_unique<Database>(
        file_uri(impl->db_path, dir_writable ? "mode=ro" : "mode=ro&immutable=1"),
        SQLITE_OPEN_READONLY, label);
  }
  Database& db = *impl->db;
  db.set_busy_timeout(options.busy_timeout_ms);

  // Identify the file before changing anything about the connection.
  std::int64_t version = 0;
  {
    auto stmt = db.prepare("PRAGMA user_version");
    stmt.step();
    version = stmt.int64(0);
    auto has_meta =
        db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
    if (!has_meta.step()) {
      throw GalleryError("not a clipface gallery: " + label +
                         " is an SQLite database of something else");
    }
  }
  std::string format;
  try {
    format = impl->meta("format");
  } catch (const GalleryError&) {
    format.clear();
  }
  if (format != kFormat) {
    throw GalleryError("not a clipface gallery: " + label +
                       " is an SQLite database of something else");
  }
  if (version > kSchemaVersion) {
    throw GalleryError("gallery " + dir.string() + " has schema version " +
                       std::to_string(version) + ", newer than this clipface understands (" +
                       std::to_string(kSchemaVersion) + "); upgrade clipface");
  }
  if (version < 1)
    throw GalleryError("gallery database is corrupt: " + label + " has no schema version");
  // An older gallery opened for writing is upgraded (one transaction, before foreign keys are
  // on); read-only it is read as it is.
  if (options.mode == GalleryMode::write && version < kSchemaVersion) {
    gallery_detail::upgrade_schema(db, label);
    version = kSchemaVersion;
  }
  impl->schema_version = static_cast<int>(version);

  db.exec("PRAGMA foreign_keys = ON");
  if (options.mode == GalleryMode::write) {
    // Deleted rows are overwritten with zeros, so removed faces leave nothing in free pages.
    db.exec("PRAGMA secure_delete = ON");
    remove_dead_temporaries(dir);
  }
  try {
    impl->gallery_id = impl->meta("gallery_id");
    impl->model.name = impl->meta("model_name");
    impl->model.checksum = impl->meta("model_checksum");
    impl->model.crop_style = impl->meta("crop_style");
    impl->model.dim = std::stoi(impl->meta("dim"));
    impl->model.input_size = std::stoi(impl->meta("input_size"));
    impl->model.random_weights = impl->meta("random_weights") == "1";
    impl->options.index_factory = impl->meta("index_factory");
    impl->options.search_params = impl->meta("search_params");
  } catch (const std::logic_error& e) {  // stoi
    throw GalleryError("gallery database is corrupt: " + label + ": bad model entry in meta");
  }
  if (impl->model.dim <= 0)
    throw GalleryError("gallery database is corrupt: " + label + ": dim <= 0");
  impl->model_generation = impl->read_model_generation();
  std::lock_guard lock(impl->mutex);
  impl->ensure_index();
  return Gallery(std::move(impl));
}

const fs::path& Gallery::dir() const {
  return impl_->dir;
}
GalleryMode Gallery::mode() const {
  return impl_->mode;
}
const EmbedderInfo& Gallery::model() const {
  return impl_->model;
}
const GalleryOptions& Gallery::options() const {
  return impl_->options;
}

void Gallery::require_model(const EmbedderInfo& other) const {
  if (!impl_->model.same_space(other)) {
    throw GalleryError("model mismatch: gallery " + impl_->dir.string() + " holds embeddings of " +
                       gallery_detail::describe_model(impl_->model) + ", not " +
                       gallery_detail::describe_model(other));
  }
}

std::vector<std::int64_t> Gallery::enroll(const EmbedderInfo& model,
                                          const std::vector<Enrollment>& faces) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  require_model(model);
  const auto dim = static_cast<std::size_t>(g.model.dim);
  gallery_detail::validate_enrollments(g, faces, gallery_detail::Labels::named);
  if (faces.empty()) return {};

  std::vector<std::int64_t> ids;
  std::int64_t before = 0;
  std::int64_t after = 0;
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    before = g.read_generation();
    ids = gallery_detail::insert_faces(g, faces, gallery_detail::Labels::named);
    after = g.bump_generation();
    txn.commit();
  }

  // The index follows: extend it when it reflects exactly the state this transaction started
  // from; otherwise another process changed the gallery meanwhile and the next use rebuilds it.
  const bool now_trainable =
      g.index && g.index->needs_training(static_cast<std::int64_t>(ids.size()));
  if (g.index && g.index_generation == before && !now_trainable) {
    std::vector<float> vectors;
    vectors.reserve(ids.size() * dim);
    for (const Enrollment& e : faces)
      vectors.insert(vectors.end(), e.embedding.begin(), e.embedding.end());
    g.index->add(static_cast<std::int64_t>(ids.size()), ids.data(), vectors.data());
    g.index_generation = after;
    g.dirty = true;
  } else {
    g.index_generation = -1;
  }
  return ids;
}

std::vector<PersonSummary> Gallery::people() const {
  std::lock_guard lock(impl_->mutex);
  auto stmt = impl_->db->prepare(
      "SELECT p.id, p.name, p.created, count(f.id), count(DISTINCT f.image_id) FROM people p "
      "LEFT JOIN faces f ON f.person_id = p.id GROUP BY p.id ORDER BY p.name");
  std::vector<PersonSummary> result;
  while (stmt.step()) {
    result.push_back({stmt.int64(0), stmt.text(1), static_cast<int>(stmt.int64(3)),
                      static_cast<int>(stmt.int64(4)), stmt.text(2)});
  }
  return result;
}

std::vector<FaceRecord> Gallery::faces(const std::string& person) const {
  std::lock_guard lock(impl_->mutex);
  auto exists = impl_->db->prepare("SELECT 1 FROM people WHERE name = ?");
  exists.bind(1, person);
  if (!exists.step())
    throw InputError("no person named '" + person + "' in gallery " + impl_->dir.string());
  return gallery_detail::read_faces(*impl_, "p.name = ?",
                                    [&](Statement& stmt) { stmt.bind(1, person); });
}

std::string Gallery::crop_png(std::int64_t face_id) const {
  std::lock_guard lock(impl_->mutex);
  auto stmt = impl_->db->prepare("SELECT crop FROM faces WHERE id = ? AND crop IS NOT NULL");
  stmt.bind(1, face_id);
  if (!stmt.step()) return {};
  return std::string(static_cast<const char*>(stmt.blob(0)), stmt.bytes(0));
}

bool Gallery::contains_image(const std::string& sha256) const {
  std::lock_guard lock(impl_->mutex);
  auto stmt = impl_->db->prepare("SELECT 1 FROM images WHERE sha256 = ?");
  stmt.bind(1, sha256);
  return stmt.step();
}

std::size_t Gallery::size() const {
  std::lock_guard lock(impl_->mutex);
  return static_cast<std::size_t>(impl_->count_embeddings());
}

std::int64_t Gallery::generation() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->read_generation();
}

int Gallery::remove_person(const std::string& name) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  int removed = 0;
  std::vector<std::int64_t> face_ids;
  std::int64_t before = 0;
  std::int64_t after = 0;
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    before = g.read_generation();
    auto find = g.db->prepare(
        "SELECT p.id, count(f.id) FROM people p LEFT JOIN faces f ON f.person_id = p.id "
        "WHERE p.name = ? GROUP BY p.id");
    find.bind(1, name);
    if (!find.step())
      throw InputError("no person named '" + name + "' in gallery " + g.dir.string());
    const std::int64_t person_id = find.int64(0);
    removed = static_cast<int>(find.int64(1));
    auto faces = g.db->prepare("SELECT id FROM faces WHERE person_id = ?");
    faces.bind(1, person_id);
    while (faces.step()) face_ids.push_back(faces.int64(0));
    // Cascades to faces (with crops) and their embeddings.
    g.db->prepare("DELETE FROM people WHERE id = ?").bind(1, person_id).run();
    g.db->exec("DELETE FROM images WHERE id NOT IN (SELECT image_id FROM faces)");
    after = g.bump_generation();
    txn.commit();
  }
  // Rewrite the files so no page, WAL frame or index entry keeps the removed vectors.
  g.db->exec("VACUUM");
  {
    auto checkpoint = g.db->prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    if (checkpoint.step() && checkpoint.int64(0) != 0) {
      spdlog::warn(
          "gallery {}: other readers kept the write-ahead log from being emptied; it is "
          "emptied when they close",
          g.dir.string());
    }
  }
  // An index that reflects exactly the state before this removal and can drop ids in place does
  // so (no re-training or re-assignment of a million vectors); otherwise it is rebuilt. Either
  // way the index file is rewritten without the removed vectors.
  if (g.index && g.index_generation == before && g.index->remove(face_ids)) {
    g.index_generation = after;
    g.dirty = true;
    g.save_index();
  } else {
    g.rebuild(true);
  }
  return removed;
}

void Gallery::rename_person(const std::string& old_name, const std::string& new_name) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (new_name.empty()) throw InputError("cannot rename '" + old_name + "': the new name is empty");
  Transaction txn(*g.db, Transaction::Kind::write);
  auto exists = g.db->prepare("SELECT 1 FROM people WHERE name = ?");
  exists.bind(1, old_name);
  if (!exists.step())
    throw InputError("no person named '" + old_name + "' in gallery " + g.dir.string());
  exists.reset();
  exists.bind(1, new_name);
  if (exists.step()) {
    throw InputError("cannot rename '" + old_name + "' to '" + new_name + "': that name is taken");
  }
  // Face ids and vectors stay, so the index stays valid: no generation bump.
  g.db->prepare("UPDATE people SET name = ? WHERE name = ?")
      .bind(1, new_name)
      .bind(2, old_name)
      .run();
  txn.commit();
}

std::vector<std::vector<Neighbor>> Gallery::search(const Matrix& queries, int k) const {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  if (queries.rows > 0 && queries.cols != static_cast<std::size_t>(g.model.dim)) {
    throw InputError("queries have " + std::to_string(queries.cols) + " values per row, gallery " +
                     g.dir.string() + " holds " + std::to_string(g.model.dim) + "-d embeddings");
  }
  if (k < 1) throw InputError("search needs k >= 1");
  g.ensure_index();
  std::vector<std::vector<Neighbor>> result(queries.rows);
  const std::int64_t total = g.index->size();
  if (queries.rows == 0 || total == 0) return result;
  const int kk = static_cast<int>(std::min<std::int64_t>(k, total));
  std::vector<float> scores(queries.rows * kk);
  std::vector<std::int64_t> ids(queries.rows * kk);
  g.index->search(static_cast<std::int64_t>(queries.rows), queries.data.data(), kk, scores.data(),
                  ids.data());
  // Names come from SQLite, so a face removed since the index was built is never returned.
  auto name_of = g.db->prepare(
      "SELECT p.name FROM faces f JOIN people p ON p.id = f.person_id WHERE f.id = ?");
  for (std::size_t q = 0; q < queries.rows; ++q) {
    auto& list = result[q];
    list.reserve(kk);
    for (int j = 0; j < kk; ++j) {
      const std::int64_t id = ids[q * kk + j];
      if (id < 0) continue;
      name_of.reset();
      name_of.bind(1, id);
      if (!name_of.step()) continue;
      const float cosine = std::clamp(scores[q * kk + j], -1.0f, 1.0f);
      list.push_back(Neighbor{id, name_of.text(0), cosine, l2_from_cosine(cosine)});
    }
  }
  return result;
}

void Gallery::set_search_params(const std::string& params) {
  std::lock_guard lock(impl_->mutex);
  // Applied (and so validated) first: unusable parameters leave the session's settings alone.
  if (impl_->index) impl_->index->set_search_params(params);
  impl_->options.search_params = params;
}

std::string Gallery::index_description() const {
  std::lock_guard lock(impl_->mutex);
  impl_->ensure_index();
  return impl_->index->description();
}

IntegrityReport Gallery::check_integrity() const {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  IntegrityReport report;
  auto problem = [&](std::string text) {
    report.ok = false;
    report.problems.push_back(std::move(text));
  };
  {
    auto stmt = g.db->prepare("PRAGMA integrity_check");
    while (stmt.step()) {
      if (stmt.text(0) != "ok") problem("sqlite: " + stmt.text(0));
    }
  }
  {
    auto stmt = g.db->prepare("PRAGMA foreign_key_check");
    while (stmt.step()) {
      problem("foreign key: row " + std::to_string(stmt.int64(1)) + " of " + stmt.text(0) +
              " refers to a missing row of " + stmt.text(2));
    }
  }
  std::set<std::int64_t> face_ids;
  {
    Transaction read(*g.db, Transaction::Kind::read);
    auto count = [&](const char* sql) {
      auto stmt = g.db->prepare(sql);
      stmt.step();
      return static_cast<std::size_t>(stmt.int64(0));
    };
    report.people = count("SELECT count(*) FROM people");
    report.faces = count("SELECT count(*) FROM faces");
    report.embeddings = count("SELECT count(*) FROM embeddings");
    if (const auto n =
            count("SELECT count(*) FROM faces f LEFT JOIN embeddings e ON e.face_id = f.id "
                  "WHERE e.face_id IS NULL")) {
      problem(std::to_string(n) + " faces have no embedding");
    }
    if (const auto n = count("SELECT count(*) FROM people p WHERE NOT EXISTS "
                             "(SELECT 1 FROM faces f WHERE f.person_id = p.id)")) {
      problem(std::to_string(n) + " people have no faces");
    }
    const auto dim = static_cast<std::size_t>(g.model.dim);
    auto stmt = g.db->prepare(
        "SELECT e.face_id, e.vector, f.person_id IS NOT NULL FROM embeddings e "
        "LEFT JOIN faces f ON f.id = e.face_id ORDER BY e.face_id");
    while (stmt.step()) {
      const std::int64_t id = stmt.int64(0);
      if (stmt.int64(2) != 0) face_ids.insert(id);  // what the index serves
      if (stmt.bytes(1) != dim * sizeof(float)) {
        problem("embedding of face " + std::to_string(id) + " has " +
                std::to_string(stmt.bytes(1)) + " bytes, expected " +
                std::to_string(dim * sizeof(float)));
        continue;
      }
      const float n = vector_norm(static_cast<const float*>(stmt.blob(1)), dim);
      if (!std::isfinite(n) || std::fabs(n - 1.0f) > kUnitTolerance) {
        problem("embedding of face " + std::to_string(id) + " is not a unit vector (norm " +
                std::to_string(n) + ")");
      }
    }
    read.commit();
  }
  try {
    g.ensure_index();
    const auto indexed = g.index->ids();
    report.indexed = indexed.size();
    const std::set<std::int64_t> index_ids(indexed.begin(), indexed.end());
    if (index_ids.size() != indexed.size()) problem("index holds duplicate ids");
    if (index_ids != face_ids) {
      problem("index holds " + std::to_string(index_ids.size()) + " faces, database " +
              std::to_string(face_ids.size()) + " (different sets)");
    }
  } catch (const GalleryError& e) {
    problem(std::string("index: ") + e.what());
  }
  return report;
}

void Gallery::rebuild_index() {
  std::lock_guard lock(impl_->mutex);
  impl_->rebuild(false);
}

void Gallery::reindex(const GalleryOptions& options) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  VectorIndex::validate(g.model.dim, options.index_factory, options.search_params);
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    auto set = g.db->prepare("UPDATE meta SET value = ? WHERE key = ?");
    set.bind(1, options.index_factory).bind(2, std::string("index_factory")).run();
    set.reset();
    set.bind(1, options.search_params).bind(2, std::string("search_params")).run();
    txn.commit();
  }
  g.options = options;
  g.rebuild(false);
}

void Gallery::flush() {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  if (g.mode != GalleryMode::write) return;
  if (!g.index || g.index_generation < 0) {
    g.ensure_index();  // rebuilds and saves when stale
    return;
  }
  if (g.dirty) g.save_index();
}

}  // namespace clipface
