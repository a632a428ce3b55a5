#include "cloak/ssim.hpp"

#include <cmath>
#include <vector>

namespace clipface::cloak {
namespace {

// The 11-tap Gaussian (sigma 1.5) as a banded (n - 10) x n matrix: valid filtering of n samples
// becomes a matrix product, which runs on the BLAS (LibTorch's CPU grouped convolution is several
// times slower for these shapes, forward and backward).
torch::Tensor band(int64_t n, torch::ScalarType type) {
  static const std::vector<double> taps = [] {
    std::vector<double> g(11);
    double sum = 0;
    for (int i = 0; i < 11; ++i) sum += g[i] = std::exp(-((i - 5.0) * (i - 5.0)) / (2 * 1.5 * 1.5));
    for (double& v : g) v /= sum;
    return g;
  }();
  torch::Tensor m = torch::zeros({n - 10, n}, type);
  for (int k = 0; k < 11; ++k) m.diagonal(k).fill_(taps[static_cast<std::size_t>(k)]);
  return m;
}

}  // namespace

torch::Tensor ssim_tensor(const torch::Tensor& a, const torch::Tensor& b) {
  constexpr double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  const torch::Tensor rows = band(a.size(1), a.scalar_type());
  const torch::Tensor cols = band(a.size(2), a.scalar_type()).t();
  // The five moments of the three channels, filtered down the columns, then along the rows.
  const torch::Tensor moments = torch::cat({a, b, a * a, b * b, a * b});
  const torch::Tensor m = torch::matmul(torch::matmul(rows, moments), cols);
  const torch::Tensor mx = m.slice(0, 0, 3), my = m.slice(0, 3, 6);
  const torch::Tensor sxx = m.slice(0, 6, 9) - mx * mx;
  const torch::Tensor syy = m.slice(0, 9, 12) - my * my;
  const torch::Tensor sxy = m.slice(0, 12, 15) - mx * my;
  const torch::Tensor map =
      ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
  return map.mean();
}

torch::Tensor dssim_tensor(const torch::Tensor& a, const torch::Tensor& b) {
  return (1.0 - ssim_tensor(a, b)) / 2.0;
}

torch::Tensor quantize(const torch::Tensor& x) {
  return (x * 255.0).round() / 255.0;
}

torch::Tensor scale_into_dssim(const torch::Tensor& clean, const torch::Tensor& delta, double bound,
                               bool quantized) {
  torch::NoGradGuard no_grad;
  auto dssim_at = [&](double s) {
    torch::Tensor x = (clean + s * delta).clamp(0, 1);
    if (quantized) x = quantize(x);
    return dssim_tensor(x, clean).item<double>();
  };
  if (dssim_at(1.0) <= bound) return delta;
  double lo = 0, hi = 1;
  for (int i = 0; i < (quantized ? 14 : 8); ++i) {
    const double mid = (lo + hi) / 2;
    (dssim_at(mid) <= bound ? lo : hi) = mid;
  }
  return lo * delta;
}

}  // namespace clipface::cloak
