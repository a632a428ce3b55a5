// CLIP inference on the CPU through oneDNN (internal header; includes LibTorch). A plan is built
// from a ClipNet's weights for one precision and one tower, and computes the same function as
// the LibTorch modules in model.hpp (tests hold the two to 1e-4 in fp32), faster: weights packed
// once, bias/activation/residual fused into each product, the text tower cut after the last
// end-of-text token (the causal mask means no later token can reach the pooled output).
// Plans do not track gradients; fine-tuning trains the modules, and a plan built before the
// weights changed is rebuilt (see Fingerprint).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "clip/model.hpp"
#include "clip/onednn.hpp"

namespace clipface::clip {

enum class Tower { vision, text };

// Which weights a plan was built from: each tensor's storage and version counter (bumped by
// every in-place write: loading, optimizer steps), so a stale plan is noticed and rebuilt.
using Fingerprint = std::vector<std::pair<const void*, uint32_t>>;
Fingerprint fingerprint(const ClipNetImpl& net, Tower tower);

class TowerPlan {
 public:
  virtual ~TowerPlan() = default;
  // Vision: float pixels [N, 3, S, S] -> [N, embed_dim]; text: int ids [N, context] ->
  // [N, embed_dim]. fp32, not normalised.
  virtual torch::Tensor forward(const torch::Tensor& input) const = 0;
};

// The plans of one model, one per tower, built on first use and rebuilt when the weights they
// were built from have changed. A shared_ptr keeps a plan alive for a caller while another
// thread replaces it.
class PlanCache {
 public:
  explicit PlanCache(onednn::Compute compute) : compute_(compute) {}
  std::shared_ptr<const TowerPlan> get(const ClipNetImpl& net, Tower tower);

 private:
  struct Entry {
    std::shared_ptr<const TowerPlan> plan;
    Fingerprint print;
  };
  onednn::Compute compute_;
  std::mutex mutex_;
  Entry entries_[2];
};

// Throws ModelError when oneDNN cannot run this model here.
std::unique_ptr<TowerPlan> make_plan(const ClipNetImpl& net, Tower tower, onednn::Compute compute);

namespace plan_detail {
std::unique_ptr<TowerPlan> make_resnet_plan(const ModifiedResNetImpl& net, onednn::Compute compute);
// Multi-head attention on fp32 q [N, Lq, H*hd], k and v [N, L, H*hd] (views are fine), with an
// additive mask; returns [N * Lq, H*hd] contiguous, of type `out`.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int heads, const torch::Tensor& mask, torch::ScalarType out);
}  // namespace plan_detail

}  // namespace clipface::clip
