#include "clipface/assignment.hpp"

#include <algorithm>
#include <limits>

namespace clipface {

std::vector<int> min_cost_assignment(const std::vector<std::vector<float>>& cost, float max_cost) {
  const std::size_t rows = cost.size();
  const std::size_t cols = rows ? cost[0].size() : 0;
  std::vector<int> result(rows, -1);
  if (rows == 0 || cols == 0) return result;
  // A square problem of side n: an allowed pair costs (c - max_cost) < 0, everything else
  // (forbidden pairs, padding) 0, i.e. the same as leaving the row unassigned.
  const std::size_t n = std::max(rows, cols);
  auto at = [&](std::size_t i, std::size_t j) -> double {
    if (i >= rows || j >= cols) return 0.0;
    const double c = cost[i][j];
    return c <= max_cost ? c - max_cost - 1e-9 : 0.0;
  };
  // The O(n^3) Hungarian method with potentials (rows and columns 1-based, 0 = sentinel).
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(n + 1, 0);
  std::vector<std::size_t> p(n + 1, 0), way(n + 1, 0);
  for (std::size_t i = 1; i <= n; ++i) {
    p[0] = i;
    std::size_t j0 = 0;
    std::vector<double> minv(n + 1, inf);
    std::vector<bool> used(n + 1, false);
    do {
      used[j0] = true;
      const std::size_t i0 = p[j0];
      double delta = inf;
      std::size_t j1 = 0;
      for (std::size_t j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = at(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (std::size_t j = 0; j <= n; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const std::size_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  for (std::size_t j = 1; j <= n; ++j) {
    const std::size_t i = p[j] - 1, c = j - 1;
    if (i < rows && c < cols && cost[i][c] <= max_cost) result[i] = static_cast<int>(c);
  }
  return result;
}

}  // namespace clipface
