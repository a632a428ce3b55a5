// Face crops (8-bit OpenCV images) as the input tensor of a TF.js graph (internal header):
// NCHW floats in channels-last memory, which Graph::forward takes without a copy.
#pragma once

#include <ATen/core/Tensor.h>

#include <opencv2/core.hpp>
#include <vector>

#include "tfjs/pixel_format.hpp"

namespace clipface::tfjs {

// crops: 8-bit BGR, grey or BGRA, all of size x size (InputError otherwise). N x C x size x size.
at::Tensor to_input(const std::vector<cv::Mat>& crops, int size, const PixelFormat& format);

}  // namespace clipface::tfjs
