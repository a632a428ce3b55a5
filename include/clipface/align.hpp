// Face alignment: a similarity transform (rotation, uniform scale, shift) that puts the five
// detected landmarks onto a canonical template, then one warp into a square crop.
//
// Templates, for a crop of side S (points scale with S):
//   tight: the ArcFace / InsightFace 112x112 template, eyes at (38.29, 51.70) and (73.53, 51.50),
//          nose (56.03, 71.74), mouth corners (41.55, 92.37) and (70.73, 92.20). Eyebrows to chin.
//   loose: the same template shrunk to 60% about the crop centre (kLooseFaceScale), so the tight
//          region fills the middle 60% of the crop and hair, ears and chin are in view: eyes at
//          about 48% of the height, eye-to-mouth distance about 22% of the side (close to the
//          FFHQ crop). The tight crop's region lies inside the loose one.
#pragma once

#include <array>
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "clipface/detect.hpp"

namespace clipface {

enum class CropStyle { tight, loose };

inline constexpr float kLooseFaceScale = 0.6f;

CropStyle parse_crop_style(const std::string& name);  // "tight" | "loose"; InputError otherwise
std::string to_string(CropStyle style);

// The template's five points (Face::landmarks order) in a size x size crop.
std::array<cv::Point2f, 5> crop_template(CropStyle style, int size);

// Least-squares similarity (Umeyama without reflection) mapping `from` onto `to`: 2x3 CV_64F.
cv::Mat similarity_transform(const std::array<cv::Point2f, 5>& from,
                             const std::array<cv::Point2f, 5>& to);

// The 2x3 CV_64F matrix that maps image pixels to crop pixels for this face.
cv::Mat alignment_transform(const Face& face, int size, CropStyle style);

// The aligned size x size crop of `face` from an 8-bit image (same channels as the input).
// Downscaling is antialiased (area averaging first), the warp is bicubic, and what falls
// outside the image is black. Throws InputError for an empty image or a size < 8.
cv::Mat align_face(const cv::Mat& image, const Face& face, int size, CropStyle style);
std::vector<cv::Mat> align_faces(const cv::Mat& image, const std::vector<Face>& faces, int size,
                                 CropStyle style);

// Writes crops as `<stem>_face<i>.png` (i from 0) in `dir`, creating it; returns the paths.
// Throws InputError naming the file that cannot be written.
std::vector<std::filesystem::path> save_crops(const std::vector<cv::Mat>& crops,
                                              const std::filesystem::path& dir,
                                              const std::string& stem);

}  // namespace clipface
