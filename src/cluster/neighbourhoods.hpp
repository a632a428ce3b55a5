// Every face's neighbourhood within a cosine radius (exact, FAISS's flat inner-product range
// search), for the rows asked about, against all rows (internal to src/cluster).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "clipface/matrix.hpp"

namespace clipface::cluster_detail {

struct Neighbourhoods {
  std::vector<std::size_t> offset;  // rows + 1; rows not asked about have empty lists
  std::vector<std::int32_t> id;     // neighbours (the row itself included), most similar first
  std::vector<float> cosine;
  std::vector<char> known;  // the row was asked about

  std::size_t count(std::size_t row) const { return offset[row + 1] - offset[row]; }
};

// Neighbours with cosine >= min_cosine of `rows` (all rows when empty) among all rows.
Neighbourhoods range_neighbours(const Matrix& vectors, float min_cosine,
                                const std::vector<std::size_t>& rows = {});

}  // namespace clipface::cluster_detail
