// The exact fp32 inner product used to re-score candidates. Sixteen running sums, so the
// compiler vectorises it at the baseline ISA (FAISS's fvec_inner_product in Debian's build runs
// one dependent add after another, ~10x slower, and the re-scoring of a few hundred centroids per
// query is a visible part of a search). One implementation for every CPU: the summation order,
// and so the result, does not depend on which int8 kernels run.
#pragma once

#include <cstddef>

namespace clipface::gallery_detail {

inline float exact_dot(const float* a, const float* b, std::size_t n) {
  constexpr std::size_t kLanes = 16;
  float lanes[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (std::size_t j = 0; j < kLanes; ++j) lanes[j] += a[i + j] * b[i + j];
  }
  for (std::size_t j = 0; j < kLanes && i + j < n; ++j) lanes[j] += a[i + j] * b[i + j];
  float sum = 0;
  for (float lane : lanes) sum += lane;
  return sum;
}

}  // namespace clipface::gallery_detail
