// Synthetic face-like embeddings for gallery tests: each person has a random unit centre and
// their photos lie around it (same-person cosine about 0.75, strangers near 0), as with real
// face embedders, without needing any model.
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "clipface/embedder.hpp"
#include "clipface/gallery.hpp"

namespace clipface::testing {

inline EmbedderInfo synthetic_model(int dim, const std::string& name = "synthetic") {
  EmbedderInfo info;
  info.name = name;
  info.checksum = "0123456789abcdef";
  info.crop_style = "tight";
  info.dim = dim;
  info.input_size = 112;
  return info;
}

inline std::vector<float> normalized(std::vector<float> v) {
  double sum = 0;
  for (float x : v) sum += double(x) * x;
  const float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
  return v;
}

inline std::vector<float> random_unit(std::mt19937& rng, int dim) {
  std::normal_distribution<float> normal;
  std::vector<float> v(dim);
  for (float& x : v) x = normal(rng);
  return normalized(std::move(v));
}

// A photo of the person with this centre: cosine to the centre about 0.87, so two photos of the
// same person have cosine about 0.75.
inline std::vector<float> photo_of(const std::vector<float>& centre, std::mt19937& rng) {
  const std::vector<float> noise = random_unit(rng, static_cast<int>(centre.size()));
  std::vector<float> v(centre.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.866f * centre[i] + 0.5f * noise[i];
  return normalized(std::move(v));
}

inline Enrollment enrollment(const std::string& person, std::vector<float> embedding,
                             const std::string& image, const std::string& crop = "") {
  Enrollment e;
  e.person = person;
  e.image_path = "/photos/" + image + ".jpg";
  e.image_sha256 = "sha-" + image;
  e.image_width = 640;
  e.image_height = 480;
  e.face.box = {10, 20, 100, 120};
  for (int i = 0; i < 5; ++i) e.face.landmarks[i] = {30.0f + 10 * i, 50.0f + i};
  e.face.score = 0.9f;
  e.embedding = std::move(embedding);
  e.crop_png = crop;
  return e;
}

inline Matrix as_matrix(const std::vector<std::vector<float>>& rows) {
  Matrix m(rows.size(), rows.empty() ? 0 : rows[0].size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < m.cols; ++c) m.at(r, c) = rows[r][c];
  }
  return m;
}

}  // namespace clipface::testing
