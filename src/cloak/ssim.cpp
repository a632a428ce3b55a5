#include "cloak/ssim.hpp"

namespace clipface::cloak {
namespace {

torch::Tensor window(torch::ScalarType type) {
  static const torch::Tensor kernel = [] {
    torch::Tensor x = torch::arange(11, torch::kDouble) - 5.0;
    torch::Tensor g = torch::exp(-(x * x) / (2 * 1.5 * 1.5));
    g = g / g.sum();
    return torch::outer(g, g).expand({3, 1, 11, 11}).contiguous();
  }();
  return kernel.to(type);
}

torch::Tensor filter(const torch::Tensor& x, const torch::Tensor& w) {
  namespace F = torch::nn::functional;
  return F::conv2d(x, w, F::Conv2dFuncOptions().groups(3));
}

}  // namespace

torch::Tensor ssim_tensor(const torch::Tensor& a, const torch::Tensor& b) {
  constexpr double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  const torch::Tensor w = window(a.scalar_type());
  const torch::Tensor x = a.unsqueeze(0), y = b.unsqueeze(0);
  const torch::Tensor mx = filter(x, w), my = filter(y, w);
  const torch::Tensor sxx = filter(x * x, w) - mx * mx;
  const torch::Tensor syy = filter(y * y, w) - my * my;
  const torch::Tensor sxy = filter(x * y, w) - mx * my;
  const torch::Tensor map =
      ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
  return map.mean();
}

torch::Tensor dssim_tensor(const torch::Tensor& a, const torch::Tensor& b) {
  return (1.0 - ssim_tensor(a, b)) / 2.0;
}

torch::Tensor quantize(const torch::Tensor& x) { return (x * 255.0).round() / 255.0; }

torch::Tensor scale_into_dssim(const torch::Tensor& clean, const torch::Tensor& delta,
                               double bound, bool quantized) {
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
