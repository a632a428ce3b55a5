// The parameters of dlib's face ResNet (dlib_face_recognition_resnet_model_v1.dat), read with
// dlib itself and handed over as plain arrays, so that the LibTorch module (dlib_resnet.hpp) can
// be built from them without seeing dlib's DNN templates. Internal header.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace clipface::cloak {

// One parametrised layer, in input-to-output order: "con" (filters [out, in, rows, cols] and
// biases [out] or none), "affine" (per-channel gamma and beta: dlib's batch norm folded at
// training time) or "fc" (weights [in, out], no bias in this network).
struct DlibLayer {
  std::string kind;
  std::vector<long> shape;  // con: out, in, rows, cols; affine: channels; fc: in, out
  int stride = 1;
  int padding = 0;
  std::vector<float> weights;  // filters / gamma / fc weights
  std::vector<float> biases;   // con biases / beta (empty when absent)
};

struct DlibResnetWeights {
  std::filesystem::path path;
  std::array<float, 3> mean_rgb{};  // the input layer's avg_red/green/blue (0-255 scale)
  std::vector<DlibLayer> layers;    // stem con + affine, 14 residual blocks x 4, fc: 59 layers
};

// Throws ModelError naming the file when it cannot be deserialised as dlib's anet_type.
DlibResnetWeights read_dlib_resnet(const std::filesystem::path& path);

// dlib's own forward pass on 150x150 RGB chips (rows of 150*150*3 bytes, RGB interleaved):
// raw 128-d descriptors. The reference the LibTorch module is checked against.
std::vector<std::vector<float>> dlib_reference_descriptors(
    const std::filesystem::path& path, const std::vector<std::vector<unsigned char>>& rgb_chips);

}  // namespace clipface::cloak
