#include "finetune/text_tower.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include "clipface/errors.hpp"

namespace clipface::finetune::detail {

bool is_text_tower(const std::string& name) {
  return name == "token_embedding.weight" || name == "positional_embedding" ||
         name == "text_projection" || name.rfind("transformer.", 0) == 0 ||
         name.rfind("ln_final.", 0) == 0;
}

std::vector<std::pair<std::string, torch::Tensor>> text_tower_tensors(const clip::ClipNetImpl& net) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : net.named_parameters(/*recurse=*/true)) {
    if (is_text_tower(p.key())) out.emplace_back(p.key(), p.value());
  }
  return out;
}

torch::Tensor eot_positions(const torch::Tensor& tokens) { return tokens.argmax(-1); }

torch::Tensor truncate_tokens(const torch::Tensor& tokens) {
  const int64_t length = eot_positions(tokens).max().item<int64_t>() + 1;
  return tokens.slice(1, 0, length);
}

torch::Tensor encode_text(clip::ClipNetImpl& net, const torch::Tensor& ids,
                          const torch::Tensor& table) {
  const int64_t length = ids.size(1);
  if (length > net.positional_embedding.size(0)) {
    throw InputError("prompt of " + std::to_string(length) + " tokens exceeds the context of " +
                     std::to_string(net.positional_embedding.size(0)));
  }
  torch::Tensor x = torch::embedding(table, ids).to(torch::kFloat);
  x = x + net.positional_embedding.slice(0, 0, length);
  const torch::Tensor causal =
      torch::full({length, length}, -std::numeric_limits<float>::infinity(), x.options())
          .triu_(1);
  x = net.transformer->forward(x, causal);
  const torch::Tensor rows = torch::arange(x.size(0), ids.options().dtype(torch::kLong));
  x = x.index({rows, ids.argmax(-1)});
  return torch::matmul(net.ln_final->forward(x), net.text_projection);
}

namespace {

torch::Tensor normalized(const torch::Tensor& x) { return x / x.norm(2, -1, /*keepdim=*/true); }

}  // namespace

torch::Tensor batch_loss(const torch::Tensor& image_features, const torch::Tensor& text_features,
                         const torch::Tensor& labels, double logit_scale,
                         const TrainOptions& options) {
  const torch::Tensor cosine = torch::matmul(normalized(image_features),
                                             normalized(text_features).t());
  switch (options.loss) {
    case Loss::cross_entropy:
      return torch::nn::functional::cross_entropy(logit_scale * cosine, labels);
    case Loss::arcface: {
      // ArcFace (Deng et al.): the target logit becomes s * cos(theta + m). Past theta = pi - m
      // cos(theta + m) would rise again, so the usual linear fallback cos(theta) - m sin(m) holds.
      const double m = options.arcface_margin;
      const torch::Tensor target = cosine.gather(1, labels.unsqueeze(1));
      const torch::Tensor sine = torch::sqrt((1.0 - target * target).clamp_min(1e-12));
      torch::Tensor with_margin = target * std::cos(m) - sine * std::sin(m);
      with_margin = torch::where(target > std::cos(std::numbers::pi - m), with_margin,
                                 target - std::sin(std::numbers::pi - m) * m);
      const torch::Tensor one_hot =
          torch::zeros_like(cosine).scatter_(1, labels.unsqueeze(1), 1.0).to(torch::kBool);
      const torch::Tensor logits =
          options.arcface_scale * torch::where(one_hot, with_margin.expand_as(cosine), cosine);
      return torch::nn::functional::cross_entropy(logits, labels);
    }
    case Loss::triplet: {
      // Anchor = image, positive = its own prompt, negative = the closest other prompt.
      const torch::Tensor positive = cosine.gather(1, labels.unsqueeze(1)).squeeze(1);
      const torch::Tensor own =
          torch::zeros_like(cosine).scatter_(1, labels.unsqueeze(1), 1.0).to(torch::kBool);
      const torch::Tensor negative = cosine.masked_fill(own, -2.0).amax(1);
      return torch::relu(negative - positive + options.triplet_margin).mean();
    }
  }
  throw InputError("unknown loss");
}

PromptTrainer::PromptTrainer(clip::ClipNet net, const torch::Tensor& tokens,
                             const TrainOptions& options, int64_t total_steps)
    : net_(std::move(net)),
      options_(options),
      total_steps_(std::max<int64_t>(total_steps, 1)),
      lr_(options.learning_rate) {
  const torch::Device device = net_->text_projection.device();
  torch::Tensor ids = tokens.to(torch::kLong);
  if (options.truncate_context) ids = truncate_tokens(ids);
  // Compact vocabulary: only these rows can receive a gradient.
  auto [unique, inverse] = at::_unique(ids.flatten(), /*sorted=*/true, /*return_inverse=*/true);
  unique_ids_ = unique.to(device);
  ids_ = inverse.view(ids.sizes()).to(device);
  // Pooling uses argmax over the ids: keep the end token the largest compact id too (sorted
  // unique ids keep the order, so the largest vocabulary id stays the largest compact id).
  {
    torch::NoGradGuard no_grad;
    compact_ = net_->token_embedding->weight.index_select(0, unique_ids_).to(torch::kFloat).clone();
  }
  compact_.set_requires_grad(true);

  for (auto& p : net_->named_parameters(/*recurse=*/true)) {
    saved_flags_.emplace_back(p.value(), p.value().requires_grad());
    const bool train = is_text_tower(p.key()) && p.key() != "token_embedding.weight";
    p.value().set_requires_grad(train);
    if (train) params_.push_back(p.value());
  }
  params_.insert(params_.begin(), compact_);
  torch::optim::AdamWOptions adamw(options.learning_rate);
  adamw.betas({options.beta1, options.beta2}).eps(options.eps).weight_decay(options.weight_decay);
  optimizer_ = std::make_unique<torch::optim::AdamW>(params_, adamw);
  {
    torch::NoGradGuard no_grad;
    logit_scale_ = net_->logit_scale.exp().item<double>();
  }
}

PromptTrainer::~PromptTrainer() {
  if (!finished_) {
    for (auto& [tensor, flag] : saved_flags_) tensor.set_requires_grad(flag);
  }
}

torch::Tensor PromptTrainer::text_features() { return encode_text(*net_, ids_, compact_); }

double PromptTrainer::loss(const torch::Tensor& image_features, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  return batch_loss(image_features, text_features(), labels, logit_scale_, options_)
      .item<double>();
}

torch::Tensor PromptTrainer::logits(const torch::Tensor& image_features) {
  torch::NoGradGuard no_grad;
  return logit_scale_ * torch::matmul(normalized(image_features), normalized(text_features()).t());
}

double PromptTrainer::step(const torch::Tensor& image_features, const torch::Tensor& labels) {
  if (finished_) throw InputError("PromptTrainer::step after finish()");
  optimizer_->zero_grad();
  const torch::Tensor loss =
      batch_loss(image_features, text_features(), labels, logit_scale_, options_);
  loss.backward();
  optimizer_->step();
  // What AdamW did to rows with no gradient (m = v = 0): p *= 1 - lr * wd, in float as torch
  // multiplies a float tensor by a scalar. Recorded now, applied to the full table in finish().
  decays_.push_back(static_cast<float>(1.0 - lr_ * options_.weight_decay));
  ++steps_done_;
  // CosineAnnealingLR (eta_min 0), closed form, stepped after every optimizer step.
  lr_ = 0.5 * options_.learning_rate *
        (1.0 + std::cos(std::numbers::pi * static_cast<double>(steps_done_) /
                        static_cast<double>(total_steps_)));
  for (auto& group : optimizer_->param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr_);
  }
  return loss.item<double>();
}

PromptTrainer::Snapshot PromptTrainer::snapshot() const {
  torch::NoGradGuard no_grad;
  Snapshot s;
  for (const auto& p : params_) s.tensors.push_back(p.detach().clone());
  s.steps = steps_done_;
  return s;
}

void PromptTrainer::restore(const Snapshot& snapshot) {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) params_[i].copy_(snapshot.tensors[i]);
  steps_done_ = snapshot.steps;
}

void PromptTrainer::finish() {
  if (finished_) return;
  torch::NoGradGuard no_grad;
  torch::Tensor table = net_->token_embedding->weight;
  if (table.scalar_type() != torch::kFloat) {
    // Trained rows are float32; the table follows (as clip.load(jit=False) holds it).
    net_->token_embedding->weight.set_data(table.to(torch::kFloat));
    table = net_->token_embedding->weight;
  }
  for (int64_t i = 0; i < steps_done_; ++i) {
    if (decays_[static_cast<std::size_t>(i)] != 1.0f) table.mul_(decays_[static_cast<std::size_t>(i)]);
  }
  table.index_copy_(0, unique_ids_, compact_.detach());
  for (auto& [tensor, flag] : saved_flags_) tensor.set_requires_grad(flag);
  finished_ = true;
}

}  // namespace clipface::finetune::detail
