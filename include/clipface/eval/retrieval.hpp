// Retrieval, the protocol of "Face Recognition in the age of CLIP & Billion image datasets":
// every image queries an exact L2 index of all images for its 6 nearest, the query itself is
// dropped (by index, not by distance, so exact duplicates still count as other images), and the
// query's identity is looked for in the first 1 and first 5 that remain.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "clipface/matrix.hpp"

namespace clipface::eval {

struct RetrievalResult {
  std::size_t queries = 0;
  std::size_t identities = 0;
  double top1 = 0;  // fraction of queries whose nearest other image shows the same person
  double top5 = 0;  // ... whose 5 nearest other images include the same person
  // The same over queries whose identity has at least 2 images (the only ones that can match).
  std::size_t multi_queries = 0;
  std::size_t multi_identities = 0;
  double top1_multi = 0;
  double top5_multi = 0;
  std::vector<int> top1_label;  // per query: identity of the nearest other image (-1 if none)
};

// `labels` are dense identity ids, one per row of `embeddings`. Throws InputError on a size
// mismatch or fewer than 2 rows.
RetrievalResult evaluate_retrieval(const Matrix& embeddings, const std::vector<int>& labels);

nlohmann::json to_json(const RetrievalResult& result);

}  // namespace clipface::eval
