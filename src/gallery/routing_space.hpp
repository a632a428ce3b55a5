// The space in which Int8IvfIndex forms its lists and routes queries to them: the embeddings
// centred, whitened (PCA with every direction scaled to unit variance) and normalised.
//
// Why: face embeddings do not use their dimensions evenly. A few principal directions carry most
// of the variance, of the differences between people and of the differences between photos of
// one person alike. k-means in the raw space then cuts along those directions and splits each
// person's photos over 2.5 lists (1M face-like vectors, 32768 lists), and a query has to probe
// hundreds of lists to find its neighbour. Whitened, every direction counts the same, as for
// isotropic vectors where a person's photos share one list (1.05 lists per person). Only the
// partition and the routing use this space; scanning and re-ranking stay in the original one,
// so the scores are still the embeddings' inner products.
#pragma once

#include <faiss/VectorTransform.h>

#include <cstddef>
#include <vector>

namespace clipface::gallery_detail {

class RoutingSpace {
 public:
  explicit RoutingSpace(int dim = 0);

  // Learns the mean and the whitening from (up to 1000 x dim of) these vectors. With fewer than
  // kMinPointsPerDim x dim of them the covariance is too poorly known (its small eigenvalues come
  // out too small, and whitening would blow those directions up): the space stays the original.
  void train(std::size_t n, const float* x);
  static constexpr std::size_t kMinPointsPerDim = 16;

  // out = normalise(A x + b) for n vectors (out may not alias x); a copy when not whitened.
  void apply(std::size_t n, const float* x, float* out) const;

  // The affine map y = A x + b, as saved and loaded (A is dim x dim, row-major).
  bool whitened() const { return whitened_; }
  const std::vector<float>& matrix() const { return transform_.A; }
  const std::vector<float>& bias() const { return transform_.b; }
  void set(std::vector<float> matrix, std::vector<float> bias);  // makes it whitened
  void set_identity();

 private:
  faiss::LinearTransform transform_;
  bool whitened_ = false;
};

}  // namespace clipface::gallery_detail
