// Face detection: boxes, five landmarks and a score per face, in the original image's pixels.
#pragma once

#include <array>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace clipface {

// Landmark order (YuNet's): subject's right eye, left eye, nose tip, right and left mouth corner.
// "Right eye" is the subject's, so it lies on the image's left.
struct Face {
  cv::Rect2f box;
  std::array<cv::Point2f, 5> landmarks;
  float score = 0;
};

struct DetectorOptions {
  std::string kind = "yunet";      // "yunet" | "scrfd"
  std::string model;               // file or name under models_dir(); "" = the kind's default
  float score_threshold = 0.6f;
  float nms_threshold = 0.3f;
  float min_face_size = 0;         // pixels (shorter box side) in the original image
  int max_faces = 0;               // 0 = no limit; otherwise the highest-scoring ones
  int max_side = 1280;             // larger images are scaled down for detection
};

class Detector {
 public:
  virtual ~Detector() = default;
  // Faces in an 8-bit BGR image, highest score first.
  virtual std::vector<Face> detect(const cv::Mat& image) const = 0;
  virtual std::string name() const = 0;
};

// Throws ModelError when the model file is missing or unusable.
std::unique_ptr<Detector> make_detector(const DetectorOptions& options = {});

}  // namespace clipface
