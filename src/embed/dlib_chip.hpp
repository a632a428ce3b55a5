// dlib's face chip (internal header): dlib's own 5-point landmarks, fitted on a box derived from
// our detector's, and the 150 px chip that dlib's ResNet sees. The dlib embedder extracts chips
// with it; the cloaking stage needs the same chip as a transform, to warp through it with
// gradients. dlib types stay inside dlib_chip.cpp.
#pragma once

#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <vector>

#include "clipface/detect.hpp"

namespace clipface::detail {

inline constexpr int kDlibChipSize = 150;         // the network's input
inline constexpr double kDlibChipPadding = 0.25;  // face_recognition / compute_face_descriptor

class DlibChipper {
 public:
  // Throws ModelError when the file is not a 5-point dlib shape predictor.
  explicit DlibChipper(const std::filesystem::path& shape_predictor);
  ~DlibChipper();
  DlibChipper(DlibChipper&&) noexcept;

  // The 2x3 CV_64F matrix mapping pixels of `bgr` (8-bit, 3 channels) to chip pixels: what
  // dlib's get_face_chip_details(shape, 150, 0.25) and extract_image_chip use. Thread-safe.
  cv::Mat chip_transform(const cv::Mat& bgr, const Face& face) const;
  // dlib's own chips (extract_image_chip, BGR 150x150), one per face.
  std::vector<cv::Mat> chips(const cv::Mat& bgr, const std::vector<Face>& faces) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Converts grey and BGRA to BGR; InputError for empty, non-8-bit or other channel counts.
cv::Mat to_bgr(const cv::Mat& image, const char* what);

}  // namespace clipface::detail
