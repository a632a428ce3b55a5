// The assignment index of Int8IvfIndex's k-means training. A full assignment (every point
// against every centroid, with the int8 kernels) is the whole cost of training: 1M points x 32768
// centroids x 512 dims per iteration. Between iterations centroids move little, so a point's
// nearest centroid is almost always among the few that were nearest before: a full pass every
// `full_every` iterations records each point's best `candidates`, and the passes in between
// re-score only those, exactly, in fp32 (a few thousandths of the work). FAISS's Clustering calls
// search(n, x, 1) with the same points each iteration; other calls get full passes.
#pragma once

#include <faiss/Index.h>

#include <vector>

#include "gallery/int8_flat_index.hpp"

namespace clipface::gallery_detail {

struct KMeansAssigner : faiss::Index {
  KMeansAssigner(idx_t dim, int full_every, idx_t candidates);

  int full_every;
  idx_t candidates;
  Int8FlatIndex centroids;  // the current centroids (labels 0 .. k-1, as Clustering adds them)

  void train(idx_t n, const float* x) override;
  void add(idx_t n, const float* x) override;
  void reset() override;
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;

 private:
  // Mutable: Clustering holds the assigner as an Index and searches through a const method.
  mutable std::vector<idx_t> best_;  // n x candidates from the last full pass
  mutable const float* points_ = nullptr;
  mutable idx_t npoints_ = 0;
  mutable int searches_ = 0;
};

}  // namespace clipface::gallery_detail
