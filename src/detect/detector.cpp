#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "clipface/errors.hpp"
#include "detect/scaled_detector.hpp"

namespace clipface {

float box_iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

cv::Rect2f clip_box(const cv::Rect2f& box, cv::Size size) {
  const cv::Rect2f clipped =
      box & cv::Rect2f(0, 0, static_cast<float>(size.width), static_cast<float>(size.height));
  // A box wholly outside the image (never from a detector) shrinks to its nearest corner point.
  if (clipped.width > 0 && clipped.height > 0) return clipped;
  return {std::clamp(box.x, 0.f, static_cast<float>(size.width)),
          std::clamp(box.y, 0.f, static_cast<float>(size.height)), 0.f, 0.f};
}

std::unique_ptr<Detector> make_detector(const DetectorOptions& options) {
  if (options.kind == "yunet") return detail::make_yunet(options);
  if (options.kind == "scrfd") return detail::make_scrfd(options);
  throw InputError("unknown detector '" + options.kind + "' (expected yunet or scrfd)");
}

namespace detail {

namespace {

constexpr double kMinFaceContrast = 4.0;  // grey-level standard deviation inside the box

cv::Mat to_bgr(const cv::Mat& image) {
  if (image.empty()) throw InputError("detect: empty image");
  if (image.depth() != CV_8U) throw InputError("detect: expected an 8-bit image");
  if (image.channels() == 3) return image;
  cv::Mat bgr;
  if (image.channels() == 1) {
    cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
  } else if (image.channels() == 4) {
    cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  } else {
    throw InputError("detect: expected 1, 3 or 4 channels, got " +
                     std::to_string(image.channels()));
  }
  return bgr;
}

}  // namespace

std::vector<Face> ScaledDetector::detect(const cv::Mat& image) const {
  const cv::Mat bgr = to_bgr(image);
  const int longer = std::max(bgr.cols, bgr.rows);
  double scale = 1.0;
  cv::Mat input = bgr;
  if (options_.max_side > 0 && longer > options_.max_side) {
    scale = static_cast<double>(options_.max_side) / longer;
    const cv::Size size(std::max(1, static_cast<int>(std::lround(bgr.cols * scale))),
                        std::max(1, static_cast<int>(std::lround(bgr.rows * scale))));
    cv::resize(bgr, input, size, 0, 0, cv::INTER_AREA);  // area averaging: no aliasing
  }
  // Exact per-axis factors, since rounding the size changes the ratio slightly.
  const float back_x = static_cast<float>(bgr.cols) / input.cols;
  const float back_y = static_cast<float>(bgr.rows) / input.rows;

  cv::Mat grey;
  cv::cvtColor(input, grey, cv::COLOR_BGR2GRAY);
  std::vector<Face> faces;
  for (Face face : detect_in(input)) {
    if (face.score < options_.score_threshold) continue;
    // A face has contrast; YuNet reports "faces" in flat black areas (score up to 0.8).
    const cv::Rect inside = cv::Rect(face.box) & cv::Rect(0, 0, grey.cols, grey.rows);
    if (inside.empty()) continue;
    cv::Scalar mean, stddev;
    cv::meanStdDev(grey(inside), mean, stddev);
    if (stddev[0] < kMinFaceContrast) continue;
    face.box = cv::Rect2f(face.box.x * back_x, face.box.y * back_y, face.box.width * back_x,
                          face.box.height * back_y);
    for (auto& point : face.landmarks) point = cv::Point2f(point.x * back_x, point.y * back_y);
    if (std::min(face.box.width, face.box.height) < options_.min_face_size) continue;
    faces.push_back(face);
  }
  std::stable_sort(faces.begin(), faces.end(),
                   [](const Face& a, const Face& b) { return a.score > b.score; });
  if (options_.max_faces > 0 && faces.size() > static_cast<std::size_t>(options_.max_faces)) {
    faces.resize(options_.max_faces);
  }
  return faces;
}

}  // namespace detail
}  // namespace clipface
