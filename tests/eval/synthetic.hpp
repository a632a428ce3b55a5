// Synthetic face-like embeddings for protocol tests: people as random unit centres, their images
// as noisy unit vectors around them. Deterministic given the seed.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "clipface/matrix.hpp"

namespace clipface::testing {

struct SyntheticSet {
  Matrix embeddings;
  std::vector<int> labels;
  std::vector<std::string> names;
};

inline SyntheticSet synthetic_faces(int people, int per_person, float noise, int dim = 32,
                                    unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  SyntheticSet set;
  set.embeddings =
      Matrix(static_cast<std::size_t>(people * per_person), static_cast<std::size_t>(dim));
  std::size_t row = 0;
  for (int p = 0; p < people; ++p) {
    set.names.push_back("person" + std::to_string(100 + p));
    std::vector<float> centre(static_cast<std::size_t>(dim));
    for (auto& v : centre) v = normal(rng);
    for (int i = 0; i < per_person; ++i, ++row) {
      for (int d = 0; d < dim; ++d) {
        set.embeddings.at(row, static_cast<std::size_t>(d)) =
            centre[static_cast<std::size_t>(d)] + noise * normal(rng) * std::sqrt(float(dim)) / 4;
      }
      set.labels.push_back(p);
    }
  }
  normalize_rows(set.embeddings);
  return set;
}

}  // namespace clipface::testing
