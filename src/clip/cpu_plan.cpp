// Transformer plans (the ViT image tower and the text tower) and the plan factory. The residual
// stream stays fp32 whatever the compute type, as do layer norms, attention scores and softmax
// sums; only the products' inputs and weights are bf16 in the bf16 plan.
#include "clip/cpu_plan.hpp"

#include <cmath>
#include <limits>

#include "clipface/errors.hpp"

namespace clipface::clip {
namespace {
using onednn::Compute;

onednn::Activation fused(Activation activation) {
  return activation == Activation::quick_gelu ? onednn::Activation::quick_gelu
                                              : onednn::Activation::gelu;
}

torch::Tensor f32(const torch::Tensor& t) {
  return t.detach().to(torch::kFloat).contiguous();
}

struct LayerNormWeights {
  explicit LayerNormWeights(const torch::nn::LayerNorm& ln)
      : weight(f32(ln->weight)), bias(f32(ln->bias)), eps(ln->options.eps()) {}
  torch::Tensor operator()(const torch::Tensor& x) const {
    return torch::layer_norm(x, {weight.size(0)}, weight, bias, eps);
  }
  torch::Tensor weight, bias;
  double eps;
};

// Buffers one forward reuses across its layers (fresh large allocations would each fault in
// their pages again).
struct Workspace {
  Workspace(int64_t rows, int64_t width, torch::ScalarType type) {
    const auto options = torch::TensorOptions().dtype(type);
    normed = torch::empty({rows, width}, options);
    qkv = torch::empty({rows, 3 * width}, options);
    context = torch::empty({rows, width}, options);
    hidden = torch::empty({rows, 4 * width}, options);
  }
  torch::Tensor normed, qkv, context, hidden, scores, probs;
};

struct BlockPlan {
  BlockPlan(const ResidualAttentionBlockImpl& b, Activation activation, Compute compute)
      : ln_1(b.ln_1),
        ln_2(b.ln_2),
        qkv(b.attn->in_proj_weight, b.attn->in_proj_bias, compute),
        out(b.attn->out_proj->weight, b.attn->out_proj->bias, compute),
        fc(b.mlp->c_fc->weight, b.mlp->c_fc->bias, compute, fused(activation)),
        proj(b.mlp->c_proj->weight, b.mlp->c_proj->bias, compute),
        attention(b.attn->in_proj_weight.size(1), b.attn->heads, compute) {}

  // x: [N, L, W] fp32 contiguous, updated in place.
  void forward(torch::Tensor& x, const torch::Tensor& mask, Workspace& ws) const {
    const int64_t n = x.size(0), length = x.size(1);
    torch::Tensor rows = x.view({n * length, x.size(2)});
    ws.normed.copy_(ln_1(rows));  // to the compute type
    qkv.into(ws.normed, ws.qkv);
    attention(ws.qkv, n, length, mask, ws.context, ws.scores, ws.probs);
    out.accumulate(ws.context, rows);
    ws.normed.copy_(ln_2(rows));
    fc.into(ws.normed, ws.hidden);
    proj.accumulate(ws.hidden, rows);
  }

  LayerNormWeights ln_1, ln_2;
  onednn::Linear qkv, out, fc, proj;
  onednn::Attention attention;
};

// The residual blocks of one tower, run over x ([N, L, W] fp32 contiguous) in place.
class BlockStack {
 public:
  BlockStack(const TransformerImpl& t, Activation activation, Compute compute)
      : type_(onednn::scalar_type(compute)) {
    blocks_.reserve(t.blocks.size());
    for (const auto& block : t.blocks) blocks_.emplace_back(*block, activation, compute);
  }
  void forward(torch::Tensor& x, const torch::Tensor& mask) const {
    Workspace ws(x.size(0) * x.size(1), x.size(2), type_);
    for (const auto& block : blocks_) block.forward(x, mask, ws);
  }

 private:
  torch::ScalarType type_;
  std::vector<BlockPlan> blocks_;
};

class VitPlan final : public TowerPlan {
 public:
  VitPlan(const VisionTransformerImpl& vit, Activation activation, Compute compute)
      : patch_(vit.conv1->weight.size(2)),
        type_(onednn::scalar_type(compute)),
        patch_embed_(vit.conv1->weight.flatten(1), {}, compute),
        class_embedding_(f32(vit.class_embedding)),
        positional_embedding_(f32(vit.positional_embedding)),
        proj_(f32(vit.proj)),
        ln_pre_(vit.ln_pre),
        ln_post_(vit.ln_post),
        blocks_(*vit.transformer, activation, compute) {}

  torch::Tensor forward(const torch::Tensor& pixels) const override {
    const int64_t n = pixels.size(0), grid = pixels.size(2) / patch_;
    const int64_t width = class_embedding_.size(0);
    if (grid * grid + 1 != positional_embedding_.size(0) || pixels.size(3) != pixels.size(2)) {
      throw InputError("image of " + std::to_string(pixels.size(2)) + "x" +
                       std::to_string(pixels.size(3)) + " pixels does not fit this model");
    }
    // The stride-P convolution of P x P patches is one product over the patches laid out as
    // rows of (channel, y, x), the order of the flattened kernel.
    const torch::Tensor patches = pixels.view({n, 3, grid, patch_, grid, patch_})
                                      .permute({0, 2, 4, 1, 3, 5})
                                      .reshape({n * grid * grid, 3 * patch_ * patch_})
                                      .to(type_)
                                      .contiguous();
    const torch::Tensor embedded =
        patch_embed_(patches, torch::kFloat).view({n, grid * grid, width});
    torch::Tensor x =
        torch::cat({class_embedding_.expand({n, 1, width}), embedded}, 1) + positional_embedding_;
    x = ln_pre_(x).contiguous();
    blocks_.forward(x, {});
    return torch::matmul(ln_post_(x.select(1, 0)), proj_);
  }

 private:
  int64_t patch_;
  torch::ScalarType type_;
  onednn::Linear patch_embed_;
  torch::Tensor class_embedding_, positional_embedding_, proj_;
  LayerNormWeights ln_pre_, ln_post_;
  BlockStack blocks_;
};

class TextPlan final : public TowerPlan {
 public:
  TextPlan(const ClipNetImpl& net, Compute compute)
      : token_embedding_(f32(net.token_embedding->weight)),
        positional_embedding_(f32(net.positional_embedding)),
        text_projection_(f32(net.text_projection)),
        ln_final_(net.ln_final),
        blocks_(*net.transformer, net.config.activation, compute) {}

  torch::Tensor forward(const torch::Tensor& tokens) const override {
    const torch::Tensor ids = tokens.to(torch::kLong);
    const torch::Tensor end = ids.argmax(-1);  // pooled at the first end-of-text (largest) id
    // Causal attention: positions after the last end token never reach any pooled output.
    const int64_t length = end.max().item<int64_t>() + 1;
    torch::Tensor x = torch::embedding(token_embedding_, ids.slice(1, 0, length)) +
                      positional_embedding_.slice(0, 0, length);
    x = x.contiguous();
    const torch::Tensor causal =
        torch::full({length, length}, -std::numeric_limits<float>::infinity()).triu_(1);
    blocks_.forward(x, causal);
    const torch::Tensor pooled = x.index({torch::arange(x.size(0)), end});
    return torch::matmul(ln_final_(pooled), text_projection_);
  }

 private:
  torch::Tensor token_embedding_, positional_embedding_, text_projection_;
  LayerNormWeights ln_final_;
  BlockStack blocks_;
};

}  // namespace

namespace plan_detail {

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int heads, const torch::Tensor& mask, torch::ScalarType out) {
  auto split = [heads](const torch::Tensor& x) {  // [N, L, H*hd] -> [N, H, L, hd]
    return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
  };
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2) / heads));
  // q scaled before the product, as torch's multi_head_attention_forward does.
  torch::Tensor scores = torch::matmul(split(q) * scale, split(k).transpose(-2, -1));
  if (mask.defined()) scores.add_(mask);
  const torch::Tensor context = torch::matmul(torch::softmax(scores, -1), split(v));
  return context.transpose(1, 2).reshape({q.size(0) * q.size(1), q.size(2)}).to(out).contiguous();
}

}  // namespace plan_detail

Fingerprint fingerprint(const ClipNetImpl& net, Tower tower) {
  Fingerprint print;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    const bool visual = name.rfind("visual.", 0) == 0;
    if (visual != (tower == Tower::vision) || name == "logit_scale") return;
    print.emplace_back(t.data_ptr(), t._version());
  };
  for (const auto& p : net.named_parameters(/*recurse=*/true)) add(p.key(), p.value());
  for (const auto& b : net.named_buffers(/*recurse=*/true)) add(b.key(), b.value());
  return print;
}

std::shared_ptr<const TowerPlan> PlanCache::get(const ClipNetImpl& net, Tower tower) {
  Fingerprint print = fingerprint(net, tower);
  std::lock_guard lock(mutex_);
  Entry& entry = entries_[tower == Tower::vision ? 0 : 1];
  if (!entry.plan || entry.print != print) {
    entry.plan.reset();  // free the old packed weights before packing new ones
    entry.plan = make_plan(net, tower, compute_);
    entry.print = std::move(print);
  }
  return entry.plan;
}

std::unique_ptr<TowerPlan> make_plan(const ClipNetImpl& net, Tower tower, Compute compute) {
  torch::NoGradGuard no_grad;
  try {
    if (tower == Tower::text) return std::make_unique<TextPlan>(net, compute);
    if (net.vit) return std::make_unique<VitPlan>(*net.vit, net.config.activation, compute);
    return plan_detail::make_resnet_plan(*net.resnet, compute);
  } catch (const dnnl::error& e) {
    throw ModelError(std::string("oneDNN cannot run this model here: ") + e.what());
  }
}

}  // namespace clipface::clip
