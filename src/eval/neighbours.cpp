#include "clipface/eval/neighbours.hpp"

#include <faiss/IndexFlat.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "clipface/errors.hpp"

namespace clipface::eval {

NeighbourTable search_exact(const Matrix& base, const Matrix& queries, std::size_t k) {
  if (k < 1) throw InputError("neighbour search needs k >= 1");
  if (base.cols != queries.cols && base.rows && queries.rows) {
    throw InputError("neighbour search: base has " + std::to_string(base.cols) +
                     " columns, queries " + std::to_string(queries.cols));
  }
  NeighbourTable table;
  table.queries = queries.rows;
  table.k = k;
  table.ids.assign(queries.rows * k, -1);
  table.l2.assign(queries.rows * k, std::numeric_limits<float>::infinity());
  if (base.rows == 0 || queries.rows == 0) return table;
  faiss::IndexFlatL2 index(static_cast<faiss::Index::idx_t>(base.cols));
  index.add(static_cast<faiss::Index::idx_t>(base.rows), base.data.data());
  std::vector<faiss::Index::idx_t> labels(queries.rows * k);
  std::vector<float> squared(queries.rows * k);
  index.search(static_cast<faiss::Index::idx_t>(queries.rows), queries.data.data(),
               static_cast<faiss::Index::idx_t>(k), squared.data(), labels.data());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    table.ids[i] = labels[i];
    if (labels[i] >= 0) table.l2[i] = std::sqrt(std::max(0.0f, squared[i]));
  }
  return table;
}

Matrix select_rows(const Matrix& m, const std::vector<std::size_t>& rows) {
  Matrix out(rows.size(), m.cols);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy(m.row(rows[i]).begin(), m.row(rows[i]).end(), out.row(i).begin());
  }
  return out;
}

}  // namespace clipface::eval
