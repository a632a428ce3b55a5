#include "tfjs/pixels.hpp"

#include <ATen/ATen.h>

#include <opencv2/imgproc.hpp>

#include "clipface/errors.hpp"

namespace clipface::tfjs {

at::Tensor to_input(const std::vector<cv::Mat>& crops, int size, const PixelFormat& format) {
  const bool grey = format.channels == PixelFormat::Channels::grey;
  const bool rgb = format.channels == PixelFormat::Channels::rgb;
  const int channels = grey ? 1 : 3;
  // Written in NHWC order (the crops' own), returned as an NCHW view: channels-last memory,
  // which the runner's convolutions take as it is.
  at::Tensor out =
      at::empty({static_cast<std::int64_t>(crops.size()), size, size, channels}, at::kFloat);
  float* dst = out.data_ptr<float>();
  const float scale = static_cast<float>(format.scale);
  const float offset = static_cast<float>(format.offset);
  for (std::size_t i = 0; i < crops.size(); ++i) {
    const cv::Mat& crop = crops[i];
    if (crop.empty() || crop.depth() != CV_8U || crop.rows != size || crop.cols != size) {
      throw InputError("face crop " + std::to_string(i) + " is not an 8-bit " +
                       std::to_string(size) + "x" + std::to_string(size) + " image");
    }
    cv::Mat bgr = crop;
    if (crop.channels() == 1) cv::cvtColor(crop, bgr, cv::COLOR_GRAY2BGR);
    if (crop.channels() == 4) cv::cvtColor(crop, bgr, cv::COLOR_BGRA2BGR);
    float* image = dst + i * static_cast<std::size_t>(size) * size * channels;
    for (int y = 0; y < size; ++y) {
      const auto* row = bgr.ptr<cv::Vec3b>(y);
      for (int x = 0; x < size; ++x, image += channels) {
        const float b = row[x][0], g = row[x][1], r = row[x][2];
        if (grey) {
          image[0] = (0.2989f * r + 0.587f * g + 0.114f * b) * scale + offset;
        } else {
          image[0] = (rgb ? r : b) * scale + offset;
          image[1] = g * scale + offset;
          image[2] = (rgb ? b : r) * scale + offset;
        }
      }
    }
  }
  return out.permute({0, 3, 1, 2});
}

}  // namespace clipface::tfjs
