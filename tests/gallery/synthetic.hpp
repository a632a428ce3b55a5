// Synthetic face-like embeddings for gallery tests and benchmarks, without any model: each
// person has a random unit centre and their photos lie around it (same-person cosine about 0.75,
// strangers near 0).
//
// Two shapes. random_unit/photo_of spread vectors evenly over all dimensions (isotropic; strangers
// 0 +- 1/sqrt(dim)): enough for plumbing tests. FaceSpace is shaped like real face embeddings,
// whose variance decays over principal directions: strangers are 0 +- 0.1 at 512-d (not
// +- 0.044) and photos vary in how typical they are, which is what makes approximate search hard
// (with it FAISS's IVF4096,Flat reaches recall@1 0.81 at nprobe 16 on 1M faces, as measured in
// issue 5; on isotropic vectors it reaches 0.99). Recall tests and benchmarks use FaceSpace.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
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

// A photo at exactly cosine `rho` from `centre` (a unit vector), in a random direction.
inline std::vector<float> photo_at(const std::vector<float>& centre, float rho, std::mt19937& rng) {
  auto noise = random_unit(rng, static_cast<int>(centre.size()));
  double along = 0;
  for (std::size_t d = 0; d < centre.size(); ++d) along += noise[d] * centre[d];
  for (std::size_t d = 0; d < centre.size(); ++d) noise[d] -= static_cast<float>(along) * centre[d];
  noise = normalized(std::move(noise));
  std::vector<float> v(centre.size());
  const float away = std::sqrt(std::max(0.0f, 1 - rho * rho));
  for (std::size_t d = 0; d < v.size(); ++d) v[d] = rho * centre[d] + away * noise[d];
  return normalized(std::move(v));
}

// Directions with per-dimension scales (d+1)^(-alpha/2) (alpha 0.75: effective dimension 96 of
// 512), turned by a fixed random orthogonal map (random signs, then a Walsh-Hadamard transform,
// when dim is a power of two) so that no coordinate axis is special; a person's centre is one
// such direction and a photo lies at cosine rho ~ N(0.866, 0.05) from it, towards another.
class FaceSpace {
 public:
  explicit FaceSpace(int dim, unsigned seed = 1, double alpha = 0.75) : scales_(dim), signs_(dim) {
    std::mt19937 rng(seed);
    for (int d = 0; d < dim; ++d) {
      scales_[d] = static_cast<float>(std::pow(d + 1.0, -alpha / 2));
      signs_[d] = rng() % 2 ? 1.0f : -1.0f;
    }
  }
  int dim() const { return static_cast<int>(scales_.size()); }

  void direction(std::mt19937& rng, float* out) const {
    std::normal_distribution<float> normal;
    const int n = dim();
    for (int d = 0; d < n; ++d) out[d] = scales_[d] * normal(rng) * signs_[d];
    if ((n & (n - 1)) == 0) {
      for (int h = 1; h < n; h *= 2) {
        for (int i = 0; i < n; i += 2 * h) {
          for (int j = i; j < i + h; ++j) {
            const float a = out[j], b = out[j + h];
            out[j] = a + b;
            out[j + h] = a - b;
          }
        }
      }
    }
    normalize(out);
  }

  void photo(const float* centre, std::mt19937& rng, float* out) const {
    std::normal_distribution<double> typical(0.866, 0.05);
    const double rho = std::clamp(typical(rng), 0.55, 0.98);
    direction(rng, out);  // then the part of it orthogonal to the centre
    double along = 0;
    for (int d = 0; d < dim(); ++d) along += double(out[d]) * centre[d];
    for (int d = 0; d < dim(); ++d) out[d] -= static_cast<float>(along) * centre[d];
    normalize(out);
    const double away = std::sqrt(1 - rho * rho);
    for (int d = 0; d < dim(); ++d) {
      out[d] = static_cast<float>(rho * centre[d] + away * out[d]);
    }
    normalize(out);
  }

  std::vector<float> direction(std::mt19937& rng) const {
    std::vector<float> v(dim());
    direction(rng, v.data());
    return v;
  }
  std::vector<float> photo(const std::vector<float>& centre, std::mt19937& rng) const {
    std::vector<float> v(dim());
    photo(centre.data(), rng, v.data());
    return v;
  }

 private:
  void normalize(float* v) const {
    double sum = 0;
    for (int d = 0; d < dim(); ++d) sum += double(v[d]) * v[d];
    const double inv = sum > 0 ? 1 / std::sqrt(sum) : 0;
    for (int d = 0; d < dim(); ++d) v[d] = static_cast<float>(v[d] * inv);
  }
  std::vector<float> scales_;
  std::vector<float> signs_;
};

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

// People with a few photos each; remembers every centre to make new photos (queries).
// Isotropic vectors, or face-like ones when given a FaceSpace (which must outlive it).
struct Population {
  std::mt19937 rng{7};
  const FaceSpace* space = nullptr;
  std::map<std::string, std::vector<float>> centres;
  std::vector<Enrollment> enrollments;

  Population(int people, int photos, int dim = 64) : Population(people, photos, dim, nullptr) {}
  Population(int people, int photos, const FaceSpace& face_space)
      : Population(people, photos, face_space.dim(), &face_space) {}

  std::vector<float> new_photo(const std::string& name) {
    return space ? space->photo(centres.at(name), rng) : photo_of(centres.at(name), rng);
  }

 private:
  Population(int people, int photos, int dim, const FaceSpace* face_space) : space(face_space) {
    for (int p = 0; p < people; ++p) {
      const std::string name = "person" + std::to_string(p);
      centres[name] = space ? space->direction(rng) : random_unit(rng, dim);
      for (int i = 0; i < photos; ++i) {
        enrollments.push_back(enrollment(name, new_photo(name), name + "-" + std::to_string(i)));
      }
    }
  }
};

// Exact nearest neighbour by brute force (the reference for approximate indexes).
inline std::size_t brute_force_nearest(const std::vector<Enrollment>& all,
                                       const std::vector<float>& q) {
  std::size_t best = 0;
  float best_score = -2;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const float s = dot(all[i].embedding, q);
    if (s > best_score) best_score = s, best = i;
  }
  return best;
}

// Recall@1 of the gallery against brute force over these queries (new photos of person q % n).
inline double recall_at_1(const Gallery& g, Population& pop, const std::vector<std::int64_t>& ids,
                          int queries) {
  int same = 0;
  for (int q = 0; q < queries; ++q) {
    const auto query = pop.new_photo("person" + std::to_string(q % pop.centres.size()));
    const auto result = g.search(as_matrix({query}), 1)[0];
    if (!result.empty() && result[0].face_id == ids[brute_force_nearest(pop.enrollments, query)])
      ++same;
  }
  return double(same) / queries;
}

}  // namespace clipface::testing
