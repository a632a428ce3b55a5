// How good a detected face is as evidence: its size, sharpness, pose and detector score, and the
// bar enrollment holds faces to. Every face a gallery stores gets one record, and `identify`
// reports it beside each decision, so a doubtful name can be traced to a doubtful photo.
#pragma once

#include <opencv2/core.hpp>
#include <string>

#include "clipface/detect.hpp"

namespace clipface {

struct FaceQuality {
  float size = 0;  // shorter side of the detector's box, in pixels of the original image
  // Variance of the Laplacian of the face's tight aligned crop in grey at 112 x 112 pixels (the
  // same crop for every embedder, so values compare across galleries): blur lowers it.
  float sharpness = 0;
  // Head pose in degrees from the five landmarks (rigid-head approximation, see quality.cpp):
  // yaw > 0 turned towards the image's right, pitch > 0 looking down, roll > 0 tilted clockwise.
  float yaw = 0, pitch = 0, roll = 0;
  float detector_score = 0;
};

// The bar a face must clear to be enrolled. A bound <= 0 (minimums) or >= 180 (angles) is off.
// The defaults keep every face of the development photos that a person would call usable (tiny,
// blurred or profile faces fail; see docs/results.md for the distribution they were read from).
struct QualityBar {
  float min_size = 32;
  float min_sharpness = 15;
  float max_yaw = 50;
  float max_pitch = 45;
  float max_roll = 180;  // an aligned crop undoes roll, so it is not held against a face
  float min_detector_score = 0.6f;
  bool enabled = true;
};

// Measures one face of an 8-bit image (grey, BGR or BGRA). InputError for an empty image.
FaceQuality measure_quality(const cv::Mat& image, const Face& face);

// Only the pose part (no pixels needed).
void estimate_pose(const Face& face, float& yaw, float& pitch, float& roll);

// "" when the face clears the bar, else why not, e.g. "blurry (sharpness 12.1 < 20)" (every
// failed bound, joined by "; ").
std::string quality_problems(const FaceQuality& quality, const QualityBar& bar);
// The same in a word or a few, for tables: "ok", or e.g. "blurry,small" (small, blurry, turned,
// nodding, tilted, unsure).
std::string quality_tags(const FaceQuality& quality, const QualityBar& bar);

// "off" | "default" | comma-separated key=value over size, sharpness, yaw, pitch, roll, score,
// e.g. "size=48,sharpness=30" (unnamed keys keep their defaults). InputError otherwise.
QualityBar parse_quality_bar(const std::string& spec);
std::string to_string(const QualityBar& bar);

}  // namespace clipface
