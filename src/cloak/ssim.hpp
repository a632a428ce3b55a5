// SSIM and the DSSIM budget on LibTorch tensors (internal header): the differentiable term of the
// objectives and the measure the budget is enforced with, so both are the same function.
#pragma once

#include <torch/torch.h>

namespace clipface::cloak {

// Mean SSIM of two [3, h, w] images in [0, 1]: 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
// K2 = 0.03, valid positions only (tf.image.ssim, which Fawkes uses). h and w must be >= 11.
torch::Tensor ssim_tensor(const torch::Tensor& a, const torch::Tensor& b);
// Fawkes' DSSIM: (1 - SSIM) / 2.
torch::Tensor dssim_tensor(const torch::Tensor& a, const torch::Tensor& b);

// Values in [0, 1] rounded to the 8-bit levels they will be written as.
torch::Tensor quantize(const torch::Tensor& x);

// s * delta for the largest s in [0, 1] (bisection) with DSSIM(clean, clean + s delta) <= bound,
// measured after clamping to [0, 1] and, when `quantized`, after rounding to 8-bit levels.
torch::Tensor scale_into_dssim(const torch::Tensor& clean, const torch::Tensor& delta, double bound,
                               bool quantized);

}  // namespace clipface::cloak
