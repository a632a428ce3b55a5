#include <opencv2/imgproc.hpp>

#include <cstdio>

#include "clipface/recognizer.hpp"

namespace clipface {

cv::Mat annotate(const cv::Mat& image, const std::vector<NamedFace>& faces) {
  cv::Mat out = image.clone();
  // Line widths and text scale follow the image size so labels stay readable on any photo.
  const int side = std::max(out.cols, out.rows);
  const int thickness = std::max(2, side / 400);
  const double font_scale = std::max(0.5, side / 1400.0);
  for (const auto& named : faces) {
    const bool known = named.decision.known() && !named.analysis.is_spoof();
    const cv::Scalar colour = known ? cv::Scalar(60, 200, 60) : cv::Scalar(50, 50, 230);
    const cv::Rect box(clip_box(named.face.box, out.size()));
    cv::rectangle(out, box, colour, thickness);
    for (const auto& p : named.face.landmarks) {
      cv::circle(out, p, thickness + 1, cv::Scalar(0, 220, 255), cv::FILLED);
    }
    char score[32];
    std::snprintf(score, sizeof score, " %.2f", named.decision.score);
    const std::string analysis = summary(named.analysis);
    const std::string text =
        named.decision.label + score + (analysis.empty() ? "" : " (" + analysis + ")");
    int baseline = 0;
    const cv::Size size =
        cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font_scale, thickness, &baseline);
    cv::Point origin(box.x, box.y + box.height + size.height + 2 * thickness);
    if (origin.y + baseline > out.rows) origin.y = std::max(size.height, box.y - 2 * thickness);
    cv::rectangle(out, origin + cv::Point(0, baseline),
                  origin + cv::Point(size.width, -size.height), colour, cv::FILLED);
    cv::putText(out, text, origin, cv::FONT_HERSHEY_SIMPLEX, font_scale, cv::Scalar(255, 255, 255),
                thickness, cv::LINE_AA);
  }
  return out;
}

}  // namespace clipface
