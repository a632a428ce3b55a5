#include "gallery/kmeans_assigner.hpp"

#include <faiss/impl/FaissAssert.h>

#include <algorithm>
#include <limits>

#include "gallery/exact_dot.hpp"
#include "gallery/parallel_for.hpp"

namespace clipface::gallery_detail {

KMeansAssigner::KMeansAssigner(idx_t dim, int every, idx_t count)
    : faiss::Index(dim, faiss::METRIC_INNER_PRODUCT),
      full_every(every),
      candidates(count),
      centroids(dim, count) {
  is_trained = false;
}

void KMeansAssigner::train(idx_t n, const float* x) {
  centroids.train(n, x);
  is_trained = true;
}

void KMeansAssigner::add(idx_t n, const float* x) {
  centroids.add(n, x);
  ntotal = centroids.ntotal;
}

void KMeansAssigner::reset() {
  centroids.reset();
  ntotal = 0;
}

void KMeansAssigner::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
                            const faiss::SearchParameters* params) const {
  FAISS_THROW_IF_NOT_MSG(!params && k == 1, "KMeansAssigner: nearest centroid only");
  const idx_t c = std::min(candidates, ntotal);
  const bool same_points = x == points_ && n == npoints_ && !best_.empty();
  const bool full = !same_points || full_every <= 1 || searches_ % full_every == 0;
  ++searches_;
  if (full) {
    std::vector<float> scores(static_cast<std::size_t>(n * c));
    best_.assign(static_cast<std::size_t>(n * c), -1);
    centroids.search_with_rerank(n, x, c, c, scores.data(), best_.data());
    for (idx_t i = 0; i < n; ++i) {
      distances[i] = scores[i * c];
      labels[i] = best_[i * c];
    }
    points_ = x;
    npoints_ = n;
    return;
  }
  parallel_for(static_cast<std::size_t>(n), 4096, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      float best = -std::numeric_limits<float>::infinity();
      idx_t label = -1;
      for (idx_t j = 0; j < c; ++j) {
        const idx_t cand = best_[i * c + j];
        if (cand < 0) continue;
        const float s =
            exact_dot(x + i * d, centroids.rows.vector(static_cast<std::size_t>(cand)), d);
        if (s > best || (s == best && cand < label)) best = s, label = cand;
      }
      distances[i] = best;
      labels[i] = label;
    }
  });
}

}  // namespace clipface::gallery_detail
