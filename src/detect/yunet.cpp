// YuNet 2022mar through cv::FaceDetectorYN (the one YuNet file OpenCV 4.6 runs; see MODELS.md).
#include <cmath>
#include <mutex>
#include <numbers>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "clipface/errors.hpp"
#include "clipface/paths.hpp"
#include "detect/scaled_detector.hpp"

namespace clipface::detail {
namespace {

constexpr int kMinInputSide = 64;         // smaller inputs break the network's pooling layers
constexpr double kRefineTiltDegrees = 8;  // below this YuNet's eye line is within ~2 degrees
constexpr double kRefineFaceSide = 160;   // face size in the upright crop (well inside 10-300)

double tilt_degrees(const Face& face) {
  const cv::Point2f d = face.landmarks[1] - face.landmarks[0];
  return std::atan2(d.y, d.x) * 180.0 / std::numbers::pi;
}

class YunetDetector final : public ScaledDetector {
 public:
  explicit YunetDetector(const DetectorOptions& options) : ScaledDetector(options) {
    path_ = find_model_file(options.model.empty() ? kYunetModel : options.model).string();
    const float nms = options.nms_threshold < 0 ? 0.3f : options.nms_threshold;
    try {
      net_ = cv::FaceDetectorYN::create(path_, "", cv::Size(320, 320), options.score_threshold, nms,
                                        /*top_k=*/5000);
    } catch (const cv::Exception& e) {
      throw ModelError("cannot load YuNet model " + path_ + ": " + e.err);
    }
    if (!net_) throw ModelError("cannot load YuNet model " + path_);
  }

  std::string name() const override {
    return "yunet:" + std::filesystem::path(path_).filename().string();
  }

 protected:
  std::vector<Face> detect_in(const cv::Mat& bgr) const override {
    std::vector<Face> faces = run(bgr);
    if (options().refine_tilted) {
      for (Face& face : faces) {
        if (std::abs(tilt_degrees(face)) > kRefineTiltDegrees) refine_landmarks(bgr, face);
      }
    }
    return faces;
  }

 private:
  std::vector<Face> run(const cv::Mat& bgr) const {
    cv::Mat input = bgr;
    if (bgr.cols < kMinInputSide || bgr.rows < kMinInputSide) {
      // Pad bottom/right so coordinates stay those of `bgr`.
      cv::copyMakeBorder(bgr, input, 0, std::max(0, kMinInputSide - bgr.rows), 0,
                         std::max(0, kMinInputSide - bgr.cols), cv::BORDER_CONSTANT,
                         cv::Scalar::all(0));
    }
    cv::Mat rows;
    {
      // FaceDetectorYN keeps per-size state; one image at a time.
      std::lock_guard lock(mutex_);
      try {
        net_->setInputSize(input.size());
        net_->detect(input, rows);
      } catch (const cv::Exception& e) {
        throw ModelError("YuNet failed on a " + std::to_string(input.cols) + "x" +
                         std::to_string(input.rows) + " image (" + path_ + "): " + e.err);
      }
    }
    std::vector<Face> faces;
    for (int i = 0; i < rows.rows; ++i) {
      const float* r = rows.ptr<float>(i);  // x y w h, 5 (x, y) landmarks, score
      Face face;
      face.box = cv::Rect2f(r[0], r[1], r[2], r[3]);
      for (int k = 0; k < 5; ++k) face.landmarks[k] = cv::Point2f(r[4 + 2 * k], r[5 + 2 * k]);
      face.score = r[14];
      faces.push_back(face);
    }
    return faces;
  }

  // Turns the face upright (by its measured tilt) in a crop twice its size, detects again there
  // and maps those landmarks back. Box and score stay from the first pass.
  void refine_landmarks(const cv::Mat& bgr, Face& face) const {
    const float side = std::max(face.box.width, face.box.height);
    if (side < 8) return;
    const double scale = std::min(1.0, kRefineFaceSide / side);
    const int crop_side = static_cast<int>(std::lround(2 * side * scale));
    const cv::Point2f centre = (face.box.tl() + face.box.br()) * 0.5f;
    // Rotate about the face centre by its tilt, scale, and put that centre in the crop's middle.
    cv::Mat to_crop = cv::getRotationMatrix2D(centre, tilt_degrees(face), scale);
    to_crop.at<double>(0, 2) += crop_side / 2.0 - centre.x;
    to_crop.at<double>(1, 2) += crop_side / 2.0 - centre.y;
    cv::Mat crop;
    cv::warpAffine(bgr, crop, to_crop, cv::Size(crop_side, crop_side),
                   scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    const cv::Point2f middle(crop_side / 2.0f, crop_side / 2.0f);
    const Face* best = nullptr;
    double best_distance = 0.25 * crop_side;  // the same face: its centre near the middle
    const std::vector<Face> found = run(crop);
    for (const Face& candidate : found) {
      const cv::Point2f c = (candidate.box.tl() + candidate.box.br()) * 0.5f;
      const double distance = cv::norm(c - middle);
      if (candidate.score >= options().score_threshold && distance < best_distance) {
        best = &candidate;
        best_distance = distance;
      }
    }
    if (!best) return;
    cv::Mat to_image;
    cv::invertAffineTransform(to_crop, to_image);
    std::vector<cv::Point2f> points(best->landmarks.begin(), best->landmarks.end());
    cv::transform(points, points, to_image);
    std::copy(points.begin(), points.end(), face.landmarks.begin());
  }

  std::string path_;
  cv::Ptr<cv::FaceDetectorYN> net_;
  mutable std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Detector> make_yunet(const DetectorOptions& options) {
  return std::make_unique<YunetDetector>(options);
}

}  // namespace clipface::detail
