// A differentiable face model: the aligned crop it sees, as a transform of the image, and the
// embedding of that crop as a LibTorch function with autograd. The cloaks (cloak_engine.hpp) are
// written against this interface only; dlib's ResNet (dlib_resnet.hpp) and CLIP's image tower
// implement it here, the TF.js embedders in tfjs_face_model.cpp.
// Internal header (LibTorch).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "clipface/detect.hpp"
#include "clipface/runtime.hpp"

namespace clipface::cloak {

class FaceModel {
 public:
  virtual ~FaceModel() = default;
  // The spec it was made from ("dlib", "clip:ViT-B-32.pt", ...): the same spec names the
  // victim embedder in make_embedder(), so a cloak made on "dlib" is measured on "dlib".
  virtual const std::string& spec() const = 0;
  virtual bool random_weights() const = 0;
  virtual int input_size() const = 0;
  // The 2x3 CV_64F matrix mapping pixels of the 8-bit BGR `image` to crop pixels for `face`:
  // the alignment the model's own pipeline uses.
  virtual cv::Mat crop_transform(const cv::Mat& image, const Face& face) const = 0;
  // [N, 3, S, S] RGB crops in [0, 1] -> [N, D] unit embeddings, differentiable in the input.
  virtual torch::Tensor embed(const torch::Tensor& rgb01) const = 0;
};

// A BGR 8-bit image as the [3, H, W] RGB tensor in [0, 1] that FaceModel::embed and the cloaks
// work in.
torch::Tensor image_to_rgb01(const cv::Mat& bgr);

// spec: "dlib" | "dlib:<folder with both .dat files>" | "clip:<model file or name>" |
// "clip-random:<arch>" | "mobileface" | "faceres" | "mobilefacenet" (optionally ":<model.json>"),
// as make_embedder() takes them. InputError for an unknown spec,
// ModelError for a missing or unusable file.
std::unique_ptr<FaceModel> make_face_model(const std::string& spec, const RuntimeOptions& runtime);

}  // namespace clipface::cloak
