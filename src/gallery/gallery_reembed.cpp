// Re-embedding with another model beside the live vectors: new vectors collect in
// `reembed_vectors` (one transaction per batch, so a killed run keeps what it committed), search
// goes on with the old model, and switch_model() swaps model and vectors in one transaction.
// The index only ever holds one model's vectors.
#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/face_rows.hpp"
#include "gallery/gallery_impl.hpp"

namespace clipface {
using gallery_detail::Transaction;

namespace {

constexpr const char* kTargetKeys[] = {
    "reembed_model_name", "reembed_model_checksum", "reembed_crop_style", "reembed_dim",
    "reembed_input_size", "reembed_random_weights", "reembed_spec"};

std::optional<std::string> meta_value(const Gallery::Impl& g, const std::string& key) {
  auto stmt = g.db->prepare("SELECT value FROM meta WHERE key = ?");
  stmt.bind(1, key);
  if (!stmt.step()) return std::nullopt;
  return stmt.text(0);
}

std::int64_t count(const Gallery::Impl& g, const char* sql) {
  auto stmt = g.db->prepare(sql);
  stmt.step();
  return stmt.int64(0);
}

ReembedState read_state(const Gallery::Impl& g) {
  ReembedState s;
  if (!gallery_detail::has_labels_schema(g)) return s;
  if (auto v = meta_value(g, "model_generation")) s.model_generation = std::stoll(*v);
  const auto name = meta_value(g, "reembed_model_name");
  s.faces = static_cast<std::size_t>(count(g, "SELECT count(*) FROM faces"));
  if (!name) return s;
  s.active = true;
  s.target.name = *name;
  s.target.checksum = meta_value(g, "reembed_model_checksum").value_or("");
  s.target.crop_style = meta_value(g, "reembed_crop_style").value_or("");
  s.target.dim = std::stoi(meta_value(g, "reembed_dim").value_or("0"));
  s.target.input_size = std::stoi(meta_value(g, "reembed_input_size").value_or("0"));
  s.target.random_weights = meta_value(g, "reembed_random_weights").value_or("0") == "1";
  s.spec = meta_value(g, "reembed_spec").value_or("");
  s.done = static_cast<std::size_t>(
      count(g, "SELECT count(*) FROM reembed_vectors WHERE vector IS NOT NULL"));
  s.failed = static_cast<std::size_t>(
      count(g, "SELECT count(*) FROM reembed_vectors WHERE vector IS NULL"));
  return s;
}

void set_meta(Gallery::Impl& g, const std::string& key, const std::string& value) {
  g.db->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)")
      .bind(1, key)
      .bind(2, value)
      .run();
}

std::string progress(const ReembedState& s) {
  return std::to_string(s.done + s.failed) + " of " + std::to_string(s.faces) + " faces done";
}

}  // namespace

ReembedState Gallery::reembed_state() const {
  std::lock_guard lock(impl_->mutex);
  return read_state(*impl_);
}

void Gallery::begin_reembed(const EmbedderInfo& target, const std::string& spec, bool again) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  if (target.name.empty() || target.dim <= 0) {
    throw InputError("re-embedding needs a model with a name and a dimension");
  }
  if (target.same_space(g.model) && !again) {
    throw InputError("gallery " + g.dir.string() + " already holds embeddings of " +
                     gallery_detail::describe_model(g.model) +
                     " (--again embeds every face anew with it)");
  }
  Transaction txn(*g.db, Transaction::Kind::write);
  const ReembedState s = read_state(g);
  if (s.active && !s.target.same_space(target)) {
    throw GalleryError("gallery " + g.dir.string() + " is being re-embedded with " +
                       gallery_detail::describe_model(s.target) + " (" + progress(s) +
                       "); finish it (clipface reembed " + g.dir.string() + " --embedder " +
                       s.spec + ") or cancel it (clipface reembed " + g.dir.string() +
                       " --cancel) first");
  }
  set_meta(g, "reembed_model_name", target.name);
  set_meta(g, "reembed_model_checksum", target.checksum);
  set_meta(g, "reembed_crop_style", target.crop_style);
  set_meta(g, "reembed_dim", std::to_string(target.dim));
  set_meta(g, "reembed_input_size", std::to_string(target.input_size));
  set_meta(g, "reembed_random_weights", target.random_weights ? "1" : "0");
  set_meta(g, "reembed_spec", spec);
  txn.commit();
}

std::vector<ReembedWork> Gallery::reembed_pending(std::size_t limit) const {
  std::lock_guard lock(impl_->mutex);
  const Impl& g = *impl_;
  std::vector<ReembedWork> out;
  if (!gallery_detail::has_labels_schema(g)) return out;
  auto stmt = g.db->prepare(
      "SELECT f.id, f.crop, i.path, i.sha256, f.box_x, f.box_y, f.box_w, f.box_h, f.landmarks, "
      "f.score FROM faces f JOIN images i ON i.id = f.image_id LEFT JOIN reembed_vectors r ON "
      "r.face_id = f.id WHERE r.face_id IS NULL ORDER BY f.id LIMIT ?");
  stmt.bind(1, static_cast<std::int64_t>(limit));
  while (stmt.step()) {
    ReembedWork w;
    w.face_id = stmt.int64(0);
    if (!stmt.is_null(1)) w.crop_png.assign(static_cast<const char*>(stmt.blob(1)), stmt.bytes(1));
    w.image_path = stmt.text(2);
    w.image_sha256 = stmt.text(3);
    w.face = gallery_detail::face_from_columns(stmt, 4);
    out.push_back(std::move(w));
  }
  return out;
}

void Gallery::store_reembedded(const EmbedderInfo& target,
                               const std::vector<ReembedVector>& vectors) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  const auto dim = static_cast<std::size_t>(target.dim);
  for (const ReembedVector& v : vectors) {
    if (v.vector.empty()) continue;
    const float n = gallery_detail::vector_norm(v.vector.data(), v.vector.size());
    if (v.vector.size() != dim || std::fabs(n - 1.0f) > gallery_detail::kUnitTolerance) {
      throw InputError("re-embedded face " + std::to_string(v.face_id) + ": not a unit vector of " +
                       std::to_string(dim) + " values");
    }
  }
  Transaction txn(*g.db, Transaction::Kind::write);
  const ReembedState s = read_state(g);
  if (!s.active || !s.target.same_space(target)) {
    throw GalleryError("gallery " + g.dir.string() + " is not being re-embedded with " +
                       gallery_detail::describe_model(target));
  }
  // A face removed meanwhile is skipped rather than failing the batch.
  auto put = g.db->prepare(
      "INSERT OR REPLACE INTO reembed_vectors(face_id, vector, source) "
      "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?)");
  for (const ReembedVector& v : vectors) {
    put.reset();
    put.bind(1, v.face_id);
    if (v.vector.empty()) {
      put.bind_null(2);
    } else {
      put.bind_blob(2, v.vector.data(), v.vector.size() * sizeof(float));
    }
    put.bind(3, v.source).bind(4, v.face_id).run();
  }
  txn.commit();
}

ReembedSwitch Gallery::switch_model(bool drop_failed) {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  ReembedSwitch out;
  out.from = g.model;
  {
    Transaction txn(*g.db, Transaction::Kind::write);
    const ReembedState s = read_state(g);
    if (!s.active) throw InputError("gallery " + g.dir.string() + " is not being re-embedded");
    const std::int64_t pending = count(
        g, "SELECT count(*) FROM faces WHERE id NOT IN (SELECT face_id FROM reembed_vectors)");
    if (pending > 0) {
      throw GalleryError(std::to_string(pending) + " faces of gallery " + g.dir.string() +
                         " are not re-embedded yet (" + progress(s) +
                         "); run clipface reembed again to finish");
    }
    if (s.failed > 0 && !drop_failed) {
      auto first = g.db->prepare(
          "SELECT face_id, source FROM reembed_vectors WHERE vector IS NULL ORDER BY face_id "
          "LIMIT 1");
      first.step();
      throw GalleryError(std::to_string(s.failed) + " faces could not be re-embedded (face " +
                         std::to_string(first.int64(0)) + ": " + first.text(1) +
                         "); switch anyway with --drop-failed (those faces are removed), or "
                         "cancel with --cancel");
    }
    if (s.failed > 0) {
      g.db->exec(
          "DELETE FROM faces WHERE id IN (SELECT face_id FROM reembed_vectors WHERE vector IS "
          "NULL)");
      g.db->exec("DELETE FROM images WHERE id NOT IN (SELECT image_id FROM faces)");
      g.db->exec(
          "DELETE FROM people WHERE id NOT IN (SELECT person_id FROM faces WHERE person_id IS "
          "NOT NULL)");
      out.dropped = s.failed;
    }
    g.db->exec("DELETE FROM embeddings");
    g.db->exec(
        "INSERT INTO embeddings(face_id, vector) SELECT face_id, vector FROM reembed_vectors "
        "WHERE vector IS NOT NULL");
    g.db->exec("DELETE FROM reembed_vectors");
    set_meta(g, "model_name", s.target.name);
    set_meta(g, "model_checksum", s.target.checksum);
    set_meta(g, "crop_style", s.target.crop_style);
    set_meta(g, "dim", std::to_string(s.target.dim));
    set_meta(g, "input_size", std::to_string(s.target.input_size));
    set_meta(g, "random_weights", s.target.random_weights ? "1" : "0");
    set_meta(g, "model_generation", std::to_string(s.model_generation + 1));
    for (const char* key : kTargetKeys) {
      g.db->prepare("DELETE FROM meta WHERE key = ?").bind(1, std::string(key)).run();
    }
    g.bump_generation();
    g.bump_labels_generation();
    out.faces = static_cast<std::size_t>(g.count_embeddings());
    out.to = s.target;
    txn.commit();
    g.model = s.target;
    g.model_generation = s.model_generation + 1;
  }
  g.rebuild(false);  // the new model's index; nothing of the old one is kept
  return out;
}

void Gallery::cancel_reembed() {
  std::lock_guard lock(impl_->mutex);
  Impl& g = *impl_;
  g.require_writable();
  Transaction txn(*g.db, Transaction::Kind::write);
  if (!read_state(g).active) {
    throw InputError("gallery " + g.dir.string() + " is not being re-embedded");
  }
  g.db->exec("DELETE FROM reembed_vectors");
  for (const char* key : kTargetKeys) {
    g.db->prepare("DELETE FROM meta WHERE key = ?").bind(1, std::string(key)).run();
  }
  txn.commit();
}

}  // namespace clipface
