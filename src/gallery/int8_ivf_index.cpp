#include "gallery/int8_ivf_index.hpp"

#include <faiss/Clustering.h>
#include <faiss/impl/FaissAssert.h>
#include <faiss/impl/IDSelector.h>

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include "clipface/errors.hpp"
#include "gallery/exact_dot.hpp"
#include "gallery/kmeans_assigner.hpp"
#include "gallery/parallel_for.hpp"
#include "gallery/top_k.hpp"

namespace clipface::gallery_detail {
namespace {

constexpr const char* kPrefix = "CFIVF";
constexpr int kSeed = 1234;  // k-means sampling and initialisation: reproducible
constexpr Int8FlatIndex::idx_t kAssignRerank = 4;      // exact re-scores when assigning to lists
constexpr Int8FlatIndex::idx_t kAssignCandidates = 8;  // kept per point between full k-means passes
constexpr std::size_t kParallelGrain = 16;             // queries per thread, at least
constexpr Int8FlatIndex::idx_t kAddChunk = 65536;      // vectors routed at a time when adding

// A candidate's place: list in the high 32 bits, row in the low ones.
std::int64_t place(std::size_t list, std::size_t row) {
  return static_cast<std::int64_t>((static_cast<std::uint64_t>(list) << 32) | row);
}

bool parse_int(const std::string& text, Int8IvfIndex::idx_t* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && ptr == end && !text.empty();
}

}  // namespace

Int8IvfIndex::Int8IvfIndex(idx_t dim, idx_t lists_count)
    : faiss::Index(dim, faiss::METRIC_INNER_PRODUCT),
      nlist(lists_count),
      routing(static_cast<int>(dim)),
      quantizer(dim),
      codec(static_cast<std::size_t>(dim)) {
  is_trained = false;
  nprobe = std::min(nprobe, nlist);
}

bool Int8IvfIndex::is_factory(const std::string& factory) {
  return factory.rfind(kPrefix, 0) == 0;
}

std::unique_ptr<Int8IvfIndex> Int8IvfIndex::from_factory(idx_t dim, const std::string& factory) {
  idx_t n = 0;
  if (!is_factory(factory) || !parse_int(factory.substr(std::string(kPrefix).size()), &n) ||
      n < 1 || n > kMaxLists) {
    throw InputError("bad index \"" + factory + "\": clipface's int8 IVF is written CFIVF<lists> " +
                     "with 1 to " + std::to_string(kMaxLists) +
                     " lists, e.g. CFIVF16384 for about a million faces");
  }
  if (dim <= 0) throw InputError("embedding dimension must be positive");
  return std::make_unique<Int8IvfIndex>(dim, n);
}

void Int8IvfIndex::set_search_params(const std::string& params) {
  idx_t new_nprobe = nprobe;
  idx_t new_rerank = rerank;
  std::size_t start = 0;
  while (start < params.size()) {
    const auto comma = params.find(',', start);
    const std::string item =
        params.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? params.size() : comma + 1;
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    idx_t value = 0;
    const bool number = eq != std::string::npos && parse_int(item.substr(eq + 1), &value);
    if (key == "nprobe" && number && value >= 1 && value <= nlist) {
      new_nprobe = value;
    } else if (key == "rerank" && number && value >= 1 && value <= kMaxRerank) {
      new_rerank = value;
    } else {
      throw InputError("bad search parameter \"" + item + "\" for CFIVF" + std::to_string(nlist) +
                       ": use nprobe=<1.." + std::to_string(nlist) + "> and rerank=<1.." +
                       std::to_string(kMaxRerank) + ">, e.g. \"nprobe=32,rerank=32\"");
    }
  }
  nprobe = new_nprobe;
  rerank = new_rerank;
}

Int8IvfIndex::idx_t Int8IvfIndex::coarse_depth() const {
  // The int8 centroid scores are re-scored exactly over twice the lists needed: the int8 error
  // is far below the gaps between the best centroids, this only settles near ties.
  return std::min(nlist, 2 * nprobe + 8);
}

void Int8IvfIndex::set_centroids(const float* centroids) {
  quantizer.reset();
  quantizer.train(nlist, centroids);
  quantizer.add(nlist, centroids);
  lists.assign(static_cast<std::size_t>(nlist),
               PackedRows(static_cast<std::size_t>(d), codec.dim4()));
  recent = PackedRows(static_cast<std::size_t>(d), codec.dim4());
  ntotal = 0;
}

void Int8IvfIndex::train(idx_t n, const float* x) {
  FAISS_THROW_IF_NOT_MSG(n >= nlist, "Int8IvfIndex: fewer training vectors than lists");
  codec.train(static_cast<std::size_t>(n), x);
  routing.train(static_cast<std::size_t>(n), x);
  // k-means runs on every vector, in the routing space (a copy when whitened: 2 GB at 1M faces,
  // freed before the lists fill).
  std::vector<float> routed;
  if (routing.whitened()) {
    routed.resize(static_cast<std::size_t>(n * d));
    routing.apply(static_cast<std::size_t>(n), x, routed.data());
  }
  const float* points = routing.whitened() ? routed.data() : x;
  faiss::ClusteringParameters cp;
  cp.niter = train_iterations;
  cp.spherical = true;     // centroids are unit vectors, like the embeddings
  cp.update_index = true;  // the assigner re-learns its int8 scales for each set of centroids
  cp.max_points_per_centroid = train_points_per_list;
  cp.min_points_per_centroid = static_cast<int>(kMinPointsPerList);
  cp.seed = kSeed;
  KMeansAssigner assigner(d, train_full_every, kAssignCandidates);
  faiss::Clustering kmeans(d, static_cast<int>(nlist), cp);
  kmeans.train(n, points, assigner);
  set_centroids(kmeans.centroids.data());
  is_trained = true;
}

void Int8IvfIndex::add(idx_t n, const float* x) {
  std::vector<idx_t> ids(static_cast<std::size_t>(n));
  for (idx_t i = 0; i < n; ++i) ids[i] = ntotal + i;
  add_with_ids(n, x, ids.data());
}

void Int8IvfIndex::add_with_ids(idx_t n, const float* x, const idx_t* xids) {
  FAISS_THROW_IF_NOT_MSG(is_trained, "Int8IvfIndex: train before adding");
  FAISS_THROW_IF_NOT_MSG(xids, "Int8IvfIndex: needs ids");
  if (n <= 0) return;
  std::vector<float> scores(static_cast<std::size_t>(kAddChunk));
  std::vector<idx_t> assigned(static_cast<std::size_t>(n));
  std::vector<float> routed(static_cast<std::size_t>(std::min(n, kAddChunk) * d));
  for (idx_t i0 = 0; i0 < n; i0 += kAddChunk) {
    const idx_t m = std::min(kAddChunk, n - i0);
    routing.apply(static_cast<std::size_t>(m), x + i0 * d, routed.data());
    quantizer.search_with_rerank(m, routed.data(), 1, kAssignRerank, scores.data(),
                                 assigned.data() + i0);
  }
  // A bulk add (building, rebuilding) sizes each list once instead of letting it double: at 1M
  // faces doubling would leave about a GB unused.
  std::vector<std::size_t> counts(lists.size(), 0);
  for (idx_t i = 0; i < n; ++i) {
    FAISS_THROW_IF_NOT(assigned[i] >= 0 && assigned[i] < nlist);
    ++counts[static_cast<std::size_t>(assigned[i])];
  }
  for (std::size_t l = 0; l < lists.size(); ++l) {
    if (counts[l] > lists[l].size()) lists[l].reserve(lists[l].size() + counts[l]);
  }
  for (idx_t i = 0; i < n; ++i) {
    lists[static_cast<std::size_t>(assigned[i])].append(codec, x + i * d, xids[i]);
  }
  ntotal += n;
}

void Int8IvfIndex::add_recent(idx_t n, const float* x, const idx_t* xids) {
  FAISS_THROW_IF_NOT_MSG(is_trained, "Int8IvfIndex: train before adding");
  FAISS_THROW_IF_NOT_MSG(xids, "Int8IvfIndex: needs ids");
  for (idx_t i = 0; i < n; ++i) recent.append(codec, x + i * d, xids[i]);
  ntotal += std::max<idx_t>(n, 0);
}

std::size_t Int8IvfIndex::recent_limit() const {
  const auto listed = static_cast<double>(static_cast<std::size_t>(ntotal) - recent.size());
  return std::max(kRecentMin, static_cast<std::size_t>(kRecentShare * listed));
}

bool Int8IvfIndex::wants_training(idx_t more_recent) const {
  return is_trained && recent.size() + static_cast<std::size_t>(more_recent) > recent_limit();
}

void Int8IvfIndex::reset() {
  for (auto& list : lists) list.clear();
  recent.clear();
  ntotal = 0;
}

void Int8IvfIndex::replace_all(idx_t n, const float* x, const idx_t* xids) {
  std::unordered_set<idx_t> listed;
  for (const auto& list : lists) listed.insert(list.labels().begin(), list.labels().end());
  std::vector<idx_t> keep, fresh;
  std::vector<float> keep_x, fresh_x;
  for (idx_t i = 0; i < n; ++i) {
    const bool was_listed = listed.count(xids[i]) > 0;
    (was_listed ? keep : fresh).push_back(xids[i]);
    auto& to = was_listed ? keep_x : fresh_x;
    to.insert(to.end(), x + i * d, x + (i + 1) * d);
  }
  reset();
  add_with_ids(static_cast<idx_t>(keep.size()), keep_x.data(), keep.data());
  add_recent(static_cast<idx_t>(fresh.size()), fresh_x.data(), fresh.data());
}

std::size_t Int8IvfIndex::remove_ids(const faiss::IDSelector& sel) {
  std::size_t removed = 0;
  for (std::size_t l = 0; l <= lists.size(); ++l) {
    PackedRows& rows = rows_of(l);
    for (std::size_t row = rows.size(); row-- > 0;) {
      if (sel.is_member(rows.label(row))) {
        rows.remove(row);
        ++removed;
      }
    }
  }
  ntotal -= static_cast<idx_t>(removed);
  return removed;
}

std::vector<Int8IvfIndex::idx_t> Int8IvfIndex::ids() const {
  std::vector<idx_t> out;
  out.reserve(static_cast<std::size_t>(ntotal));
  for (std::size_t l = 0; l <= lists.size(); ++l) {
    const auto& labels = rows_of(l).labels();
    out.insert(out.end(), labels.begin(), labels.end());
  }
  return out;
}

void Int8IvfIndex::search_one(const float* query, const idx_t* probes, idx_t k, float* distances,
                              idx_t* labels) const {
  std::vector<std::uint8_t> code(codec.dim4());
  codec.encode_query(query, code.data());
  const Int8Kernels& kernels = int8_kernels();
  TopK<std::int32_t> candidates(static_cast<std::size_t>(std::max(k, rerank)));
  std::vector<std::int32_t> scores;
  auto scan = [&](std::size_t l) {
    const PackedRows& rows = rows_of(l);
    scores.resize(rows.nblocks() * kBlockRows);
    rows.score(kernels, code.data(), scores.data());
    candidates.push_range(scores.data(), rows.size(), place(l, 0));
  };
  for (idx_t p = 0; p < nprobe; ++p) {
    if (probes[p] >= 0) scan(static_cast<std::size_t>(probes[p]));
  }
  scan(lists.size());  // every recent vector
  TopK<float> exact(static_cast<std::size_t>(k));
  for (const auto& c : candidates.sorted()) {
    const PackedRows& list = rows_of(static_cast<std::size_t>(c.label >> 32));
    const auto row = static_cast<std::size_t>(c.label & 0xffffffff);
    exact.push(exact_dot(query, list.vector(row), d), list.label(row));
  }
  exact.write(static_cast<std::size_t>(k), distances, labels);
}

void Int8IvfIndex::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
                          const faiss::SearchParameters* params) const {
  FAISS_THROW_IF_NOT_MSG(!params, "Int8IvfIndex: set nprobe and rerank with search parameters");
  FAISS_THROW_IF_NOT(k > 0);
  FAISS_THROW_IF_NOT_MSG(is_trained, "Int8IvfIndex: not trained");
  const auto total = static_cast<std::size_t>(n);
  std::vector<float> routed(total * d);
  routing.apply(total, x, routed.data());
  std::vector<float> coarse_scores(total * nprobe);
  std::vector<idx_t> probes(total * nprobe);
  quantizer.search_with_rerank(n, routed.data(), nprobe, coarse_depth(), coarse_scores.data(),
                               probes.data());
  parallel_for(total, kParallelGrain, [&](std::size_t begin, std::size_t end) {
    for (std::size_t q = begin; q < end; ++q) {
      search_one(x + q * d, &probes[q * nprobe], k, distances + q * k, labels + q * k);
    }
  });
}

}  // namespace clipface::gallery_detail
