#include "gallery/vector_index.hpp"

#include <faiss/AutoTune.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexRefine.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <omp.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "clipface/errors.hpp"
#include "gallery/int8_ivf_index.hpp"
#include "gallery/int8_ivf_io.hpp"

namespace clipface::gallery_detail {
namespace fs = std::filesystem;
namespace {

constexpr const char* kMagic = "clipface-index 1";
// What follows the stamp: FAISS's own serialisation, or clipface's int8 IVF (int8_ivf_io.hpp).
constexpr const char* kFaissFormat = "faiss";
constexpr const char* kInt8IvfFormat = "clipface-int8-ivf";
// FAISS's k-means warns below 39 training points per centroid; train only from there on.
constexpr std::int64_t kPointsPerCentroid = 39;

// The index under the wrappers that add ids, re-ranking or transforms.
faiss::Index* innermost(faiss::Index* index) {
  while (index) {
    if (auto* map = dynamic_cast<faiss::IndexIDMap*>(index)) {
      index = map->index;
    } else if (auto* refine = dynamic_cast<faiss::IndexRefine*>(index)) {
      index = refine->base_index;
    } else if (auto* pre = dynamic_cast<faiss::IndexPreTransform*>(index)) {
      index = pre->index;
    } else {
      break;
    }
  }
  return index;
}

const Int8IvfIndex* as_int8_ivf(const faiss::Index* index) {
  return dynamic_cast<const Int8IvfIndex*>(index);
}
Int8IvfIndex* as_int8_ivf(faiss::Index* index) {
  return dynamic_cast<Int8IvfIndex*>(index);
}

// Every FAISS index gets external ids (face ids) through an IDMap2 unless the factory asked for
// one; clipface's int8 IVF ("CFIVF<nlist>") keeps the ids itself.
std::unique_ptr<faiss::Index> make_index(int dim, const std::string& factory) {
  if (Int8IvfIndex::is_factory(factory)) return Int8IvfIndex::from_factory(dim, factory);
  std::unique_ptr<faiss::Index> index(
      faiss::index_factory(dim, factory.c_str(), faiss::METRIC_INNER_PRODUCT));
  // Polysemous training only serves Hamming-distance filtering (not used for inner product) and
  // takes minutes on large PQ codes.
  faiss::Index* inner = innermost(index.get());
  if (auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(inner)) {
    ivfpq->do_polysemous_training = false;
  }
  if (auto* pq = dynamic_cast<faiss::IndexPQ*>(inner)) {
    pq->do_polysemous_training = false;
  }
  if (!dynamic_cast<faiss::IndexIDMap*>(index.get())) {
    auto* mapped = new faiss::IndexIDMap2(index.release());
    mapped->own_fields = true;
    index.reset(mapped);
  }
  return index;
}

// Vectors needed to train `index` well: 39 per IVF list, 39 per PQ centroid (256 per
// sub-quantizer), or 1 for anything else untrained (scalar quantizers only need ranges).
std::int64_t vectors_to_train(const faiss::Index* index) {
  if (index->is_trained) return 0;
  if (const auto* ivf8 = as_int8_ivf(index)) return Int8IvfIndex::kMinPointsPerList * ivf8->nlist;
  std::int64_t needed = 1;
  const faiss::Index* inner = innermost(const_cast<faiss::Index*>(index));
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(inner)) {
    needed =
        std::max<std::int64_t>(needed, kPointsPerCentroid * static_cast<std::int64_t>(ivf->nlist));
  }
  if (auto* ivfpq = dynamic_cast<const faiss::IndexIVFPQ*>(inner)) {
    needed = std::max<std::int64_t>(needed,
                                    kPointsPerCentroid * static_cast<std::int64_t>(ivfpq->pq.ksub));
  }
  if (auto* pq = dynamic_cast<const faiss::IndexPQ*>(inner)) {
    needed =
        std::max<std::int64_t>(needed, kPointsPerCentroid * static_cast<std::int64_t>(pq->pq.ksub));
  }
  return needed;
}

// FAISS parallelises over queries (and k-means over points). For a handful of queries or a small
// training set the threads have nothing to share, and on a busy machine every parallel region
// costs milliseconds of waiting for a descheduled thread (HNSW single queries went from 0.1 to
// 28 ms under load). So small jobs run on the calling thread only; omp_set_num_threads changes
// this thread's setting alone, and the guard restores it.
class SerialIfSmall {
 public:
  explicit SerialIfSmall(bool small) : saved_(omp_get_max_threads()), active_(small) {
    if (active_) omp_set_num_threads(1);
  }
  ~SerialIfSmall() {
    if (active_) omp_set_num_threads(saved_);
  }
  SerialIfSmall(const SerialIfSmall&) = delete;
  SerialIfSmall& operator=(const SerialIfSmall&) = delete;

 private:
  int saved_;
  bool active_;
};
constexpr std::int64_t kSmallQueryBatch = 16;
constexpr std::int64_t kSmallTrainingSet = 20000;

// FaissException for FAISS indexes, InputError for the int8 IVF.
void apply_params(faiss::Index* index, const std::string& params) {
  if (params.empty()) return;
  if (auto* ivf8 = as_int8_ivf(index)) return ivf8->set_search_params(params);
  faiss::ParameterSpace().set_index_parameters(index, params.c_str());
}

}  // namespace

VectorIndex::~VectorIndex() = default;

void VectorIndex::validate(int dim, const std::string& factory, const std::string& search_params) {
  if (dim <= 0) throw InputError("embedding dimension must be positive");
  try {
    auto index = make_index(dim, factory);
    apply_params(index.get(), search_params);
  } catch (const faiss::FaissException& e) {
    throw InputError("unusable index settings (factory \"" + factory + "\", search parameters \"" +
                     search_params + "\"): " + e.what());
  }
}

std::unique_ptr<VectorIndex> VectorIndex::build(int dim, const std::string& factory,
                                                const std::string& search_params, std::int64_t n,
                                                const std::int64_t* ids, const float* vectors) {
  std::unique_ptr<VectorIndex> result(new VectorIndex());
  result->stamp_.factory = factory;
  result->search_params_ = search_params;
  try {
    result->index_ = make_index(dim, factory);
    result->training_needed_ = vectors_to_train(result->index_.get());
    if (!result->index_->is_trained) {
      if (n < result->training_needed_) {
        if (n > 0) {
          spdlog::warn(
              "index \"{}\" needs {} vectors to train, the gallery holds {}; using exact "
              "search until it has enough",
              factory, result->training_needed_, n);
        }
        result->index_ = make_index(dim, "Flat");
        result->stamp_.fallback = true;
      } else {
        SerialIfSmall serial(n < kSmallTrainingSet);
        result->index_->train(n, vectors);
      }
    }
    if (!result->stamp_.fallback) apply_params(result->index_.get(), search_params);
    SerialIfSmall serial(n < kSmallTrainingSet);
    if (n > 0) result->index_->add_with_ids(n, vectors, ids);
  } catch (const faiss::FaissException& e) {
    throw GalleryError("cannot build index \"" + factory + "\": " + e.what());
  }
  result->stamp_.count = result->index_->ntotal;
  return result;
}

std::unique_ptr<VectorIndex> VectorIndex::load(const fs::path& path, int dim, std::string* why) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) {
    *why = "no index file";
    return nullptr;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(file, &std::fclose);
  auto read_line = [&]() {
    std::string line;
    for (int c = std::fgetc(file); c != EOF && c != '\n'; c = std::fgetc(file)) {
      line.push_back(static_cast<char>(c));
      if (line.size() > 65536) break;
    }
    return line;
  };
  if (read_line() != kMagic) {
    *why = "index file has no clipface stamp";
    return nullptr;
  }
  std::unique_ptr<VectorIndex> result(new VectorIndex());
  try {
    const auto header = nlohmann::json::parse(read_line());
    result->stamp_.gallery_id = header.at("gallery_id").get<std::string>();
    result->stamp_.generation = header.at("generation").get<std::int64_t>();
    result->stamp_.count = header.at("count").get<std::int64_t>();
    result->stamp_.factory = header.at("factory").get<std::string>();
    result->stamp_.fallback = header.at("fallback").get<bool>();
    const std::string format = header.value("format", std::string(kFaissFormat));
    if (format == kInt8IvfFormat) {
      result->index_ = read_int8_ivf(file, dim);
    } else if (format == kFaissFormat) {
      result->index_.reset(faiss::read_index(file));
    } else {
      throw std::runtime_error("unknown index format \"" + format + "\"");
    }
    result->training_needed_ = vectors_to_train(make_index(dim, result->stamp_.factory).get());
  } catch (const std::exception& e) {  // json, FAISS or the int8 IVF reader
    *why = std::string("unreadable index file: ") + e.what();
    return nullptr;
  }
  const bool has_ids =
      dynamic_cast<faiss::IndexIDMap*>(result->index_.get()) || as_int8_ivf(result->index_.get());
  if (!has_ids || result->index_->d != dim || result->index_->ntotal != result->stamp_.count) {
    *why = "index file does not match the gallery (dimension, ids or count)";
    return nullptr;
  }
  return result;
}

void VectorIndex::save(const fs::path& path, const IndexStamp& stamp) const {
  const fs::path temp =
      path.parent_path() / (path.filename().string() + ".tmp-" + std::to_string(::getpid()));
  IndexStamp written = stamp;
  written.factory = stamp_.factory;
  written.fallback = stamp_.fallback;
  written.count = index_->ntotal;
  const auto* ivf8 = as_int8_ivf(index_.get());
  const nlohmann::json header = {
      {"gallery_id", written.gallery_id}, {"generation", written.generation},
      {"count", written.count},           {"factory", written.factory},
      {"fallback", written.fallback},     {"format", ivf8 ? kInt8IvfFormat : kFaissFormat}};
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (!file) {
    throw GalleryError("cannot write index " + temp.string() + ": " + std::strerror(errno));
  }
  bool ok = std::fprintf(file, "%s\n%s\n", kMagic, header.dump().c_str()) > 0;
  try {
    if (ok && ivf8) write_int8_ivf(*ivf8, file);
    if (ok && !ivf8) faiss::write_index(index_.get(), file);
  } catch (const std::exception& e) {  // FAISS or our writer
    ok = false;
  }
  ok = ok && std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
  const int saved_errno = errno;
  ok = (std::fclose(file) == 0) && ok;
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(ok ? errno : saved_errno);
    std::error_code ec;
    fs::remove(temp, ec);
    throw GalleryError("cannot write index " + path.string() + ": " + reason);
  }
  // Make the rename itself durable.
  if (int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  const_cast<VectorIndex*>(this)->stamp_ = written;
}

std::unique_ptr<VectorIndex> VectorIndex::clone() const {
  std::unique_ptr<VectorIndex> copy(new VectorIndex());
  copy->stamp_ = stamp_;
  copy->training_needed_ = training_needed_;
  copy->search_params_ = search_params_;
  // An anonymous file in memory (never on disk: the vectors are biometric data), which both
  // readers can treat as the index file they expect (the int8 IVF reader checks its size).
  const int fd = ::memfd_create("clipface-index-copy", MFD_CLOEXEC);
  std::FILE* file = fd >= 0 ? ::fdopen(fd, "w+b") : nullptr;
  if (!file) {
    if (fd >= 0) ::close(fd);
    throw GalleryError(std::string("cannot copy the index: ") + std::strerror(errno));
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(file, &std::fclose);
  const auto* ivf8 = as_int8_ivf(index_.get());
  try {
    if (ivf8) {
      write_int8_ivf(*ivf8, file);
    } else {
      faiss::write_index(index_.get(), file);
    }
    if (std::fflush(file) != 0 || std::fseek(file, 0, SEEK_SET) != 0) {
      throw std::runtime_error(std::strerror(errno));
    }
    if (ivf8) {
      copy->index_ = read_int8_ivf(file, static_cast<int>(index_->d));
    } else {
      copy->index_.reset(faiss::read_index(file));
    }
  } catch (const std::exception& e) {  // FAISS or our reader/writer
    throw GalleryError(std::string("cannot copy the index: ") + e.what());
  }
  if (!copy->stamp_.fallback) apply_params(copy->index_.get(), search_params_);
  return copy;
}

bool VectorIndex::needs_training(std::int64_t extra) const {
  if (stamp_.fallback) return size() + extra >= training_needed_;
  const auto* ivf8 = as_int8_ivf(index_.get());
  return ivf8 && ivf8->wants_training(extra);
}

void VectorIndex::add(std::int64_t n, const std::int64_t* ids, const float* vectors) {
  if (n <= 0) return;
  try {
    SerialIfSmall serial(n < kSmallTrainingSet);
    // Enrolled after training: the int8 IVF searches these in full until it is re-trained.
    if (auto* ivf8 = as_int8_ivf(index_.get())) {
      ivf8->add_recent(n, vectors, ids);
    } else {
      index_->add_with_ids(n, vectors, ids);
    }
  } catch (const faiss::FaissException& e) {
    throw GalleryError(std::string("cannot add to index: ") + e.what());
  }
  stamp_.count = index_->ntotal;
}

bool VectorIndex::removes_in_place() const {
  return as_int8_ivf(index_.get()) != nullptr;
}

bool VectorIndex::remove(const std::vector<std::int64_t>& ids) {
  // FAISS's IDMap2 over an IVF renumbers on removal in ways that can mismatch its id map, so
  // only the int8 IVF (which stores face ids in its lists) removes in place.
  if (!as_int8_ivf(index_.get())) return false;
  const faiss::IDSelectorBatch selector(static_cast<std::int64_t>(ids.size()), ids.data());
  index_->remove_ids(selector);
  stamp_.count = index_->ntotal;
  return true;
}

void VectorIndex::replace_all(std::int64_t n, const std::int64_t* ids, const float* vectors) {
  try {
    if (auto* ivf8 = as_int8_ivf(index_.get())) {
      ivf8->replace_all(n, vectors, ids);
    } else {
      index_->reset();
      if (n > 0) index_->add_with_ids(n, vectors, ids);
    }
  } catch (const faiss::FaissException& e) {
    throw GalleryError(std::string("cannot rebuild index: ") + e.what());
  }
  stamp_.count = index_->ntotal;
}

void VectorIndex::search(std::int64_t n, const float* queries, int k, float* scores,
                         std::int64_t* ids) const {
  try {
    SerialIfSmall serial(n < kSmallQueryBatch);
    index_->search(n, queries, k, scores, ids);
  } catch (const faiss::FaissException& e) {
    throw GalleryError(std::string("index search failed: ") + e.what());
  }
}

void VectorIndex::set_search_params(const std::string& params) {
  if (stamp_.fallback) {
    // Exact search has no parameters, but they must suit the index asked for, once trained.
    validate(index_->d, stamp_.factory, params);
  } else {
    try {
      apply_params(index_.get(), params);
    } catch (const faiss::FaissException& e) {
      throw InputError("unusable search parameters \"" + params + "\": " + e.what());
    }
  }
  search_params_ = params;
}

std::int64_t VectorIndex::size() const {
  return index_->ntotal;
}

std::vector<std::int64_t> VectorIndex::ids() const {
  if (const auto* ivf8 = as_int8_ivf(index_.get())) return ivf8->ids();
  const auto* map = dynamic_cast<const faiss::IndexIDMap*>(index_.get());
  return std::vector<std::int64_t>(map->id_map.begin(), map->id_map.end());
}

std::string VectorIndex::description() const {
  if (stamp_.fallback) {
    return "Flat (exact; \"" + stamp_.factory + "\" needs " + std::to_string(training_needed_) +
           " vectors to train)";
  }
  return stamp_.factory;
}

}  // namespace clipface::gallery_detail
