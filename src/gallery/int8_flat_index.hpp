// A FAISS index (inner product) that scans int8 codes with the integer kernels and re-scores the
// best candidates exactly in fp32: the coarse quantizer of Int8IvfIndex, and the assignment
// index of its k-means training. A scan reads a quarter of the bytes of a fp32 scan; the
// re-ranking makes the answer the exact one whenever the true neighbours are among the
// `rerank` best int8 scores.
#pragma once

#include <faiss/Index.h>

#include "gallery/int8_codec.hpp"
#include "gallery/packed_rows.hpp"

namespace clipface::gallery_detail {

struct Int8FlatIndex : faiss::Index {
  explicit Int8FlatIndex(idx_t dim, idx_t rerank = 8);

  // Candidates re-scored exactly per query (at least k).
  idx_t rerank;
  Int8Codec codec;
  PackedRows rows;  // labels 0 .. ntotal-1

  // Learns the int8 scales; needed before add.
  void train(idx_t n, const float* x) override;
  void add(idx_t n, const float* x) override;
  void reset() override;
  void reconstruct(idx_t key, float* recons) const override;
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;
  // The same with this many exactly re-scored candidates (at least k).
  void search_with_rerank(idx_t n, const float* x, idx_t k, idx_t depth, float* distances,
                          idx_t* labels) const;
};

}  // namespace clipface::gallery_detail
