#include "track/kalman.hpp"

#include <algorithm>

namespace clipface::detail {
namespace {

// ByteTrack's weights: position noise 1/20 and velocity noise 1/160 of the box height.
constexpr double kStdPosition = 1.0 / 20;
constexpr double kStdVelocity = 1.0 / 160;

cv::Matx<double, 4, 1> measure(const cv::Rect2f& box) {
  const double h = std::max(1.0f, box.height);
  return {box.x + box.width / 2.0, box.y + box.height / 2.0, box.width / h, h};
}

}  // namespace

BoxKalman::BoxKalman(const cv::Rect2f& box) {
  const auto z = measure(box);
  mean_ = Vec8::zeros();
  for (int i = 0; i < 4; ++i) mean_(i) = z(i);
  const double h = z(3);
  const double std[8] = {2 * kStdPosition * h,  2 * kStdPosition * h,  1e-2, 2 * kStdPosition * h,
                         10 * kStdVelocity * h, 10 * kStdVelocity * h, 1e-5, 10 * kStdVelocity * h};
  covariance_ = Mat8::zeros();
  for (int i = 0; i < 8; ++i) covariance_(i, i) = std[i] * std[i];
}

void BoxKalman::predict(double steps) {
  Mat8 motion = Mat8::eye();
  for (int i = 0; i < 4; ++i) motion(i, 4 + i) = steps;
  const double h = mean_(3);
  const double std[8] = {kStdPosition * h, kStdPosition * h, 1e-2, kStdPosition * h,
                         kStdVelocity * h, kStdVelocity * h, 1e-5, kStdVelocity * h};
  Mat8 noise = Mat8::zeros();
  for (int i = 0; i < 8; ++i) noise(i, i) = std[i] * std[i] * steps;  // variance grows with time
  mean_ = motion * mean_;
  covariance_ = motion * covariance_ * motion.t() + noise;
  mean_(3) = std::max(1.0, mean_(3));
}

void BoxKalman::update(const cv::Rect2f& box) {
  const auto z = measure(box);
  const double h = mean_(3);
  const double std[4] = {kStdPosition * h, kStdPosition * h, 1e-1, kStdPosition * h};
  cv::Matx<double, 4, 8> project = cv::Matx<double, 4, 8>::zeros();
  for (int i = 0; i < 4; ++i) project(i, i) = 1;
  cv::Matx<double, 4, 4> innovation_cov = project * covariance_ * project.t();
  for (int i = 0; i < 4; ++i) innovation_cov(i, i) += std[i] * std[i];
  const cv::Matx<double, 8, 4> gain =
      covariance_ * project.t() * innovation_cov.inv(cv::DECOMP_CHOLESKY);
  mean_ += gain * (z - project * mean_);
  covariance_ -= gain * innovation_cov * gain.t();
}

cv::Rect2f BoxKalman::box() const {
  const double h = mean_(3), w = mean_(2) * h;
  return cv::Rect2f(static_cast<float>(mean_(0) - w / 2), static_cast<float>(mean_(1) - h / 2),
                    static_cast<float>(w), static_cast<float>(h));
}

cv::Point2f BoxKalman::velocity() const {
  return {static_cast<float>(mean_(4)), static_cast<float>(mean_(5))};
}

}  // namespace clipface::detail
