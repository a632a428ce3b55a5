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

// How this machine runs CLIP on the CPU, as oneDNN sees it (it reads the CPU's features and honours
// ONEDNN_MAX_CPU_ISA). The one answer to "which precision does --precision auto pick here, and
// why".
enum class KernelSupport {
  native,       // the CPU's own instructions (AVX-512 BF16, AMX)
  emulated,     // oneDNN emulates it on AVX-512 core: correct, slower than fp32
  unavailable,  // no kernels at this ISA (AVX2 and older): a request falls back to fp32
};
std::string to_string(KernelSupport support);

struct ClipCpuSupport {
  std::string onednn_version;  // "2.6.3"
  std::string isa;        // oneDNN's effective ISA: "avx2", "avx512_core", "avx512_core_bf16", ...
  std::string isa_limit;  // ONEDNN_MAX_CPU_ISA ("" when unset)
  KernelSupport bf16 = KernelSupport::unavailable;
  std::string bf16_reason;                // one line: what makes it native, emulated or unavailable
  Precision automatic = Precision::fp32;  // what Precision::automatic resolves to on the CPU
  std::string libtorch_version;
};
const ClipCpuSupport& clip_cpu_support();

// The precision a model runs at for `requested` on `device`. `automatic` is bf16 only where it is
// native; an explicit bf16 that this CPU cannot run becomes fp32 and `warning` (when given) gets
// one line naming what is missing; otherwise `warning` is left empty. CUDA: auto is fp32, bf16 runs
// under autocast.
Precision resolve_precision(Precision requested, Device device, std::string* warning = nullptr);

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
