// The FAISS side of a gallery: building an index from a factory string (training it when it
// needs training, exact search until there is enough to train on), and saving/loading it with a
// stamp that ties it to one state of the database. Factory strings are FAISS's, plus
// "CFIVF<nlist>" for clipface's int8 IVF (int8_ivf_index.hpp), a faiss::Index of our own.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace faiss {
struct Index;
}

namespace clipface::gallery_detail {

// Which database state an index file was built from.
struct IndexStamp {
  std::string gallery_id;       // random id of the gallery (an index of another gallery is stale)
  std::int64_t generation = 0;  // the gallery's generation counter when built
  std::int64_t count = 0;       // vectors in the index
  std::string factory;          // the factory string asked for
  bool fallback = false;        // exact search used because there was too little to train on
};

class VectorIndex {
 public:
  ~VectorIndex();

  // Builds `factory` (inner product) over n vectors with their ids. Falls back to exact search
  // (logging a warning) when training needs more vectors than there are.
  static std::unique_ptr<VectorIndex> build(int dim, const std::string& factory,
                                            const std::string& search_params, std::int64_t n,
                                            const std::int64_t* ids, const float* vectors);
  // Throws InputError when the factory string or the parameters are unusable for `dim`.
  static void validate(int dim, const std::string& factory, const std::string& search_params);
  // nullptr (and the reason in `why`) when the file is missing, unreadable or not for `dim`.
  static std::unique_ptr<VectorIndex> load(const std::filesystem::path& path, int dim,
                                           std::string* why);

  // Atomic: temporary file beside `path`, fsync, rename. Throws GalleryError on failure.
  void save(const std::filesystem::path& path, const IndexStamp& stamp) const;

  // A deep copy (through the same serialisation as save and load, so every index kind copies),
  // for a writer that must not change an index that searches in other threads still use.
  std::unique_ptr<VectorIndex> clone() const;

  void add(std::int64_t n, const std::int64_t* ids, const float* vectors);
  // Removes these ids in place where the index supports it (clipface's int8 IVF); false, and
  // nothing changed, where the caller must rebuild instead.
  bool remove(const std::vector<std::int64_t>& ids);
  bool removes_in_place() const;  // whether remove() can succeed
  // Empties the index (keeping what it learnt in training) and adds these vectors.
  void replace_all(std::int64_t n, const std::int64_t* ids, const float* vectors);
  void search(std::int64_t n, const float* queries, int k, float* scores, std::int64_t* ids) const;
  void set_search_params(const std::string& params);  // InputError when unusable

  std::int64_t size() const;
  std::vector<std::int64_t> ids() const;  // in index order
  const IndexStamp& stamp() const { return stamp_; }
  bool fallback() const { return stamp_.fallback; }
  // Vectors needed before the asked-for index can be trained (0 = none needed).
  std::int64_t training_needed() const { return training_needed_; }
  // Whether the index should be rebuilt with training once `extra` more vectors are added: an
  // exact fallback that then has enough to train, or an int8 IVF whose vectors enrolled since
  // training (searched in full) would pass their limit.
  bool needs_training(std::int64_t extra) const;
  std::string description() const;

 private:
  VectorIndex() = default;
  std::unique_ptr<faiss::Index> index_;
  IndexStamp stamp_;  // factory and fallback always set; the rest when loaded or saved
  std::int64_t training_needed_ = 0;
  std::string search_params_;
};

}  // namespace clipface::gallery_detail
