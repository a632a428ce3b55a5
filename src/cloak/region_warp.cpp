#include "cloak/region_warp.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace clipface::cloak {
namespace {

namespace F = torch::nn::functional;

cv::Matx23d inverse(const cv::Mat& to_crop) {
  cv::Mat inv;
  cv::invertAffineTransform(to_crop, inv);
  return cv::Matx23d(inv);
}

}  // namespace

cv::Rect2d crop_footprint(const cv::Mat& to_crop, int size) {
  const cv::Matx23d from_crop = inverse(to_crop);
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  for (const cv::Point2d corner :
       {cv::Point2d(-0.5, -0.5), cv::Point2d(size - 0.5, -0.5), cv::Point2d(-0.5, size - 0.5),
        cv::Point2d(size - 0.5, size - 0.5)}) {
    const double x = from_crop(0, 0) * corner.x + from_crop(0, 1) * corner.y + from_crop(0, 2);
    const double y = from_crop(1, 0) * corner.x + from_crop(1, 1) * corner.y + from_crop(1, 2);
    x0 = std::min(x0, x);
    y0 = std::min(y0, y);
    x1 = std::max(x1, x);
    y1 = std::max(y1, y);
  }
  return {x0, y0, x1 - x0, y1 - y0};
}

RegionWarp make_region_warp(const cv::Mat& to_crop, int size, const cv::Rect& region,
                            c10::IntArrayRef region_sizes) {
  const cv::Matx23d from_crop = inverse(to_crop);
  const double det = std::abs(to_crop.at<double>(0, 0) * to_crop.at<double>(1, 1) -
                              to_crop.at<double>(0, 1) * to_crop.at<double>(1, 0));
  const double scale = det > 0 ? 1.0 / std::sqrt(det) : 1.0;  // image pixels per crop pixel
  RegionWarp warp;
  const int64_t h = region_sizes[1], w = region_sizes[2];
  warp.pool = std::max(1, static_cast<int>(std::floor(scale)));
  while (warp.pool > 1 && (h / warp.pool < 2 || w / warp.pool < 2)) --warp.pool;
  const double k = warp.pool;
  const double pooled_w = std::floor(static_cast<double>(w) / k);
  const double pooled_h = std::floor(static_cast<double>(h) / k);
  auto grid = torch::empty({1, size, size, 2}, torch::kFloat);
  auto g = grid.accessor<float, 4>();
  for (int v = 0; v < size; ++v) {
    for (int u = 0; u < size; ++u) {
      const double x = from_crop(0, 0) * u + from_crop(0, 1) * v + from_crop(0, 2) - region.x;
      const double y = from_crop(1, 0) * u + from_crop(1, 1) * v + from_crop(1, 2) - region.y;
      // Pooled pixel i covers region pixels [i k, (i + 1) k) and is centred at i k + (k - 1) / 2.
      const double px = (x - (k - 1) / 2) / k, py = (y - (k - 1) / 2) / k;
      g[0][v][u][0] = static_cast<float>(2 * px / std::max(1.0, pooled_w - 1) - 1);
      g[0][v][u][1] = static_cast<float>(2 * py / std::max(1.0, pooled_h - 1) - 1);
    }
  }
  warp.grid = grid;
  return warp;
}

torch::Tensor warp_region(const torch::Tensor& region, const RegionWarp& warp) {
  torch::Tensor x = region.unsqueeze(0);
  if (warp.pool > 1) x = torch::avg_pool2d(x, warp.pool, warp.pool);
  return F::grid_sample(x, warp.grid.to(x.dtype()),
                        F::GridSampleFuncOptions()
                            .mode(torch::kBilinear)
                            .padding_mode(torch::kZeros)
                            .align_corners(true));
}

}  // namespace clipface::cloak
