#include "clipface/matrix.hpp"

#include <cmath>

namespace clipface {

void normalize_rows(Matrix& m) {
  for (std::size_t i = 0; i < m.rows; ++i) {
    auto r = m.row(i);
    const float n = std::sqrt(dot(r, r));
    if (n > 0) {
      for (float& v : r) v /= n;
    }
  }
}

float dot(std::span<const float> a, std::span<const float> b) {
  float s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace clipface
