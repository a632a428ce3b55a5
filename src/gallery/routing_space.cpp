#include "gallery/routing_space.hpp"

#include <faiss/impl/FaissAssert.h>

#include <algorithm>
#include <cmath>

#include "gallery/exact_dot.hpp"

namespace clipface::gallery_detail {
namespace {

// Added to every eigenvalue before whitening, as a fraction of the mean eigenvalue: directions
// with almost no variance (numerical noise, unused dimensions) are not blown up to unit size.
constexpr float kEpsilonShare = 0.05f;
constexpr std::size_t kBlasVectors = 64;  // from this many vectors at once, BLAS is faster

}  // namespace

RoutingSpace::RoutingSpace(int dim) : transform_(dim, dim, true) {}

void RoutingSpace::train(std::size_t n, const float* x) {
  const int dim = transform_.d_in;
  if (n < kMinPointsPerDim * static_cast<std::size_t>(dim)) return set_identity();
  faiss::PCAMatrix pca(dim, dim, -0.5f);  // eigenvalue power -1/2: full whitening
  // Unit vectors: the eigenvalues sum to at most 1, their mean is at most 1 / dim.
  pca.epsilon = kEpsilonShare / static_cast<float>(dim);
  pca.train(static_cast<faiss::Index::idx_t>(n), x);
  set(pca.A, pca.b);
}

void RoutingSpace::set_identity() {
  transform_.A.clear();
  transform_.b.clear();
  whitened_ = false;
}

void RoutingSpace::set(std::vector<float> matrix, std::vector<float> bias) {
  const auto dim = static_cast<std::size_t>(transform_.d_in);
  FAISS_THROW_IF_NOT(matrix.size() == dim * dim && bias.size() == dim);
  transform_.A = std::move(matrix);
  transform_.b = std::move(bias);
  transform_.is_trained = true;
  whitened_ = true;
}

void RoutingSpace::apply(std::size_t n, const float* x, float* out) const {
  const auto dim = static_cast<std::size_t>(transform_.d_out);
  if (!whitened_) {
    std::copy_n(x, n * dim, out);  // unit vectors already
    return;
  }
  if (n == 0) return;
  if (n < kBlasVectors) {
    // BLAS spends ~100 us on one 512 x 512 matrix-vector product here; this takes ~30.
    const float* a = transform_.A.data();
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t r = 0; r < dim; ++r) {
        out[i * dim + r] = exact_dot(a + r * dim, x + i * dim, dim) + transform_.b[r];
      }
    }
  } else {
    transform_.apply_noalloc(static_cast<faiss::Index::idx_t>(n), x, out);
  }
  for (std::size_t i = 0; i < n; ++i) {
    float* v = out + i * dim;
    double sum = 0;
    for (std::size_t j = 0; j < dim; ++j) sum += double(v[j]) * v[j];
    const float inv = sum > 0 ? static_cast<float>(1 / std::sqrt(sum)) : 0.0f;
    for (std::size_t j = 0; j < dim; ++j) v[j] *= inv;
  }
}

}  // namespace clipface::gallery_detail
