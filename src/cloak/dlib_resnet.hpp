// dlib's face ResNet (ResNet-29, 150x150 RGB chip -> 128-d descriptor) as a LibTorch function
// with autograd, built from the parameters dlib itself reads (dlib_weights.hpp). Internal header.
//
// It reproduces dlib's layer semantics exactly: strided 3x3 and 7x7 convolutions and pooling
// without padding (dlib pads only stride-1 layers), per-channel affine (folded batch norm), and
// dlib's add_prev, which adds tensors of different sizes by treating missing elements as zero:
// in the down-sampling blocks the shortcut (2x2 average pool) has fewer channels than the block,
// and from 8x8 on the two branches differ in size too (8 -> 3 vs 4, 4 -> 1 vs 2), so both are
// zero-padded at the end (channels) and bottom/right (rows, columns) to the larger size.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "cloak/dlib_weights.hpp"

namespace clipface::cloak {

class DlibResnet {
 public:
  // Throws ModelError when the layers do not form dlib's anet_type (count, kinds or shapes).
  explicit DlibResnet(const DlibResnetWeights& weights);

  // [N, 3, 150, 150] RGB in [0, 1] -> [N, 128] raw descriptors (dlib's scale, norm ~1.3-1.4).
  // Differentiable with respect to the input; the parameters need no gradient.
  torch::Tensor forward(const torch::Tensor& rgb01) const;

  // The same network in another floating type (kDouble for finite-difference checks).
  DlibResnet to(torch::ScalarType type) const;

 private:
  struct Conv {
    torch::Tensor weight, bias;  // bias undefined when absent
    int stride = 1, padding = 0;
    torch::Tensor gamma, beta;  // the affine that follows, as [1, C, 1, 1]
  };
  DlibResnet() = default;
  torch::Tensor conv_affine(const torch::Tensor& x, const Conv& c) const;

  torch::Tensor mean_;  // [1, 3, 1, 1], 0-255 scale
  Conv stem_;
  std::vector<std::pair<Conv, Conv>> blocks_;  // 14 residual blocks, input to output
  torch::Tensor fc_;                           // [256, 128]
};

// Adds two NCHW tensors as dlib's add_prev does: the result has the larger size in every
// dimension and each input is zero-padded at the end of the dimensions where it is smaller.
torch::Tensor add_zero_padded(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace clipface::cloak
