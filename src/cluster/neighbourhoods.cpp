#include "cluster/neighbourhoods.hpp"

#include <faiss/IndexFlat.h>
#include <faiss/impl/AuxIndexStructures.h>

#include <algorithm>
#include <numeric>

namespace clipface::cluster_detail {

Neighbourhoods range_neighbours(const Matrix& vectors, float min_cosine,
                                const std::vector<std::size_t>& rows) {
  const std::size_t n = vectors.rows;
  Neighbourhoods out;
  out.offset.assign(n + 1, 0);
  out.known.assign(n, 0);
  if (n == 0) return out;
  std::vector<std::size_t> asked = rows;
  if (asked.empty()) {
    asked.resize(n);
    std::iota(asked.begin(), asked.end(), 0);
  }
  faiss::IndexFlatIP index(static_cast<faiss::Index::idx_t>(vectors.cols));
  index.add(static_cast<faiss::Index::idx_t>(n), vectors.data.data());

  // Per asked row, its neighbours; queried in batches to bound the result buffers.
  std::vector<std::vector<std::pair<float, std::int32_t>>> lists(n);
  constexpr std::size_t kBatch = 4096;
  std::vector<float> queries;
  for (std::size_t start = 0; start < asked.size(); start += kBatch) {
    const std::size_t count = std::min(kBatch, asked.size() - start);
    queries.resize(count * vectors.cols);
    for (std::size_t q = 0; q < count; ++q) {
      const auto row = vectors.row(asked[start + q]);
      std::copy(row.begin(), row.end(), queries.begin() + q * vectors.cols);
    }
    faiss::RangeSearchResult result(static_cast<faiss::Index::idx_t>(count));
    // FAISS keeps inner products strictly above the radius; nudge it so ">=" holds.
    index.range_search(static_cast<faiss::Index::idx_t>(count), queries.data(), min_cosine - 1e-6f,
                       &result);
    for (std::size_t q = 0; q < count; ++q) {
      auto& list = lists[asked[start + q]];
      for (std::size_t k = result.lims[q]; k < result.lims[q + 1]; ++k) {
        list.emplace_back(result.distances[k], static_cast<std::int32_t>(result.labels[k]));
      }
      // The row itself, whatever rounding did to its inner product with itself.
      const auto self = static_cast<std::int32_t>(asked[start + q]);
      if (std::none_of(list.begin(), list.end(), [&](const auto& e) { return e.second == self; }))
        list.emplace_back(1.0f, self);
      std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
    }
  }
  for (std::size_t row : asked) out.known[row] = 1;
  for (std::size_t i = 0; i < n; ++i) out.offset[i + 1] = out.offset[i] + lists[i].size();
  out.id.resize(out.offset[n]);
  out.cosine.resize(out.offset[n]);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t k = out.offset[i];
    for (const auto& [cosine, id] : lists[i]) {
      out.cosine[k] = cosine;
      out.id[k++] = id;
    }
  }
  return out;
}

}  // namespace clipface::cluster_detail
