// A gallery of known faces: a directory holding `gallery.db` (SQLite, the source of truth:
// people, source images, faces with boxes and landmarks, embeddings, the embedding model) and
// `index.faiss` (a FAISS or clipface index derived from it, rebuilt whenever it is missing, stale
// or damaged).
//
// Guarantees: an enrollment lands whole or not at all (one SQLite transaction); several processes
// may enroll at once (writers wait up to busy_timeout, then GalleryError "gallery busy"); a gallery
// refuses embeddings of another model; removing a person leaves nothing of theirs in the files.
// SQLite and FAISS stay inside src/gallery.
//
// Faces may have no name yet (unlabelled: from photo libraries, or remembered by identify); they
// are clustered into candidate people and are not searched by identify until someone names
// them. The index serves labelled faces only. A gallery of an older schema opens read-only as it
// is and is upgraded in one transaction when opened for writing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clipface/classify.hpp"  // Neighbor
#include "clipface/detect.hpp"    // Face
#include "clipface/embedder.hpp"  // EmbedderInfo
#include "clipface/matrix.hpp"
#include "clipface/quality.hpp"  // FaceQuality

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
  std::string crop_png;                // optional PNG bytes of the aligned crop ("" = none stored)
  int face_index = 0;                  // position among the image's detections (best score first)
  std::optional<FaceQuality> quality;  // stored beside the face when given
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
  std::string person;  // "" for an unlabelled face
  std::string image_path;
  std::string image_sha256;
  Face face;
  bool has_crop = false;
  int face_index = 0;
  std::optional<FaceQuality> quality;
  std::int64_t cluster = 0;  // the cluster of an unlabelled face; 0 for none (noise, labelled)
  bool core = false;         // a core face of its cluster (dense neighbourhood)
  bool stranger = false;     // a known stranger
};

enum class FaceSet { labelled, unlabelled, all };

// What clustering, calibration and health checks need of each face, with its embedding.
struct FaceVectors {
  struct Row {
    std::int64_t face_id = 0;
    std::string person;  // "" for unlabelled
    std::int64_t cluster = 0;
    bool core = false;
    bool stranger = false;
    std::string image_sha256;
  };
  std::vector<Row> faces;
  Matrix vectors;  // one unit row per face
  // The state they were read in: apply_clustering refuses an update made from an older one.
  std::int64_t labels_generation = 0;
};

// A person (by name) or a cluster (written "#12" or "cluster:12"), as commands name them.
struct FaceGroup {
  std::string person;
  std::int64_t cluster = 0;  // > 0 for a cluster
  bool is_cluster() const { return cluster > 0; }
  std::string describe() const;  // "person 'Ada'" | "cluster #12"
  // "#N" / "cluster:N" -> a cluster, anything else a person. InputError for "#" without a number.
  static FaceGroup parse(const std::string& text);
};

struct ClusterSummary {
  std::int64_t id = 0;
  int faces = 0;
  int core_faces = 0;
  std::string proposed;      // the person it looks like, "" when none
  float proposed_score = 0;  // cosine behind the proposal
  std::string created;
};

struct ClusterMember {
  std::int64_t face_id = 0;
  // An existing cluster id, or a placeholder < 0 (-1, -2, ...) for a cluster this update makes.
  std::int64_t cluster = 0;
  bool core = false;
};
struct ClusterProposal {
  std::int64_t cluster = 0;  // existing id or placeholder
  std::string person;
  float score = 0;
};
struct ClusteringUpdate {
  std::int64_t labels_generation = 0;  // FaceVectors::labels_generation it was computed from
  // true: the memberships below are all there are (a full re-run); clusters left empty go.
  // false: they are added or changed; every other membership stays.
  bool replace_all = false;
  std::vector<ClusterMember> members;
  std::vector<ClusterProposal> proposals;  // replaces every proposal
};

struct Negative {
  std::int64_t face_id = 0;
  std::string person;  // the face is not this person
  std::string created;
};

struct PersonThreshold {
  std::string person;
  float threshold = 0;  // L2 distance, as KnnVote::threshold
  std::string reason;
};

// A calibration of the Unknown threshold, as stored (clipface/calibration.hpp measures it).
struct GalleryCalibration {
  std::int64_t id = 0;
  std::string created;  // UTC, ISO 8601
  EmbedderInfo model;   // the embedding space it was measured in (name, checksum, crop style)
  double target_far = 0;
  int k1 = 3, k2 = 5;
  float threshold = 0;
  double far = 0;        // measured false-accept rate at the threshold (calibration data)
  double far_upper = 0;  // its 95% upper confidence bound
  double frr = 0;        // measured false-reject rate (leave-one-out genuine probes)
  std::int64_t genuine = 0, impostors = 0;  // probes measured
  std::int64_t generation = 0;              // the gallery's generation when measured
  std::vector<PersonThreshold> people;
  std::string report_json;  // probe sources and curve summary
};

// A re-embedding with another model, in progress or not.
struct ReembedState {
  bool active = false;
  EmbedderInfo target;
  std::string spec;  // make_embedder() spec it runs with (to resume)
  std::size_t faces = 0, done = 0, failed = 0;
  std::int64_t model_generation = 1;  // of the live vectors (bumped by every switch)
};
struct ReembedWork {
  std::int64_t face_id = 0;
  std::string crop_png;
  std::string image_path, image_sha256;
  Face face;
};
struct ReembedVector {
  std::int64_t face_id = 0;
  std::vector<float> vector;  // empty: could not be re-embedded
  std::string source;         // how ("stored crop", "source image", ...) or why not
};
struct ReembedSwitch {
  std::size_t faces = 0;    // faces now embedded with the new model
  std::size_t dropped = 0;  // faces removed because they could not be re-embedded
  EmbedderInfo from, to;
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

  // ---- Faces without names, clusters, negative examples (gallery_labels.cpp) ----------------

  // Adds faces without a person (Enrollment::person must be empty) in ONE transaction, as known
  // strangers when asked. Not searched by identify until named. Errors as enroll().
  std::vector<std::int64_t> add_unlabelled(const EmbedderInfo& model,
                                           const std::vector<Enrollment>& faces,
                                           bool strangers = false);
  FaceVectors face_vectors(FaceSet which) const;
  std::vector<FaceRecord> face_records(FaceSet which) const;
  std::size_t labelled_size() const;  // faces with a person (= what the index serves)

  std::vector<ClusterSummary> clusters() const;  // by id
  // InputError naming the clusters there are when `cluster` is not one of them.
  std::vector<FaceRecord> cluster_faces(std::int64_t cluster) const;
  // One transaction. Returns placeholder -> new cluster id. GalleryError when faces or clusters
  // changed since update.labels_generation (cluster again); InputError for a face that is
  // labelled or not in the gallery.
  std::map<std::int64_t, std::int64_t> apply_clustering(const ClusteringUpdate& update);

  // Names a cluster: its faces become `person`'s (created when new), labelled and searched; the
  // cluster is gone. Returns the number of faces. InputError: no such cluster, empty name.
  int name_cluster(std::int64_t cluster, const std::string& person);
  // Moves every face of `from` into `into`: person into person (`from` is deleted, its negatives
  // follow), cluster into cluster, cluster into person (= naming it). A person cannot go into a
  // cluster (labels are authoritative). InputError: the same group, a missing one. Returns the
  // faces moved.
  int merge(const FaceGroup& from, const FaceGroup& into);
  // Moves the chosen faces out of `from`: to person `to_person` when given (created when new),
  // else into a new cluster (its id is returned; 0 otherwise). Faces leaving a person are kept
  // as negative examples of them. InputError for a face not in `from`, or no faces.
  std::int64_t split(const FaceGroup& from, const std::vector<std::int64_t>& faces,
                     const std::string& to_person = "");
  // Deletes these faces (crops, vectors, quality records, memberships; images left without
  // faces), vacuums the database and rewrites the index, as remove_person does. InputError for an
  // unknown face, or when it would leave a person without faces (remove the person instead).
  // Returns the faces removed.
  int remove_faces(const std::vector<std::int64_t>& faces);
  // Records "face is not person". InputError: unknown face or person, or the face is theirs.
  void add_negative(std::int64_t face_id, const std::string& person);
  std::vector<Negative> negatives() const;

  // ---- Calibrated thresholds (gallery_calibration.cpp) ----------------------------------------

  // The latest calibration measured in the gallery's current embedding space, if any.
  std::optional<GalleryCalibration> calibration() const;
  // Stores it (one transaction); returns its id. InputError when measured in another space.
  std::int64_t store_calibration(const GalleryCalibration& calibration);
  // THE vote rule for this gallery: the calibrated one (k1, k2, threshold, per-person
  // thresholds) when there is a calibration for its current model, else default_vote(model()).
  // identify, watch and serve start from it; their command-line options override it.
  KnnVote vote_rule() const;

  // ---- Re-embedding with another model (gallery_reembed.cpp) ----------------------------------

  ReembedState reembed_state() const;
  // Starts a re-embedding to `target` (or resumes it: same target). The live vectors and the
  // index stay as they are until switch_model(). GalleryError when one to another model is in
  // progress; InputError when `target` is the gallery's model, unless `again` (every vector
  // computed anew with the same model: repairs vectors that came from elsewhere).
  void begin_reembed(const EmbedderInfo& target, const std::string& spec, bool again = false);
  // Up to `limit` faces that have no new vector yet, in id order.
  std::vector<ReembedWork> reembed_pending(std::size_t limit) const;
  // Stores new vectors in ONE transaction. InputError for a vector of the wrong size or norm.
  void store_reembedded(const EmbedderInfo& target, const std::vector<ReembedVector>& vectors);
  // Swaps every live vector for its new one and the gallery's model for the target, in ONE
  // transaction, then rebuilds the index. GalleryError while faces are pending, or when some
  // could not be re-embedded unless `drop_failed` (those faces are removed).
  ReembedSwitch switch_model(bool drop_failed);
  void cancel_reembed();

 public:
  struct Impl;  // defined in src/gallery/gallery_impl.hpp; named here for the gallery's own files

 private:
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
