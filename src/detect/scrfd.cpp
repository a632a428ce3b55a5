// SCRFD (InsightFace; ONNX export of hpc203/scrfd-opencv) through cv::dnn with our own decoding:
// letterbox to 640x640, three strides with 2 anchors per cell, distance boxes, 5 keypoints, NMS.
#include <mutex>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "clipface/errors.hpp"
#include "clipface/paths.hpp"
#include "detect/scaled_detector.hpp"

namespace clipface::detail {
namespace {

constexpr int kInputSide = 640;
constexpr int kAnchorsPerCell = 2;
constexpr int kStrides[] = {8, 16, 32};

class ScrfdDetector final : public ScaledDetector {
 public:
  explicit ScrfdDetector(const DetectorOptions& options) : ScaledDetector(options) {
    path_ = find_model_file(options.model.empty() ? kScrfdModel : options.model).string();
    nms_ = options.nms_threshold < 0 ? 0.4f : options.nms_threshold;
    try {
      net_ = cv::dnn::readNetFromONNX(path_);
    } catch (const cv::Exception& e) {
      throw ModelError("cannot load SCRFD model " + path_ + ": " + e.err);
    }
    if (net_.empty()) throw ModelError("cannot load SCRFD model " + path_);
    output_names_ = net_.getUnconnectedOutLayersNames();
    if (output_names_.size() != 9) {
      throw ModelError("not an SCRFD model with keypoints (expected 9 outputs, got " +
                       std::to_string(output_names_.size()) + "): " + path_);
    }
  }

  std::string name() const override {
    return "scrfd:" + std::filesystem::path(path_).filename().string();
  }

 protected:
  std::vector<Face> detect_in(const cv::Mat& bgr) const override {
    // Letterbox: the longer side to 640, the image in the top-left corner, zeros elsewhere.
    const double scale = static_cast<double>(kInputSide) / std::max(bgr.cols, bgr.rows);
    const cv::Size fitted(
        std::clamp(static_cast<int>(std::lround(bgr.cols * scale)), 1, kInputSide),
        std::clamp(static_cast<int>(std::lround(bgr.rows * scale)), 1, kInputSide));
    cv::Mat canvas(kInputSide, kInputSide, CV_8UC3, cv::Scalar::all(0));
    cv::resize(bgr, canvas(cv::Rect(cv::Point(0, 0), fitted)), fitted, 0, 0,
               scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    const cv::Mat blob = cv::dnn::blobFromImage(canvas, 1.0 / 128, canvas.size(),
                                                cv::Scalar::all(127.5), /*swapRB=*/true);
    std::vector<cv::Mat> outputs;
    {
      std::lock_guard lock(mutex_);  // cv::dnn::Net is not safe to share between threads
      try {
        net_.setInput(blob);
        net_.forward(outputs, output_names_);
      } catch (const cv::Exception& e) {
        throw ModelError("SCRFD failed (" + path_ + "): " + e.err);
      }
    }
    const float back_x = static_cast<float>(bgr.cols) / fitted.width;
    const float back_y = static_cast<float>(bgr.rows) / fitted.height;

    std::vector<Face> candidates;
    std::vector<cv::Rect2d> boxes;
    std::vector<float> scores;
    for (int stride : kStrides) {
      const int cells = kInputSide / stride;
      const int count = cells * cells * kAnchorsPerCell;
      // Pick this stride's three blobs by their shape (1 x count x {1, 4, 10}), not by name.
      const float* score_map = find_output(outputs, count, 1);
      const float* distances = find_output(outputs, count, 4);
      const float* offsets = find_output(outputs, count, 10);
      for (int i = 0; i < count; ++i) {
        const float score = score_map[i];
        if (score < options().score_threshold) continue;
        const int cell = i / kAnchorsPerCell;
        const float cx = static_cast<float>((cell % cells) * stride);
        const float cy = static_cast<float>((cell / cells) * stride);
        const float* d = distances + 4 * i;
        const float x1 = (cx - d[0] * stride) * back_x, y1 = (cy - d[1] * stride) * back_y;
        const float x2 = (cx + d[2] * stride) * back_x, y2 = (cy + d[3] * stride) * back_y;
        Face face;
        face.box = cv::Rect2f(x1, y1, x2 - x1, y2 - y1);
        const float* k = offsets + 10 * i;
        for (int p = 0; p < 5; ++p) {
          face.landmarks[p] =
              cv::Point2f((cx + k[2 * p] * stride) * back_x, (cy + k[2 * p + 1] * stride) * back_y);
        }
        face.score = score;
        candidates.push_back(face);
        boxes.emplace_back(face.box);
        scores.push_back(score);
      }
    }
    std::vector<int> keep;
    cv::dnn::NMSBoxes(boxes, scores, options().score_threshold, nms_, keep);
    std::vector<Face> faces;
    for (int i : keep) faces.push_back(candidates[i]);
    return faces;
  }

 private:
  const float* find_output(const std::vector<cv::Mat>& outputs, int count, int width) const {
    for (const cv::Mat& out : outputs) {
      if (out.dims >= 2 && out.size[out.dims - 2] == count && out.size[out.dims - 1] == width) {
        return out.ptr<float>();
      }
    }
    throw ModelError("SCRFD model " + path_ + " has no output of " + std::to_string(count) + "x" +
                     std::to_string(width) + " (not a 640x640 SCRFD export with keypoints?)");
  }

  std::string path_;
  float nms_ = 0.4f;
  mutable cv::dnn::Net net_;
  std::vector<std::string> output_names_;
  mutable std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Detector> make_scrfd(const DetectorOptions& options) {
  return std::make_unique<ScrfdDetector>(options);
}

}  // namespace clipface::detail
