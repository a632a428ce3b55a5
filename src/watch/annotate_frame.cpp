#include <opencv2/imgproc.hpp>

#include <cstdio>

#include "clipface/watch.hpp"

namespace clipface {

cv::Mat annotate_frame(const cv::Mat& image, const WatchFrame& frame,
                       const std::optional<cv::Rect>& roi) {
  cv::Mat out = image.clone();
  // Line widths and text follow the frame size so labels stay readable at any resolution.
  const int side = std::max(out.cols, out.rows);
  const int thickness = std::max(1, side / 500);
  const double font_scale = std::max(0.45, side / 1400.0);
  if (roi) cv::rectangle(out, *roi, cv::Scalar(200, 200, 200), thickness, cv::LINE_AA);
  for (const WatchFace& face : frame.faces) {
    const bool pending = face.label == kPending;
    const cv::Scalar colour = pending      ? cv::Scalar(0, 190, 255)   // amber
                              : face.known ? cv::Scalar(60, 200, 60)   // green
                                           : cv::Scalar(50, 50, 230);  // red
    const cv::Rect box(face.box);
    cv::rectangle(out, box, colour, thickness + 1);
    char text[160];
    if (pending) {
      std::snprintf(text, sizeof text, "#%lld %s", static_cast<long long>(face.track),
                    face.label.c_str());
    } else {
      std::snprintf(text, sizeof text, "#%lld %s %.2f", static_cast<long long>(face.track),
                    face.label.c_str(), face.score);
    }
    int baseline = 0;
    const cv::Size size =
        cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font_scale, thickness, &baseline);
    // Above the box, or inside its top when the box touches the frame's top.
    cv::Point origin(box.x, box.y - baseline - thickness);
    if (origin.y - size.height < 0) origin.y = box.y + size.height + thickness;
    origin.x = std::clamp(origin.x, 0, std::max(0, out.cols - size.width));
    cv::rectangle(out, origin + cv::Point(0, baseline),
                  origin + cv::Point(size.width, -size.height), colour, cv::FILLED);
    cv::putText(out, text, origin, cv::FONT_HERSHEY_SIMPLEX, font_scale, cv::Scalar(255, 255, 255),
                thickness, cv::LINE_AA);
  }
  return out;
}

}  // namespace clipface
