// Gallery's inside (internal header), shared by the files that implement Gallery's operations
// (gallery.cpp: create, open, enroll, search, integrity; further files one idea each), so a new
// kind of operation gets its own file instead of growing one.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clipface/errors.hpp"
#include "clipface/gallery.hpp"
#include "gallery/sqlite.hpp"
#include "gallery/vector_index.hpp"

namespace clipface {

struct Gallery::Impl {
  std::filesystem::path dir;
  std::filesystem::path db_path;
  std::filesystem::path index_path;
  GalleryMode mode = GalleryMode::write;
  std::unique_ptr<gallery_detail::Database> db;
  EmbedderInfo model;
  GalleryOptions options;
  std::string gallery_id;
  int schema_version = 0;  // of the file (an old one opened read-only is not upgraded)
  // Bumped by every switch of embedding model (schema 2): another process switching the model
  // under an open gallery is noticed instead of mixing models.
  std::int64_t model_generation = 0;

  std::unique_ptr<gallery_detail::VectorIndex> index;
  std::int64_t index_generation = -1;  // database generation the in-memory index reflects
  bool dirty = false;                  // index differs from index.faiss
  std::mutex mutex;

  std::string meta(const std::string& key) const {
    auto stmt = db->prepare("SELECT value FROM meta WHERE key = ?");
    stmt.bind(1, key);
    if (!stmt.step()) {
      throw GalleryError("gallery database " + db_path.string() + " lacks meta entry '" + key +
                         "'");
    }
    return stmt.text(0);
  }

  std::int64_t read_generation() const {
    auto stmt = db->prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation'");
    if (!stmt.step())
      throw GalleryError("gallery database " + db_path.string() + " lacks its generation");
    return stmt.int64(0);
  }

  // Inside a write transaction: the next generation.
  std::int64_t bump_generation() {
    db->exec("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'");
    return read_generation();
  }

  std::int64_t read_model_generation() const {
    if (schema_version < 2) return 0;
    auto stmt =
        db->prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'model_generation'");
    return stmt.step() ? stmt.int64(0) : 0;
  }
  void check_model_generation() const {
    if (read_model_generation() != model_generation) {
      throw GalleryError("gallery " + dir.string() +
                         " was re-embedded with another model since it was opened; open it again");
    }
  }

  std::int64_t count_embeddings() const {
    auto stmt = db->prepare("SELECT count(*) FROM embeddings");
    stmt.step();
    return stmt.int64(0);
  }

  // The index serves labelled faces only: unlabelled ones wait for a name (schema 2).
  static constexpr const char* kIndexedVectors =
      "SELECT e.face_id, e.vector FROM embeddings e JOIN faces f ON f.id = e.face_id "
      "WHERE f.person_id IS NOT NULL ORDER BY e.face_id";
  std::int64_t count_indexed() const {
    auto stmt = db->prepare(
        "SELECT count(*) FROM embeddings e JOIN faces f ON f.id = e.face_id "
        "WHERE f.person_id IS NOT NULL");
    stmt.step();
    return stmt.int64(0);
  }

  // Inside a write transaction: the next labels generation (unlabelled faces, clusters, names).
  std::int64_t bump_labels_generation() {
    db->exec("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'labels_generation'");
    auto stmt =
        db->prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'labels_generation'");
    stmt.step();
    return stmt.int64(0);
  }

  void require_writable() const {
    if (mode != GalleryMode::write) {
      throw GalleryError("gallery " + dir.string() + " was opened read-only");
    }
  }

  gallery_detail::IndexStamp stamp() const {
    gallery_detail::IndexStamp s;
    s.gallery_id = gallery_id;
    s.generation = index_generation;
    return s;
  }

  void save_index() {
    if (mode != GalleryMode::write || !index) return;
    index->save(index_path, stamp());
    dirty = false;
  }

  // Rebuilds from SQLite. reuse_training keeps a trained index's quantizers (after a removal).
  void rebuild(bool reuse_training) {
    std::vector<std::int64_t> ids;
    std::vector<float> vectors;
    std::int64_t generation = 0;
    const auto dim = static_cast<std::size_t>(model.dim);
    {
      gallery_detail::Transaction read(*db, gallery_detail::Transaction::Kind::read);
      generation = read_generation();
      const std::int64_t n = count_indexed();
      ids.reserve(n);
      vectors.reserve(n * dim);
      auto stmt = db->prepare(kIndexedVectors);
      while (stmt.step()) {
        if (stmt.bytes(1) != dim * sizeof(float)) {
          throw GalleryError("gallery database " + db_path.string() + ": embedding of face " +
                             std::to_string(stmt.int64(0)) + " has the wrong size; run a check");
        }
        ids.push_back(stmt.int64(0));
        const auto* v = static_cast<const float*>(stmt.blob(1));
        vectors.insert(vectors.end(), v, v + dim);
      }
      read.commit();
    }
    const auto n = static_cast<std::int64_t>(ids.size());
    if (reuse_training && index && !index->fallback()) {
      index->replace_all(n, ids.data(), vectors.data());
    } else {
      // Built from scratch: let the old one go first (at 1M faces each holds GBs).
      index.reset();
      index = gallery_detail::VectorIndex::build(
          model.dim, options.index_factory, options.search_params, n, ids.data(), vectors.data());
    }
    index_generation = generation;
    dirty = true;
    spdlog::debug("gallery {}: index {} rebuilt over {} faces", dir.string(), index->description(),
                  n);
    if (mode == GalleryMode::write) save_index();
  }

  // Makes the in-memory index match the database's current generation: keeps it, loads
  // index.faiss when its stamp matches, or rebuilds from SQLite.
  void ensure_index() {
    const std::int64_t generation = read_generation();
    if (index && index_generation == generation) return;
    check_model_generation();
    std::string why;
    auto loaded = gallery_detail::VectorIndex::load(index_path, model.dim, &why);
    if (loaded) {
      const gallery_detail::IndexStamp& s = loaded->stamp();
      if (s.gallery_id != gallery_id || s.generation != generation ||
          s.factory != options.index_factory) {
        why = "index is stale (built for generation " + std::to_string(s.generation) +
              ", gallery is at " + std::to_string(generation) + ")";
        loaded.reset();
      } else if (s.count != count_indexed()) {
        why = "index holds " + std::to_string(s.count) + " vectors, gallery " +
              std::to_string(count_indexed());
        loaded.reset();
      } else if (loaded->needs_training(0)) {
        why = "time to train \"" + s.factory + "\" (enough vectors, or many enrolled since)";
        loaded.reset();
      }
    }
    if (loaded) {
      index = std::move(loaded);
      index_generation = generation;
      dirty = false;
      if (!options.search_params.empty()) index->set_search_params(options.search_params);
      return;
    }
    if (std::filesystem::exists(index_path) || count_indexed() > 0) {
      spdlog::info("gallery {}: rebuilding the index ({})", dir.string(), why);
    }
    rebuild(false);
  }
};

}  // namespace clipface
