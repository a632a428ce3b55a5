// The text-tower trainer on tensors (internal header; includes LibTorch). The public API in
// clipface/finetune.hpp drives it; tests drive it directly to replay the reference step by step.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "clip/model.hpp"
#include "clipface/finetune.hpp"

namespace clipface::finetune::detail {

// The tensors fine-tuning trains, as in the reference: token_embedding.weight,
// positional_embedding, transformer.*, ln_final.*, text_projection.
bool is_text_tower(const std::string& name);
std::vector<std::pair<std::string, torch::Tensor>> text_tower_tensors(const clip::ClipNetImpl& net);

// Index of the first end-of-text token (the largest id, as CLIP pools) in each row.
torch::Tensor eot_positions(const torch::Tensor& tokens);
// The columns that can change the result: the causal mask means no token after a row's end
// token reaches its pooled output, so rows are cut after the longest prompt's end token.
torch::Tensor truncate_tokens(const torch::Tensor& tokens);

// encode_text for ids of any length <= the model's context (the positional embedding is sliced)
// with `table` as the token-embedding rows (the full table, or compact trainable rows when ids
// were remapped). Differentiable; un-normalised [N, embed_dim].
torch::Tensor encode_text(clip::ClipNetImpl& net, const torch::Tensor& ids,
                          const torch::Tensor& table);

// Training loss of scaled logits / cosines for one batch (see Loss).
torch::Tensor batch_loss(const torch::Tensor& image_features, const torch::Tensor& text_features,
                         const torch::Tensor& labels, double logit_scale,
                         const TrainOptions& options);

// One optimisation run over the text tower of `net`. Only the token-embedding rows that the
// prompts use are trained as a compact table: every other row has zero gradient, so AdamW only
// decays it (p *= 1 - lr * wd), which is applied to the full table exactly as torch would.
class PromptTrainer {
 public:
  // tokens: [classes, context] int ids, one prompt per class. total_steps = T_max of the cosine
  // schedule. The visual tower and logit_scale are frozen (requires_grad false).
  PromptTrainer(clip::ClipNet net, const torch::Tensor& tokens, const TrainOptions& options,
                int64_t total_steps);
  ~PromptTrainer();
  PromptTrainer(const PromptTrainer&) = delete;
  PromptTrainer& operator=(const PromptTrainer&) = delete;

  // Un-normalised prompt embeddings with the current weights (with autograd when enabled).
  torch::Tensor text_features();
  // Loss of the current weights on a batch (no update, no gradient).
  double loss(const torch::Tensor& image_features, const torch::Tensor& labels);
  // One AdamW step on the batch, then the scheduler step; returns the loss before the update.
  double step(const torch::Tensor& image_features, const torch::Tensor& labels);
  // Scaled logits [images, classes] with the current weights (no gradient).
  torch::Tensor logits(const torch::Tensor& image_features);

  double learning_rate() const { return lr_; }
  int64_t steps_done() const { return steps_done_; }
  int64_t context_length() const { return ids_.size(1); }

  // A copy of the trainable state (for keeping the best epoch) and its restoration.
  struct Snapshot {
    std::vector<torch::Tensor> tensors;
    int64_t steps = 0;
  };
  Snapshot snapshot() const;
  void restore(const Snapshot& snapshot);

  // Writes the trained rows back into the model's token table, applies the decay of the other
  // rows for the steps done, and gives the model back its requires_grad flags. Called once.
  void finish();

 private:
  clip::ClipNet net_;
  TrainOptions options_;
  int64_t total_steps_;
  double lr_;
  int64_t steps_done_ = 0;
  torch::Tensor ids_;          // [classes, L] remapped into compact rows
  torch::Tensor unique_ids_;   // compact row -> vocabulary id
  torch::Tensor compact_;      // [rows, width] trainable token rows
  std::vector<float> decays_;  // per step: the factor the untouched rows were multiplied by
  std::vector<torch::Tensor> params_;  // trained by AdamW (compact_ first)
  std::vector<std::pair<torch::Tensor, bool>> saved_flags_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  double logit_scale_;
  bool finished_ = false;
};

}  // namespace clipface::finetune::detail
