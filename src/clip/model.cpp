#include "clip/model.hpp"

#include <cmath>
#include <limits>
#include <map>

#include "clip/onednn.hpp"
#include "clipface/errors.hpp"

namespace clipface::clip {
namespace nn = torch::nn;
namespace {

nn::LayerNorm layer_norm(int width) {
  return nn::LayerNorm(nn::LayerNormOptions({width}).eps(1e-5));
}

nn::Conv2d conv(int in, int out, int kernel, int stride = 1, int padding = 0) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

// LayerNorm in float32 whatever the input dtype, as openai/CLIP's LayerNorm subclass does (and
// needed under bf16 autocast, where LibTorch's layer_norm rejects bf16 input with fp32 weights).
torch::Tensor norm(nn::LayerNorm& ln, const torch::Tensor& x) {
  if (x.scalar_type() == torch::kFloat) return ln(x);
  return ln(x.to(torch::kFloat)).to(x.scalar_type());
}

// [N, L, heads * head_dim] -> [N, heads, L, head_dim]
torch::Tensor split_heads(const torch::Tensor& x, int heads) {
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
}

// Scaled dot-product attention as torch 1.13's F.multi_head_attention_forward computes it
// (q scaled before the product, additive mask, softmax, weighted sum); heads merged back.
torch::Tensor attend(torch::Tensor q, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& mask) {
  q = q / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1));
  if (mask.defined()) scores.add_(mask);
  torch::Tensor out = torch::matmul(torch::softmax(scores, -1), v);  // [N, H, Lq, hd]
  return out.transpose(1, 2).reshape({out.size(0), out.size(2), out.size(1) * out.size(3)});
}

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "quick_gelu" || name == "quickgelu") return Activation::quick_gelu;
  if (name == "gelu") return Activation::gelu;
  throw InputError("unknown activation '" + name + "' (expected quick_gelu or gelu)");
}

std::string to_string(Activation activation) {
  return activation == Activation::quick_gelu ? "quick_gelu" : "gelu";
}

torch::Tensor activate(const torch::Tensor& x, Activation activation) {
  if (activation == Activation::quick_gelu) return x * torch::sigmoid(1.702 * x);
  return torch::gelu(x);  // exact (erf) GELU, as nn.GELU() in OpenCLIP
}

namespace {

// y = x W^T + b with its backward (dx = dy W, dW = dy^T x, db = sum dy) as oneDNN products.
struct OnednnLinear : public torch::autograd::Function<OnednnLinear> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    const torch::Tensor rows = x.reshape({-1, x.size(-1)});
    ctx->save_for_backward({rows, weight});
    ctx->saved_data["has_bias"] = bias.defined();
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = weight.size(0);
    return onednn::matmul(rows, weight.t(), bias).view(shape);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& rows = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor dy = grads[0].reshape({-1, weight.size(0)}).contiguous();
    torch::Tensor dx, dweight, dbias;
    if (ctx->needs_input_grad(0)) {
      std::vector<int64_t> shape = grads[0].sizes().vec();
      shape.back() = weight.size(1);
      dx = onednn::matmul(dy, weight).view(shape);
    }
    if (ctx->needs_input_grad(1)) dweight = onednn::matmul(dy.t(), rows);
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) dbias = dy.sum(0);
    return {dx, dweight, dbias};
  }
};

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
  const bool training =
      torch::GradMode::is_enabled() &&
      (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
  if (training && x.is_cpu() && x.scalar_type() == torch::kFloat &&
      weight.scalar_type() == torch::kFloat) {
    return OnednnLinear::apply(x, weight, bias);
  }
  return torch::linear(x, weight, bias);
}

// ---------------------------------------------------------------------------------------------
// Official architectures (open_clip model_configs; the OpenAI files have the same shapes).

namespace {
ClipConfig vit(int embed, int image, int layers, int width, int patch, int text_width,
               int text_heads) {
  ClipConfig c;
  c.embed_dim = embed;
  c.image_resolution = image;
  c.vision_layers = {layers};
  c.vision_width = width;
  c.vision_patch_size = patch;
  c.transformer_width = text_width;
  c.transformer_heads = text_heads;
  c.transformer_layers = 12;
  return c;
}

ClipConfig resnet(int embed, int image, std::vector<int> layers, int width, int text_width,
                  int text_heads) {
  ClipConfig c = vit(embed, image, 0, width, 0, text_width, text_heads);
  c.vision_layers = std::move(layers);
  return c;
}

const std::map<std::string, ClipConfig>& official_configs() {
  static const std::map<std::string, ClipConfig> configs = {
      {"RN50", resnet(1024, 224, {3, 4, 6, 3}, 64, 512, 8)},
      {"RN101", resnet(512, 224, {3, 4, 23, 3}, 64, 512, 8)},
      {"RN50x4", resnet(640, 288, {4, 6, 10, 6}, 80, 640, 10)},
      {"RN50x16", resnet(768, 384, {6, 8, 18, 8}, 96, 768, 12)},
      {"RN50x64", resnet(1024, 448, {3, 15, 36, 10}, 128, 1024, 16)},
      {"ViT-B-32", vit(512, 224, 12, 768, 32, 512, 8)},
      {"ViT-B-16", vit(512, 224, 12, 768, 16, 512, 8)},
      {"ViT-L-14", vit(768, 224, 24, 1024, 14, 768, 12)},
      {"ViT-L-14-336", vit(768, 336, 24, 1024, 14, 768, 12)},
  };
  return configs;
}
}  // namespace

ClipConfig official_config(const std::string& name) {
  std::string key = name;
  // Accept OpenAI's spelling too: "ViT-B/32", "ViT-L/14@336px".
  for (auto& ch : key) {
    if (ch == '/') ch = '-';
  }
  if (key == "ViT-L-14@336px") key = "ViT-L-14-336";
  const auto& configs = official_configs();
  if (auto it = configs.find(key); it != configs.end()) return it->second;
  std::string known;
  for (const auto& [n, c] : configs) known += (known.empty() ? "" : ", ") + n;
  throw InputError("unknown CLIP architecture '" + name + "' (known: " + known + ")");
}

std::vector<std::string> official_names() {
  // Listed in the order people know them, not alphabetically.
  return {"RN50",     "RN101",    "RN50x4",   "RN50x16",     "RN50x64",
          "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-L-14-336"};
}

// ---------------------------------------------------------------------------------------------
// Transformer pieces.

AttentionImpl::AttentionImpl(int width, int heads_) : heads(heads_) {
  if (heads <= 0 || width % heads != 0) {
    throw ModelError("attention width " + std::to_string(width) + " does not split into " +
                     std::to_string(heads) + " heads");
  }
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * width}));
  out_proj = register_module("out_proj", nn::Linear(width, width));
  torch::NoGradGuard no_grad;
  nn::init::xavier_uniform_(in_proj_weight);
  out_proj->bias.zero_();
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  // One packed projection, then q, k, v as views of it.
  auto parts = linear(x, in_proj_weight, in_proj_bias).chunk(3, -1);
  return linear(attend(split_heads(parts[0], heads), split_heads(parts[1], heads),
                       split_heads(parts[2], heads), mask),
                out_proj->weight, out_proj->bias);
}

MlpImpl::MlpImpl(int width, Activation activation_) : activation(activation_) {
  c_fc = register_module("c_fc", nn::Linear(width, 4 * width));
  c_proj = register_module("c_proj", nn::Linear(4 * width, width));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return linear(activate(linear(x, c_fc->weight, c_fc->bias), activation), c_proj->weight,
                c_proj->bias);
}

ResidualAttentionBlockImpl::ResidualAttentionBlockImpl(int width, int heads,
                                                       Activation activation) {
  attn = register_module("attn", Attention(width, heads));
  ln_1 = register_module("ln_1", layer_norm(width));
  mlp = register_module("mlp", Mlp(width, activation));
  ln_2 = register_module("ln_2", layer_norm(width));
}

torch::Tensor ResidualAttentionBlockImpl::forward(torch::Tensor x, const torch::Tensor& mask) {
  x = x + attn(norm(ln_1, x), mask);
  return x + mlp(norm(ln_2, x));
}

TransformerImpl::TransformerImpl(int width, int layers, int heads, Activation activation) {
  resblocks = register_module("resblocks", nn::ModuleList());
  for (int i = 0; i < layers; ++i) {
    blocks.emplace_back(width, heads, activation);
    resblocks->push_back(blocks.back());
  }
}

torch::Tensor TransformerImpl::forward(torch::Tensor x, const torch::Tensor& mask) {
  for (auto& block : blocks) x = block(x, mask);
  return x;
}

// ---------------------------------------------------------------------------------------------
// Vision transformer.

VisionTransformerImpl::VisionTransformerImpl(const ClipConfig& c) {
  const int width = c.vision_width;
  const int grid = c.image_resolution / c.vision_patch_size;
  const double scale = 1.0 / std::sqrt(static_cast<double>(width));
  conv1 = register_module("conv1", conv(3, width, c.vision_patch_size, c.vision_patch_size));
  class_embedding = register_parameter("class_embedding", torch::randn({width}) * scale);
  positional_embedding =
      register_parameter("positional_embedding", torch::randn({grid * grid + 1, width}) * scale);
  ln_pre = register_module("ln_pre", layer_norm(width));
  transformer = register_module(
      "transformer", Transformer(width, c.vision_layers.at(0), c.vision_heads(), c.activation));
  ln_post = register_module("ln_post", layer_norm(width));
  proj = register_parameter("proj", torch::randn({width, c.embed_dim}) * scale);
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& pixels) {
  torch::Tensor x = conv1(pixels);   // [N, width, grid, grid]
  x = x.flatten(2).transpose(1, 2);  // [N, grid^2, width]
  torch::Tensor cls = class_embedding.to(x.dtype()).expand({x.size(0), 1, x.size(2)});
  x = torch::cat({cls, x}, 1) + positional_embedding.to(x.dtype());
  x = transformer(norm(ln_pre, x));
  torch::Tensor cls_out = norm(ln_post, x.select(1, 0));
  return torch::matmul(cls_out, proj.to(cls_out.dtype()));
}

// ---------------------------------------------------------------------------------------------
// Modified ResNet.

BottleneckImpl::BottleneckImpl(int inplanes, int planes, int stride_) : stride(stride_) {
  conv1 = register_module("conv1", conv(inplanes, planes, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * kExpansion, 1));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * kExpansion));
  if (stride > 1 || inplanes != planes * kExpansion) {
    downsample = register_module(
        "downsample",
        nn::Sequential({{"-1", nn::AnyModule(nn::AvgPool2d(nn::AvgPool2dOptions(stride)))},
                        {"0", nn::AnyModule(conv(inplanes, planes * kExpansion, 1))},
                        {"1", nn::AnyModule(nn::BatchNorm2d(planes * kExpansion))}}));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  if (stride > 1) out = torch::avg_pool2d(out, stride);
  out = bn3(conv3(out));
  out += downsample ? downsample->forward(x) : x;
  return torch::relu_(out);
}

AttentionPool2dImpl::AttentionPool2dImpl(int spacial_dim, int embed_dim, int heads_, int output_dim)
    : heads(heads_) {
  if (heads <= 0 || embed_dim % heads != 0) {
    throw ModelError("attention pool width " + std::to_string(embed_dim) + " does not split into " +
                     std::to_string(heads) + " heads");
  }
  positional_embedding = register_parameter(
      "positional_embedding", torch::randn({spacial_dim * spacial_dim + 1, embed_dim}) /
                                  std::sqrt(static_cast<double>(embed_dim)));
  k_proj = register_module("k_proj", nn::Linear(embed_dim, embed_dim));
  q_proj = register_module("q_proj", nn::Linear(embed_dim, embed_dim));
  v_proj = register_module("v_proj", nn::Linear(embed_dim, embed_dim));
  c_proj = register_module("c_proj", nn::Linear(embed_dim, output_dim));
}

torch::Tensor AttentionPool2dImpl::forward(const torch::Tensor& features) {
  torch::Tensor x = features.flatten(2).transpose(1, 2);  // [N, HW, C]
  x = torch::cat({x.mean(1, /*keepdim=*/true), x}, 1) + positional_embedding.to(x.dtype());
  // Only the mean token queries; every position (mean included) is a key and value.
  torch::Tensor q = split_heads(q_proj(x.narrow(1, 0, 1)), heads);
  torch::Tensor k = split_heads(k_proj(x), heads);
  torch::Tensor v = split_heads(v_proj(x), heads);
  return c_proj(attend(q, k, v, {})).squeeze(1);
}

ModifiedResNetImpl::ModifiedResNetImpl(const ClipConfig& c) {
  if (c.vision_layers.size() != 4) throw ModelError("a CLIP ResNet needs four stages");
  const int width = c.vision_width;
  conv1 = register_module("conv1", conv(3, width / 2, 3, 2, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(width / 2));
  conv2 = register_module("conv2", conv(width / 2, width / 2, 3, 1, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(width / 2));
  conv3 = register_module("conv3", conv(width / 2, width, 3, 1, 1));
  bn3 = register_module("bn3", nn::BatchNorm2d(width));

  int inplanes = width;
  for (int stage = 0; stage < 4; ++stage) {
    const int planes = width << stage;
    nn::ModuleList list;
    std::vector<Bottleneck> typed;
    for (int i = 0; i < c.vision_layers[stage]; ++i) {
      typed.emplace_back(inplanes, planes, i == 0 && stage > 0 ? 2 : 1);
      list->push_back(typed.back());
      inplanes = planes * BottleneckImpl::kExpansion;
    }
    layers.push_back(register_module("layer" + std::to_string(stage + 1), list));
    stage_blocks.push_back(std::move(typed));
  }
  const int embed = width * 32;  // the ResNet feature dimension
  attnpool = register_module(
      "attnpool", AttentionPool2d(c.image_resolution / 32, embed, c.vision_heads(), c.embed_dim));
}

torch::Tensor ModifiedResNetImpl::forward(const torch::Tensor& pixels) {
  torch::Tensor x = torch::relu(bn1(conv1(pixels)));
  x = torch::relu(bn2(conv2(x)));
  x = torch::relu(bn3(conv3(x)));
  x = torch::avg_pool2d(x, 2);
  for (auto& stage : stage_blocks) {
    for (auto& block : stage) x = block(x);
  }
  return attnpool(x);
}

// ---------------------------------------------------------------------------------------------
// The whole model.

ClipNetImpl::ClipNetImpl(const ClipConfig& c) : config(c) {
  if (c.is_vit()) {
    vit = register_module("visual", VisionTransformer(c));
  } else {
    resnet = register_module("visual", ModifiedResNet(c));
  }
  const int width = c.transformer_width;
  transformer = register_module(
      "transformer", Transformer(width, c.transformer_layers, c.transformer_heads, c.activation));
  token_embedding = register_module("token_embedding", nn::Embedding(c.vocab_size, width));
  positional_embedding =
      register_parameter("positional_embedding", torch::empty({c.context_length, width}));
  ln_final = register_module("ln_final", layer_norm(width));
  text_projection = register_parameter("text_projection", torch::empty({width, c.embed_dim}));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1.0 / 0.07)));
}

torch::Tensor ClipNetImpl::encode_image(const torch::Tensor& pixels) {
  return vit ? vit(pixels) : resnet(pixels);
}

torch::Tensor ClipNetImpl::encode_text(const torch::Tensor& tokens) {
  const torch::Tensor ids = tokens.to(torch::kLong);
  torch::Tensor x = token_embedding(ids);
  x = x + positional_embedding.to(x.dtype());
  const int64_t length = x.size(1);
  const torch::Tensor causal =
      torch::full({length, length}, -std::numeric_limits<float>::infinity(), x.options()).triu_(1);
  x = transformer(x, causal);
  // Pool at the first end-of-text token (the largest id), then ln_final and projection; the
  // layer norm is per position, so applying it after the selection gives the same rows.
  const torch::Tensor rows = torch::arange(x.size(0), ids.options());
  x = x.index({rows, ids.argmax(-1)});
  x = norm(ln_final, x);
  return torch::matmul(x, text_projection.to(x.dtype()));
}

ClipNet build_clip_net(const ClipConfig& c) {
  ClipNet net(c);
  torch::NoGradGuard no_grad;
  // openai/CLIP initialize_parameters().
  const double width = c.transformer_width;
  nn::init::normal_(net->token_embedding->weight, 0.0, 0.02);
  nn::init::normal_(net->positional_embedding, 0.0, 0.01);
  const double attn_std = std::pow(width, -0.5);
  const double proj_std = attn_std * std::pow(2.0 * c.transformer_layers, -0.5);
  const double fc_std = std::pow(2.0 * width, -0.5);
  for (auto& block : net->transformer->blocks) {
    nn::init::normal_(block->attn->in_proj_weight, 0.0, attn_std);
    nn::init::normal_(block->attn->out_proj->weight, 0.0, proj_std);
    nn::init::normal_(block->mlp->c_fc->weight, 0.0, fc_std);
    nn::init::normal_(block->mlp->c_proj->weight, 0.0, proj_std);
  }
  nn::init::normal_(net->text_projection, 0.0, attn_std);
  if (net->resnet) {
    auto& pool = net->resnet->attnpool;
    const double std = std::pow(static_cast<double>(pool->c_proj->weight.size(1)), -0.5);
    for (auto* linear : {&pool->q_proj, &pool->k_proj, &pool->v_proj, &pool->c_proj}) {
      nn::init::normal_((*linear)->weight, 0.0, std);
    }
  }
  return net;
}

}  // namespace clipface::clip
