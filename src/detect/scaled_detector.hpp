// Shared by the detector back ends: input checks, scaling large images down for detection and
// mapping results back, and the score / size / count filters every back end honours.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clipface/detect.hpp"

namespace clipface::detail {

class ScaledDetector : public Detector {
 public:
  explicit ScaledDetector(DetectorOptions options) : options_(std::move(options)) {}
  std::vector<Face> detect(const cv::Mat& image) const final;

 protected:
  // Faces in `bgr` (8-bit, 3 channels, longer side <= max_side) in its own pixels, after the
  // back end's NMS; scores need not be filtered or sorted.
  virtual std::vector<Face> detect_in(const cv::Mat& bgr) const = 0;
  const DetectorOptions& options() const { return options_; }

 private:
  DetectorOptions options_;
};

std::unique_ptr<Detector> make_yunet(const DetectorOptions& options);
std::unique_ptr<Detector> make_scrfd(const DetectorOptions& options);

}  // namespace clipface::detail
