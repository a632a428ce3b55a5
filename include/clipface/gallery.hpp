// A gallery of known faces: a directory holding `gallery.db` (SQLite, the source of truth:
// people, source images, faces with boxes and landmarks, embeddings, the embedding model) and
// `index.faiss` (a FAISS or clipface index derived from it, rebuilt whenever it is missing, stale
// or damaged).
//
// Guarantees: an enrollment lands whole or not at all (one SQLite transaction); several processes
// may enroll at once (writers wait up to busy_timeout, then GalleryError "gallery busy"); a gallery
// refuses embeddings of another model; removing a person leaves nothing of theirs in the files.
// SQLite and FAISS stay inside src/gallery.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "clipface/classify.hpp"  // Neighbor
#include "clipface/detect.hpp"    // Face
#include "clipface/embedder.hpp"  // EmbedderInfo
#include "clipface/matrix.hpp"

namespace clipface {

struct GalleryOptions {
  // Index factory string, always with inner-product metric over unit vectors. "Flat" = exact.
  // FAISS's strings, e.g. "IVF1024,Flat", "IVF4096,PQ64", "HNSW32", "IVF4096,SQ8,RFlat" (int8
  // scan + exact re-ranking), or "CFIVF<lists>": clipface's int8 IVF for large galleries (about
  // 60 faces per list, e.g. CFIVF16384 for 1M faces; see docs/benchmarks.md). Indexes that need
  // training fall back to exact search (with a warning) until the gallery holds enough vectors
  // to train them (39 per list); the next rebuild trains them.
  std::string index_factory = "Flat";
  // Search parameters applied after loading. FAISS indexes: faiss::ParameterSpace syntax, e.g.
  // "nprobe=32" or "nprobe=16,k_factor_rf=4". CFIVF: "nprobe=<lists scanned>,rerank=<candidates
  // re-scored exactly>" (defaults 32 and 32). Stored in the gallery; "" = the index's defaults.
  std::string search_params;
};

enum class GalleryMode { read, write };

struct OpenOptions {
  GalleryMode mode = GalleryMode::write;
  int busy_timeout_ms = 10000;  // how long a writer waits for another before "gallery busy"
};

// One face to enroll. The embedding must be a unit vector of the gallery's dimension.
struct Enrollment {
  std::string person;
  std::string image_path;    // as given by the user (kept for reference)
  std::string image_sha256;  // identifies the source image; several faces may share one
  int image_width = 0;
  int image_height = 0;
  Face face;
  std::vector<float> embedding;
  std::string crop_png;  // optional PNG bytes of the aligned crop ("" = none stored)
};

struct PersonSummary {
  std::int64_t id = 0;
  std::string name;
  int faces = 0;
  int images = 0;
  std::string created;  // UTC, ISO 8601
};

// A stored face (without its embedding), e.g. to show or export crops.
struct FaceRecord {
  std::int64_t id = 0;
  std::string person;
  std::string image_path;
  std::string image_sha256;
  Face face;
  bool has_crop = false;
};

struct IntegrityReport {
  bool ok = true;
  std::vector<std::string> problems;  // one readable line each
  std::size_t people = 0;
  std::size_t faces = 0;
  std::size_t embeddings = 0;
  std::size_t indexed = 0;  // vectors in the index
};

class Gallery {
 public:
  // Creates `dir` (and parents) holding an empty gallery for this embedding space.
  // GalleryError if a gallery (or any gallery.db) is already there or the folder is not writable;
  // InputError for an unusable factory string or model info.
  static Gallery create(const std::filesystem::path& dir, const EmbedderInfo& model,
                        const GalleryOptions& options = {});
  // GalleryError when missing, foreign (not a clipface gallery), of a newer schema, corrupt,
  // busy, or (write mode) read-only. A missing or stale index is rebuilt from the database (and
  // saved in write mode).
  static Gallery open(const std::filesystem::path& dir, const OpenOptions& options = {});
  static Gallery open(const std::filesystem::path& dir, GalleryMode mode) {
    OpenOptions o;
    o.mode = mode;
    return open(dir, o);
  }

  Gallery(Gallery&&) noexcept;
  Gallery& operator=(Gallery&&) noexcept;
  ~Gallery();  // saves a changed index (write mode); never throws

  const std::filesystem::path& dir() const;
  GalleryMode mode() const;
  const EmbedderInfo& model() const;
  const GalleryOptions& options() const;
  // GalleryError naming both models unless `other` is the same embedding space.
  void require_model(const EmbedderInfo& other) const;

  // Adds all faces in ONE transaction: all land or none does. People are created on first use.
  // GalleryError for another model, a read-only gallery, busy; InputError for a bad vector (wrong
  // dim, not unit length, not finite) or an empty person name. Returns the new face ids in order.
  std::vector<std::int64_t> enroll(const EmbedderInfo& model, const std::vector<Enrollment>& faces);

  std::vector<PersonSummary> people() const;
  std::vector<FaceRecord> faces(const std::string& person) const;  // InputError if no such person
  std::string crop_png(std::int64_t face_id) const;                // "" when none stored
  bool contains_image(const std::string& sha256) const;
  std::size_t size() const;  // number of faces (= embeddings)
  // Bumped by every committed change; tells readers their index is stale.
  std::int64_t generation() const;

  // Deletes the person, their faces, crops, embeddings and images left without faces; vacuums the
  // database and rewrites the index so nothing of theirs stays in the files. Returns the number of
  // faces removed. InputError if there is no such person.
  int remove_person(const std::string& name);
  // InputError if `old_name` does not exist, `new_name` is taken or empty.
  void rename_person(const std::string& old_name, const std::string& new_name);

  // For each query row (unit vector of the gallery's dim), up to k neighbours nearest first.
  // An empty gallery gives empty lists. Picks up changes committed by other processes.
  std::vector<std::vector<Neighbor>> search(const Matrix& queries, int k) const;
  // Overrides the stored search parameters for this session (ParameterSpace syntax).
  void set_search_params(const std::string& params);
  // What is actually built ("IDMap2,Flat (fallback from IVF4096,Flat: 120 vectors)", ...).
  std::string index_description() const;

  // SQLite integrity and foreign-key checks, one unit embedding of the right dim per face, and
  // the index holding exactly the stored faces.
  IntegrityReport check_integrity() const;

  // Rebuilds the index from the database (training it when needed) and saves it (write mode).
  void rebuild_index();
  // Switches to another index (factory string and search parameters), stores the choice and
  // rebuilds. InputError for unusable settings; the gallery keeps its old index then.
  void reindex(const GalleryOptions& options);
  // Saves the index if it changed since it was loaded or saved (write mode; no-op otherwise).
  void flush();

 private:
  struct Impl;
  explicit Gallery(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The int8 kernels clipface's CFIVF index scans with on this CPU: "avx512_vnni", "avx2", or
// "scalar" (the portable ones, also forced by CLIPFACE_INT8_ISA=scalar). Both give identical
// results.
std::string int8_kernels_in_use();

// File names inside a gallery directory.
inline constexpr const char* kGalleryDbName = "gallery.db";
inline constexpr const char* kGalleryIndexName = "index.faiss";

}  // namespace clipface
