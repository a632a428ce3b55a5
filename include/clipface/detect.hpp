// Face detection: boxes, five landmarks and a score per face, in the original image's pixels.
#pragma once

#include <array>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace clipface {

// Landmark order (YuNet's): subject's right eye, left eye, nose tip, right and left mouth corner.
// "Right eye" is the subject's, so it lies on the image's left. Both detectors follow it.
struct Face {
  cv::Rect2f box;
  std::array<cv::Point2f, 5> landmarks;
  float score = 0;
};

// Default model files, looked up with find_model_file() (a path, or a name under models_dir()).
inline constexpr const char* kYunetModel = "face_detection_yunet_2022mar.onnx";
inline constexpr const char* kScrfdModel = "scrfd_500m_kps.onnx";  // or "scrfd_2.5g_kps.onnx"

struct DetectorOptions {
  std::string kind = "yunet";  // "yunet" | "scrfd"
  std::string model;           // file or name under models_dir(); "" = the kind's default
  float score_threshold = 0.6f;
  float nms_threshold = -1;  // IoU that suppresses the weaker box; < 0 = the kind's
                             // default (0.3 YuNet, 0.4 SCRFD)
  float min_face_size = 0;   // pixels (shorter box side) in the original image
  int max_faces = 0;         // 0 = no limit; otherwise the highest-scoring ones
  // Larger images are scaled down for detection (0 = never). YuNet is trained on faces of about
  // 10-300 px; at 1280 px YuNet 2022mar finds false faces in large portraits and smooth
  // backgrounds, so the default keeps a face filling the frame within its range. Raise it for
  // crowds of small faces.
  int max_side = 640;
  // YuNet's landmarks overshoot head tilt (a 20 degree tilt reads as about 30); for faces tilted
  // more than 8 degrees, detect again on an upright crop and take the landmarks from there.
  bool refine_tilted = true;
};

class Detector {
 public:
  virtual ~Detector() = default;
  // Faces in an 8-bit BGR image (grey and BGRA are converted), highest score first. Boxes and
  // landmarks are in the pixels of `image` whatever its size. Safe to call from several threads.
  // Throws InputError for an empty or non-8-bit image.
  virtual std::vector<Face> detect(const cv::Mat& image) const = 0;
  virtual std::string name() const = 0;  // e.g. "yunet:face_detection_yunet_2022mar.onnx"
};

// Throws ModelError when the model file is missing or unusable, InputError for an unknown kind.
std::unique_ptr<Detector> make_detector(const DetectorOptions& options = {});

// Which face stands for a photo of one person that shows several (evaluation, fine-tuning).
enum class FacePick { nearest_centre, largest };
FacePick parse_face_pick(const std::string& name);  // "centre" | "center" | "largest"
std::string to_string(FacePick pick);

// The index of the face to use in `faces` (-1 when empty) for an image of `image_size`.
int pick_face(const std::vector<Face>& faces, cv::Size image_size, FacePick pick);

// Intersection over union of two boxes (0 when either is empty).
float box_iou(const cv::Rect2f& a, const cv::Rect2f& b);

// The part of `box` inside an image of `size`, as face_recognition reports boxes. Detectors give
// boxes that reach past the edge for partly visible faces (their landmarks and alignment use the
// whole box); outputs show the clipped box and keep the detector's as `box_raw`.
cv::Rect2f clip_box(const cv::Rect2f& box, cv::Size size);

}  // namespace clipface
