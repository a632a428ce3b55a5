// Exact nearest neighbours by L2 distance (FAISS IndexFlatL2): the search every protocol shares.
#pragma once

#include <cstddef>
#include <vector>

#include "clipface/matrix.hpp"

namespace clipface::eval {

struct NeighbourTable {
  std::size_t queries = 0;
  std::size_t k = 0;
  std::vector<long long> ids;  // queries * k rows of `base`, nearest first (-1 when fewer exist)
  std::vector<float> l2;       // matching L2 distances (not squared)

  long long id(std::size_t q, std::size_t j) const { return ids[q * k + j]; }
  float distance(std::size_t q, std::size_t j) const { return l2[q * k + j]; }
};

// The k nearest rows of `base` for every row of `queries`. Throws InputError when the widths
// differ or k < 1.
NeighbourTable search_exact(const Matrix& base, const Matrix& queries, std::size_t k);

// The rows of `m` listed in `rows`, in that order.
Matrix select_rows(const Matrix& m, const std::vector<std::size_t>& rows);

}  // namespace clipface::eval
