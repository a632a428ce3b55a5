// CLIP's image preprocessing, faithful to the reference (torchvision on PIL images): RGB,
// antialiased bicubic resize as Pillow computes it, centre crop, CLIP's mean and std.
#pragma once

#include <array>
#include <opencv2/core.hpp>
#include <vector>

namespace clipface {

enum class ImageResize {
  center_crop,  // shorter side to `size`, then centre crop (clip._transform)
  squash,       // direct resize to size x size, aspect not kept (for aligned face crops)
};

inline constexpr std::array<float, 3> kClipMean{0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipStd{0.26862954f, 0.26130258f, 0.27577711f};

// Pillow 9.4's Image.resize(size, BICUBIC) for 8-bit images of 1, 3 or 4 channels, bit-exact:
// separable convolution with the support widened by the scale factor (antialiasing), fixed-point
// coefficients, horizontal pass then vertical pass, each rounded and clipped to uint8. Channels
// are resampled independently (Pillow's premultiplied alpha for RGBA is not reproduced; it makes
// no difference for opaque images). Throws InputError for other input.
cv::Mat pil_resize_bicubic(const cv::Mat& src, cv::Size size);

// 3 x size x size floats, channel-major RGB, float32 (u8 / 255 - mean) / std, equal to
// clip._transform(size) (center_crop) or Resize((size, size)) (squash) on the PIL image.
// Input: 8-bit BGR, grey (replicated) or BGRA (alpha dropped first; same as Pillow when opaque).
// Only the cropped part of the resized image is computed: same bytes, less work.
std::vector<float> clip_pixels(const cv::Mat& image, int size, ImageResize mode);

// Appends clip_pixels() of `image` to `out` (batches are built without extra copies).
void append_clip_pixels(const cv::Mat& image, int size, ImageResize mode, std::vector<float>& out);

}  // namespace clipface
