// The constant-velocity Kalman filter of SORT/ByteTrack on (centre x, centre y, aspect w/h,
// height), with noise proportional to the box height so that near and far faces move alike.
#pragma once

#include <opencv2/core.hpp>

namespace clipface::detail {

class BoxKalman {
 public:
  explicit BoxKalman(const cv::Rect2f& box);

  // Advances the state by `steps` frames (> 0; more than one when frames were skipped).
  void predict(double steps = 1);
  // Corrects the state with a measured box.
  void update(const cv::Rect2f& box);

  cv::Rect2f box() const;        // the current estimate (top-left x, y, width, height)
  cv::Point2f velocity() const;  // of the centre, pixels per frame

 private:
  using Vec8 = cv::Matx<double, 8, 1>;
  using Mat8 = cv::Matx<double, 8, 8>;
  Vec8 mean_;
  Mat8 covariance_;
};

}  // namespace clipface::detail
