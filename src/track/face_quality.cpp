#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "clipface/track.hpp"

namespace clipface {
namespace {

constexpr float kFullSide = 160;        // about what the embedders look at (150 dlib, 224 CLIP)
constexpr int kSharpnessSide = 64;      // faces are compared at one scale
constexpr double kSharpVariance = 150;  // Laplacian variance at which sharpness reaches 0.5

}  // namespace

float TrackFaceQuality::score() const {
  const float size = std::min(1.0f, side / kFullSide);
  return size * (0.5f + 0.5f * sharpness) * (0.5f + 0.5f * frontal);
}

TrackFaceQuality face_quality(const cv::Mat& image, const Face& face) {
  TrackFaceQuality q;
  q.side = std::sqrt(std::max(0.0f, face.box.width * face.box.height));
  const cv::Rect inside = cv::Rect(face.box) & cv::Rect(0, 0, image.cols, image.rows);
  if (inside.width >= 4 && inside.height >= 4) {
    cv::Mat grey, small, laplacian;
    const cv::Mat region = image(inside);
    if (region.channels() == 3) {
      cv::cvtColor(region, grey, cv::COLOR_BGR2GRAY);
    } else {
      grey = region;
    }
    cv::resize(grey, small, cv::Size(kSharpnessSide, kSharpnessSide), 0, 0, cv::INTER_AREA);
    cv::Laplacian(small, laplacian, CV_32F);
    cv::Scalar mean, stddev;
    cv::meanStdDev(laplacian, mean, stddev);
    const double variance = stddev[0] * stddev[0];
    q.sharpness = static_cast<float>(variance / (variance + kSharpVariance));
  }
  // Yaw from the landmarks: the nose's offset from the eyes' midpoint along the eye line,
  // relative to the eye distance (0 frontal, about 0.5 in profile).
  const cv::Point2f eye_r = face.landmarks[0], eye_l = face.landmarks[1], nose = face.landmarks[2];
  const cv::Point2f axis = eye_l - eye_r;
  const float eye_distance = std::hypot(axis.x, axis.y);
  if (eye_distance > 1) {
    const cv::Point2f mid = (eye_l + eye_r) * 0.5f;
    const float along = ((nose - mid).x * axis.x + (nose - mid).y * axis.y) / eye_distance;
    q.frontal = std::clamp(1.0f - 2.0f * std::abs(along) / eye_distance, 0.0f, 1.0f);
  }
  return q;
}

}  // namespace clipface
