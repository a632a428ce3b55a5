#include "clipface/align.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/errors.hpp"

namespace clipface {
namespace {

// InsightFace's arcface_dst for 112x112 crops (subject's right eye first, on the image's left).
const std::array<cv::Point2f, 5> kArcface112{{{38.2946f, 51.6963f},
                                              {73.5318f, 51.5014f},
                                              {56.0252f, 71.7366f},
                                              {41.5493f, 92.3655f},
                                              {70.7299f, 92.2041f}}};

}  // namespace

CropStyle parse_crop_style(const std::string& name) {
  if (name == "tight") return CropStyle::tight;
  if (name == "loose") return CropStyle::loose;
  throw InputError("unknown crop style '" + name + "' (expected tight or loose)");
}

std::string to_string(CropStyle style) {
  return style == CropStyle::tight ? "tight" : "loose";
}

std::array<cv::Point2f, 5> crop_template(CropStyle style, int size) {
  const float unit = static_cast<float>(size) / 112.0f;
  const float shrink = style == CropStyle::tight ? 1.0f : kLooseFaceScale;
  const cv::Point2f centre(56.0f, 56.0f);
  std::array<cv::Point2f, 5> points;
  for (std::size_t i = 0; i < points.size(); ++i) {
    points[i] = (centre + (kArcface112[i] - centre) * shrink) * unit;
  }
  return points;
}

cv::Mat similarity_transform(const std::array<cv::Point2f, 5>& from,
                             const std::array<cv::Point2f, 5>& to) {
  // Closed form for 2-D: with centred points p, q the best [a -b; b a] is
  // a = sum(p.q) / sum|p|^2, b = sum(p x q) / sum|p|^2.
  cv::Point2d mean_from(0, 0), mean_to(0, 0);
  for (std::size_t i = 0; i < from.size(); ++i) {
    mean_from += cv::Point2d(from[i]);
    mean_to += cv::Point2d(to[i]);
  }
  mean_from *= 1.0 / from.size();
  mean_to *= 1.0 / to.size();
  double dot_sum = 0, cross_sum = 0, norm_sum = 0;
  for (std::size_t i = 0; i < from.size(); ++i) {
    const cv::Point2d p = cv::Point2d(from[i]) - mean_from;
    const cv::Point2d q = cv::Point2d(to[i]) - mean_to;
    dot_sum += p.x * q.x + p.y * q.y;
    cross_sum += p.x * q.y - p.y * q.x;
    norm_sum += p.x * p.x + p.y * p.y;
  }
  if (norm_sum <= 1e-12) throw InputError("align: the five landmarks coincide");
  const double a = dot_sum / norm_sum, b = cross_sum / norm_sum;
  cv::Mat m = (cv::Mat_<double>(2, 3) << a, -b, 0, b, a, 0);
  m.at<double>(0, 2) = mean_to.x - (a * mean_from.x - b * mean_from.y);
  m.at<double>(1, 2) = mean_to.y - (b * mean_from.x + a * mean_from.y);
  return m;
}

cv::Mat alignment_transform(const Face& face, int size, CropStyle style) {
  return similarity_transform(face.landmarks, crop_template(style, size));
}

cv::Mat align_face(const cv::Mat& image, const Face& face, int size, CropStyle style) {
  if (image.empty()) throw InputError("align: empty image");
  if (size < 8) throw InputError("align: crop size " + std::to_string(size) + " is too small");
  cv::Mat m = alignment_transform(face, size, style);
  const double scale = std::hypot(m.at<double>(0, 0), m.at<double>(1, 0));

  // Work on the part of the image the crop can see (plus a margin for the interpolation kernel).
  cv::Mat inverse;
  cv::invertAffineTransform(m, inverse);
  std::vector<cv::Point2f> corners{
      {0, 0}, {float(size), 0}, {0, float(size)}, {float(size), float(size)}};
  cv::transform(corners, corners, inverse);
  float left = corners[0].x, right = left, top = corners[0].y, bottom = top;
  for (const auto& c : corners) {
    left = std::min(left, c.x), right = std::max(right, c.x);
    top = std::min(top, c.y), bottom = std::max(bottom, c.y);
  }
  // Clamp before converting: a far-off face must not overflow int.
  const auto clamp_x = [&](float v) {
    return static_cast<int>(std::clamp(v, -1.0f, image.cols + 1.0f));
  };
  const auto clamp_y = [&](float v) {
    return static_cast<int>(std::clamp(v, -1.0f, image.rows + 1.0f));
  };
  const cv::Rect region =
      cv::Rect(cv::Point(clamp_x(std::floor(left) - 4), clamp_y(std::floor(top) - 4)),
               cv::Point(clamp_x(std::ceil(right) + 4), clamp_y(std::ceil(bottom) + 4))) &
      cv::Rect(0, 0, image.cols, image.rows);
  if (region.empty()) return cv::Mat(size, size, image.type(), cv::Scalar::all(0));
  cv::Mat source = image(region);
  m.at<double>(0, 2) += m.at<double>(0, 0) * region.x + m.at<double>(0, 1) * region.y;
  m.at<double>(1, 2) += m.at<double>(1, 0) * region.x + m.at<double>(1, 1) * region.y;

  if (scale < 1.0) {
    // Shrink with area averaging first, so the bicubic warp only rotates: no aliasing.
    cv::Mat shrunk;
    const cv::Size shrunk_size(std::max(1, static_cast<int>(std::lround(source.cols * scale))),
                               std::max(1, static_cast<int>(std::lround(source.rows * scale))));
    cv::resize(source, shrunk, shrunk_size, 0, 0, cv::INTER_AREA);
    const double fx = static_cast<double>(source.cols) / shrunk.cols;
    const double fy = static_cast<double>(source.rows) / shrunk.rows;
    // Pixel centres: x_src = (x_shrunk + 0.5) * fx - 0.5.
    cv::Mat to_source =
        (cv::Mat_<double>(3, 3) << fx, 0, 0.5 * fx - 0.5, 0, fy, 0.5 * fy - 0.5, 0, 0, 1);
    m = m * to_source;
    source = shrunk;
  }
  cv::Mat crop;
  cv::warpAffine(source, crop, m, cv::Size(size, size), cv::INTER_CUBIC, cv::BORDER_CONSTANT,
                 cv::Scalar::all(0));
  return crop;
}

std::vector<cv::Mat> align_faces(const cv::Mat& image, const std::vector<Face>& faces, int size,
                                 CropStyle style) {
  std::vector<cv::Mat> crops;
  crops.reserve(faces.size());
  for (const Face& face : faces) crops.push_back(align_face(image, face, size, style));
  return crops;
}

std::vector<std::filesystem::path> save_crops(const std::vector<cv::Mat>& crops,
                                              const std::filesystem::path& dir,
                                              const std::string& stem) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("cannot create crop folder " + dir.string() + ": " + ec.message());
  std::vector<std::filesystem::path> paths;
  for (std::size_t i = 0; i < crops.size(); ++i) {
    const auto path = dir / (stem + "_face" + std::to_string(i) + ".png");
    bool written = false;
    try {
      written = cv::imwrite(path.string(), crops[i]);
    } catch (const cv::Exception&) {
      written = false;
    }
    if (!written) throw InputError("cannot write crop " + path.string());
    paths.push_back(path);
  }
  return paths;
}

}  // namespace clipface
