// CLIP in native LibTorch: loads OpenAI TorchScript archives, OpenCLIP safetensors and Hugging
// Face CLIPModel safetensors, or builds a random-weight model by architecture name (for speed
// measurements). This header does not include LibTorch: the engine hides behind a pimpl.
#pragma once

#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "clipface/matrix.hpp"
#include "clipface/preprocess.hpp"
#include "clipface/runtime.hpp"

namespace clipface {

class Tokenizer;

// What a loaded model is; read off the checkpoint's tensor shapes, never from a config file.
struct ClipInfo {
  std::string name;    // "ViT-B-32", a file stem, ...
  std::string path;    // weight file ("" for random weights)
  std::string sha256;  // of the weight file ("" for random weights)
  // "openai-torchscript" | "openclip-safetensors" | "hf-safetensors" | "random"
  std::string format;
  std::string vision;      // "vit" | "resnet"
  std::string activation;  // "quick_gelu" (OpenAI) | "gelu" (most OpenCLIP)
  bool random_weights = false;
  int embed_dim = 0;
  int image_size = 0;
  int context_length = 77;
  int vocab_size = 49408;
  int vision_width = 0;
  int vision_patch_size = 0;       // ViT only
  std::vector<int> vision_layers;  // one count for ViT, four stages for ResNet
  int vision_heads = 0;
  int text_width = 0;
  int text_layers = 0;
  int text_heads = 0;
};

struct ClipLoadOptions {
  RuntimeOptions runtime;
  std::string activation;  // "" = infer ("quick_gelu" for OpenAI archives, metadata otherwise)
};

class ClipModel {
 public:
  // Throws ModelError naming the file (and the tensor) when it cannot be used.
  static ClipModel load(const std::string& path, const ClipLoadOptions& options = {});
  // Random weights with the official architecture's shapes: "ViT-B-32", "RN50", ...
  static ClipModel random(const std::string& architecture, const ClipLoadOptions& options = {},
                          std::uint64_t seed = 0);
  static std::vector<std::string> architectures();

  ClipModel(ClipModel&&) noexcept;
  ClipModel& operator=(ClipModel&&) noexcept;
  ~ClipModel();

  const ClipInfo& info() const;
  const RuntimeOptions& runtime() const;
  float logit_scale() const;  // exp(logit_scale), as the reference multiplies logits by it

  // Any number of 8-bit BGR/grey images; batched internally. One row per image.
  Matrix encode_images(const std::vector<cv::Mat>& images,
                       ImageResize resize = ImageResize::center_crop, bool normalize = true) const;
  // Already preprocessed pixels: n x 3 x S x S floats (clip_pixels() layout).
  Matrix encode_pixels(const std::vector<float>& pixels, std::size_t n,
                       bool normalize = true) const;
  Matrix encode_texts(const std::vector<std::string>& texts, bool normalize = true) const;
  // Token rows of context_length ids each (as Tokenizer::tokenize returns).
  Matrix encode_tokens(const std::vector<std::vector<std::int32_t>>& tokens,
                       bool normalize = true) const;

  const Tokenizer& tokenizer() const;

  // The LibTorch side, for code inside src/ that needs tensors (fine-tuning).
  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  explicit ClipModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipface
