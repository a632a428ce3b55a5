// ClipModel's inside (internal header; includes LibTorch). Fine-tuning code in src/finetune uses
// `net` directly with autograd; inference goes through the tensor helpers below.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <mutex>

#include "clip/model.hpp"
#include "clipface/clip.hpp"

namespace clipface {
namespace clip {
class PlanCache;
}

struct ClipModel::Impl {
  ClipInfo info;
  RuntimeOptions runtime;
  clip::ClipNet net{nullptr};
  torch::Device device{torch::kCPU};

  // Loaded on first use of encode_texts()/tokenizer(). A shared_ptr so that destroying a model
  // needs no Tokenizer definition here (its deleter is made where it is created).
  mutable std::mutex tokenizer_mutex;
  mutable std::shared_ptr<const Tokenizer> tokenizer;

  // On the CPU, inference runs oneDNN plans (src/clip/cpu_plan.hpp) made from `net`'s weights
  // on first use and rebuilt when they change; elsewhere it runs the modules.
  std::shared_ptr<clip::PlanCache> plans;

  // Raw (not normalised) fp32 embeddings of one batch, for inference (no gradients): the plans on
  // the CPU, the modules elsewhere.
  torch::Tensor image_features(const torch::Tensor& pixels) const;
  torch::Tensor text_features(const torch::Tensor& tokens) const;
  // The same through the LibTorch modules on any device (bf16 under autocast off the CPU): the
  // reference the plans are tested against.
  torch::Tensor module_image_features(const torch::Tensor& pixels) const;
  torch::Tensor module_text_features(const torch::Tensor& tokens) const;

  // Runs `batch_forward` over `n` rows in chunks of runtime.batch_size, with autograd off, and
  // gathers the (optionally L2-normalised) rows into a Matrix.
  Matrix run_batched(
      std::size_t n,
      const std::function<torch::Tensor(std::size_t begin, std::size_t count)>& batch_forward,
      bool normalize) const;
};

namespace clip {
// Sets LibTorch's intra-op threads from the options (0 = all cores) and checks the device;
// ModelError when CUDA is asked for and not available.
torch::Device prepare_runtime(const RuntimeOptions& runtime);
}  // namespace clip

}  // namespace clipface
